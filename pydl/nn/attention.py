"""Attention modules: scaled dot-product attention and additive (Bahdanau) attention."""

import math

import numpy as np

from .. import functional as F
from ..functional._validation import check_real
from . import init
from .linear import check_size, resolve_dtype
from .module import Module
from .parameter import Parameter

__all__ = ["ScaledDotProductAttention", "AdditiveAttention"]


class ScaledDotProductAttention(Module):
    """``softmax(q k^T * scale + mask) v`` as a module (PyTorch's
    ``F.scaled_dot_product_attention`` semantics, no dropout).

    ``forward(query, key, value, attn_mask=None, is_causal=False)`` with query
    (*, L, E), key (*, S, E), value (*, S, Ev) returns (*, L, Ev); the attention
    weights of the last call are kept in ``attn_weights`` (*, L, S).
    ``backward(grad_output)`` returns ``(grad_query, grad_key, grad_value)``.

    Parameters
    ----------
    scale : float, optional
        Default ``1 / sqrt(E)``.
    """

    def __init__(self, scale=None):
        super().__init__()
        self.scale = None if scale is None else check_real(scale, "scale")
        self.attn_weights = None

    def forward(self, query, key, value, attn_mask=None, is_causal=False):
        out, attn = F.scaled_dot_product_attention_forward(query, key, value, attn_mask,
                                                           is_causal, self.scale)
        self.attn_weights = attn
        self.save_for_backward(query=query, key=key, value=value, attn=attn)
        return out

    def backward(self, grad_output):
        s = self.saved()
        return F.scaled_dot_product_attention_backward(grad_output, s["query"], s["key"],
                                                       s["value"], s["attn"], self.scale)

    def extra_repr(self):
        return "" if self.scale is None else f"scale={self.scale}"


class AdditiveAttention(Module):
    """Additive (Bahdanau) attention of a query over a sequence of keys.

    ``e_j = v . tanh(W_q q + W_k k_j)``, ``alpha = softmax(e)`` over the keys,
    ``context = sum_j alpha_j k_j`` (Bahdanau, Cho and Bengio, 2015: q is the decoder
    state, the keys are the encoder outputs).

    Parameters
    ----------
    query_size, key_size : int
    attention_size : int
        Size A of the space the projections are added in.
    dtype : float32 (default) or float64
    generator : numpy.random.Generator, optional

    Parameters: ``weight_query`` (A, query_size), ``weight_key`` (A, key_size),
    initialised as ``nn.Linear`` weights, and ``v`` (A,) from U(-1/sqrt(A), 1/sqrt(A)).

    ``forward(query, keys, mask=None)``: query (N, query_size), keys
    (N, T, key_size), mask bool (N, T) with True where a key may be attended to;
    returns ``(context (N, key_size), weights (N, T))``.
    ``backward(grad_context, grad_weights=None)`` returns ``(grad_query, grad_keys)``.
    """

    def __init__(self, query_size, key_size, attention_size, dtype=None, generator=None):
        super().__init__()
        self.query_size = check_size(query_size, "query_size")
        self.key_size = check_size(key_size, "key_size")
        self.attention_size = check_size(attention_size, "attention_size")
        dtype = resolve_dtype(dtype)
        A = self.attention_size
        self.weight_query = Parameter(np.empty((A, self.query_size), dtype))
        self.weight_key = Parameter(np.empty((A, self.key_size), dtype))
        self.v = Parameter(np.empty(A, dtype))
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None):
        init.kaiming_uniform_(self.weight_query, a=math.sqrt(5), generator=generator)
        init.kaiming_uniform_(self.weight_key, a=math.sqrt(5), generator=generator)
        bound = 1 / math.sqrt(self.attention_size) if self.attention_size else 0.0
        init.uniform_(self.v, -bound, bound, generator=generator)

    def forward(self, query, keys, mask=None):
        context, alpha, cache = F.additive_attention_forward(
            query, keys, self.weight_query.data, self.weight_key.data, self.v.data, mask)
        self.save_for_backward(query=query, keys=keys, alpha=alpha, cache=cache)
        return context, alpha

    def backward(self, grad_context, grad_weights=None):
        if isinstance(grad_context, (tuple, list)) and grad_weights is None:
            grad_context, grad_weights = grad_context      # forward's (context, weights)
        s = self.saved()
        gq, gk, gwq, gwk, gv = F.additive_attention_backward(
            grad_context, grad_weights, s["query"], s["keys"], self.weight_query.data,
            self.weight_key.data, self.v.data, s["alpha"], s["cache"])
        for p, g in ((self.weight_query, gwq), (self.weight_key, gwk), (self.v, gv)):
            p.accumulate_grad(g)
        return gq, gk

    def extra_repr(self):
        return (f"query_size={self.query_size}, key_size={self.key_size}, "
                f"attention_size={self.attention_size}")
