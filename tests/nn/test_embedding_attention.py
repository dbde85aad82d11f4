"""Embedding and attention modules: gradient checks, behaviour, bad input."""

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.testing import gradcheck


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_embedding_gradcheck_and_padding():
    pydl.manual_seed(0)
    m = nn.Embedding(6, 3, padding_idx=2, dtype=np.float64)
    assert not np.any(m.weight.data[2])
    idx = np.array([[0, 2, 5], [2, 2, 1]])
    # by design the padding row gets no gradient although the output reads it, so the
    # finite-difference check runs without padding_idx
    assert gradcheck(nn.Embedding(6, 3, dtype=np.float64), idx)
    m(idx)
    assert m.backward(np.ones((2, 3, 3))) is None
    assert not np.any(m.weight.grad[2]) and np.all(m.weight.grad[0] == 1)
    np.testing.assert_array_equal(m.weight.grad[[3, 4]], 0)


def test_embedding_options():
    pydl.manual_seed(0)
    m = nn.Embedding(5, 4, max_norm=1.0, dtype=np.float64)
    m(np.array([0, 1]))
    norms = np.linalg.norm(m.weight.data, axis=1)
    assert np.all(norms[:2] <= 1 + 1e-6) and np.all(norms[2:] > 1)   # only looked-up rows
    pre = nn.Embedding.from_pretrained(np.eye(3))
    assert not pre.weight.requires_grad and pre.weight.dtype == np.float64
    pre(np.array([1]))
    pre.backward(np.ones((1, 3)))
    assert pre.weight.grad is None
    assert repr(nn.Embedding(5, 4, padding_idx=-1)) == "Embedding(5, 4, padding_idx=4)"


def test_embedding_bad_input():
    m = nn.Embedding(10, 3)
    with pytest.raises(ValueError, match=r"indices hold 10, outside \[0, num_embeddings = 10\)"):
        m(np.array([1, 10]))
    with pytest.raises(ValueError, match="padding_idx must be within"):
        nn.Embedding(10, 3, padding_idx=10)
    with pytest.raises(NotImplementedError, match="sparse"):
        nn.Embedding(10, 3, sparse=True)
    with pytest.raises(TypeError, match="indices must hold integers"):
        m(np.array([0.5]))


def test_sdpa_module_gradcheck():
    m = nn.ScaledDotProductAttention()
    q, k, v = _x((2, 3, 4), 1), _x((2, 5, 4), 2), _x((2, 5, 3), 3)
    assert gradcheck(m, q, k, v)
    m(q, k, v, is_causal=True)
    assert np.allclose(np.triu(m.attn_weights[0], 1), 0)

    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.att = nn.ScaledDotProductAttention(scale=0.3)
            self.mask = _x((3, 5), 4)          # additive float mask, shared over the batch

        def forward(self, q, k, v):
            return self.att(q, k, v, self.mask)

        def backward(self, g):
            return self.att.backward(g)

    assert gradcheck(Masked(), q, k, v)


def test_additive_attention_gradcheck():
    pydl.manual_seed(0)
    m = nn.AdditiveAttention(4, 6, 5, dtype=np.float64)
    q, keys = _x((3, 4), 1), _x((3, 7, 6), 2)
    assert gradcheck(m, q, keys)
    mask = np.random.default_rng(3).random((3, 7)) > 0.3
    mask[1] = False

    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.att = m

        def forward(self, q, keys):
            return self.att(q, keys, mask)

        def backward(self, g):
            return self.att.backward(g)

    assert gradcheck(Masked(), q, keys)
    context, weights = m(q, keys, mask)
    assert not np.any(weights[1]) and not np.any(context[1])
    np.testing.assert_allclose(weights[[0, 2]].sum(axis=1), 1)
    assert np.all(weights[~mask] == 0)


def test_additive_attention_bad_input():
    m = nn.AdditiveAttention(4, 6, 5)
    with pytest.raises(ValueError, match=r"keys has shape \(3, 7, 5\): its last dimension "
                                         r"must equal weight_key.shape\[1\] = 6"):
        m(np.zeros((3, 4), np.float32), np.zeros((3, 7, 5), np.float32))
    with pytest.raises(ValueError, match="keys must be 3-D"):
        m(np.zeros((3, 4), np.float32), np.zeros((7, 6), np.float32))
