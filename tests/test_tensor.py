"""Tensor core on every device: creation, views sharing storage, indexing, copies, host access."""
import numpy as np
import pytest
from conftest import assert_close, needs_fp64

import cltorch


def test_creation(device):
    assert_close(cltorch.zeros(2, 3, device=device), np.zeros((2, 3)))
    assert_close(cltorch.ones((2, 3), dtype=cltorch.int32, device=device), np.ones((2, 3)))
    assert_close(cltorch.full((2,), 7, device=device), np.full(2, 7))
    assert cltorch.full((2,), 7).dtype is cltorch.int64
    assert cltorch.full((2,), True).dtype is cltorch.bool
    assert_close(cltorch.arange(5, device=device), np.arange(5))
    assert_close(cltorch.arange(1, 2, 0.25, device=device), np.arange(1, 2, 0.25))
    assert_close(cltorch.linspace(-1, 1, 5, device=device), np.linspace(-1, 1, 5))
    assert_close(cltorch.logspace(0, 3, 4, device=device), np.logspace(0, 3, 4), rtol=1e-6)
    assert_close(cltorch.eye(3, 4, device=device), np.eye(3, 4))
    x = cltorch.tensor([[1, 2], [3, 4]], device=device)
    for like in (cltorch.zeros_like, cltorch.ones_like, cltorch.empty_like):
        y = like(x)
        assert y.shape == x.shape and y.dtype is x.dtype and y.device == x.device
    assert_close(cltorch.full_like(x, 3), np.full((2, 2), 3))
    assert cltorch.empty(0, 3, device=device).numel() == 0


def test_dtype_inference():
    assert cltorch.tensor([1, 2]).dtype is cltorch.int64
    assert cltorch.tensor([1.0, 2]).dtype is cltorch.float32
    assert cltorch.tensor([True]).dtype is cltorch.bool
    assert cltorch.tensor(np.zeros(2)).dtype is cltorch.float64
    assert cltorch.tensor(np.zeros(2, np.int16)).dtype is cltorch.int16
    assert cltorch.arange(3.0).dtype is cltorch.float32
    with pytest.raises(ValueError, match="too many dimensions 'str'"):  # PyTorch's error
        cltorch.tensor(["a"])
    with pytest.raises(TypeError, match="numpy.complex128"):
        cltorch.from_numpy(np.zeros(2, complex))


def test_legacy_constructors():
    assert cltorch.Tensor(2, 3).shape == (2, 3) and cltorch.Tensor(2, 3).dtype is cltorch.float32
    assert cltorch.Tensor([1, 2]).tolist() == [1.0, 2.0]
    assert cltorch.LongTensor([1, 2]).dtype is cltorch.int64
    assert cltorch.FloatTensor(3).shape == (3,)
    assert isinstance(cltorch.tensor([1.0]), cltorch.FloatTensor)
    assert not isinstance(cltorch.tensor([1]), cltorch.FloatTensor)
    assert cltorch.tensor([1.0]).type() == "torch.FloatTensor"
    assert cltorch.tensor([1.0]).type("torch.DoubleTensor").dtype is cltorch.float64


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int8", "uint8",
                                   "int16", "int32", "int64", "bool"])
def test_round_trip_every_dtype(device, dtype):
    if dtype == "float64":
        needs_fp64(device)
    values = np.array([[0, 1, 2], [3, 4, 5]]) % (2 if dtype == "bool" else 6)
    x = cltorch.tensor(values, dtype=getattr(cltorch, dtype), device=device)
    assert x.dtype.name == dtype and x.element_size() == x.dtype.itemsize
    assert x.tolist() == values.astype(dtype if dtype not in ("bfloat16",) else "float32").tolist()
    assert_close(x.t().contiguous(), values.T.astype(x.dtype.numpy))


def test_views_share_storage(device):
    base = cltorch.arange(24.0, device=device)
    x = base.view(2, 3, 4)
    assert x.storage().data_ptr() == base.storage().data_ptr()
    views = [x.view(6, -1), x.reshape(4, 6), x.flatten(), x.permute(2, 0, 1), x.transpose(0, 2),
             x[1], x[:, 1:, ::2], x[..., 1], x[None, 0], x.narrow(2, 1, 2), x.select(1, 2),
             x.unsqueeze(1), x[:, :1].squeeze(1), x[:1].expand(5, 3, 4), x.unbind(2)[3]]
    for v in views:
        assert v.storage().data_ptr() == base.storage().data_ptr()
    ref = np.arange(24.0).reshape(2, 3, 4)
    refs = [ref.reshape(6, 4), ref.reshape(4, 6), ref.ravel(), ref.transpose(2, 0, 1),
            ref.swapaxes(0, 2), ref[1], ref[:, 1:, ::2], ref[..., 1], ref[None, 0],
            ref[:, :, 1:3], ref[:, 2], ref[:, None], ref[:, 0], np.broadcast_to(ref[:1],
                                                                                  (5, 3, 4)),
            ref[:, :, 3]]
    for v, r in zip(views, refs):
        assert_close(v, r)
    x[0, 0, 0] = 100.0
    assert base[0].item() == 100.0
    assert_close(x[0].t(), np.where(ref[0] == 0, 100, ref[0]).T)


def test_view_errors():
    x = cltorch.arange(6.0).view(2, 3).t()
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.view(6)
    assert_close(x.reshape(6), np.arange(6.0).reshape(2, 3).T.ravel())
    with pytest.raises(RuntimeError, match="shape '\\[4, -1\\]' is invalid for input of size 6"):
        x.reshape(4, -1)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.size(2)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        x[3]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[::-1]
    with pytest.raises(RuntimeError, match="expanded size"):
        x.expand(3, 3)


def test_metadata():
    x = cltorch.zeros(2, 3, 4)
    assert x.shape == cltorch.Size([2, 3, 4]) and repr(x.shape) == "torch.Size([2, 3, 4])"
    assert x.size() == (2, 3, 4) and x.size(-1) == 4 and x.dim() == 3 and x.ndim == 3
    assert x.stride() == (12, 4, 1) and x.stride(0) == 12 and x.numel() == 24
    y = x.permute(2, 0, 1)[1:]
    assert y.stride() == (1, 12, 4) and y.storage_offset() == 1
    assert x.is_contiguous() and not y.is_contiguous() and y.contiguous().is_contiguous()
    assert len(x) == 2 and [t.shape for t in x] == [(3, 4), (3, 4)]
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(cltorch.tensor(1.0))


def test_copy_and_to(device):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = cltorch.tensor(a, device=device)
    assert x.to(device) is x and x.to(cltorch.float32) is x
    assert x.cpu().device == cltorch.device("cpu")
    assert_close(x.to(cltorch.int32), a.astype(np.int32))
    assert_close(x.half().float(), a)
    assert_close(x.bool(), a != 0)
    assert_close(x.long().double() if cltorch.backend.get(device).supports_fp64 else x, a)
    y = cltorch.zeros(3, 2, dtype=cltorch.float16, device=device)
    y.copy_(x.t())
    assert_close(y, a.T)
    z = cltorch.zeros(2, 3)
    z.copy_(x)  # across devices
    assert_close(z, a)
    z.copy_(cltorch.tensor([1.0, 2.0, 3.0], device=device))  # broadcast
    assert_close(z, np.tile([1.0, 2.0, 3.0], (2, 1)))
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        z.copy_(cltorch.ones(4, 2, 3, device=device))
    c = x.clone()
    c.fill_(5)
    assert_close(x, a)


def test_host_access(device):
    x = cltorch.tensor([[1.5, 2.0]], device=device)
    assert x.tolist() == [[1.5, 2.0]]
    assert x[0, 0].item() == 1.5 and float(x[0, 1]) == 2.0 and int(x[0, 0]) == 1
    assert np.asarray(x).tolist() == [[1.5, 2.0]]
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted"):
        x.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)
    if device != "cpu":
        with pytest.raises(TypeError, match="Use Tensor.cpu\\(\\)"):
            x.numpy()


def test_from_numpy_shares_memory():
    a = np.arange(12.0).reshape(3, 4)
    x = cltorch.from_numpy(a)
    x[0, 0] = 42.0
    assert a[0, 0] == 42.0
    a[1, 1] = -1.0
    assert x[1, 1].item() == -1.0
    s = cltorch.from_numpy(a[:, ::2])
    assert s.stride() == (4, 2) and s.tolist() == a[:, ::2].tolist()
    assert x.numpy() is not a and np.shares_memory(x.numpy(), a)
    with pytest.raises(ValueError, match="negative"):
        cltorch.from_numpy(a[::-1])


def test_default_device_and_dtype(monkeypatch):
    cltorch.set_default_device("cpu")
    try:
        assert cltorch.zeros(1).device == cltorch.device("cpu")
        cltorch.set_default_dtype(cltorch.float64)
        assert cltorch.tensor([1.0]).dtype is cltorch.float64
        assert (cltorch.tensor([1]) / 2).dtype is cltorch.float64
    finally:
        cltorch.set_default_dtype(cltorch.float32)
        cltorch.set_default_device(None)
    with pytest.raises(TypeError):
        cltorch.set_default_dtype(cltorch.int32)


def test_device_strings():
    d = cltorch.device("opencl:1")
    assert (d.type, d.index, str(d), repr(d)) == ("opencl", 1, "opencl:1",
                                                   "device(type='opencl', index=1)")
    assert cltorch.device("cuda", 0) == "cuda:0" and cltorch.device("cpu") == "cpu"
    with pytest.raises(RuntimeError, match="Expected one of cpu, opencl, cuda"):
        cltorch.device("tpu")
    with pytest.raises(RuntimeError, match="Invalid device string"):
        cltorch.device("cuda:x")


def test_missing_backend_is_a_clear_error():
    if cltorch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError, match="cuda"):
        cltorch.zeros(1, device="cuda")
    assert cltorch.cuda.device_count() == 0


def test_printing_basics():
    assert repr(cltorch.tensor([1.0, 2.0, 3.0])) == "tensor([1., 2., 3.])"
    assert repr(cltorch.tensor(3.5)) == "tensor(3.5000)"
    assert repr(cltorch.tensor([1, 2], dtype=cltorch.int32)) == \
        "tensor([1, 2], dtype=torch.int32)"
    assert repr(cltorch.zeros(0, 3)) == "tensor([], size=(0, 3))"
    assert repr(cltorch.tensor([1e-5, 1.0])) == "tensor([1.0000e-05, 1.0000e+00])"
    assert "..." in repr(cltorch.zeros(2000))
    cltorch.set_printoptions(precision=2)
    try:
        assert repr(cltorch.tensor([1.2345])) == "tensor([1.23])"
    finally:
        cltorch.set_printoptions(profile="default")


def test_printing_on_devices(device):
    x = cltorch.arange(6.0, device=device).view(2, 3)
    suffix = "" if device == "cpu" else f", device='{device}'"
    assert repr(x) == f"tensor([[0., 1., 2.],\n        [3., 4., 5.]]{suffix})"
    big = cltorch.arange(5000, device=device).view(50, 100)
    text = repr(big)
    assert text.startswith("tensor([[   0,    1,    2,  ...,   97,   98,   99],")
    assert "[4900, 4901, 4902,  ..., 4997, 4998, 4999]]" in text


def test_out_of_memory_is_a_clear_error_and_keeps_data(device):
    x = cltorch.arange(5.0, device=device)
    with pytest.raises(cltorch.OutOfMemoryError, match="out of memory"):
        cltorch.empty(2 ** 48, device=device)
    assert_close(x, np.arange(5.0))
    assert_close(x + 1, np.arange(1.0, 6.0))


def _run_python(code, **env):
    import os
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, check=True).stdout


def test_import_without_optional_backends():
    out = _run_python(
        "import sys\n"
        "sys.modules['pyopencl'] = sys.modules['cuda'] = None  # as if not installed\n"
        "import cltorch\n"
        "print(cltorch.opencl.is_available(), cltorch.cuda.device_count())\n"
        "print((cltorch.ones(2) * 3).tolist())\n"
        "try:\n"
        "    cltorch.zeros(1, device='opencl')\n"
        "except cltorch.BackendUnavailable as err:\n"
        "    print(err)\n")
    lines = out.splitlines()
    assert lines[0] == "False 0" and lines[1] == "[3.0, 3.0]"
    assert "pip install" in lines[2] and "pyopencl" in lines[2]


def test_default_device_from_environment():
    if not cltorch.opencl.is_available():
        pytest.skip("no OpenCL device")
    out = _run_python("import cltorch; print(cltorch.zeros(1).device)", CLTORCH_DEVICE="opencl")
    assert out.strip() == "opencl:0"


def test_numpy_array_is_a_fresh_view_of_the_cpu_tensor():
    """cpu tensors keep their NumPy views on the storage (ops/array.py cpu_view); numpy()
    hands out a new array object over the same memory, so reshaping it in place leaves the
    tensor's own view alone, while writes still reach the tensor."""
    t = cltorch.arange(6.0).reshape(2, 3)
    t + 1  # the storage now holds a cached view for this layout
    a = t.numpy()
    a.shape = (3, 2)
    a[0, 0] = 10.0
    assert (t + 1).tolist() == [[11.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert t.numpy().shape == (2, 3)


def test_clone_of_a_fresh_result_owns_its_memory(device):
    """A result's cached NumPy view must not let an identity op (clone) alias its memory."""
    b = cltorch.tensor([1.0, 2.0], device=device) * 2
    c = b.clone()
    b.add_(1)
    assert c.tolist() == [2.0, 4.0] and b.tolist() == [3.0, 5.0]


def test_pin_memory_copies_once_and_only_cpu_tensors(device):
    x = cltorch.arange(6.0).reshape(2, 3).t()  # not contiguous: the pinned copy is dense
    pinned = x.pin_memory()
    assert not x.is_pinned() and pinned.is_pinned() and pinned.pin_memory() is pinned
    assert pinned.tolist() == x.tolist() and pinned.is_contiguous()
    assert cltorch.tensor([1, 2], pin_memory=True).is_pinned()
    if device != "cpu":
        with pytest.raises(RuntimeError, match="only dense CPU tensors can be pinned"):
            cltorch.ones(2, device=device).pin_memory()
        with pytest.raises(RuntimeError, match="Only dense CPU tensors can be pinned"):
            cltorch.tensor([1.0], device=device, pin_memory=True)


def test_non_blocking_copy_from_pinned_memory_lands_after_the_source_is_gone(device):
    """The copy is enqueued from the pinned tensor's own memory and not waited for; the
    device keeps that memory alive until it has landed (positional flags as in PyTorch)."""
    values = np.random.default_rng(0).standard_normal(1 << 16).astype(np.float32)
    source = cltorch.tensor(values).pin_memory()
    moved = source.to(device, cltorch.float32, True)  # non_blocking, positionally
    dev = moved._storage.device
    if dev.kind == "opencl":
        assert len(dev._in_flight) >= 1  # not waited for: the event is held instead
    del source
    into = cltorch.zeros(1 << 16, device=device)
    into.copy_(cltorch.tensor(values, pin_memory=True), non_blocking=True)
    assert_close(moved, values)
    assert_close(into, values)
    dev.synchronize()
    if dev.kind == "opencl":
        assert len(dev._in_flight) == 0
