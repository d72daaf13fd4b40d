"""Bad input that used to corrupt memory or kill the process (issue 11, first part): gradients
and optimizer state that do not match their parameter, and allocations past the device's
memory limit. Each must raise PyTorch's error before any kernel runs."""
import os
import subprocess
import sys

import numpy as np
import pytest

import cltorch
from cltorch.backend import registry

OPTIMIZERS = {
    "SGD momentum": lambda ps: cltorch.optim.SGD(ps, lr=0.1, momentum=0.9),
    "Adam": lambda ps: cltorch.optim.Adam(ps),
    "AdamW amsgrad": lambda ps: cltorch.optim.AdamW(ps, amsgrad=True),
    "Adamax": lambda ps: cltorch.optim.Adamax(ps),
    "NAdam": lambda ps: cltorch.optim.NAdam(ps),
    "RAdam": lambda ps: cltorch.optim.RAdam(ps),
    "RMSprop": lambda ps: cltorch.optim.RMSprop(ps, momentum=0.5),
    "Adagrad": lambda ps: cltorch.optim.Adagrad(ps),
    "Adadelta": lambda ps: cltorch.optim.Adadelta(ps),
    "Rprop": lambda ps: cltorch.optim.Rprop(ps),
    "ASGD": lambda ps: cltorch.optim.ASGD(ps),
}


def test_assigned_gradients_must_match(device):
    p = cltorch.nn.Parameter(cltorch.ones(3, device=device))
    with pytest.raises(RuntimeError, match="assigned grad has data of a different size"):
        p.grad = cltorch.ones(4, device=device)
    with pytest.raises(RuntimeError, match="assigned grad has data of a different type"):
        p.grad = cltorch.ones(3, dtype=cltorch.float16, device=device)
    other = "opencl:0" if device == "cpu" and registry.device_count("opencl") else "cpu"
    if other != device:
        with pytest.raises(RuntimeError, match="located on a different device"):
            p.grad = cltorch.ones(3, device=other)
    with pytest.raises(TypeError, match="Tensor or None but got grad of type int"):
        p.grad = 3
    with pytest.raises(RuntimeError, match="its own grad"):
        p.grad = p
    p.grad = cltorch.full((3,), 2.0, device=device)
    del p.grad
    assert p.grad is None


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_step_refuses_state_of_another_shape(name, device):
    p = cltorch.nn.Parameter(cltorch.ones(3, device=device))
    opt = OPTIMIZERS[name]([p])
    p.grad = cltorch.ones(3, device=device)
    opt.step()  # creates the state
    p.data = cltorch.full((4,), 5.0, device=device)  # allowed, as in PyTorch
    p.grad = cltorch.ones(4, device=device)
    with pytest.raises(RuntimeError, match="The size of tensor a \\(3\\) must match the size "
                                           "of tensor b \\(4\\)"):
        opt.step()
    assert p.tolist() == [5.0] * 4  # nothing was launched


def test_state_dict_of_another_model_is_refused_at_step(device):
    a = cltorch.nn.Parameter(cltorch.ones(2, 3, device=device))
    first = cltorch.optim.Adam([a])
    a.grad = cltorch.ones(2, 3, device=device)
    first.step()
    b = cltorch.nn.Parameter(cltorch.ones(3, 2, device=device))
    second = cltorch.optim.Adam([b])
    second.load_state_dict(first.state_dict())
    b.grad = cltorch.ones(3, 2, device=device)
    with pytest.raises(RuntimeError, match="must match the size of tensor b"):
        second.step()
    assert b.tolist() == [[1.0, 1.0]] * 3
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        cltorch.optim.Adam([b, cltorch.nn.Parameter(cltorch.ones(1))]).load_state_dict(
            first.state_dict())


def test_loaded_state_takes_the_parameters_dtype(device):
    """A float64 state dict loaded for float32 parameters is cast (PyTorch's policy), never
    read by the float32 kernel as if it were float32."""
    p64 = cltorch.nn.Parameter(cltorch.ones(4, dtype=cltorch.float64))
    opt64 = cltorch.optim.Adam([p64])
    p64.grad = cltorch.ones(4, dtype=cltorch.float64)
    opt64.step()
    p = cltorch.nn.Parameter(cltorch.ones(4, device=device))
    opt = cltorch.optim.Adam([p])
    opt.load_state_dict(opt64.state_dict())
    assert opt.state[p]["exp_avg"].dtype is cltorch.float32
    assert str(opt.state[p]["exp_avg"].device) == str(p.device)
    p.grad = cltorch.ones(4, device=device)
    opt.step()
    before = p64.tolist()
    opt64.step()  # the same second step in float64: p moves by what p64 moves
    moved = np.subtract(before, p64.tolist())
    np.testing.assert_allclose(p.tolist(), 1.0 - moved, rtol=1e-6)


def test_memory_limit_raises_and_keeps_tensors(device):
    dev = registry.get(device)
    saved = dev.memory_limit
    kept = cltorch.arange(1000.0, device=device)
    try:
        dev.set_limit(1e-6 if device == "cpu" else 1e-4)
        with pytest.raises(cltorch.OutOfMemoryError, match="out of memory. Tried to allocate"):
            cltorch.empty(10 ** 7, device=device)
        with pytest.raises(cltorch.OutOfMemoryError):
            cltorch.ones(10 ** 4, device=device).expand(10 ** 4, 10 ** 4) + 1
        assert kept.sum().item() == 499500.0  # existing tensors keep their values
    finally:
        dev.memory_limit = saved
    assert (cltorch.ones(10 ** 4, device=device) + 1).sum().item() == 2 * 10 ** 4


def test_per_process_memory_fraction_api():
    ocl = cltorch.opencl
    if not ocl.is_available():
        pytest.skip("no OpenCL device for cltorch.opencl to name")
    with pytest.raises(ValueError, match="Invalid fraction value: 1.5. Allowed range: 0~1"):
        ocl.set_per_process_memory_fraction(1.5, 0)
    with pytest.raises(TypeError, match="must be `float`"):
        ocl.set_per_process_memory_fraction("half", 0)
    saved = registry.get("opencl:0").memory_limit
    try:
        ocl.set_per_process_memory_fraction(0.25, 0)
        assert abs(ocl.get_per_process_memory_fraction(0) - 0.25) < 1e-6
    finally:
        registry.get("opencl:0").memory_limit = saved


def test_host_memory_devices_are_limited_by_default_and_by_the_environment():
    """Without a limit a PoCL or NumPy allocation past the machine's memory meets the kernel's
    OOM killer; with one it is an exception, in a fresh process as a user would meet it."""
    code = ("import cltorch\n"
            "try:\n"
            "    cltorch.empty(2 ** 42, device='{0}')\n"
            "except cltorch.OutOfMemoryError as e:\n"
            "    print('OOM', e)\n")
    devices = ["cpu"] + (["opencl:0"] if registry.device_count("opencl") else [])
    for name in devices:
        for env in ({}, {"CLTORCH_MEMORY_FRACTION": "0.5"}):
            result = subprocess.run([sys.executable, "-c", code.format(name)], text=True,
                                    capture_output=True, timeout=120,
                                    env={**os.environ, **env})
            assert result.returncode == 0 and result.stdout.startswith("OOM"), result.stderr
    bad = subprocess.run([sys.executable, "-c", "import cltorch; cltorch.ones(1)"], text=True,
                         capture_output=True, timeout=120,
                         env={**os.environ, "CLTORCH_MEMORY_FRACTION": "7"})
    assert bad.returncode != 0 and "allowed range is 0~1" in bad.stderr


_FILL_CASES = [("float16", 1e30), ("float16", 65519.0), ("float16", 65504.0),
               ("float16", float("inf")), ("float16", float("nan")), ("bfloat16", 1e300),
               ("float32", 1e300), ("float64", 1e300), ("int8", 300), ("int8", -129),
               ("int8", 127), ("int8", 1.5), ("int8", float("inf")), ("uint8", -1),
               ("uint8", -255), ("uint8", -256), ("uint8", -1.0), ("uint8", 256),
               ("int64", 2 ** 63), ("int64", 2 ** 63 - 1), ("bool", 5), ("int32", float("nan")),
               ("int16", 1e300)]


@pytest.mark.parametrize("how", ["fill_", "masked_fill", "index_fill"])
def test_a_fill_value_that_overflows_the_dtype_raises_as_in_pytorch(device, how):
    """fill_, masked_fill and index_fill refuse a number the dtype cannot hold, with
    PyTorch's words; what PyTorch accepts (inf/nan in floats, uint8's wrap) is accepted."""
    torch = pytest.importorskip("torch")

    def run(lib, dt, value):
        kw = {"device": device} if lib is cltorch else {}
        z = lib.zeros(2, dtype=getattr(lib, dt), **kw)
        if how == "fill_":
            return z.fill_(value)
        if how == "masked_fill":
            return z.masked_fill(lib.tensor([True, False], **kw), value)
        return z.index_fill(0, lib.tensor([0], **kw), value)

    fp64 = cltorch.backend.get(device).supports_fp64
    for dt, value in _FILL_CASES:
        if dt == "float64" and not fp64:
            continue
        outcomes = []
        for lib in (cltorch, torch):
            try:
                outcomes.append(str(run(lib, dt, value).tolist()))
            except RuntimeError as e:
                outcomes.append(f"RuntimeError: {e}")
        assert outcomes[0] == outcomes[1], (dt, value)


def test_a_device_without_fp64_refuses_float64_and_takes_casts(device, monkeypatch):
    """On a device without fp64 (CLTORCH_NO_FP64 makes an OpenCL device one), a float64
    tensor is refused with a TypeError that says why, and ``to(device, float32)`` of a float64
    cpu tensor casts before it moves (PyTorch's optimizer loads state that way)."""
    if device == "cpu":
        pytest.skip("the cpu backend always has fp64")
    monkeypatch.setenv("CLTORCH_NO_FP64", "1")
    if cltorch.backend.get(device).supports_fp64:
        pytest.skip(f"{device} is not an OpenCL device (CLTORCH_NO_FP64 is for OpenCL)")
    x64 = cltorch.arange(4, dtype=cltorch.float64) / 4
    with pytest.raises(TypeError, match="has no fp64 support"):
        x64.to(device)
    with pytest.raises(TypeError, match="has no fp64 support"):
        cltorch.zeros(2, dtype=cltorch.float64, device=device)
    y = x64.to(device, cltorch.float32)
    assert y.dtype is cltorch.float32 and y.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert y.to("cpu", cltorch.float64).dtype is cltorch.float64


def test_a_buffer_past_the_largest_single_allocation_is_refused_up_front(device):
    """A tensor bigger than CL_DEVICE_MAX_MEM_ALLOC_SIZE (a quarter of memory on NVIDIA's
    OpenCL) raises OutOfMemoryError naming that limit, before anything is allocated or any
    cached memory is given back."""
    dev = registry.get(device)
    if dev.kind != "opencl":
        pytest.skip("a single-allocation limit is OpenCL's")
    kept = cltorch.arange(1000.0, device=device)
    before = dev.memory[0]
    with pytest.raises(cltorch.OutOfMemoryError, match="largest single allocation"):
        cltorch.empty(dev.max_alloc // 4 + 1, device=device)
    assert dev.memory[0] == before and kept.sum().item() == 499500.0
