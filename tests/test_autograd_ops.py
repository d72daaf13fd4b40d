"""A derivative for every differentiable op, on every device: gradcheck in float64 (central
differences) where the device has fp64, second derivatives for a representative set, and
float32 gradients against float64 ones computed on the cpu."""
import numpy as np
import pytest
from conftest import needs_fp64

import cltorch
from cltorch.autograd import gradcheck, gradgradcheck


def _in(shape, low=-1.0, high=1.0):
    return (shape, low, high)


POS = dict(low=0.5, high=2.0)
IDX = np.array([2, 0, 2])


def _i(device, values):
    return cltorch.tensor(values, device=device)


# name, function of (device, *tensors), input specs (shape, low, high)
CASES = [
    # pointwise, with broadcasting and Python scalars
    ("add", lambda d, a, b: cltorch.add(a, b, alpha=3), [_in((2, 3)), _in((3,))]),
    ("sub", lambda d, a, b: a - b * 2, [_in((2, 3)), _in((2, 1))]),
    ("rsub", lambda d, a: 2 - a, [_in((4,))]),
    ("mul", lambda d, a, b: a * b, [_in((2, 3)), _in((3,))]),
    ("div", lambda d, a, b: a / b, [_in((4,)), _in((4,), **POS)]),
    ("pow", lambda d, a, b: a ** b, [_in((4,), **POS), _in((4,))]),
    ("pow_scalar", lambda d, a: a ** 3 + a ** 0.5 * 0 + 2 ** a, [_in((4,), **POS)]),
    ("atan2", lambda d, a, b: cltorch.atan2(a, b), [_in((4,)), _in((4,), **POS)]),
    ("maximum", lambda d, a, b: cltorch.maximum(a, b), [_in((5,)), _in((5,))]),
    ("minimum", lambda d, a, b: cltorch.minimum(a, b), [_in((5,)), _in((5,))]),
    ("fmax", lambda d, a, b: cltorch.fmax(a, b), [_in((5,)), _in((5,))]),
    ("fmin", lambda d, a, b: cltorch.fmin(a, b), [_in((5,)), _in((5,))]),
    ("remainder", lambda d, a, b: a.remainder(b), [_in((4,), 0.1, 0.9), _in((4,), 1.1, 2)]),
    ("fmod", lambda d, a, b: cltorch.fmod(a, b), [_in((4,), 0.1, 0.9), _in((4,), 1.1, 2)]),
    ("clamp", lambda d, a: a.clamp(-0.5, 0.5), [_in((6,))]),
    ("clamp_tensors", lambda d, a, lo, hi: a.clamp(lo, hi),
     [_in((6,)), _in((6,), -1, -0.2), _in((6,), 0.2, 1)]),
    ("lerp", lambda d, a, b, w: cltorch.lerp(a, b, w), [_in((4,)), _in((4,)), _in((4,))]),
    ("lerp_scalar", lambda d, a, b: cltorch.lerp(a, b, 0.3), [_in((4,)), _in((4,))]),
    ("addcmul", lambda d, a, b, c: cltorch.addcmul(a, b, c, value=2),
     [_in((3,)), _in((3,)), _in((3,))]),
    ("addcdiv", lambda d, a, b, c: cltorch.addcdiv(a, b, c, value=2),
     [_in((3,)), _in((3,)), _in((3,), **POS)]),
    ("where", lambda d, a, b: cltorch.where(a > 0, a, b), [_in((5,)), _in((5,))]),
    ("neg_abs", lambda d, a: (-a).abs(), [_in((5,))]),
    ("reciprocal", lambda d, a: a.reciprocal(), [_in((4,), **POS)]),
    ("sqrt_rsqrt", lambda d, a: a.sqrt() + a.rsqrt(), [_in((4,), **POS)]),
    ("exp_family", lambda d, a: a.exp() + a.exp2() + a.expm1(), [_in((4,))]),
    ("log_family", lambda d, a: a.log() + a.log2() + a.log10() + a.log1p(), [_in((4,), **POS)]),
    ("trig", lambda d, a: a.sin() + a.cos() + a.tan(), [_in((4,))]),
    ("inverse_trig", lambda d, a: a.asin() + a.acos() + a.atan(), [_in((4,), -0.8, 0.8)]),
    ("hyperbolic", lambda d, a: a.sinh() + a.cosh() + a.tanh() + a.asinh(), [_in((4,))]),
    ("acosh_atanh", lambda d, a, b: a.acosh() + b.atanh(), [_in((3,), 1.2, 2), _in((3,), -.8, .8)]),
    ("sigmoid_relu", lambda d, a: a.sigmoid() + a.relu(), [_in((5,))]),
    ("erf", lambda d, a: a.erf() + a.erfc(), [_in((4,))]),
    ("frac_nan_to_num", lambda d, a: (a * 3).frac() + a.nan_to_num(), [_in((4,), 0.1, 0.3)]),
    ("steps", lambda d, a: a.floor() + a.ceil() + a.round() + a.trunc() + a.sign() + a,
     [_in((4,), 0.1, 0.4)]),
    ("clone_contiguous", lambda d, a: a.clone().to(d) * 2 + a.t().contiguous().t(), [_in((2, 3))]),
    # reductions
    ("sum", lambda d, a: a.sum((0, 2)) + a.sum(1, keepdim=True).sum(), [_in((2, 3, 2))]),
    ("mean", lambda d, a: a.mean(1), [_in((2, 3))]),
    ("nansum", lambda d, a: a.nansum(0), [_in((2, 3))]),
    ("prod", lambda d, a: a.prod(1), [_in((2, 3))]),
    ("prod_all", lambda d, a: a.prod(), [_in((4,))]),
    ("amax_amin", lambda d, a: a.amax(0) + a.amin(1).sum(), [_in((3, 4))]),
    ("max_min_dim", lambda d, a: a.max(1).values + a.min(0, keepdim=True).values.sum(),
     [_in((3, 4))]),
    ("max_full", lambda d, a: a.max() + a.min(), [_in((3, 2))]),
    ("median", lambda d, a: a.median(1).values + a.median(), [_in((3, 5))]),
    ("norms", lambda d, a: a.norm() + a.norm(1) + a.norm(3) + a.norm(float("inf")) +
     cltorch.linalg.vector_norm(a, 2, dim=1).sum(), [_in((2, 3))]),
    ("var_std", lambda d, a: a.var(1) + a.std(1, correction=0), [_in((2, 4))]),
    ("logsumexp", lambda d, a: a.logsumexp(1), [_in((2, 4))]),
    ("softmax", lambda d, a: a.softmax(1) * cltorch.arange(4.0, dtype=a.dtype, device=d),
     [_in((2, 4))]),
    ("log_softmax", lambda d, a: a.log_softmax(0), [_in((3, 2))]),
    ("cumsum_cumprod", lambda d, a: a.cumsum(1) + a.cumprod(1), [_in((2, 4))]),
    ("cumprod_zero", lambda d, a: (a * _i(d, [1.0, 0.0, 1.0, 1.0]).to(a.dtype)).cumprod(0),
     [_in((4,))]),
    ("cummax_cummin", lambda d, a: a.cummax(0).values + a.cummin(0).values, [_in((5,))]),
    ("logcumsumexp", lambda d, a: a.logcumsumexp(1), [_in((2, 4))]),
    ("nanmean_aminmax_var_mean", lambda d, a: a.nanmean(1) + cltorch.aminmax(a, dim=1).max +
     cltorch.var_mean(a, 1)[0] + cltorch.std_mean(a, 1)[1], [_in((2, 3))]),
    ("scatter_reduce", lambda d, a, s: a.scatter_reduce(1, _i(d, [[0, 0, 2]] * 2), s, "sum") +
     a.scatter_reduce(1, _i(d, [[1, 1, 0]] * 2), s, "mean", include_self=False),
     [_in((2, 3)), _in((2, 3))]),
    ("scatter_reduce_extremes", lambda d, a, s: a.scatter_reduce(1, _i(d, [[0, 0, 2]] * 2), s,
                                                                  "prod") +
     a.scatter_reduce(1, _i(d, [[1, 1, 0]] * 2), s, "amax", include_self=False) +
     a.scatter_reduce(0, _i(d, [[1, 0, 1]]), s[:1], "amin"), [_in((2, 3), 0.5, 1.5),
                                                              _in((2, 3), 0.5, 1.5)]),
    ("masked_fill_tensor_value", lambda d, a, v: a.masked_fill(a > 0, v[0]), [_in((2, 3)),
                                                                             _in((1,))]),
    # views and rearranging
    ("views", lambda d, a: a.view(6, 2).t().reshape(3, 4).permute(1, 0).unsqueeze(0)
     .expand(2, 4, 3).squeeze(), [_in((2, 3, 2))]),
    ("slicing", lambda d, a: a[1:, ::2].sum() + a.select(1, 0) + a.narrow(0, 0, 2).sum(0)[:3],
     [_in((3, 4))]),
    ("diagonal_unfold", lambda d, a: a.diagonal().sum() + a.unfold(1, 2, 1).sum(-1).sum(),
     [_in((3, 3))]),
    ("flip_roll_rot90", lambda d, a: a.flip(0) + a.roll(1, 1) + a.rot90(2), [_in((2, 2))]),
    ("repeat_tile", lambda d, a: a.repeat(2, 1).sum(0) + a.tile((1, 2)).sum(1).sum(),
     [_in((2, 3))]),
    ("tril_triu_trace", lambda d, a: a.tril() + a.triu(1) + a.trace(), [_in((3, 3))]),
    ("movedim_flatten", lambda d, a: a.movedim(0, 2).flatten(1), [_in((2, 2, 3))]),
    ("split_chunk_unbind", lambda d, a: sum(p.sum() for p in a.split([1, 2], 0)) *
     a.chunk(2, 1)[1].sum() + a.unbind(1)[0].sum(), [_in((3, 4))]),
    ("cat_stack", lambda d, a, b: cltorch.cat([a, b], 1).sum(0) + cltorch.stack([a, b]).sum(),
     [_in((2, 2)), _in((2, 2))]),
    ("hstack_vstack", lambda d, a, b: cltorch.hstack([a, b]).sum() + cltorch.vstack([a, b]),
     [_in((2,)), _in((2,))]),
    # matrix products
    ("mm_matmul", lambda d, a, b: a.mm(b) + (a @ b), [_in((2, 3)), _in((3, 2))]),
    ("matmul_broadcast", lambda d, a, b: a @ b, [_in((2, 2, 3)), _in((3, 2))]),
    ("bmm", lambda d, a, b: cltorch.bmm(a, b), [_in((2, 2, 3)), _in((2, 3, 1))]),
    ("mv_dot_outer", lambda d, m, v: m.mv(v).dot(v) + cltorch.outer(v, v).sum(),
     [_in((3, 3)), _in((3,))]),
    ("addmm_baddbmm", lambda d, c, a, b: cltorch.addmm(c, a, b, beta=0.5, alpha=2),
     [_in((2, 2)), _in((2, 3)), _in((3, 2))]),
    ("einsum_tensordot_kron", lambda d, a, b: cltorch.einsum("ij,jk->ik", a, b).sum() +
     cltorch.tensordot(a, b.t(), 2) + cltorch.kron(a, b.t()).sum(), [_in((2, 2)), _in((2, 2))]),
    ("more_products", lambda d, c, m, v: cltorch.addmv(c, m, v) + cltorch.addr(m, c, v).sum(0) +
     cltorch.vdot(c, v) + cltorch.inner(m, v), [_in((3,)), _in((3, 3)), _in((3,))]),
    ("batched_sums", lambda d, c, a, b: cltorch.baddbmm(c, a, b).sum(0) +
     cltorch.addbmm(c[0], a, b), [_in((2, 2, 2)), _in((2, 2, 3)), _in((2, 3, 2))]),
    ("diag_meshgrid_broadcast", lambda d, v, w: cltorch.diag(v).sum(0) + cltorch.meshgrid(
        v, w, indexing="ij")[0].sum(1) + w.broadcast_to((2, 3)).sum(0) + v.swapaxes(0, 0),
     [_in((3,)), _in((3,))]),
    # indexing reads and writes
    ("index_select_gather_take", lambda d, a: a.index_select(0, _i(d, IDX)).sum(0) +
     a.gather(1, _i(d, [[1, 1], [0, 2], [2, 0]])).sum() + a.take(_i(d, [0, 8, 0])).sum(),
     [_in((3, 3))]),
    ("advanced_getitem", lambda d, a: a[_i(d, IDX)].sum() + a[_i(d, [0, 2]), _i(d, [1, 1])] +
     a[a > 0].sum() + a[:, [2, 0]].sum(), [_in((3, 3))]),
    ("masked", lambda d, a: a.masked_fill(a > 0, 0.0).sum() + a.masked_select(a < 0).sum(),
     [_in((2, 3))]),
    ("scatter", lambda d, a, s: a.scatter(0, _i(d, [[1, 0]]), s) +
     a.scatter_add(1, _i(d, [[0, 0], [1, 1]]), s.expand(2, 2)), [_in((2, 2)), _in((1, 2))]),
    ("index_writes", lambda d, a, s: a.index_add(0, _i(d, [1, 1]), s) +
     a.index_copy(0, _i(d, [0, 2]), s) + a.index_fill(1, _i(d, [0]), 2.0),
     [_in((3, 2)), _in((2, 2))]),
    ("index_put_setitem", lambda d, a, v: _setitem(a, v, d), [_in((3, 2)), _in((2,))]),
    ("masked_scatter", lambda d, a, s: a.masked_scatter(a > 0, s), [_in((2, 3)), _in((6,))]),
    ("repeat_interleave", lambda d, a: a.repeat_interleave(_i(d, [2, 0, 1])), [_in((3,))]),
    ("put", lambda d, a, v: a.clone().put_(_i(d, [0, 3, 0]), v, accumulate=True), [_in((2, 2)),
                                                                               _in((3,))]),
    # sorting
    ("sort_topk", lambda d, a: a.sort(1).values * cltorch.arange(4.0, dtype=a.dtype, device=d) +
     a.topk(2, 1).values.sum(), [_in((2, 4))]),
    ("kthvalue_mode", lambda d, a: a.kthvalue(2, 1).values + a.mode(1).values, [_in((2, 4))]),
    # composites
    ("misc", lambda d, a, b: cltorch.cross(a, b, dim=1).sum() + cltorch.cdist(a, b).sum() +
     cltorch.cosine_similarity(a, b).sum() + a.diff(dim=1).sum(), [_in((2, 3)), _in((2, 3))]),
]
SECOND_ORDER = {"mul", "div", "pow", "exp_family", "log_family", "trig", "hyperbolic",
                "sigmoid_relu", "sum", "prod", "norms", "logsumexp", "softmax", "log_softmax",
                "cumsum_cumprod", "views", "slicing", "cat_stack", "mm_matmul", "matmul_broadcast",
                "index_select_gather_take", "advanced_getitem", "sort_topk", "var_std"}


def _setitem(a, v, device):
    b = a * 1
    b[_i(device, [0, 2])] = v
    c = b.index_put((_i(device, [1, 1]), _i(device, [0, 0])), v[0], accumulate=True)
    return c


def _inputs(device, specs, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [cltorch.tensor(rng.uniform(low, high, shape), dtype=dtype, device=device,
                           requires_grad=True) for shape, low, high in specs]


def _fn(case, device):
    return lambda *xs: case[1](device, *xs)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_gradcheck(device, case):
    needs_fp64(device)
    inputs = _inputs(device, case[2], cltorch.float64)
    assert gradcheck(_fn(case, device), inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in SECOND_ORDER],
                         ids=[c[0] for c in CASES if c[0] in SECOND_ORDER])
def test_gradgradcheck(device, case):
    needs_fp64(device)
    inputs = _inputs(device, case[2], cltorch.float64)
    assert gradgradcheck(_fn(case, device), inputs, eps=1e-6, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_float32_gradients_match_cpu_float64(device, case):
    grads = []
    for dev, dtype in ((device, cltorch.float32), ("cpu", cltorch.float64)):
        xs = _inputs(dev, case[2], dtype)
        out = case[1](dev, *xs)
        weights = cltorch.linspace(-1, 2, out.numel(), dtype=out.dtype, device=dev)
        (out * weights.reshape(out.shape)).sum().backward()
        grads.append([x.grad._host_values().astype(np.float64) for x in xs])
    for got, want in zip(*grads):
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-4)


def test_ties_share_gradients_as_pytorch(device):
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], dtype=np.float32)
    checks = [lambda m, t: t.max(), lambda m, t: t.amax(1), lambda m, t: t.max(1).values,
              lambda m, t: t.median(), lambda m, t: t.reshape(-1).median(0).values,
              lambda m, t: m.maximum(t, t.flip(1)), lambda m, t: t.norm(float("inf")),
              lambda m, t: t.clamp(min=2.0)]
    for check in checks:
        results = []
        for m, make in ((torch, torch.tensor), (cltorch, lambda v, **k: cltorch.tensor(
                v, device=device, **k))):
            t = make(a, requires_grad=True)
            check(m, t).sum().backward()
            results.append(np.asarray(t.grad.cpu().numpy() if m is torch else
                                      t.grad._host_values()))
        np.testing.assert_allclose(results[1], results[0], rtol=1e-6)


def test_scatter_reduce_gradients_match_pytorch(device):
    torch = pytest.importorskip("torch")
    x = np.array([[0.0, 2.0, 3.0, 3.0], [1.0, 5.0, 5.0, 0.0]], dtype=np.float32)  # zeros, ties
    src = np.array([[2.0, 3.0, 0.0], [5.0, 1.0, 1.0]], dtype=np.float32)
    index = np.array([[0, 0, 1], [1, 2, 2]])
    for reduce in ("sum", "mean", "prod", "amax", "amin"):
        for include_self in (True, False):
            results = []
            for m, make in ((torch, torch.tensor), (cltorch, lambda v, **k: cltorch.tensor(
                    v, device=device, **k))):
                a, b = make(x, requires_grad=True), make(src, requires_grad=True)
                out = a.scatter_reduce(1, make(index), b, reduce, include_self=include_self)
                (out * make(np.arange(8.0, dtype=np.float32).reshape(2, 4))).sum().backward()
                results.append([np.asarray(t.grad.cpu().numpy() if m is torch else
                                           t.grad._host_values()) for t in (a, b)])
            for got, want in zip(results[1], results[0]):
                np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"{reduce} "
                                                                         f"{include_self}")


def test_non_differentiable_outputs(device):
    x = cltorch.tensor([3.0, 1.0, 2.0], requires_grad=True, device=device)
    for out in (x.argmax(), x.sort().indices, x > 1, x.eq(2), x.isnan(), x.long(),
                x.nonzero(), x.bincount() if False else x.argsort()):
        assert not out.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        x.argmax().float().sum().backward()
    with pytest.raises(RuntimeError, match="derivative for scatter with reduce='multiply'"):
        x.scatter(0, cltorch.tensor([0], device=device), x[:1] * 1,
                  reduce="multiply").sum().backward()
