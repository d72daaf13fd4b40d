"""Mixed precision: autocast's op lists and GradScaler's scaling, skipping and state, against
PyTorch where it is installed."""
import math

import numpy as np
import pytest

import cltorch
import cltorch.nn.functional as F
from cltorch.backend import registry

from conftest import assert_close

rng = np.random.default_rng(0)
A = rng.standard_normal((4, 6)).astype(np.float32)
W = rng.standard_normal((3, 6)).astype(np.float32)
IMG = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
KER = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
TARGET = np.array([0, 2, 1, 2])

# op -> (its form for a namespace m, the dtype it gives under autocast on cpu, on a GPU:
# "low" or "float32"). The cpu column is PyTorch's CPU list (checked against PyTorch below),
# the GPU column CUDA's list, which cuda and opencl follow.
OPS = {
    "matmul": (lambda m, x, w: x @ w.t(), "low", "low"),
    "linear": (lambda m, x, w: m.nn.functional.linear(x, w), "low", "low"),
    "conv2d": (lambda m, x, w: m.nn.functional.conv2d(m.tensor(IMG).to(x.device),
                                                      m.tensor(KER).to(x.device)), "low", "low"),
    "mv": (lambda m, x, w: m.mv(x, w[0]), "float32", "low"),
    "relu of matmul": (lambda m, x, w: (x @ w.t()).relu(), "low", "low"),
    "softmax": (lambda m, x, w: (x @ w.t()).softmax(-1), "low", "float32"),
    "log_softmax": (lambda m, x, w: m.nn.functional.log_softmax(x @ w.t(), 1), "low",
                    "float32"),
    "layer_norm": (lambda m, x, w: m.nn.functional.layer_norm(x @ w.t(), (3,)), "low",
                   "float32"),
    "sum": (lambda m, x, w: (x @ w.t()).sum(), "low", "float32"),
    "prod": (lambda m, x, w: (x @ w.t()).prod(), "float32", "float32"),
    "cross_entropy": (lambda m, x, w: m.nn.functional.cross_entropy(
        x @ w.t(), m.tensor(TARGET).to(x.device)), "float32", "float32"),
    "mse_loss": (lambda m, x, w: m.nn.functional.mse_loss(x @ w.t(), x[:, :3]), "float32",
                 "float32"),
    "float32 input to add": (lambda m, x, w: x + 1, "float32", "float32"),
}


def _under_autocast(m, device_type, dtype, fn, device):
    x, w = m.tensor(A).to(device), m.tensor(W).to(device)
    with m.autocast(device_type, dtype=dtype):
        return fn(m, x, w)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("low", ["float16", "bfloat16"])
def test_autocast_op_dtypes_and_values(name, low, device):
    fn, cpu_policy, gpu_policy = OPS[name]
    device_type = "cpu" if device == "cpu" else device.split(":")[0]
    policy = cpu_policy if device == "cpu" else gpu_policy
    low_dtype = getattr(cltorch, low)
    out = _under_autocast(cltorch, device_type, low_dtype, fn, device)
    assert out.dtype is (low_dtype if policy == "low" else cltorch.float32)
    outside = fn(cltorch, cltorch.tensor(A).to(device), cltorch.tensor(W).to(device))
    assert outside.dtype is cltorch.float32  # no effect outside the region
    torch = pytest.importorskip("torch")
    want = _under_autocast(torch, "cpu", getattr(torch, low), fn, "cpu")
    if device == "cpu":
        assert str(want.dtype) == str(out.dtype)
    assert_close(out.float(), want.float().detach().numpy(), rtol=3e-2, atol=3e-2)


def test_autocast_regions_nest_decorate_and_switch_off(device):
    device_type = "cpu" if device == "cpu" else device.split(":")[0]
    x = cltorch.ones(2, 2, device=device)
    with cltorch.autocast(device_type, dtype=cltorch.bfloat16):
        assert (x @ x).dtype is cltorch.bfloat16 and cltorch.is_autocast_enabled(device_type)
        with cltorch.autocast(device_type, enabled=False):
            assert (x @ x).dtype is cltorch.float32
        assert (x @ x).dtype is cltorch.bfloat16
        other = "cpu" if device_type != "cpu" else "opencl"
        with cltorch.autocast(other, dtype=cltorch.float16):  # another device type: no effect
            assert (x @ x).dtype is cltorch.bfloat16
    assert not cltorch.is_autocast_enabled(device_type)

    @cltorch.autocast(device_type, dtype=cltorch.float16)
    def product(a):
        return a @ a
    assert product(x).dtype is cltorch.float16
    with pytest.raises(RuntimeError, match="unsupported autocast device_type 'tpu'"):
        cltorch.autocast("tpu")
    with pytest.raises(RuntimeError, match="not supported"):
        cltorch.autocast("cpu", dtype=cltorch.float64)


def test_autocast_gradients_reach_float32_parameters(device):
    device_type = "cpu" if device == "cpu" else device.split(":")[0]
    w = cltorch.tensor(W, device=device, requires_grad=True)
    x = cltorch.tensor(A, device=device)
    with cltorch.autocast(device_type, dtype=cltorch.float16):
        loss = F.cross_entropy(x @ w.t(), cltorch.tensor(TARGET, device=device))
    loss.backward()
    assert w.grad.dtype is cltorch.float32
    w64 = cltorch.tensor(W, requires_grad=True)
    F.cross_entropy(cltorch.tensor(A) @ w64.t(), cltorch.tensor(TARGET)).backward()
    assert_close(w.grad, w64.grad.numpy(), rtol=1e-2, atol=1e-2)


def _scaler_run(m, scaler, device, grads):
    """Steps of SGD where the gradients are given (inf where an overflow is simulated)."""
    p = m.nn.Parameter(m.ones(3, device=device))
    opt = m.optim.SGD([p], lr=0.1)
    trace = []
    for g in grads:
        opt.zero_grad()
        (scaler.scale((p * m.tensor(g, device=device)).sum())).backward()
        scaler.step(opt)
        scaler.update()
        trace.append((scaler.get_scale(), p.detach().cpu().numpy().tolist()))
    return trace


GRADS = [[1.0, 2.0, 3.0], [math.inf, 1.0, 1.0], [0.5, 0.5, 0.5], [1.0, math.nan, 1.0],
         [1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [1.0, 1.0, 1.0]]


def test_grad_scaler_matches_pytorch(device):
    scaler = cltorch.amp.GradScaler("cpu", init_scale=2.0 ** 10, growth_interval=2)
    trace = _scaler_run(cltorch, scaler, device, GRADS)
    assert trace[1][1] == trace[0][1]  # the inf step was skipped
    assert trace[1][0] == trace[0][0] / 2  # and the scale backed off
    state = scaler.state_dict()
    torch = pytest.importorskip("torch")
    reference = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10, growth_interval=2)
    want = _scaler_run(torch, reference, "cpu", GRADS)
    for (scale, values), (want_scale, want_values) in zip(trace, want):
        assert scale == want_scale
        np.testing.assert_allclose(values, want_values, rtol=1e-6)
    assert state == {k: (v.item() if hasattr(v, "item") else v)
                     for k, v in reference.state_dict().items()}
    fresh = cltorch.amp.GradScaler("cpu")
    fresh.load_state_dict(state)
    assert fresh.get_scale() == scaler.get_scale()


def test_grad_scaler_rules():
    scaler = cltorch.amp.GradScaler("cpu")
    p = cltorch.nn.Parameter(cltorch.ones(2))
    opt = cltorch.optim.SGD([p], lr=1.0)
    scaler.scale(p.sum()).backward()
    scaler.unscale_(opt)
    assert p.grad.tolist() == [1.0, 1.0]  # unscaled in place
    with pytest.raises(RuntimeError, match="unscale_\\(\\) has already been called"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="unscale_\\(\\) is being called after step"):
        scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        scaler.step(opt, closure=lambda: None)
    scaler.update()
    disabled = cltorch.amp.GradScaler("cpu", enabled=False)
    loss = p.sum()
    assert disabled.scale(loss) is loss and disabled.state_dict() == {}
    registry.accelerators.cache_clear()
    if not cltorch.cuda.is_available():
        with pytest.warns(UserWarning, match="CUDA is not available"):
            assert not cltorch.cuda.amp.GradScaler().is_enabled()


def test_older_spellings(device):
    x = cltorch.ones(2, 2, device=device)
    with cltorch.cpu.amp.autocast():
        assert (cltorch.ones(2, 2) @ cltorch.ones(2, 2)).dtype is cltorch.bfloat16
    with cltorch.cuda.amp.autocast(dtype=cltorch.bfloat16):
        under = (x @ x).dtype
    on_accelerator = registry.get(device) in registry.accelerators()
    assert under is (cltorch.bfloat16 if on_accelerator else cltorch.float32)
    assert cltorch.get_autocast_dtype("cpu") is cltorch.bfloat16
    assert cltorch.amp.custom_fwd(device_type="cpu")(lambda t: t)(x) is x
