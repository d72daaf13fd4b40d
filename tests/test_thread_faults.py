"""Faults with threads: several Python threads using one device at once get right numbers,
exact memory accounting (the memory limit relies on it), device-side errors reported once and
the device usable afterwards, and concurrent saves to one path that leave one whole file."""
import os
import sys
import threading

import numpy as np
import pytest

import cltorch
from cltorch.backend import registry


@pytest.fixture
def busy_switching():
    """Switch threads every microsecond so that races show up."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _in_threads(work, count=4):
    """Run work(i) in ``count`` threads; re-raise the first exception any of them raised."""
    errors = []

    def guarded(i):
        try:
            work(i)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
        assert not t.is_alive(), "a thread hung"
    if errors:
        raise errors[0]


def test_threads_computing_at_once_get_numpy_results(device, busy_switching):
    # float64 where the device has it (any mix-up shows far above its rounding)
    dtype, rtol = ((np.float64, 1e-10) if cltorch.backend.get(device).supports_fp64 else
                   (np.float32, 1e-4))

    def work(i):
        rng = np.random.default_rng(i)
        for _ in range(20):
            a, b = (rng.standard_normal(shape).astype(dtype) for shape in ((9, 7), (7, 5)))
            idx = rng.integers(0, 9, 6)
            x, y = cltorch.tensor(a, device=device), cltorch.tensor(b, device=device)
            got = (x @ y).relu().sum(1)
            picked = x[cltorch.tensor(idx, device=device)].softmax(1)
            np.testing.assert_allclose(got.cpu().numpy(), np.maximum(a @ b, 0).sum(1),
                                       rtol=rtol)
            want = np.exp(a[idx] - a[idx].max(1, keepdims=True))
            np.testing.assert_allclose(picked.cpu().numpy(), want / want.sum(1, keepdims=True),
                                       rtol=rtol)
    _in_threads(work)


def test_memory_accounting_stays_exact_under_threads(device, busy_switching):
    dev = registry.get(device)
    before = dev.memory[0]

    def work(i):
        for _ in range(300):
            kept = [cltorch.empty(100 + i, device=device) for _ in range(5)]
            del kept
    _in_threads(work, 6)
    assert dev.memory[0] == before


def test_a_device_side_error_surfaces_once_and_the_device_goes_on(device):
    dev = registry.get(device)
    x = cltorch.arange(4.0, device=device)
    raised = []

    def work(i):
        for step in range(30):
            index = cltorch.tensor([9 if (i, step) == (0, 5) else step % 4], device=device)
            try:
                x.gather(0, index).tolist()
            except RuntimeError as err:
                raised.append(str(err))
    _in_threads(work)
    dev.synchronize()
    assert raised == ["index 9 is out of bounds for dimension 0 with size 4"]
    assert x.gather(0, cltorch.tensor([3, 1], device=device)).tolist() == [3.0, 1.0]


def test_concurrent_saves_to_one_path_leave_one_whole_file(tmp_path, busy_switching):
    path = tmp_path / "checkpoint.pt"
    states = [{"w": cltorch.full((200,), float(i)), "step": i} for i in range(4)]

    def work(i):
        for _ in range(10):
            cltorch.save(states[i], path)
    _in_threads(work)
    loaded = cltorch.load(path)
    assert loaded["w"].tolist() == [float(loaded["step"])] * 200
    assert os.listdir(tmp_path) == ["checkpoint.pt"]
