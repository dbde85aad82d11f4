"""Group norm and instance norm kernels against their NumPy reference, and the
checks of bad input."""

import numpy as np
import pytest

from pydl import functional as F
from pydl import reference as R
from tests.helpers import as64, assert_close, randn

# (shape, num_groups): odd sizes, one group, one channel per group, size 1, empty
GN_SHAPES = [((4, 6, 5), 3), ((2, 6, 7, 3), 1), ((3, 4, 5, 6), 4), ((2, 12), 3),
             ((1, 1, 9), 1), ((5, 8, 1), 2), ((2, 6, 2, 3, 2), 2), ((0, 4, 3), 2),
             ((3, 4, 0), 2), ((3, 0, 5), 1), ((2, 64, 97), 32), ((1, 3, 4099), 3)]

STAT_TOL = {np.float32: 1e-7, np.float64: 1e-12}


def _inputs(rng, shape, dtype, shift=3.0):
    c = shape[1]
    x = randn(rng, shape, dtype, scale=2.0) + dtype(shift)
    return x, randn(rng, c, dtype), randn(rng, c, dtype)


def _param_scale(x):
    """Parameter gradients sum N * S terms of unit size."""
    return 4 * max(1.0, float(np.sqrt(x.size / max(x.shape[1], 1))))


def _check_grads(got, ref, x, dtype):
    assert_close(got[0], ref[0], dtype)
    for a, r in zip(got[1:], ref[1:]):
        assert (a is None) == (r is None)
        if a is not None:
            assert a.dtype == dtype
            assert_close(a, r, dtype, scale=_param_scale(x))


@pytest.mark.parametrize("shape, groups", GN_SHAPES, ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_matches_reference(shape, groups, affine, dtype, rng):
    x, w, b = _inputs(rng, shape, dtype)
    if not affine:
        w = b = None
    y, mean, rstd = F.group_norm_forward(x, groups, w, b, eps=1e-4)
    ry, rmean, rrstd = R.group_norm_forward(*as64(x), groups, *as64(w, b), eps=1e-4)
    assert y.dtype == dtype and y.shape == x.shape
    assert mean.dtype == rstd.dtype == np.float64 and mean.shape == (shape[0], groups)
    assert_close(y, ry, dtype)
    tol = STAT_TOL[dtype]
    np.testing.assert_allclose(mean, rmean, rtol=tol, atol=tol)
    np.testing.assert_allclose(rstd, rrstd, rtol=10 * tol)
    g = randn(rng, shape, dtype)
    got = F.group_norm_backward(g, x, groups, w, mean, rstd)
    ref = R.group_norm_backward(*as64(g, x), groups, *as64(w), rmean, rrstd)
    _check_grads(got, ref, x, dtype)


@pytest.mark.parametrize("need", [(True, False, False), (False, True, False),
                                  (False, False, True), (False, True, True)], ids=str)
def test_group_norm_backward_computes_only_what_is_needed(need, dtype, rng):
    x, w, _ = _inputs(rng, (3, 6, 11), dtype)
    g = randn(rng, x.shape, dtype)
    _, mean, rstd = F.group_norm_forward(x, 2, w)
    full = F.group_norm_backward(g, x, 2, w, mean, rstd)
    part = F.group_norm_backward(g, x, 2, w, mean, rstd, *need)
    for wanted, a, b in zip(need, part, full):
        if wanted:
            np.testing.assert_array_equal(a, b)
        else:
            assert a is None


def test_group_norm_large_mean_keeps_its_variance(dtype):
    """Centred sums: a mean 1e4 standard deviations away does not cancel the variance."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((2, 4, 300)) + 1e4).astype(dtype)
    y, _, rstd = F.group_norm_forward(x, 2)
    ry, _, rrstd = R.group_norm_forward(x.astype(np.float64), 2)
    np.testing.assert_allclose(rstd, rrstd, rtol=1e-3 if dtype == np.float32 else 1e-9)
    assert_close(y, ry, dtype, atol=1e-3 if dtype == np.float32 else None)


def test_group_norm_constant_group_is_bias(dtype):
    x = np.full((2, 4, 5), 7.0, dtype)
    b = np.arange(4, dtype=dtype)
    y, _, _ = F.group_norm_forward(x, 2, np.ones(4, dtype), b)
    np.testing.assert_array_equal(y, np.broadcast_to(b[None, :, None], y.shape))


INSTANCE_SHAPES = [(4, 3, 5), (2, 3, 4, 5), (2, 2, 3, 2, 2), (1, 5, 257), (0, 3, 4),
                   (6, 64, 7, 7)]


@pytest.mark.parametrize("shape", INSTANCE_SHAPES, ids=str)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("running", [True, False])
def test_instance_norm_train_matches_reference(shape, affine, running, dtype, rng):
    x, w, b = _inputs(rng, shape, dtype)
    if not affine:
        w = b = None
    c = shape[1]
    rm = rv = rm64 = rv64 = None
    if running:
        rm, rv = randn(rng, c, dtype), (rng.random(c) + 0.5).astype(dtype)
        rm64, rv64 = rm.astype(np.float64), rv.astype(np.float64)
    y, mean, rstd = F.instance_norm_forward(x, w, b, rm, rv, momentum=0.3)
    ry, rmean, rrstd = R.instance_norm_forward(*as64(x, w, b), rm64, rv64, momentum=0.3)
    assert mean.shape == rstd.shape == (shape[0], c)
    assert_close(y, ry, dtype)
    np.testing.assert_allclose(mean, rmean, rtol=STAT_TOL[dtype], atol=STAT_TOL[dtype])
    if running:
        assert_close(rm, rm64, dtype)
        assert_close(rv, rv64, dtype)
    g = randn(rng, shape, dtype)
    got = F.instance_norm_backward(g, x, w, mean, rstd)
    ref = R.instance_norm_backward(*as64(g, x, w), rmean, rrstd)
    _check_grads(got, ref, x, dtype)


@pytest.mark.parametrize("shape", [(4, 3, 5), (2, 3, 4, 5), (0, 3, 2), (2, 3, 1)], ids=str)
def test_instance_norm_running_stats_match_reference(shape, dtype, rng):
    """use_input_stats=False: the running statistics, left unchanged (a single spatial
    element is fine then)."""
    x, w, b = _inputs(rng, shape, dtype)
    c = shape[1]
    rm, rv = randn(rng, c, dtype), (rng.random(c) + 0.5).astype(dtype)
    before = rm.copy(), rv.copy()
    y, mean, rstd = F.instance_norm_forward(x, w, b, rm, rv, use_input_stats=False)
    ry, rmean, rrstd = R.instance_norm_forward(*as64(x, w, b, rm, rv), use_input_stats=False)
    np.testing.assert_array_equal(rm, before[0])
    np.testing.assert_array_equal(rv, before[1])
    assert_close(y, ry, dtype)
    g = randn(rng, shape, dtype)
    got = F.instance_norm_backward(g, x, w, mean, rstd, use_input_stats=False)
    ref = R.instance_norm_backward(*as64(g, x, w), rmean, rrstd, use_input_stats=False)
    _check_grads(got, ref, x, dtype)


def test_instance_norm_is_group_norm_with_one_channel_per_group(rng):
    x, w, b = _inputs(rng, (3, 5, 4, 6), np.float32)
    y1, m1, r1 = F.instance_norm_forward(x, w, b)
    y2, m2, r2 = F.group_norm_forward(x, 5, w, b)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(r1, r2)


def test_read_only_and_strided_inputs_are_accepted(rng):
    x, w, b = _inputs(rng, (3, 4, 10), np.float64)
    xs = np.asarray(np.concatenate([x, x], axis=2)[:, :, ::2])
    x.flags.writeable = False
    y1, _, _ = F.group_norm_forward(x, 2, w, b)
    y2, _, _ = F.group_norm_forward(xs, 2, w, b)
    np.testing.assert_array_equal(y1, F.group_norm_forward(np.array(x), 2, w, b)[0])
    assert_close(y2, R.group_norm_forward(np.ascontiguousarray(xs), 2, w, b)[0], np.float64)


# ------------------------------------------------------------------- bad input

def test_group_norm_bad_input():
    x = np.zeros((2, 6, 3), np.float32)
    with pytest.raises(ValueError, match="num_groups=4 must divide the number of channels"):
        F.group_norm_forward(x, 4)
    with pytest.raises(ValueError, match="num_groups must be >= 1"):
        F.group_norm_forward(x, 0)
    with pytest.raises(TypeError, match="num_groups must be an int"):
        F.group_norm_forward(x, 2.0)
    with pytest.raises(ValueError, match="x must have at least 2 dimension"):
        F.group_norm_forward(np.zeros(6, np.float32), 2)
    with pytest.raises(TypeError, match="x must be a float32 or float64"):
        F.group_norm_forward(np.zeros((2, 6), np.int64), 2)
    with pytest.raises(ValueError, match="weight has 5 elements but x has 6 channels"):
        F.group_norm_forward(x, 2, np.ones(5, np.float32))
    with pytest.raises(TypeError, match="bias has dtype float64 but x has dtype float32"):
        F.group_norm_forward(x, 2, None, np.ones(6))
    with pytest.raises(ValueError, match="eps must be > 0"):
        F.group_norm_forward(x, 2, eps=0.0)


def test_group_norm_backward_bad_input():
    x = np.ones((2, 6, 3), np.float32)
    _, mean, rstd = F.group_norm_forward(x, 2)
    with pytest.raises(ValueError, match="grad_out has shape"):
        F.group_norm_backward(np.ones((2, 6, 4), np.float32), x, 2, None, mean, rstd)
    with pytest.raises(ValueError, match=r"mean must have shape \(2, 3\)"):
        F.group_norm_backward(x, x, 3, None, mean, rstd)
    with pytest.raises(TypeError, match="rstd must be a numpy array"):
        F.group_norm_backward(x, x, 2, None, mean, rstd.tolist())
    with pytest.raises(TypeError, match="grad_out has dtype float64"):
        F.group_norm_backward(x.astype(np.float64), x, 2, None, mean, rstd)


def test_instance_norm_bad_input():
    x = np.ones((2, 3, 4), np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    with pytest.raises(ValueError, match="x must have at least 3 dimension"):
        F.instance_norm_forward(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="expected more than 1 spatial element"):
        F.instance_norm_forward(np.ones((2, 3, 1), np.float32))
    with pytest.raises(ValueError, match="needs running_mean and running_var"):
        F.instance_norm_forward(x, use_input_stats=False)
    with pytest.raises(ValueError, match="must be given together"):
        F.instance_norm_forward(x, running_mean=rm)
    with pytest.raises(TypeError, match="use_input_stats must be a bool"):
        F.instance_norm_forward(x, running_mean=rm, running_var=rv, use_input_stats=1)
    with pytest.raises(ValueError, match="momentum must be <= 1"):
        F.instance_norm_forward(x, running_mean=rm, running_var=rv, momentum=1.5)
    ro = rm.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="running_mean is read-only"):
        F.instance_norm_forward(x, running_mean=ro, running_var=rv)
    with pytest.raises(TypeError, match="running_var must be a numpy array"):
        F.instance_norm_forward(x, running_mean=rm, running_var=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="running_var has 2 elements"):
        F.instance_norm_forward(x, running_mean=rm, running_var=np.ones(2, np.float32))
    _, mean, rstd = F.instance_norm_forward(x)
    with pytest.raises(ValueError, match=r"rstd must have shape \(2, 3\)"):
        F.instance_norm_backward(x, x, None, mean, rstd[:1])
