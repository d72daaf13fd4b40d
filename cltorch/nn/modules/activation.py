"""Activation layers: each one a thin Module over its ``nn.functional`` form, made by one
factory (its constructor arguments become attributes and its printed settings)."""
from __future__ import annotations

import inspect

from .. import functional as F
from ..parameter import Parameter
from .module import Module


def _activation(name, fn, params=(), doc="", shown=None):
    """A Module class calling ``fn(input, *params)``; ``params`` are (name, default) pairs,
    keyword or positional in the constructor, printed as PyTorch prints them."""
    names = [p for p, _ in params]

    def __init__(self, *args, **kwargs):
        Module.__init__(self)
        values = dict(params)
        values.update(zip(names, args))
        for key, value in kwargs.items():
            if key not in values:
                raise TypeError(f"{name}.__init__() got an unexpected keyword argument '{key}'")
            values[key] = value
        for key in names:
            setattr(self, key, values[key])

    def forward(self, input):
        return fn(input, *[getattr(self, p) for p in names])

    def extra_repr(self):
        if shown is not None:
            return shown(self)
        items = [(p, getattr(self, p)) for p in names if not (p == "inplace" and
                                                              not getattr(self, p))]
        return ", ".join(f"{p}={v!r}" for p, v in items)

    cls = type(name, (Module,), {"__init__": __init__, "forward": forward,
                                 "extra_repr": extra_repr, "__doc__": doc or fn.__doc__})
    cls.__init__.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)] +
        [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d)
         for p, d in params])
    return cls


ReLU = _activation("ReLU", F.relu, [("inplace", False)])
ReLU6 = _activation("ReLU6", F.relu6, [("inplace", False)])
LeakyReLU = _activation("LeakyReLU", F.leaky_relu, [("negative_slope", 0.01),
                                                    ("inplace", False)])
_RReLUBase = _activation("RReLU", lambda x, lower, upper, inplace: F.rrelu(
    x, lower, upper, False, inplace), [("lower", 1.0 / 8), ("upper", 1.0 / 3),
                                       ("inplace", False)])
ELU = _activation("ELU", F.elu, [("alpha", 1.0), ("inplace", False)])
SELU = _activation("SELU", F.selu, [("inplace", False)])
CELU = _activation("CELU", F.celu, [("alpha", 1.0), ("inplace", False)])
GELU = _activation("GELU", F.gelu, [("approximate", "none")])
SiLU = _activation("SiLU", F.silu, [("inplace", False)])
Mish = _activation("Mish", F.mish, [("inplace", False)])
Sigmoid = _activation("Sigmoid", F.sigmoid)
LogSigmoid = _activation("LogSigmoid", F.logsigmoid)
Tanh = _activation("Tanh", F.tanh)
Hardtanh = _activation("Hardtanh", F.hardtanh, [("min_val", -1.0), ("max_val", 1.0),
                                                ("inplace", False)])
Hardsigmoid = _activation("Hardsigmoid", F.hardsigmoid, [("inplace", False)])
Hardswish = _activation("Hardswish", F.hardswish, [("inplace", False)])
Hardshrink = _activation("Hardshrink", F.hardshrink, [("lambd", 0.5)],
                         shown=lambda m: str(m.lambd))
Softshrink = _activation("Softshrink", F.softshrink, [("lambd", 0.5)],
                         shown=lambda m: str(m.lambd))
Tanhshrink = _activation("Tanhshrink", F.tanhshrink)
Softplus = _activation("Softplus", F.softplus, [("beta", 1.0), ("threshold", 20.0)])
Softsign = _activation("Softsign", F.softsign)
Softmax = _activation("Softmax", F.softmax, [("dim", None)])
Softmin = _activation("Softmin", F.softmin, [("dim", None)])
LogSoftmax = _activation("LogSoftmax", F.log_softmax, [("dim", None)])
Softmax2d = _activation("Softmax2d", F.softmax2d)
Threshold = _activation("Threshold", F.threshold, [("threshold", None), ("value", None),
                                                   ("inplace", False)])
GLU = _activation("GLU", F.glu, [("dim", -1)])


class RReLU(_RReLUBase):
    """Randomized leaky ReLU: the random slope depends on the training mode."""

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)


class PReLU(Module):
    """Leaky ReLU with a learned slope: one, or one per channel (``num_parameters``)."""

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        from ...api.creation import full
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(full((num_parameters,), init, device=device, dtype=dtype))

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


from .transformer import MultiheadAttention  # noqa: E402,F401  (PyTorch keeps it here too)
