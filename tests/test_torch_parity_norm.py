"""PyTorch parity of normalization, dropout and the extra activations: PyTorch's
state_dict loads unchanged, and outputs, gradients and running statistics match over
several training steps; skipped without torch."""

import numpy as np
import pytest

from pydl import functional as F
from pydl import nn

torch = pytest.importorskip("torch")

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


def _t(a, grad=False):
    return torch.from_numpy(np.array(a)).requires_grad_(grad)


def _torch_dtype(dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


def _randomize(tm, seed=0):
    """Random affine parameters and running statistics, so loading them matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.rand(p.shape, generator=g, dtype=p.dtype) + 0.5)
        for name, b in tm.named_buffers():
            if b.dtype.is_floating_point:
                b.copy_(torch.rand(b.shape, generator=g, dtype=b.dtype) + 0.25)


def _step(pm, tm, x, g, dtype):
    """One forward and backward of both; compare output, input and parameter grads."""
    tx = _t(x, True)
    ty = tm(tx)
    ty.backward(_t(g))
    y = pm(x)
    gx = pm.backward(g)
    np.testing.assert_allclose(y, ty.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(gx, tx.grad.numpy(), **TOL[dtype])
    for (name, p), (tname, tp) in zip(pm.named_parameters(), tm.named_parameters()):
        assert name == tname
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), **TOL[dtype], err_msg=name)


def _compare_state(pm, tm, dtype):
    theirs = tm.state_dict()
    ours = pm.state_dict()
    assert list(ours) == list(theirs)
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k].numpy(), **TOL[dtype], err_msg=k)


BATCH_NORMS = [
    ("1d", dict(), (16, 5)),
    ("1d", dict(), (8, 5, 7)),
    ("2d", dict(), (4, 5, 6, 7)),
    ("3d", dict(), (2, 5, 3, 4, 2)),
    ("2d", dict(momentum=None), (4, 5, 3, 3)),
    ("2d", dict(affine=False), (4, 5, 3, 3)),
    ("1d", dict(track_running_stats=False), (12, 5)),
    ("2d", dict(momentum=0.5, eps=1e-3), (3, 5, 2, 2)),
]


@pytest.mark.parametrize("kind, kwargs, shape", BATCH_NORMS, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_matches_pytorch_over_training_steps_and_eval(kind, kwargs, shape, dtype):
    tm = getattr(torch.nn, f"BatchNorm{kind}")(5, **kwargs).to(_torch_dtype(dtype))
    _randomize(tm)
    pm = getattr(nn, f"BatchNorm{kind}")(5, dtype=dtype, **kwargs)
    pm.load_state_dict(tm.state_dict())        # PyTorch tensors load unchanged
    rng = np.random.default_rng(0)
    for step in range(4):
        x = (rng.standard_normal(shape) * (1 + step) + step).astype(dtype)
        g = rng.standard_normal(shape).astype(dtype)
        tm.zero_grad()
        pm.zero_grad()
        _step(pm, tm, x, g, dtype)
        _compare_state(pm, tm, dtype)
    tm.eval()
    pm.eval()
    x = rng.standard_normal(shape).astype(dtype)
    tm.zero_grad()
    pm.zero_grad()
    _step(pm, tm, x, rng.standard_normal(shape).astype(dtype), dtype)
    _compare_state(pm, tm, dtype)


@pytest.mark.parametrize("shape, ns, kwargs", [
    ((6, 10), 10, {}),
    ((3, 4, 5, 6), (5, 6), {}),
    ((7, 33), 33, dict(bias=False)),
    ((7, 33), 33, dict(elementwise_affine=False, eps=1e-3)),
], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_matches_pytorch(shape, ns, kwargs, dtype):
    tm = torch.nn.LayerNorm(ns, **kwargs).to(_torch_dtype(dtype))
    _randomize(tm)
    pm = nn.LayerNorm(ns, dtype=dtype, **kwargs)
    pm.load_state_dict(tm.state_dict())
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    _step(pm, tm, x, rng.standard_normal(shape).astype(dtype), dtype)


@pytest.mark.parametrize("args", [(5,), (2,), (3, 1e-2, 0.5, 2.0), (4, 0.3, 0.75, 1.0)],
                         ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_local_response_norm_matches_pytorch(args, dtype):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((3, 8, 4, 5)) * 3).astype(dtype)
    _step(nn.LocalResponseNorm(*args), torch.nn.LocalResponseNorm(*args), x,
          rng.standard_normal(x.shape).astype(dtype), dtype)


ACTIVATIONS = [
    (lambda d: nn.PReLU(dtype=d), lambda: torch.nn.PReLU(), (6, 4, 3)),
    (lambda d: nn.PReLU(4, init=0.1, dtype=d), lambda: torch.nn.PReLU(4, init=0.1), (6, 4, 3)),
    (lambda d: nn.PReLU(7, dtype=d), lambda: torch.nn.PReLU(7), (9, 7)),
    (lambda d: nn.Softplus(), torch.nn.Softplus, (9, 7)),
    (lambda d: nn.Softplus(beta=2.0, threshold=5.0), lambda: torch.nn.Softplus(2.0, 5.0),
     (9, 7)),
    (lambda d: nn.Hardtanh(), torch.nn.Hardtanh, (9, 7)),
    (lambda d: nn.Hardtanh(-2.0, 0.5), lambda: torch.nn.Hardtanh(-2.0, 0.5), (9, 7)),
    (lambda d: nn.ReLU6(), torch.nn.ReLU6, (9, 7)),
    (lambda d: nn.GELU(), torch.nn.GELU, (9, 7)),
    (lambda d: nn.GELU("tanh"), lambda: torch.nn.GELU("tanh"), (9, 7)),
    (lambda d: nn.LogSoftmax(dim=0), lambda: torch.nn.LogSoftmax(dim=0), (9, 7)),
]


@pytest.mark.parametrize("ours, theirs, shape", ACTIVATIONS,
                         ids=lambda v: v.__name__ if isinstance(v, type) else None)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_match_pytorch(ours, theirs, shape, dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    x[::3] = np.round(x[::3])            # values on the edges of hardtanh/relu6 too
    tm = theirs().to(_torch_dtype(dtype))
    pm = ours(dtype)
    pm.load_state_dict(tm.state_dict())
    _step(pm, tm, x, rng.standard_normal(shape).astype(dtype), dtype)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_scaling_matches_pytorch(p, dtype):
    # PyTorch's mask cannot be reproduced, but its kept values can: x * (1 / (1 - p))
    # in the input's dtype, as ours
    x = np.random.default_rng(4).uniform(0.5, 2.0, 4000).astype(dtype)
    ty = torch.nn.functional.dropout(_t(x), p, training=True).numpy()
    kept = ty != 0
    y, mask = F.dropout_forward(x, p, generator=np.random.default_rng(0))
    scale = dtype(1) / dtype(1 - p)
    np.testing.assert_array_equal(ty[kept], x[kept] * scale)
    np.testing.assert_array_equal(y[mask], x[mask] * scale)
    for m, tm in ((nn.Dropout(p), torch.nn.Dropout(p)), (nn.Dropout2d(p), torch.nn.Dropout2d(p))):
        m.eval()
        tm.eval()
        x4 = x[:120].reshape(2, 3, 4, 5)
        np.testing.assert_array_equal(m(x4), tm(_t(x4)).numpy())


def test_dropout_p_one_gives_zeros_like_pytorch():
    x = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(nn.Dropout(1.0)(x),
                                  torch.nn.functional.dropout(_t(x), 1.0).numpy())
    np.testing.assert_array_equal(nn.Dropout2d(1.0)(x[None, :, :, None]),
                                  torch.nn.Dropout2d(1.0)(_t(x[None, :, :, None])).numpy())
