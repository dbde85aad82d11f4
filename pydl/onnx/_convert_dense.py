"""ONNX converters of Linear, Flatten, Embedding, GramMatrix and dropout."""

import numpy as np

from .. import nn
from ..functional.embedding import check_indices
from ._export import register

_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)


@register(nn.Linear)
def _linear(module, ctx, inputs):
    (x,) = inputs
    w = ctx.initializer(module.weight.data, "weight")
    b = None if module.bias is None else ctx.initializer(module.bias.data, "bias")
    if ctx.value(x).ndim == 2:
        return ctx.node("Gemm", [x, w] + ([b] if b else []), transB=1)
    (y,) = ctx.node("MatMul", [x, ctx.node("Transpose", [w], perm=[1, 0])[0]])
    return ctx.node("Add", [y, b]) if b else [y]


@register(nn.Flatten)
def _flatten(module, ctx, inputs):
    (x,) = inputs
    shape = ctx.value(x).shape
    nd = len(shape)
    if nd == 0:
        return ctx.node("Reshape", [x, ctx.int64([1])])
    start = module.start_dim % nd
    end = module.end_dim % nd
    if start == 1 and end == nd - 1:
        return ctx.node("Flatten", [x], axis=1)
    # 0 copies an input dim (the batch stays free); -1 takes what the flattened span holds
    target = [0] * start + [-1] + list(shape[end + 1:])
    return ctx.node("Reshape", [x, ctx.int64(target)])


@register(nn.Embedding)
def _embedding(module, ctx, inputs):
    (idx,) = inputs
    table = module.weight.data
    if module.max_norm is not None:
        # pydl rescales a row on lookup (in place) when its norm exceeds max_norm; a
        # rescaled row stays below it, so the table after every lookup is fixed: store it
        # (computed on a copy: exporting does not change the model)
        table = table.copy()
        norms = np.linalg.norm(table.astype(np.float64), ord=module.norm_type, axis=1)
        over = norms > module.max_norm
        table[over] *= (module.max_norm / (norms[over] + 1e-7))[:, None].astype(table.dtype)
    (y,) = ctx.node("Gather", [ctx.initializer(table, "weight"), idx], axis=0)
    indices = ctx.value(idx)
    check_indices(indices, module.num_embeddings)      # the forward's checks, by name
    ctx.set_value(y, np.take(table, indices, axis=0))   # (the forward would renorm)
    return [y]


@register(nn.GramMatrix)
def _gram_matrix(module, ctx, inputs):
    # G[n] = F F^T (/ (C * S)), F the (C, S) matrix of sample n's features
    (x,) = inputs
    shape = ctx.value(x).shape
    (feats,) = ctx.node("Reshape", [x, ctx.int64([0, shape[1], -1])])
    (gram,) = ctx.node("MatMul", [feats, ctx.node("Transpose", [feats], perm=[0, 2, 1])[0]])
    if not module.normalize:
        return [gram]
    return ctx.node("Div", [gram, ctx.constant(float(np.prod(shape[1:])), "size")])


@register(*_DROPOUTS)
def _dropout(module, ctx, inputs):
    return list(inputs)     # eval mode: the identity
