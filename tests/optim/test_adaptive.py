"""Adam, AdamW, Adagrad, RMSprop (and SGD): PyTorch parity, state dicts, validation."""

import copy

import numpy as np
import pytest

from pydl import optim
from pydl.nn import Parameter

SHAPES = [(5, 7), (7,), ()]

CONFIGS = [
    ("Adam", {}),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", {}),
    ("AdamW", dict(lr=0.02, weight_decay=0.3, amsgrad=True, maximize=True)),
    ("Adagrad", {}),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1,
                     initial_accumulator_value=0.5, eps=1e-6, maximize=True)),
    ("RMSprop", {}),
    ("RMSprop", dict(centered=True, weight_decay=0.1, alpha=0.9)),
    ("RMSprop", dict(momentum=0.9, maximize=True, eps=1e-6)),
    ("RMSprop", dict(lr=0.001, centered=True, momentum=0.5)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
]
IDS = [f"{name}-{cfg}" for name, cfg in CONFIGS]


def _params(seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [Parameter(np.array(rng.standard_normal(s), dtype)) for s in SHAPES]


def _grads(rng, dtype=np.float32):
    return [np.array(rng.standard_normal(s), dtype) for s in SHAPES]


def _groups(params, lr_scale):
    """Two parameter groups, the second with its own learning rate."""
    return [{"params": params[:2]}, {"params": params[2:], "lr": lr_scale}]


def _step(opt, params, grads):
    for p, g in zip(params, grads):
        p.grad = g.copy()
    opt.step()


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name,cfg", CONFIGS, ids=IDS)
def test_matches_torch_step_by_step(name, cfg, dtype):
    torch = pytest.importorskip("torch")
    params = _params(0, dtype)
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    group_lr = cfg.get("lr", 0.01) * 3
    opt = getattr(optim, name)(_groups(params, group_lr), **cfg)
    topt = getattr(torch.optim, name)(_groups(tparams, group_lr), **cfg)
    rng = np.random.default_rng(1)
    tol = dict(rtol=2e-6, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    for _ in range(6):
        grads = _grads(rng, dtype)
        _step(opt, params, grads)
        for t, g in zip(tparams, grads):
            t.grad = torch.from_numpy(g.copy())
        topt.step()
        for p, t in zip(params, tparams):
            np.testing.assert_allclose(p.data, t.detach().numpy(), **tol)
    for p, t in zip(params, tparams):
        ours, theirs = opt.state[p], topt.state[t]
        assert set(ours) == {k for k, v in theirs.items() if v is not None}
        for key, value in theirs.items():
            if key == "step":
                assert ours[key] == int(value)
            elif value is not None:
                np.testing.assert_allclose(ours[key], value.numpy(), **tol)


@pytest.mark.parametrize("name,cfg", CONFIGS, ids=IDS)
def test_state_dict_round_trip_continues_bitwise(name, cfg):
    rng = np.random.default_rng(2)
    params = _params(3)
    opt = getattr(optim, name)(_groups(params, 0.05), **cfg)
    for _ in range(3):
        _step(opt, params, _grads(rng))
    saved = opt.state_dict()
    frozen = copy.deepcopy(saved)
    snapshot = [p.data.copy() for p in params]
    # a fresh optimizer (other defaults) on copies of the parameters, restored
    params2 = [Parameter(s.copy()) for s in snapshot]
    opt2 = getattr(optim, name)(_groups(params2, 0.5), lr=0.7)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[1]["lr"] == 0.05 and "params" in opt2.param_groups[0]
    grads = [_grads(rng) for _ in range(3)]
    for g in grads:
        _step(opt, params, g)
    for g in grads:
        _step(opt2, params2, g)
    for p, p2 in zip(params, params2):
        assert p.data.tobytes() == p2.data.tobytes()
        assert opt.state[p].keys() == opt2.state[p2].keys()
        for key, value in opt.state[p].items():
            assert np.asarray(value).tobytes() == np.asarray(opt2.state[p2][key]).tobytes()
    # the saved dict holds copies: training on changed none of it
    for i, entries in frozen["state"].items():
        for key, value in entries.items():
            assert np.array_equal(saved["state"][i][key], value)


@pytest.mark.parametrize("name,cfg", CONFIGS, ids=IDS)
def test_loads_a_pytorch_state_dict(name, cfg):
    """A torch optimizer's state_dict (tensors as arrays) loads unchanged and training
    continues as PyTorch's does."""
    torch = pytest.importorskip("torch")
    params = _params(4)
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    topt = getattr(torch.optim, name)(_groups(tparams, 0.05), **cfg)
    rng = np.random.default_rng(5)
    for _ in range(3):
        for t, g in zip(tparams, _grads(rng)):
            t.grad = torch.from_numpy(g)
        topt.step()
    tsd = topt.state_dict()
    sd = {"state": {i: {k: (v.numpy() if torch.is_tensor(v) else v) for k, v in s.items()}
                    for i, s in tsd["state"].items()},
          "param_groups": tsd["param_groups"]}
    mine = [Parameter(t.detach().numpy().copy()) for t in tparams]
    opt = getattr(optim, name)(_groups(mine, 0.5))
    opt.load_state_dict(sd)
    for _ in range(2):
        grads = _grads(rng)
        _step(opt, mine, grads)
        for t, g in zip(tparams, grads):
            t.grad = torch.from_numpy(g.copy())
        topt.step()
    for p, t in zip(mine, tparams):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=2e-6, atol=2e-6)


def test_param_groups_take_their_own_lr():
    a, b = Parameter(np.zeros(3, np.float32)), Parameter(np.zeros(3, np.float32))
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.1}], lr=0.01)
    a.grad = np.ones(3, np.float32)
    b.grad = np.ones(3, np.float32)
    opt.step()
    # Adam's first step moves every element by lr (times m_hat / sqrt(v_hat) = 1)
    np.testing.assert_allclose(a.data, -0.01, rtol=1e-5)
    np.testing.assert_allclose(b.data, -0.1, rtol=1e-5)
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)


def test_parameters_without_grad_are_skipped_and_adagrad_state_exists_early():
    a, b = Parameter(np.ones(3, np.float32)), Parameter(np.ones(2, np.float32))
    opt = optim.Adam([a, b])
    a.grad = np.ones(3, np.float32)
    opt.step()
    assert b not in opt.state and np.array_equal(b.data, np.ones(2))
    ada = optim.Adagrad([a, b], initial_accumulator_value=0.3)
    assert ada.state_dict()["state"][1]["step"] == 0
    np.testing.assert_allclose(ada.state[b]["sum"], 0.3)


def test_adamw_decays_the_weights_not_the_gradient():
    p = Parameter(np.full(4, 2.0, np.float32))
    opt = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    assert opt.param_groups[0]["decoupled_weight_decay"] is True
    p.grad = np.zeros(4, np.float32)
    opt.step()   # zero gradient: Adam's part is 0, only the decay acts
    np.testing.assert_allclose(p.data, 2.0 * (1 - 0.1 * 0.5), rtol=1e-6)


def test_load_state_dict_rejects_bad_input():
    p = Parameter(np.zeros(3, np.float32))
    opt = optim.Adam([p])
    p.grad = np.ones(3, np.float32)
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"] = np.zeros(4)
    with pytest.raises(ValueError, match="'exp_avg' of parameter 0 has shape"):
        optim.Adam([Parameter(np.zeros(3, np.float32))]).load_state_dict(sd)
    sd = opt.state_dict()
    sd["state"][0]["step"] = 1.5
    with pytest.raises(ValueError, match="'step' of parameter 0 must be a whole number"):
        optim.Adam([Parameter(np.zeros(3, np.float32))]).load_state_dict(sd)
    sd = opt.state_dict()
    sd["param_groups"][0]["betas"] = (0.9, 1.5)
    with pytest.raises(ValueError, match=r"invalid betas\[1\]"):
        optim.Adam([Parameter(np.zeros(3, np.float32))]).load_state_dict(sd)


BAD = [
    ("Adam", dict(lr=-1e-3), ValueError, "invalid lr"),
    ("Adam", dict(lr=float("nan")), ValueError, "invalid lr"),
    ("Adam", dict(betas=(1.0, 0.999)), ValueError, r"invalid betas\[0\]"),
    ("Adam", dict(betas=(0.9, -0.1)), ValueError, r"invalid betas\[1\]"),
    ("Adam", dict(betas=0.9), TypeError, "betas must be a pair"),
    ("Adam", dict(eps=-1e-8), ValueError, "invalid eps"),
    ("Adam", dict(weight_decay=-1), ValueError, "invalid weight_decay"),
    ("AdamW", dict(weight_decay=float("inf")), ValueError, "invalid weight_decay"),
    ("AdamW", dict(lr="1e-3"), TypeError, "lr must be a real number"),
    ("Adagrad", dict(lr_decay=-0.1), ValueError, "invalid lr_decay"),
    ("Adagrad", dict(initial_accumulator_value=-1), ValueError,
     "invalid initial_accumulator_value"),
    ("Adagrad", dict(eps=float("nan")), ValueError, "invalid eps"),
    ("RMSprop", dict(alpha=-0.5), ValueError, "invalid alpha"),
    ("RMSprop", dict(momentum=-0.5), ValueError, "invalid momentum"),
    ("RMSprop", dict(eps=-1.0), ValueError, "invalid eps"),
]


@pytest.mark.parametrize("name,kw,exc,match", BAD, ids=[str(b[:2]) for b in BAD])
def test_bad_hyper_parameters(name, kw, exc, match):
    with pytest.raises(exc, match=match):
        getattr(optim, name)([Parameter(np.zeros(3, np.float32))], **kw)


def test_bad_gradient_names_the_argument():
    p = Parameter(np.zeros(3, np.float32))
    opt = optim.Adam([p])
    p.grad = np.zeros(3)  # float64 gradient for a float32 parameter
    with pytest.raises(TypeError, match="grad has dtype float64 but param"):
        opt.step()
    assert p not in opt.state or opt.state[p]["step"] == 0
