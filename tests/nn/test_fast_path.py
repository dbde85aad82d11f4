"""The layers' explicit-path fast paths (Module.__call__ on one array, per-shape plans
in the ops): a layer called again after its parameters, hyper-parameters, structure or
input changed still checks everything and gives the general path's bits."""

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl import reference as R
from tests.helpers import as64, assert_close, randn


def test_linear_reassigned_weight_of_another_shape_is_caught(rng):
    lin = nn.Linear(6, 4)
    x = randn(rng, (2, 6), np.float32)
    with pydl.no_grad():
        lin(x)
        lin(x)
        lin.weight = nn.Parameter(randn(rng, (4, 5), np.float32))
        with pytest.raises(ValueError, match="in_features"):
            lin(x)
        lin.weight = nn.Parameter(randn(rng, (4, 6), np.float32))
        assert_close(lin(x), R.linear_forward(*as64(x, lin.weight.data, lin.bias.data)),
                     np.float32)
        lin.weight.data = lin.weight.data.astype(np.float64)     # data swapped directly
        with pytest.raises(TypeError, match="weight"):
            lin(x)
        lin.weight.data = randn(rng, (4, 7), np.float32)
        with pytest.raises(ValueError, match="in_features"):
            lin(x)
        lin.weight.data = randn(rng, (4, 6), np.float32)
        lin.bias.data = randn(rng, (3,), np.float32)
        with pytest.raises(ValueError, match="bias"):
            lin(x)


def test_linear_weight_reshaped_in_place_is_caught(rng):
    lin = nn.Linear(6, 4)
    x = randn(rng, (2, 6), np.float32)
    with pydl.no_grad():
        lin(x)
        lin.weight.data.shape = (6, 4)
        with pytest.raises(ValueError):
            lin(x)


def test_linear_changed_input_after_cached_call(rng):
    lin = nn.Linear(6, 4)
    x = randn(rng, (3, 6), np.float32)
    with pydl.no_grad():
        want = lin(x)
        lin(x)
        with pytest.raises(TypeError, match="x has dtype float64"):
            lin(x.astype(np.float64))
        with pytest.raises(ValueError, match="last dimension"):
            lin(randn(rng, (3, 5), np.float32))
        strided = np.ascontiguousarray(np.repeat(x, 2, axis=1))[:, ::2]
        np.testing.assert_array_equal(lin(strided), want)
        np.testing.assert_array_equal(lin(x[None])[0], want)
        with pytest.raises(TypeError, match="x has dtype float64"):
            lin(x.tolist())      # a list becomes float64, as ever


def test_linear_load_state_dict_after_cached_call(rng):
    a, b = nn.Linear(6, 4), nn.Linear(6, 4)
    x = randn(rng, (1, 6), np.float32)
    with pydl.no_grad():
        b(x)
        b.load_state_dict(a.state_dict())
        np.testing.assert_array_equal(b(x), a(x))


def test_conv_changed_hyper_parameters_after_cached_call(rng):
    conv = nn.Conv2d(2, 3, 3, padding=1)
    x = randn(rng, (1, 2, 8, 8), np.float32)
    with pydl.no_grad():
        assert conv(x).shape == (1, 3, 8, 8)
        conv(x)
        conv.stride = (2, 2)
        y = conv(x)
        assert y.shape == (1, 3, 4, 4)
        assert_close(y, R.conv2d_forward(*as64(x, conv.weight.data, conv.bias.data), 2, 1),
                     np.float32)
        conv.stride = (2.0, 2.0)
        with pytest.raises(TypeError, match="stride"):
            conv(x)
        conv.stride = (1, 1)
        conv.groups = True
        with pytest.raises(TypeError, match="groups"):
            conv(x)
        conv.groups = 1
        conv.weight = nn.Parameter(randn(rng, (3, 4, 3, 3), np.float32))
        with pytest.raises(ValueError, match="channels"):
            conv(x)
        conv.weight.data = randn(rng, (3, 2, 3, 3), np.float64)
        with pytest.raises(TypeError, match="dtype"):
            conv(x)


def test_conv_changed_input_after_cached_call(rng):
    conv = nn.Conv2d(2, 3, 3)
    x = randn(rng, (2, 2, 7, 7), np.float32)
    with pydl.no_grad():
        want = conv(x)
        conv(x)
        np.testing.assert_array_equal(conv(x[1]), want[1])       # unbatched
        strided = np.ascontiguousarray(np.repeat(x, 2, axis=3))[..., ::2]
        np.testing.assert_array_equal(conv(strided), want)
        with pytest.raises(TypeError, match="x has dtype float64"):
            conv(x.astype(np.float64))
        with pytest.raises(ValueError):
            conv(x[:, :1])


def test_max_pool_changed_arguments_after_cached_call(rng):
    pool = nn.MaxPool2d(2)
    x = randn(rng, (1, 2, 8, 8), np.float32)
    with pydl.no_grad():
        pool(x)
        pool(x)
        pool.kernel_size = pool.stride = 4
        out = pool(x)
        assert out.shape == (1, 2, 2, 2)
        np.testing.assert_array_equal(out, R.max_pool2d_forward(x, 4)[0])
        pool.ceil_mode = 1
        with pytest.raises(TypeError, match="ceil_mode"):
            pool(x)
        pool.ceil_mode = False
        with pytest.raises(TypeError):
            pool(x.astype(np.int64))


def test_training_forward_backward_unchanged_by_fast_path(rng):
    """With gradients on, the cached calls still save for backward."""
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(16, 3))
    x = randn(rng, (2, 1, 4, 4), np.float32)
    for _ in range(2):
        model.zero_grad()
        y = model(x)
        gx = model.backward(np.ones_like(y))
        assert gx.shape == x.shape
        assert model[0].weight.grad is not None
    t = pydl.tensor(x, requires_grad=True)
    model.zero_grad()
    model(t).sum().backward()
    np.testing.assert_array_equal(t.grad, gx)


def test_call_notices_a_structure_change_after_a_fast_call(rng):
    """Module.__call__'s fast path reads the explicit-ness cache only while no module
    changed structure: a forward-only child added later sends the call to the tape."""

    class Double(nn.Module):        # forward only: tape ops
        def forward(self, x):
            return x * 2

    seq = nn.Sequential(nn.Linear(3, 3))
    x = randn(rng, (1, 3), np.float32)
    with pydl.no_grad():
        assert isinstance(seq(x), np.ndarray)
        seq.append(Double())
        out = seq(x)
    assert isinstance(out, pydl.Tensor)


def test_no_grad_leaves_nothing_saved(rng):
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Dropout(0.5), nn.Flatten())
    model.eval()
    with pydl.no_grad():
        model(randn(rng, (1, 3), np.float32))
    for m in model.modules():
        assert m.__dict__.get("_saved") is None


def test_flatten_shapes_and_errors(rng):
    x = randn(rng, (2, 3, 4, 5), np.float32)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, -1)(x).shape == (120,)
    assert nn.Flatten(1, 2)(x).shape == (2, 12, 5)
    assert nn.Flatten(0, 0)(np.float32(1.0)).shape == (1,)
    assert nn.Flatten()(x.tolist()).shape == (2, 60)
    with pytest.raises(ValueError, match="does not fit"):
        nn.Flatten(3, 1)(x)


def test_activation_subclass_with_its_own_op_uses_it(rng):
    calls = []

    def op(x):
        calls.append(1)
        return pydl.functional.relu_forward(x)

    class MyReLU(nn.ReLU):
        _forward = staticmethod(op)

    with pydl.no_grad():
        MyReLU()(randn(rng, (2, 2), np.float32))
    assert calls
