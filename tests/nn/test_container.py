"""Concat: parallel branches concatenated along a dimension (Inception's container)."""

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.testing import gradcheck


def _branches():
    pydl.manual_seed(0)
    return nn.Concat(nn.Linear(4, 3), nn.Sequential(nn.Linear(4, 5), nn.Tanh()),
                     nn.Identity(), dim=1)


def test_concat_forward_is_the_branches_side_by_side():
    m = _branches()
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    y = m(x)
    assert y.shape == (6, 3 + 5 + 4)
    np.testing.assert_array_equal(y[:, :3], list(m)[0](x))
    np.testing.assert_array_equal(y[:, 8:], x)
    assert list(m.state_dict()) == ["0.weight", "0.bias", "1.0.weight", "1.0.bias"]


def test_concat_gradcheck():
    m = _branches().double()
    gradcheck(m, np.random.default_rng(1).standard_normal((5, 4)))


def test_concat_last_dim_and_negative_dim():
    pydl.manual_seed(0)
    m = nn.Concat(nn.Linear(3, 2), nn.Linear(3, 4), dim=-1).double()
    x = np.random.default_rng(2).standard_normal((2, 5, 3))
    assert m(x).shape == (2, 5, 6)
    gradcheck(m, x)


def test_concat_backward_sums_the_branch_input_gradients():
    m = nn.Concat(nn.Identity(), nn.Identity(), dim=0)
    x = np.arange(6.0).reshape(2, 3)
    m(x)
    g = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(m.backward(g), g[:2] + g[2:])


def test_concat_bad_input():
    with pytest.raises(ValueError, match="at least one branch"):
        nn.Concat()
    with pytest.raises(TypeError, match="branch 1 must be a pydl.nn.Module"):
        nn.Concat(nn.Identity(), "relu")
    with pytest.raises(TypeError, match="dim must be an int"):
        nn.Concat(nn.Identity(), dim=1.0)
    m = nn.Concat(nn.Linear(4, 3), nn.Flatten(0), dim=1)
    with pytest.raises(ValueError, match="does not match"):
        m(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="out of range"):
        nn.Concat(nn.Identity(), dim=3)(np.ones((2, 4)))
