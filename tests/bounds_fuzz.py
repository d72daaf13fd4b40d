"""The bounds fuzz: every kernel family on random shapes, strides, offsets and dtypes, on an
OpenCL device and on the cpu backend, with the results compared. ``test_kernel_bounds.py``
runs it in a child process on Oclgrind, a simulated OpenCL device that logs every read or
write outside a buffer, with ``CLTORCH_EXACT_BUFFERS=1`` so that each tensor is a buffer of its
own exact size: the log must stay empty and the numbers must match.

``python bounds_fuzz.py DEVICE SEED ROUNDS`` prints one line per family and round.
"""
import copy
import itertools
import math
import os
import sys

import numpy as np

import cltorch

F = cltorch.nn.functional
FLOATS = ("float32", "float16", "bfloat16")
TOLERANCE = {"float32": 2e-4, "float16": 2e-2, "bfloat16": 5e-2, "float64": 1e-9}


class Pair:
    """The same values on the device under test and on the cpu backend."""

    def __init__(self, rng, device, shape, dtype="float32", low=-3, high=3, grad=False):
        self.rng, self.device = rng, device
        steps = [int(rng.integers(1, 3)) for _ in shape]
        transpose = len(shape) >= 2 and rng.random() < 0.3
        base = list(shape)
        if transpose:
            base[-1], base[-2] = base[-2], base[-1]
            steps[-1], steps[-2] = steps[-2], steps[-1]
        big = [s * k for s, k in zip(base, steps)]
        pad = int(rng.integers(0, 4))
        count = pad + math.prod(big)
        if dtype in ("int64", "int32"):
            values = rng.integers(low, high, count)
        elif dtype == "bool":
            values = rng.random(count) < 0.5
        else:
            values = rng.uniform(low, high, count)
        self.views = []
        for where in (device, "cpu"):
            flat = cltorch.tensor(values, dtype=getattr(cltorch, dtype), device=where)
            view = flat[pad:].reshape(big)[tuple(slice(None, None, k) for k in steps)]
            if transpose:
                view = view.transpose(-1, -2)
            if grad:
                view = view.detach().requires_grad_()
            self.views.append(view)

    @property
    def dev(self):
        return self.views[0]

    @property
    def cpu(self):
        return self.views[1]


def shape(rng, ndim=None, low=0, high=5):
    ndim = int(rng.integers(0, 4)) if ndim is None else ndim
    return tuple(int(rng.integers(low, high)) for _ in range(ndim))


def run_both(fn, *pairs):
    """fn on the device's views and on the cpu's; both results, as host arrays."""
    got = fn(*[p.dev for p in pairs])
    want = fn(*[p.cpu for p in pairs])
    return _host(got), _host(want)


def _host(result):
    if isinstance(result, (tuple, list)):
        return [_host(r) for r in result]
    if isinstance(result, cltorch.Tensor):
        return result.detach().cpu().float().numpy() if result.dtype in (
            cltorch.bfloat16,) else result.detach().cpu().numpy()
    return np.asarray(result)


def compare(name, got, want, dtype="float32"):
    if isinstance(got, list):
        for g, w in zip(got, want):
            compare(name, g, w, dtype)
        return
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    rtol = TOLERANCE.get(dtype, 0)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol,
                               atol=rtol, equal_nan=True, err_msg=name)


# ---- the families: each draws its own shapes and compares device with cpu --------------------

def pointwise(rng, device):
    dtype = str(rng.choice(FLOATS + ("int64",)))
    s = shape(rng)
    a = Pair(rng, device, s, dtype)
    b = Pair(rng, device, s[int(rng.integers(0, len(s) + 1)):], dtype)  # broadcast
    compare("add", *run_both(lambda x, y: x + y * 2, a, b), dtype)
    compare("where", *run_both(lambda x, y: cltorch.where(x > 0, x, y), a, b), dtype)
    if dtype != "int64":
        compare("exp", *run_both(lambda x: x.exp().relu().to(cltorch.float32), a), dtype)
    compare("cast", *run_both(lambda x: x.to(cltorch.int32), a), "int32")
    target = Pair(rng, device, s, dtype)
    compare("add_ into a view", *run_both(lambda t, x: t.add_(x), target, a), dtype)
    compare("copy_", *run_both(lambda t, x: t.copy_(x), Pair(rng, device, s, dtype), a), dtype)
    compare("contiguous", *run_both(lambda x: x.contiguous(), a), dtype)
    # cltorch.compile's fused chain (float32: its intermediates stay in registers), on
    # broadcast and strided operands; the third call replays the capture
    x, y = Pair(rng, device, s, "float32"), Pair(rng, device, b.cpu.shape, "float32")
    chain = cltorch.compile(_pointwise_chain)
    for _ in range(3):
        got = chain(x.dev, y.dev)
    compare("fused chain", _host(got), _host(_pointwise_chain(x.cpu, y.cpu)))


def _pointwise_chain(x, y):
    return ((x * y + x).relu() * 0.5 - y).abs() + x.sigmoid()


def reductions(rng, device):
    dtype = str(rng.choice(("float32", "float16", "int64")))
    s = shape(rng, int(rng.integers(1, 4)), 1, 6)
    a = Pair(rng, device, s, dtype)
    dim = int(rng.integers(0, len(s)))
    keep = bool(rng.random() < 0.5)
    compare("sum", *run_both(lambda x: x.sum(dim, keepdim=keep), a), dtype)
    compare("amax", *run_both(lambda x: x.amax(dim, keepdim=keep), a), dtype)
    compare("argmin", *run_both(lambda x: x.argmin(dim), a), "int64")
    compare("full sum", *run_both(lambda x: x.sum(), a), dtype)
    if dtype != "int64":
        compare("var", *run_both(lambda x: x.float().var(dim), a), "float32")
        compare("softmax", *run_both(lambda x: x.softmax(dim), a), dtype)
        compare("log_softmax", *run_both(lambda x: x.float().log_softmax(dim), a), "float32")
    compare("cumsum", *run_both(lambda x: x.cumsum(dim), a), dtype)
    compare("cummax", *run_both(lambda x: x.cummax(dim), a), dtype)
    # cltorch.compile: the products run inside the reduction (its prologue)
    x, y = Pair(rng, device, s, "float32"), Pair(rng, device, s, "float32")
    region = cltorch.compile(_reduced_products)
    for _ in range(3):
        got = region(x.dev, y.dev, dim)
    compare("reduction prologue", _host(got), _host(_reduced_products(x.cpu, y.cpu, dim)))


def _reduced_products(x, y, dim):
    return [(x * y - 1).sum(dim), (x - y).amax(), (x * y).argmax(dim)]


def sorting(rng, device):
    s = shape(rng, int(rng.integers(1, 3)), 1, 9)
    dtype = str(rng.choice(("float32", "int64")))
    a = Pair(rng, device, s, dtype)
    dim = int(rng.integers(0, len(s)))
    descending = bool(rng.random() < 0.5)
    compare("sort values", *run_both(lambda x: x.sort(dim, descending=descending,
                                                      stable=True)[0], a), dtype)
    k = int(rng.integers(1, s[dim] + 1))
    compare("topk", *run_both(lambda x: x.topk(k, dim)[0], a), dtype)
    edges = Pair(rng, device, (int(rng.integers(1, 6)),), dtype)
    points = Pair(rng, device, shape(rng, 1, 1, 6), dtype)
    compare("searchsorted", *run_both(lambda e, p: cltorch.searchsorted(e.sort()[0], p),
                                      edges, points), "int64")


def matmul(rng, device):
    dtype = str(rng.choice(("float32", "float16", "float64")))
    if dtype == "float64" and not cltorch.backend.registry.get(device).supports_fp64:
        dtype = "float32"
    m, k, n = (int(rng.integers(1, 40)) for _ in range(3))
    batch = shape(rng, int(rng.integers(0, 2)), 1, 3)
    a = Pair(rng, device, batch + (m, k), dtype)
    b = Pair(rng, device, batch + (k, n), dtype)
    compare("matmul", *run_both(lambda x, y: x @ y, a, b), dtype)
    v = Pair(rng, device, (k,), dtype)
    compare("matrix @ vector", *run_both(lambda x, y: x @ y, a, v), dtype)
    compare("vector @ matrix", *run_both(lambda x, y: x @ y, v, b), dtype)
    compare("linear", *run_both(lambda x, w: F.linear(x, w), a,
                                Pair(rng, device, (n, k), dtype)), dtype)
    # cltorch.compile: the bias, activation and residual run in the GEMM (its epilogue)
    x, w = Pair(rng, device, (m, k), "float32"), Pair(rng, device, (k, k), "float32")
    bias = Pair(rng, device, (k,), "float32")
    layer = cltorch.compile(_linear_block)
    for _ in range(3):
        got = layer(x.dev, w.dev, bias.dev)
    compare("GEMM epilogue", _host(got), _host(_linear_block(x.cpu, w.cpu, bias.cpu)))


def _linear_block(x, w, bias):
    return F.relu(F.linear(x, w, bias)) * 0.5 + x


def _pooled_relu_grad(scale):
    def step(x):
        scale.grad = None
        y = F.max_pool2d(F.relu(x * scale), 2, ceil_mode=True)
        (y * y).sum().backward()
        return scale.grad
    return step


def convolution(rng, device):
    batch, cin, cout = (int(rng.integers(1, 4)) for _ in range(3))
    groups = int(rng.choice([g for g in (1, 2) if cin * g <= 4 and cout * g <= 4]))
    kh, kw = (int(rng.integers(1, 4)) for _ in range(2))
    stride, padding, dilation = (int(rng.integers(1, 3)), int(rng.integers(0, 2)),
                                 int(rng.integers(1, 3)))
    h = int(rng.integers(dilation * (kh - 1) + 1, 9))
    w = int(rng.integers(dilation * (kw - 1) + 1, 9))
    x = Pair(rng, device, (batch, cin * groups, h, w), grad=True)
    weight = Pair(rng, device, (cout * groups, cin, kh, kw), grad=True)
    channels = max(2, cin * groups)  # a depthwise convolution has two groups at least
    per_channel = Pair(rng, device, (channels * 2, 1, kh, kw), grad=True)

    def step(x, weight, per_channel):
        y = F.conv2d(x, weight, stride=stride, padding=padding, dilation=dilation,
                     groups=groups)
        # depthwise (its direct kernels), two outputs per channel; one channel doubled
        xd = x if cin * groups > 1 else cltorch.cat([x, x], 1)
        dw = F.conv2d(xd, per_channel, stride=stride, padding=padding, dilation=dilation,
                      groups=channels)
        pooled = F.max_pool2d(x, 2, ceil_mode=True) if min(h, w) >= 2 else x
        averaged = F.avg_pool2d(x, 2, 1, 1, ceil_mode=True, count_include_pad=False)
        # adaptive pooling's cells (overlapping unless the sizes divide)
        cells = F.adaptive_max_pool2d(x, (3, 2)) + F.adaptive_avg_pool2d(x, (3, 2))
        # pooling's scatter and the average's gradient gather too
        ((y * y).sum() + (dw * dw).sum() + (pooled * pooled).sum() +
         (averaged * averaged).sum() + (cells * cells).sum()).backward()
        return [y, dw, x.grad, weight.grad, per_channel.grad, pooled, averaged, cells]
    compare("conv2d forward and backward", *run_both(step, x, weight, per_channel))
    compare("unfold", *run_both(lambda t: F.unfold(t, (kh, kw), dilation=dilation,
                                                   padding=padding, stride=stride), x))
    if min(h, w) >= 2:  # cltorch.compile: ReLU's backward in max pooling's gradient gather
        scale = Pair(rng, device, (1, cin * groups, 1, 1), grad=True)
        pooled = cltorch.compile(_pooled_relu_grad(scale.dev))
        for _ in range(3):
            got = pooled(x.dev.detach())
        compare("pooling gradient epilogue", _host(got),
                _host(_pooled_relu_grad(scale.cpu)(x.cpu.detach())))
    if next(_CONVOLUTION_CALLS) % 2 == 0:
        _winograd(rng, device, batch, cin, cout)


_CONVOLUTION_CALLS = itertools.count()


def _winograd(rng, device, batch, cin, cout):
    """Winograd's tiles (forced: off by default), the forward and the input gradient, every
    other round (the simulator is slow)."""
    os.environ["CLTORCH_WINOGRAD"] = "1"
    try:
        pad, size = int(rng.integers(0, 3)), tuple(int(v) for v in rng.integers(3, 8, 2))
        image = Pair(rng, device, (batch, cin) + size, grad=True)
        kernel = Pair(rng, device, (cout, cin, 3, 3), grad=True)
        compare("winograd conv2d", *run_both(lambda x, w: _convolution_step(x, w, pad), image,
                                             kernel))
    finally:
        del os.environ["CLTORCH_WINOGRAD"]


def normalisation(rng, device):
    """Layer norm (its fused kernels) forward and backward, with and without an affine."""
    dtype = str(rng.choice(("float32", "float16")))
    lead, n = shape(rng, int(rng.integers(1, 3)), 1, 4), int(rng.integers(1, 40))
    x = Pair(rng, device, lead + (n,), dtype, grad=True)
    w, b = (Pair(rng, device, (n,), dtype, grad=True) for _ in range(2))
    affine = bool(rng.random() < 0.7)

    def step(x, w, b):
        y = F.layer_norm(x, (n,), w if affine else None, b if affine else None)
        (y * y).sum().backward()
        return [y, x.grad] + ([w.grad, b.grad] if affine else [])
    compare("layer_norm forward and backward", *run_both(step, x, w, b), dtype)


def losses(rng, device):
    """Cross entropy over class-index targets (its fused kernels) forward and backward, some
    targets ignored, rows of up to 300 classes."""
    dtype = str(rng.choice(("float32", "float16")))
    rows, classes = int(rng.integers(1, 9)), int(rng.integers(1, 300))
    x = Pair(rng, device, (rows, classes), dtype, grad=True)
    target = rng.integers(0, classes, rows)
    target[rng.random(rows) < 0.2] = -100
    reduction = str(rng.choice(("mean", "sum", "none")))

    def step(x):
        loss = F.cross_entropy(x, cltorch.tensor(target, device=x.device), reduction=reduction)
        (loss * loss).sum().backward()
        return [loss, x.grad]
    compare("cross_entropy forward and backward", *run_both(step, x), dtype)


def recurrent(rng, device):
    """A sequence node (LSTM, GRU or RNN, maybe bidirectional) forward and backward."""
    mode = str(rng.choice(("LSTM", "GRU", "RNN")))
    size, hidden, steps, batch = (int(rng.integers(1, 4)) for _ in range(4))
    bidirectional = bool(rng.random() < 0.5)
    cltorch.manual_seed(int(rng.integers(0, 1000)))
    layers = [getattr(cltorch.nn, mode)(size, hidden, bidirectional=bidirectional)]
    layers.append(copy.deepcopy(layers[0]).to(device))
    x = Pair(rng, device, (steps, batch, size), grad=True)

    def step(x):
        layer = layers[0] if x.device.type == "cpu" else layers[1]
        out, state = layer(x)
        h = state[0] if mode == "LSTM" else state
        ((out * out).sum() + h.sum()).backward()
        return [out, h, x.grad] + [p.grad for p in layer.parameters()]
    compare(f"{mode} forward and backward", *run_both(step, x))


def indexing(rng, device):
    dtype = str(rng.choice(("float32", "float16", "int64", "bool")))
    s = shape(rng, int(rng.integers(1, 4)), 1, 5)
    a = Pair(rng, device, s, dtype)
    dim = int(rng.integers(0, len(s)))
    index_shape = tuple(int(rng.integers(1, size + 1)) for size in s)
    index = Pair(rng, device, index_shape, "int64", 0, s[dim])
    compare("gather", *run_both(lambda x, i: x.gather(dim, i), a, index), dtype)
    rows = Pair(rng, device, (int(rng.integers(1, 6)),), "int64", -s[dim], s[dim])
    compare("subscript", *run_both(lambda x, i: x.movedim(dim, 0)[i], a, rows), dtype)
    if dtype in ("float32", "int64"):
        target = Pair(rng, device, s, dtype)
        src = Pair(rng, device, index_shape, dtype)
        compare("scatter_add_", *run_both(lambda t, i, v: t.scatter_add_(dim, i, v),
                                          target, index, src), dtype)
        compare("scatter_ amax", *run_both(lambda t, i, v: t.scatter_reduce_(
            dim, i, v, "amax"), Pair(rng, device, s, dtype), index, src), dtype)
        positive = Pair(rng, device, (len(rows.dev),), "int64", 0, s[dim])
        compare("index_add_", *run_both(lambda t, i: t.index_add_(
            dim, i, t.index_select(dim, i) * 2), Pair(rng, device, s, dtype), positive), dtype)
    table = Pair(rng, device, (int(rng.integers(1, 6)), int(rng.integers(1, 5))), grad=True)
    words = Pair(rng, device, shape(rng, 2, 1, 4), "int64", 0, table.dev.shape[0])

    def embed(t, i):
        F.embedding(i, t).pow(2).sum().backward()
        return t.grad
    compare("embedding backward", *run_both(embed, table, words))


def optimizers(rng, device):
    names = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam")
    name = str(rng.choice(names))
    pairs = []
    for _ in range(2):  # two parameters: one multi-tensor launch updates both
        s = shape(rng, int(rng.integers(1, 3)), 1, 7)
        pairs += [Pair(rng, device, s, grad=True), Pair(rng, device, s)]

    def steps(*tensors):
        params, grads = tensors[::2], tensors[1::2]
        kwargs = {"lr": 0.1, "momentum": 0.9} if name == "SGD" else {}
        optimizer = getattr(cltorch.optim, name)(params, **kwargs)
        for _ in range(2):
            for param, grad in zip(params, grads):
                param.grad = grad.clone()
            optimizer.step()
        return list(params)
    compare(name, *run_both(steps, *pairs))


def checks(rng, device):
    s = shape(rng)
    a = Pair(rng, device, s, "int64", -4, 4)
    probabilities = Pair(rng, device, s, "float32", 0, 1)
    from cltorch.ops.check import check_values
    for x in (a.dev, probabilities.dev):
        check_values(x, -10, 10, RuntimeError, "unexpected {value}")
    cltorch.bernoulli(probabilities.dev).cpu()
    bad = Pair(rng, device, (int(rng.integers(1, 600)),), "int64", 5, 9)
    try:  # many work-items fail at once: one records, none races
        check_values(bad.dev, 0, 4, IndexError, "{value}")
        cltorch.backend.registry.get(device).synchronize()
    except IndexError as err:
        assert 5 <= int(str(err)) < 9, err
    else:
        raise AssertionError("a failed device-side check was not reported")
    for fill in ("uniform_", "normal_"):
        getattr(Pair(rng, device, s).dev, fill)().cpu()


def long_lines(rng, device):
    """Sizes past the kernels' thresholds: work-groups of 256, split reductions, chunked
    scans (lines of 4096 and more), GEMM tiles of 64, bitonic sorts past one group."""
    dtype = str(rng.choice(("float32", "int64")))
    lines, length = int(rng.integers(1, 4)), int(rng.integers(257, 6000))
    a = Pair(rng, device, (lines, length), dtype)
    compare("long sum", *run_both(lambda x: x.sum(1), a), dtype)
    compare("long column sum", *run_both(lambda x: x.t().contiguous().sum(0), a), dtype)
    compare("long argmax", *run_both(lambda x: x.argmax(1), a), "int64")
    got, want = run_both(lambda x: x.cumsum(1), a)
    if dtype == "float32":  # a running sum's rounding grows with the magnitudes summed so far
        bound = 16 * np.finfo(np.float32).eps * np.cumsum(np.abs(_host(a.cpu)), 1)
        assert np.all(np.abs(got - want) <= bound + 1e-6), "long cumsum"
    else:
        compare("long cumsum", got, want, dtype)
    compare("long sort", *run_both(lambda x: x[:, :700].sort(1)[0], a), dtype)
    if dtype == "float32":
        compare("long softmax", *run_both(lambda x: x.softmax(1), a), dtype)
    # output tiles past the edge, k past a few steps, ragged; the tiled GEMM's other tiles in
    # turns (the 64 x 64 default runs in every other family): 128 x 128, and vector reads with
    # double buffering and blocks that are not square, with an implicit convolution's three
    # products (the simulator spent 40 of the GPU profile's 140 s on two tiles every round)
    m, k, n = int(rng.integers(60, 140)), int(rng.integers(17, 80)), int(rng.integers(60, 140))
    tile = LONG_LINE_TILES[next(_LONG_LINES_CALLS) % len(LONG_LINE_TILES)]
    os.environ["CLTORCH_GEMM_TILE"] = tile
    try:
        compare(f"tiled matmul {tile}", *run_both(lambda x, y: x @ y, Pair(rng, device, (m, k)),
                                                  Pair(rng, device, (k, n))), "float32")
        if "db=1" in tile:  # the implicit convolution's three products on this tile
            compare(f"conv2d {tile}", *run_both(
                _convolution_step, Pair(rng, device, (2, 3, 9, 9), grad=True),
                Pair(rng, device, (5, 3, 3, 3), grad=True)))
    finally:
        del os.environ["CLTORCH_GEMM_TILE"]


LONG_LINE_TILES = ("mwi=8,nwi=8,kwg=8", "mdimc=8,ndimc=16,mwi=8,nwi=4,kwg=16,vw=4,db=1")
_LONG_LINES_CALLS = itertools.count()


def _convolution_step(x, weight, padding=1):
    y = F.conv2d(x, weight, padding=padding)
    (y * y).sum().backward()
    return [y, x.grad, weight.grad]


FAMILIES = {f.__name__: f for f in (pointwise, reductions, sorting, matmul, convolution,
                                    normalisation, losses, recurrent, indexing, optimizers,
                                    checks, long_lines)}


def main(device, seed, rounds):
    # a CPU device's packed GEMM and implicit convolution however small the product (the
    # fuzz's shapes are small: the simulator is slow)
    from cltorch.ops import gemm
    gemm.PACKED_MIN_WORK = 0
    rng = np.random.default_rng(seed)
    dev = cltorch.backend.registry.get(device)
    info = dev.info()
    print(f"device {device}: {info.name} ({info.extra.get('platform', '')})", flush=True)
    print(f"build options: {' '.join(dev.options)}; fp64: {dev.supports_fp64}", flush=True)
    for round_ in range(rounds):
        for name, family in FAMILIES.items():
            family(rng, device)
            cltorch.backend.registry.get(device).synchronize()
            print(f"{name} round {round_}: ok", flush=True)
    compiled = cltorch.backend.registry.get(device).kernels
    used = sorted({source.split("\n", 1)[0].split()[-1] for source, _ in compiled})
    print("templates run: " + " ".join(used), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
