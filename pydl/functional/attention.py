"""Attention: scaled dot-product (PyTorch's ``F.scaled_dot_product_attention``) and
additive (Bahdanau) attention over a sequence of keys."""

import math

import numpy as np

from .._ext import attention as _att
from .._threading import blas_single_threaded, get_num_threads
from ._alloc import empty
from ._validation import as_float_array, check_blas_dims, check_real
from .dense import linear_backward, linear_forward

__all__ = [
    "scaled_dot_product_attention_forward", "scaled_dot_product_attention_backward",
    "additive_attention_forward", "additive_attention_backward",
]


def _run(kernel, *args):
    n_threads = get_num_threads()
    with blas_single_threaded(n_threads):
        kernel(*args, n_threads)


# ------------------------------------------------------------- scaled dot-product

def _check_qkv(query, key, value):
    """(q, k, v) flattened to (B, L, E), (B, S, E), (B, S, Ev), and the batch shape."""
    query = as_float_array(query, "query", min_ndim=2)
    key = as_float_array(key, "key", min_ndim=2, like=query, like_name="query")
    value = as_float_array(value, "value", min_ndim=2, like=query, like_name="query")
    batch = query.shape[:-2]
    if key.shape[:-2] != batch or value.shape[:-2] != batch:
        raise ValueError(f"query, key and value must share their leading (batch) "
                         f"dimensions; got shapes {query.shape}, {key.shape}, {value.shape}")
    if key.shape[-1] != query.shape[-1]:
        raise ValueError(f"key has shape {key.shape}: its last dimension must equal the "
                         f"query's embedding size {query.shape[-1]}")
    if value.shape[-2] != key.shape[-2]:
        raise ValueError(f"value has shape {value.shape}: its sequence length "
                         f"(dimension -2) must equal the key's, {key.shape[-2]}")
    B = int(np.prod(batch, dtype=np.int64))
    L, E = query.shape[-2:]
    S, Ev = value.shape[-2:]
    check_blas_dims("scaled_dot_product_attention", L, S, E, Ev)
    return (query.reshape(B, L, E), key.reshape(B, S, E), value.reshape(B, S, Ev), batch)


def _check_scale(scale, E):
    if scale is None:
        return 1.0 / math.sqrt(E) if E > 0 else 1.0
    return check_real(scale, "scale")


def _additive_mask(attn_mask, is_causal, batch, L, S, dtype):
    """An additive float mask of shape (1 or B, L, S), or None."""
    if is_causal:
        if attn_mask is not None:
            raise ValueError("attn_mask must be None when is_causal=True")
        causal = np.where(np.tri(L, S, dtype=bool), 0, -np.inf).astype(dtype)
        return causal[None]
    if attn_mask is None:
        return None
    mask = np.asarray(attn_mask)
    full = (*batch, L, S)
    try:
        fits = np.broadcast_shapes(mask.shape, full) == full
    except ValueError:
        fits = False
    if not fits:   # checked before any conversion: a huge mask fails here, cheaply
        raise ValueError(f"attn_mask has shape {mask.shape}, which does not broadcast to "
                         f"(*batch, L, S) = {full}")
    if mask.dtype == bool:
        mask = np.where(mask, 0, -np.inf).astype(dtype)
    elif mask.dtype.kind == "f":
        mask = mask.astype(dtype, copy=False)
        if np.isnan(mask).any():
            raise ValueError("attn_mask holds NaN")
    else:
        raise TypeError(f"attn_mask must be a bool array (True = attend) or a float array "
                        f"added to the scores, got dtype {mask.dtype}")
    mask = np.broadcast_to(mask, full)
    B = int(np.prod(batch, dtype=np.int64))
    if B == 0:
        return None
    if all(st == 0 for st in mask.strides[:len(batch)]):   # the same mask for every item
        return np.ascontiguousarray(mask[(0,) * len(batch)])[None]
    return np.ascontiguousarray(mask).reshape(B, L, S)


def scaled_dot_product_attention_forward(query, key, value, attn_mask=None, is_causal=False,
                                         scale=None):
    """``softmax(query @ key^T * scale + mask) @ value`` (PyTorch's semantics).

    Parameters
    ----------
    query : ndarray, shape (*, L, E)
    key : ndarray, shape (*, S, E)
    value : ndarray, shape (*, S, Ev)
        The leading dimensions (*) must be the same for all three.
    attn_mask : ndarray broadcastable to (*, L, S), optional
        bool: True where a query may attend to a key; float: added to the scores.
    is_causal : bool
        Query i attends to keys j <= i (a lower-triangular mask; no attn_mask then).
    scale : float, optional
        Default ``1 / sqrt(E)``.

    Returns
    -------
    out : ndarray, shape (*, L, Ev)
    attn : ndarray, shape (*, L, S)
        The attention weights (rows sum to 1; all zero where every key is masked,
        which gives a zero output, as PyTorch).
    """
    q, k, v, batch = _check_qkv(query, key, value)
    B, L, E = q.shape
    S, Ev = v.shape[1:]
    mask = _additive_mask(attn_mask, bool(is_causal), batch, L, S, q.dtype)
    scale = _check_scale(scale, E)
    out = empty((B, L, Ev), q.dtype)
    attn = empty((B, L, S), q.dtype)
    _run(_att.sdpa_forward, q, k, v, mask, scale, out, attn)
    return out.reshape(*batch, L, Ev), attn.reshape(*batch, L, S)


def scaled_dot_product_attention_backward(grad_out, query, key, value, attn, scale=None):
    """Gradients of :func:`scaled_dot_product_attention_forward`.

    Parameters
    ----------
    grad_out : ndarray, shape (*, L, Ev)
    query, key, value : the forward inputs
    attn : ndarray, shape (*, L, S)
        The attention weights the forward returned (the mask is in them).
    scale : float, optional

    Returns
    -------
    grad_query, grad_key, grad_value : arrays shaped like the inputs
    """
    q, k, v, batch = _check_qkv(query, key, value)
    B, L, E = q.shape
    S, Ev = v.shape[1:]
    shapes = {"grad_out": (*batch, L, Ev), "attn": (*batch, L, S)}
    checked = {}
    for name, a in (("grad_out", grad_out), ("attn", attn)):
        a = as_float_array(a, name, like=q, like_name="query")
        if a.shape != shapes[name]:
            raise ValueError(f"{name} has shape {a.shape}, expected {shapes[name]}")
        checked[name] = a.reshape(B, *shapes[name][-2:])
    scale = _check_scale(scale, E)
    gq, gk, gv = empty(q.shape, q.dtype), empty(k.shape, q.dtype), empty(v.shape, q.dtype)
    dscores = empty((B, L, S), q.dtype)
    _run(_att.sdpa_backward, checked["grad_out"], q, k, v, checked["attn"], scale, dscores,
         gq, gk, gv)
    return (gq.reshape(np.shape(query)), gk.reshape(np.shape(key)),
            gv.reshape(np.shape(value)))


# ---------------------------------------------------------------------- additive

def _check_additive(query, keys, weight_query, weight_key, v):
    v = as_float_array(v, "v", ndim=1)
    A = v.shape[0]
    weight_query = as_float_array(weight_query, "weight_query", ndim=2, like=v, like_name="v")
    weight_key = as_float_array(weight_key, "weight_key", ndim=2, like=v, like_name="v")
    for w, name in ((weight_query, "weight_query"), (weight_key, "weight_key")):
        if w.shape[0] != A:
            raise ValueError(f"{name} has shape {w.shape}, expected ({A}, ...): one row "
                             f"per element of v")
    query = as_float_array(query, "query", ndim=2, like=v, like_name="v")
    keys = as_float_array(keys, "keys", ndim=3, like=v, like_name="v")
    if query.shape[1] != weight_query.shape[1]:
        raise ValueError(f"query has shape {query.shape}: its last dimension must equal "
                         f"weight_query.shape[1] = {weight_query.shape[1]}")
    if keys.shape[2] != weight_key.shape[1]:
        raise ValueError(f"keys has shape {keys.shape}: its last dimension must equal "
                         f"weight_key.shape[1] = {weight_key.shape[1]}")
    if keys.shape[0] != query.shape[0]:
        raise ValueError(f"keys has shape {keys.shape} but query has shape {query.shape}: "
                         f"their batch sizes differ (keys are (batch, T, key_size))")
    check_blas_dims("additive_attention", keys.shape[0] * keys.shape[1], A, keys.shape[2])
    return query, keys, weight_query, weight_key, v


def _check_mask(mask, shape):
    if mask is None:
        return None
    if not isinstance(mask, np.ndarray) or mask.dtype != bool:
        raise TypeError("mask must be a bool array (True = attend)")
    if mask.shape != shape:
        raise ValueError(f"mask has shape {mask.shape}, expected (batch, T) = {shape}")
    return np.ascontiguousarray(mask).view(np.uint8)


def additive_attention_forward(query, keys, weight_query, weight_key, v, mask=None):
    """Additive (Bahdanau) attention of one query per sequence over its keys.

    ``e_j = v . tanh(W_q q + W_k k_j)``, ``alpha = softmax(e)`` over the T keys,
    ``context = sum_j alpha_j k_j``.

    Parameters
    ----------
    query : ndarray, shape (N, Dq)
        E.g. a decoder state.
    keys : ndarray, shape (N, T, Dk)
        E.g. encoder outputs (batch-major).
    weight_query : ndarray, shape (A, Dq)
    weight_key : ndarray, shape (A, Dk)
    v : ndarray, shape (A,)
    mask : bool ndarray, shape (N, T), optional
        True where a key may be attended to (padding False).

    Returns
    -------
    context : ndarray, shape (N, Dk)
    alpha : ndarray, shape (N, T)
        The attention weights (all zero for a sequence with every key masked).
    cache : ndarray, shape (N, T, A)
        ``tanh(W_q q + W_k k_j)``, for :func:`additive_attention_backward`.
    """
    query, keys, wq, wk, v = _check_additive(query, keys, weight_query, weight_key, v)
    N, T, Dk = keys.shape
    A = v.shape[0]
    mask = _check_mask(mask, (N, T))
    qp = linear_forward(query, wq)
    kp = linear_forward(keys, wk)
    alpha, context = empty((N, T), v.dtype), empty((N, Dk), v.dtype)
    cache = empty((N, T, A), v.dtype)
    _att.additive_attention_forward(qp, kp, keys, v, mask, alpha, context, cache,
                                    get_num_threads())
    return context, alpha, cache


def additive_attention_backward(grad_context, grad_alpha, query, keys, weight_query,
                                weight_key, v, alpha, cache):
    """Gradients of :func:`additive_attention_forward`.

    Parameters
    ----------
    grad_context : ndarray, shape (N, Dk), or None (zeros)
    grad_alpha : ndarray, shape (N, T), or None (zeros)
        Gradient with respect to the attention weights, if they are used further.
    query, keys, weight_query, weight_key, v : the forward arguments
    alpha, cache : what the forward returned

    Returns
    -------
    grad_query : (N, Dq)
    grad_keys : (N, T, Dk)
    grad_weight_query : (A, Dq)
    grad_weight_key : (A, Dk)
    grad_v : (A,)
    """
    query, keys, wq, wk, v = _check_additive(query, keys, weight_query, weight_key, v)
    N, T, Dk = keys.shape
    A = v.shape[0]
    checked = []
    for a, name, shape in ((grad_context, "grad_context", (N, Dk)),
                           (grad_alpha, "grad_alpha", (N, T)), (alpha, "alpha", (N, T)),
                           (cache, "cache", (N, T, A))):
        if a is None and name in ("alpha", "cache"):
            raise TypeError(f"{name} is required (from the forward), got None")
        if a is None:
            a = np.zeros(shape, v.dtype) if name == "grad_context" else None
        else:
            a = as_float_array(a, name, like=v, like_name="v")
            if a.shape != shape:
                raise ValueError(f"{name} has shape {a.shape}, expected {shape}")
        checked.append(a)
    grad_context, grad_alpha, alpha, cache = checked
    g_qp, g_kp = empty((N, A), v.dtype), empty((N, T, A), v.dtype)
    g_keys, g_v = empty((N, T, Dk), v.dtype), empty((A,), v.dtype)
    g_v_rows, de = empty((N, A), v.dtype), empty((N, T), v.dtype)
    _att.additive_attention_backward(grad_context, grad_alpha, keys, v, alpha, cache, g_qp,
                                     g_kp, g_keys, g_v_rows, g_v, de, get_num_threads())
    g_query, g_wq, _ = linear_backward(g_qp, query, wq, need_bias_grad=False)
    g_keys_proj, g_wk, _ = linear_backward(g_kp, keys, wk, need_bias_grad=False)
    g_keys += g_keys_proj
    return g_query, g_keys, g_wq, g_wk, g_v
