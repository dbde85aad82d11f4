import math

import numpy as np
import pytest

from pydl.nn import Parameter
from pydl.nn.utils import clip_grad_norm_, clip_grad_value_


def _params(rng):
    ps = [Parameter(np.zeros(s, np.float32)) for s in [(3, 4), (5,), (2, 2)]]
    for p in ps:
        p.grad = rng.standard_normal(p.shape).astype(np.float32) * 10
    return ps


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, math.inf])
def test_clip_grad_norm(norm_type, rng):
    ps = _params(rng)
    flat = np.concatenate([p.grad.ravel() for p in ps]).astype(np.float64)
    expected = (np.max(np.abs(flat)) if math.isinf(norm_type)
                else np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type))
    total = clip_grad_norm_(ps, 1.0, norm_type)
    assert total == pytest.approx(expected, rel=1e-6)
    flat_after = np.concatenate([p.grad.ravel() for p in ps]).astype(np.float64)
    after = (np.max(np.abs(flat_after)) if math.isinf(norm_type)
             else np.sum(np.abs(flat_after) ** norm_type) ** (1 / norm_type))
    assert after == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(flat_after, flat / expected, rtol=1e-5)


def test_clip_grad_norm_leaves_small_gradients(rng):
    ps = _params(rng)
    before = [p.grad.copy() for p in ps]
    clip_grad_norm_(ps, 1e6)
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p.grad, b)


def test_clip_grad_norm_matches_pytorch(rng):
    torch = pytest.importorskip("torch")
    ps = _params(rng)
    tps = [torch.nn.Parameter(torch.zeros(p.shape)) for p in ps]
    for p, tp in zip(ps, tps):
        tp.grad = torch.from_numpy(p.grad.copy())
    total = clip_grad_norm_(ps, 2.5)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, 2.5)
    assert total == pytest.approx(float(ttotal), rel=1e-6)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-6)


def test_clip_grad_value(rng):
    ps = _params(rng)
    clip_grad_value_(ps, 0.5)
    assert all(np.abs(p.grad).max() <= 0.5 for p in ps)


def test_clip_validation():
    p = Parameter(np.zeros(3, np.float32))
    p.grad = np.full(3, np.inf, np.float32)
    with pytest.raises(RuntimeError, match="total norm"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm must be finite"):
        clip_grad_norm_([p], float("nan"))
    with pytest.raises(ValueError, match="norm_type must be >= 1"):
        clip_grad_norm_([p], 1.0, norm_type=0.5)
    with pytest.raises(TypeError, match="parameters must be pydl.nn.Parameter"):
        clip_grad_value_([np.zeros(3)], 1.0)
    assert clip_grad_norm_([Parameter(np.zeros(2, np.float32))], 1.0) == 0.0
