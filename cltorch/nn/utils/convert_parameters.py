"""Parameters flattened into one vector and back."""
from __future__ import annotations

from ...autograd.grad_mode import no_grad


def parameters_to_vector(parameters):
    """One 1-D tensor holding every parameter, flattened, in order."""
    from ...api.layout import cat
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of ``vec`` into the parameters (in place)."""
    if not hasattr(vec, "_storage"):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    start = 0
    with no_grad():
        for p in parameters:
            n = p.numel()
            p.copy_(vec[start:start + n].view_as(p))
            start += n
