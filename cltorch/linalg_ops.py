"""Matrix products with PyTorch's shape rules: mm, bmm, matmul (1-D/2-D/N-D broadcasting), mv,
dot, outer, addmm, baddbmm and the ``@`` operator, all over the one GEMM in ``ops.gemm``."""
from __future__ import annotations

from .ops import gemm
from .ops.layout import broadcast_shapes
from .tensor import Tensor


def _as_batched(x: Tensor, batch_shape) -> Tensor:
    """``x`` (..., r, c) as a (batch, r, c) view broadcast over ``batch_shape``; a copy only
    when its batch dims cannot be walked with one stride."""
    r, c = x._shape[-2:]
    batch = 1
    for s in batch_shape:
        batch *= s
    stride = gemm.batch_strides(x, batch_shape)
    if stride is None:
        x = x.expand(*batch_shape, r, c).contiguous()
        stride = r * c
    return x._view((batch, r, c), (stride, x._strides[-2], x._strides[-1]))


def _check_k(a_shape, b_shape):
    if a_shape[-1] != b_shape[-2]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({a_shape[-2]}x"
                           f"{a_shape[-1]} and {b_shape[-2]}x{b_shape[-1]})")


def matmul(input, other):
    """Matrix product with PyTorch's rules: dot for 1-D x 1-D, batched and broadcast for N-D.

    Example:
        >>> (tensor([[1., 2.]]) @ tensor([[3.], [4.]])).tolist()
        [[11.0]]
    """
    if input.ndim == 0 or other.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{input.ndim}D and {other.ndim}D")
    if input.ndim == 1 and other.ndim == 1:
        return dot(input, other)
    a = input.unsqueeze(0) if input.ndim == 1 else input
    b = other.unsqueeze(-1) if other.ndim == 1 else other
    _check_k(a._shape, b._shape)
    batch_shape = broadcast_shapes(a._shape[:-2], b._shape[:-2])
    out = gemm.bmm(_as_batched(a, batch_shape), _as_batched(b, batch_shape))
    out = out.view(*batch_shape, a._shape[-2], b._shape[-1])
    if input.ndim == 1:
        out = out.squeeze(-2)
    if other.ndim == 1:
        out = out.squeeze(-1)
    return out


def mm(input, mat2):
    """(n, k) @ (k, m)."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"{'self' if input.ndim != 2 else 'mat2'} must be a matrix")
    return matmul(input, mat2)


def bmm(input, mat2):
    """(b, n, k) @ (b, k, m), no broadcasting."""
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"batch{1 if input.ndim != 3 else 2} must be a 3D tensor")
    if input._shape[0] != mat2._shape[0]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{input._shape[0]}, {input._shape[2]}] but got: "
                           f"[{mat2._shape[0]}, {mat2._shape[1]}].")
    _check_k(input._shape, mat2._shape)
    return gemm.bmm(input, mat2)


def mv(input, vec):
    """(n, k) @ (k,)."""
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError("vector + matrix @ vector expected, got "
                           f"{input.ndim}, {vec.ndim}")
    return matmul(input, vec)


def dot(input, other):
    """Inner product of two 1-D tensors of the same size (a 0-dim tensor)."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D "
                           "tensors")
    if input._shape != other._shape:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{input._shape[0]}] and "
                           f"src [{other._shape[0]}] to have the same number of elements, but "
                           f"got {input._shape[0]} and {other._shape[0]} elements respectively")
    return gemm.bmm(input.view(1, 1, -1), other.view(1, -1, 1)).view(())


def outer(input, vec2):
    """``input[i] * vec2[j]``."""
    return input.unsqueeze(1) * vec2.unsqueeze(0)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)``; ``input`` is ignored when beta is 0."""
    return _scaled_sum(input, mm(mat1, mat2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * bmm(batch1, batch2)``."""
    return _scaled_sum(input, bmm(batch1, batch2), beta, alpha)


def _scaled_sum(input, product, beta, alpha):
    product = product if alpha == 1 else product * alpha
    if beta == 0:  # PyTorch ignores input then, NaN and inf included
        return product
    return product.add(input, alpha=beta)


MATMUL = {f.__name__: f for f in (matmul, mm, bmm, mv, dot, outer, addmm, baddbmm)}


def install() -> None:
    for name, fn in MATMUL.items():
        setattr(Tensor, name, fn)
    Tensor.__matmul__ = matmul
    Tensor.__rmatmul__ = lambda self, other: matmul(other, self)
    Tensor.ger = outer


install()
