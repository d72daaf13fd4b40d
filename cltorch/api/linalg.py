"""``cltorch.linalg`` (``torch.linalg``): norms, solves and decompositions.

Norms, ``multi_dot``, ``matrix_power`` and ``vecdot`` are Tensor ops and run on the device.
The factorisations (``inv``, ``solve``, ``det``, ``slogdet``, ``cholesky``, ``qr``, ``svd``,
``eigh``, ``lstsq``) run on the host through NumPy's LAPACK and return to the input's device:
a host synchronisation per call, which suits their use (set-up, small matrices, analysis)
rather than the per-step hot path. Every result is differentiable; the backward formulas are
written with Tensor ops (PyTorch's formulas, so the gradients match PyTorch's).
"""
from __future__ import annotations

import collections

import numpy as np

from .. import dtypes
from ..autograd.graph import record
from .creation import empty, tensor as _tensor, zeros
from .layout import cross  # noqa: F401  (torch.linalg.cross)
from .reduce import vector_norm

__all__ = ["LinAlgError", "vector_norm", "matrix_norm", "norm", "cross", "inv", "inv_ex",
           "solve", "det", "slogdet", "cholesky", "qr", "svd", "svdvals", "eigh", "eigvalsh",
           "lstsq", "pinv", "matrix_power", "multi_dot", "vecdot", "diagonal"]


class LinAlgError(RuntimeError):
    """A factorisation failed (singular or not positive-definite input), as
    ``torch.linalg.LinAlgError``."""


_SlogDet = collections.namedtuple("slogdet", "sign logabsdet")
_QR = collections.namedtuple("qr", "Q R")
_SVD = collections.namedtuple("svd", "U S Vh")
_Eigh = collections.namedtuple("eigh", "eigenvalues eigenvectors")
_Lstsq = collections.namedtuple("lstsq", "solution residuals rank singular_values")
_InvEx = collections.namedtuple("inv_ex", "inverse info")


def _square(name, A):
    _floating(name, A)
    if A.ndim < 2:
        raise RuntimeError(f"linalg.{name}: The input tensor A must have at least 2 dimensions.")
    if A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.{name}: A must be batches of square matrices, but they are "
                           f"{A.shape[-2]} by {A.shape[-1]} matrices")


def _floating(name, A):
    if not A.dtype.is_floating_point:
        raise RuntimeError(f"linalg.{name}: Expected a floating point or complex tensor as "
                           f"input. Got {A.dtype.legacy_name}")
    if A.dtype.itemsize < 4:
        raise RuntimeError(f"linalg.{name}: Low precision dtypes not supported. Got "
                           f"{A.dtype.legacy_name}")


def _host(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def _back(values, like):
    """A NumPy result as a tensor on ``like``'s device, in ``like``'s dtype."""
    return _tensor(np.array(values, order="C"), dtype=like.dtype, device=like.device)


def _lapack(fn, A, *args, error):
    """``fn`` (a NumPy factorisation) on the host copy of ``A``; ``error`` when LAPACK fails."""
    try:
        return fn(_host(A), *args)
    except np.linalg.LinAlgError:
        raise LinAlgError(error) from None


def _mT(t):
    return t.transpose(-2, -1)


def _diag_embed(v):
    """(..., n) -> (..., n, n) with ``v`` on the diagonal (Tensor ops, differentiable)."""
    n = v.shape[-1]
    eye = _tensor(np.eye(n), dtype=v.dtype, device=v.device)
    return v.unsqueeze(-1) * eye


# ---- inverses and solves --------------------------------------------------------------------
def inv(A, *, out=None):
    """The inverse of each square matrix of ``A``."""
    _square("inv", A)
    Y = _back(_lapack(np.linalg.inv, A, error="linalg.inv: The diagonal element is zero, the "
                      "inversion could not be completed because the input matrix is singular."),
              A)
    record(Y, "LinalgInvExBackward0", (A,), lambda g, Y: -(_mT(Y) @ g @ _mT(Y)),
           save_outputs=True)
    return Y if out is None else out.copy_(Y)


def inv_ex(A, *, check_errors=False, out=None):
    """``inv`` and an info tensor (0: success); raises only with ``check_errors``."""
    try:
        return _InvEx(inv(A), zeros(A.shape[:-2], dtype=dtypes.int32, device=A.device))
    except LinAlgError:
        if check_errors:
            raise
        nan = _back(np.full(tuple(A.shape), np.nan), A)
        return _InvEx(nan, zeros(A.shape[:-2], dtype=dtypes.int32, device=A.device) + 1)


def solve(A, B, *, left=True, out=None):
    """X with ``A @ X = B`` (``X @ A = B`` when ``left=False``); B may be a vector."""
    _square("solve", A)
    if not left:
        return _mT(solve(_mT(A), _mT(B)))
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.shape[-2] != A.shape[-1]:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"AX = B ({A.shape[-2]}x{A.shape[-1]} and {Bm.shape[-2]}x"
                           f"{Bm.shape[-1]})")
    values = _lapack(np.linalg.solve, A, _host(Bm), error="linalg.solve: The solver failed "
                     "because the input matrix is singular.")
    X = _back(values, Bm if Bm.dtype is A.dtype else A)

    def backward(g, X):
        gB = solve(_mT(A), g)
        return -(gB @ _mT(X)), gB
    record(X, "LinalgSolveExBackward0", (A, Bm), backward, save_outputs=True)
    X = X.squeeze(-1) if vector else X
    return X if out is None else out.copy_(X)


def det(A):
    """The determinant of each square matrix."""
    _square("det", A)
    d = _back(np.linalg.det(_host(A)), A)
    record(d, "LinalgDetBackward0", (A,),
           lambda g, d: (g * d).unsqueeze(-1).unsqueeze(-1) * _mT(inv(A)), save_outputs=True)
    return d


def slogdet(A):
    """(sign, log|det|) of each square matrix."""
    _square("slogdet", A)
    sign, logabs = np.linalg.slogdet(_host(A))
    sign, logabs = _back(sign, A), _back(logabs, A)
    record((sign, logabs), "LinalgSlogdetBackward0", (A,),
           lambda g_sign, g_log: g_log.unsqueeze(-1).unsqueeze(-1) * _mT(inv(A)))
    return _SlogDet(sign.detach(), logabs)


def logdet(A):
    """log det A (NaN where the determinant is negative), as ``torch.logdet``."""
    sign, logabs = slogdet(A)
    return logabs.masked_fill(sign < 0, float("nan"))


# ---- factorisations -------------------------------------------------------------------------
def cholesky(A, *, upper=False, out=None):
    """The lower (or ``upper``) Cholesky factor of each symmetric positive-definite matrix."""
    _square("cholesky", A)
    L = _back(_lapack(np.linalg.cholesky, A, error="linalg.cholesky: The factorization could "
                      "not be completed because the input is not positive-definite."), A)

    def backward(g, L):  # PyTorch's cholesky_backward (real case)
        phi = (_mT(L) @ g).tril()
        phi = phi - 0.5 * _diag_embed(phi.diagonal(0, -2, -1))
        Linv = inv(L)
        S = _mT(Linv) @ phi @ Linv
        return 0.5 * (S + _mT(S))
    record(L, "LinalgCholeskyExBackward0", (A,), backward, save_outputs=True)
    L = _mT(L) if upper else L
    return L if out is None else out.copy_(L)


def qr(A, mode="reduced"):
    """A = QR with orthonormal Q and upper-triangular R (``mode``: reduced, complete, r)."""
    _floating("qr", A)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of "
                           f"'reduced' (default), 'r', or 'complete'")
    q, r = np.linalg.qr(_host(A), mode="complete" if mode == "complete" else "reduced")
    Q, R = _back(q, A), _back(r, A)
    m, n = A.shape[-2], A.shape[-1]

    def backward(gQ, gR, Q, R):  # reduced m >= n: gA = (gQ + Q copyltu(M)) R^-T
        if m < n or mode == "complete" and m != n:
            raise NotImplementedError("The derivative of linalg.qr is implemented for "
                                      "m >= n in reduced mode (as in PyTorch)")
        M = R @ _mT(gR) - _mT(gQ) @ Q
        lower = M.tril(-1)
        copyltu = lower + _mT(lower) + _diag_embed(M.diagonal(0, -2, -1))
        return _mT(solve(R, _mT(gQ + Q @ copyltu)))
    record((Q, R), "LinalgQrBackward0", (A,), backward, save_outputs=True)
    if mode == "r":
        return _QR(empty(0, dtype=A.dtype, device=A.device), R)
    return _QR(Q, R)


def svd(A, full_matrices=True, *, driver=None):
    """A = U diag(S) Vh, singular values in descending order."""
    _floating("svd", A)
    u, s, vh = np.linalg.svd(_host(A), full_matrices=full_matrices)
    U, S, Vh = _back(u, A), _back(s, A), _back(vh, A)
    m, n = A.shape[-2], A.shape[-1]
    k = min(m, n)

    def backward(gU, gS, gVh, U, S, Vh):
        U, Vh, gU, gVh = U[..., :, :k], Vh[..., :k, :], gU[..., :, :k], gVh[..., :k, :]
        return _svd_backward(gU, gS, gVh, U, S, Vh, m, n)
    record((U, S, Vh), "LinalgSvdBackward0", (A,), backward, save_outputs=True)
    return _SVD(U, S, Vh)


def _svd_backward(gU, gS, gVh, U, S, Vh, m, n):
    """PyTorch's svd_backward, real case, reduced factors."""
    V, gV = _mT(Vh), _mT(gVh)
    inner = _diag_embed(gS)
    if gU.abs().sum().item() or gV.abs().sum().item():
        Ssq = S * S
        E = Ssq.unsqueeze(-2) - Ssq.unsqueeze(-1)  # E[i, j] = S_j^2 - S_i^2
        E = E + _diag_embed(E.new_ones(S.shape))   # the diagonal is not divided
        UhgU, VhgV = _mT(U) @ gU, _mT(V) @ gV
        skew_u, skew_v = UhgU - _mT(UhgU), VhgV - _mT(VhgV)
        off = (skew_u * S.unsqueeze(-2) + S.unsqueeze(-1) * skew_v) / E
        off = off - _diag_embed(off.diagonal(0, -2, -1))
        inner = inner + off
    gA = U @ inner @ Vh
    if m > n and gU.abs().sum().item():
        gA = gA + ((gU - U @ (_mT(U) @ gU)) / S.unsqueeze(-2)) @ Vh
    if m < n and gV.abs().sum().item():
        gA = gA + U @ _mT((gV - V @ (_mT(V) @ gV)) / S.unsqueeze(-2))
    return gA


def svdvals(A):
    """The singular values of A, descending (differentiable)."""
    return svd(A, full_matrices=False).S


def eigh(A, UPLO="L"):
    """Eigenvalues (ascending) and orthonormal eigenvectors of symmetric matrices, read from
    the ``UPLO`` triangle."""
    _square("eigh", A)
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    w, v = np.linalg.eigh(_host(A), UPLO=UPLO)
    L, V = _back(w, A), _back(v, A)

    def backward(gL, gV, L, V):  # PyTorch's linalg_eig_backward, hermitian case
        VhgV = _mT(V) @ gV
        VhgV = 0.5 * (VhgV - _mT(VhgV))
        E = L.unsqueeze(-2) - L.unsqueeze(-1)
        E = E + _diag_embed(E.new_ones(L.shape))
        inner = VhgV / E
        inner = inner - _diag_embed(inner.diagonal(0, -2, -1)) + _diag_embed(gL)
        return V @ inner @ _mT(V)
    record((L, V), "LinalgEighBackward0", (A,), backward, save_outputs=True)
    return _Eigh(L, V)


def eigvalsh(A, UPLO="L"):
    return eigh(A, UPLO).eigenvalues


def lstsq(A, B, rcond=None, *, driver=None):
    """The least-squares solution of ``A X = B`` (full column rank A: m >= n), with
    residuals, rank and singular values as NumPy's ``lstsq`` gives them."""
    _floating("lstsq", A)
    vector = B.ndim == A.ndim - 1
    Bm = B.unsqueeze(-1) if vector else B
    a, b = _host(A), _host(Bm)
    if a.ndim == 2:
        x, residuals, rank, sv = np.linalg.lstsq(a, b, rcond=rcond)
    else:  # NumPy's lstsq takes one matrix: solve each of the batch
        x = np.linalg.pinv(a) @ b
        residuals, rank, sv = np.empty(0), np.linalg.matrix_rank(a), np.linalg.svd(a, False, False)
    X = _back(x, A)

    def backward(g, X):  # X = (A^T A)^-1 A^T B
        Z = solve(_mT(A) @ A, g)
        return (Bm - A @ X) @ _mT(Z) - A @ Z @ _mT(X), A @ Z
    record(X, "LinalgLstsqBackward0", (A, Bm), backward, save_outputs=True)
    return _Lstsq(X.squeeze(-1) if vector else X, _back(np.asarray(residuals), A),
                  _tensor(np.asarray(rank), dtype=dtypes.int64, device=A.device),
                  _back(np.asarray(sv), A))


def pinv(A, *, atol=None, rtol=None, hermitian=False):
    """The pseudo-inverse, through the SVD (differentiable)."""
    U, S, Vh = svd(A, full_matrices=False)
    cutoff = (rtol if rtol is not None else max(A.shape[-2:]) * np.finfo(
        A.dtype.storage_np).eps) * S.amax(-1, keepdim=True)
    if atol is not None:
        cutoff = cutoff.clamp(min=atol)
    keep = S > cutoff
    S_inv = (1 / S.masked_fill(~keep, 1.0)).masked_fill(~keep, 0.0)
    return _mT(Vh) @ (S_inv.unsqueeze(-1) * _mT(U))


# ---- Tensor-op forms ------------------------------------------------------------------------
def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """Frobenius, nuclear, 1, -1, inf, -inf, 2 or -2 norm over the two dims ``dim``."""
    if dtype is not None:
        A = A.to(dtype)
    _floating("matrix_norm", A)
    d0, d1 = (d % A.ndim for d in dim)
    if ord == "fro":
        return A.pow(2).sum((d0, d1), keepdim=keepdim).sqrt()
    if ord in ("nuc", 2, -2):
        moved = A.movedim((d0, d1), (-2, -1))
        s = svdvals(moved)
        out = s.sum(-1) if ord == "nuc" else (s.amax(-1) if ord == 2 else s.amin(-1))
        return out.unsqueeze(-1).unsqueeze(-1).movedim((-2, -1), (d0, d1)) if keepdim else out
    if ord in (1, -1, float("inf"), float("-inf")):
        over, across = (d0, d1) if ord in (1, -1) else (d1, d0)
        sums = A.abs().sum(over, keepdim=True)
        out = sums.amax(across, keepdim=True) if ord > 0 else sums.amin(across, keepdim=True)
        return out if keepdim else out.squeeze((d0, d1) if d0 < d1 else (d1, d0))
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """``vector_norm`` for a vector or ``ord`` on one dim, ``matrix_norm`` for two dims."""
    if isinstance(ord, str) or (dim is not None and not isinstance(dim, int) and len(dim) == 2) \
            or (ord is not None and dim is None and A.ndim == 2):
        return matrix_norm(A, "fro" if ord is None else ord, (-2, -1) if dim is None else dim,
                           keepdim, dtype=dtype)
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


def matrix_power(A, n: int):
    """A to the integer power ``n`` (negative: of its inverse), by repeated squaring."""
    _square("matrix_power", A)
    if n < 0:
        return matrix_power(inv(A), -n)
    result = _tensor(np.broadcast_to(np.eye(A.shape[-1]), tuple(A.shape)).copy(),
                     dtype=A.dtype, device=A.device) if n == 0 else None
    base = A
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return result


def multi_dot(tensors, *, out=None):
    """The chained product of matrices (first may be a vector, last may be a vector)."""
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError("multi_dot(): expected at least 2 tensors but got "
                           f"{len(tensors)}")
    result = tensors[0]
    for t in tensors[1:]:
        result = result @ t
    return result if out is None else out.copy_(result)


def vecdot(x, y, *, dim=-1):
    """Dot products along ``dim`` (real dtypes)."""
    return (x * y).sum(dim)


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    return A.diagonal(offset, dim1, dim2)


# ---- the older top-level spellings (torch.inverse, torch.det...) and Tensor methods --------
def _svd_legacy(A, some=True, compute_uv=True):
    """``torch.svd``: (U, S, V) with V, not Vh; ``some`` gives the reduced factors."""
    U, S, Vh = svd(A, full_matrices=not some)
    return _SVD(U, S, _mT(Vh))


def _cholesky_legacy(A, upper=False):
    return cholesky(A, upper=upper)


def _qr_legacy(A, some=True):
    return qr(A, "reduced" if some else "complete")


TOP_LEVEL = {"inverse": inv, "det": det, "logdet": logdet, "slogdet": slogdet,
             "cholesky": _cholesky_legacy, "qr": _qr_legacy, "svd": _svd_legacy,
             "pinverse": lambda A, rcond=1e-15: pinv(A, rtol=rcond),
             "matrix_power": matrix_power, "chain_matmul": lambda *ms: multi_dot(ms)}


NAMESPACE = TOP_LEVEL
METHODS = {name: TOP_LEVEL[name] for name in (
    "inverse", "det", "logdet", "slogdet", "cholesky", "qr", "svd", "pinverse", "matrix_power")}
