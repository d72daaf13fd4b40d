"""``Distribution``: the base of ``cltorch.distributions`` (``torch.distributions``), with
PyTorch's shapes (sample = sample_shape + batch_shape + event_shape) and argument validation."""
from __future__ import annotations

import math

from ..autograd.grad_mode import no_grad
from ..api.layout import broadcast_tensors
from ..tensor import Size, Tensor


class Distribution:
    """Base class: ``sample``/``rsample``, ``log_prob``, ``entropy``, ``mean``, ``variance``."""

    has_rsample = False
    _validate_default = True

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        Distribution._validate_default = bool(value)

    def __init__(self, batch_shape=Size(), event_shape=Size(), validate_args=None):
        self._batch_shape, self._event_shape = Size(batch_shape), Size(event_shape)
        self._validate_args = Distribution._validate_default if validate_args is None \
            else validate_args

    @property
    def batch_shape(self) -> Size:
        return self._batch_shape

    @property
    def event_shape(self) -> Size:
        return self._event_shape

    def _extended_shape(self, sample_shape=Size()) -> Size:
        return Size(tuple(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape))

    def sample(self, sample_shape=Size()):
        """A sample (no gradient), of shape ``sample_shape + batch_shape + event_shape``."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=Size()):
        raise NotImplementedError(f"{type(self).__name__} has no reparameterized sampling")

    def sample_n(self, n):
        return self.sample(Size((n,)))

    @property
    def stddev(self):
        return self.variance.sqrt()

    def _check(self, name, value, ok, constraint):
        """PyTorch's ValueError when a parameter breaks its constraint (one host read)."""
        if self._validate_args and not bool(ok.all()):
            raise ValueError(f"Expected parameter {name} ({type(value).__name__} of shape "
                             f"{tuple(value.shape)}) of distribution {self!r} to satisfy the "
                             f"constraint {constraint}, but found invalid values:\n{value}")

    def __repr__(self):
        params = ", ".join(f"{name}: {getattr(self, name).shape if isinstance(getattr(self, name), Tensor) else getattr(self, name)}"  # noqa: E501
                           for name in self._params if name in self.__dict__)
        return f"{type(self).__name__}({params})"

    _params = ()


def broadcast_all(*values):
    """Tensors and numbers broadcast to one shape, numbers becoming tensors like the first
    tensor (default dtype on the cpu if there is none)."""
    from ..api.creation import tensor
    like = next((v for v in values if isinstance(v, Tensor)), None)
    tensors = [v if isinstance(v, Tensor) else
               tensor(float(v), dtype=like.dtype if like is not None else None,
                      device=like.device if like is not None else None) for v in values]
    return broadcast_tensors(*tensors)


LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))
