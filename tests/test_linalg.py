"""torch.linalg: factorisations, solves and norms against NumPy and PyTorch, values and
gradients, on every device."""
import numpy as np
import pytest

import cltorch
from cltorch import linalg

from conftest import assert_close, needs_fp64

rng = np.random.default_rng(3)
SQUARE = rng.standard_normal((4, 4)) + 4 * np.eye(4)
SPD = SQUARE @ SQUARE.T
TALL = rng.standard_normal((5, 3))
RHS = rng.standard_normal((4, 2))

# name -> (cltorch/torch form taking module m and tensors, inputs); outputs that are defined up
# to a sign (singular and eigen vectors) enter through sign-invariant products
CASES = {
    "inv": (lambda m, a: m.linalg.inv(a), [SQUARE]),
    "inv batched": (lambda m, a: m.linalg.inv(a), [np.stack([SQUARE, SQUARE.T])]),
    "solve": (lambda m, a, b: m.linalg.solve(a, b), [SQUARE, RHS]),
    "solve vector": (lambda m, a, b: m.linalg.solve(a, b), [SQUARE, RHS[:, 0].copy()]),
    "solve right": (lambda m, a, b: m.linalg.solve(a, b, left=False), [SQUARE, RHS.T.copy()]),
    "det": (lambda m, a: m.linalg.det(a), [SQUARE]),
    "slogdet": (lambda m, a: m.linalg.slogdet(a)[1], [SQUARE]),
    "cholesky": (lambda m, a: m.linalg.cholesky(a), [SPD]),
    "cholesky upper": (lambda m, a: m.linalg.cholesky(a, upper=True), [SPD]),
    "qr": (lambda m, a: (lambda q, r, s: m.cat([q * s, s.unsqueeze(-1) * r]))(
        *m.linalg.qr(a), m.linalg.qr(a)[1].diagonal().sign()), [TALL]),
    "svd": (lambda m, a: (lambda u, s, vh: (u * s) @ vh + s.sum())(
        *m.linalg.svd(a, full_matrices=False)), [TALL]),
    "svd wide": (lambda m, a: (lambda u, s, vh: m.cat([(u * s) @ vh, u @ u.mT], 1))(
        *m.linalg.svd(a, full_matrices=False)), [TALL.T.copy()]),
    "svdvals": (lambda m, a: m.linalg.svdvals(a), [TALL]),
    "eigh": (lambda m, a: (lambda w, v: (v * w) @ v.mT + (v * v))(*m.linalg.eigh(a)), [SPD]),
    "eigvalsh": (lambda m, a: m.linalg.eigvalsh(a), [SPD]),
    "lstsq": (lambda m, a, b: m.linalg.lstsq(a, b).solution, [TALL, TALL @ RHS[:3]]),
    "pinv": (lambda m, a: m.linalg.pinv(a), [TALL]),
    "matrix_power 3": (lambda m, a: m.linalg.matrix_power(a, 3), [SQUARE]),
    "matrix_power -2": (lambda m, a: m.linalg.matrix_power(a, -2), [SQUARE]),
    "multi_dot": (lambda m, a, b: m.linalg.multi_dot([a, a, b]), [SQUARE, RHS]),
    "inverse (top level)": (lambda m, a: m.inverse(a), [SQUARE]),
    "logdet (method)": (lambda m, a: a.logdet(), [SPD]),
}
NORMS = ["fro", "nuc", 1, -1, float("inf"), float("-inf"), 2, -2]


def _run(module, fn, arrays, device, dtype):
    inputs = [module.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
    if device is not None:
        inputs = [t.detach().to(device).requires_grad_() for t in inputs]
    out = fn(module, *inputs)
    weights = np.random.default_rng(0).standard_normal(tuple(out.shape))
    (out * module.tensor(weights, dtype=dtype, device=out.device)).sum().backward()
    return out.detach().cpu().numpy(), [t.grad.cpu().numpy() for t in inputs]


@pytest.mark.parametrize("name", sorted(CASES))
def test_against_pytorch(name, device):
    needs_fp64(device)
    fn, arrays = CASES[name]
    got, grads = _run(cltorch, fn, arrays, device, cltorch.float64)
    torch = pytest.importorskip("torch")
    want, want_grads = _run(torch, fn, arrays, None, torch.float64)
    assert_close(got, want, rtol=1e-8, atol=1e-9)
    for g, w in zip(grads, want_grads):
        assert_close(g, w, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("ord", NORMS, ids=str)
def test_matrix_norm(ord, device):
    x = cltorch.tensor(TALL.astype(np.float32), device=device, requires_grad=True)
    out = linalg.matrix_norm(x, ord)
    assert_close(out, np.linalg.norm(TALL, ord).astype(np.float32), rtol=1e-5)
    out.backward()
    torch = pytest.importorskip("torch")
    t = torch.tensor(TALL.astype(np.float32), requires_grad=True)
    torch.linalg.matrix_norm(t, ord).backward()
    assert_close(x.grad, t.grad.numpy(), rtol=1e-4, atol=1e-5)
    assert tuple(linalg.matrix_norm(x, ord, keepdim=True).shape) == (1, 1)
    assert_close(linalg.norm(x), np.linalg.norm(TALL).astype(np.float32), rtol=1e-5)


def test_float32_and_errors(device):
    a = cltorch.tensor(SQUARE.astype(np.float32), device=device)
    assert_close(linalg.inv(a), np.linalg.inv(SQUARE).astype(np.float32), rtol=1e-4,
                 atol=1e-5)
    with pytest.raises(linalg.LinAlgError, match="singular"):
        linalg.inv(cltorch.zeros(3, 3, device=device))
    with pytest.raises(linalg.LinAlgError, match="not positive-definite"):
        linalg.cholesky(-cltorch.eye(2, device=device))
    with pytest.raises(RuntimeError, match="Expected a floating point"):
        linalg.det(cltorch.ones(2, 2, dtype=cltorch.int64, device=device))
    with pytest.raises(RuntimeError, match="Low precision dtypes not supported"):
        linalg.inv(cltorch.eye(2, dtype=cltorch.float16, device=device))
    with pytest.raises(RuntimeError, match="square matrices"):
        linalg.det(cltorch.ones(2, 3, device=device))
    info = linalg.inv_ex(cltorch.zeros(2, 2, device=device)).info
    assert info.item() == 1
