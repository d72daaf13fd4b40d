"""Checks of values the device holds (index ranges, class targets, probabilities) cost no host
synchronisation: on an accelerator a kernel records the first failure and the exception is
raised at the next synchronisation, as CUDA's device-side asserts are (ops/check.py)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cltorch
from conftest import needs_fp64
from cltorch.backend import registry
from cltorch.ops.check import check_values

F = cltorch.nn.functional


def _accelerator(device):
    if registry.get(device).kind == "cpu":
        pytest.skip("the cpu backend checks host memory at once: no synchronisation to defer")
    return registry.get(device)


class _CountWaits:
    """Counts the device's waiting calls (download, synchronize) while active."""

    def __init__(self, monkeypatch, dev):
        self.count = 0
        for name in ("download", "synchronize"):
            original = getattr(dev, name)

            def counted(*args, _original=original, **kwargs):
                self.count += 1
                return _original(*args, **kwargs)
            monkeypatch.setattr(dev, name, counted)


def test_indexed_ops_do_not_wait_for_the_device(device, monkeypatch):
    dev = _accelerator(device)
    x = cltorch.arange(12.0, device=device).reshape(3, 4)
    index = cltorch.tensor([[0, 2, 1, 0]], device=device)
    rows = cltorch.tensor([2, 0], device=device)
    logits = cltorch.zeros(2, 4, device=device)
    dev.synchronize()
    waits = _CountWaits(monkeypatch, dev)
    results = [x.gather(0, index), x.index_select(0, rows), x[rows],
               F.embedding(rows, x), F.nll_loss(logits, rows), F.cross_entropy(logits, rows),
               x.clone().scatter_(0, index, 1.0), x.clone().index_add_(0, rows, x[:2]),
               F.one_hot(rows, 4), cltorch.bernoulli(x.sigmoid()),
               F.binary_cross_entropy(x.sigmoid(), x.sigmoid())]
    assert waits.count == 0
    assert results[1].tolist() == [[8.0, 9.0, 10.0, 11.0], [0.0, 1.0, 2.0, 3.0]]


def test_a_bad_index_raises_at_the_next_sync_and_once(device):
    dev = _accelerator(device)
    x = cltorch.tensor([1.0, 2.0, 3.0], device=device)
    y = x.gather(0, cltorch.tensor([0, 5], device=device))  # no raise yet
    with pytest.raises(RuntimeError, match="index 5 is out of bounds for dimension 0 with size 3"):
        y.tolist()
    assert x.gather(0, cltorch.tensor([2, 0], device=device)).tolist() == [3.0, 1.0]
    dev.synchronize()  # the failure was reported once; the slot is clean again


def test_the_first_failed_check_in_queue_order_is_reported(device):
    dev = _accelerator(device)
    x = cltorch.tensor([1.0, 2.0, 3.0], device=device)
    x.gather(0, cltorch.tensor([7], device=device))
    x.index_select(0, cltorch.tensor([9], device=device))
    with pytest.raises(RuntimeError, match="index 7 is out of bounds"):
        dev.synchronize()
    dev.synchronize()


def test_launch_blocking_raises_at_the_op(device, monkeypatch):
    _accelerator(device)
    monkeypatch.setenv("CUDA_LAUNCH_BLOCKING", "1")
    x = cltorch.tensor([1.0, 2.0, 3.0], device=device)
    with pytest.raises(IndexError, match="index out of range in self"):
        x.index_select(0, cltorch.tensor([-1], device=device))


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_float_values_are_reported_exactly(device, dtype):
    if dtype == "float64":
        needs_fp64(device)
    x = cltorch.tensor([0.25, 1.5, 0.5], dtype=getattr(cltorch, dtype), device=device)
    with pytest.raises(ValueError, match=r"bad value 1\.5$"):
        check_values(x, 0.0, 1.0, ValueError, "bad value {value}")
        registry.get(device).synchronize()


_SHAPES = st.lists(st.integers(0, 4), min_size=0, max_size=3)


@settings(max_examples=25, deadline=None)
@given(shape=_SHAPES, low=st.integers(-3, 3), span=st.integers(0, 6), seed=st.integers(0, 99),
       step=st.integers(1, 2), transpose=st.booleans())
def test_check_values_matches_numpy_on_any_strided_view(device, shape, low, span, seed, step,
                                                       transpose):
    rng = np.random.default_rng(seed)
    big = [s * step for s in shape]
    values = rng.integers(-5, 8, size=big, dtype=np.int64)
    view = cltorch.tensor(values, device=device)[tuple(slice(None, None, step) for _ in shape)]
    host = values[tuple(slice(None, None, step) for _ in shape)]
    if transpose and view.ndim >= 2:
        view, host = view.transpose(0, 1), host.swapaxes(0, 1)
    high = low + span
    bad = host[(host < low) | (host > high)]
    try:
        check_values(view, low, high, IndexError, "value {value}")
        registry.get(device).synchronize()
    except IndexError as err:
        assert bad.size and int(str(err).split()[-1]) in bad.tolist()
    else:
        assert bad.size == 0, f"{bad} accepted in [{low}, {high}]"


def test_a_training_step_of_the_main_job_never_waits(device, monkeypatch):
    """The main job's step (LeNet, cross entropy, SGD with momentum) runs without one host
    synchronisation (there were 9 per step before the device-side checks)."""
    import os
    import sys
    dev = _accelerator(device)
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "examples"))
    try:
        from train_digits import LeNet
    finally:
        sys.path.pop(0)
    model = LeNet().to(device)
    optimizer = cltorch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = cltorch.randn(32, 1, 8, 8, device=device)
    y = cltorch.randint(0, 10, (32,), device=device)

    def step():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss
    step()
    dev.synchronize()
    waits = _CountWaits(monkeypatch, dev)
    loss = step()
    assert waits.count == 0
    assert np.isfinite(loss.item()) and waits.count == 1  # .item() is the one wait
