from collections import OrderedDict

import numpy as np
import pytest

import pydl
from pydl import nn


def mlp():
    pydl.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))


def test_registration_and_names():
    m = mlp()
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert list(m.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert m[0].weight.shape == (4, 2) and m[0].bias.shape == (4,)
    assert len(list(m.parameters())) == 4
    assert [type(c).__name__ for c in m.children()] == ["Linear", "Tanh", "Linear"]
    assert repr(m) == ("Sequential(\n  (0): Linear(in_features=2, out_features=4, bias=True)\n"
                       "  (1): Tanh()\n  (2): Linear(in_features=4, out_features=1, bias=True)\n)")
    named = nn.Sequential(OrderedDict(fc=nn.Linear(3, 2), act=nn.ReLU()))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]
    nb = nn.Linear(3, 2, bias=False)
    assert nb.bias is None and list(nb.state_dict()) == ["weight"]


def test_shared_parameter_listed_once():
    lin = nn.Linear(3, 3)
    m = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(m.parameters())) == 2


def test_linear_default_init_matches_pytorch_bounds():
    pydl.manual_seed(1)
    lin = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    assert np.abs(lin.weight.data).max() <= bound and np.abs(lin.bias.data).max() <= bound
    assert np.abs(lin.weight.data).max() > 0.95 * bound    # uniform fills the range
    assert lin.weight.dtype == np.float32
    pydl.manual_seed(1)
    np.testing.assert_array_equal(nn.Linear(400, 300).weight.data, lin.weight.data)


def test_state_dict_round_trip_and_copies():
    a, b = mlp(), nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
    sd = a.state_dict()
    sd["0.weight"][...] = 0           # a copy: the module is untouched
    assert np.any(a[0].weight.data != 0)
    res = b.load_state_dict(a.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == []
    for (n1, p1), (_, p2) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p1.data, p2.data)


def test_load_state_dict_errors_change_nothing():
    m = mlp()
    before = m.state_dict()
    bad = m.state_dict()
    bad["0.weight"] = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"size mismatch for 0.weight.*\(3, 2\).*\(4, 2\)"):
        m.load_state_dict(bad)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    missing = m.state_dict()
    del missing["2.bias"]
    missing["extra"] = np.zeros(1)
    with pytest.raises(ValueError, match="missing keys: \\['2.bias'\\]"):
        m.load_state_dict(missing)
    res = m.load_state_dict(missing, strict=False)
    assert res.missing_keys == ["2.bias"] and res.unexpected_keys == ["extra"]
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        m.load_state_dict([1, 2])


def test_train_eval_zero_grad_and_dtype():
    m = mlp()
    assert m.training and m[0].training
    m.eval()
    assert not m.training and not m[2].training
    m.train()
    assert m[1].training
    x = np.ones((3, 2), np.float32)
    y = m(x)
    m.backward(np.ones_like(y))
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(np.all(p.grad == 0) for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.double()
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert m(np.ones((3, 2))).dtype == np.float64
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        m.to(np.int32)


def test_gradients_accumulate_until_zeroed():
    m = mlp()
    x = np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32)
    g = np.ones((5, 1), np.float32)
    m(x)
    m.backward(g)
    first = m[0].weight.grad.copy()
    m(x)
    m.backward(g)
    np.testing.assert_allclose(m[0].weight.grad, 2 * first, rtol=1e-6)


def test_backward_needs_forward_with_grad():
    m = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="needs a forward"):
        m.backward(np.ones((1, 2), np.float32))
    with pydl.no_grad():
        y = m(np.ones((1, 3), np.float32))
    with pytest.raises(RuntimeError, match="needs a forward"):
        m.backward(np.ones_like(y))


def test_frozen_parameter_gets_no_grad():
    m = nn.Linear(3, 2)
    m.weight.requires_grad = False
    m(np.ones((4, 3), np.float32))
    m.backward(np.ones((4, 2), np.float32))
    assert m.weight.grad is None and m.bias.grad is not None


def test_assignment_rules():
    m = nn.Linear(3, 2)
    with pytest.raises(TypeError, match="cannot assign ndarray as parameter 'weight'"):
        m.weight = np.zeros((2, 3))
    m.bias = None
    assert m.bias is None and "bias" not in m.state_dict()

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(1, np.float32))

    with pytest.raises(AttributeError, match="before Early.__init__"):
        Early()
    with pytest.raises(TypeError, match="Parameter data must be float32 or float64"):
        nn.Parameter(np.zeros(3, np.int32))


def test_sequential_indexing():
    m = mlp()
    assert isinstance(m[-1], nn.Linear) and len(m) == 3
    assert len(m[:2]) == 2 and list(m[:2].state_dict()) == ["0.weight", "0.bias"]
    with pytest.raises(IndexError, match="out of range"):
        m[5]


def test_layer_constructor_validation():
    with pytest.raises(TypeError, match="in_features must be an int"):
        nn.Linear(2.5, 3)
    with pytest.raises(ValueError, match="out_features must be >= 0"):
        nn.Linear(2, -1)
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing must be <= 1"):
        nn.CrossEntropyLoss(label_smoothing=2)
    with pytest.raises(ValueError, match="negative_slope must be finite"):
        nn.LeakyReLU(float("nan"))
    with pytest.raises(ValueError, match="weight must be finite"):
        nn.CrossEntropyLoss(weight=[1.0, float("nan")])


def test_flatten_and_identity():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    f = nn.Flatten()
    y = f(x)
    assert y.shape == (2, 12)
    assert f.backward(y).shape == (2, 3, 4)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    with pytest.raises(ValueError, match="does not fit"):
        nn.Flatten(3)(x)
    i = nn.Identity()
    assert i(x) is x and i.backward(x) is x


def test_softmax_implicit_dim_warns_like_pytorch():
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = nn.Softmax()(np.ones((2, 3), np.float32))
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-6)
