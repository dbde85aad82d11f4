"""Every ``pydl.functional`` forward op, given tensors, records a node whose gradients
pass a float64 finite-difference check; given arrays, it is the op as before."""

import numpy as np
import pytest

import pydl
import pydl.functional as F
from pydl.testing import tape_gradcheck


def _x(*shape, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    x[np.abs(x) < 1e-2] = 0.05          # finite differences off the kinks at 0
    return x


def _distinct(*shape, seed=0):
    """Values far apart, so max pooling's choice does not flip under eps."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape) * 0.1 - n * 0.05


def _probs(*shape, seed=3):
    e = np.exp(_x(*shape, seed=seed))
    return e / e.sum(axis=1, keepdims=True)


LABELS = np.array([0, 2, 1, 1])
_, IDX2 = F.max_pool2d_forward(_distinct(2, 2, 4, 4), 2)

# op name -> (fn of the differentiable inputs, the inputs)
CASES = {
    "linear_forward": (lambda x, w, b: F.linear_forward(x, w, b), [_x(3, 4), _x(2, 4, seed=1), _x(2, seed=2)]),
    "relu_forward": (F.relu_forward, [_x(3, 4)]),
    "leaky_relu_forward": (lambda x: F.leaky_relu_forward(x, 0.2), [_x(3, 4)]),
    "elu_forward": (lambda x: F.elu_forward(x, 0.7), [_x(3, 4)]),
    "sigmoid_forward": (F.sigmoid_forward, [_x(3, 4)]),
    "tanh_forward": (F.tanh_forward, [_x(3, 4)]),
    "silu_forward": (F.silu_forward, [_x(3, 4)]),
    "softmax_forward": (lambda x: F.softmax_forward(x, dim=0), [_x(3, 4)]),
    "log_softmax_forward": (F.log_softmax_forward, [_x(3, 4)]),
    "prelu_forward": (F.prelu_forward, [_x(2, 3, 4), np.array([0.1, 0.3, 0.2])]),
    "softplus_forward": (lambda x: F.softplus_forward(x, 2.0, 3.0), [_x(3, 4)]),
    "hardtanh_forward": (lambda x: F.hardtanh_forward(x, -0.5, 0.8), [_x(3, 4) * 0.3]),
    "gelu_forward": (lambda x: F.gelu_forward(x, "tanh"), [_x(3, 4)]),
    "softmax_cross_entropy_forward": (lambda x: F.softmax_cross_entropy_forward(x, LABELS, label_smoothing=0.1)[0], [_x(4, 3)]),
    "nll_loss_forward": (lambda x: F.nll_loss_forward(x, LABELS, reduction="none")[0], [_x(4, 3)]),
    "binary_cross_entropy_forward": (lambda x: F.binary_cross_entropy_forward(x, _probs(4, 3))[0], [0.1 + 0.8 * _probs(4, 3, seed=1)]),
    "binary_cross_entropy_with_logits_forward": (lambda x: F.binary_cross_entropy_with_logits_forward(x, _probs(4, 3), reduction="sum")[0], [_x(4, 3)]),
    "kl_div_forward": (lambda x: F.kl_div_forward(x, _probs(4, 3), reduction="batchmean")[0], [np.log(_probs(4, 3, seed=1))]),
    "mse_loss_forward": (lambda x: F.mse_loss_forward(x, _x(4, 3, seed=1))[0], [_x(4, 3)]),
    "l1_loss_forward": (lambda x: F.l1_loss_forward(x, _x(4, 3, seed=1))[0], [_x(4, 3)]),
    "smooth_l1_loss_forward": (lambda x: F.smooth_l1_loss_forward(x, _x(4, 3, seed=1), beta=0.5)[0], [_x(4, 3)]),
    "huber_loss_forward": (lambda x: F.huber_loss_forward(x, _x(4, 3, seed=1), delta=0.7)[0], [_x(4, 3)]),
    "hinge_loss_forward": (lambda x: F.hinge_loss_forward(x, np.sign(_x(4, 3, seed=1)))[0], [_x(4, 3) * 3]),
    "perceptron_loss_forward": (lambda x: F.perceptron_loss_forward(x, np.sign(_x(4, 3, seed=1)))[0], [_x(4, 3)]),
    "multi_margin_loss_forward": (lambda x: F.multi_margin_loss_forward(x, LABELS, p=2)[0], [_x(4, 3)]),
    "triplet_margin_loss_forward": (lambda a, p, n: F.triplet_margin_loss_forward(a, p, n, margin=2.0)[0], [_x(4, 3), _x(4, 3, seed=1), _x(4, 3, seed=2)]),
    "cosine_embedding_loss_forward": (lambda a, b: F.cosine_embedding_loss_forward(a, b, np.array([1, -1, 1, -1]), margin=0.1)[0], [_x(4, 3), _x(4, 3, seed=1)]),
    "sigmoid_focal_loss_forward": (lambda x: F.sigmoid_focal_loss_forward(x, _probs(4, 3), reduction="mean")[0], [_x(4, 3)]),
    "softmax_focal_loss_forward": (lambda x: F.softmax_focal_loss_forward(x, LABELS)[0], [_x(4, 3)]),
    "interpolate_forward": (lambda x: F.interpolate_forward(x, scale_factor=2, mode="bilinear", align_corners=False), [_x(1, 2, 3, 3)]),
    "rnn_forward": (lambda x, h: F.rnn_forward(x, h, *RNN_W), [_x(3, 2, 3), _x(2, 4, seed=1)]),
    "lstm_forward": (lambda x, h, c: F.lstm_forward(x, h, c, *LSTM_W)[:3], [_x(3, 2, 3), _x(2, 4, seed=1), _x(2, 4, seed=2)]),
    "gru_forward": (lambda x, h: F.gru_forward(x, h, *GRU_W)[:2], [_x(3, 2, 3), _x(2, 4, seed=1)]),
    "rnn_cell_forward": (lambda x, h: F.rnn_cell_forward(x, h, *RNN_W), [_x(2, 3), _x(2, 4, seed=1)]),
    "lstm_cell_forward": (lambda x, h, c: F.lstm_cell_forward(x, h, c, *LSTM_W)[:2], [_x(2, 3), _x(2, 4, seed=1), _x(2, 4, seed=2)]),
    "gru_cell_forward": (lambda x, h: F.gru_cell_forward(x, h, *GRU_W)[0], [_x(2, 3), _x(2, 4, seed=1)]),
    "batch_norm_forward": (lambda x, w, b: F.batch_norm_forward(x, w, b)[0], [_x(5, 3), _x(3, seed=1), _x(3, seed=2)]),
    "layer_norm_forward": (lambda x, w, b: F.layer_norm_forward(x, (4,), w, b)[0], [_x(3, 4), _x(4, seed=1), _x(4, seed=2)]),
    "local_response_norm_forward": (lambda x: F.local_response_norm_forward(x, 3, 0.5, 0.75, 1.5)[0], [_x(2, 4, 3)]),
    "group_norm_forward": (lambda x, w, b: F.group_norm_forward(x, 2, w, b)[0], [_x(2, 4, 3), _x(4, seed=1), _x(4, seed=2)]),
    "instance_norm_forward": (lambda x, w, b: F.instance_norm_forward(x, w, b)[0], [_x(2, 3, 4), _x(3, seed=1), _x(3, seed=2)]),
    "gram_matrix_forward": (lambda x: F.gram_matrix_forward(x), [_x(2, 3, 2, 3)]),
    "content_loss_forward": (lambda x: F.content_loss_forward(x, _x(2, 3, 4, seed=1))[0], [_x(2, 3, 4)]),
    "style_loss_forward": (lambda x: F.style_loss_forward(x, _x(3, 3, seed=1), reduction="sum")[0], [_x(2, 3, 2, 2)]),
    "dropout_forward": (lambda x: F.dropout_forward(x, 0.4, generator=np.random.default_rng(7))[0], [_x(3, 4)]),
    "channel_dropout_forward": (lambda x: F.channel_dropout_forward(x, 0.5, generator=np.random.default_rng(7))[0], [_x(2, 3, 4)]),
    "embedding_forward": (lambda w: F.embedding_forward(np.array([[0, 2], [2, 1]]), w), [_x(3, 4)]),
    "scaled_dot_product_attention_forward": (lambda q, k, v: F.scaled_dot_product_attention_forward(q, k, v)[0], [_x(2, 3, 4), _x(2, 5, 4, seed=1), _x(2, 5, 3, seed=2)]),
    "additive_attention_forward": (lambda q, k, wq, wk, v: F.additive_attention_forward(q, k, wq, wk, v)[:2], [_x(2, 3), _x(2, 4, 5, seed=1), _x(6, 3, seed=2), _x(6, 5, seed=3), _x(6, seed=4)]),
}
for _nd in (1, 2, 3):
    _sp = (5, 4, 3)[:_nd]
    CASES[f"conv{_nd}d_forward"] = (
        lambda x, w, b, _nd=_nd: getattr(F, f"conv{_nd}d_forward")(x, w, b, stride=1, padding=1),
        [_x(2, 2, *_sp), _x(3, 2, *(2,) * _nd, seed=1), _x(3, seed=2)])
    CASES[f"conv_transpose{_nd}d_forward"] = (
        lambda x, w, b, _nd=_nd: getattr(F, f"conv_transpose{_nd}d_forward")(x, w, b, stride=2),
        [_x(2, 2, *_sp), _x(2, 3, *(2,) * _nd, seed=1), _x(3, seed=2)])
    CASES[f"max_pool{_nd}d_forward"] = (
        lambda x, _nd=_nd: getattr(F, f"max_pool{_nd}d_forward")(x, 2)[0], [_distinct(2, 2, *(4,) * _nd)])
    CASES[f"adaptive_max_pool{_nd}d_forward"] = (
        lambda x, _nd=_nd: getattr(F, f"adaptive_max_pool{_nd}d_forward")(x, 2)[0], [_distinct(2, 2, *(5,) * _nd)])
    CASES[f"avg_pool{_nd}d_forward"] = (
        lambda x, _nd=_nd: getattr(F, f"avg_pool{_nd}d_forward")(x, 2, 1, 1, count_include_pad=False), [_x(2, 2, *(4,) * _nd)])
    CASES[f"adaptive_avg_pool{_nd}d_forward"] = (
        lambda x, _nd=_nd: getattr(F, f"adaptive_avg_pool{_nd}d_forward")(x, 3), [_x(2, 2, *(5,) * _nd)])
    _in = _distinct(1, 2, *(4,) * _nd)
    _, _idx = getattr(F, f"max_pool{_nd}d_forward")(_in, 2)
    CASES[f"max_unpool{_nd}d_forward"] = (
        lambda x, _nd=_nd, _idx=_idx: getattr(F, f"max_unpool{_nd}d_forward")(x, _idx, 2), [_x(*_idx.shape)])

_rng = np.random.default_rng(9)
RNN_W = [_rng.standard_normal((4, 3)), _rng.standard_normal((4, 4)), _rng.standard_normal(4), _rng.standard_normal(4)]
LSTM_W = [_rng.standard_normal((16, 3)), _rng.standard_normal((16, 4)), _rng.standard_normal(16), _rng.standard_normal(16)]
GRU_W = [_rng.standard_normal((12, 3)), _rng.standard_normal((12, 4)), _rng.standard_normal(12), _rng.standard_normal(12)]


def test_every_forward_op_has_a_case():
    ops = {n for n in F.__all__ if n.endswith("_forward")}
    assert ops == set(CASES), f"missing: {sorted(ops - set(CASES))}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_op_gradcheck_through_the_tape(name):
    fn, inputs = CASES[name]
    assert hasattr(getattr(F, name), "__wrapped__")
    assert tape_gradcheck(fn, *inputs, max_elements=12)


def test_recurrent_weights_get_gradients_through_the_tape():
    w = [pydl.tensor(a, requires_grad=True) for a in LSTM_W]
    x = pydl.tensor(_x(3, 2, 3), requires_grad=True)
    y, h, c, _ = F.lstm_forward(x, pydl.tensor(np.zeros((2, 4))), pydl.tensor(np.zeros((2, 4))), *w)
    (y.sum() + c.sum()).backward()
    assert all(t.grad is not None and t.grad.shape == t.shape for t in w)


def test_arrays_in_arrays_out():
    """Without tensors an op is unchanged: arrays in, arrays out, no node."""
    y = F.relu_forward(np.array([-1.0, 2.0]))
    assert type(y) is np.ndarray
    loss, grad = F.mse_loss_forward(np.ones(3), np.zeros(3))
    assert isinstance(loss, float) and type(grad) is np.ndarray


def test_a_loss_refuses_a_target_that_requires_grad():
    x = pydl.tensor(_x(4, 3), requires_grad=True)
    t = pydl.tensor(_x(4, 3, seed=1), requires_grad=True)
    loss, _ = F.mse_loss_forward(x, t)
    with pytest.raises(RuntimeError, match="no gradient with respect to 'target'"):
        loss.backward()


def test_argument_binding_matches_inspect():
    # functional_tape binds arguments itself (Signature.bind cost ~10 us a call): the
    # names, defaults, order and errors must be those of inspect.
    import inspect

    from pydl.autograd.functional_tape import _bind, _binder

    def op(x, weight, bias=None, stride=1, *, need_grad=False, scale=2.0):
        return x

    sig = inspect.signature(op)
    binder = _binder(sig)
    calls = [((1, 2), {}), ((1, 2, 3), {}), ((1,), {"weight": 2}),
             ((1, 2), {"stride": 4, "scale": 1.0}), ((), {"x": 1, "weight": 2, "bias": 3}),
             ((1, 2, 3, 4), {"need_grad": True})]
    for args, kwargs in calls:
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        got, fallback = _bind(binder, sig, args, kwargs)
        assert list(got.items()) == list(bound.arguments.items())
        assert fallback is None
    for args, kwargs in [((1,), {}), ((1, 2, 3, 4, 5), {}), ((1, 2), {"x": 1}),
                         ((1, 2), {"bogus": 1})]:
        with pytest.raises(TypeError):
            sig.bind(*args, **kwargs)
        with pytest.raises(TypeError):
            _bind(binder, sig, args, kwargs)
    assert _binder(inspect.signature(lambda *a, b=1: a)) is None
    assert _binder(inspect.signature(lambda a, /, b: a)) is None


def test_keyword_arguments_and_defaults_through_the_tape():
    x = pydl.tensor(_x(3, 4), requires_grad=True)
    w = pydl.tensor(_x(2, 4, seed=1), requires_grad=True)
    out = F.linear_forward(x, weight=w)
    ref = F.linear_forward(x.data, w.data)
    np.testing.assert_array_equal(out.data, ref)
    out.sum().backward()
    np.testing.assert_array_equal(w.grad, np.ones((3, 2)).T @ x.data)
    with pytest.raises(TypeError):
        F.linear_forward(x, w, bogus=1)
    with pydl.no_grad():
        assert not F.leaky_relu_forward(x, negative_slope=0.3).requires_grad
    assert pydl.is_grad_enabled()


@pytest.mark.parametrize("name", ["relu_forward", "sigmoid_forward", "tanh_forward"])
def test_one_tensor_activation_calls_match_the_bound_path(name):
    # op(tensor) skips argument binding; op(x=tensor) takes the general path
    fn = getattr(F, name)
    for dtype in (np.float32, np.float64):
        x = pydl.tensor(_x(3, 4).astype(dtype), requires_grad=True)
        fast, general = fn(x), fn(x=x)
        assert fast.grad_fn.name == general.grad_fn.name == name[:-len("_forward")]
        assert fast.grad_fn.saved == general.grad_fn.saved
        np.testing.assert_array_equal(fast.data, general.data)
        g = np.random.default_rng(1).standard_normal((3, 4)).astype(dtype)
        fast.backward(g)
        first = x.grad
        x.grad = None
        general.backward(g)
        np.testing.assert_array_equal(x.grad, first)
        assert x.grad.dtype == dtype
        with pydl.no_grad():
            assert fn(x).grad_fn is None and not fn(x).requires_grad
        plain = fn(pydl.tensor(x.data))
        assert plain.grad_fn is None and type(plain) is pydl.Tensor
        y = fn(x)
        with pydl.no_grad():
            x += 1
        with pytest.raises(RuntimeError, match="modified in place"):
            y.sum().backward()
