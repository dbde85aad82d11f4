"""ONNX converters of ScaledDotProductAttention and AdditiveAttention.

Softmax over scores where some keys are masked out: ONNX's Softmax of a row that is
all -inf is NaN, pydl's (as PyTorch's) attention weights are then all zero. So masked
scores become the dtype's lowest finite value (exp underflows to exactly 0 beside any
valid key) and the weights are multiplied by the mask, which zeroes the rows with no
valid key.
"""

import math

import numpy as np

from .. import nn
from ._export import register


def _masked_softmax(ctx, scores, valid, axis):
    """Softmax of ``scores`` along ``axis`` over the entries where ``valid`` (bool)."""
    lowest = ctx.constant(np.finfo(ctx.dtype).min, "lowest")
    (kept,) = ctx.node("Where", [valid, scores, lowest])
    (weights,) = ctx.node("Softmax", [kept], axis=axis)
    (on,) = ctx.node("Cast", [valid], to=ctx.tensor_type())
    return ctx.node("Mul", [weights, on])[0]


def _swap_last(ctx, name):
    rank = ctx.value(name).ndim
    return ctx.node("Transpose", [name], perm=[*range(rank - 2), rank - 1, rank - 2])[0]


@register(nn.ScaledDotProductAttention)
def _sdpa(module, ctx, inputs):
    q, k, v = inputs[:3]
    mask = inputs[3] if len(inputs) > 3 else None
    e = ctx.value(q).shape[-1]
    scale = module.scale if module.scale is not None else 1 / math.sqrt(e)
    (scores,) = ctx.node("MatMul", [q, _swap_last(ctx, k)])
    (scores,) = ctx.node("Mul", [scores, ctx.constant(scale, "scale")])
    if mask is None:
        (weights,) = ctx.node("Softmax", [scores], axis=-1)
    else:
        if ctx.value(mask).dtype == bool:
            valid = mask
        else:   # an additive mask; -inf entries mask their key out
            (scores,) = ctx.node("Add", [scores, mask])
            (valid,) = ctx.node("Not", [ctx.node("IsInf", [scores], detect_positive=0)[0]])
        (valid,) = ctx.node("Expand", [valid, ctx.node("Shape", [scores])[0]])
        weights = _masked_softmax(ctx, scores, valid, -1)
    return ctx.node("MatMul", [weights, v])


@register(nn.AdditiveAttention)
def _additive(module, ctx, inputs):
    query, keys = inputs[:2]
    mask = inputs[2] if len(inputs) > 2 else None
    wq = ctx.initializer(np.ascontiguousarray(module.weight_query.data.T), "weight_query_t")
    wk = ctx.initializer(np.ascontiguousarray(module.weight_key.data.T), "weight_key_t")
    axis1 = ctx.int64([1], "axes")
    (pq,) = ctx.node("Unsqueeze", [ctx.node("MatMul", [query, wq])[0], axis1])  # (N, 1, A)
    (pk,) = ctx.node("MatMul", [keys, wk])                                      # (N, T, A)
    (hidden,) = ctx.node("Tanh", [ctx.node("Add", [pq, pk])[0]])
    (scores,) = ctx.node("MatMul", [hidden, ctx.initializer(module.v.data, "v")])  # (N, T)
    if mask is None:
        (alpha,) = ctx.node("Softmax", [scores], axis=1)
    else:
        alpha = _masked_softmax(ctx, scores, mask, 1)
    (context,) = ctx.node("MatMul", [ctx.node("Unsqueeze", [alpha, axis1])[0], keys])
    (context,) = ctx.node("Squeeze", [context, axis1])
    return [context, alpha]
