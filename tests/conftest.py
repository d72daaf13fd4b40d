"""The ``device`` fixture: every test taking it runs on cpu and every available GPU device.

``pytest --device opencl`` keeps the devices whose name starts with ``opencl``;
``--device cpu,cuda:0`` keeps several.
"""
import numpy as np
import pytest

import cltorch
from cltorch.backend import registry


def pytest_addoption(parser):
    parser.addoption("--device", default=None,
                     help="comma-separated device name prefixes to test (default: all)")


def _selected(config):
    names = ["cpu"] + [f"{kind}:{i}" for kind in ("opencl", "cuda")
                       for i in range(registry.device_count(kind))]
    wanted = config.getoption("--device")
    if wanted:
        prefixes = wanted.split(",")
        names = [n for n in names if any(n.startswith(p) for p in prefixes)]
    return names


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        names = _selected(metafunc.config)
        metafunc.parametrize("device", names, ids=names)


# Minutes each (the Oclgrind suite, every template's builds, the benchmark's cases): first in
# the collection, and pytest-xdist (-n auto --dist loadfile) hands files out in that order, so
# they start first. By default it hands out the files with the most tests first, and the
# Oclgrind suite (6 tests, 9 minutes) ran alone at the end: 17.5 minutes of tests on 2 cores.
SLOW_FILES = ("test_kernel_bounds.py", "test_render.py", "test_bench.py")


def pytest_configure(config):
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: others keep


def pytest_report_header(config):
    return f"cltorch devices under test: {', '.join(_selected(config))}"


TOLERANCE = {"float64": (1e-10, 1e-12), "float32": (2e-5, 1e-6), "float16": (2e-3, 1e-3),
             "bfloat16": (1.6e-2, 1e-2)}


def count_launches(device: str, fn, *args) -> int:
    """How many kernels ``fn(*args)`` launches on ``device``."""
    dev = registry.get(device)
    launch, count = dev.launch, [0]

    def counted(*a, **k):
        count[0] += 1
        return launch(*a, **k)
    dev.launch = counted  # the instance's attribute hides the method for a while
    try:
        fn(*args)
    finally:
        del dev.launch
    return count[0]


def assert_close(got, want, dtype=None, rtol=None, atol=None):
    """Compare a tensor (or array) with a NumPy reference with the dtype's tolerance."""
    if isinstance(got, cltorch.Tensor):
        dtype = dtype or got.dtype.name
        got = got.cpu()._host_values()
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    default_rtol, default_atol = TOLERANCE.get(dtype or got.dtype.name, (0, 0))
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    if got.dtype.kind in "fc" or want.dtype.kind in "fc":
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol,
                                   atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


def needs_fp64(device):
    if not registry.get(device).supports_fp64:
        pytest.skip(f"{device} has no fp64")


@pytest.fixture(params=["native", "gpu-style"])
def kernel_style(request, device):
    """On a CPU OpenCL device, also run the work-group (barrier) variants GPUs get (other
    devices run their own kernels under both names)."""
    dev = registry.get(device)
    saved = dev.cpu_like
    dev.cpu_like = saved and request.param == "native"
    yield request.param
    dev.cpu_like = saved
