"""nn.GroupNorm and nn.InstanceNorm1d/2d/3d: float64 gradient checks of every
configuration (explicit backward and tape), running statistics, input checks."""

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.testing import gradcheck


def _x(*shape, seed=0, shift=0.5):
    return np.random.default_rng(seed).standard_normal(shape) + shift


def _randomize(module, seed=1):
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data[...] = rng.random(p.shape) + 0.5
    return module


@pytest.mark.parametrize("groups, channels, shape, kwargs", [
    (2, 4, (3, 4, 5), {}),
    (1, 3, (2, 3, 2, 3), {}),
    (3, 3, (2, 3, 4), {}),
    (2, 6, (4, 6), {}),
    (2, 4, (2, 4, 2, 2, 2), {"eps": 1e-2}),
    (2, 4, (3, 4, 5), {"affine": False}),
    (2, 4, (3, 4, 5), {"bias": False}),
], ids=str)
def test_group_norm_gradcheck(groups, channels, shape, kwargs):
    m = _randomize(nn.GroupNorm(groups, channels, dtype=np.float64, **kwargs))
    assert gradcheck(m, _x(*shape))


INSTANCE = [
    (nn.InstanceNorm1d, (3, 3, 5)),
    (nn.InstanceNorm1d, (3, 5)),            # unbatched (C, L)
    (nn.InstanceNorm2d, (2, 3, 3, 4)),
    (nn.InstanceNorm2d, (3, 3, 4)),
    (nn.InstanceNorm3d, (2, 3, 2, 3, 2)),
    (nn.InstanceNorm3d, (3, 2, 3, 2)),
]
CONFIGS = [{}, {"affine": True}, {"affine": True, "track_running_stats": True},
           {"track_running_stats": True, "momentum": None}, {"affine": True, "bias": False}]


@pytest.mark.parametrize("cls, shape", INSTANCE, ids=str)
@pytest.mark.parametrize("kwargs", CONFIGS, ids=str)
@pytest.mark.parametrize("training", [True, False])
def test_instance_norm_gradcheck(cls, shape, kwargs, training):
    m = _randomize(cls(3, dtype=np.float64, **kwargs))
    if m.track_running_stats:
        m.running_mean[...] = [0.3, -0.2, 0.1]
        m.running_var[...] = [0.5, 1.5, 2.0]
    m.train(training)
    assert gradcheck(m, _x(*shape))


def test_instance_norm_running_stats_and_eval():
    m = nn.InstanceNorm2d(3, affine=True, track_running_stats=True, momentum=0.25,
                          dtype=np.float64)
    x = _x(4, 3, 5, 6, shift=2.0)
    m(x)
    per = x.reshape(4, 3, -1)
    np.testing.assert_allclose(m.running_mean, 0.25 * per.mean(axis=2).mean(axis=0))
    np.testing.assert_allclose(m.running_var,
                               0.75 + 0.25 * per.var(axis=2, ddof=1).mean(axis=0))
    assert int(m.num_batches_tracked) == 0      # as PyTorch: never counted here
    m.eval()
    before = m.running_mean.copy()
    y = m(x)
    np.testing.assert_array_equal(m.running_mean, before)
    w, b = m.weight.data, m.bias.data
    expect = ((x - before[:, None, None]) / np.sqrt(m.running_var[:, None, None] + 1e-5)
              * w[:, None, None] + b[:, None, None])
    np.testing.assert_allclose(y, expect, rtol=1e-12, atol=1e-12)


def test_instance_norm_without_tracking_uses_instance_stats_in_eval():
    m = nn.InstanceNorm1d(2).eval()
    y = m(_x(3, 2, 7).astype(np.float32))
    np.testing.assert_allclose(y.mean(axis=2), 0, atol=1e-6)
    assert m.running_mean is None and list(m.state_dict()) == []


def test_instance_norm_momentum_none_leaves_running_stats():
    m = nn.InstanceNorm2d(3, track_running_stats=True, momentum=None)
    m(_x(2, 3, 4, 4).astype(np.float32))
    np.testing.assert_array_equal(m.running_mean, 0)
    np.testing.assert_array_equal(m.running_var, 1)


def test_unbatched_equals_batch_of_one():
    m = nn.InstanceNorm2d(3, affine=True, dtype=np.float64)
    _randomize(m)
    x = _x(3, 4, 5)
    y = m(x)
    gx = m.backward(np.ones_like(y) * x)
    y1 = m(x[None])
    gx1 = m.backward((np.ones_like(y) * x)[None])
    np.testing.assert_array_equal(y, y1[0])
    np.testing.assert_array_equal(gx, gx1[0])


def test_state_dict_keys_as_pytorch():
    assert list(nn.GroupNorm(2, 4).state_dict()) == ["weight", "bias"]
    assert list(nn.GroupNorm(2, 4, affine=False).state_dict()) == []
    assert list(nn.InstanceNorm2d(3, affine=True, track_running_stats=True).state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert list(nn.InstanceNorm1d(3).state_dict()) == []


def test_group_norm_on_the_tape_matches_explicit_backward():
    m = _randomize(nn.GroupNorm(2, 4, dtype=np.float64))
    x = _x(2, 4, 3)
    y = m(x)
    gx = m.backward(x)
    gw = m.weight.grad.copy()
    m.zero_grad()
    t = pydl.tensor(x, requires_grad=True)
    out = m(t)
    (out * pydl.tensor(x)).sum().backward()
    np.testing.assert_allclose(out.data, y)
    np.testing.assert_allclose(t.grad, gx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.weight.grad, gw, rtol=1e-12, atol=1e-12)


def test_group_norm_bad_arguments():
    with pytest.raises(ValueError, match=r"num_channels \(4\) must be divisible by num_groups \(3\)"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match="num_groups must be >= 1"):
        nn.GroupNorm(0, 4)
    with pytest.raises(TypeError, match="num_channels must be an int"):
        nn.GroupNorm(2, 4.0)
    with pytest.raises(ValueError, match="eps must be > 0"):
        nn.GroupNorm(2, 4, eps=-1.0)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 4, \*\)"):
        nn.GroupNorm(2, 4)(np.zeros((2, 6, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 4, \*\)"):
        nn.GroupNorm(2, 4)(np.zeros(4, np.float32))


def test_instance_norm_bad_arguments():
    with pytest.raises(ValueError, match=r"InstanceNorm2d expected 4-D \(N, C, H, W\)"):
        nn.InstanceNorm2d(3)(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="InstanceNorm1d expected 3-D"):
        nn.InstanceNorm1d(3)(np.zeros((2, 3, 4, 5), np.float32))
    with pytest.raises(ValueError, match=r"InstanceNorm3d\(3\) got input with 4 channels"):
        nn.InstanceNorm3d(3, affine=True)(np.zeros((1, 4, 2, 2, 2), np.float32))
    with pytest.warns(UserWarning, match="num_features is unused"):
        nn.InstanceNorm1d(3)(np.zeros((2, 4, 5), np.float32))
    with pytest.raises(ValueError, match="expected more than 1 spatial element"):
        nn.InstanceNorm1d(3)(np.zeros((2, 3, 1), np.float32))
    with pytest.raises(ValueError, match="momentum must be <= 1"):
        nn.InstanceNorm2d(3, momentum=2.0)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        nn.InstanceNorm2d(3, dtype=np.int32)
