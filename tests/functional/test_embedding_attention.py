"""Embedding and attention kernels against the NumPy reference, and their validation."""

import numpy as np
import pytest

import pydl
from pydl import functional as F
from pydl import reference as R
from tests.helpers import as64, assert_close, randn


# --------------------------------------------------------------------- embedding

@pytest.mark.parametrize("shape,V,D", [((7,), 5, 3), ((4, 9), 50, 17), ((0,), 3, 2),
                                       ((3, 2, 5), 1, 1), ((6,), 4, 0)], ids=str)
@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_embedding_matches_reference(shape, V, D, padding_idx, dtype, rng):
    idx = rng.integers(0, V, shape)
    w = randn(rng, (V, D), dtype)
    out = F.embedding_forward(idx, w)
    assert out.shape == (*shape, D) and out.dtype == dtype
    np.testing.assert_array_equal(out, R.embedding_forward(idx, w))
    g = randn(rng, (*shape, D), dtype)
    pad = None if padding_idx is None else padding_idx % V
    for freq in (False, True):
        got = F.embedding_backward(g, idx, V, padding_idx, scale_grad_by_freq=freq)
        assert_close(got, R.embedding_backward(*as64(g), idx, V, pad, freq), dtype)


def test_embedding_backward_bitwise_same_at_any_thread_count():
    rng = np.random.default_rng(4)
    idx = rng.integers(0, 97, 20_000)          # many repeats of every row
    g = randn(rng, (20_000, 33), np.float32)
    results = []
    for n in (1, 2, 3, 8):
        with pydl.threads(n):
            results.append(F.embedding_backward(g, idx, 97, 5))
    assert all(r.tobytes() == results[0].tobytes() for r in results[1:])
    assert not np.any(results[0][5])


class TestEmbeddingValidation:
    def test_indices(self, rng):
        w = randn(rng, (10, 3), np.float32)
        with pytest.raises(ValueError, match=r"indices hold -1, 10, 12, outside \[0, "
                                             r"num_embeddings = 10\)"):
            F.embedding_forward(np.array([3, 10, -1, 12, 10]), w)
        with pytest.raises(ValueError, match=r"indices hold 10, 11, 12, 13, 14, \.\.\."):
            F.embedding_forward(np.arange(10, 20), w)
        with pytest.raises(TypeError, match="indices must hold integers, got dtype float64"):
            F.embedding_forward(np.array([1.0, 2.0]), w)
        with pytest.raises(TypeError, match="indices must hold integers, got dtype bool"):
            F.embedding_forward(np.array([True]), w)
        with pytest.raises(TypeError, match="indices must be an integer numpy array"):
            F.embedding_forward("3", w)

    def test_padding_idx_and_shapes(self, rng):
        g = randn(rng, (4, 3), np.float32)
        idx = np.array([0, 1, 2, 3])
        with pytest.raises(ValueError, match=r"padding_idx must be within \[-num_embeddings, "
                                             r"num_embeddings\) = \[-5, 5\), got 5"):
            F.embedding_backward(g, idx, 5, padding_idx=5)
        with pytest.raises(ValueError, match=r"got -6"):
            F.embedding_backward(g, idx, 5, padding_idx=-6)
        with pytest.raises(ValueError, match=r"grad_out has shape \(4, 3\), expected "
                                             r"\(5, 3\)"):
            F.embedding_backward(g, np.arange(5), 5)
        with pytest.raises(ValueError, match="weight must be 2-D"):
            F.embedding_forward(idx, np.zeros(5, np.float32))


# --------------------------------------------------------- scaled dot-product

SDPA_SHAPES = [((), 1, 1, 1, 1), ((2,), 5, 7, 4, 3), ((2, 3), 70, 66, 8, 5),
               ((1,), 3, 0, 2, 2), ((2,), 4, 3, 0, 2), ((3,), 0, 4, 2, 2)]


def _masks(rng, batch, L, S):
    yield None, False
    yield None, True
    yield rng.random((L, S)) > 0.4, False                       # bool, shared
    yield rng.standard_normal((*batch, L, S)), False            # additive, per item


@pytest.mark.parametrize("batch,L,S,E,Ev", SDPA_SHAPES, ids=str)
def test_sdpa_matches_reference(batch, L, S, E, Ev, dtype, rng):
    q, k, v = (randn(rng, (*batch, n, e), dtype) for n, e in ((L, E), (S, E), (S, Ev)))
    g = randn(rng, (*batch, L, Ev), dtype)
    for mask, causal in _masks(rng, batch, L, S):
        if mask is not None and mask.dtype != bool:
            mask = mask.astype(dtype)
        out, attn = F.scaled_dot_product_attention_forward(q, k, v, mask, causal)
        rout, rattn = R.scaled_dot_product_attention_forward(*as64(q, k, v), mask, causal)
        assert out.shape == (*batch, L, Ev) and attn.shape == (*batch, L, S)
        assert_close(out, rout, dtype)
        assert_close(attn, rattn, dtype)
        got = F.scaled_dot_product_attention_backward(g, q, k, v, attn)
        want = R.scaled_dot_product_attention_backward(*as64(g, q, k, v), rattn)
        for a, b in zip(got, want):
            assert a.dtype == dtype
            assert_close(a, b, dtype)


def test_sdpa_fully_masked_rows_give_zeros(rng):
    q, k, v = randn(rng, (3, 4), np.float64), randn(rng, (5, 4), np.float64), \
        randn(rng, (5, 2), np.float64)
    mask = np.ones((3, 5), bool)
    mask[1] = False
    out, attn = F.scaled_dot_product_attention_forward(q, k, v, mask)
    assert not np.any(out[1]) and not np.any(attn[1]) and np.all(np.isfinite(out))
    gq, _, _ = F.scaled_dot_product_attention_backward(np.ones((3, 2)), q, k, v, attn)
    assert not np.any(gq[1])


def test_sdpa_bitwise_same_at_any_thread_count(rng):
    q, k, v = (randn(rng, (3, 97, 33), np.float32) for _ in range(3))
    g = randn(rng, (3, 97, 33), np.float32)
    results = []
    for n in (1, 2, 3, 8):
        with pydl.threads(n):
            out, attn = F.scaled_dot_product_attention_forward(q, k, v, is_causal=True)
            results.append([out, *F.scaled_dot_product_attention_backward(g, q, k, v, attn)])
    for other in results[1:]:
        assert all(a.tobytes() == b.tobytes() for a, b in zip(results[0], other))


class TestSdpaValidation:
    def test_shapes(self, rng):
        q, k, v = randn(rng, (2, 3, 4), np.float32), randn(rng, (2, 5, 4), np.float32), \
            randn(rng, (2, 5, 6), np.float32)
        with pytest.raises(ValueError, match="must share their leading"):
            F.scaled_dot_product_attention_forward(q, k[:1], v[:1])
        with pytest.raises(ValueError, match="key has shape .* must equal the query's "
                                             "embedding size 4"):
            F.scaled_dot_product_attention_forward(q, k[..., :3], v)
        with pytest.raises(ValueError, match="value has shape .* sequence length"):
            F.scaled_dot_product_attention_forward(q, k, v[:, :4])
        with pytest.raises(ValueError, match=r"attn_mask has shape \(3, 4\), which does "
                                             r"not broadcast to"):
            F.scaled_dot_product_attention_forward(q, k, v, np.ones((3, 4), bool))
        with pytest.raises(ValueError, match="attn_mask must be None when is_causal"):
            F.scaled_dot_product_attention_forward(q, k, v, np.ones((3, 5), bool), True)
        with pytest.raises(TypeError, match="attn_mask must be a bool array"):
            F.scaled_dot_product_attention_forward(q, k, v, np.ones((3, 5), np.int64))
        with pytest.raises(TypeError, match="key has dtype float64 but query"):
            F.scaled_dot_product_attention_forward(q, k.astype(np.float64), v)
        with pytest.raises(ValueError, match=r"attn has shape \(2, 3, 4\)"):
            F.scaled_dot_product_attention_backward(np.ones((2, 3, 6), np.float32), q, k, v,
                                                    np.ones((2, 3, 4), np.float32))


# ------------------------------------------------------------------- additive

def _additive(rng, N, T, Dq, Dk, A, dtype):
    return (randn(rng, (N, Dq), dtype), randn(rng, (N, T, Dk), dtype),
            randn(rng, (A, Dq), dtype, 0.5), randn(rng, (A, Dk), dtype, 0.5),
            randn(rng, (A,), dtype))


@pytest.mark.parametrize("N,T,Dq,Dk,A", [(1, 1, 1, 1, 1), (3, 7, 4, 6, 5), (5, 40, 9, 33, 19),
                                         (2, 0, 3, 4, 2), (0, 3, 2, 2, 2)], ids=str)
def test_additive_attention_matches_reference(N, T, Dq, Dk, A, dtype, rng):
    args = _additive(rng, N, T, Dq, Dk, A, dtype)
    mask = rng.random((N, T)) > 0.3
    if N > 1:
        mask[1] = False                       # a sequence with nothing to attend to
    gc, ga = randn(rng, (N, Dk), dtype), randn(rng, (N, T), dtype)
    for m in (None, mask):
        c, alpha, cache = F.additive_attention_forward(*args, mask=m)
        rc, ralpha, rcache = R.additive_attention_forward(*as64(*args), mask=m)
        assert_close(c, rc, dtype)
        assert_close(alpha, ralpha, dtype)
        for g_alpha in (None, ga):
            got = F.additive_attention_backward(gc, g_alpha, *args, alpha, cache)
            want = R.additive_attention_backward(*as64(gc, g_alpha, *args), ralpha, rcache)
            for a, b in zip(got, want):
                assert a.dtype == dtype
                assert_close(a, b, dtype)


def test_additive_attention_validation(rng):
    q, k, wq, wk, v = _additive(rng, 3, 5, 4, 6, 2, np.float32)
    with pytest.raises(ValueError, match=r"keys has shape \(3, 5, 6\) but query has shape "
                                         r"\(2, 4\)"):
        F.additive_attention_forward(q[:2], k, wq, wk, v)
    with pytest.raises(ValueError, match="query has shape .* weight_query.shape"):
        F.additive_attention_forward(q[:, :3], k, wq, wk, v)
    with pytest.raises(ValueError, match="weight_key has shape .* one row per element of v"):
        F.additive_attention_forward(q, k, wq, wk[:1], v)
    with pytest.raises(ValueError, match=r"mask has shape \(3, 4\), expected"):
        F.additive_attention_forward(q, k, wq, wk, v, np.ones((3, 4), bool))
    with pytest.raises(TypeError, match="mask must be a bool array"):
        F.additive_attention_forward(q, k, wq, wk, v, np.ones((3, 5)))
    c, alpha, cache = F.additive_attention_forward(q, k, wq, wk, v)
    with pytest.raises(TypeError, match="cache is required"):
        F.additive_attention_backward(c, None, q, k, wq, wk, v, alpha, None)
