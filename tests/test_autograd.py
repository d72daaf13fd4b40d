"""The autograd engine and API on every device: PyTorch's autograd-notes examples, graph
structure, retain/create_graph, grad(), hooks, grad modes, in-place rules, custom Functions,
Variable, anomaly mode and memory; against PyTorch where it is installed."""
import gc
import warnings

import numpy as np
import pytest
from conftest import assert_close

import cltorch
from cltorch.autograd import Function


def test_autograd_notes_examples(device):
    x = cltorch.ones(5, requires_grad=True, device=device)
    y = x * 2
    y.backward(cltorch.FloatTensor([1, 2, 3, 4, 5]).to(device))
    assert x.grad.tolist() == [2.0, 4.0, 6.0, 8.0, 10.0]
    a = cltorch.randn(5, 5, device=device) + cltorch.randn(5, 5, device=device)
    assert a.requires_grad is False
    b = a + cltorch.randn(5, 5, requires_grad=True, device=device)
    assert b.requires_grad is True


def test_graph_structure(device):
    x = cltorch.tensor([1.0, 2.0], requires_grad=True, device=device)
    w = cltorch.tensor([3.0, 4.0], device=device)
    y = (x * w).sum()
    assert x.is_leaf and not y.is_leaf and y.grad_fn.name() == "SumBackward1"
    mul, _ = y.grad_fn.next_functions[0]
    assert mul.name() == "MulBackward0"
    (leaf, nr), (none, _) = mul.next_functions
    assert type(leaf).__name__ == "AccumulateGrad" and leaf.variable is x and none is None
    assert "grad_fn=<SumBackward1>" in repr(y)
    y.backward()
    assert x.grad.tolist() == [3.0, 4.0] and w.grad is None


def test_accumulation_broadcast_and_dtype(device):
    x = cltorch.tensor([[1.0], [2.0]], requires_grad=True, device=device)  # (2, 1)
    y = cltorch.ones(2, 3, device=device)
    for _ in range(2):
        (x * y).sum().backward()
    assert x.grad.shape == (2, 1) and x.grad.tolist() == [[6.0], [6.0]]
    h = cltorch.tensor([1.0, 2.0], dtype=cltorch.float16, requires_grad=True, device=device)
    (h.float() * 3).sum().backward()
    assert h.grad.dtype is cltorch.float16 and h.grad.tolist() == [3.0, 3.0]


def test_errors(device):
    x = cltorch.ones(3, requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad and does not have a grad_fn"):
        cltorch.ones(3, device=device).sum().backward()
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()
    z = (x * x).sum()
    z.backward(retain_graph=True)
    z.backward()
    assert x.grad.tolist() == [6.0, 6.0, 6.0]
    with pytest.raises(RuntimeError, match="only Tensors of floating point"):
        cltorch.ones(2, dtype=cltorch.int64, device=device).requires_grad_()
    with pytest.raises(RuntimeError, match="you can only change requires_grad flags of leaf"):
        (x * 2).requires_grad = False
    with pytest.raises(RuntimeError, match="out=... arguments don't support automatic"):
        cltorch.add(x, 1, out=cltorch.empty(3, device=device))


def test_create_graph_and_grad(device):
    x = cltorch.tensor([1.0, 2.0, 3.0], requires_grad=True, device=device)
    y = (x ** 3).sum()
    (g,) = cltorch.autograd.grad(y, x, create_graph=True)
    assert g.requires_grad and g.tolist() == [3.0, 12.0, 27.0]
    v = cltorch.tensor([1.0, 0.0, 2.0], device=device)
    (hv,) = cltorch.autograd.grad(g, x, grad_outputs=v)  # Hessian-vector product: 6 x v
    assert hv.tolist() == [6.0, 0.0, 36.0]
    assert x.grad is None  # grad() accumulates nothing
    u = cltorch.ones(1, requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        cltorch.autograd.grad((x * 2).sum(), [x, u])
    gx, gu = cltorch.autograd.grad((x * 2).sum(), [x, u], allow_unused=True)
    assert gx.tolist() == [2.0] * 3 and gu is None
    # backward(inputs=...) fills only the listed leaves
    w = cltorch.tensor([2.0], requires_grad=True, device=device)
    (x * w).sum().backward(inputs=[w])
    assert w.grad.tolist() == [6.0] and x.grad is None
    # third derivative through three levels of create_graph
    t = cltorch.tensor([2.0], requires_grad=True, device=device)
    d1, = cltorch.autograd.grad(t ** 4, t, create_graph=True)
    d2, = cltorch.autograd.grad(d1, t, create_graph=True)
    d3, = cltorch.autograd.grad(d2, t)
    assert d3.tolist() == [48.0]


def test_long_graphs(device):
    x = cltorch.ones(3, requires_grad=True, device=device)
    y = x
    for _ in range(3000):  # deeper than Python's recursion limit
        y = y * 1.0001
    (g,) = cltorch.autograd.grad(y.sum(), x, retain_graph=True)
    y.sum().backward()
    assert_close(g, np.full(3, 1.0001 ** 3000), rtol=1e-4)
    assert_close(x.grad, g)


def test_hooks_and_retain_grad(device):
    x = cltorch.tensor([1.0, 2.0], requires_grad=True, device=device)
    y = x * 3
    y.retain_grad()
    seen = []
    handle = y.register_hook(lambda g: seen.append(g.tolist()) or g * 10)
    x.register_hook(lambda g: g + 1)
    y.sum().backward()
    assert seen == [[1.0, 1.0]] and y.grad.tolist() == [10.0, 10.0]
    assert x.grad.tolist() == [31.0, 31.0]
    handle.remove()
    x.grad = None
    z = x * 3
    z.register_hook(lambda g: g * 0)
    node_calls = []
    z.grad_fn.register_hook(lambda grad_in, grad_out: node_calls.append(len(grad_in)))
    z.grad_fn.register_prehook(lambda grad_out: (grad_out[0] + 1,))
    z.sum().backward()
    assert x.grad.tolist() == [4.0, 4.0] and node_calls == [2]  # hook zeroed, prehook added 1
    with pytest.raises(RuntimeError, match="cannot register a hook on a tensor that doesn't"):
        cltorch.ones(1, device=device).register_hook(lambda g: g)


def test_grad_modes(device):
    x = cltorch.ones(2, requires_grad=True, device=device)
    with cltorch.no_grad():
        assert not (x * 2).requires_grad and not cltorch.is_grad_enabled()
        with cltorch.enable_grad():
            assert (x * 2).requires_grad
    assert cltorch.is_grad_enabled()

    @cltorch.no_grad()
    def doubled(t):
        return t * 2

    @cltorch.no_grad
    def tripled(t):
        return t * 3
    assert not doubled(x).requires_grad and not tripled(x).requires_grad
    cltorch.set_grad_enabled(False)
    assert not (x * 2).requires_grad
    cltorch.set_grad_enabled(True)
    with cltorch.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert cltorch.is_grad_enabled()
    with cltorch.inference_mode():
        assert not (x * 2).requires_grad
    with cltorch.inference_mode(False):
        assert (x * 2).requires_grad
    d = x.detach()
    assert not d.requires_grad and d._storage is x._storage
    assert not x.data.requires_grad


def test_in_place_rules(device):
    leaf = cltorch.ones(3, requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in"):
        leaf.add_(1)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        leaf[:2].mul_(2)
    with cltorch.no_grad():
        leaf.add_(1)  # allowed: optimisers update parameters this way
    assert leaf.tolist() == [2.0] * 3 and leaf._version > 0
    e = leaf.exp()
    e.add_(1)  # exp saved its output; the change must be caught
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        e.sum().backward()
    a = cltorch.tensor([1.0, 2.0, 3.0], requires_grad=True, device=device)
    b = a * 2
    b.mul_(b)  # b = (2a)^2: the old value is kept for the derivative
    b.sum().backward()
    assert a.grad.tolist() == [8.0, 16.0, 24.0]


def test_in_place_on_views(device):
    a = cltorch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True, device=device)
    b = a * 1
    b[1:3] = 0
    b.sum().backward()
    assert a.grad.tolist() == [1.0, 0.0, 0.0, 1.0]
    a.grad = None
    b = a.clone()
    b[::2].mul_(5)
    (b * cltorch.arange(4.0, device=device)).sum().backward()
    assert a.grad.tolist() == [0.0, 1.0, 10.0, 3.0]
    # writing a tensor that requires grad into a plain one makes it part of the graph
    src = cltorch.tensor([7.0, 8.0], requires_grad=True, device=device)
    dst = cltorch.zeros(2, 2, device=device)
    dst[1] = src
    assert dst.requires_grad and dst.grad_fn.name() == "CopySlices"
    (dst * 3).sum().backward()
    assert src.grad.tolist() == [3.0, 3.0]
    # advanced-index writes
    m = cltorch.tensor([1.0, 2.0, 3.0], requires_grad=True, device=device)
    n = m * 1
    n[cltorch.tensor([0, 2], device=device)] = cltorch.tensor([5.0, 6.0], device=device)
    (n * n).sum().backward()
    assert m.grad.tolist() == [0.0, 4.0, 0.0]


class _Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y


class _Linear(Function):
    @staticmethod
    def forward(ctx, x, w, b=None):
        ctx.save_for_backward(x, w, b)
        out = x.mm(w.t())
        return out + b if b is not None else out

    @staticmethod
    def backward(ctx, grad):
        x, w, b = ctx.saved_tensors
        gx = grad.mm(w) if ctx.needs_input_grad[0] else None
        gw = grad.t().mm(x) if ctx.needs_input_grad[1] else None
        gb = grad.sum(0) if b is not None and ctx.needs_input_grad[2] else None
        return gx, gw, gb


class _SortWithIndex(Function):
    @staticmethod
    def forward(ctx, x):
        values, index = x.sort()
        ctx.mark_non_differentiable(index)
        ctx.save_for_backward(index)
        ctx.set_materialize_grads(False)
        return values, index

    @staticmethod
    def backward(ctx, grad_values, grad_index):
        (index,) = ctx.saved_tensors
        assert grad_index is None
        return grad_values.new_zeros(grad_values.shape).scatter(0, index, grad_values)


class _AddOneInPlace(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.mark_dirty(x)
        return x.add_(1)

    @staticmethod
    def backward(ctx, grad):
        return grad


def test_custom_functions(device):
    x = cltorch.tensor([0.0, 1.0], requires_grad=True, device=device)
    y = _Exp.apply(x)
    assert y.grad_fn.name() == "_ExpBackward"
    (y * 2).sum().backward()  # composes with built-in ops
    assert_close(x.grad, 2 * np.exp([0.0, 1.0]))
    inp = cltorch.randn(4, 3, dtype=cltorch.float64, requires_grad=True, device=device) \
        if cltorch.backend.registry.get(device).supports_fp64 else None
    if inp is not None:
        w = cltorch.randn(2, 3, dtype=cltorch.float64, requires_grad=True, device=device)
        b = cltorch.randn(2, dtype=cltorch.float64, requires_grad=True, device=device)
        assert cltorch.autograd.gradcheck(_Linear.apply, (inp, w, b))
    s = cltorch.tensor([3.0, 1.0, 2.0], requires_grad=True, device=device)
    values, index = _SortWithIndex.apply(s)
    assert not index.requires_grad and values.requires_grad
    (values * cltorch.tensor([1.0, 2.0, 3.0], device=device)).sum().backward()
    assert s.grad.tolist() == [3.0, 1.0, 2.0]
    base = cltorch.tensor([1.0, 2.0], requires_grad=True, device=device)
    t = base * 1
    out = _AddOneInPlace.apply(t)
    assert out is t and t.tolist() == [2.0, 3.0] and t.grad_fn.name() == "_AddOneInPlaceBackward"
    (t * 2).sum().backward()
    assert base.grad.tolist() == [2.0, 2.0]
    y = _Exp.apply(cltorch.tensor([1.0], requires_grad=True, device=device))
    y.mul_(2)  # the saved output changed
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_variable_and_anomaly_mode(device):
    t = cltorch.ones(2, device=device)
    v = cltorch.autograd.Variable(t, requires_grad=True)
    assert isinstance(v, cltorch.Tensor) and v.requires_grad and isinstance(
        v, cltorch.autograd.Variable)
    with pytest.warns(UserWarning, match="volatile was removed"):
        assert not cltorch.autograd.Variable(t, volatile=True).requires_grad

    class _Nan(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            return grad * float("nan")

    x = cltorch.ones(2, requires_grad=True, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with cltorch.autograd.detect_anomaly():
            y = _Nan.apply(x).sum()
            with pytest.raises(RuntimeError, match="Function '_NanBackward' returned nan"):
                y.backward()


def test_training_loop_does_not_grow_memory(device):
    w = cltorch.randn(32, 16, requires_grad=True, device=device)
    x = cltorch.randn(8, 32, device=device)
    target = cltorch.randn(8, 16, device=device)

    def step():
        loss = ((x @ w).tanh() - target).pow(2).mean() + w.norm()
        loss.backward()
        with cltorch.no_grad():
            w.sub_(0.01 * w.grad)
        w.grad = None

    for _ in range(5):
        step()
    gc.collect()
    before = cltorch.memory_allocated(device)
    for _ in range(1000):
        step()
    assert cltorch.memory_allocated(device) == before  # no cycle keeps a graph alive


def test_backward_frees_saved_tensors(device):
    x = cltorch.randn(10, requires_grad=True, device=device)
    h = x.expand(1000, 10).exp()  # 40 kB kept alive only by the graph once h is gone
    loss = (h * h).sum()
    del h
    gc.collect()
    before = cltorch.memory_allocated(device)
    loss.backward()
    gc.collect()
    assert cltorch.memory_allocated(device) <= before - 40_000 + x.numel() * 4
    y = cltorch.ones(2, device=device)
    y.data = cltorch.zeros(3, device=device)  # .data assignment swaps the contents
    assert y.tolist() == [0.0, 0.0, 0.0]


def test_matches_torch(device):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((4, 2)).astype(np.float32)

    def run(m, x, w):
        h = (x @ w).tanh()
        y = m.cat([h, h.softmax(1)], 1)
        return (y.cumsum(1) * y).logsumexp(1).sum() + x.abs().max() + w.norm()

    results = []
    for m, make in ((torch, torch.tensor), (cltorch, lambda v, **k: cltorch.tensor(
            v, device=device, **k))):
        x, w = make(a, requires_grad=True), make(b, requires_grad=True)
        run(m, x, w).backward()
        results.append((x.grad.detach().cpu().numpy(), w.grad.detach().cpu().numpy()))
    for got, want in zip(results[1], results[0]):
        assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_functional_api(device):
    F = cltorch.autograd.functional
    x = cltorch.tensor([1.0, 2.0], device=device)
    out, vjp = F.vjp(lambda t: t ** 2, x, cltorch.tensor([1.0, 3.0], device=device))
    assert out.tolist() == [1.0, 4.0] and vjp.tolist() == [2.0, 12.0]
    out, jvp = F.jvp(lambda t: t ** 2, x, cltorch.tensor([1.0, 1.0], device=device))
    assert jvp.tolist() == [2.0, 4.0] and not jvp.requires_grad
    jac = F.jacobian(lambda a, b: a * b.sum(), (x, cltorch.tensor([3.0], device=device)))
    assert jac[0].tolist() == [[3.0, 0.0], [0.0, 3.0]] and jac[1].tolist() == [[1.0], [2.0]]
    assert F.jacobian(lambda t: t.exp(), x).shape == (2, 2)
    hess = F.hessian(lambda t: (t ** 3).sum() + t.prod(), x)
    assert hess.tolist() == [[6.0, 1.0], [1.0, 12.0]]
    _, hv = F.hvp(lambda t: (t ** 3).sum(), x, cltorch.tensor([1.0, 0.0], device=device))
    _, vh = F.vhp(lambda t: (t ** 3).sum(), x, cltorch.tensor([1.0, 0.0], device=device))
    assert hv.tolist() == vh.tolist() == [6.0, 0.0]
    with pytest.raises(RuntimeError, match="independent of an input"):
        F.jacobian(lambda a, b: a * 2, (x, x), strict=True)
    y = cltorch.tensor([1.0, 2.0], requires_grad=True, device=device)
    cltorch.autograd.backward([(y * y).sum(), y.sum()], [None, None])
    assert y.grad.tolist() == [3.0, 5.0]


def test_random_fills_follow_in_place_rules(device):
    w = cltorch.empty(3, requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        w.uniform_()
    with cltorch.no_grad():
        w.normal_()  # how nn.init initialises parameters
    v = w * 2
    v.uniform_()  # a constant now: no gradient reaches w through it
    (v + w).sum().backward()
    assert w.grad.tolist() == [1.0, 1.0, 1.0]


def test_gradients_summed_in_place_in_the_engine_stay_correct_where_shared(device):
    """The engine adds into a sum it owns while the sum sits in a node's buffer; once handed
    to a node (which may pass it on to several inputs) it is never written again."""
    torch = pytest.importorskip("torch")
    values = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]

    def run(lib, kw):
        x = lib.tensor(values, requires_grad=True, **kw)
        u, v = x * 2, x * 3
        w = u * 5              # uses of u made before z: their gradients reach u after z's
        b = (u + u + u) * v    # (and a buffer summing three gradients)
        z = u + v              # z's node gets a sum and hands that one tensor to u and v
        (z.sum() + (z * 2).sum() + w.sum() + (b + b).sum()).backward()
        return x.grad

    got = run(cltorch, {"device": device})
    want = run(torch, {})
    assert_close(got, want.numpy(), rtol=1e-5, atol=1e-5)


def test_linear_weight_gradient_is_laid_out_as_the_weight(device):
    """PyTorch's gradient layout contract: the weight of ``linear`` (used as ``w.t()``) gets a
    contiguous gradient, not a transposed view."""
    lin = cltorch.nn.Linear(5, 3).to(device)
    lin(cltorch.ones(4, 2, 5, device=device)).sum().backward()
    assert lin.weight.grad.is_contiguous()
    lin(cltorch.ones(4, 2, 5, device=device)).sum().backward()
    assert lin.weight.grad.is_contiguous()
    assert_close(lin.weight.grad, np.full((3, 5), 16.0), rtol=1e-6, atol=1e-6)


def test_post_accumulate_grad_hooks_and_end_of_backward_callbacks(device):
    from cltorch.autograd import engine
    w = cltorch.ones(3, device=device, requires_grad=True)
    seen = []

    def hook(tensor):
        seen.append(("hook", tensor.grad.tolist()))
        cltorch.autograd.Variable._execution_engine.queue_callback(  # PyTorch's spelling
            lambda: seen.append(("end", w.grad.tolist())))
    handle = w.register_post_accumulate_grad_hook(hook)
    (w * 2).sum().backward()
    (w * 3).sum().backward()  # the hook sees the accumulated gradient
    assert seen == [("hook", [2.0] * 3), ("end", [2.0] * 3), ("hook", [5.0] * 3),
                    ("end", [5.0] * 3)]
    handle.remove()
    (w * 2).sum().backward()
    assert len(seen) == 4 and w.grad.tolist() == [7.0] * 3
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w * 2).register_post_accumulate_grad_hook(hook)
    with pytest.raises(RuntimeError, match="only be installed during backward"):
        engine.queue_callback(lambda: None)
