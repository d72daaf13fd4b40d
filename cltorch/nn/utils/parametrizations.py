"""``nn.utils.parametrizations``: ``weight_norm`` as a parametrization (PyTorch's new form)."""
from __future__ import annotations

from ..modules.module import Module
from .parametrize import register_parametrization


def norm_except_dim(v, pow=2, dim=0):
    """The ``pow``-norm of ``v`` over every dim but ``dim``, shaped to broadcast against v."""
    if dim == -1:
        return v.norm(pow)
    dims = [d for d in range(v.ndim) if d != dim % v.ndim]
    return v.pow(pow).sum(dims, keepdim=True).pow(1.0 / pow)


class _WeightNorm(Module):
    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return weight_v * (weight_g / norm_except_dim(weight_v, 2, self.dim))

    def right_inverse(self, weight):
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """``weight = g * v / ||v||``: magnitude ``original0`` and direction ``original1``."""
    return register_parametrization(module, name, _WeightNorm(dim), unsafe=True)


__all__ = ["weight_norm"]
