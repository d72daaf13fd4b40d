"""Matrix products with PyTorch's shape rules: mm, bmm, matmul (1-D/2-D/N-D broadcasting), mv,
dot, outer, addmm, baddbmm and the ``@`` operator, all over the one GEMM in ``ops.gemm``."""
from __future__ import annotations

import functools

from ..amp.autocast_mode import LOWER, LOWER_GPU, autocast_op
from ..autograd.engine import sum_to
from ..autograd.graph import needs_grad, record
from ..ops import gemm
from ..ops.array import relayout
from ..ops.layout import broadcast_shapes
from ..tensor import Tensor


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
    shape = x._shape
    return x._view((batch, r, c), (stride, x._strides[-2], x._strides[-1]),
                   backward=lambda g: sum_to(g.reshape(*batch_shape, r, c), shape),
                   name="ExpandBackward0")


def _bmm(a, b):
    """The batched GEMM, recorded for autograd: dA = dC @ B^T, dB = A^T @ dC."""
    return record(gemm.bmm(a, b), "BmmBackward0", (a, b), lambda g, a, b: (
        _product(g, b.transpose(1, 2), a) if a.requires_grad else None,
        _product(a.transpose(1, 2), g, b) if b.requires_grad else None),
        saved=(a, b))


def _product(x, y, like):
    """``x @ y`` laid out as ``like``: a gradient for a transposed operand (``w.t()`` in
    ``linear``) is computed as ``(y^T @ x^T)^T``, so that it reaches the weight contiguous,
    as the weight is, instead of as a transposed view every accumulation reads across."""
    if like._strides[-2] < like._strides[-1]:
        return _bmm(y.transpose(1, 2), x.transpose(1, 2)).transpose(1, 2)
    return _bmm(x, y)


def _check_k(a_shape, b_shape):
    if a_shape[-1] != b_shape[-2]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({a_shape[-2]}x"
                           f"{a_shape[-1]} and {b_shape[-2]}x{b_shape[-1]})")


def _into(out, result, name):
    """Write ``result`` into the caller's ``out=`` tensor, with PyTorch's checks."""
    if out is None:
        return result
    if result.requires_grad or out.requires_grad:
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support "
                           f"automatic differentiation, but one of the arguments requires "
                           f"grad.")
    if out.dtype is not result.dtype:
        raise RuntimeError(f"Expected out tensor to have dtype {result.dtype}, but got "
                           f"{out.dtype} instead")
    if tuple(out.shape) != tuple(result.shape):
        raise RuntimeError(f"{name}(): out= has shape {list(out.shape)}, expected "
                           f"{list(result.shape)} (cltorch does not resize out= tensors)")
    return out.copy_(result)


_OUT = set()  # the products that take out= (their methods do not)


def _with_out(fn):
    """``fn(..., out=None)``: the product, written into ``out`` when one is given."""
    @functools.wraps(fn)
    def run(*args, out=None):
        result = fn(*args)
        return result if out is None else _into(out, result, fn.__name__)
    _OUT.add(fn.__name__)
    return run


@_with_out
@autocast_op(LOWER)
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
    if input.ndim == 2 and other.ndim == 2 and not needs_grad((input, other)):
        # nothing to record (backward formulas run here): the GEMM on the operands as they lie
        _check_k(input._shape, other._shape)
        return gemm.mm(input, other)
    a = input.unsqueeze(0) if input.ndim == 1 else input
    b = other.unsqueeze(-1) if other.ndim == 1 else other
    _check_k(a._shape, b._shape)
    if a.ndim > 2 and b.ndim == 2:
        # As PyTorch does: the batch dims fold into the rows, one GEMM of (batch*m, k) rows
        # instead of one per batch entry, and the weight's gradient is one GEMM too (not a
        # product per entry summed afterwards)
        rows = a.reshape(-1, a._shape[-1])
        out = _bmm(_as_batched(rows, ()), _as_batched(b, ()))
        out = out.view(*a._shape[:-1], b._shape[-1])
    else:
        batch_shape = broadcast_shapes(a._shape[:-2], b._shape[:-2])
        out = _bmm(_as_batched(a, batch_shape), _as_batched(b, batch_shape))
        out = out.view(*batch_shape, a._shape[-2], b._shape[-1])
    if input.ndim == 1:
        out = out.squeeze(-2)
    if other.ndim == 1:
        out = out.squeeze(-1)
    return out


@_with_out
@autocast_op(LOWER)
def mm(input, mat2):
    """(n, k) @ (k, m)."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"{'self' if input.ndim != 2 else 'mat2'} must be a matrix")
    return matmul(input, mat2)


@_with_out
@autocast_op(LOWER)
def bmm(input, mat2):
    """(b, n, k) @ (b, k, m), no broadcasting."""
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"batch{1 if input.ndim != 3 else 2} must be a 3D tensor")
    if input._shape[0] != mat2._shape[0]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{input._shape[0]}, {input._shape[2]}] but got: "
                           f"[{mat2._shape[0]}, {mat2._shape[1]}].")
    _check_k(input._shape, mat2._shape)
    return _bmm(input, mat2)


@_with_out
@autocast_op(LOWER_GPU)
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
    return _bmm(input.view(1, 1, -1), other.view(1, -1, 1)).view(())


def outer(input, vec2):
    """``input[i] * vec2[j]``."""
    return input.unsqueeze(1) * vec2.unsqueeze(0)


@autocast_op(LOWER)
def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)``; ``input`` is ignored when beta is 0."""
    return _scaled_sum(input, mm(mat1, mat2), beta, alpha)


@autocast_op(LOWER)
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * bmm(batch1, batch2)``."""
    return _scaled_sum(input, bmm(batch1, batch2), beta, alpha)


@autocast_op(LOWER)
def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` (``torch.nn.functional.linear``).

    The common case (a 2-D weight, a matching bias, rows of any batch shape) is one GEMM into
    a new result, the bias added into it, and one autograd node, as PyTorch's addmm: no view
    nodes for ``weight.t()`` and the batched forms."""
    if weight.ndim != 2 or input.ndim < 2 or not _plain_bias(bias, weight):
        out = input @ weight.t() if weight.ndim == 2 else input @ weight
        return out if bias is None else out + bias
    rows = input if input.ndim == 2 else input.reshape(-1, input._shape[-1])
    m, k = weight._shape
    out = gemm.mm(rows, relayout(weight, (k, m), weight._strides[::-1]),
                    None if bias is None else relayout(bias, (1, 1, m), (0, 0) + bias._strides))
    inputs = (rows, weight) + ((bias,) if bias is not None else ())
    record(out, "AddmmBackward0", inputs,
           lambda g, rows, weight: (
               g.matmul(weight) if rows.requires_grad else None,
               g.t().matmul(rows) if weight.requires_grad else None,  # laid out as weight
               g.sum(0) if bias is not None and bias.requires_grad else None)[:len(inputs)],
           saved=(rows, weight),
           direct=lambda g, rows, weight: gemm.linear_grads(g, rows, weight, (
               rows.requires_grad, weight.requires_grad,
               bias is not None and bias.requires_grad))[:len(inputs)])
    return out if input.ndim == 2 else out.view(*input._shape[:-1], m)


def _plain_bias(bias, weight) -> bool:
    """A bias the fast path adds in place: None, or (out_features,) of the weight's dtype."""
    return bias is None or (isinstance(bias, Tensor) and bias._shape == weight._shape[:1] and
                            bias.dtype is weight.dtype)


def _scaled_sum(input, product, beta, alpha):
    product = product if alpha == 1 else product * alpha
    if beta == 0:  # PyTorch ignores input then, NaN and inf included
        return product
    return product.add(input, alpha=beta)


def vdot(input, other):
    """Dot product of two 1-D tensors (real dtypes: the same as ``dot``)."""
    return dot(input, other)


def inner(input, other):
    """Sum of products over the last dims: ``input @ other.mT`` generalised to N-D."""
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    result = matmul(input.reshape(-1, input._shape[-1]), other.reshape(-1, other._shape[-1]).t())
    return result.reshape(input._shape[:-1] + other._shape[:-1])


@autocast_op(LOWER_GPU)
def addmv(input, mat, vec, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat @ vec)``."""
    return _scaled_sum(input, mv(mat, vec), beta, alpha)


@autocast_op(LOWER_GPU)
def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """``beta * input + alpha * outer(vec1, vec2)``."""
    return _scaled_sum(input, outer(vec1, vec2), beta, alpha)


@autocast_op(LOWER)
def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * sum_b batch1[b] @ batch2[b]``."""
    return _scaled_sum(input, bmm(batch1, batch2).sum(0), beta, alpha)


def tensordot(a, b, dims=2):
    """Contract the last ``dims`` dims of ``a`` with the first of ``b`` (or explicit lists)."""
    if isinstance(dims, int):
        dims_a, dims_b = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        dims_a, dims_b = ([d] if isinstance(d, int) else list(d) for d in dims)
    dims_a = [d % a.ndim for d in dims_a]
    dims_b = [d % b.ndim for d in dims_b]
    for da, db in zip(dims_a, dims_b):
        if a._shape[da] != b._shape[db]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size "
                               f"{a._shape[da]} in dim {da} and second has size "
                               f"{b._shape[db]} in dim {db}")
    free_a = [d for d in range(a.ndim) if d not in dims_a]
    free_b = [d for d in range(b.ndim) if d not in dims_b]
    k = 1
    for d in dims_a:
        k *= a._shape[d]
    left = a.permute(free_a + dims_a).reshape(-1, k)
    right = b.permute(dims_b + free_b).reshape(k, -1)
    return mm(left, right).reshape([a._shape[d] for d in free_a] +
                                   [b._shape[d] for d in free_b])


def kron(input, other):
    """Kronecker product."""
    nd = max(input.ndim, other.ndim)
    a = input.reshape((1,) * (nd - input.ndim) + input._shape)
    b = other.reshape((1,) * (nd - other.ndim) + other._shape)
    interleaved_a = [s for d in a._shape for s in (d, 1)]
    interleaved_b = [s for d in b._shape for s in (1, d)]
    product = a.reshape(interleaved_a) * b.reshape(interleaved_b)
    return product.reshape([x * y for x, y in zip(a._shape, b._shape)])


@autocast_op(LOWER)
def einsum(equation, *operands):
    """Einstein summation over any number of operands (``...`` broadcasts), contracted left to
    right: each step is permutes, sums and one batched matmul."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    terms, rhs = _einsum_parse(equation, operands)
    operands = _einsum_broadcast(terms, operands)
    if len(operands) == 1:
        term, t = _einsum_prepare(terms[0], operands[0], rhs)
        return t.permute([term.index(c) for c in rhs]) if rhs else t.reshape(())
    term, acc = terms[0], operands[0]
    for i in range(1, len(operands)):
        later = rhs + "".join(terms[i + 1:])
        keep = rhs if i == len(operands) - 1 else \
            "".join(c for c in dict.fromkeys(term + terms[i]) if c in later)
        acc = _einsum_two(term, acc, terms[i], operands[i], keep)
        term = keep
    return acc


_ELLIPSIS_LETTERS = "".join(chr(0x3B1 + i) for i in range(24))  # never in an equation


def _einsum_parse(equation, operands):
    """The terms and the output, with each ``...`` spelled as letters of its own (aligned
    right, as broadcasting aligns dims), and the implicit output made explicit."""
    lhs, arrow, rhs = equation.replace(" ", "").partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the "
                           "equation" if len(operands) > len(terms) else
                           "einsum(): fewer operands were provided than specified in the "
                           "equation")
    spelled, widest = [], 0
    for i, (term, t) in enumerate(zip(terms, operands)):
        named = len(term.replace("...", ""))
        if "..." in term:
            k = t.ndim - named
            if k < 0:
                raise RuntimeError(f"einsum(): the number of subscripts in the equation "
                                   f"({named}) is more than the number of dimensions ({t.ndim})"
                                   f" for operand {i}")
            widest = max(widest, k)
            term = term.replace("...", _ELLIPSIS_LETTERS[24 - k:] if k else "")
        elif named != t.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) "
                               f"does not match the number of dimensions ({t.ndim}) for "
                               f"operand {i} and no ellipsis was given")
        spelled.append(term)
    dots = _ELLIPSIS_LETTERS[24 - widest:] if widest else ""
    if arrow:
        return spelled, rhs.replace("...", dots)
    letters = "".join(terms).replace("...", "")
    return spelled, dots + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))


def _einsum_broadcast(terms, operands):
    """Operands expanded so that a letter has one size everywhere (size-1 dims broadcast)."""
    sizes = {}
    for term, t in zip(terms, operands):
        for c, n in zip(term, t._shape):
            if sizes.get(c, 1) not in (1, n) and n != 1:
                raise RuntimeError(f"einsum(): operands do not broadcast with remapped shapes "
                                   f"(original->remapped): subscript {c} has sizes "
                                   f"{sizes[c]} and {n}")
            sizes[c] = max(sizes.get(c, 1), n) if n != 0 and sizes.get(c) != 0 else 0
    return [t.expand([sizes[c] for c in term]) if any(
        n != sizes[c] for c, n in zip(term, t._shape)) else t for term, t in zip(terms, operands)]


def _einsum_two(ta, a, tb, b, rhs):
    """``ta,tb->rhs`` through permutes, sums and one batched matmul."""
    sizes = dict(zip(ta, a._shape))
    sizes.update(zip(tb, b._shape))
    ta, a = _einsum_prepare(ta, a, rhs + tb)
    tb, b = _einsum_prepare(tb, b, rhs + ta)
    batch = [c for c in ta if c in tb and c in rhs]
    contract = [c for c in ta if c in tb and c not in rhs]
    left = [c for c in ta if c not in tb]
    right = [c for c in tb if c not in ta]
    a = a.permute([ta.index(c) for c in batch + left + contract])
    b = b.permute([tb.index(c) for c in batch + contract + right])
    shape = [sizes[c] for c in batch]
    m, n, k = (_prod(sizes[c] for c in g) for g in (left, right, contract))
    out = matmul(a.reshape(shape + [m, k]), b.reshape(shape + [k, n]))
    out = out.reshape(shape + [sizes[c] for c in left + right])
    order = batch + left + right
    return out.permute([order.index(c) for c in rhs]) if rhs else out.reshape(())


def _einsum_prepare(term, t, others):
    """Take repeated letters' diagonals and sum letters used by no other term or output."""
    for c in set(term):
        while term.count(c) > 1:
            i = term.index(c)
            j = term.index(c, i + 1)
            t = t.diagonal(0, i, j)
            term = term[:i] + term[i + 1:j] + term[j + 1:] + c
    lone = [i for i, c in enumerate(term) if c not in others]
    if lone:
        t = t.sum(lone)
        term = "".join(c for i, c in enumerate(term) if i not in lone)
    return term, t


def _prod(values):
    result = 1
    for v in values:
        result *= v
    return result


MATMUL = {f.__name__: f for f in (matmul, mm, bmm, mv, dot, outer, addmm, baddbmm, vdot, inner,
                                   addmv, addr, addbmm, tensordot, kron, einsum)}


NAMESPACE = MATMUL
# Methods and operators take no out=: they get the products without that wrapper.
METHODS = {name: getattr(fn, "__wrapped__", fn) if name in _OUT else fn
           for name, fn in MATMUL.items() if name not in ("einsum", "tensordot")}
METHODS.update(__matmul__=matmul.__wrapped__, ger=outer,
               __rmatmul__=lambda self, other: matmul.__wrapped__(other, self))
