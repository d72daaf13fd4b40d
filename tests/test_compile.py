"""cltorch.compile: compiled regions give eager's results on every device (the cpu runs them
eagerly), training steps stay equal step for step, guards capture again, fallbacks explain."""
import warnings

import numpy as np
import pytest

import cltorch
from cltorch import nn
from cltorch.backend.capture import CaptureStopped, Launch
from cltorch.compiler import InvalidBackend, Unsupported

from conftest import assert_close, count_launches


def _graph(compiled):
    """The one captured graph of a compiled function (None where it runs eagerly)."""
    region = getattr(compiled, "_region", compiled)
    (entry,) = region.entries.values()
    return entry.graph


def _chain(x, y):
    a = x * 2.0
    b = a + y
    c = cltorch.relu(b)
    d = c * c - x
    e = cltorch.exp(d * -0.1)
    return e / (y.abs() + 1.0)


def _np_chain(x, y):
    d = np.maximum(x * 2 + y, 0) ** 2 - x
    return np.exp(d * -0.1) / (np.abs(y) + 1)


def test_pointwise_chain_matches_and_fuses(device):
    compiled = cltorch.compile(_chain)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x, y = rng.standard_normal((2, 33, 17)).astype(np.float32)
        got = compiled(cltorch.tensor(x, device=device), cltorch.tensor(y, device=device))
        assert_close(got, _np_chain(x, y), rtol=1e-5, atol=1e-6)
    graph = _graph(compiled)
    if device == "cpu":
        assert graph is None  # the NumPy backend runs regions eagerly
    else:
        assert graph.launches == 1  # nine pointwise launches, one kernel


def test_fusion_keeps_what_leaves_the_region(device):
    """An intermediate that is returned, or written in place, is stored."""
    def f(x):
        a = x + 1
        b = a * 3
        b.add_(a)
        return a, b.sin()

    compiled = cltorch.compile(f)
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal(50).astype(np.float32)
        a, s = compiled(cltorch.tensor(x, device=device))
        assert_close(a, x + 1, rtol=1e-6)
        assert_close(s, np.sin((x + 1) * 4), rtol=1e-5, atol=1e-6)


def test_outputs_are_fresh_tensors(device):
    compiled = cltorch.compile(lambda x: x * 2)
    x = cltorch.arange(4.0, device=device)
    outs = [compiled(x + k) for k in range(4)]
    for k, out in enumerate(outs):
        assert out.tolist() == [2.0 * (i + k) for i in range(4)]


def _mlp():
    return nn.Sequential(nn.Linear(12, 16), nn.GELU(), nn.Dropout(0.2), nn.Linear(16, 5))


def _cnn():
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 5))


class _GPTBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(12), nn.LayerNorm(12)
        self.attn = nn.MultiheadAttention(12, 2, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(12, 24), nn.GELU(), nn.Linear(24, 12))
        self.head = nn.Linear(12, 5)

    def forward(self, x):
        h = self.ln1(x)
        mask = cltorch.triu(cltorch.ones(x.shape[1], x.shape[1], dtype=cltorch.bool,
                                         device=x.device), 1)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        x = x + self.mlp(self.ln2(x))
        return self.head(x[:, -1])


class _LSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(12, 8, batch_first=True)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


ZOO = {"mlp": (_mlp, (6, 12)), "cnn_bn": (_cnn, (6, 2, 6, 6)), "gpt_block": (_GPTBlock, (6, 4, 12)),
       "lstm": (_LSTM, (6, 4, 12))}
OPTIMIZERS = {"sgd": lambda p: cltorch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3),
              "adamw": lambda p: cltorch.optim.AdamW(p, lr=1e-2)}


def _train(device, model_name, optimizer_name, compiled, steps=20):
    make, shape = ZOO[model_name]
    cltorch.manual_seed(0)
    model = make().to(device)
    optimizer = OPTIMIZERS[optimizer_name](model.parameters())

    def step(x, y):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    run = cltorch.compile(step) if compiled else step
    rng = np.random.default_rng(1)
    cltorch.manual_seed(2)  # dropout's numbers: the same in both runs
    losses = []
    for _ in range(steps):
        x = cltorch.tensor(rng.standard_normal(shape).astype(np.float32), device=device)
        y = cltorch.tensor(rng.integers(0, 5, shape[0]), device=device)
        losses.append(run(x, y))
    state = {k: v.cpu().numpy() for k, v in model.state_dict().items()}
    return [float(v) for v in losses], state, run


@pytest.mark.parametrize("optimizer_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("model_name", sorted(ZOO))
def test_training_step_matches_eager(device, model_name, optimizer_name):
    eager_losses, eager_state, _ = _train(device, model_name, optimizer_name, False)
    losses, state, run = _train(device, model_name, optimizer_name, True)
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-5, atol=1e-6)
    for name, value in eager_state.items():
        np.testing.assert_allclose(state[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    graph = _graph(run)
    assert (graph is None) == (device == "cpu")


def test_guards_capture_per_shape_and_mode(device):
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5)).to(device)
    compiled = cltorch.compile(model)
    with cltorch.no_grad():
        for rows in (2, 2, 2, 5, 5, 5):
            x = cltorch.randn(rows, 3, device=device)
            model.eval()
            assert_close(compiled(x), model(x).cpu().numpy())
            model.train()
            assert compiled(x).shape == (rows, 4)
    assert len(compiled._region.entries) == 4  # two shapes, train and eval


def test_replaced_parameter_captures_again(device):
    model = nn.Linear(3, 2).to(device)
    compiled = cltorch.compile(model)
    x = cltorch.randn(4, 3, device=device)
    with cltorch.no_grad():
        for _ in range(3):
            compiled(x)
        model.weight = nn.Parameter(cltorch.ones(2, 3, device=device))
        assert_close(compiled(x), (x.cpu().numpy() @ np.ones((3, 2), np.float32) +
                                   model.bias.detach().cpu().numpy()), rtol=1e-5, atol=1e-6)


def _branchy(x):
    if x.sum().item() > 0:  # data-dependent Python control flow
        return x * 2
    return x - 1


def test_item_in_the_middle_runs_eagerly_with_one_explanation(device):
    compiled = cltorch.compile(_branchy)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for sign in (1, 1, 1, -1, 1):
            x = cltorch.full((3,), float(sign), device=device)
            assert_close(compiled(x), _branchy(x).cpu().numpy())
    notes = [str(w.message) for w in seen if "cltorch.compile" in str(w.message)]
    if device == "cpu":
        assert notes == []
    else:
        assert len(notes) == 1 and "read back to the host" in notes[0]
        strict = cltorch.compile(_branchy, fullgraph=True)
        with pytest.raises(Unsupported, match="read back to the host"):
            strict(cltorch.ones(3, device=device))
        assert issubclass(Unsupported, RuntimeError) and Unsupported is CaptureStopped


def test_explanations_on_stderr(device, monkeypatch, capsys):
    monkeypatch.setenv("CLTORCH_LOGS", "graph_breaks,recompiles,graphs")
    compiled = cltorch.compile(_branchy)
    for rows in (3, 3, 4, 4):
        compiled(cltorch.ones(rows, device=device))
    err = capsys.readouterr().err
    if device != "cpu":
        assert err.count("[graph_breaks]") == 2 and "read back" in err
    plain = cltorch.compile(lambda x: x + 1)
    for rows in (3, 3, 3):
        plain(cltorch.ones(rows, device=device))
    err = capsys.readouterr().err
    assert ("[graphs]" in err) == (device != "cpu")


def test_random_numbers_move_on_as_in_eager(device):
    def f(x):
        return nn.functional.dropout(x, 0.5) + cltorch.rand(x.shape, device=x.device)

    compiled = cltorch.compile(f)
    x = cltorch.ones(64, device=device)
    cltorch.manual_seed(3)
    eager = [f(x).cpu().numpy() for _ in range(4)]
    cltorch.manual_seed(3)
    got = [compiled(x).cpu().numpy() for _ in range(4)]
    for a, b in zip(got, eager):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(got[2], got[3])


@pytest.mark.parametrize("transposed", [False, True])
def test_inputs_written_in_place(device, transposed):
    def f(x):
        x.mul_(2)
        return x + 1

    compiled = cltorch.compile(f)
    for k in range(4):
        base = cltorch.arange(6.0, device=device).reshape(2, 3) + k
        x = base.t() if transposed else base
        want = x.cpu().numpy() * 2
        out = compiled(x)
        assert_close(x, want)
        assert_close(out, want + 1)


def test_cpu_inputs_moved_inside(device):
    def f(x):
        return (x.to(device) * 3).sum(0)

    compiled = cltorch.compile(f)
    for k in range(4):
        x = cltorch.arange(8.0).reshape(2, 4) * (k + 1)
        assert_close(compiled(x), x.numpy().sum(0) * 3)
    assert (_graph(compiled) is None) == (device == "cpu")


def test_compile_arguments():
    def f(x):
        return x + 1

    with pytest.raises(RuntimeError, match="Unrecognized mode=fast"):
        cltorch.compile(f, mode="fast")
    with pytest.raises(RuntimeError, match="Either mode or options"):
        cltorch.compile(f, mode="max-autotune", options={})
    with pytest.raises(InvalidBackend, match="Invalid backend: 'nope'"):
        cltorch.compile(f, backend="nope")
    assert cltorch.compile(f, disable=True) is f
    assert cltorch.compile(f, backend="eager")(1) == 2
    decorated = cltorch.compile(mode="reduce-overhead")(f)
    assert decorated(cltorch.ones(2)).tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match="expected a callable"):
        cltorch.compile(3)
    assert not cltorch.compiler.is_compiling()


def test_optimized_module_is_the_module(device):
    model = nn.Linear(3, 2).to(device)
    compiled = cltorch.compile(model)
    assert compiled._orig_mod is model and compiled.weight is model.weight
    assert list(compiled.state_dict()) == ["_orig_mod.weight", "_orig_mod.bias"]
    model.compile()
    x = cltorch.randn(2, 3, device=device)
    with cltorch.no_grad():
        assert_close(model(x), compiled(x).cpu().numpy())


@pytest.mark.parametrize("pattern", ["none_outside", "zero_inside", "zeros_inside",
                                     "accumulate"])
def test_gradient_patterns(device, pattern):
    """Where .grad is set to None, zeroed in place or accumulated, inside or outside."""
    def run(compiled):
        cltorch.manual_seed(0)
        model = nn.Linear(4, 3).to(device)
        opt = cltorch.optim.SGD(model.parameters(), lr=0.1)

        def step(x):
            if pattern == "zero_inside":
                opt.zero_grad()
            elif pattern == "zeros_inside":
                opt.zero_grad(set_to_none=False)
            model(x).pow(2).mean().backward()
            if pattern != "accumulate":
                opt.step()

        fn = cltorch.compile(step) if compiled else step
        for k in range(7):
            if pattern == "none_outside" or (pattern == "accumulate" and k % 3 == 0):
                opt.zero_grad()
            fn(cltorch.full((2, 4), 0.1 * k, device=device))
        return [p.grad.cpu().numpy() for p in model.parameters()] + \
            [p.detach().cpu().numpy() for p in model.parameters()]

    for got, want in zip(run(True), run(False)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("forwards", [1, 2])
def test_backward_outside_the_region(device, forwards):
    """A compiled module in an eager training loop: its backward is captured with its forward
    and replayed when the loss's backward reaches it; two forwards before one backward (the
    second runs eagerly: the first's intermediates are still needed)."""
    def train(compiled):
        cltorch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Dropout(0.3),
                              nn.Linear(8, 1)).to(device)
        run = cltorch.compile(model) if compiled else model
        opt = cltorch.optim.SGD(model.parameters(), lr=0.1)
        cltorch.manual_seed(1)
        for k in range(6):
            opt.zero_grad()
            x = cltorch.full((3, 4), 0.2 * k, device=device)
            loss = sum(run(x * (j + 1)).square().mean() for j in range(forwards))
            loss.backward()
            opt.step()
        return [p.detach().cpu().numpy() for p in model.parameters()], run

    got, run = train(True)
    for a, b in zip(got, train(False)[0]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert (_graph(run) is None) == (device == "cpu")


def test_backward_after_a_later_call_raises(device):
    if device == "cpu":
        pytest.skip("the cpu backend runs compiled regions eagerly")
    model = nn.Linear(3, 1).to(device)
    compiled = cltorch.compile(model)
    x = cltorch.ones(2, 3, device=device)
    for _ in range(3):
        compiled(x).sum().backward()
    first = compiled(x).sum()
    first.backward(retain_graph=True)
    compiled(x).sum().backward()
    with pytest.raises(RuntimeError, match="overwritten"):
        first.backward()


def test_scheduler_inside_the_step(device):
    def run(compiled):
        model = nn.Linear(2, 1).to(device)
        with cltorch.no_grad():
            model.weight.fill_(1.0)
            model.bias.fill_(0.0)
        opt = cltorch.optim.SGD(model.parameters(), lr=1.0)
        sched = cltorch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

        def step(x):
            opt.zero_grad()
            model(x).sum().backward()
            opt.step()
            sched.step()

        fn = cltorch.compile(step) if compiled else step
        for _ in range(6):
            fn(cltorch.ones(1, 2, device=device))
        return model.weight.detach().cpu().numpy(), opt.param_groups[0]["lr"]

    (w, lr), (w_eager, lr_eager) = run(True), run(False)
    np.testing.assert_allclose(w, w_eager)
    assert lr == lr_eager == 0.125


def test_python_hooks_run_eagerly(device):
    """A forward hook or a gradient hook is Python a replay would not run: eager instead."""
    model = nn.Linear(3, 2).to(device)
    seen = []
    model.register_forward_hook(lambda m, args, out: seen.append(out.shape))
    compiled = cltorch.compile(model)
    weight_grads = []
    model.weight.register_hook(lambda g: weight_grads.append(1))

    def step(x):
        compiled(x).sum().backward()

    stepped = cltorch.compile(step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(4):
            stepped(cltorch.ones(2, 3, device=device))
    assert len(seen) == 4 and len(weight_grads) == 4


def test_outputs_that_view_inputs(device):
    def f(x):
        return x[1], x.t(), x * 2

    compiled = cltorch.compile(f)
    for k in range(4):
        x = cltorch.arange(6.0, device=device).reshape(2, 3) + k
        row, t, doubled = compiled(x)
        assert_close(row, x.cpu().numpy()[1])
        assert_close(t, x.cpu().numpy().T)
        assert_close(doubled, x.cpu().numpy() * 2)


def test_gradient_clipping_inside_the_step(device):
    def run(compiled):
        cltorch.manual_seed(0)
        model = nn.Linear(4, 2).to(device)
        opt = cltorch.optim.SGD(model.parameters(), lr=0.5)

        def step(x):
            opt.zero_grad()
            (model(x) ** 2).sum().backward()
            nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            opt.step()

        fn = cltorch.compile(step) if compiled else step
        for k in range(5):
            fn(cltorch.full((3, 4), 1.0 + k, device=device))
        return [p.detach().cpu().numpy() for p in model.parameters()], fn

    (got, fn), (want, _) = run(True), run(False)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert (_graph(fn) is None) == (device == "cpu")


def test_fusion_after_a_write_in_place(device):
    """A bias added in place to a product, then an activation: the add joins the activation's
    chain, and the chain becomes the product's epilogue (one launch: the GEMM's)."""
    def f(x, w, b):
        y = x @ w
        y.add_(b)
        return y.relu() * 2

    compiled = cltorch.compile(f)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((5, 4), (4, 3), (3,)))
        got = compiled(*(cltorch.tensor(a, device=device) for a in (x, w, b)))
        assert_close(got, np.maximum(x @ w + b, 0) * 2, rtol=1e-5, atol=1e-6)
    if device != "cpu":
        assert _graph(compiled).launches == 1


def _linear(x, w, b):
    return x @ w.T + b


_LIN = ((6, 20), (12, 20), (12,))  # x, a linear layer's weight and bias
_SQUARE = ((7, 7), (7, 7), (7,))
_BIG = ((64, 128), (128, 128), (128,))  # PoCL packs its operands: three GEMM launches


def _written_operand(x, w, b):
    y = x @ w
    x.copy_(y.relu())  # the chain writes the GEMM's operand: it may not run inside it
    return x + 0


def _transposed_in_place(x, w, b):
    y = x @ w
    y.t().copy_(y.relu())  # the chain writes the product's buffer, transposed
    return y


# (name, region, NumPy's, shapes, launches that compiling saves: pointwise chains merged,
# and chains that became a GEMM's epilogue; None: it depends on the GEMM's variant)
EPILOGUES = [
    ("linear relu", lambda x, w, b: nn.functional.relu(nn.functional.linear(x, w, b)),
     lambda x, w, b: np.maximum(_linear(x, w, b), 0), _LIN, 2),
    ("residual add", lambda x, w, b: x + nn.functional.linear(x, w, b),
     lambda x, w, b: x + _linear(x, w, b), ((5, 12), (12, 12), (12,)), 2),
    ("scaled product", lambda x, w, b: (x @ w) * 0.5 - b,
     lambda x, w, b: (x @ w) * 0.5 - b, _SQUARE, 2),
    ("batched sigmoid", lambda x, w, b: cltorch.bmm(x, w).sigmoid(),
     lambda x, w, b: 1 / (1 + np.exp(-(x @ w))), ((3, 5, 6), (3, 6, 4), (1,)), 1),
    ("batched bias", lambda x, w, b: cltorch.bmm(x, w) + b[0, 0, :4],
     lambda x, w, b: x @ w + b[0, 0, :4], ((3, 5, 6), (3, 6, 4), (3, 5, 6)), 1),
    # a strided residual whose layout merges the batch and rows in one dim
    ("batched residual", lambda x, w, b: cltorch.bmm(x, w) + b[..., 1:5],
     lambda x, w, b: x @ w + b[..., 1:5], ((3, 5, 6), (3, 6, 4), (3, 5, 6)), 1),
    ("packed operands", lambda x, w, b: nn.functional.relu(nn.functional.linear(x, w, b)),
     lambda x, w, b: np.maximum(_linear(x, w, b), 0), _BIG, 2),
    ("product read twice", lambda x, w, b: (lambda y: y.relu() + y.sigmoid())(x @ w),
     lambda x, w, b: (lambda y: np.maximum(y, 0) + 1 / (1 + np.exp(-y)))(x @ w), _SQUARE, 3),
    ("product returned", lambda x, w, b: (lambda y: (y, y.relu()))(x @ w),
     lambda x, w, b: (lambda y: (y, np.maximum(y, 0)))(x @ w), _SQUARE, 0),
    ("bias then returned", lambda x, w, b: (lambda y: (y, y.relu()))(
        nn.functional.linear(x, w, b)),
     lambda x, w, b: (lambda y: (y, np.maximum(y, 0)))(_linear(x, w, b)), _LIN, 1),
    ("transposed in place", _transposed_in_place,
     lambda x, w, b: np.maximum(x @ w, 0).T, _SQUARE, None),
    ("chain writes an operand", _written_operand,
     lambda x, w, b: np.maximum(x @ w, 0), _SQUARE, 1),
]


@pytest.mark.parametrize("name,fn,reference,shapes,saved", EPILOGUES,
                         ids=[e[0] for e in EPILOGUES])
def test_gemm_epilogue(device, name, fn, reference, shapes, saved):
    """A pointwise chain that alone reads a product runs inside the GEMM (a bias, an
    activation, a residual add, a scale); a product read again, or a chain writing the GEMM's
    own operand, stays apart. Results equal NumPy's on every call."""
    compiled = cltorch.compile(fn)
    rng = np.random.default_rng(1)
    for _ in range(3):
        arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        got = compiled(*(cltorch.tensor(a, device=device) for a in arrays))
        want = reference(*arrays)
        for g, w in zip(got if isinstance(got, tuple) else (got,),
                        want if isinstance(want, tuple) else (want,)):
            assert_close(g, w, rtol=1e-4, atol=1e-5)
    if device != "cpu" and saved is not None:
        eager = count_launches(device, fn, *(cltorch.tensor(a, device=device)
                                             for a in arrays))
        assert _graph(compiled).launches == eager - saved


# (name, region, NumPy's, input shape, pointwise launches the reductions take in)
PROLOGUES = [
    ("mean square", lambda a, b: ((a - b) ** 2).mean(), lambda a, b: ((a - b) ** 2).mean(),
     (37, 53), 2),
    ("row sums", lambda a, b: (a * b).sum(1), lambda a, b: (a * b).sum(1), (37, 53), 1),
    ("column maxima", lambda a, b: (a * b + 1).amax(0), lambda a, b: (a * b + 1).max(0),
     (37, 53), 2),
    ("argmax", lambda a, b: (a - b).argmax(1), lambda a, b: (a - b).argmax(1), (37, 53), 1),
    ("two passes", lambda a, b: (a * b).sum(), lambda a, b: (a * b).sum(), (1500, 700), 1),
    ("result returned", lambda a, b: (lambda p: (p, p.sum()))(a * b),
     lambda a, b: (a * b, (a * b).sum()), (37, 53), 0),
]


@pytest.mark.parametrize("name,fn,reference,shape,taken", PROLOGUES,
                         ids=[p[0] for p in PROLOGUES])
def test_reduction_prologue(device, name, fn, reference, shape, taken):
    """A pointwise chain whose result only a reduction reads runs inside the reduction, at
    each element it reads (one pass or the first of two): eager's numbers exactly."""
    compiled = cltorch.compile(fn)
    rng = np.random.default_rng(4)
    for _ in range(3):
        arrays = [rng.standard_normal(shape).astype(np.float32) for _ in range(2)]
        inputs = [cltorch.tensor(a, device=device) for a in arrays]
        got, eager = compiled(*inputs), fn(*inputs)
        got, eager, want = ((x if isinstance(x, tuple) else (x,)) for x in
                            (got, eager, reference(*arrays)))
        for g, e, w in zip(got, eager, want):
            assert_close(g, e.cpu(), rtol=0, atol=0)
            assert_close(g, w, rtol=1e-4, atol=1e-4 * np.abs(w).max())
    if device != "cpu":
        assert _graph(compiled).launches == count_launches(device, fn, *inputs) - taken


def test_constants_are_computed_once(device):
    """Launches that compute the same result at every replay (a causal mask from an index
    range) run at the capture only; the attention's scale and mask then join its first
    GEMM. A buffer filled with zeros and then scattered into is no constant: each replay
    starts from zeros again."""
    def attention(q, k, v):
        return nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)

    def scattered(x, index):
        sums = cltorch.zeros(4, device=x.device)  # the region's own: not returned
        return sums.scatter_add_(0, index, x) * 2

    compiled, region = cltorch.compile(attention), cltorch.compile(scattered)
    rng = np.random.default_rng(6)
    for _ in range(3):
        q, k, v = (cltorch.tensor(rng.standard_normal((2, 3, 5, 4)).astype(np.float32),
                                  device=device) for _ in range(3))
        with cltorch.no_grad():
            assert_close(compiled(q, k, v), attention(q, k, v), rtol=0, atol=0)
        x = rng.standard_normal(6).astype(np.float32)
        index = rng.integers(0, 4, 6)
        want = np.zeros(4, np.float32)
        np.add.at(want, index, x)
        want *= 2
        assert_close(region(cltorch.tensor(x, device=device),
                            cltorch.tensor(index, device=device)), want, rtol=1e-6, atol=1e-6)
    if device != "cpu":
        assert _graph(compiled).launches == 3  # the two products and the softmax


def test_a_cross_entropy_backward_starts_from_a_constant(device):
    """The ones a backward starts from are a constant of the region: the cross-entropy
    kernels say which buffers they write (capture.Writes), so the seed is computed at the
    capture only. Losses and gradients stay eager's."""
    rng = np.random.default_rng(8)
    logits = rng.standard_normal((6, 5)).astype(np.float32)
    target = cltorch.tensor(rng.integers(0, 5, 6), device=device)
    x = cltorch.tensor(logits, device=device, requires_grad=True)
    reference = cltorch.tensor(logits, device=device, requires_grad=True)

    def step(x):  # x as a model's parameter: from outside the call
        def loss_of(target):
            x.grad = None
            loss = nn.functional.cross_entropy(x, target)
            loss.backward()
            return loss
        return loss_of

    compiled = cltorch.compile(step(x))
    for _ in range(3):
        assert_close(compiled(target), step(reference)(target), rtol=0, atol=0)
        assert_close(x.grad, reference.grad, rtol=0, atol=0)
    if device != "cpu":
        # forward, the loss's two sums and division, backward: no launch for the seed
        assert _graph(compiled).launches == count_launches(device, step(reference), target) - 1


def test_conv_epilogue(device):
    """A convolution's bias and activation run inside its GEMM (im2col's on a CPU device,
    the implicit one on a GPU); a training step through it stays eager's."""
    conv = nn.Conv2d(3, 4, 3, padding=1).to(device)
    reference = nn.Conv2d(3, 4, 3, padding=1).to(device)
    reference.load_state_dict(conv.state_dict())

    def step(model, x):
        y = nn.functional.relu(model(x))
        y.sum().backward()
        return y

    compiled = cltorch.compile(lambda x: step(conv, x))
    rng = np.random.default_rng(2)
    for _ in range(3):
        x = cltorch.tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32), device=device)
        assert_close(compiled(x), step(reference, x), rtol=1e-5, atol=1e-5)
        for p, q in zip(conv.parameters(), reference.parameters()):
            assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-4)
    if device != "cpu":
        def forward(x):
            return nn.functional.relu(conv(x))
        compiled = cltorch.compile(forward)
        with cltorch.no_grad():
            for _ in range(3):
                assert_close(compiled(x), forward(x), rtol=1e-5, atol=1e-5)
            eager = count_launches(device, forward, x)
        assert _graph(compiled).launches == eager - 2  # the bias add and the relu


def test_pooling_gradient_takes_relus_backward(device):
    """Max pooling over disjoint windows after a ReLU: the pooling gradient's gather kernel
    runs ReLU's backward on each element (its epilogue), so the gradient between them is
    never stored; weights' gradients equal eager's exactly."""
    conv = nn.Conv2d(2, 3, 3, padding=1).to(device)
    reference = nn.Conv2d(2, 3, 3, padding=1).to(device)
    reference.load_state_dict(conv.state_dict())

    def step(model, x):
        model.zero_grad()
        y = nn.functional.max_pool2d(nn.functional.relu(model(x)), 2)
        (y * y).sum().backward()
        return y

    compiled = cltorch.compile(lambda x: step(conv, x))
    rng = np.random.default_rng(11)
    for _ in range(3):
        x = cltorch.tensor(rng.standard_normal((2, 2, 6, 8)).astype(np.float32), device=device)
        assert_close(compiled(x), step(reference, x), rtol=0, atol=0)
        for p, q in zip(conv.parameters(), reference.parameters()):
            assert_close(p.grad, q.grad, rtol=0, atol=0)
    if device != "cpu":
        names = [step.kernel.kernel.function_name for step in _graph(compiled).steps
                 if type(step) is Launch]
        assert "window_max_grad" in names
        assert not any("threshold_backward" in name for name in names)


def test_intermediates_share_memory(device):
    """A chain of products: each intermediate's memory serves a later one (planned ahead),
    a constant made inside keeps its own, and the numbers stay eager's."""
    def f(x, w):
        parts = [(x * k) @ w for k in range(3)]  # three intermediates alive at once
        x = (parts[0] * parts[1] - parts[2]).relu()
        scale = cltorch.tensor([[0.5, 2.0, 1.0, -1.0]] * 3, device=x.device)  # a constant
        for _ in range(3):
            x = (x @ w) * scale
        return x

    compiled = cltorch.compile(f)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 4)).astype(np.float32) / 2
    for _ in range(3):
        x = rng.standard_normal((3, 4)).astype(np.float32)
        got = compiled(cltorch.tensor(x, device=device), cltorch.tensor(w, device=device))
        assert_close(got, f(cltorch.tensor(x), cltorch.tensor(w)).numpy(), rtol=1e-5,
                     atol=1e-6)
    if device != "cpu":
        assert _graph(compiled).saved_bytes > 0


F = nn.functional
FAMILIES = {
    "reductions": lambda x: (x.sum(0), x.mean(1), x.amax(-1), x.std(0), x.norm()),
    "softmax": lambda x: (x.softmax(-1), F.log_softmax(x, 0)),
    "scans_and_sorting": lambda x: (x.cumsum(1), x.sort(-1)[0], x.topk(2, 0)[1], x.argmax(1)),
    "indexing": lambda x: (x[:, 1:3] * 2, x.gather(1, (x.abs() * 3).long().clamp(0, 4)),
                           x.index_select(0, cltorch.tensor([2, 0], device=x.device)),
                           cltorch.zeros(3, device=x.device).index_add_(
                               0, cltorch.tensor([0, 2, 0, 1], device=x.device), x[:, 0])),
    "layout": lambda x: (x.t().contiguous(), cltorch.cat([x, x * 2], 1), x.reshape(5, 4).flip(0),
                         cltorch.stack([x, x.exp()])),
    "matmul": lambda x: (x @ x.t(), cltorch.bmm(x[None], x.t()[None]), cltorch.addmm(
        x[0], x.t(), x)),
    "conv_pool": lambda x: (F.conv2d(x[None, None], x[None, None, :3, :3], padding=1),
                            F.max_pool2d(x[None, None], 2), F.avg_pool2d(x[None, None], 2)),
    "norm_losses": lambda x: (F.layer_norm(x, (5,)), F.cross_entropy(x, cltorch.tensor(
        [0, 4, 2, 1], device=x.device)), F.mse_loss(x, x.flip(0))),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_op_families_compiled_match_eager(device, family):
    fn = FAMILIES[family]
    compiled = cltorch.compile(fn)
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = cltorch.tensor(rng.standard_normal((4, 5)).astype(np.float32), device=device)
        for got, want in zip(compiled(x), fn(x)):
            assert_close(got, want.cpu().numpy(), rtol=1e-5, atol=1e-5)
    assert (_graph(compiled) is None) == (device == "cpu")


def test_dynamo_names():
    dynamo = cltorch._dynamo
    assert "inductor" in dynamo.list_backends() and dynamo.config.cache_size_limit == 8
    dynamo.config.suppress_errors = True
    dynamo.reset()
    assert dynamo.Unsupported is Unsupported and not dynamo.is_compiling()
    dynamo.config.cache_size_limit = 1
    try:
        compiled = cltorch.compile(lambda x: x * 2)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            for n in (1, 1, 2, 2):
                assert compiled(cltorch.ones(n)).tolist() == [2.0] * n
        assert len(compiled.entries) == 1 and "cache_size_limit" in str(seen[0].message)
    finally:
        dynamo.config.cache_size_limit = 8


def test_other_threads_work_stays_out_of_the_region(device):
    """A thread making cpu tensors and reading values back while a region is captured (a
    pin-memory thread, a logger) neither stops the capture nor joins it."""
    import threading

    def busy():
        for _ in range(50):
            cltorch.arange(10.0).sum().item()

    def f(x):
        worker = threading.Thread(target=busy)
        worker.start()
        y = (x * 2).sum(0)
        worker.join()
        return y

    compiled = cltorch.compile(f)
    for k in range(3):
        x = cltorch.full((3, 2), float(k), device=device)
        assert compiled(x).tolist() == [6.0 * k] * 2
    assert (_graph(compiled) is None) == (device == "cpu")


def _mse_and_relu(out, target):
    return ((out - target) ** 2).mean() + out.relu().sum() * 0.1


def test_inputs_that_require_grad_are_captured(device):
    """A compiled loss fed with a model's output (a tensor that requires grad, from an eager
    graph) is captured: its backward replays and hands the gradient on to the model. A leaf
    input gets its .grad. Gradients equal eager's."""
    model, reference = nn.Linear(4, 3).to(device), nn.Linear(4, 3).to(device)
    reference.load_state_dict(model.state_dict())
    loss_fn = cltorch.compile(_mse_and_relu)
    scaled = cltorch.compile(lambda x: (x.sin() * 2).sum())
    rng = np.random.default_rng(9)
    for _ in range(4):
        x, y = (cltorch.tensor(rng.standard_normal(shape).astype(np.float32), device=device)
                for shape in ((5, 4), (5, 3)))
        model.zero_grad()
        reference.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        want = _mse_and_relu(reference(x), y)
        want.backward()
        assert_close(loss, want, rtol=0, atol=0)
        for p, q in zip(model.parameters(), reference.parameters()):
            assert_close(p.grad, q.grad, rtol=0, atol=0)
        leaf = cltorch.tensor(rng.standard_normal(6).astype(np.float32), device=device,
                              requires_grad=True)
        scaled(leaf).backward()
        assert_close(leaf.grad, 2 * np.cos(leaf.detach().cpu().numpy()), rtol=1e-6)
    if device != "cpu":
        assert _graph(loss_fn) is not None and _graph(scaled) is not None


def test_inputs_that_require_grad_where_the_capture_stops(device):
    """Where the capture of a region with an input that requires grad stops (a value read
    back to the host), its eager results still hand their gradient on to the input; a
    region running a backward itself runs eagerly, its gradients landing on the input."""
    def scaled_by_sum(x):
        return x.sin() * float(x.sum().item())

    def inner_backward(x):
        (x * x).sum().backward()
        return x.grad

    def doubled_in_place(x):
        return x.mul_(2).sin()

    def viewed(x):
        return x[1:] * 3, x[:2]

    stopped, trains = cltorch.compile(scaled_by_sum), cltorch.compile(inner_backward)
    in_place, views = cltorch.compile(doubled_in_place), cltorch.compile(viewed)
    rng = np.random.default_rng(10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):
            values = rng.standard_normal(6).astype(np.float32)
            x = cltorch.tensor(values, device=device, requires_grad=True)
            stopped(x * 1).sum().backward()  # a non-leaf input: through its graph to x
            assert_close(x.grad, np.cos(values) * float(values.sum()), rtol=1e-5)
            leaf = cltorch.tensor(values, device=device, requires_grad=True)
            assert_close(trains(leaf), 2 * values, rtol=1e-6)
            assert_close(leaf.grad, 2 * values, rtol=1e-6)
            x.grad = None
            y = x * 1
            (in_place(y).sum() + y.sum()).backward()  # y's history gains the doubling
            assert_close(y, 2 * values, rtol=1e-6)
            assert_close(x.grad, 2 * np.cos(2 * values) + 2, rtol=1e-5)
            x.grad = None
            tail, head = views(x * 1)
            (tail.sum() + 5 * head.sum()).backward()
            assert_close(x.grad, [5, 8, 3, 3, 3, 3])
    if device != "cpu":
        for region in (stopped, trains, in_place, views):
            assert _graph(region) is None
