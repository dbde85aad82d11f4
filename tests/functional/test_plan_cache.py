"""The per-shape plans of the ops' array fast paths (linear, convolution, max pooling,
elementwise activations) cannot be fooled: a call after a cached one with another
shape, dtype, layout or argument type still gets the full checks and the right result,
bit for bit the general path's."""

import numpy as np
import pytest

from pydl import functional as F
from pydl import reference as R
from pydl.functional import conv as conv_mod
from pydl.functional import dense as dense_mod
from pydl.functional import pool as pool_mod
from tests.helpers import as64, assert_close, randn


@pytest.fixture(autouse=True)
def _fresh_plans():
    for cache in (dense_mod._LINEAR_PLANS, conv_mod._FORWARD_PLANS, pool_mod._MAX_PLANS):
        cache.clear()
    yield


def _general_linear(x, w, b):
    return dense_mod._linear_forward(x, w, b)


# ----------------------------------------------------------------------- linear

def test_linear_plan_same_bits_as_general_path(rng):
    x = randn(rng, (3, 5, 7), np.float32)
    w, b = randn(rng, (4, 7), np.float32), randn(rng, (4,), np.float32)
    first = F.linear_forward(x, w, b)           # builds the plan
    again = F.linear_forward(x, w, b)           # takes it
    assert dense_mod._LINEAR_PLANS
    general = _general_linear(x, w, b)
    assert again.shape == (3, 5, 4)
    np.testing.assert_array_equal(first, general)
    np.testing.assert_array_equal(again, general)
    assert_close(again, R.linear_forward(*as64(x, w, b)), np.float32)


def test_linear_after_cached_call_still_checks(rng):
    w, b = randn(rng, (4, 7), np.float32), randn(rng, (4,), np.float32)
    x = randn(rng, (2, 7), np.float32)
    F.linear_forward(x, w, b)
    F.linear_forward(x, w, b)
    with pytest.raises(TypeError, match="x has dtype float64"):
        F.linear_forward(x.astype(np.float64), w, b)
    with pytest.raises(ValueError, match="last dimension"):
        F.linear_forward(randn(rng, (2, 6), np.float32), w, b)
    with pytest.raises(ValueError, match="bias has shape"):
        F.linear_forward(x, w, randn(rng, (3,), np.float32))
    with pytest.raises(TypeError, match="bias has dtype"):
        F.linear_forward(x, w, b.astype(np.float64))
    with pytest.raises(TypeError, match="x must be"):
        F.linear_forward(x.astype(np.int32), w, b)
    # the weight reshaped in place: same object, another shape
    w2 = w.copy()
    F.linear_forward(x, w2, b)
    w2.shape = (7, 4)
    with pytest.raises(ValueError):
        F.linear_forward(x, w2, b)


def test_linear_non_contiguous_after_cached_call(rng):
    w, b = randn(rng, (4, 7), np.float32), randn(rng, (4,), np.float32)
    base = randn(rng, (7, 2), np.float32)
    x = np.ascontiguousarray(base.T)
    F.linear_forward(x, w, b)
    got = F.linear_forward(base.T, w, b)        # same shape and dtype, strided
    np.testing.assert_array_equal(got, F.linear_forward(x, w, b))
    # a non-contiguous weight and a list input
    wt = np.asfortranarray(w)
    np.testing.assert_array_equal(F.linear_forward(x, wt, b), F.linear_forward(x, w, b))
    np.testing.assert_array_equal(F.linear_forward(x.tolist(), w.astype(np.float64)),
                                  F.linear_forward(x.astype(np.float64), w.astype(np.float64)))


# -------------------------------------------------------------------- convolution

def test_conv_plan_same_bits_as_general_path(rng):
    x = randn(rng, (2, 3, 9, 8), np.float32)
    w, b = randn(rng, (5, 3, 3, 3), np.float32), randn(rng, (5,), np.float32)
    args = (2, (1, 2), 1, 1)
    first = F.conv2d_forward(x, w, b, *args)
    again = F.conv2d_forward(x, w, b, *args)
    assert conv_mod._FORWARD_PLANS
    general = conv_mod._conv_forward(conv_mod._conv_spec_uncached(2, x, w, b, *args))
    np.testing.assert_array_equal(first, general)
    np.testing.assert_array_equal(again, general)
    assert_close(again, R.conv2d_forward(*as64(x, w, b), *args), np.float32)
    # unbatched input after the batched one
    un = F.conv2d_forward(x[0], w, b, *args)
    np.testing.assert_array_equal(un, general[0])
    np.testing.assert_array_equal(F.conv2d_forward(x[0], w, b, *args), general[0])


@pytest.mark.parametrize("bad, error", [
    (dict(stride=2.0), TypeError), (dict(stride=True), TypeError),
    (dict(stride=(2.0, 2)), TypeError), (dict(groups=True), TypeError),
    (dict(padding=(1.0, 1)), TypeError), (dict(dilation=np.int64(1)), None),
    (dict(padding=[1, 1]), None)])
def test_conv_hyper_parameters_equal_in_hash_are_still_checked(rng, bad, error):
    x = randn(rng, (1, 2, 6, 6), np.float32)
    w = randn(rng, (3, 2, 3, 3), np.float32)
    good = dict(stride=2, padding=(1, 1), dilation=1, groups=1)
    want = F.conv2d_forward(x, w, None, **good)
    F.conv2d_forward(x, w, None, **good)
    if error is None:       # accepted by the checks: the same result
        np.testing.assert_array_equal(F.conv2d_forward(x, w, None, **{**good, **bad}), want)
    else:
        with pytest.raises(error, match=next(iter(bad))):
            F.conv2d_forward(x, w, None, **{**good, **bad})


def test_conv_after_cached_call_still_checks(rng):
    x = randn(rng, (1, 2, 6, 6), np.float32)
    w, b = randn(rng, (3, 2, 3, 3), np.float32), randn(rng, (3,), np.float32)
    F.conv2d_forward(x, w, b, 1, 1)
    F.conv2d_forward(x, w, b, 1, 1)
    with pytest.raises(TypeError, match="x has dtype float64"):
        F.conv2d_forward(x.astype(np.float64), w, b, 1, 1)
    with pytest.raises(ValueError, match="channels"):
        F.conv2d_forward(randn(rng, (1, 4, 6, 6), np.float32), w, b, 1, 1)
    with pytest.raises(ValueError, match="bias has shape"):
        F.conv2d_forward(x, w, b[:2], 1, 1)
    with pytest.raises(ValueError, match="kernel size"):
        F.conv2d_forward(randn(rng, (1, 2, 2, 2), np.float32), w, b, 1, 0)
    strided = randn(rng, (1, 2, 6, 12), np.float32)[..., ::2]
    np.testing.assert_array_equal(F.conv2d_forward(strided, w, b, 1, 1),
                                  F.conv2d_forward(np.ascontiguousarray(strided), w, b, 1, 1))
    # an empty batch after a cached call: the general path's zeros plus bias
    out = F.conv2d_forward(np.zeros((0, 2, 6, 6), np.float32), w, b, 1, 1)
    assert out.shape == (0, 3, 6, 6)


# ---------------------------------------------------------------------- max pooling

def test_max_pool_plan_same_bits_as_general_path(rng):
    x = randn(rng, (2, 3, 9, 7), np.float32)
    first = F.max_pool2d_forward(x, 3, 2, 1, 1, True)
    again = F.max_pool2d_forward(x, 3, 2, 1, 1, True)
    assert pool_mod._MAX_PLANS
    ref_out, ref_idx = R.max_pool2d_forward(x, 3, 2, 1, 1, True)
    for out, idx in (first, again):
        np.testing.assert_array_equal(out, ref_out)
        np.testing.assert_array_equal(idx, ref_idx)
        assert idx.dtype == np.int64


@pytest.mark.parametrize("bad, error", [
    (dict(ceil_mode=1), TypeError), (dict(kernel_size=2.0), TypeError),
    (dict(stride=True), TypeError), (dict(padding=(0.0, 0)), TypeError),
    (dict(kernel_size=[2, 2]), None), (dict(stride=np.int64(2)), None)])
def test_max_pool_arguments_equal_in_hash_are_still_checked(rng, bad, error):
    x = randn(rng, (1, 2, 6, 6), np.float32)
    good = dict(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    want = F.max_pool2d_forward(x, **good)
    F.max_pool2d_forward(x, **good)
    if error is None:
        got = F.max_pool2d_forward(x, **{**good, **bad})
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    else:
        with pytest.raises(error):
            F.max_pool2d_forward(x, **{**good, **bad})


def test_max_pool_after_cached_call_still_checks(rng):
    x = randn(rng, (1, 2, 6, 6), np.float32)
    F.max_pool2d_forward(x, 2)
    F.max_pool2d_forward(x, 2)
    with pytest.raises(TypeError, match="x must be"):
        F.max_pool2d_forward(x.astype(np.int32), 2)
    with pytest.raises(ValueError, match="x must be"):
        F.max_pool2d_forward(x[0, 0], 2)
    strided = randn(rng, (1, 2, 6, 12), np.float32)[..., ::2]
    got, want = F.max_pool2d_forward(strided, 2), F.max_pool2d_forward(strided.copy(), 2)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    out, idx = F.max_pool2d_forward(np.zeros((0, 2, 6, 6), np.float32), 2)
    assert out.shape == idx.shape == (0, 2, 3, 3)


# ------------------------------------------------------------------- activations

def test_elementwise_fast_path_checks_and_layouts(rng):
    x = randn(rng, (3, 4, 5), np.float32)
    want = R.relu_forward(x)
    np.testing.assert_array_equal(F.relu_forward(x), want)
    np.testing.assert_array_equal(F.relu_forward(np.asfortranarray(x)), want)
    np.testing.assert_array_equal(F.relu_forward(x[:, ::2]), R.relu_forward(x[:, ::2]))
    assert F.relu_forward(np.float32(-2.0)).shape == ()
    assert F.relu_forward(np.array(3.0)).shape == ()
    with pytest.raises(TypeError, match="x must be"):
        F.relu_forward(x.astype(np.float16))
    with pytest.raises(TypeError, match="x must be"):
        F.relu_forward(x.astype(">f4"))


# ------------------------------------------------------------------ backward paths

def _conv_general_backward(g, x, w, args):
    spec = conv_mod._conv_spec_uncached(2, x, w, None, *args)
    return conv_mod._conv_backward(spec, g, True, True, True)


@pytest.mark.parametrize("batched", [True, False])
def test_conv_backward_plan_same_bits_as_general_path(rng, batched):
    xs = (2, 3, 9, 8) if batched else (3, 9, 8)
    x, w = randn(rng, xs, np.float32), randn(rng, (5, 3, 3, 3), np.float32)
    args = (2, (1, 2), 1, 1)
    g = randn(rng, F.conv2d_forward(x, w, None, *args).shape, np.float32)
    want = _conv_general_backward(g, x, w, args)
    for _ in range(2):      # builds the plan, then takes it
        got = F.conv2d_backward(g, x, w, *args)
        for a, b in zip(got, want):
            assert a.shape == b.shape
            np.testing.assert_array_equal(a, b)
    gx, gw, gb = F.conv2d_backward(g, x, w, *args, need_input_grad=False,
                                   need_bias_grad=False)
    assert gx is None and gb is None
    np.testing.assert_array_equal(gw, want[1])


def test_conv_backward_after_cached_call_still_checks(rng):
    x, w = randn(rng, (1, 2, 6, 6), np.float32), randn(rng, (3, 2, 3, 3), np.float32)
    g = randn(rng, (1, 3, 6, 6), np.float32)
    want = F.conv2d_backward(g, x, w, 1, 1)
    F.conv2d_backward(g, x, w, 1, 1)
    with pytest.raises(ValueError, match="grad_out has shape"):
        F.conv2d_backward(g[..., :5], x, w, 1, 1)
    with pytest.raises(TypeError, match="grad_out has dtype float64"):
        F.conv2d_backward(g.astype(np.float64), x, w, 1, 1)
    with pytest.raises(TypeError, match="x has dtype float64"):
        F.conv2d_backward(g, x.astype(np.float64), w, 1, 1)
    with pytest.raises(TypeError, match="stride"):
        F.conv2d_backward(g, x, w, 1.0, 1)
    strided = randn(rng, (1, 3, 6, 12), np.float32)[..., ::2]
    got = F.conv2d_backward(strided, x, w, 1, 1)
    for a, b in zip(got, F.conv2d_backward(strided.copy(), x, w, 1, 1)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(F.conv2d_backward(g, x, w, (1, 1), [1, 1]), want):
        np.testing.assert_array_equal(a, b)


def test_linear_backward_plan_same_bits_as_general_path(rng):
    x, w = randn(rng, (3, 5, 7), np.float32), randn(rng, (4, 7), np.float32)
    g = randn(rng, (3, 5, 4), np.float32)
    fortran = np.asfortranarray(g)          # the general path
    want = F.linear_backward(fortran, x, w)
    for _ in range(2):
        got = F.linear_backward(g, x, w)
        for a, b in zip(got, want):
            assert a.shape == b.shape
            np.testing.assert_array_equal(a, b)
    assert F.linear_backward(g, x, w, need_input_grad=False)[0] is None
    with pytest.raises(ValueError, match="grad_out has shape"):
        F.linear_backward(g[:, :4], x, w)
    with pytest.raises(TypeError, match="grad_out has dtype float64"):
        F.linear_backward(g.astype(np.float64), x, w)


def test_max_pool_backward_plan_same_bits_and_checks(rng):
    x = randn(rng, (2, 3, 9, 7), np.float32)
    out, idx = F.max_pool2d_forward(x, 3, 2, 1)
    g = randn(rng, out.shape, np.float32)
    want = F.max_pool2d_backward(g, idx, list(x.shape))     # a list: the general path
    for _ in range(2):
        np.testing.assert_array_equal(F.max_pool2d_backward(g, idx, x.shape), want)
    np.testing.assert_array_equal(
        F.max_pool2d_backward(g, idx, tuple(np.int64(s) for s in x.shape)), want)
    bad = idx.copy()
    bad[0, 0, 0, 0] = x.shape[-1] * x.shape[-2]
    with pytest.raises(ValueError, match="outside"):
        F.max_pool2d_backward(g, bad, x.shape)
    with pytest.raises(ValueError, match="indices has shape"):
        F.max_pool2d_backward(g, idx[..., :2], x.shape)
    with pytest.raises(ValueError, match="input_shape"):
        F.max_pool2d_backward(g, idx, (2, 4, 9, 7))
    with pytest.raises(TypeError, match="input_shape"):
        F.max_pool2d_backward(g, idx, (2, 3, 9.0, 7))
    with pytest.raises(TypeError, match="grad_out must be"):
        F.max_pool2d_backward(g.astype(np.int32), idx, x.shape)


def test_relu_backward_fast_path_checks_and_layouts(rng):
    y = F.relu_forward(randn(rng, (3, 4, 5), np.float32))
    g = randn(rng, y.shape, np.float32)
    want = R.relu_backward(g, y)
    np.testing.assert_array_equal(F.relu_backward(g, y), want)
    np.testing.assert_array_equal(F.relu_backward(np.asfortranarray(g), y), want)
    np.testing.assert_array_equal(F.relu_backward(g, np.asfortranarray(y)), want)
    with pytest.raises(ValueError, match="grad_out has shape"):
        F.relu_backward(g[:, :2], y)
    with pytest.raises(TypeError, match="grad_out has dtype float64"):
        F.relu_backward(g.astype(np.float64), y)


# ------------------------------------------------------------ cross-entropy, dropout

@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"label_smoothing": 0.1},
                                {"ignore_index": 2}, {"need_grad": False}])
def test_cross_entropy_fast_path_same_bits_as_general_path(rng, kw):
    logits = randn(rng, (9, 5), np.float32)
    target = rng.integers(0, 5, 9)                 # int64: the fast path
    loss, grad = F.softmax_cross_entropy_forward(logits, target, **kw)
    want_loss, want_grad = F.softmax_cross_entropy_forward(
        logits, target.astype(np.int32), **kw)     # another dtype: the general path
    assert type(loss) is float and loss == want_loss
    if kw.get("need_grad", True):
        assert grad.shape == logits.shape
        np.testing.assert_array_equal(grad, want_grad)
        for g in (1.0, 2.5):
            np.testing.assert_array_equal(
                F.softmax_cross_entropy_backward(grad, g, kw.get("reduction", "mean")),
                F.softmax_cross_entropy_backward(grad, np.float64(g),
                                                 kw.get("reduction", "mean")))
    else:
        assert grad is None


def test_cross_entropy_fast_path_still_checks(rng):
    logits = randn(rng, (4, 3), np.float32)
    with pytest.raises(ValueError, match="class index 3"):
        F.softmax_cross_entropy_forward(logits, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="class index -1"):
        F.softmax_cross_entropy_forward(logits, np.array([0, -1, 2, 1]))
    with pytest.raises(ValueError, match="target has shape"):
        F.softmax_cross_entropy_forward(logits, np.array([0, 1, 2]))
    # ignored labels outside [0, C): the general path, the mean over the others
    t = np.array([0, -100, 2, 1])
    loss, grad = F.softmax_cross_entropy_forward(logits, t)
    keep = [0, 2, 3]
    want, want_grad = F.softmax_cross_entropy_forward(logits[keep], t[keep])
    assert loss == pytest.approx(want, rel=1e-6)
    assert not grad[1].any()
    assert_close(grad[keep] * 3, want_grad * 3, np.float32)


def test_dropout_seed_is_the_generators_uint64_draw():
    from pydl.functional.dropout import draw_seed
    for bits in (np.random.PCG64, np.random.PCG64DXSM, np.random.SFC64, np.random.Philox,
                 np.random.MT19937):
        a, b = np.random.Generator(bits(3)), np.random.Generator(bits(3))
        for _ in range(5):
            assert draw_seed(a) == int(b.integers(0, 2**64, dtype=np.uint64))


def test_dropout_backward_own_mask_same_as_checked_mask(rng):
    x = randn(rng, (6, 7), np.float32)
    _, mask = F.dropout_forward(x, 0.3, True, np.random.default_rng(1))
    g = randn(rng, x.shape, np.float32)
    want = F.dropout_backward(g, mask.astype(np.uint8), 0.3)
    np.testing.assert_array_equal(F.dropout_backward(g, mask, 0.3), want)
    np.testing.assert_array_equal(F.dropout_backward(g, np.asfortranarray(mask), 0.3), want)
    with pytest.raises(ValueError, match="mask has shape"):
        F.dropout_backward(g, mask[:, :3], 0.3)
