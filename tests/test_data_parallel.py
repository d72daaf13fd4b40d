"""nn.DataParallel and torch.nn.parallel's parts over several devices of this machine: a
training step over two devices matches the same step on one (the gradients of the replicas
add up to the whole batch's), on every device paired with the cpu, and on two PoCL devices
(``POCL_DEVICES="pthread pthread"``, in a child process since PoCL reads it at start-up);
PyTorch's scatter, gather, replicate and parallel_apply semantics."""
import collections
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import cltorch
import cltorch.nn as nn
from cltorch.nn.modules.utils import consume_prefix_in_state_dict_if_present
from cltorch.nn.parallel import (DataParallel, data_parallel, gather, parallel_apply,
                                 replicate, scatter, scatter_kwargs)


# a PoCL device and the NumPy cpu differ in memory: PyTorch's imbalance warning, tested below
pytestmark = pytest.mark.filterwarnings("ignore:There is an imbalance")


def _mlp(device, seed=0):
    cltorch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3)).to(device)


def _pair(device):
    """Two devices for a DataParallel test: ``device`` and the cpu (the cpu twice alone)."""
    return [device, "cpu"]


def _train(model, data, steps=5):
    """SGD with momentum on a mean-squared loss: (losses, final weights as NumPy)."""
    opt = cltorch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for x, y in data[:steps]:
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().cpu().numpy() for p in model.parameters()]


def test_training_over_two_devices_matches_one_device(device):
    rng = np.random.default_rng(0)
    data = [(cltorch.tensor(rng.standard_normal((11, 5)).astype(np.float32), device=device),
             cltorch.tensor(rng.standard_normal((11, 3)).astype(np.float32), device=device))
            for _ in range(5)]
    single = _train(_mlp(device), data)
    wrapped = DataParallel(_mlp(device), device_ids=_pair(device))
    parallel = _train(wrapped, data)
    np.testing.assert_allclose(parallel[0], single[0], rtol=1e-5, atol=1e-6)
    for got, want in zip(parallel[1], single[1]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_gradients_add_up_in_the_original_parameters(device):
    model = _mlp(device)
    x = cltorch.randn(7, 5, device=device)
    model(x).sum().backward()
    want = [p.grad.cpu().numpy() for p in model.parameters()]
    model.zero_grad()
    out = data_parallel(model, x, device_ids=_pair(device))
    assert out.device == cltorch.device(device) and out.shape == (7, 3)
    out.sum().backward()
    for p, w in zip(model.parameters(), want):
        np.testing.assert_allclose(p.grad.cpu().numpy(), w, rtol=1e-5, atol=1e-6)


def test_replicas_run_in_threads_of_their_own(device):
    seen = []

    class Where(nn.Module):
        def forward(self, x):
            seen.append((threading.get_ident(), x.device))
            return x * 2
    out = DataParallel(Where(), device_ids=_pair(device))(cltorch.ones(4, 2, device=device))
    assert out.tolist() == [[2.0, 2.0]] * 4
    assert len({ident for ident, _ in seen}) == 2
    want = sorted(str(cltorch.device(d)) for d in _pair(device))
    assert sorted(str(d) for _, d in seen) == want


def test_state_dict_has_the_module_prefix_and_loads_into_the_module():
    model = _mlp("cpu")
    wrapped = DataParallel(model, device_ids=["cpu", "cpu"])
    state = wrapped.state_dict()
    assert sorted(state) == ["module.0.bias", "module.0.weight", "module.2.bias",
                             "module.2.weight"]
    plain = _mlp("cpu", seed=1)
    with pytest.raises(RuntimeError, match="Missing key"):
        plain.load_state_dict(state)
    consume_prefix_in_state_dict_if_present(state, "module.")
    plain.load_state_dict(state)
    assert all(cltorch.equal(a, b) for a, b in zip(plain.parameters(), model.parameters()))


def test_batch_norm_keeps_the_first_replica_statistics(device):
    cltorch.manual_seed(0)
    bn = nn.BatchNorm1d(3).to(device)
    x = cltorch.randn(8, 3, device=device) * 3 + 1
    DataParallel(bn, device_ids=_pair(device))(x)
    first = x[:4].cpu().numpy()  # the first replica's chunk, on the module's device
    np.testing.assert_allclose(bn.running_mean.cpu().numpy(), 0.1 * first.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.cpu().numpy(), 0.9 + 0.1 * first.var(0, ddof=1),
                               rtol=1e-5)
    assert bn.num_batches_tracked.item() == 1


def test_scatter_splits_as_chunk_does_and_repeats_other_values():
    x = cltorch.arange(10.0)
    parts = scatter((x, "label", {"k": x * 2}), ["cpu"] * 4)
    assert [p[0].tolist() for p in parts] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0],
                                              [6.0, 7.0, 8.0], [9.0]]
    assert [p[1] for p in parts] == ["label"] * 4
    assert parts[3][2]["k"].tolist() == [18.0]
    assert len(scatter(cltorch.ones(2, 3), ["cpu"] * 3)) == 2  # fewer chunks than devices
    Pair = collections.namedtuple("Pair", "a b")
    halves = scatter(Pair(x, x + 1), ["cpu"] * 2, dim=0)
    assert type(halves[1]) is Pair and halves[1].b.tolist() == [6.0, 7.0, 8.0, 9.0, 10.0]
    inputs, kwargs = scatter_kwargs((x,), {"scale": cltorch.ones(10), "mode": 1}, ["cpu"] * 2)
    assert len(inputs) == len(kwargs) == 2 and kwargs[1]["mode"] == 1
    assert kwargs[1]["scale"].shape == (5,)
    inputs, kwargs = scatter_kwargs((), {"x": x}, ["cpu"] * 2)
    assert inputs == ((), ()) and kwargs[0]["x"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_scatter_along_another_dim_and_its_gradient(device):
    x = cltorch.randn(2, 5, device=device, requires_grad=True)
    parts = scatter(x, _pair(device), dim=1)
    assert [tuple(p.shape) for p in parts] == [(2, 3), (2, 2)]
    assert str(parts[1].device) == "cpu"
    (parts[0].sum() * 2 + parts[1].sum() * 3).backward()
    assert x.grad.tolist() == [[2.0, 2.0, 2.0, 3.0, 3.0]] * 2


def test_gather_concatenates_recurses_and_makes_scalars_a_vector(device):
    outs = [{"y": cltorch.ones(2, 1, device=device), "none": None},
            {"y": cltorch.zeros(3, 1), "none": None}]
    got = gather(outs, device)
    assert got["none"] is None and got["y"].flatten().tolist() == [1, 1, 0, 0, 0]
    assert str(got["y"].device) == str(cltorch.device(device))
    with pytest.warns(UserWarning, match="all input tensors were scalars"):
        vec = gather([cltorch.tensor(1.0), cltorch.tensor(2.0)], "cpu")
    assert vec.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="same number of keys"):
        gather([{"a": cltorch.ones(1)}, {"a": cltorch.ones(1), "b": cltorch.ones(1)}], "cpu")


def test_replicas_share_the_first_device_storage_and_own_no_parameters(device):
    model = _mlp(device)
    first, second = replicate(model, _pair(device))
    assert list(first.parameters()) == [] and first._is_replica
    assert first[0].weight.data_ptr() == model[0].weight.data_ptr()
    assert str(second[2].bias.device) == "cpu" and second[2].bias.grad_fn is not None
    with cltorch.no_grad():
        detached = replicate(model, _pair(device), detach=True)
    assert detached[1][0].weight.grad_fn is None


def test_an_error_in_a_replica_names_it_and_its_device():
    class Fails(nn.Module):
        def forward(self, x):
            if x[0, 0].item() > 2:
                raise ValueError("bad chunk")
            return x
    with pytest.raises(ValueError, match=r"Caught ValueError in replica 1 on device cpu"):
        DataParallel(Fails(), device_ids=["cpu", "cpu"])(cltorch.arange(8.0).reshape(4, 2))
    with pytest.raises(AssertionError, match="number of modules 2 is not equal"):
        parallel_apply([Fails(), Fails()], [(cltorch.ones(1, 1),)])


def test_parameters_off_the_first_device_are_refused():
    from cltorch.backend import registry
    if not registry.device_count("opencl"):
        pytest.skip("needs a device besides the cpu to misplace the module on")
    model = _mlp("cpu")
    with pytest.raises(RuntimeError, match=r"module must have its parameters and buffers on "
                                           r"device opencl:0 \(device_ids\[0\]\) but found "
                                           r"one of them on device: cpu"):
        DataParallel(model, device_ids=["opencl:0", "cpu"])(cltorch.ones(4, 5))


def test_keyword_inputs_are_scattered_and_outputs_gathered_where_asked(device):
    class Scaled(nn.Module):
        def forward(self, x, scale=None, shift=0.0):
            return x * scale + shift
    wrapped = DataParallel(Scaled(), device_ids=_pair(device), output_device="cpu")
    x = cltorch.ones(5, 2, device=device)
    scale = cltorch.arange(5.0, device=device).reshape(5, 1)
    out = wrapped(x, scale=scale, shift=1.0)
    assert str(out.device) == "cpu" and out[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_without_an_accelerator_numbered_ids_run_the_module_as_it_is():
    if cltorch.cuda.is_available():
        pytest.skip("an accelerator is present")
    model = _mlp("cpu")
    wrapped = DataParallel(model, device_ids=[0, 1])
    assert wrapped.device_ids == [] and cltorch.equal(wrapped(cltorch.ones(2, 5)),
                                                      model(cltorch.ones(2, 5)))


def test_unequal_devices_get_pytorch_imbalance_warning(monkeypatch):
    from cltorch.backend import registry
    from cltorch.backend.base import DeviceInfo
    sizes = {"cpu": 100, "opencl:0": 70}
    monkeypatch.setattr(registry, "get", lambda spec, get=registry.get: type(
        "Fake", (), {"info": lambda self: DeviceInfo("x", 0, str(spec), compute_units=4,
                                                     global_mem_bytes=sizes[str(spec)])})()
        if str(spec) in sizes else get(spec))
    from cltorch.nn.parallel.data_parallel import _check_balance
    with pytest.warns(UserWarning, match="exclude GPU opencl:0 which has less than 75%"):
        _check_balance(["cpu", "opencl:0"])
    sizes["opencl:0"] = 80
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_balance(["cpu", "opencl:0"])


TWO_POCL_DEVICES = textwrap.dedent("""
    import numpy as np, cltorch, cltorch.nn as nn
    from cltorch.backend import registry
    assert registry.device_count("opencl") == 2, registry.device_count("opencl")
    assert cltorch.cuda.device_count() == 2
    def mlp():
        cltorch.manual_seed(0)
        return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3)).to("cuda:0")
    def train(model, data):
        opt = cltorch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        losses = []
        for x, y in data:
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward(); opt.step(); losses.append(loss.item())
        return losses, [p.detach().cpu().numpy() for p in model.parameters()]
    rng = np.random.default_rng(0)
    data = [(cltorch.tensor(rng.standard_normal((9, 5)).astype(np.float32), device="cuda:0"),
             cltorch.tensor(rng.standard_normal((9, 3)).astype(np.float32), device="cuda:0"))
            for _ in range(5)]
    single = train(mlp(), data)
    wrapped = nn.DataParallel(mlp())  # every accelerator: opencl:0 and opencl:1
    assert [str(d) for d in wrapped.device_ids] == ["opencl:0", "opencl:1"]
    both = train(wrapped, data)
    np.testing.assert_allclose(both[0], single[0], rtol=1e-5, atol=1e-6)
    for got, want in zip(both[1], single[1]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    print("ok", len(both[0]))
""")


def test_two_pocl_devices_train_as_one():
    from cltorch.backend import registry
    if not registry.device_count("opencl"):
        pytest.skip("no OpenCL platform (PoCL) to split into two devices")
    env = dict(os.environ, POCL_DEVICES="pthread pthread", CLTORCH_CUDA="opencl:0,opencl:1")
    child = subprocess.run([sys.executable, "-c", TWO_POCL_DEVICES], capture_output=True,
                           text=True, env=env, timeout=300)
    assert child.returncode == 0, child.stdout[-2000:] + child.stderr[-4000:]
    assert "ok 5" in child.stdout
