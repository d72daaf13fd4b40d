"""``import torch`` resolving to cltorch: ``install_as_torch``, ``cltorch run``, PyTorch's
module paths, and the device rule (``cuda`` names the accelerators)."""
import os
import subprocess
import sys
import textwrap

import pytest

import cltorch
from cltorch.backend import registry

# Module paths the issue lists, plus ones real programs import at start-up.
MODULE_PATHS = [
    "torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.nn.parameter",
    "torch.nn.modules", "torch.nn.modules.linear", "torch.nn.modules.activation",
    "torch.nn.modules.dropout", "torch.nn.modules.sparse", "torch.nn.modules.conv",
    "torch.nn.modules.batchnorm", "torch.nn.modules.normalization", "torch.nn.modules.loss",
    "torch.nn.modules.module", "torch.nn.modules.container", "torch.nn.modules.pooling",
    "torch.nn.modules.rnn", "torch.nn.modules.transformer", "torch.nn.modules.padding",
    "torch.nn.modules.utils", "torch.nn.modules.flatten", "torch.nn.modules.distance",
    "torch.nn.modules.fold", "torch.nn.modules.upsampling", "torch.nn.modules.pixelshuffle",
    "torch.nn.modules.instancenorm", "torch.nn.parallel", "torch.nn.utils",
    "torch.nn.utils.rnn", "torch.nn.utils.parametrize", "torch.nn.utils.parametrizations",
    "torch.backends", "torch.backends.cudnn", "torch.backends.cuda", "torch.backends.mps",
    "torch.amp", "torch.cuda", "torch.cuda.amp", "torch.cpu", "torch.cpu.amp",
    "torch.distributed", "torch.multiprocessing", "torch.onnx", "torch.testing",
    "torch.utils", "torch.utils.data", "torch.utils.data.distributed",
    "torch.utils.data.dataloader", "torch.utils.checkpoint", "torch.utils.tensorboard",
    "torch.serialization", "torch.optim", "torch.optim.lr_scheduler", "torch.optim.adamw",
    "torch.optim.optimizer", "torch.autograd", "torch.autograd.functional", "torch.linalg",
    "torch.jit", "torch.accelerator", "torch.profiler", "torch.hub", "torch.func",
    "torch.version", "torch.opencl", "torch.distributions", "torch.distributions.normal",
    "torch.distributions.categorical", "torch.distributions.kl", "torch.nn.attention",
]


@pytest.fixture
def as_torch():
    """cltorch installed as torch for one test; a real PyTorch comes back afterwards."""
    cltorch.install_as_torch()
    yield
    cltorch.uninstall_as_torch()


def test_every_module_path_imports(as_torch):
    import importlib
    for path in MODULE_PATHS:
        module = importlib.import_module(path)
        assert module.__name__.startswith("cltorch"), path
    import torch
    import torch.nn as nn
    from torch.nn.modules.batchnorm import _BatchNorm  # noqa: F401
    from torch.nn.modules.dropout import Dropout
    from torch.nn.modules.loss import _Loss  # noqa: F401
    from torch.utils.data import DataLoader  # noqa: F401
    assert torch is cltorch and nn.Dropout is Dropout and torch.nn is cltorch.nn
    with pytest.raises(ModuleNotFoundError, match="no counterpart"):
        importlib.import_module("torch.no_such_module")


def test_out_of_scope_features_import_and_raise_clearly(as_torch):
    import torch
    with pytest.raises(NotImplementedError, match="ONNX"):
        torch.onnx.export(None, None, "x.onnx")
    from torch.utils.tensorboard import SummaryWriter
    with pytest.raises(NotImplementedError, match="TensorBoard"):
        SummaryWriter()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        torch.distributed.get_rank()
    assert not torch.distributed.is_initialized()


def _python(code, env_extra=None, cwd=None):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CLTORCH_CUDA")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def test_a_real_torch_is_not_shadowed():
    """Importing cltorch leaves ``import torch`` alone; uninstall gives the real one back."""
    pytest.importorskip("torch")
    result = _python("""
        import cltorch, torch
        assert torch.__name__ == "torch" and hasattr(torch, "_C"), torch
        cltorch.install_as_torch()
        import torch as t2
        assert t2 is cltorch
        cltorch.uninstall_as_torch()
        import torch as t3
        assert t3 is torch
        print("ok")
    """)
    assert result.stdout.strip() == "ok", result.stderr


def test_cltorch_run_script_args_exit_code_and_workers(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent("""
        import sys
        import torch
        from torch.utils.data import DataLoader, TensorDataset
        import helper  # the script's folder is on sys.path, as under python
        if __name__ == "__main__":
            data = TensorDataset(torch.arange(6.0))
            loader = DataLoader(data, batch_size=3, num_workers=2,
                                multiprocessing_context="spawn")
            print(torch.__name__, sys.argv[1:], [b[0].tolist() for b in loader], helper.X)
            sys.exit(int(sys.argv[1]))
    """))
    (tmp_path / "helper.py").write_text("X = 42\n")
    result = subprocess.run([sys.executable, "-m", "cltorch", "run", str(script), "3", "--x"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert result.stdout.strip() == \
        "cltorch ['3', '--x'] [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]] 42"
    module = subprocess.run([sys.executable, "-m", "cltorch", "run", "-m", "helper"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert module.returncode == 0, module.stderr


def test_version_flag():
    out = subprocess.run([sys.executable, "-m", "cltorch", "--version"], capture_output=True,
                         text=True, timeout=60).stdout
    assert out.strip() == f"cltorch {cltorch.__version__}"


@pytest.fixture
def pinned(monkeypatch):
    """Pin what ``cuda`` names (CLTORCH_CUDA) for one test."""
    def pin(value):
        monkeypatch.setenv("CLTORCH_CUDA", value)
        registry.accelerators.cache_clear()
    yield pin
    monkeypatch.delenv("CLTORCH_CUDA", raising=False)
    registry.accelerators.cache_clear()
    registry._current[0] = 0


def test_cuda_names_the_pinned_accelerator(device, pinned, as_torch):
    import torch
    pinned(device if device != "cpu" else "none")
    if device == "cpu":
        assert not torch.cuda.is_available() and torch.cuda.device_count() == 0
        assert torch.accelerator.current_accelerator() is None
        with pytest.raises(RuntimeError, match="Found no GPU for 'cuda'"):
            torch.ones(1).cuda()
        assert ("cuda" if torch.cuda.is_available() else "cpu") == "cpu"
        return
    assert torch.cuda.is_available() and torch.cuda.device_count() == 1
    assert torch.accelerator.is_available() and torch.accelerator.device_count() == 1
    assert torch.accelerator.current_accelerator() == torch.device("cuda")
    x = torch.ones(2, 3).to("cuda")
    assert x._storage.device is registry.get(device)   # the pinned backend device
    assert x.device == torch.device("cuda", 0) and str(x.device) == "cuda:0"
    assert x.is_cuda and not x.is_cpu and x.get_device() == 0
    assert x.is_opencl == device.startswith("opencl")
    assert torch.ones(1).to(0).device == x.device and torch.ones(1).cuda(0).is_cuda
    assert torch.device(0) == torch.device("cuda:0")
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        torch.ones(1).cuda(1)
    assert torch.cuda.get_device_name(0) == registry.get(device).info().name
    assert isinstance(torch.cuda.FloatTensor(2), torch.Tensor)
    assert isinstance(torch.cuda.FloatTensor(2), torch.cuda.FloatTensor)
    assert not isinstance(torch.FloatTensor(2), torch.cuda.FloatTensor)
    assert x.type() == "torch.cuda.FloatTensor"
    assert x.type(torch.FloatTensor).device.type == "cpu"
    assert torch.nn.Linear(3, 1).cuda()(x).is_cuda


# The devices other than cpu that ``cuda`` can be pinned to (empty without OpenCL/CUDA).
NON_CPU = [f"{kind}:{i}" for kind in ("opencl", "cuda") for i in range(registry.device_count(kind))]


@pytest.mark.parametrize("accel", [d for d in NON_CPU if d.startswith("opencl")])
def test_explicit_opencl_names_stay(accel, pinned):
    pinned(accel)
    x = cltorch.ones(1, device=accel)
    assert str(x.device) == accel  # cltorch's own names outside install_as_torch
    assert cltorch.opencl.device_count() == registry.device_count("opencl")


def test_bad_pin_is_a_clear_error(pinned):
    pinned("gpu:7")
    with pytest.raises(RuntimeError, match="CLTORCH_CUDA: cannot name device 'gpu:7'"):
        cltorch.cuda.is_available()


@pytest.mark.parametrize("accel", NON_CPU)
def test_cuda_namespace_functions(accel, pinned):
    pinned(accel)
    cuda = cltorch.cuda
    cuda.reset_peak_memory_stats()
    before = cuda.memory_allocated()
    x = cltorch.empty(1024, 256, device="cuda")
    assert cuda.memory_allocated() == before + 1024 * 256 * 4
    assert cuda.max_memory_allocated() >= before + 1024 * 256 * 4
    assert cuda.memory_reserved() >= cuda.memory_allocated()
    del x
    assert cuda.memory_allocated() == before
    cuda.reset_peak_memory_stats()
    assert cuda.max_memory_allocated() == before
    assert cuda.memory_stats()["allocated_bytes.all.current"] == before
    free, total = cuda.mem_get_info()
    assert 0 <= free <= total
    cuda.empty_cache()
    props = cuda.get_device_properties(0)
    assert props.total_memory > 0 and props.multi_processor_count > 0
    assert cuda.get_device_capability(0) == ((0, 0) if accel.startswith("opencl") else
                                             (props.major, props.minor))
    assert cuda.is_bf16_supported() and cuda.current_device() == 0
    cuda.set_device(0)
    with cuda.device(0):
        assert cuda.current_device() == 0
    start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
    start.record()
    y = cltorch.ones(1000, device="cuda") * 2
    end.record()
    end.synchronize()
    assert start.elapsed_time(end) >= 0.0 and y.sum().item() == 2000
    with pytest.raises(RuntimeError, match="enable_timing"):
        cuda.Event().elapsed_time(cuda.Event())
    stream = cuda.Stream()
    with cuda.stream(stream):
        z = y + 1
    stream.synchronize()
    cuda.synchronize()
    assert z[0].item() == 3.0
    cuda.manual_seed(5)
    a = cltorch.rand(3)
    cltorch.manual_seed(5)
    assert cltorch.equal(a, cltorch.rand(3))  # one generator for every device
    assert isinstance(cltorch.cuda.OutOfMemoryError(), RuntimeError)


def test_backend_flags_are_stored():
    from cltorch import backends
    backends.cudnn.benchmark = True
    backends.cudnn.deterministic = True
    backends.cuda.matmul.allow_tf32 = True
    assert backends.cudnn.benchmark and backends.cudnn.deterministic
    assert backends.cuda.matmul.allow_tf32
    with backends.cudnn.flags(enabled=False, benchmark=False):
        assert not backends.cudnn.benchmark
    assert backends.cudnn.benchmark
    backends.cudnn.benchmark = backends.cudnn.deterministic = False
    backends.cuda.matmul.allow_tf32 = False
    assert not backends.mps.is_available() and not backends.cudnn.is_available()


def test_devices_cli_says_what_cuda_names():
    out = subprocess.run([sys.executable, "-m", "cltorch", "devices"], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "CLTORCH_CUDA": "none"})
    assert "cuda (as PyTorch programs name the GPU): none" in out.stdout


@pytest.mark.parametrize("accel", NON_CPU)
def test_accelerator_and_opencl_namespaces(accel, pinned):
    pinned(accel)
    acc = cltorch.accelerator
    assert acc.current_device_index() == 0 and acc.device_count() == 1
    acc.set_device_index(0)
    with acc.device_index(0):
        x = cltorch.ones(256, device="cuda")
    acc.synchronize()
    assert acc.memory_allocated() >= 1024 and acc.max_memory_allocated() >= 1024
    acc.reset_peak_memory_stats()
    acc.empty_cache()
    state = cltorch.cuda.get_rng_state()
    first = cltorch.rand(2, device="cuda")
    cltorch.cuda.set_rng_state(state)
    assert cltorch.equal(first, cltorch.rand(2, device="cuda"))
    if accel.startswith("opencl"):
        index = int(accel.split(":")[1])
        ocl = cltorch.opencl
        assert ocl.memory_allocated(index) == cltorch.cuda.memory_allocated(0)
        assert ocl.get_device_name(index) == cltorch.cuda.get_device_name(0)
        ocl.synchronize(index)
    del x


def _square(i, queue):
    queue.put(i * i)


def test_multiprocessing_spawn_and_sharing_strategy():
    import multiprocessing
    from cltorch import multiprocessing as mp
    queue = multiprocessing.get_context("spawn").SimpleQueue()
    mp.spawn(_square, args=(queue,), nprocs=2)
    assert sorted([queue.get(), queue.get()]) == [0, 1]
    mp.set_sharing_strategy("file_system")
    assert mp.get_sharing_strategy() == "file_system"
    with pytest.raises(ValueError, match="Unsupported sharing strategy"):
        mp.set_sharing_strategy("telepathy")


def test_small_namespaces():
    assert cltorch.version.cuda is None and cltorch.version.__version__ == cltorch.__version__
    with cltorch.profiler.record_function("step"):
        pass
    with pytest.raises(NotImplementedError, match="py-spy"):
        cltorch.profiler.profile()
    with pytest.raises(NotImplementedError, match="hub"):
        cltorch.hub.load("owner/repo", "model")
    with pytest.raises(NotImplementedError, match="vmap"):
        cltorch.func.vmap(lambda x: x)
    linear = cltorch.nn.Linear(2, 1)
    x = cltorch.ones(1, 2)
    replaced = cltorch.func.functional_call(linear, {"weight": cltorch.zeros(1, 2),
                                                     "bias": cltorch.ones(1)}, (x,))
    assert replaced.tolist() == [[1.0]] and linear.weight.abs().sum().item() > 0
    assert cltorch.jit.ignore(_square) is _square and cltorch.jit.unused(_square) is _square
    assert not cltorch.jit.is_scripting()
    with pytest.raises(NotImplementedError, match="TorchScript"):
        cltorch.jit.save(linear, "model.pt")
    import importlib.util
    assert cltorch.backends.cuda.is_built()
    assert cltorch.distributed.is_available() == bool(importlib.util.find_spec("mpi4py"))
