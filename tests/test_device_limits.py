"""Kernels fit the limits of the kernel and the device: a kernel that allows fewer work-items
per group than the device (CL_KERNEL_WORK_GROUP_SIZE, lower for kernels that need many
registers or much local memory) is launched in groups it allows, with the right numbers, and
the tiled GEMM gives way to the blocked one where it does not fit."""
import numpy as np
import pytest
from conftest import assert_close

import cltorch
from cltorch.ops import tuning
from cltorch.backend import registry
from cltorch.ops import pointwise

CAP = 32


@pytest.fixture
def capped(device, monkeypatch):
    """The device under test with every kernel's work-group limit capped at CAP and its
    GPU-style kernels (work-groups, barriers, local memory) chosen; yields the local sizes of
    the launches."""
    dev = registry.get(device)
    if dev.kind != "opencl":
        pytest.skip("per-kernel work-group limits are OpenCL's")
    real = type(dev)._work_group_limit
    monkeypatch.setattr(type(dev), "_work_group_limit",
                        lambda self, kernel: min(CAP, real(self, kernel)))
    sizes, enqueue = [], dev._enqueue

    def spy(queue, kernel, global_size, local_size):
        sizes.append(local_size[0])
        return enqueue(queue, kernel, global_size, local_size)
    monkeypatch.setattr(dev, "_enqueue", spy)
    monkeypatch.setattr(dev, "cpu_like", False)
    _forget_kernels(dev)
    yield sizes
    _forget_kernels(dev)  # later tests build their kernels without the cap


def _forget_kernels(dev):
    dev.kernels.clear()
    dev.plans.clear()
    pointwise._RUNNERS.clear()


def test_launches_fit_a_kernel_that_allows_fewer_items(device, capped):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((37, 300)).astype(np.float32)
    b = rng.standard_normal((300, 90)).astype(np.float32)
    x, y = cltorch.tensor(a, device=device), cltorch.tensor(b, device=device)
    assert_close(x.sum(1), a.sum(1), rtol=1e-4, atol=1e-4)
    assert_close(x.sum(0), a.sum(0), rtol=1e-4, atol=1e-4)
    assert_close(x.reshape(-1).sum(), a.sum(), rtol=1e-4, atol=1e-3)
    assert x.argmax(1).tolist() == a.argmax(1).tolist()
    want = np.exp(a - a.max(1, keepdims=True))
    assert_close(x.softmax(1), want / want.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)
    assert_close(x @ y, a @ b, rtol=1e-4, atol=1e-3)  # the tiled GEMM wants 256: blocked
    assert_close(x @ y[:, 0], a @ b[:, 0], rtol=1e-4, atol=1e-3)
    assert_close(x.cumsum(1), a.cumsum(1), rtol=1e-4, atol=1e-3)
    assert_close(x + 1, a + 1)
    assert capped and max(capped) <= CAP, sorted(set(capped))


def test_tiled_gemm_needs_its_local_memory(device, monkeypatch):
    """With less local memory than the tuned tile's (64 x 64, 256 items: 8320 bytes of
    float), matmul takes the small tile (32 x 32, 64 items: 4224 bytes); with less than that,
    the blocked kernel (8 x 8 outputs an item, no local memory); the same numbers each way."""
    dev = registry.get(device)
    if dev.kind != "opencl":
        pytest.skip("an OpenCL device's local memory")
    monkeypatch.setattr(dev, "cpu_like", False)
    monkeypatch.setattr(tuning, "DEFAULTS", {k: {c: tuning.MEDIUM._asdict() for c in v}
                                             for k, v in tuning.DEFAULTS.items()})
    launches = []
    launch = dev.launch

    def spy(kernel, n_items, args, local=None):
        launches.append((n_items, local))
        return launch(kernel, n_items, args, local)
    monkeypatch.setattr(dev, "launch", spy)
    a = np.arange(70 * 40, dtype=np.float32).reshape(70, 40) / 100
    x = cltorch.tensor(a, device=device)
    for memory, used in ((dev.local_memory, (2 * 2 * 256, 256)), (8192, (3 * 3 * 64, 64)),
                         (4096, (9 * 9, min(64, dev.local_size)))):
        monkeypatch.setattr(dev, "local_memory", memory)
        tuning.forget(dev)  # the tile is memoised per device; its limits do not change
        launches.clear()
        assert_close(x @ x.t(), a @ a.T, rtol=1e-4, atol=1e-3)
        assert launches == [used], (memory, launches)
    tuning.forget(dev)


def test_implicit_convolution_needs_the_tiled_kernel(device, monkeypatch):
    """A GPU-style device convolves in the tiled GEMM reading the image (no column matrix);
    with less local memory than its tiles, through columns and the blocked GEMM instead:
    the same numbers, forward and backward, against PyTorch."""
    torch = pytest.importorskip("torch")
    dev = registry.get(device)
    if dev.kind != "opencl":
        pytest.skip("an OpenCL device's local memory")
    monkeypatch.setattr(dev, "cpu_like", False)
    from cltorch.ops import im2col
    unfolds, unfold = [], im2col.unfold

    def spy(*args):
        unfolds.append(args[0]._shape)
        return unfold(*args)
    monkeypatch.setattr(im2col, "unfold", spy)
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 3, 9, 11)), rng.standard_normal((4, 3, 3, 3))
    tx, tw = (torch.tensor(v, requires_grad=True) for v in (x, w))
    want = torch.nn.functional.conv2d(tx, tw, padding=1)
    want.square().sum().backward()
    for memory, columns in ((dev.local_memory, False), (4096, True)):
        monkeypatch.setattr(dev, "local_memory", memory)
        tuning.forget(dev)  # the tile is memoised per device; its limits do not change
        unfolds.clear()
        cx, cw = (cltorch.tensor(v, dtype=cltorch.float32, device=device, requires_grad=True)
                  for v in (x, w))
        got = cltorch.nn.functional.conv2d(cx, cw, padding=1)
        got.square().sum().backward()
        for a, b in ((got, want), (cx.grad, tx.grad), (cw.grad, tw.grad)):
            assert_close(a, b.detach().numpy(), rtol=1e-4, atol=1e-4)
        assert bool(unfolds) == columns, (memory, unfolds)
    tuning.forget(dev)
