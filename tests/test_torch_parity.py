"""Parity with PyTorch (CPU) for the same inputs and weights; skipped without torch."""

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.optim import SGD

torch = pytest.importorskip("torch")


def t(a, grad=False):
    x = torch.from_numpy(np.array(a))
    return x.requires_grad_(grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_loads_pytorch_state_dict_and_matches(dtype, bias):
    torch.manual_seed(0)
    tl = torch.nn.Linear(37, 19, bias=bias).to(torch.float64 if dtype == np.float64 else
                                                 torch.float32)
    pl = nn.Linear(37, 19, bias=bias, dtype=dtype)
    pl.load_state_dict(tl.state_dict())      # tensors load directly
    x = np.random.default_rng(0).standard_normal((8, 37)).astype(dtype)
    g = np.random.default_rng(1).standard_normal((8, 19)).astype(dtype)
    tx = t(x, True)
    ty = tl(tx)
    ty.backward(t(g))
    y = pl(x)
    gx = pl.backward(g)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol)
    np.testing.assert_allclose(gx, tx.grad.numpy(), **tol)
    np.testing.assert_allclose(pl.weight.grad, tl.weight.grad.numpy(), **tol)
    if bias:
        np.testing.assert_allclose(pl.bias.grad, tl.bias.grad.numpy(), **tol)


def test_sequential_state_dict_keys_match_pytorch():
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    pm = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert list(pm.state_dict()) == list(tm.state_dict())
    pm.load_state_dict(tm.state_dict())
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(pm(x), tm(t(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


ACTIVATIONS = [
    (nn.ReLU(), torch.nn.ReLU()),
    (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
    (nn.ELU(0.8), torch.nn.ELU(0.8)),
    (nn.Sigmoid(), torch.nn.Sigmoid()),
    (nn.Tanh(), torch.nn.Tanh()),
    (nn.SiLU(), torch.nn.SiLU()),
    (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
    (nn.LogSoftmax(dim=1), torch.nn.LogSoftmax(dim=1)),
    (nn.Softmax(dim=0), torch.nn.Softmax(dim=0)),
]


@pytest.mark.parametrize("ours,theirs", ACTIVATIONS, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_match_pytorch(ours, theirs, dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((16, 33)) * 4).astype(dtype)
    g = rng.standard_normal((16, 33)).astype(dtype)
    tx = t(x, True)
    ty = theirs(tx)
    ty.backward(t(g))
    y = ours(x)
    gx = ours.backward(g)
    tol = dict(rtol=2e-6, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol)
    np.testing.assert_allclose(gx, tx.grad.numpy(), **tol)


LOSS_CASES = [
    (dict(), "index"),
    (dict(reduction="sum"), "index"),
    (dict(reduction="none"), "index"),
    (dict(label_smoothing=0.15), "index"),
    (dict(ignore_index=2), "index"),
    (dict(weight=[0.2, 1.0, 2.0, 0.7, 1.3], label_smoothing=0.1, ignore_index=0), "index"),
    (dict(weight=[0.2, 1.0, 2.0, 0.7, 1.3], reduction="none", label_smoothing=0.3), "index"),
]


@pytest.mark.parametrize("kwargs,_", LOSS_CASES, ids=str)
@pytest.mark.parametrize("kdim", [False, True])
def test_cross_entropy_matches_pytorch(kwargs, _, kdim):
    rng = np.random.default_rng(0)
    shape = (6, 5, 3) if kdim else (12, 5)
    x = (rng.standard_normal(shape) * 3).astype(np.float64)
    target = rng.integers(0, 5, (6, 3) if kdim else 12)
    tk = dict(kwargs)
    if "weight" in tk:
        tk["weight"] = torch.tensor(tk["weight"], dtype=torch.float64)
    tloss_fn = torch.nn.CrossEntropyLoss(**tk)
    tx = t(x, True)
    tl = tloss_fn(tx, torch.from_numpy(target))
    up = rng.standard_normal(tl.shape) if tl.ndim else np.float64(1.3)
    tl.backward(t(up) if tl.ndim else torch.tensor(1.3, dtype=torch.float64))
    crit = nn.CrossEntropyLoss(**kwargs)
    loss = crit(x, target)
    gx = crit.backward(up)
    np.testing.assert_allclose(loss, tl.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("kwargs", [dict(), dict(reduction="sum"), dict(reduction="none"),
                                    dict(pos_weight=[2.0, 0.5, 1.0]),
                                    dict(weight=[1.0, 3.0, 0.5], pos_weight=[2.0, 0.5, 1.0])],
                         ids=str)
def test_bce_with_logits_matches_pytorch(kwargs):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((8, 3)) * 5).astype(np.float32)
    y = rng.random((8, 3)).astype(np.float32)
    tk = {k: (torch.tensor(v) if isinstance(v, list) else v) for k, v in kwargs.items()}
    tx = t(x, True)
    tl = torch.nn.BCEWithLogitsLoss(**tk)(tx, t(y))
    tl.backward(torch.ones_like(tl))
    crit = nn.BCEWithLogitsLoss(**kwargs)
    loss = crit(x, y)
    gx = crit.backward(np.ones(tl.shape, np.float32) if tl.ndim else 1.0)
    np.testing.assert_allclose(loss, tl.detach().numpy(), rtol=2e-6)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=2e-6, atol=1e-8)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_matches_pytorch(reduction):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((9, 4)).astype(np.float32)
    y = rng.standard_normal((9, 4)).astype(np.float32)
    tx = t(x, True)
    tl = torch.nn.MSELoss(reduction=reduction)(tx, t(y))
    tl.backward(torch.ones_like(tl))
    crit = nn.MSELoss(reduction=reduction)
    loss = crit(x, y)
    gx = crit.backward(np.ones(tl.shape, np.float32) if tl.ndim else 1.0)
    np.testing.assert_allclose(loss, tl.detach().numpy(), rtol=2e-6)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=2e-6)


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.01, momentum=0.7, dampening=0.2, weight_decay=0.05),
    dict(lr=0.03, momentum=0.5, weight_decay=0.01, maximize=True)], ids=str)
def test_sgd_steps_match_pytorch(kwargs):
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    tm = tm.double()
    pm = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    pm.load_state_dict(tm.state_dict())
    topt = torch.optim.SGD(tm.parameters(), **kwargs)
    popt = SGD(pm.parameters(), **kwargs)
    rng = np.random.default_rng(0)
    tcrit, pcrit = torch.nn.CrossEntropyLoss(), nn.CrossEntropyLoss()
    for _ in range(5):
        x = rng.standard_normal((10, 6))
        y = rng.integers(0, 3, 10)
        topt.zero_grad()
        tcrit(tm(t(x)), torch.from_numpy(y)).backward()
        topt.step()
        popt.zero_grad()
        pcrit(pm(x), y)
        pm.backward(pcrit.backward())
        popt.step()
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(pm.state_dict()[k], v.numpy(), rtol=1e-12, atol=1e-13)
