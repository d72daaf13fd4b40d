"""Optimizers on every device: 100-step trajectories against torch.optim (relative 1e-5 in
float32), parameter groups, state dicts, closures, errors; the fused update's NumPy twin
against closed forms when PyTorch is absent."""
import copy

import numpy as np
import pytest
from conftest import assert_close, count_launches

import cltorch
import cltorch.nn as nn
import cltorch.optim as optim

CONFIGS = [("SGD", {"lr": 0.1}), ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True,
                                          "weight_decay": 0.01}),
           ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "maximize": True}),
           ("Adam", {"lr": 0.01}), ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
           ("AdamW", {"lr": 0.01}), ("AdamW", {"lr": 0.01, "amsgrad": True, "maximize": True}),
           ("RMSprop", {"lr": 0.01}), ("RMSprop", {"lr": 0.01, "centered": True,
                                                   "momentum": 0.5, "weight_decay": 0.1}),
           ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1,
                        "initial_accumulator_value": 0.1}),
           ("Adamax", {"lr": 0.01, "weight_decay": 0.1}), ("NAdam", {"lr": 0.01}),
           ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
           ("RAdam", {"lr": 0.01}), ("RAdam", {"lr": 0.01, "weight_decay": 0.1}),
           ("Adadelta", {"lr": 1.0, "weight_decay": 0.01}), ("Rprop", {"lr": 0.01}),
           ("Rprop", {"lr": 0.01, "etas": (0.4, 1.1), "step_sizes": (1e-4, 0.1)}),
           ("ASGD", {"lr": 0.05, "t0": 20, "weight_decay": 0.01})]


def _problem(module, make, device=None):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in ((5, 3), (3,), (8, 5),
                                                                   (8, 3))]
    w, b = (make(a, requires_grad=True) for a in arrays[:2])
    x, y = (make(a) for a in arrays[2:])
    return [w, b], lambda: ((x @ w + b).tanh() - y).pow(2).mean()


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=lambda v: str(v))
def test_trajectories_match_torch(device, name, kwargs):
    torch = pytest.importorskip("torch")
    results = []
    for module, make, opt_module in (
            (torch, torch.tensor, torch.optim),
            (cltorch, lambda a, **k: cltorch.tensor(a, device=device, **k), optim)):
        params, loss_fn = _problem(module, make)
        opt = getattr(opt_module, name)(params, **kwargs)
        for _ in range(100):
            opt.zero_grad()
            loss_fn().backward()
            opt.step()
        results.append([p.detach().cpu().numpy() if module is torch else p._host_values()
                        for p in params])
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_param_groups_state_dict_and_resume(device):
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1)).to(device)
    opt = optim.SGD([{"params": model[0].parameters(), "lr": 1e-5},
                     {"params": model[2].parameters()}], lr=1e-2, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [1e-5, 1e-2]
    x = cltorch.randn(6, 4, device=device)

    def step(o):
        o.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        o.step()
        return loss
    step(opt)
    saved_params = [p.detach().clone() for p in model.parameters()]
    state = copy.deepcopy(opt.state_dict())  # as saving it would (the dict holds live buffers)
    assert state["param_groups"][1]["params"] == [2, 3] and "momentum_buffer" in state["state"][0]
    step(opt)
    after = [p.detach().clone() for p in model.parameters()]
    with cltorch.no_grad():
        for p, s in zip(model.parameters(), saved_params):
            p.copy_(s)
    fresh = optim.SGD([{"params": model[0].parameters(), "lr": 1.0},
                       {"params": model[2].parameters()}], lr=1.0, momentum=0.9)
    fresh.load_state_dict(state)
    assert fresh.param_groups[0]["lr"] == 1e-5
    step(fresh)  # the restored optimizer continues exactly as the original
    for p, a in zip(model.parameters(), after):
        assert_close(p, a._host_values(), rtol=1e-6, atol=1e-7)
    opt.param_groups[1]["lr"] = 0.0  # changing lr in param_groups takes effect
    before = [p.detach().clone() for p in model[2].parameters()]
    step(opt)
    for p, b in zip(model[2].parameters(), before):
        assert_close(p, b._host_values())
    opt.add_param_group({"params": [nn.Parameter(cltorch.ones(2, device=device))], "lr": 3.0})
    assert opt.param_groups[2]["momentum"] == 0.9
    with pytest.raises(ValueError, match="some parameters appear in more than one"):
        opt.add_param_group({"params": model[2].parameters()})


def _params(device, rng):
    """20 float32 parameters of several sizes (more than one multi-tensor launch holds), two
    float64 ones, a transposed (strided) one and one without a gradient."""
    shapes = [(3, 4), (7,), (2, 2, 2), (1,), (5, 6)] * 4
    params = [cltorch.tensor(rng.standard_normal(s).astype(np.float32), device=device,
                             requires_grad=True) for s in shapes]
    if cltorch.backend.registry.get(device).supports_fp64:
        params += [cltorch.tensor(rng.standard_normal(s), device=device, requires_grad=True)
                   for s in ((4,), (2, 3))]
    params.append(cltorch.tensor(rng.standard_normal((3, 5)).astype(np.float32),
                                 device=device).t().detach().requires_grad_())
    params.append(cltorch.zeros(3, device=device, requires_grad=True))
    return params


@pytest.mark.parametrize("name,kwargs", [("SGD", {"lr": 0.1, "momentum": 0.9}),
                                         ("AdamW", {"lr": 0.01})])
def test_step_updates_parameters_together(device, name, kwargs):
    """A step's parameters sharing dtypes and hyper-parameters are updated by one launch per
    16 (ops/update.apply_many): the same numbers as one optimizer per parameter; a strided
    parameter and a float64 one are updated too, one without a gradient is left alone."""
    together = _params(device, np.random.default_rng(3))
    apart = _params(device, np.random.default_rng(3))  # the same values and layouts
    whole = getattr(optim, name)(together, **kwargs)
    singles = [getattr(optim, name)([p], **kwargs) for p in apart]
    for step in range(3):
        for params in (together, apart):
            for k, p in enumerate(params[:-1]):
                (p * p * (k + 1)).sum().backward()
        launches = [count_launches(device, opt.step) for opt in [whole] + singles]
        for a, b in zip(together, apart):
            assert_close(a, b, rtol=0, atol=0)
            a.grad = b.grad = None
        if device != "cpu" and step > 0:  # two launches for 20 float32 tensors, one for the
            # float64 ones, and the strided one's (through contiguous copies) as on its own
            assert launches[0] == 2 + (len(together) > 22) + launches[-2]


def test_subclass_reads_parameters_after_its_base_step(device):
    """A subclass's step that clamps the parameters after ``super().step()`` clamps updated
    values: the base step's updates are launched when it returns."""
    class ClippedSGD(optim.SGD):
        def step(self, closure=None):
            super().step(closure)
            with cltorch.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        p.clamp_(-1.0, 1.0)

    w = nn.Parameter(cltorch.tensor([0.5, -0.5, 0.0], device=device))
    w.grad = cltorch.tensor([-10.0, 10.0, 0.0], device=device)
    ClippedSGD([w], lr=0.1).step()
    assert_close(w, np.array([1.0, -1.0, 0.0], np.float32))


def test_closure_and_errors(device):
    w = nn.Parameter(cltorch.tensor([1.0, -2.0], device=device))
    opt = optim.Adam([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss
    assert opt.step(closure).item() == 5.0
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        optim.SGD([w], lr=-1)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.0"):
        optim.Adam([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero"):
        optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts"):
        optim.SGD(w, lr=0.1)


def test_sgd_against_closed_form(device):
    w = nn.Parameter(cltorch.tensor([1.0, 2.0], device=device))
    opt = optim.SGD([w], lr=0.5, momentum=0.5)
    velocities, value = [], np.array([1.0, 2.0])
    for step in range(3):
        opt.zero_grad()
        (w * w).sum().backward()  # gradient 2w
        opt.step()
        grad = 2 * value
        velocities.append(grad if step == 0 else 0.5 * velocities[-1] + grad)
        value = value - 0.5 * velocities[-1]
    assert_close(w, value, rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{"max_iter": 8}, {"line_search_fn": "strong_wolfe",
                                                   "max_iter": 4},
                                    {"history_size": 3, "lr": 0.5, "max_iter": 8}],
                         ids=["plain", "strong_wolfe", "short_history"])
def test_lbfgs_matches_torch(device, kwargs):
    """On a convex least-squares problem the first ``max_iter`` iterations match torch's step
    for step; later both reach the minimum (near it, float32 noise in the loss decides when
    the 1e-9 loss-change test stops an iteration loop, so step counts may differ there)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a, y = rng.standard_normal((20, 6)).astype(np.float32), rng.standard_normal(20).astype(
        np.float32)
    results = []
    for module, make, opt_module in (
            (torch, torch.tensor, torch.optim),
            (cltorch, lambda v, **k: cltorch.tensor(v, device=device, **k), optim)):
        w, A, Y = make(np.zeros(6, np.float32), requires_grad=True), make(a), make(y)
        opt = opt_module.LBFGS([w], **kwargs)

        def closure():
            opt.zero_grad()
            loss = ((A @ w - Y) ** 2).mean() + 0.1 * (w * w).sum()
            loss.backward()
            return loss
        opt.step(closure)
        first = w.detach().cpu().numpy().copy() if module is torch else w._host_values().copy()
        for _ in range(5):
            opt.step(closure)
        results.append((first, w.detach().cpu().numpy() if module is torch else
                        w._host_values()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5, atol=1e-6)
    exact = np.linalg.solve(a.T @ a / 20 + 0.1 * np.eye(6), a.T @ y / 20)
    np.testing.assert_allclose(results[1][1], exact, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(results[0][1], exact, rtol=1e-3, atol=1e-4)


def test_lbfgs_needs_a_closure():
    w = nn.Parameter(cltorch.zeros(2))
    with pytest.raises(RuntimeError, match="LBFGS requires a closure"):
        optim.LBFGS([w]).step()
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        optim.LBFGS([{"params": [w]}, {"params": [nn.Parameter(cltorch.ones(1))]}])
