"""Learning-rate schedulers: the learning rates (and cycled momentum) of 40 steps against
torch.optim.lr_scheduler, and state dicts that resume a schedule."""
import math

import pytest

import cltorch
import cltorch.optim as optim
from cltorch.optim import lr_scheduler as ours

torch = pytest.importorskip("torch")

SCHEDULES = [
    ("LambdaLR", {"lr_lambda": lambda e: 0.95 ** e}),
    ("MultiplicativeLR", {"lr_lambda": lambda e: 0.9}),
    ("StepLR", {"step_size": 7, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [5, 12, 12, 30], "gamma": 0.3}),
    ("ConstantLR", {"factor": 0.5, "total_iters": 6}),
    ("LinearLR", {"start_factor": 0.2, "end_factor": 0.9, "total_iters": 9}),
    ("ExponentialLR", {"gamma": 0.93}),
    ("PolynomialLR", {"total_iters": 25, "power": 2.0}),
    ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.001}),
    ("CosineAnnealingWarmRestarts", {"T_0": 5, "T_mult": 2, "eta_min": 0.01}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4, "mode": "triangular2"}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "mode": "exp_range",
                  "gamma": 0.9}),
    ("OneCycleLR", {"max_lr": 0.2, "total_steps": 41}),
    ("OneCycleLR", {"max_lr": 0.2, "total_steps": 41, "three_phase": True,
                    "anneal_strategy": "linear"}),
]


def _optimizers():
    w = torch.nn.Parameter(torch.zeros(2))
    v = cltorch.nn.Parameter(cltorch.zeros(2))
    return (torch.optim.SGD([w], lr=0.1, momentum=0.9),
            optim.SGD([v], lr=0.1, momentum=0.9))


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=lambda v: v if isinstance(v, str)
                         else "-".join(getattr(x, "__name__", str(x))
                                       for x in v.values())[:40])
def test_schedules_match_torch(name, kwargs):
    t_opt, c_opt = _optimizers()
    t_sched = getattr(torch.optim.lr_scheduler, name)(t_opt, **kwargs)
    c_sched = getattr(ours, name)(c_opt, **kwargs)
    for _ in range(40):
        assert math.isclose(c_opt.param_groups[0]["lr"], t_opt.param_groups[0]["lr"],
                            rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(c_opt.param_groups[0]["momentum"],
                            t_opt.param_groups[0]["momentum"], rel_tol=1e-9)
        assert c_sched.get_last_lr() == pytest.approx(t_sched.get_last_lr(), rel=1e-9)
        t_opt.step()
        c_opt.step()
        t_sched.step()
        c_sched.step()


def test_plateau_sequential_chained_and_resume():
    t_opt, c_opt = _optimizers()
    t_plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, patience=2, cooldown=1,
                                                           factor=0.5)
    c_plateau = ours.ReduceLROnPlateau(c_opt, patience=2, cooldown=1, factor=0.5)
    for metric in [5, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3]:
        t_plateau.step(metric)
        c_plateau.step(metric)
        assert c_opt.param_groups[0]["lr"] == pytest.approx(t_opt.param_groups[0]["lr"])
    for build in (lambda m, o: m.SequentialLR(o, [m.ConstantLR(o, 0.5, 3),
                                                  m.ExponentialLR(o, 0.9)], milestones=[4]),
                  lambda m, o: m.ChainedScheduler([m.ConstantLR(o, 0.5, 3),
                                                   m.ExponentialLR(o, 0.9)])):
        t_opt, c_opt = _optimizers()
        t_s, c_s = build(torch.optim.lr_scheduler, t_opt), build(ours, c_opt)
        for _ in range(10):
            assert c_opt.param_groups[0]["lr"] == pytest.approx(t_opt.param_groups[0]["lr"])
            t_s.step()
            c_s.step()
    t_opt, c_opt = _optimizers()
    first = ours.CosineAnnealingLR(c_opt, T_max=8)
    for _ in range(3):
        first.step()
    state = first.state_dict()
    _, c_opt2 = _optimizers()
    c_opt2.param_groups[0]["initial_lr"] = 0.1
    resumed = ours.CosineAnnealingLR(c_opt2, T_max=8)
    resumed.load_state_dict(state)
    c_opt2.param_groups[0]["lr"] = c_opt.param_groups[0]["lr"]
    for _ in range(3):
        first.step()
        resumed.step()
        assert resumed.get_last_lr() == pytest.approx(first.get_last_lr())
