import numpy as np
import pytest

import pydl
from pydl import functional as F
from pydl import reference as R
from tests.helpers import as64, assert_close, randn

BN_SHAPES = [(4, 3), (5, 3, 7), (2, 3, 4, 5), (2, 2, 3, 2, 2), (300, 5), (3, 70, 2),
             (2, 1), (1, 4, 9), (3, 0), (40, 6, 257)]


def _bn_inputs(rng, shape, dtype):
    c = shape[1]
    x = randn(rng, shape, dtype, scale=2.0) + dtype(3)
    w, b = randn(rng, c, dtype), randn(rng, c, dtype)
    return x, w, b


@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_train_matches_reference(shape, affine, dtype, rng):
    x, w, b = _bn_inputs(rng, shape, dtype)
    if not affine:
        w = b = None
    c = shape[1]
    rm, rv = randn(rng, c, dtype), (rng.random(c) + 0.5).astype(dtype)
    rm64, rv64 = rm.astype(np.float64), rv.astype(np.float64)
    y, mean, invstd = F.batch_norm_forward(x, w, b, rm, rv, training=True, momentum=0.3)
    ry, rmean, rinvstd = R.batch_norm_forward(*as64(x, w, b), rm64, rv64, training=True,
                                              momentum=0.3)
    assert y.dtype == dtype and y.shape == x.shape
    assert mean.dtype == np.float64 and invstd.shape == (c,)
    assert_close(y, ry, dtype)
    # float32 data are summed in float32 over 16 terms per lane before float64
    stat_tol = 1e-12 if dtype == np.float64 else 1e-7
    np.testing.assert_allclose(mean, rmean, rtol=stat_tol, atol=stat_tol)
    np.testing.assert_allclose(invstd, rinvstd, rtol=stat_tol * 10)
    assert_close(rm, rm64, dtype)
    assert_close(rv, rv64, dtype)
    g = randn(rng, shape, dtype)
    gi, gw, gb = F.batch_norm_backward(g, x, w, mean, invstd, training=True)
    rgi, rgw, rgb = R.batch_norm_backward(*as64(g, x, w), rmean, rinvstd, training=True)
    assert_close(gi, rgi, dtype)
    if affine:
        scale = max(1.0, float(np.sqrt(x.size / max(c, 1))))
        assert_close(gw, rgw, dtype, scale=scale * 4)
        assert_close(gb, rgb, dtype, scale=scale * 4)
    else:
        assert gw is None and gb is None


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 4, 5), (0, 3, 2), (40, 6, 257)], ids=str)
def test_batch_norm_eval_matches_reference(shape, dtype, rng):
    x, w, b = _bn_inputs(rng, shape, dtype)
    c = shape[1]
    rm, rv = randn(rng, c, dtype), (rng.random(c) + 0.5).astype(dtype)
    before = rm.copy(), rv.copy()
    y, mean, invstd = F.batch_norm_forward(x, w, b, rm, rv, training=False)
    ry, rmean, rinvstd = R.batch_norm_forward(*as64(x, w, b, rm, rv), training=False)
    assert_close(y, ry, dtype)
    np.testing.assert_array_equal(rm, before[0])   # eval leaves the statistics alone
    np.testing.assert_array_equal(rv, before[1])
    g = randn(rng, shape, dtype)
    got = F.batch_norm_backward(g, x, w, mean, invstd, training=False)
    want = R.batch_norm_backward(*as64(g, x, w), rmean, rinvstd, training=False)
    for a, e in zip(got, want):
        assert_close(a, e, dtype, scale=max(1.0, np.sqrt(x.size)))


def test_batch_norm_variance_survives_a_large_mean(dtype):
    # mean 1e4 times the spread: a naive E[x^2] - E[x]^2 in float64 keeps ~8 digits,
    # in float32 none; the centred sums keep the variance exact to float rounding
    rng = np.random.default_rng(3)
    x = (1e4 + rng.standard_normal((64, 2, 50))).astype(dtype)
    _, mean, invstd = F.batch_norm_forward(x, eps=1e-5)
    var = x.astype(np.float64).var(axis=(0, 2))
    rtol = 1e-9 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(1 / invstd ** 2 - 1e-5, var, rtol=rtol)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(axis=(0, 2)), rtol=1e-14)


def test_batch_norm_constant_channel_gives_zero_not_nan(dtype):
    x = np.full((8, 2, 3), 7.0, dtype)
    y, _, invstd = F.batch_norm_forward(x, eps=1e-5)
    np.testing.assert_array_equal(y, 0)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(1e-5))


def test_batch_norm_running_stats_follow_pytorch_formula():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 2, 5))
    rm, rv = np.array([1.0, -1.0]), np.array([2.0, 0.5])
    F.batch_norm_forward(x, running_mean=rm, running_var=rv, momentum=0.25)
    m = x.mean(axis=(0, 2))
    v = x.var(axis=(0, 2), ddof=1)   # unbiased, as PyTorch keeps it
    np.testing.assert_allclose(rm, 0.75 * np.array([1.0, -1.0]) + 0.25 * m, rtol=1e-14)
    np.testing.assert_allclose(rv, 0.75 * np.array([2.0, 0.5]) + 0.25 * v, rtol=1e-14)


def test_batch_norm_bitwise_identical_across_threads(rng):
    x, w, b = _bn_inputs(rng, (9, 37, 33), np.float32)
    g = randn(rng, x.shape, np.float32)
    results = []
    for n in (1, 2, 3, 7):
        with pydl.threads(n):
            y, mean, invstd = F.batch_norm_forward(x, w, b)
            results.append([y, mean, invstd, *F.batch_norm_backward(g, x, w, mean, invstd)])
    for other in results[1:]:
        for a, e in zip(other, results[0]):
            assert a.tobytes() == e.tobytes()


@pytest.mark.parametrize("call, exc, match", [
    (lambda x, w: F.batch_norm_forward(x[0, 0]), ValueError, "at least 2"),
    (lambda x, w: F.batch_norm_forward(x, w[:2]), ValueError, "weight has 2 elements"),
    (lambda x, w: F.batch_norm_forward(x, w, w.astype(np.float64)), TypeError, "bias has dtype"),
    (lambda x, w: F.batch_norm_forward(x.astype(int)), TypeError, "x must be a float32"),
    (lambda x, w: F.batch_norm_forward(x, eps=0), ValueError, "eps must be >"),
    (lambda x, w: F.batch_norm_forward(x, eps=-1e-3), ValueError, "eps must be >"),
    (lambda x, w: F.batch_norm_forward(x, momentum=1.5), ValueError, "momentum must be <="),
    (lambda x, w: F.batch_norm_forward(x, running_mean=w.copy()), ValueError, "together"),
    (lambda x, w: F.batch_norm_forward(x, training=False), ValueError, "needs running_mean"),
    (lambda x, w: F.batch_norm_forward(x, training=1), TypeError, "training must be a bool"),
    (lambda x, w: F.batch_norm_forward(x[:1, :, :1]), ValueError, "more than 1 value"),
    (lambda x, w: F.batch_norm_forward(x, None, None, w.copy()[::1].tolist(), w.copy()),
     TypeError, "running_mean must be a numpy array"),
    (lambda x, w: F.batch_norm_forward(x, None, None, np.zeros(6, np.float32)[::2],
                                       np.ones(3, np.float32)), ValueError, "C-contiguous"),
    (lambda x, w: F.batch_norm_forward(x, None, None, np.zeros(4, np.float32),
                                       np.ones(4, np.float32)), ValueError, "4 elements"),
    (lambda x, w: F.batch_norm_backward(x, x[:1], w, np.zeros(3), np.ones(3)), ValueError,
     "grad_out has shape"),
    (lambda x, w: F.batch_norm_backward(x, x, w, np.zeros(2), np.ones(3)), ValueError,
     r"mean must have shape \(3,\)"),
    (lambda x, w: F.batch_norm_backward(x, x, w, np.zeros(3, int), np.ones(3)), TypeError,
     "mean must be a float array"),
])
def test_batch_norm_bad_input(call, exc, match):
    x = np.ones((4, 3, 2), np.float32)
    with pytest.raises(exc, match=match):
        call(x, np.ones(3, np.float32))


def test_batch_norm_read_only_running_stats_refused_in_training_only():
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    rm.flags.writeable = False
    with pytest.raises(ValueError, match="running_mean is read-only"):
        F.batch_norm_forward(x, running_mean=rm, running_var=rv)
    y, _, _ = F.batch_norm_forward(x, running_mean=rm, running_var=rv, training=False)
    assert_close(y, x / np.sqrt(1 + 1e-5), np.float32)


# --------------------------------------------------------------------- layer norm

LN_CASES = [((4, 10), 10), ((3, 5, 7), (5, 7)), ((2, 3, 4), 4), ((7,), 7), ((1, 1), 1),
            ((0, 5), 5), ((33, 1025), 1025)]


@pytest.mark.parametrize("shape, ns", LN_CASES, ids=str)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm_matches_reference(shape, ns, affine, dtype, rng):
    nshape = (ns,) if isinstance(ns, int) else ns
    x = randn(rng, shape, dtype, scale=2.0) + dtype(1)
    w = randn(rng, nshape, dtype) if affine != "none" else None
    b = randn(rng, nshape, dtype) if affine == "both" else None
    y, mean, rstd = F.layer_norm_forward(x, ns, w, b, eps=1e-4)
    ry, rmean, rrstd = R.layer_norm_forward(*as64(x), ns, *as64(w, b), eps=1e-4)
    assert y.shape == x.shape and mean.shape == shape[:len(shape) - len(nshape)]
    assert_close(y, ry, dtype)
    stat_tol = 1e-12 if dtype == np.float64 else 1e-7
    np.testing.assert_allclose(mean, rmean, rtol=stat_tol, atol=stat_tol)
    np.testing.assert_allclose(rstd, rrstd, rtol=stat_tol * 10)
    g = randn(rng, shape, dtype)
    got = F.layer_norm_backward(g, x, ns, w, mean, rstd, need_bias_grad=affine == "both")
    want = R.layer_norm_backward(*as64(g, x), ns, *as64(w), rmean, rrstd,
                                 need_bias_grad=affine == "both")
    for a, e in zip(got, want):
        if e is None:
            assert a is None
        else:
            assert a.dtype == dtype
            assert_close(a, e, dtype, scale=max(1.0, np.sqrt(x.size / max(1, w.size)))
                         if a.shape != x.shape else None)


def test_layer_norm_over_zero_elements_gives_empty_results(dtype):
    x = np.ones((2, 3, 0), dtype)
    y, mean, rstd = F.layer_norm_forward(x, 0, np.ones(0, dtype), np.zeros(0, dtype))
    assert y.shape == x.shape and mean.shape == (2, 3)
    gi, gw, gb = F.layer_norm_backward(x, x, 0, np.ones(0, dtype), mean, rstd)
    assert gi.shape == x.shape and gw.shape == (0,) and gb.shape == (0,)


def test_layer_norm_bad_input():
    x = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"does not end with normalized_shape \(5,\)"):
        F.layer_norm_forward(x, 5)
    with pytest.raises(ValueError, match="weight must have shape"):
        F.layer_norm_forward(x, 4, np.ones(3, np.float32))
    with pytest.raises(TypeError, match="weight has dtype float64"):
        F.layer_norm_forward(x, 4, np.ones(4))
    with pytest.raises(ValueError, match="eps must be >"):
        F.layer_norm_forward(x, 4, eps=0.0)
    with pytest.raises(TypeError, match="normalized_shape must be an int"):
        F.layer_norm_forward(x, 4.0)
    with pytest.raises(ValueError, match="at least one dimension"):
        F.layer_norm_forward(x, ())
    with pytest.raises(ValueError, match=r"mean must have shape \(3,\)"):
        F.layer_norm_backward(x, x, 4, None, np.zeros(4), np.ones(3))


# ------------------------------------------------------------ local response norm

@pytest.mark.parametrize("shape", [(2, 7, 3, 3), (1, 3, 1), (4, 20, 5), (2, 1, 4),
                                   (3, 9, 600), (0, 3, 2)], ids=str)
@pytest.mark.parametrize("size", [1, 2, 5, 30])
def test_local_response_norm_matches_reference(shape, size, dtype, rng):
    x = randn(rng, shape, dtype, scale=3.0)
    alpha, beta, k = 0.05, 0.75 if size != 2 else 0.6, 1.5
    y, denom = F.local_response_norm_forward(x, size, alpha, beta, k)
    ry, rdenom = R.local_response_norm_forward(*as64(x), size, alpha, beta, k)
    assert_close(y, ry, dtype)
    assert_close(denom, rdenom, dtype)
    g = randn(rng, shape, dtype)
    gi = F.local_response_norm_backward(g, x, y, denom, size, alpha, beta, k)
    assert_close(gi, R.local_response_norm_backward(*as64(g, x), ry, rdenom, size, alpha,
                                                    beta, k), dtype)


def test_local_response_norm_bad_input():
    x = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="at least 3-D"):
        F.local_response_norm_forward(x, 2)
    with pytest.raises(ValueError, match="size must be >= 1"):
        F.local_response_norm_forward(x[None], 0)
    with pytest.raises(TypeError, match="size must be an int"):
        F.local_response_norm_forward(x[None], 2.5)
    with pytest.raises(ValueError, match="alpha must be finite"):
        F.local_response_norm_forward(x[None], 2, alpha=np.inf)
    y, d = F.local_response_norm_forward(x[None], 2)
    with pytest.raises(ValueError, match="denom has shape"):
        F.local_response_norm_backward(y, x[None], y, d[:, :2], 2)
