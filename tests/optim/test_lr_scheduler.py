"""Learning-rate schedules: the same values as torch.optim.lr_scheduler over a sweep."""

import math

import numpy as np
import pytest

from pydl.nn import Parameter
from pydl.optim import SGD, Adam, lr_scheduler as L

STEPS = 45


def _opt(cls=SGD, lrs=(0.1, 0.03)):
    groups = [{"params": [Parameter(np.zeros(2, np.float32))], "lr": lr} for lr in lrs]
    return cls(groups, lr=lrs[0])


SCHEDULES = [
    ("StepLR", dict(step_size=7)),
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[3, 10, 10, 30], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=13, eta_min=0.001)),
    ("LinearLR", {}),
    ("LinearLR", dict(start_factor=0.01, end_factor=0.5, total_iters=20)),
    ("LambdaLR", dict(lr_lambda=lambda epoch: 0.95 ** epoch)),
]
IDS = [f"{n}-{kw}" for n, kw in SCHEDULES]


def _torch_pair(torch, name, kw, lrs=(0.1, 0.03)):
    tparams = [torch.zeros(2, requires_grad=True) for _ in lrs]
    topt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(tparams, lrs)],
                           lr=lrs[0])
    return topt, getattr(torch.optim.lr_scheduler, name)(topt, **kw)


def _sweep(opt, sched, n=STEPS):
    out = [sched.get_last_lr()]
    for _ in range(n):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr())
        assert [g["lr"] for g in opt.param_groups] == out[-1]
    return out


@pytest.mark.parametrize("name,kw", SCHEDULES, ids=IDS)
def test_values_match_torch(name, kw):
    torch = pytest.importorskip("torch")
    opt = _opt()
    ours = _sweep(opt, getattr(L, name)(opt, **kw))
    topt, tsched = _torch_pair(torch, name, kw)
    theirs = _sweep(topt, tsched)
    np.testing.assert_allclose(ours, theirs, rtol=1e-15, atol=0)


def test_cosine_follows_the_closed_form():
    opt = _opt(lrs=(0.5,))
    sched = L.CosineAnnealingLR(opt, T_max=8, eta_min=0.1)
    lrs = [lr for (lr,) in _sweep(opt, sched, 16)]
    expected = [0.1 + 0.4 * (1 + math.cos(math.pi * t / 8)) / 2 for t in range(17)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    assert min(lrs) == pytest.approx(0.1) and lrs.index(min(lrs)) == 8


def test_warmup_then_cosine_matches_torch():
    torch = pytest.importorskip("torch")

    def build(lib, opt):
        warm = lib.LinearLR(opt, start_factor=0.1, total_iters=5)
        cos = lib.CosineAnnealingLR(opt, T_max=20, eta_min=1e-4)
        decay = lib.ExponentialLR(opt, gamma=0.8)
        return lib.SequentialLR(opt, [warm, cos, decay], milestones=[5, 25])
    opt = _opt(Adam)
    ours = _sweep(opt, build(L, opt))
    topt, _ = _torch_pair(torch, "StepLR", dict(step_size=1))
    for g, lr in zip(topt.param_groups, (0.1, 0.03)):  # fresh groups, no initial_lr
        g["lr"] = lr
        g.pop("initial_lr")
    theirs = _sweep(topt, build(torch.optim.lr_scheduler, topt))
    np.testing.assert_allclose(ours, theirs, rtol=1e-15, atol=0)
    assert ours[0][0] == pytest.approx(0.01) and ours[5][0] == pytest.approx(0.1)


PLATEAU = [
    dict(patience=2),
    dict(mode="max", factor=0.5, patience=1, threshold=0.05, cooldown=2),
    dict(threshold_mode="abs", threshold=0.01, patience=0, min_lr=[0.02, 0.001]),
    dict(mode="max", threshold_mode="abs", patience=3, factor=0.2, eps=0.05),
]


@pytest.mark.parametrize("kw", PLATEAU, ids=str)
def test_reduce_on_plateau_matches_torch(kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    metrics = np.concatenate([np.linspace(2, 1, 8), 1 + 0.02 * rng.standard_normal(40)])
    opt = _opt()
    sched = L.ReduceLROnPlateau(opt, **kw)
    topt, _ = _torch_pair(torch, "StepLR", dict(step_size=1))
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    for m in metrics:
        sched.step(m)
        tsched.step(m)
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert (sched.num_bad_epochs, sched.cooldown_counter, sched.best) == \
            (tsched.num_bad_epochs, tsched.cooldown_counter, tsched.best)
    assert sched.get_last_lr()[0] < 0.1


@pytest.mark.parametrize("name,kw", SCHEDULES[:-1], ids=IDS[:-1])
def test_state_dict_round_trip_mid_schedule(name, kw):
    opt = _opt()
    sched = getattr(L, name)(opt, **kw)
    for _ in range(9):
        opt.step()
        sched.step()
    # a resumed run, in PyTorch's order: build both, then restore the optimizer (its
    # groups carry lr and initial_lr), then the schedule
    opt2 = _opt()
    sched2 = getattr(L, name)(opt2, **kw)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    assert _sweep(opt, sched, 20) == _sweep(opt2, sched2, 20)


def test_sequential_and_plateau_state_round_trip():
    def build(opt):
        return L.SequentialLR(opt, [L.LinearLR(opt, 0.2, total_iters=4),
                                    L.CosineAnnealingLR(opt, T_max=10)], milestones=[4])
    opt = _opt()
    sched = build(opt)
    _sweep(opt, sched, 6)
    opt2 = _opt()
    sched2 = build(opt2)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    assert _sweep(opt, sched, 12) == _sweep(opt2, sched2, 12)

    plateau = L.ReduceLROnPlateau(opt, patience=1)
    for m in (3, 2, 2, 2, 2):
        plateau.step(m)
    copy = L.ReduceLROnPlateau(_opt(), patience=5)
    copy.load_state_dict(plateau.state_dict())
    assert (copy.best, copy.num_bad_epochs, copy.patience) == (2.0, plateau.num_bad_epochs, 1)


def test_resume_with_last_epoch_matches_torch():
    torch = pytest.importorskip("torch")
    opt = _opt()
    sched = L.CosineAnnealingLR(opt, T_max=10)
    _sweep(opt, sched, 4)
    opt2 = _opt()
    opt2.load_state_dict(opt.state_dict())
    resumed = L.CosineAnnealingLR(opt2, T_max=10, last_epoch=4)
    topt, tsched = _torch_pair(torch, "CosineAnnealingLR", dict(T_max=10))
    _sweep(topt, tsched, 4)
    tresumed = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=10, last_epoch=4)
    np.testing.assert_allclose(_sweep(opt2, resumed, 10), _sweep(topt, tresumed, 10),
                               rtol=1e-15)
    with pytest.raises(ValueError, match=r"param_groups\[0\] has no 'initial_lr'"):
        L.StepLR(_opt(), step_size=2, last_epoch=3)


def test_step_with_an_epoch_uses_the_closed_form():
    opt = _opt(lrs=(1.0,))
    sched = L.StepLR(opt, step_size=3, gamma=0.5)
    sched.step(7)
    assert sched.get_last_lr() == [0.25] and sched.last_epoch == 7


def test_lambda_state_keeps_callable_objects_attributes():
    class Warm:
        def __init__(self):
            self.n = 3

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.n)
    opt = _opt(lrs=(1.0,))
    fn = Warm()
    sched = L.LambdaLR(opt, fn)
    fn.n = 10
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"n": 10}]
    other = Warm()
    L.LambdaLR(_opt(lrs=(1.0,)), other).load_state_dict(state)
    assert other.n == 10


BAD = [
    ("StepLR", dict(step_size=0), ValueError, "step_size must be >= 1"),
    ("StepLR", dict(step_size=2.5), TypeError, "step_size must be an int"),
    ("StepLR", dict(step_size=2, gamma=float("nan")), ValueError, "gamma must be finite"),
    ("MultiStepLR", dict(milestones=[2, -1]), ValueError, r"milestones\[1\] must be >= 0"),
    ("MultiStepLR", dict(milestones=3), TypeError, "milestones must be a list"),
    ("ExponentialLR", dict(gamma=-0.5), ValueError, "gamma must be >= 0"),
    ("CosineAnnealingLR", dict(T_max=0), ValueError, "T_max must be >= 1"),
    ("CosineAnnealingLR", dict(T_max=5, eta_min=float("inf")), ValueError, "eta_min"),
    ("LinearLR", dict(start_factor=0.0), ValueError, "start_factor must be > 0"),
    ("LinearLR", dict(end_factor=1.5), ValueError, "end_factor must be <= 1"),
    ("LinearLR", dict(total_iters=0), ValueError, "total_iters must be >= 1"),
    ("LambdaLR", dict(lr_lambda=3), TypeError, "lr_lambda must be callable"),
    ("LambdaLR", dict(lr_lambda=[abs, abs, abs]), ValueError, "lr_lambda has 3 entries"),
    ("ReduceLROnPlateau", dict(factor=1.0), ValueError, "factor must be < 1"),
    ("ReduceLROnPlateau", dict(mode="mean"), ValueError, "mode must be 'min' or 'max'"),
    ("ReduceLROnPlateau", dict(threshold_mode="x"), ValueError, "threshold_mode must be"),
    ("ReduceLROnPlateau", dict(patience=-1), ValueError, "patience must be >= 0"),
    ("ReduceLROnPlateau", dict(min_lr=[0.1]), ValueError, "min_lr has 1 entries"),
    ("ReduceLROnPlateau", dict(cooldown=1.5), TypeError, "cooldown must be an int"),
    ("StepLR", dict(step_size=2, last_epoch=-2), ValueError, "last_epoch must be >= -1"),
]


@pytest.mark.parametrize("name,kw,exc,match", BAD, ids=[str(b[:2]) for b in BAD])
def test_bad_arguments(name, kw, exc, match):
    with pytest.raises(exc, match=match):
        getattr(L, name)(_opt(), **kw)


def test_bad_use():
    with pytest.raises(TypeError, match="optimizer must be a pydl.optim.Optimizer"):
        L.StepLR(object(), step_size=2)
    opt = _opt()
    with pytest.raises(TypeError, match="metrics must be a real number"):
        L.ReduceLROnPlateau(opt).step("low")
    a = L.LinearLR(opt)
    with pytest.raises(ValueError, match="one milestone fewer than schedulers"):
        L.SequentialLR(opt, [a], milestones=[3])
    with pytest.raises(ValueError, match=r"schedulers\[1\] belongs to another optimizer"):
        L.SequentialLR(opt, [a, L.StepLR(_opt(), 2)], milestones=[3])
    with pytest.raises(TypeError, match="other than ReduceLROnPlateau"):
        L.SequentialLR(opt, [a, L.ReduceLROnPlateau(opt)], milestones=[3])
