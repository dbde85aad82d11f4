import numpy as np
import pytest

import pydl
from pydl import functional as F
from pydl import reference as R
from pydl.nn import Parameter
from pydl.optim import SGD
from tests.helpers import assert_close, randn

CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.01, momentum=0.5, dampening=0.3, weight_decay=1e-2),
    dict(lr=0.01, weight_decay=0.1, maximize=True),
    dict(lr=0.02, momentum=0.8, nesterov=True, weight_decay=5e-3, maximize=True),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
@pytest.mark.parametrize("shape", [(7,), (33, 65), (100001,), (0,)], ids=str)
def test_sgd_step_matches_reference(cfg, shape, dtype, rng):
    p = randn(rng, shape, dtype)
    p_ref = p.astype(np.float64)
    buf = np.full(shape, np.nan, dtype) if cfg.get("momentum") else None
    buf_ref = None if buf is None else np.zeros(shape)
    for step in range(3):
        g = randn(rng, shape, dtype)
        F.sgd_step(p, g, buf, first_step=step == 0, **cfg)
        R.sgd_step(p_ref, g.astype(np.float64), buf_ref, first_step=step == 0, **cfg)
    assert_close(p, p_ref, dtype)
    if buf is not None:
        assert_close(buf, buf_ref, dtype)


def test_sgd_optimizer_steps_and_state_dict(rng):
    a = Parameter(randn(rng, (4, 3), np.float32))
    b = Parameter(randn(rng, (3,), np.float32))
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0.9
    a0 = a.data.copy()
    a.grad = np.ones_like(a.data)
    opt.step()          # b has no grad: untouched, no state
    np.testing.assert_allclose(a.data, a0 - 0.1, rtol=1e-6)
    assert b not in opt.state
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0] and sd["param_groups"][1]["params"] == [1]
    np.testing.assert_array_equal(sd["state"][0]["momentum_buffer"], np.ones((4, 3)))
    # a fresh optimizer restored from the state dict continues identically
    a2 = Parameter(a.data.copy())
    b2 = Parameter(b.data.copy())
    opt2 = SGD([{"params": [a2]}, {"params": [b2], "lr": 0.5}], lr=0.1, momentum=0.9)
    opt2.load_state_dict(sd)
    for p, o in ((a, opt), (a2, opt2)):
        p.grad = np.full((4, 3), 0.5, np.float32)
        o.step()
    np.testing.assert_array_equal(a.data, a2.data)
    opt.zero_grad()
    assert a.grad is None


class TestSGDValidation:
    def test_hyper_parameters(self):
        p = [Parameter(np.zeros(3, np.float32))]
        with pytest.raises(ValueError, match="invalid lr"):
            SGD(p, lr=-0.1)
        with pytest.raises(ValueError, match="invalid lr"):
            SGD(p, lr=float("nan"))
        with pytest.raises(ValueError, match="invalid momentum"):
            SGD(p, lr=0.1, momentum=-1)
        with pytest.raises(ValueError, match="invalid weight_decay"):
            SGD(p, lr=0.1, weight_decay=float("inf"))
        with pytest.raises(ValueError, match="nesterov"):
            SGD(p, lr=0.1, nesterov=True)
        with pytest.raises(TypeError, match="lr must be a real number"):
            SGD(p, lr="0.1")
        with pytest.raises(ValueError, match="empty parameter list"):
            SGD([], lr=0.1)
        with pytest.raises(TypeError, match="can only optimize pydl.nn.Parameter"):
            SGD([np.zeros(3)], lr=0.1)
        with pytest.raises(ValueError, match="more than one parameter group"):
            SGD([{"params": p}, {"params": p}], lr=0.1)

    def test_functional_in_place_rules(self):
        g = np.ones(4, np.float32)
        ro = np.zeros(4, np.float32)
        ro.setflags(write=False)
        with pytest.raises(ValueError, match="param is read-only"):
            F.sgd_step(ro, g, lr=0.1)
        strided = np.zeros(8, np.float32)[::2]
        with pytest.raises(ValueError, match="param must be C-contiguous"):
            F.sgd_step(strided, g, lr=0.1)
        with pytest.raises(TypeError, match="grad has dtype float64"):
            F.sgd_step(np.zeros(4, np.float32), np.ones(4), lr=0.1)
        with pytest.raises(ValueError, match="grad has shape"):
            F.sgd_step(np.zeros(4, np.float32), np.ones(5, np.float32), lr=0.1)
        with pytest.raises(ValueError, match="momentum_buffer is required"):
            F.sgd_step(np.zeros(4, np.float32), g, lr=0.1, momentum=0.9)
        with pytest.raises(TypeError, match="param must be a numpy array"):
            F.sgd_step([0.0, 1.0], [1.0, 1.0], lr=0.1)


def test_sgd_bitwise_same_at_any_thread_count():
    rng = np.random.default_rng(0)
    g = randn(rng, (100003,), np.float32)
    outs = []
    for n in (1, 2, 3, 8):
        p = np.linspace(-1, 1, 100003, dtype=np.float32)
        buf = np.empty_like(p)
        with pydl.threads(n):
            for step in range(3):
                F.sgd_step(p, g, buf, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01,
                           first_step=step == 0)
        outs.append(p)
    assert all(np.array_equal(outs[0], o) for o in outs[1:])


@pytest.mark.parametrize("cfg", [
    {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}, {"lr": 0.1},
    {"lr": 0.1, "momentum": 0.5, "dampening": 0.2, "maximize": True}])
def test_sgd_optimizer_step_same_bits_as_sgd_step(cfg, rng):
    """SGD.step's loop (hyper-parameters checked once per group) gives F.sgd_step's bits,
    parameter by parameter, and skips parameters without a gradient."""
    shapes = [(4, 3), (5,), (2, 3, 3), (7,)]
    params = [Parameter(randn(rng, s, np.float32)) for s in shapes]
    twins = [p.data.copy() for p in params]
    bufs = [np.empty_like(t) for t in twins]
    opt = SGD(params, **cfg)
    for step in range(3):
        grads = [randn(rng, s, np.float32) for s in shapes]
        for i, (p, g) in enumerate(zip(params, grads)):
            p.grad = None if (i == 3 and step == 1) else g.copy()
        opt.step()
        for i, (t, g, b) in enumerate(zip(twins, grads, bufs)):
            if i == 3 and step == 1:
                continue
            F.sgd_step(t, g, b if cfg.get("momentum") else None, first_step=step == 0,
                       **cfg)
        for p, t in zip(params, twins):
            assert p.data.tobytes() == t.tobytes()


def test_sgd_optimizer_step_checks_each_step(rng):
    p = Parameter(randn(rng, (4,), np.float32))
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad = p.data                                  # the parameter itself
    with pytest.raises(ValueError, match="shares memory"):
        opt.step()
    p.grad = randn(rng, (4,), np.float64)
    with pytest.raises(TypeError, match="grad has dtype float64"):
        opt.step()
    p.grad = randn(rng, (5,), np.float32)
    with pytest.raises(ValueError, match="grad has shape"):
        opt.step()
    p.grad = randn(rng, (8,), np.float32)[::2]       # strided: a contiguous copy is read
    want = p.data.copy()
    F.sgd_step(want, p.grad.copy(), opt.state[p]["momentum_buffer"].copy(), lr=0.1,
               momentum=0.9)
    opt.step()
    assert p.data.tobytes() == want.tobytes()
    opt.param_groups[0]["lr"] = "0.1"
    with pytest.raises(TypeError, match="lr"):
        opt.step()
    opt.param_groups[0]["lr"] = float("nan")
    with pytest.raises(ValueError, match="lr"):
        opt.step()


def test_sgd_subclass_update_is_called_per_parameter(rng):
    calls = []

    class Counting(SGD):
        def _update(self, param, group, state):
            calls.append(param)
            super()._update(param, group, state)

    params = [Parameter(randn(rng, (3,), np.float32)) for _ in range(3)]
    for p in params:
        p.grad = randn(rng, (3,), np.float32)
    Counting(params, lr=0.1, momentum=0.9).step()
    assert calls == params
