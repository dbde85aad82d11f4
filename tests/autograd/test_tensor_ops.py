"""Every tensor op passes a float64 finite-difference check through the tape, with
broadcasting, keepdims, negative axes and repeated indices."""

import numpy as np
import pytest

import pydl
from pydl.testing import GradcheckError, tape_gradcheck


def _x(*shape, seed=0, positive=False):
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.abs(x) + 0.5 if positive else x


OPS = [
    ("add-broadcast", lambda a, b: a + b, [_x(3, 1, 4), _x(2, 4, seed=1)]),
    ("radd-scalar", lambda a: 2.5 + a, [_x(3, 4)]),
    ("sub-broadcast", lambda a, b: a - b, [_x(4), _x(3, 4, seed=1)]),
    ("rsub-array", lambda a: np.ones((2, 3), a.dtype) - a, [_x(3)]),
    ("mul-broadcast", lambda a, b: a * b, [_x(2, 1, 3), _x(4, 1, seed=1)]),
    ("div", lambda a, b: a / b, [_x(3, 4), _x(3, 1, seed=1, positive=True)]),
    ("rdiv", lambda a: 1.0 / a, [_x(3, 4, positive=True)]),
    ("neg", lambda a: -a, [_x(3, 4)]),
    ("pow-scalar", lambda a: a ** 3, [_x(3, 4)]),
    ("pow-tensor", lambda a, b: a ** b, [_x(3, 4, positive=True), _x(4, seed=1)]),
    ("rpow", lambda a: 2.0 ** a, [_x(3, 4)]),
    ("matmul-2d", lambda a, b: a @ b, [_x(3, 4), _x(4, 5, seed=1)]),
    ("matmul-batched-broadcast", lambda a, b: a @ b, [_x(2, 1, 3, 4), _x(3, 4, 2, seed=1)]),
    ("matmul-vector-left", lambda a, b: a @ b, [_x(4), _x(2, 4, 3, seed=1)]),
    ("matmul-vector-right", lambda a, b: a @ b, [_x(2, 3, 4), _x(4, seed=1)]),
    ("matmul-dot", lambda a, b: pydl.matmul(a, b), [_x(4), _x(4, seed=1)]),
    ("exp", pydl.exp, [_x(3, 4)]),
    ("log", pydl.log, [_x(3, 4, positive=True)]),
    ("sqrt", pydl.sqrt, [_x(3, 4, positive=True)]),
    ("abs", abs, [_x(3, 4)]),
    ("clip", lambda a: a.clip(-0.5, 0.7), [_x(4, 5)]),
    ("clip-min-only", lambda a: pydl.clip(a, min=0.1), [_x(4, 5)]),
    ("maximum", pydl.maximum, [_x(3, 4), _x(4, seed=1)]),
    ("minimum-scalar", lambda a: pydl.minimum(a, 0.2), [_x(3, 4)]),
    ("where", lambda a, b: pydl.where(_x(3, 4, seed=5) > 0, a, b), [_x(3, 4), _x(4, seed=1)]),
    ("relu", lambda a: a.relu(), [_x(3, 4)]),
    ("sigmoid", pydl.sigmoid, [_x(3, 4)]),
    ("tanh", lambda a: a.tanh(), [_x(3, 4)]),
    ("sum-all", lambda a: a.sum(), [_x(3, 4)]),
    ("sum-axis-neg", lambda a: a.sum(axis=-1), [_x(3, 4, 2)]),
    ("sum-axes-keepdims", lambda a: a.sum(axis=(0, 2), keepdims=True), [_x(3, 4, 2)]),
    ("sum-dim-keepdim", lambda a: a.sum(dim=1, keepdim=True), [_x(3, 4)]),
    ("mean-axis", lambda a: a.mean(axis=1), [_x(3, 4, 2)]),
    ("mean-all-keepdims", lambda a: pydl.mean(a, keepdims=True), [_x(3, 4)]),
    ("max-axis", lambda a: a.max(axis=0), [_x(5, 4)]),
    ("max-all", lambda a: a.max(), [_x(5, 4)]),
    ("min-axis-neg-keepdims", lambda a: a.min(axis=-2, keepdims=True), [_x(2, 5, 4)]),
    ("var", lambda a: a.var(axis=1), [_x(3, 5)]),
    ("var-numpy", lambda a: a.var(axis=(0, 1), correction=0, keepdims=True), [_x(3, 5, 2)]),
    ("std", lambda a: a.std(), [_x(3, 5)]),
    ("reshape", lambda a: a.reshape(2, -1) * np.arange(12.0).reshape(2, 6), [_x(3, 4)]),
    ("flatten", lambda a: a.flatten(1), [_x(2, 3, 4)]),
    ("transpose", lambda a: a.transpose(0, 2), [_x(2, 3, 4)]),
    ("T", lambda a: a.T @ a, [_x(3, 4)]),
    ("permute", lambda a: a.permute(2, 0, 1), [_x(2, 3, 4)]),
    ("squeeze-unsqueeze", lambda a: a.unsqueeze(0).squeeze(), [_x(3, 1, 4)]),
    ("index-basic", lambda a: a[1:, ::2], [_x(3, 5)]),
    ("index-int-negative", lambda a: a[-1], [_x(3, 5)]),
    ("index-ellipsis-none", lambda a: a[..., None, 1], [_x(3, 4)]),
    ("index-array-repeated", lambda a: a[np.array([0, 2, 0, 0])], [_x(3, 5)]),
    ("index-array-2d", lambda a: a[np.array([0, 1, 1]), np.array([2, 2, 0])], [_x(3, 5)]),
    ("index-bool-mask", lambda a: a[_x(3, 5, seed=4) > 0], [_x(3, 5)]),
    ("index-tensor", lambda a: a[pydl.tensor(np.array([1, 1, 2]))], [_x(3, 2)]),
    ("concatenate", lambda a, b: pydl.concatenate([a, b, a], axis=-1),
     [_x(2, 3), _x(2, 1, seed=1)]),
    ("cat-dim", lambda a, b: pydl.cat([a, b], dim=0), [_x(2, 3), _x(1, 3, seed=1)]),
    ("stack", lambda a, b: pydl.stack([a, b], axis=1), [_x(2, 3), _x(2, 3, seed=1)]),
    ("split-sections", lambda a: pydl.split(a, 3, axis=1), [_x(2, 6)]),
    ("split-indices-unused-piece", lambda a: pydl.split(a, [1, 3])[2], [_x(5, 2)]),
    ("pad", lambda a: pydl.pad(a, ((1, 0), (2, 3)), value=1.5), [_x(2, 3)]),
    ("pad-all-axes", lambda a: pydl.pad(a, 1), [_x(2, 3)]),
    ("composite", lambda a, b: ((a @ b).tanh() * a.sum(axis=1, keepdims=True)).mean(axis=0),
     [_x(3, 4), _x(4, 2, seed=1)]),
]


@pytest.mark.parametrize("name,fn,inputs", OPS, ids=[o[0] for o in OPS])
def test_op_gradcheck(name, fn, inputs):
    if name in ("clip", "clip-min-only", "relu"):
        inputs = [np.where(np.abs(x - 0.7) < 1e-3, x + 0.01, x) for x in inputs]
    assert tape_gradcheck(fn, *inputs)


@pytest.mark.parametrize("name,fn,inputs", OPS[:20], ids=[o[0] for o in OPS[:20]])
def test_op_float32_values_match_numpy(name, fn, inputs):
    """float32 in, float32 out, and the values NumPy gives on the arrays."""
    xs = [x.astype(np.float32) for x in inputs]
    out = fn(*[pydl.tensor(x) for x in xs])
    expected = fn(*xs) if name not in ("exp", "log", "sqrt", "sigmoid") else None
    assert out.dtype == np.float32
    if expected is not None:
        np.testing.assert_allclose(out.data, np.asarray(expected), rtol=1e-6)


def test_tape_gradcheck_catches_a_wrong_gradient():
    import pydl.autograd.ops as ops

    def wrong_exp(x):
        out = np.exp(x.data)
        return ops._record(out, (x,), lambda g: (g[0] * out * 1.01,), "exp")
    with pytest.raises(GradcheckError, match="input 0"):
        tape_gradcheck(wrong_exp, _x(3))


def test_max_ties_share_the_gradient():
    x = pydl.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [0.5, 0, 0.5]])


def test_repeated_integer_index_scatter_adds():
    x = pydl.tensor(np.zeros(4), requires_grad=True)
    x[np.array([1, 1, 3, 1])].sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 3, 0, 1])


def test_comparisons_give_bool_tensors_without_gradient():
    x = pydl.tensor(np.array([1.0, -2.0]), requires_grad=True)
    for r in (x > 0, x >= 0, x < 0, x <= 0, x == 1, x != 1):
        assert r.dtype == bool and not r.requires_grad
    np.testing.assert_array_equal((x > 0).data, [True, False])


def test_numpy_functions_read_tensors_and_ndarray_op_tensor_is_a_tensor():
    x = pydl.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert np.sum(x) == 15.0                        # __array__
    y = np.ones(3) * x                              # NumPy defers to the tensor
    assert isinstance(y, pydl.Tensor) and y.requires_grad


def test_attributes():
    x = pydl.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    assert x.dtype == np.float32 and x.shape == (1, 3) and x.ndim == 2 and x.size == 3
    assert x.is_leaf and x.grad_fn is None
    y = (x * 2).sum()
    assert not y.is_leaf and y.grad_fn is not None and y.item() == 12.0
    assert isinstance(y.item(), float)
    assert x.detach().requires_grad is False
    np.testing.assert_array_equal(x.detach().numpy(), [[1, 2, 3]])
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert pydl.tensor(np.arange(3)).dtype == np.int64
    assert "grad_fn" in repr(y) and "requires_grad=True" in repr(x)


def test_gradcheck_of_an_output_cut_from_the_graph_is_a_gradcheck_error():
    class Detached(pydl.nn.Module):
        def forward(self, x):
            return np.asarray(x) * 2.0       # an ndarray: nothing for the tape

    with pytest.raises(GradcheckError, match="does not depend on anything"):
        from pydl.testing import gradcheck
        gradcheck(Detached(), _x(3), tape=True)
