"""``nn.utils.weight_norm`` / ``remove_weight_norm``: the older hook-based weight norm
(parameters ``weight_g`` and ``weight_v``; the weight recomputed before every forward)."""
from __future__ import annotations

from ..parameter import Parameter
from .parametrizations import norm_except_dim


class WeightNorm:
    def __init__(self, name, dim):
        self.name, self.dim = name, -1 if dim is None else dim

    def compute_weight(self, module):
        g, v = getattr(module, self.name + "_g"), getattr(module, self.name + "_v")
        return v * (g / norm_except_dim(v, 2, self.dim))

    def __call__(self, module, inputs):
        object.__setattr__(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    """Replace ``module.name`` by ``name_g * name_v / ||name_v||``; returns ``module``."""
    weight = getattr(module, name)
    fn = WeightNorm(name, dim)
    del module._parameters[name]
    module.register_parameter(name + "_g", Parameter(norm_except_dim(weight, 2, fn.dim)
                                                     .detach()))
    module.register_parameter(name + "_v", Parameter(weight.detach()))
    object.__setattr__(module, name, fn.compute_weight(module))
    module._weight_norm_hook = module.register_forward_pre_hook(fn)
    module._weight_norm_fn = fn
    return module


def remove_weight_norm(module, name="weight"):
    """Fold ``name_g``/``name_v`` back into one ``name`` parameter."""
    fn = module.__dict__.get("_weight_norm_fn")
    if fn is None or fn.name != name:
        raise ValueError(f"weight_norm of '{name}' not found in {module}")
    weight = fn.compute_weight(module).detach()
    module._weight_norm_hook.remove()
    del module._parameters[name + "_g"], module._parameters[name + "_v"]
    del module.__dict__["_weight_norm_fn"], module.__dict__["_weight_norm_hook"], \
        module.__dict__[name]
    module.register_parameter(name, Parameter(weight))
    return module
