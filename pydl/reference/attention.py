"""NumPy twin of pydl.functional.attention."""

import numpy as np

__all__ = [
    "scaled_dot_product_attention_forward", "scaled_dot_product_attention_backward",
    "additive_attention_forward", "additive_attention_backward",
]


def _softmax(z, axis=-1):
    """Softmax where a row of all -inf gives zeros (PyTorch's attention behaviour)."""
    if z.shape[axis] == 0:
        return z.copy()
    m = np.max(z, axis=axis, keepdims=True)
    dead = np.isneginf(m)
    e = np.exp(z - np.where(dead, 0, m))
    s = e.sum(axis=axis, keepdims=True)
    return np.where(dead, 0, e / np.where(dead, 1, s))


def _default_scale(E, scale):
    """1 / sqrt(E); 1 for E = 0 (all scores 0: uniform weights, as PyTorch)."""
    if scale is not None:
        return scale
    return 1 / np.sqrt(E) if E > 0 else 1.0


def scaled_dot_product_attention_forward(query, key, value, attn_mask=None, is_causal=False,
                                         scale=None):
    scale = _default_scale(query.shape[-1], scale)
    scores = query @ np.swapaxes(key, -1, -2) * scale
    L, S = scores.shape[-2:]
    if is_causal:
        attn_mask = np.tri(L, S, dtype=bool)
    if attn_mask is not None:
        attn_mask = np.asarray(attn_mask)
        scores = scores + (np.where(attn_mask, 0, -np.inf) if attn_mask.dtype == bool
                           else attn_mask)
    attn = _softmax(scores)
    return attn @ value, attn


def scaled_dot_product_attention_backward(grad_out, query, key, value, attn, scale=None):
    scale = _default_scale(query.shape[-1], scale)
    d_attn = grad_out @ np.swapaxes(value, -1, -2)
    d_scores = attn * (d_attn - np.sum(d_attn * attn, axis=-1, keepdims=True))
    return (d_scores @ key * scale, np.swapaxes(d_scores, -1, -2) @ query * scale,
            np.swapaxes(attn, -1, -2) @ grad_out)


def additive_attention_forward(query, keys, weight_query, weight_key, v, mask=None):
    t = np.tanh((query @ weight_query.T)[:, None, :] + keys @ weight_key.T)
    e = t @ v
    if mask is not None:
        e = np.where(mask, e, -np.inf)
    alpha = _softmax(e)
    context = np.einsum("nt,ntd->nd", alpha, keys)
    return context, alpha, t


def additive_attention_backward(grad_context, grad_alpha, query, keys, weight_query,
                                weight_key, v, alpha, cache):
    t = cache
    if grad_context is None:
        grad_context = np.zeros((keys.shape[0], keys.shape[2]), keys.dtype)
    d_alpha = np.einsum("ntd,nd->nt", keys, grad_context)
    if grad_alpha is not None:
        d_alpha = d_alpha + grad_alpha
    d_e = alpha * (d_alpha - np.sum(alpha * d_alpha, axis=1, keepdims=True))
    d_pre = d_e[:, :, None] * v * (1 - t ** 2)           # (N, T, A)
    d_qp = d_pre.sum(axis=1)
    grad_v = np.einsum("nt,nta->a", d_e, t)
    grad_keys = alpha[:, :, None] * grad_context[:, None, :] + d_pre @ weight_key
    grad_query = d_qp @ weight_query
    grad_wq = d_qp.T @ query
    grad_wk = d_pre.reshape(-1, d_pre.shape[2]).T @ keys.reshape(-1, keys.shape[2])
    return grad_query, grad_keys, grad_wq, grad_wk, grad_v
