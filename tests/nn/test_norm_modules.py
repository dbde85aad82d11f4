"""Normalization, dropout and the extra activation modules: gradient checks and
behaviour (running statistics, modes, buffers, masks)."""

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.testing import gradcheck


def _x(shape, seed=0, scale=1.0, shift=0.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale + shift


class _FixedMask:
    """Draw the same mask at every forward, so finite differences see one function."""

    def forward(self, x):
        self.generator = np.random.default_rng(7)
        return super().forward(x)


class FixedDropout(_FixedMask, nn.Dropout):
    pass


class FixedDropout2d(_FixedMask, nn.Dropout2d):
    pass


class FixedDropout1d(_FixedMask, nn.Dropout1d):
    pass


class FixedDropout3d(_FixedMask, nn.Dropout3d):
    pass


def _bn_eval(make):
    def build():
        m = make()
        m.running_mean[...] = np.linspace(-0.5, 0.5, m.num_features)
        m.running_var[...] = np.linspace(0.5, 2.0, m.num_features)
        return m.eval()
    return build


def _with_params(make, seed=1):
    """Random (not default) affine parameters, so their gradients are really tested."""
    def build():
        m = make()
        rng = np.random.default_rng(seed)
        for p in m.parameters():
            p.data[...] = rng.standard_normal(p.shape) * 0.5 + 1
        return m
    return build


LAYERS = [
    ("BatchNorm1d-2d", _with_params(lambda: nn.BatchNorm1d(3)), (5, 3)),
    ("BatchNorm1d-3d", _with_params(lambda: nn.BatchNorm1d(3)), (4, 3, 5)),
    ("BatchNorm2d", _with_params(lambda: nn.BatchNorm2d(2)), (3, 2, 3, 4)),
    ("BatchNorm3d", _with_params(lambda: nn.BatchNorm3d(2)), (2, 2, 2, 3, 2)),
    ("BatchNorm2d-eval", _bn_eval(_with_params(lambda: nn.BatchNorm2d(3))), (2, 3, 2, 2)),
    ("BatchNorm2d-noaffine", lambda: nn.BatchNorm2d(3, affine=False), (2, 3, 2, 2)),
    ("BatchNorm1d-untracked-eval", lambda: nn.BatchNorm1d(4, track_running_stats=False).eval(),
     (6, 4)),
    ("LayerNorm", _with_params(lambda: nn.LayerNorm(6)), (4, 6)),
    ("LayerNorm-2d", _with_params(lambda: nn.LayerNorm((3, 4))), (2, 3, 4)),
    ("LayerNorm-nobias", _with_params(lambda: nn.LayerNorm(5, bias=False)), (3, 5)),
    ("LayerNorm-noaffine", lambda: nn.LayerNorm(5, elementwise_affine=False), (3, 5)),
    ("LocalResponseNorm", lambda: nn.LocalResponseNorm(3, alpha=0.5, beta=0.75, k=1.5),
     (2, 5, 2, 3)),
    ("LocalResponseNorm-even", lambda: nn.LocalResponseNorm(2, alpha=0.3, beta=0.6, k=2.0),
     (2, 4, 3)),
    ("Dropout", lambda: FixedDropout(0.4), (5, 6)),
    ("Dropout2d", lambda: FixedDropout2d(0.5), (3, 4, 2, 2)),
    ("Dropout1d-unbatched", lambda: FixedDropout1d(0.5), (6, 3)),
    ("Dropout3d", lambda: FixedDropout3d(0.3), (2, 3, 2, 2, 2)),
    ("Dropout-eval", lambda: nn.Dropout(0.4).eval(), (5, 6)),
    ("PReLU", nn.PReLU, (4, 6)),
    ("PReLU-channels", lambda: nn.PReLU(3, init=0.1), (4, 3, 5)),
    ("Softplus", lambda: nn.Softplus(beta=2.0, threshold=3.0), (4, 6)),
    ("Hardtanh", lambda: nn.Hardtanh(-0.5, 0.8), (4, 6)),
    ("ReLU6", nn.ReLU6, (4, 6)),
    ("GELU", nn.GELU, (4, 6)),
    ("GELU-tanh", lambda: nn.GELU("tanh"), (4, 6)),
    ("LogSoftmax", lambda: nn.LogSoftmax(dim=1), (3, 5)),
]
KINKED = {"PReLU": 0.0, "PReLU-channels": 0.0, "Hardtanh": (-0.5, 0.8), "ReLU6": (0.0, 6.0)}


@pytest.mark.parametrize("name, make, shape", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_gradcheck(name, make, shape):
    pydl.manual_seed(0)
    m = make().double()
    scale = 4.0 if name == "ReLU6" else 1.0
    x = _x(shape, scale=scale, shift=0.3 if name.startswith("BatchNorm") else 0.0)
    for kink in np.atleast_1d(KINKED.get(name, ())):
        x[np.abs(x - kink) < 1e-3] = kink + 0.1   # finite differences off the kinks
    assert gradcheck(m, x)


# ------------------------------------------------------------------- batch norm

def test_batch_norm_running_stats_and_counter():
    m = nn.BatchNorm1d(3, momentum=0.2)
    xs = [_x((8, 3), seed=s, scale=2.0, shift=s) for s in range(3)]
    rm, rv = np.zeros(3), np.ones(3)
    for x in xs:
        m(x.astype(np.float32))
        rm = 0.8 * rm + 0.2 * x.mean(axis=0)
        rv = 0.8 * rv + 0.2 * x.var(axis=0, ddof=1)
    np.testing.assert_allclose(m.running_mean, rm, rtol=1e-5)
    np.testing.assert_allclose(m.running_var, rv, rtol=1e-5)
    assert m.num_batches_tracked == 3 and m.num_batches_tracked.dtype == np.int64
    m.eval()
    y = m(xs[0].astype(np.float32))
    np.testing.assert_allclose(y, (xs[0] - rm) / np.sqrt(rv + 1e-5), rtol=1e-4, atol=1e-5)
    assert m.num_batches_tracked == 3       # eval neither counts nor updates
    np.testing.assert_allclose(m.running_mean, rm, rtol=1e-5)


def test_batch_norm_momentum_none_is_a_cumulative_average():
    m = nn.BatchNorm2d(2, momentum=None)
    xs = [_x((4, 2, 3, 3), seed=s, shift=2 * s) for s in range(4)]
    for x in xs:
        m(x.astype(np.float32))
    means = [x.mean(axis=(0, 2, 3)) for x in xs]
    varis = [x.var(axis=(0, 2, 3), ddof=1) for x in xs]
    np.testing.assert_allclose(m.running_mean, np.mean(means, axis=0), rtol=1e-5)
    np.testing.assert_allclose(m.running_var, np.mean(varis, axis=0), rtol=1e-5)


def test_batch_norm_buffers_in_state_dict_and_dtype():
    m = nn.BatchNorm2d(4)
    assert list(m.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                    "num_batches_tracked"]
    m.double()
    assert m.running_mean.dtype == np.float64 and m.num_batches_tracked.dtype == np.int64
    plain = nn.BatchNorm1d(4, affine=False, track_running_stats=False)
    assert list(plain.state_dict()) == [] and list(plain.parameters()) == []
    assert plain.running_mean is None
    m2 = nn.BatchNorm2d(4)
    m2.running_mean[...] = 3
    m2.num_batches_tracked[...] = 9
    m.load_state_dict(m2.state_dict())
    np.testing.assert_array_equal(m.running_mean, 3)
    assert m.num_batches_tracked == 9


def test_batch_norm_untracked_uses_batch_stats_in_eval():
    m = nn.BatchNorm1d(3, track_running_stats=False).eval()
    x = _x((10, 3), shift=5.0).astype(np.float32)
    y = m(x)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)


def test_batch_norm_backward_accumulates_parameter_grads():
    m = nn.BatchNorm1d(3)
    x = _x((6, 3)).astype(np.float32)
    g = _x((6, 3), seed=1).astype(np.float32)
    m(x)
    m.backward(g)
    first = m.weight.grad.copy()
    m(x)
    m.backward(g)
    np.testing.assert_allclose(m.weight.grad, 2 * first, rtol=1e-6)
    np.testing.assert_allclose(m.bias.grad, 2 * g.sum(axis=0), rtol=1e-5)


@pytest.mark.parametrize("make, shape, match", [
    (lambda: nn.BatchNorm1d(3), (2, 3, 4, 5), r"2-D \(N, C\) or 3-D"),
    (lambda: nn.BatchNorm2d(3), (2, 3, 4), r"4-D \(N, C, H, W\)"),
    (lambda: nn.BatchNorm3d(3), (2, 3, 4, 4), "5-D"),
    (lambda: nn.BatchNorm2d(3), (2, 4, 4, 5), "got input with 4 channels"),
    (lambda: nn.BatchNorm1d(3), (1, 3), "more than 1 value per channel"),
])
def test_batch_norm_bad_input(make, shape, match):
    m = make()
    with pytest.raises(ValueError, match=match):
        m(np.ones(shape, np.float32))
    if "more than" in match:
        assert m.num_batches_tracked == 0   # a refused batch is not counted


def test_batch_norm_bad_arguments():
    with pytest.raises(ValueError, match="eps must be >"):
        nn.BatchNorm1d(3, eps=0)
    with pytest.raises(ValueError, match="momentum must be <= 1"):
        nn.BatchNorm1d(3, momentum=2.0)
    with pytest.raises(TypeError, match="num_features must be an int"):
        nn.BatchNorm1d(3.0)
    with pytest.raises(TypeError, match="weight has dtype float32 but x has dtype float64"):
        nn.BatchNorm1d(3)(np.ones((4, 3)))


# --------------------------------------------------------------- layer norm, LRN

def test_layer_norm_parameters_and_errors():
    m = nn.LayerNorm((3, 4), bias=False)
    assert list(m.state_dict()) == ["weight"] and m.weight.shape == (3, 4)
    assert list(nn.LayerNorm(4, elementwise_affine=False).state_dict()) == []
    with pytest.raises(ValueError, match="does not end with normalized_shape"):
        m(np.ones((2, 4, 3), np.float32))
    with pytest.raises(ValueError, match="normalized_shape must be >= 0"):
        nn.LayerNorm(-2)


def test_local_response_norm_arguments():
    with pytest.raises(ValueError, match="size must be >= 1"):
        nn.LocalResponseNorm(0)
    with pytest.raises(ValueError, match="at least 3-D"):
        nn.LocalResponseNorm(2)(np.ones((3, 4), np.float32))


# ------------------------------------------------------------------------ dropout

def test_dropout_module_modes_and_mask_reuse():
    x = np.ones((50, 40), np.float32)
    m = nn.Dropout(0.25, generator=np.random.default_rng(0))
    y = m(x)
    g = np.full_like(x, 2)
    gi = m.backward(g)
    np.testing.assert_array_equal(gi, np.where(y != 0, 2 * np.float32(1 / 0.75), 0))
    m.eval()
    assert m(x) is x and m.backward(g) is g
    assert repr(m) == "Dropout(p=0.25, inplace=False)"


def test_dropout_default_generator_follows_manual_seed():
    x = np.ones(200, np.float32)
    pydl.manual_seed(4)
    a = nn.Dropout()(x)
    pydl.manual_seed(4)
    np.testing.assert_array_equal(nn.Dropout()(x), a)


def test_dropout_inplace():
    x = np.ones((10, 10), np.float32)
    y = nn.Dropout(0.5, inplace=True, generator=np.random.default_rng(1))(x)
    assert y is x and set(np.unique(x)) <= {0.0, 2.0} and (x == 0).any()


def test_channel_dropout_modules():
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="3-D input"):
        y = nn.Dropout2d(0.5, generator=rng)(np.ones((4, 6, 5), np.float32))
    assert y.shape == (4, 6, 5)
    assert set(np.unique(y.reshape(24, 5).std(axis=1))) == {0.0}
    m = nn.Dropout1d(0.5, generator=rng)
    y = m(np.ones((6, 5), np.float32))          # unbatched (C, L)
    assert y.shape == (6, 5) and m.backward(np.ones((6, 5), np.float32)).shape == (6, 5)
    with pytest.raises(ValueError, match=r"expects 4-D \(C, ...\) or 5-D"):
        nn.Dropout3d()(np.ones((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="expects 4-D"):
        nn.Dropout2d()(np.ones((2, 3), np.float32))


def test_dropout_bad_arguments():
    with pytest.raises(ValueError, match="p must be <= 1"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="p must be >= 0"):
        nn.Dropout2d(-0.5)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        nn.Dropout(0.5, generator=3)


# -------------------------------------------------------------------- activations

def test_prelu_module():
    m = nn.PReLU(3, init=0.2)
    assert m.weight.shape == (3,) and np.all(m.weight.data == np.float32(0.2))
    assert list(m.state_dict()) == ["weight"]
    x = np.array([[-1.0, 2.0, -3.0]], np.float32)
    np.testing.assert_allclose(m(x), [[-0.2, 2.0, -0.6]], rtol=1e-6)
    m.backward(np.ones_like(x))
    np.testing.assert_allclose(m.weight.grad, [-1.0, 0.0, -3.0])
    with pytest.raises(ValueError, match="1 or 3"):
        nn.PReLU(2)(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="num_parameters must be >= 1"):
        nn.PReLU(0)


def test_activation_arguments():
    with pytest.raises(ValueError, match="beta must be non-zero"):
        nn.Softplus(beta=0)
    with pytest.raises(ValueError, match="greater than min_val"):
        nn.Hardtanh(1.0, -1.0)
    with pytest.raises(ValueError, match="'none' or 'tanh'"):
        nn.GELU("fast")
    assert repr(nn.ReLU6()) == "ReLU6()"
    np.testing.assert_array_equal(nn.ReLU6()(np.array([-1, 3, 7], np.float32)), [0, 3, 6])
