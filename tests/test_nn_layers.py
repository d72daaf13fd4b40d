"""Every layer and loss against PyTorch with the same weights on every device (outputs, input
gradients and parameter gradients), the functional forms by gradcheck in float64, and a few
NumPy references that run without PyTorch."""
import numpy as np
import pytest
from conftest import assert_close, needs_fp64

import cltorch
import cltorch.nn as nn
import cltorch.nn.functional as F
from cltorch.autograd import gradcheck
from cltorch.backend import registry

LAYERS = [  # (class name, args, kwargs, input shapes)
    ("Linear", (5, 3), {}, [(4, 5)]),
    ("Linear", (5, 3), {"bias": False}, [(2, 4, 5)]),
    ("Bilinear", (3, 4, 2), {}, [(5, 3), (5, 4)]),
    ("Identity", (), {}, [(2, 3)]),
    ("Flatten", (), {}, [(2, 3, 4)]),
    ("Unflatten", (1, (2, 3)), {}, [(4, 6)]),
    ("Conv1d", (4, 6, 3), {"stride": 2, "padding": 1, "groups": 2}, [(2, 4, 9)]),
    ("Conv2d", (3, 4, (3, 2)), {"dilation": 2, "padding": 2}, [(2, 3, 8, 7)]),
    ("Conv2d", (4, 4, 3), {"padding": "same", "padding_mode": "reflect", "groups": 4},
     [(1, 4, 6, 6)]),
    ("Conv2d", (2, 3, 3), {"padding": 1, "padding_mode": "circular"}, [(1, 2, 5, 5)]),
    ("Conv2d", (2, 3, 4), {"padding": "same", "padding_mode": "replicate"}, [(1, 2, 6, 5)]),
    ("ConvTranspose1d", (4, 2, 3), {"stride": 2, "padding": 1, "output_padding": 1},
     [(2, 4, 5)]),
    ("ConvTranspose2d", (4, 6, 3), {"stride": 2, "groups": 2, "dilation": 2}, [(1, 4, 4, 3)]),
    ("MaxPool1d", (3,), {"stride": 2, "padding": 1}, [(2, 3, 10)]),
    ("MaxPool2d", (3,), {"stride": 2, "ceil_mode": True, "dilation": (1, 2)}, [(2, 2, 9, 11)]),
    ("AvgPool1d", (3,), {"stride": 2, "padding": 1, "count_include_pad": False}, [(2, 3, 10)]),
    ("AvgPool2d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True}, [(2, 2, 8, 9)]),
    ("AvgPool2d", (2,), {"divisor_override": 3}, [(1, 2, 6, 6)]),
    ("AdaptiveAvgPool1d", (4,), {}, [(2, 3, 10)]),
    ("AdaptiveAvgPool2d", ((3, 2),), {}, [(2, 3, 7, 6)]),
    ("AdaptiveMaxPool2d", (3,), {}, [(2, 3, 8, 7)]),
    ("BatchNorm1d", (4,), {}, [(6, 4)]),
    ("BatchNorm2d", (3,), {"momentum": None}, [(4, 3, 5, 5)]),
    ("InstanceNorm1d", (3,), {"affine": True}, [(2, 3, 7)]),
    ("InstanceNorm2d", (3,), {}, [(2, 3, 4, 5)]),
    ("LayerNorm", ((4, 5),), {}, [(3, 4, 5)]),
    ("GroupNorm", (2, 4), {}, [(3, 4, 5)]),
    ("LocalResponseNorm", (3,), {}, [(2, 5, 4, 4)]),
    ("ZeroPad2d", ((1, 2, 0, 1),), {}, [(1, 2, 3, 3)]),
    ("ReflectionPad2d", (2,), {}, [(1, 2, 4, 5)]),
    ("ReplicationPad1d", ((3, 1),), {}, [(1, 2, 4)]),
    ("ConstantPad1d", (2, 3.5), {}, [(2, 3)]),
    ("PixelShuffle", (2,), {}, [(1, 8, 3, 3)]),
    ("PixelUnshuffle", (2,), {}, [(1, 2, 4, 6)]),
    ("Upsample", (), {"scale_factor": 2, "mode": "nearest"}, [(1, 2, 3, 3)]),
    ("Upsample", (), {"size": (5, 7), "mode": "bilinear", "align_corners": True},
     [(1, 2, 3, 4)]),
    ("Upsample", (), {"scale_factor": 1.5, "mode": "bilinear"}, [(1, 1, 4, 4)]),
    ("PReLU", (3,), {}, [(2, 3, 4)]),
    ("GLU", (), {}, [(3, 4)]),
    ("Softmax2d", (), {}, [(2, 3, 4, 4)]),
] + [(name, args, {}, [(3, 5)]) for name, args in (
    ("ReLU", ()), ("ReLU6", ()), ("LeakyReLU", (0.2,)), ("ELU", (0.7,)), ("SELU", ()),
    ("CELU", (1.3,)), ("GELU", ()), ("GELU", ("tanh",)), ("SiLU", ()), ("Mish", ()),
    ("Sigmoid", ()), ("LogSigmoid", ()), ("Tanh", ()), ("Hardtanh", (-0.5, 0.7)),
    ("Hardsigmoid", ()), ("Hardswish", ()), ("Hardshrink", (0.3,)), ("Softshrink", (0.3,)),
    ("Tanhshrink", ()), ("Softplus", (2.0, 1.0)), ("Softsign", ()), ("Softmax", (1,)),
    ("Softmin", (0,)), ("LogSoftmax", (-1,)), ("Threshold", (0.1, -2.0)), ("RReLU", ()))]


def _torch_layer(torch, name, args, kwargs):
    if name == "Unflatten":
        return torch.nn.Unflatten(*args)
    return getattr(torch.nn, name)(*args, **kwargs)


@pytest.mark.parametrize("spec", LAYERS, ids=lambda s: s[0] + str(s[2] or ""))
def test_layer_matches_torch(device, spec):
    torch = pytest.importorskip("torch")
    name, args, kwargs, shapes = spec
    theirs = _torch_layer(torch, name, args, kwargs)
    ours = getattr(nn, name)(*args, **kwargs)
    ours.load_state_dict({k: cltorch.tensor(v.detach().numpy())
                          for k, v in theirs.state_dict().items()})
    ours.to(device)
    if name == "RReLU":  # random slopes when training
        ours.eval(), theirs.eval()
    rng = np.random.default_rng(len(name))
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    xt = [torch.tensor(a, requires_grad=True) for a in arrays]
    xc = [cltorch.tensor(a, device=device, requires_grad=True) for a in arrays]
    want, got = theirs(*xt), ours(*xc)
    assert tuple(got.shape) == tuple(want.shape)
    assert_close(got, want.detach().numpy(), rtol=1e-4, atol=1e-5)
    seed = rng.standard_normal(tuple(want.shape)).astype(np.float32)
    want.backward(torch.tensor(seed))
    got.backward(cltorch.tensor(seed, device=device))
    for c, t in zip(xc, xt):
        assert_close(c.grad, t.grad.numpy(), rtol=1e-4, atol=1e-5)
    for (key, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert_close(p.grad, q.grad.numpy(), rtol=1e-4, atol=1e-4)
    for (key, b), (_, q) in zip(ours.named_buffers(), theirs.named_buffers()):
        assert_close(b, q.numpy(), rtol=1e-5, atol=1e-6)  # running statistics


def _targets(n, classes, seed=0):
    return np.random.default_rng(seed).integers(0, classes, n)


LOSSES = [  # (name, kwargs, input builders: "x" normal, "p" (0, 1), "c" classes, ...)
    ("MSELoss", {}, "xx"), ("L1Loss", {"reduction": "sum"}, "xx"),
    ("SmoothL1Loss", {"beta": 0.5}, "xx"), ("HuberLoss", {"delta": 0.7}, "xx"),
    ("NLLLoss", {}, "lc"), ("NLLLoss", {"weight": "w", "ignore_index": 1}, "lc"),
    ("CrossEntropyLoss", {}, "xc"),
    ("CrossEntropyLoss", {"weight": "w", "label_smoothing": 0.2, "ignore_index": 2}, "xc"),
    ("CrossEntropyLoss", {"reduction": "none"}, "kK"),  # K-dim input (N, C, d)
    ("CrossEntropyLoss", {"label_smoothing": 0.1}, "xP"),  # probability targets
    ("BCELoss", {}, "pp"), ("BCELoss", {"reduction": "sum"}, "pb"),
    ("BCEWithLogitsLoss", {"pos_weight": "pw"}, "xb"),
    ("KLDivLoss", {"reduction": "batchmean"}, "lP"),
    ("KLDivLoss", {"reduction": "sum", "log_target": True}, "ll"),
    ("PoissonNLLLoss", {}, "xq"), ("PoissonNLLLoss", {"log_input": False, "full": True}, "qq"),
    ("GaussianNLLLoss", {}, "xxv"), ("MarginRankingLoss", {"margin": 0.3}, "yys"),
    ("HingeEmbeddingLoss", {"margin": 0.5}, "xs"), ("CosineEmbeddingLoss", {"margin": 0.1},
                                                    "xxt"),
    ("TripletMarginLoss", {"margin": 0.5}, "xxx"), ("MultiLabelSoftMarginLoss", {}, "xb"),
    ("MultiMarginLoss", {"p": 2, "margin": 0.5}, "xc"), ("SoftMarginLoss", {}, "xs"),
]


def _loss_inputs(kinds, rng):
    n, c = 6, 4
    make = {"x": lambda: rng.standard_normal((n, c)),
            "p": lambda: rng.uniform(0.05, 0.95, (n, c)),
            "b": lambda: (rng.uniform(size=(n, c)) > 0.5).astype(float),
            "l": lambda: np.log(rng.dirichlet(np.ones(c), n)),
            "P": lambda: rng.dirichlet(np.ones(c), n),
            "c": lambda: _targets(n, c), "k": lambda: rng.standard_normal((n, c, 3)),
            "K": lambda: _targets(n * 3, c).reshape(n, 3),
            "q": lambda: rng.uniform(0.1, 3, (n, c)), "v": lambda: rng.uniform(0.5, 2, (n, c)),
            "s": lambda: np.where(rng.uniform(size=n) > 0.5, 1.0, -1.0),
            "y": lambda: rng.standard_normal(n),
            "t": lambda: np.where(rng.uniform(size=n) > 0.5, 1.0, -1.0)}
    out = [make[k]() for k in kinds]
    if kinds[-1] == "s" and kinds.count("x") == 1:
        out[-1] = np.where(rng.uniform(size=(n, c)) > 0.5, 1.0, -1.0)
    return out


@pytest.mark.parametrize("spec", LOSSES, ids=lambda s: s[0] + "-" + "-".join(s[1]))
def test_loss_matches_torch(device, spec):
    torch = pytest.importorskip("torch")
    name, kwargs, kinds = spec
    rng = np.random.default_rng(len(name) + len(kwargs))
    arrays = _loss_inputs(kinds, rng)
    extra = {"w": rng.uniform(0.5, 2, 4).astype(np.float32),
             "pw": rng.uniform(0.5, 2, 4).astype(np.float32)}

    def build(module, make):
        kw = {k: make(extra[v]) if isinstance(v, str) and v in extra else v
              for k, v in kwargs.items()}
        return getattr(module.nn, name)(**kw)

    results = []
    for module, make in ((torch, torch.tensor), (cltorch, lambda v, **k: cltorch.tensor(
            v, device=device, **k))):
        inputs = [make(a.astype(np.int64) if a.dtype.kind == "i" else a.astype(np.float32),
                       **({} if a.dtype.kind == "i" else {"requires_grad": i == 0}))
                  for i, a in enumerate(arrays)]
        loss = build(module, make)(*inputs)
        (loss * (1 + make(np.arange(loss.numel(), dtype=np.float32)).reshape(loss.shape))
         ).sum().backward()
        value = loss.detach().numpy() if module is torch else loss._host_values()
        grad = inputs[0].grad
        results.append((value, grad.numpy() if module is torch else grad._host_values()))
    (got, got_grad), (want, want_grad) = results[1], results[0]
    assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert_close(got_grad, want_grad, rtol=1e-4, atol=1e-5)


FUNCTIONAL = [  # gradcheck cases in float64: (name, function of tensors, shapes)
    ("conv2d", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, dilation=(1, 2),
                                        groups=2), [(1, 4, 5, 6), (2, 2, 2, 2), (2,)]),
    ("conv1d", lambda x, w: F.conv1d(x, w, padding="same"), [(2, 2, 5), (3, 2, 2)]),
    ("conv2d_one_node", lambda x, w, b: F.conv2d(x, w, b, stride=(1, 2), padding=1,
                                                 dilation=(2, 1)), [(2, 3, 5, 6), (4, 3, 2, 3),
                                                                    (4,)]),
    ("conv_transpose2d", lambda x, w: F.conv_transpose2d(x, w, stride=2, output_padding=1),
     [(1, 2, 3, 3), (2, 1, 2, 2)]),
    ("max_pool2d", lambda x: F.max_pool2d(x, 2, 1, ceil_mode=True), [(1, 2, 4, 4)]),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
     [(1, 1, 5, 5)]),
    ("adaptive", lambda x: F.adaptive_avg_pool2d(x, (2, 3)) + F.adaptive_max_pool2d(
        x, (2, 3)), [(1, 1, 5, 5)]),
    ("unfold_fold", lambda x: F.fold(F.unfold(x, 2, padding=1), (4, 3), 2, padding=1),
     [(1, 2, 4, 3)]),
    ("norms", lambda x, w: F.batch_norm(x, None, None, w, None, True) +
     F.layer_norm(x, (3,)) + F.group_norm(x, 1) + F.instance_norm(x),
     [(4, 2, 3), (2,)]),
    ("losses", lambda x: F.cross_entropy(x, _LONG[0], label_smoothing=0.1) +
     F.nll_loss(x.log_softmax(1), _LONG[0]) + F.binary_cross_entropy_with_logits(
         x, x.new_full((3, 4), 0.3)) + F.smooth_l1_loss(x, x.new_full((3, 4), 0.2)),
     [(3, 4)]),
    ("interpolate_pad", lambda x: F.interpolate(x, scale_factor=2, mode="bilinear").sum() +
     F.pad(x, (1, 2, 2, 1), mode="reflect").sum() + F.pixel_shuffle(x, 1).sum(),
     [(1, 1, 3, 4)]),
    ("embedding", lambda w: F.embedding(_LONG[1], w), [(4, 3)]),
    ("activations", lambda x: F.gelu(x) + F.elu(x) + F.softplus(x) + F.mish(x) +
     F.hardswish(x) + F.logsigmoid(x), [(6,)]),
]
_LONG = [cltorch.tensor([0, 3, 1]), cltorch.tensor([[0, 2], [3, 0]])]


@pytest.mark.parametrize("case", FUNCTIONAL, ids=[c[0] for c in FUNCTIONAL])
def test_functional_gradcheck(device, case):
    needs_fp64(device)
    rng = np.random.default_rng(1)
    tensors = [cltorch.tensor(rng.uniform(-1, 1, s), dtype=cltorch.float64, device=device,
                              requires_grad=True) for s in case[2]]
    longs = [t.to(device) for t in _LONG]

    def fn(*xs):
        _LONG[:] = longs
        return case[1](*xs)
    try:
        assert gradcheck(fn, tensors, eps=1e-6, atol=1e-5, rtol=1e-3)
    finally:
        _LONG[:] = [t.cpu() for t in longs]


@pytest.mark.parametrize("x_shape,w_shape,padding", [
    ((2, 0, 5, 5), (3, 0, 3, 3), 1), ((0, 0, 5, 5), (4, 0, 3, 3), 0), ((0, 5, 5), (4, 0, 3, 3), 0),
    ((2, 0, 5), (4, 0, 3), 0)], ids=str)
def test_convolution_of_an_input_without_channels(device, x_shape, w_shape, padding):
    """PyTorch's answer: an output without channels either (bias or not), an empty input
    gradient and zero weight and bias gradients."""
    torch = pytest.importorskip("torch")
    results = []
    for lib, kw in ((cltorch, {"device": device}), (torch, {})):
        x, w = (lib.zeros(s, requires_grad=True, **kw) for s in (x_shape, w_shape))
        b = lib.ones(w_shape[0], requires_grad=True, **kw)
        conv = getattr(lib.nn.functional, f"conv{len(w_shape) - 2}d")
        y = conv(x, w, b, padding=padding)
        y.sum().backward()
        results.append([tuple(t.shape) for t in (y, x.grad, w.grad)] + [b.grad.tolist()])
    assert results[0] == results[1]


def test_ungrouped_convolution_is_one_node_and_differentiates_twice(device):
    """PyTorch's ConvolutionBackward0: one node whose gradients are right to second order,
    unbatched input included."""
    needs_fp64(device)
    from cltorch.autograd import gradgradcheck
    rng = np.random.default_rng(2)
    x, w, b = (cltorch.tensor(rng.uniform(-1, 1, s), dtype=cltorch.float64, device=device,
                              requires_grad=True) for s in [(3, 4, 5), (2, 3, 2, 2), (2,)])
    y = F.conv2d(x.unsqueeze(0), w, b, padding=1)
    assert y.grad_fn.name() == "ConvolutionBackward0" and y.shape == (1, 2, 5, 6)
    assert gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1), [x, w, b], eps=1e-6,
                         atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 0, 2), (1, 3, 1)])
@pytest.mark.parametrize("dtype,channels_last", [("float32", False), ("float16", False),
                                                 ("float32", True)])
def test_convolution_with_whole_panels_matches_torch(device, kernel_style, monkeypatch, stride,
                                                     padding, dilation, dtype, channels_last):
    """A convolution big enough for a CPU device's implicit GEMM to meet every case of its
    packing (whole and ragged panels of 16 positions and of 16 taps, output rows read as
    runs and windows across the image's edge) and its weight gradient over the whole batch,
    and for a GPU's (the tiled GEMM reading the image, and the output gradient for the input
    gradient: ragged 64-wide tiles, padding, strides that skip positions, an input in
    channels-last strides), against PyTorch: output, input, weight and bias gradients (the
    implicit GEMM forced whatever the size; no column matrix is made)."""
    torch = pytest.importorskip("torch")
    from cltorch.ops import gemm, im2col
    monkeypatch.setattr(gemm, "PACKED_MIN_WORK", 0)
    if registry.get(device).kind != "cpu":
        monkeypatch.setattr(im2col, "unfold", None)  # any column matrix would fail
    if registry.get(device).kind != "cpu" and not registry.get(device).cpu_like:
        monkeypatch.setattr(im2col, "fold", None)  # a GPU's input gradient makes none either
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((3, 5, 19, 23)), rng.standard_normal((7, 5, 3, 3)) * 0.3
    b, results = rng.standard_normal(7), []
    for lib, kw in ((cltorch, {"device": device}), (torch, {})):
        dt = getattr(lib, dtype) if lib is cltorch else torch.float64
        xt, wt, bt = (lib.tensor(v, dtype=dt, requires_grad=True, **kw) for v in (x, w, b))
        if channels_last:  # the same values, the channels innermost in memory
            xt = lib.tensor(x.transpose(0, 2, 3, 1), dtype=dt, **kw).permute(0, 3, 1, 2)
            xt = xt.detach().requires_grad_()
        out = lib.nn.functional.conv2d(xt, wt, bt, stride, padding, dilation)
        g = np.random.default_rng(8).standard_normal(tuple(out.shape))
        out.backward(lib.tensor(g, dtype=dt, **kw))
        results.append([out, xt.grad, wt.grad, bt.grad])
    for got, want in zip(*results):
        assert got.dtype is getattr(cltorch, dtype)
        tol = 2e-2 if dtype == "float16" else 1e-4
        assert_close(got.float(), want.detach().numpy(), rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("dims,multiplier,kernel,stride,padding,dilation,bias,dtype", [
    (2, 1, 3, 1, 1, 1, True, "float32"), (2, 2, (3, 2), 2, (1, 0), (1, 2), False, "float32"),
    (2, 3, 5, 1, 2, 1, True, "float16"), (2, 1, 1, 2, 0, 1, True, "channels_last"),
    (1, 2, 3, 2, 1, 1, True, "float32")], ids=str)
def test_depthwise_convolution_matches_torch(device, kernel_style, monkeypatch, dims,
                                             multiplier, kernel, stride, padding, dilation,
                                             bias, dtype):
    """Depthwise convolutions (groups == input channels, one or more outputs per channel)
    against PyTorch: output, input, weight and bias gradients, with strides, dilation,
    padding, float16, an input in channels-last strides, conv1d, and every operand and the
    output gradient starting past their storage's start. A GPU runs depthwise.mako's
    direct kernels (no column matrix can be made), a CPU device their row form for floats
    (the grouped product for halves), the NumPy cpu the grouped product; the direct node is
    one ConvolutionBackward0, whose graph gradients (differentiated again) equal its direct
    ones and pass gradgradcheck."""
    torch = pytest.importorskip("torch")
    from cltorch.ops import im2col
    dev = registry.get(device)
    gpu = dev.kind != "cpu" and not dev.cpu_like
    direct = gpu or (dev.kind != "cpu" and dtype != "float16")
    if direct:
        monkeypatch.setattr(im2col, "unfold", None)  # any column matrix would fail
    rng = np.random.default_rng(10)
    c, size = 4, (9, 11) if dims == 2 else (13,)
    kernel = kernel if isinstance(kernel, tuple) else (kernel,) * dims
    x, w = rng.standard_normal((2, c) + size), rng.standard_normal((c * multiplier, 1) + kernel)
    b, results = rng.standard_normal(c * multiplier), []
    for lib, kw in ((cltorch, {"device": device}), (torch, {})):
        dt = lib.float16 if dtype == "float16" else lib.float32
        dt = torch.float64 if lib is torch else dt

        def offset(v):  # v's values in a view 3 elements into its storage
            flat = lib.tensor(np.concatenate([np.zeros(3), v.ravel()]), dtype=dt, **kw)
            return flat[3:].reshape(v.shape)
        xt, wt, bt = (offset(v).requires_grad_() for v in (x, w, b))
        if dtype == "channels_last":  # the same values, the channels innermost in memory
            xt = lib.tensor(x.transpose(0, 2, 3, 1), dtype=dt, **kw).permute(0, 3, 1, 2)
            xt = xt.detach().requires_grad_()
        conv = getattr(lib.nn.functional, f"conv{dims}d")
        out = conv(xt, wt, bt if bias else None, stride, padding, dilation, groups=c)
        out.backward(offset(np.random.default_rng(11).standard_normal(tuple(out.shape))))
        results.append([out, xt.grad, wt.grad] + ([bt.grad] if bias else []))
    if direct and dims == 2:
        assert results[0][0].grad_fn.name() == "ConvolutionBackward0"
    tol = 2e-2 if dtype == "float16" else 1e-4
    for got, want in zip(*results):
        assert got.dtype is (cltorch.float16 if dtype == "float16" else cltorch.float32)
        assert_close(got.float(), want.detach().numpy(), rtol=tol, atol=tol * 10)
    if direct and dims == 2 and dev.supports_fp64:
        monkeypatch.undo()  # differentiated again: graph ops over the columns
        from cltorch.autograd import gradgradcheck
        args = [cltorch.tensor(v[:1, :2] if v is x else v[:2 * multiplier],
                               dtype=cltorch.float64, device=device, requires_grad=True)
                for v in (x, w, b)]

        def conv(x, w, b):
            return F.conv2d(x, w, b, stride, padding, dilation, groups=2)
        y = conv(*args)
        g = cltorch.tensor(rng.standard_normal(tuple(y.shape)), dtype=cltorch.float64,
                           device=device)
        for got, want in zip(cltorch.autograd.grad(y, args, g, create_graph=True),
                             cltorch.autograd.grad(y, args, g, retain_graph=True)):
            assert_close(got.detach(), want.cpu().numpy(), rtol=1e-10, atol=1e-12)
        assert gradgradcheck(conv, args, eps=1e-6, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("shape,padding,bias,layout,dtype", [
    ((2, 3, 9, 10), 1, True, "contiguous", "float32"), ((1, 4, 7, 7), 0, False, "contiguous",
                                                        "float32"),
    ((2, 2, 6, 5), 2, True, "channels_last", "float32"), ((3, 5, 4, 3), (1, 2), True,
                                                          "strided_rows", "float64"),
    ((1, 2, 3, 3), 0, True, "contiguous", "float32")], ids=str)
def test_winograd_convolution_matches_torch(device, kernel_style, monkeypatch, shape, padding,
                                            bias, layout, dtype):
    """CLTORCH_WINOGRAD=1: a 3x3 stride-1 convolution through Winograd's tiles (outputs of odd
    sizes: clipped 2x2 blocks; padding 0 to 2, per side; strided and offset inputs; float64), its
    input gradient through the flipped kernel's, against PyTorch in float64: the output and
    every gradient."""
    torch = pytest.importorskip("torch")
    from cltorch.ops import winograd
    dev = registry.get(device)
    if dev.kind == "cpu":
        pytest.skip("the NumPy cpu convolves its columns")
    if dtype == "float64":
        needs_fp64(device)
    monkeypatch.setenv("CLTORCH_WINOGRAD", "1")
    calls, convolve = [], winograd.convolve
    monkeypatch.setattr(winograd, "convolve", lambda *a, **k: calls.append(k) or convolve(
        *a, **k))
    rng = np.random.default_rng(21)
    c = shape[1]
    x, w, b = (rng.standard_normal(s) for s in (shape, (4, c, 3, 3), (4,)))
    g = None
    results = []
    for lib, kw in ((cltorch, {"device": device}), (torch, {})):
        dt = getattr(lib, dtype) if lib is cltorch else torch.float64
        if layout == "channels_last":
            xt = lib.tensor(x.transpose(0, 2, 3, 1), dtype=dt, **kw).permute(0, 3, 1, 2)
        elif layout == "strided_rows":
            xt = lib.tensor(np.repeat(x, 2, axis=2), dtype=dt, **kw)[:, :, 1::2]
        else:
            xt = lib.tensor(x, dtype=dt, **kw)
        xt = xt.detach().requires_grad_()
        wt, bt = (lib.tensor(v, dtype=dt, requires_grad=True, **kw) for v in (w, b))
        out = lib.nn.functional.conv2d(xt, wt, bt if bias else None, padding=padding)
        g = rng.standard_normal(tuple(out.shape)) if g is None else g
        out.backward(lib.tensor(g, dtype=dt, **kw))
        results.append([out, xt.grad, wt.grad] + ([bt.grad] if bias else []))
    for got, want in zip(*results):
        assert_close(got.double(), want.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert [k.get("flip", False) for k in calls] == [False, True]


@pytest.mark.parametrize("setting", ["", "0", "1"])
def test_winograd_runs_when_asked(device, kernel_style, monkeypatch, setting):
    """Off by default (no clear win on PoCL, not measured on a GPU) and with
    CLTORCH_WINOGRAD=0; with 1 the forward and the input gradient. The gradient matches the
    other path's."""
    from cltorch.ops import winograd
    dev = registry.get(device)
    if dev.kind == "cpu":
        pytest.skip("the NumPy cpu convolves its columns")
    monkeypatch.setenv("CLTORCH_WINOGRAD", setting)
    calls, convolve = [], winograd.convolve
    monkeypatch.setattr(winograd, "convolve", lambda *a, **k: calls.append(
        k.get("flip", False)) or convolve(*a, **k))
    rng = np.random.default_rng(22)
    x = cltorch.tensor(rng.standard_normal((2, 3, 6, 7)), dtype=cltorch.float32, device=device,
                       requires_grad=True)
    w = cltorch.tensor(rng.standard_normal((4, 3, 3, 3)), dtype=cltorch.float32, device=device)
    F.conv2d(x, w, padding=1).square().sum().backward()
    assert calls == ([False, True] if setting == "1" else [])
    monkeypatch.setenv("CLTORCH_WINOGRAD", "0" if calls else "1")
    y = x.detach().requires_grad_()
    F.conv2d(y, w, padding=1).square().sum().backward()
    assert_close(x.grad, y.grad.cpu().numpy(), rtol=1e-5, atol=1e-5)


def test_winograd_setting_is_checked(monkeypatch):
    monkeypatch.setenv("CLTORCH_WINOGRAD", "yes")
    with pytest.raises(ValueError, match="CLTORCH_WINOGRAD=yes: expected 0 or 1"):
        cltorch.config.winograd()


@pytest.mark.parametrize("layout", ["contiguous", "offset", "channels_last", "one_row",
                                    "strided_rows", "strided_channels"])
def test_pointwise_convolution_reads_the_image_as_its_columns(device, kernel_style,
                                                              monkeypatch, layout):
    """A 1x1 convolution (stride 1, no padding) against PyTorch, output and every gradient:
    where the image's planes lie row after row (contiguous, from an offset, a single row,
    every other channel)
    the NumPy cpu and GPUs multiply the image itself (no column matrix, no implicit GEMM);
    other layouts (channels-last, every other row) take the usual paths."""
    torch = pytest.importorskip("torch")
    from cltorch.ops import im2col
    dev = registry.get(device)
    plain = dev.kind == "cpu" or not dev.cpu_like
    if plain and layout in ("contiguous", "offset", "one_row", "strided_channels"):
        monkeypatch.setattr(im2col, "unfold", None)  # any column matrix would fail
        monkeypatch.setattr(im2col, "conv_implicit", None)  # and so would an implicit GEMM
    rng = np.random.default_rng(12)
    shape = (2, 5, 1, 9) if layout == "one_row" else (2, 5, 7, 6)
    x, w, b = (rng.standard_normal(s) for s in (shape, (3, 5, 1, 1), (3,)))
    results = []
    for lib, kw in ((cltorch, {"device": device}), (torch, {})):
        dt = lib.float32 if lib is cltorch else torch.float64
        xt = lib.tensor(x, dtype=dt, **kw)
        if layout == "offset":
            xt = lib.tensor(np.concatenate([[0.0], x.ravel()]), dtype=dt, **kw)[1:].reshape(
                shape)
        elif layout == "channels_last":
            xt = lib.tensor(x.transpose(0, 2, 3, 1), dtype=dt, **kw).permute(0, 3, 1, 2)
        elif layout == "strided_rows":
            xt = lib.tensor(np.repeat(x, 2, axis=2), dtype=dt, **kw)[:, :, ::2]
        elif layout == "strided_channels":
            xt = lib.tensor(np.repeat(x, 2, axis=1), dtype=dt, **kw)[:, ::2]
        xt = xt.detach().requires_grad_()
        wt, bt = (lib.tensor(v, dtype=dt, requires_grad=True, **kw) for v in (w, b))
        out = lib.nn.functional.conv2d(xt, wt, bt)
        out.backward(lib.tensor(np.random.default_rng(13).standard_normal(tuple(out.shape)),
                                dtype=dt, **kw))
        results.append([out, xt.grad, wt.grad, bt.grad])
    for got, want in zip(*results):
        assert_close(got, want.detach().numpy(), rtol=1e-4, atol=1e-4)


def test_max_pool_reports_in_image_positions_and_adds_overlapping_gradients(device):
    """A window whose maximum is -inf reports its first element inside the image (PyTorch's
    index, never a padded position); overlapping windows add their gradients; one node,
    differentiable twice."""
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, :3, :3] = -np.inf
    t = cltorch.tensor(x, device=device, requires_grad=True)
    values, indices = F.max_pool2d(t, 3, 1, 1, return_indices=True)
    assert values.grad_fn.name() == "MaxPool2DWithIndicesBackward0"
    assert indices.tolist() == [[[[0, 0, 3, 3], [0, 0, 3, 3], [12, 12, 7, 7],
                                  [12, 12, 11, 11]]]]
    values.backward(cltorch.ones(values.shape, device=device))
    want = np.zeros(16, np.float32)
    np.add.at(want, np.array(indices.tolist()).reshape(-1), 1.0)
    assert_close(t.grad, want.reshape(1, 1, 4, 4))
    needs_fp64(device)
    from cltorch.autograd import gradgradcheck
    y = cltorch.tensor(np.random.default_rng(4).permutation(30).reshape(1, 2, 3, 5) / 7.0,
                       dtype=cltorch.float64, device=device, requires_grad=True)
    assert gradgradcheck(lambda y: F.max_pool2d(y, 2, 1, padding=1), [y], eps=1e-6,
                         atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode", [
    (3, 2, 1, 1, False), (2, 2, 0, 1, True), (3, 1, 1, 2, False),
    ((2, 3), (1, 2), (1, 0), 1, True),
    # disjoint windows (their gradient's gather kernel): padded, dilated, clipped by ceil_mode
    (3, 3, 1, 1, True), (2, 3, 1, 2, False), ((2, 3), (2, 4), (1, 1), 1, True)], ids=str)
def test_max_pool_with_indices_matches_torch(device, kernel_style, kernel, stride, padding,
                                             dilation, ceil_mode):
    """max_pool2d's values, indices and input gradient against PyTorch, with NaNs, ties, a
    region of -inf and windows over the padding, in each kernel style (a GPU's item per
    window, a CPU device's item per output row), and integers' values and indices."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = np.round(rng.standard_normal((2, 3, 9, 10)) * 2).astype(np.float32)  # ties
    x[0, 0, 2, 3:6] = np.nan  # windows with one NaN and with several (PyTorch keeps the last)
    x[1, 2, :4, :4] = -np.inf
    results = []
    for lib, kw in ((cltorch, {"device": device}), (torch, {})):
        t = lib.tensor(x, requires_grad=True, **kw)
        values, indices = lib.nn.functional.max_pool2d(t, kernel, stride, padding, dilation,
                                                       ceil_mode, return_indices=True)
        values.backward(lib.ones(values.shape, **kw))
        results.append((values, indices, t.grad))
    (v, i, g), (tv, ti, tg) = results
    assert_close(v, tv.detach().numpy())
    assert i.tolist() == ti.tolist()
    assert_close(g, tg.numpy())
    whole = np.nan_to_num(x, nan=7, neginf=-9).astype(np.int64)  # integers: ties everywhere
    got, want = (lib.nn.functional.max_pool2d(lib.tensor(whole, **kw), kernel, stride, padding,
                                              dilation, ceil_mode, return_indices=True)
                 for lib, kw in ((cltorch, {"device": device}), (torch, {})))
    assert [t.tolist() for t in got] == [t.tolist() for t in want]


@pytest.mark.parametrize("dims,kernel,stride,padding,ceil_mode,include_pad,override", [
    (2, 3, 2, 1, False, True, None), (2, 3, 2, 1, True, False, None),
    (2, (2, 3), (1, 2), (1, 0), True, True, 5), (2, 3, 3, 1, True, True, None),
    (1, 4, 3, 2, True, False, None), (2, 2, 3, 0, False, True, None),
    (2, 5, 1, 2, False, False, None)], ids=str)
def test_avg_pool_matches_torch(device, kernel_style, monkeypatch, dims, kernel, stride,
                                padding, ceil_mode, include_pad, override):
    """avg_pool1d/2d's values and input gradient against PyTorch: padding counted or not, a
    divisor override, ceil_mode windows past the image, ragged strides, strides past the
    kernel (positions no window holds), windows wider than the stride. A device runs the
    direct kernels (forward and gradient: no columns made; a CPU device by rows, float32 and,
    in the double gradient check, float64); the node differentiates twice."""
    torch = pytest.importorskip("torch")
    from cltorch.ops import im2col
    dev = registry.get(device)
    if dev.kind != "cpu":
        monkeypatch.setattr(im2col, "unfold", None)  # any column matrix would fail
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 9, 10) if dims == 2 else (2, 3, 11))
    g = None
    results = []
    for lib, kw in ((cltorch, {"device": device}), (torch, {})):
        t = lib.tensor(x, dtype=lib.float32, requires_grad=True, **kw)
        pool = getattr(lib.nn.functional, f"avg_pool{dims}d")
        extra = {"divisor_override": override} if dims == 2 else {}
        y = pool(t, kernel, stride, padding, ceil_mode, include_pad, **extra)
        g = np.random.default_rng(7).standard_normal(tuple(y.shape)) if g is None else g
        y.backward(lib.tensor(g, dtype=lib.float32, **kw))
        results.append((y, t.grad))
    for got, want in zip(*results):
        assert_close(got, want.detach().numpy(), rtol=1e-5, atol=1e-6)
    if dims == 2 and dev.kind != "cpu" and dev.supports_fp64:
        from cltorch.autograd import gradgradcheck
        t = cltorch.tensor(x[:1, :1], dtype=cltorch.float64, device=device, requires_grad=True)
        assert gradgradcheck(lambda t: F.avg_pool2d(t, kernel, stride, padding, ceil_mode,
                                                    include_pad, override).square(), [t],
                             eps=1e-6, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("shape,out", [
    ((2, 3, 7, 10), (3, 4)), ((1, 2, 3, 4), (5, 7)), ((2, 3, 9, 6), (4, None)),
    ((2, 3, 8, 6), (4, 3)), ((2, 3, 11), (4,)), ((3, 7), (3,))], ids=str)
def test_adaptive_pool_matches_torch(device, kernel_style, shape, out):
    """adaptive_max_pool and adaptive_avg_pool (1-D and 2-D, cells that overlap, outputs
    larger than the input, None sizes, sizes that divide) against PyTorch: values, indices
    (ties: the first maximum; several NaNs in a cell: the last; a cell of -inf: its first
    element), input gradients and, for cells, the nodes' names; the average's node
    differentiates twice."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    x = np.round(rng.standard_normal(shape) * 2).astype(np.float32)  # ties
    x.reshape(-1)[3:5] = np.nan
    x.reshape(-1)[-6:] = -np.inf
    finite = np.nan_to_num(x, nan=0.5, neginf=-3.0)
    dims, results = len(out), []
    for lib, kw in ((cltorch, {"device": device}), (torch, {})):
        functional = lib.nn.functional
        t, u = (lib.tensor(v, requires_grad=True, **kw) for v in (x, finite))
        values, indices = getattr(functional, f"adaptive_max_pool{dims}d")(
            t, out, return_indices=True)
        values.backward(lib.ones(values.shape, **kw))
        mean = getattr(functional, f"adaptive_avg_pool{dims}d")(u, out)
        g = np.random.default_rng(9).standard_normal(tuple(mean.shape))
        mean.backward(lib.tensor(g, dtype=lib.float32, **kw))
        results.append((values, indices, t.grad, mean, u.grad,
                        values.grad_fn.name(), mean.grad_fn.name()))
    got, want = results
    assert_close(got[0], want[0].detach().numpy())
    assert got[1].dtype is cltorch.int64 and got[1].tolist() == want[1].tolist()
    assert_close(got[2], want[2].numpy())
    for a, b in zip(got[3:5], want[3:5]):
        assert_close(a, b.detach().numpy(), rtol=1e-5, atol=1e-6)
    if dims == 2 and any(o and n % o for n, o in zip(shape[-2:], out)):  # cells: one node
        assert got[5:] == want[5:]
    if dims == 2 and registry.get(device).supports_fp64:
        from cltorch.autograd import gradgradcheck
        y = cltorch.tensor(finite[:1, :1], dtype=cltorch.float64, device=device,
                           requires_grad=True)
        assert gradgradcheck(lambda y: F.adaptive_avg_pool2d(y, out).square(), [y], eps=1e-6,
                             atol=1e-5, rtol=1e-3)


def test_adaptive_pool_to_an_empty_grid(device):
    """An output size of 0 gives an empty result (and empty indices), as in PyTorch."""
    x = cltorch.ones(2, 3, 5, 7, device=device, requires_grad=True)
    values, indices = F.adaptive_max_pool2d(x, (0, 3), return_indices=True)
    assert values.shape == indices.shape == (2, 3, 0, 3) and indices.dtype is cltorch.int64
    mean = F.adaptive_avg_pool2d(x, (2, 0))
    assert mean.shape == (2, 3, 2, 0)
    (values.sum() + mean.sum()).backward()
    assert_close(x.grad, np.zeros((2, 3, 5, 7), np.float32))


def test_conv_and_pool_against_numpy(device):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    got = F.conv2d(cltorch.tensor(x, device=device), cltorch.tensor(w, device=device),
                   padding=(1, 0))
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))
    want = np.zeros((2, 4, 6, 4))
    for i in range(6):
        for j in range(4):
            want[:, :, i, j] = np.einsum("nchw,ochw->no", padded[:, :, i:i + 3, j:j + 2], w)
    assert_close(got, want, rtol=1e-4, atol=1e-4)
    pooled = F.max_pool2d(cltorch.tensor(x, device=device), 2, return_indices=True)
    want_pool = x[:, :, :6, :4].reshape(2, 3, 3, 2, 2, 2).max(axis=(3, 5))
    assert_close(pooled[0], want_pool)
    unpooled = F.max_unpool2d(pooled[0], pooled[1], 2, output_size=(6, 5))
    assert_close(unpooled.amax((2, 3)), want_pool.max(axis=(2, 3)))


def test_bad_geometry_errors(device):
    x = cltorch.ones(1, 4, 3, 3, device=device)
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input"):
        F.conv2d(x, cltorch.ones(2, 4, 5, 5, device=device))
    with pytest.raises(RuntimeError, match="expected input\\[1, 4, 3, 3\\] to have 6 channels"):
        F.conv2d(x, cltorch.ones(2, 3, 1, 1, device=device), groups=2)
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 1, groups=2)
    with pytest.raises(RuntimeError, match="pad should be at most half of effective kernel"):
        F.max_pool2d(x, 2, padding=2)


def test_dropout_statistics(device):
    cltorch.manual_seed(0)
    x = cltorch.ones(20000, device=device)
    layer = nn.Dropout(0.25)
    y = layer(x)._host_values()
    assert abs((y == 0).mean() - 0.25) < 0.02 and set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    layer.eval()
    assert layer(x) is x
    channels = nn.Dropout2d(0.5)(cltorch.ones(8, 50, 3, 3, device=device))._host_values()
    assert all(len(np.unique(c)) == 1 for c in channels.reshape(400, 9))


def test_embedding_options(device):
    emb = nn.Embedding(5, 3, padding_idx=1).to(device)
    assert emb.weight[1].abs().sum().item() == 0
    out = emb(cltorch.tensor([[1, 2], [4, 1]], device=device))
    out.sum().backward()
    assert emb.weight.grad[1].abs().sum().item() == 0 and emb.weight.grad[2].sum().item() == 3
    capped = nn.Embedding(4, 2, max_norm=1.0).to(device)
    capped(cltorch.tensor([0, 3], device=device))
    norms = capped.weight.detach().norm(dim=1)._host_values()
    assert norms[0] <= 1.0 + 1e-5 and norms[3] <= 1.0 + 1e-5
    with pytest.raises(NotImplementedError, match="scale_grad_by_freq"):
        nn.Embedding(3, 2, scale_grad_by_freq=True)(cltorch.tensor([0], device=device))
    pretrained = nn.Embedding.from_pretrained(cltorch.eye(3, device=device))
    assert not pretrained.weight.requires_grad
    bag = nn.EmbeddingBag.from_pretrained(cltorch.eye(3, device=device), mode="sum")
    assert bag(cltorch.tensor([0, 1, 2, 2], device=device),
               cltorch.tensor([0, 2], device=device)).tolist() == [[1, 1, 0], [0, 0, 2]]


@pytest.mark.parametrize("kernel,stride,padding,dilation", [
    ((1, 1), (1, 1), (0, 0), (1, 1)), ((3, 3), (1, 1), (1, 1), (1, 1)),
    ((3, 1), (2, 1), (1, 0), (1, 1)), ((2, 3), (3, 2), (1, 1), (2, 1)),
    ((3, 3), (2, 2), (0, 1), (2, 3)), ((2, 2), (2, 2), (0, 0), (1, 1))], ids=str)
def test_unfold_and_fold_match_pytorch_over_window_geometries(device, kernel, stride, padding,
                                                               dilation):
    """Sliding windows (the core of conv and pooling) against PyTorch's F.unfold / F.fold."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 9)).astype(np.float32)
    want = torch.nn.functional.unfold(torch.tensor(x), kernel, dilation, padding, stride)
    got = F.unfold(cltorch.tensor(x, device=device), kernel, dilation, padding, stride)
    assert np.array_equal(got.cpu().numpy(), want.numpy())
    cols = rng.standard_normal(tuple(want.shape)).astype(np.float32)
    want = torch.nn.functional.fold(torch.tensor(cols), (7, 9), kernel, dilation, padding, stride)
    got = F.fold(cltorch.tensor(cols, device=device), (7, 9), kernel, dilation, padding, stride)
    assert_close(got, want.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape,bias,transposed", [((6, 5), True, False), ((2, 3, 5), True, False),
                                                   ((6, 5), False, False), ((5, 6), True, True)])
def test_linear_one_node_matches_pytorch_with_gradients(device, shape, bias, transposed):
    """F.linear's one-GEMM path (one AddmmBackward0 node): values, the three gradients, and a
    second derivative through create_graph, against PyTorch."""
    torch = pytest.importorskip("torch")
    needs_fp64(device)
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal(shape), rng.standard_normal((4, 5)), rng.standard_normal(4)

    def run(lib, kw):
        xt = lib.tensor(x, dtype=lib.float64, requires_grad=True, **kw)
        wt = lib.tensor(w, dtype=lib.float64, requires_grad=True, **kw)
        bt = lib.tensor(b, dtype=lib.float64, requires_grad=True, **kw) if bias else None
        inp = xt.t() if transposed else xt
        out = lib.nn.functional.linear(inp, wt, bt)
        (gx,) = lib.autograd.grad((out * out).sum(), xt, create_graph=True)
        (gx * gx).sum().backward()
        return [out, xt.grad, wt.grad] + ([bt.grad] if bias else [])

    got = run(cltorch, {"device": device})
    for g, want in zip(got, run(torch, {})):
        assert_close(g, want.detach().numpy(), rtol=1e-10, atol=1e-10)
    assert got[0].grad_fn.name() == "AddmmBackward0" or len(shape) == 3


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_nll_loss_one_node_matches_pytorch_with_ignored_targets(device, reduction):
    """nll_loss's one-node path (no class weights): values and first and second derivatives
    against PyTorch, with a target equal to ignore_index."""
    torch = pytest.importorskip("torch")
    needs_fp64(device)
    x = np.random.default_rng(2).standard_normal((5, 4))
    targets = [1, 3, -100, 0, 3]

    def run(lib, kw):
        xt = lib.tensor(x, dtype=lib.float64, requires_grad=True, **kw)
        t = lib.tensor(targets, **kw)
        loss = lib.nn.functional.nll_loss(xt.tanh(), t, reduction=reduction)
        (g,) = lib.autograd.grad((loss * loss).sum(), xt, create_graph=True)
        (g * g).sum().backward()
        return [loss, g, xt.grad]

    for got, want in zip(run(cltorch, {"device": device}), run(torch, {})):
        assert_close(got, want.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_cross_entropy_low_precision_and_all_ignored(device, dtype):
    """cross_entropy's loss and gradient in each floating dtype against PyTorch; a batch whose
    targets are all ignored has a NaN mean (0 / 0) and a zero gradient, as in PyTorch."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(5).standard_normal((6, 5)).astype(np.float32)
    for targets in ([4, 0, 2, -100, 1, 1], [-100] * 6):
        results = []
        for lib, kw in ((cltorch, {"device": device}), (torch, {})):
            xt = lib.tensor(x, dtype=getattr(lib, dtype), requires_grad=True, **kw)
            loss = lib.nn.functional.cross_entropy(xt, lib.tensor(targets, **kw))
            loss.backward()
            results.append((loss.float(), xt.grad.float()))
        (loss, grad), (want_loss, want_grad) = results
        assert_close(loss, want_loss.detach().numpy(), rtol=1e-2, atol=1e-2)
        assert_close(grad, want_grad.numpy(), rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("classes", [1, 13, 1000])
def test_fused_cross_entropy_rows_match_pytorch(device, kernel_style, reduction, classes):
    """The fused rows (one kernel forward, one backward, one node named as PyTorch's top
    node): loss and gradient against PyTorch in float64, logits read from a slice that
    starts past its storage's start, an ignored target; then first and second derivatives
    through the differentiable backward."""
    torch = pytest.importorskip("torch")
    needs_fp64(device)
    rng = np.random.default_rng(classes)
    x = rng.standard_normal((9, classes)) * 4
    targets = rng.integers(0, classes, 9)
    targets[2] = -100
    g = rng.standard_normal((9,) if reduction == "none" else ())
    results = []
    for lib, kw in ((cltorch, {"device": device}), (torch, {})):
        whole = lib.tensor(np.concatenate([x, x]), dtype=lib.float64, requires_grad=True, **kw)
        loss = lib.nn.functional.cross_entropy(whole[9:], lib.tensor(targets, **kw),
                                               reduction=reduction)
        loss.backward(lib.tensor(g, dtype=lib.float64, **kw))
        results.append((loss, whole.grad, loss.grad_fn.name()))
    (loss, grad, name), (want_loss, want_grad, want_name) = results
    assert name == want_name == "NllLossBackward0"
    assert_close(loss, want_loss.detach().numpy(), rtol=1e-10, atol=1e-10)
    assert_close(grad, want_grad.numpy(), rtol=1e-10, atol=1e-10)

    def twice(lib, kw):
        xt = lib.tensor(x, dtype=lib.float64, requires_grad=True, **kw)
        loss = lib.nn.functional.cross_entropy(xt, lib.tensor(targets, **kw),
                                               reduction=reduction)
        (gx,) = lib.autograd.grad((loss * loss).sum(), xt, create_graph=True)
        (gx * gx).sum().backward()
        return gx, xt.grad
    for got, want in zip(twice(cltorch, {"device": device}), twice(torch, {})):
        assert_close(got, want.detach().numpy(), rtol=1e-9, atol=1e-10)


def test_fused_cross_entropy_checks_its_targets(device):
    """A target outside [0, C) that is not ignore_index: PyTorch's IndexError (at the next
    sync on an accelerator), not a read outside the row."""
    x = cltorch.zeros(3, 4, device=device, requires_grad=True)
    with pytest.raises(IndexError, match="Target 4 is out of bounds."):
        cltorch.nn.functional.cross_entropy(x, cltorch.tensor([0, 4, 1], device=device)).item()


@pytest.mark.parametrize("shape,normalized,affine,dtype", [
    ((4, 7, 33), (33,), "both", "float32"), ((3, 5, 6), (5, 6), "weight", "float32"),
    ((2, 300), (300,), "none", "float32"), ((6, 1000), (1000,), "both", "float16"),
    ((5, 2048), (2048,), "both", "bfloat16"), ((0, 4), (4,), "both", "float32"),
    ((3, 7), (7,), "weight", "float32"), ((2, 8), (8,), "none", "float32"),
    ((3, 4, 23), (4, 23), "both", "float64")])
def test_fused_layer_norm_matches_pytorch(device, kernel_style, shape, normalized, affine,
                                          dtype):
    """The fused kernels (forward: values, mean, 1/std; backward: the input gradient and
    g * xhat for the weight's) against PyTorch in float64, through a transposed input. Rows
    shorter than, equal to and longer than a CPU vector, with and without a scalar tail."""
    torch = pytest.importorskip("torch")
    if dtype == "float64":
        needs_fp64(device)
    rng = np.random.default_rng(len(shape) + shape[-1])
    x, g = (rng.standard_normal(shape).astype(np.float32) * 3 + 1 for _ in range(2))
    w, b = (rng.standard_normal(normalized).astype(np.float32) for _ in range(2))
    keep = {"both": (True, True), "weight": (True, False), "none": (False, False)}[affine]

    def run(m, make):
        tx, tg = make(x), make(g)
        tw, tb = (make(a) if k else None for a, k in zip((w, b), keep))
        y = m.nn.functional.layer_norm(tx, normalized, tw, tb)
        y.backward(tg)
        return [y, tx.grad] + [t.grad for t in (tw, tb) if t is not None]

    dt = getattr(cltorch, dtype)
    ours = run(cltorch, lambda a: cltorch.tensor(a, device=device).to(dt).requires_grad_())
    theirs = run(torch, lambda a: torch.tensor(a, dtype=torch.float64).to(
        getattr(torch, dtype)).double().requires_grad_())
    rtol, atol = {"float32": (1e-4, 1e-4), "float16": (2e-2, 2e-2), "float64": (1e-9, 1e-9),
                  "bfloat16": (3e-2, 1e-1)}[dtype]
    for got, want in zip(ours, theirs):
        got = got.double() if dtype == "float64" else got.float()
        assert_close(got, want.detach().numpy(), rtol=rtol, atol=atol * max(
            1, np.abs(want.detach().numpy()).max(initial=0) / 10))


def test_fused_layer_norm_strided_and_double_backward(device):
    """A non-contiguous input, a weight view with an offset, and a gradient of the gradient
    (the recorded backward recomputes the statistics from x, so that it has one)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    a = rng.standard_normal((6, 5)).astype(np.float32)
    wb = rng.standard_normal(12).astype(np.float32)

    def run(m, make):
        x, w = make(a), make(wb)
        y = m.nn.functional.layer_norm(x.t(), (6,), w[3:9], w[6:12])
        gx, gw = m.autograd.grad((y * y.sin()).sum(), (x, w), create_graph=True)
        (gx.square().sum() + gw.square().sum()).backward()
        return [y, gx, gw, x.grad, w.grad]

    ours = run(cltorch, lambda v: cltorch.tensor(v, device=device, requires_grad=True))
    theirs = run(torch, lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True))
    for got, want in zip(ours, theirs):
        assert_close(got, want.detach().numpy(), rtol=1e-4, atol=1e-4)
