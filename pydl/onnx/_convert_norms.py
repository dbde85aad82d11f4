"""ONNX converters of the normalization layers: BatchNorm1d/2d/3d, SyncBatchNorm,
LayerNorm, LocalResponseNorm, GroupNorm and InstanceNorm1d/2d/3d.

GroupNorm is spelled with InstanceNormalization over the (N, G, C/G * spatial) view
(one mean and variance per sample and group), then the per-channel affine: the same
arithmetic in every opset (ONNX's GroupNormalization changed meaning at opset 21).
"""

import numpy as np

from .. import nn
from ._convert_conv import _spatial_op
from ._export import ExportError, register


# SyncBatchNorm in eval mode is exactly BatchNorm
@register(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
def _batch_norm(module, ctx, inputs):
    if module.running_mean is None:
        raise ExportError("track_running_stats=False normalizes with the batch's own "
                          "statistics even in eval mode; ONNX BatchNormalization needs "
                          "running statistics")
    c, dtype = module.num_features, module.running_mean.dtype
    w = module.weight.data if module.affine else np.ones(c, dtype)
    b = module.bias.data if module.affine else np.zeros(c, dtype)
    return ctx.node("BatchNormalization",
                    [inputs[0], ctx.initializer(w, "weight"), ctx.initializer(b, "bias"),
                     ctx.initializer(module.running_mean, "running_mean"),
                     ctx.initializer(module.running_var, "running_var")],
                    epsilon=float(module.eps))


@register(nn.LayerNorm)
def _layer_norm(module, ctx, inputs):
    (x,) = inputs
    shape = module.normalized_shape
    dtype = ctx.value(x).dtype
    w = module.weight.data if module.weight is not None else np.ones(shape, dtype)
    w = ctx.initializer(w, "weight")
    b = [] if module.bias is None else [ctx.initializer(module.bias.data, "bias")]
    if ctx.opset >= 17:
        return ctx.node("LayerNormalization", [x, w] + b, axis=-len(shape),
                        epsilon=float(module.eps))
    # before opset 17: the same arithmetic in plain ops (ReduceMean takes axes as an
    # attribute up to opset 17)
    axes = list(range(-len(shape), 0))
    (mean,) = ctx.node("ReduceMean", [x], axes=axes, keepdims=1)
    (dev,) = ctx.node("Sub", [x, mean])
    (var,) = ctx.node("ReduceMean", [ctx.node("Mul", [dev, dev])[0]], axes=axes, keepdims=1)
    (std,) = ctx.node("Sqrt", [ctx.node("Add", [var, ctx.constant(module.eps, "eps")])[0]])
    (y,) = ctx.node("Mul", [ctx.node("Div", [dev, std])[0], w])
    return ctx.node("Add", [y, b[0]]) if b else [y]


@register(nn.LocalResponseNorm)
def _local_response_norm(module, ctx, inputs):
    (x,) = inputs
    shape = ctx.value(x).shape
    size, alpha, beta, k = module.size, module.alpha, module.beta, module.k
    if size % 2 and len(shape) == 4:
        # odd sizes: ONNX's window c - (size-1)/2 .. c + (size-1)/2 is PyTorch's
        return ctx.node("LRN", [x], size=size, alpha=float(alpha), beta=float(beta),
                        bias=float(k))
    # even sizes (PyTorch's window is c - size/2 .. c + size/2 - 1, ONNX's one later)
    # and other ranks: average x^2 over a zero-padded channel window, then
    # x * (k + alpha * mean)^-beta
    c = shape[1]
    (sq,) = ctx.node("Mul", [x, x])
    (planes,) = ctx.node("Reshape", [sq, ctx.int64([0, 1, c, -1])])
    pads = [0, 0, size // 2, 0, 0, 0, (size - 1) // 2, 0]
    (padded,) = ctx.node("Pad", [planes, ctx.int64(pads, "pads")])
    (mean,) = ctx.node("AveragePool", [padded], kernel_shape=[size, 1])
    (mean,) = ctx.node("Reshape", [mean, ctx.int64([0, *shape[1:]])])
    (denom,) = ctx.node("Add", [ctx.node("Mul", [mean, ctx.constant(alpha, "alpha")])[0],
                                ctx.constant(k, "k")])
    return ctx.node("Mul", [x, ctx.node("Pow", [denom, ctx.constant(-beta, "beta")])[0]])


def _per_channel(array, rank):
    """A (C,) array shaped to broadcast over (N, C, *spatial) of ``rank`` axes."""
    return array.reshape(array.shape + (1,) * (rank - 2))


def _instance_norm(ctx, x, groups, eps):
    """Normalize each (sample, group) of x's (N, groups, -1) view; x's shape back."""
    shape = ctx.value(x).shape
    dtype = ctx.dtype
    (view,) = ctx.node("Reshape", [x, ctx.int64([0, groups, -1])])
    (y,) = ctx.node("InstanceNormalization",
                    [view, ctx.constant(np.ones(groups, dtype), "ones"),
                     ctx.constant(np.zeros(groups, dtype), "zeros")], epsilon=float(eps))
    return ctx.node("Reshape", [y, ctx.int64([0, *shape[1:]])])[0]


def _affine(ctx, y, module, rank):
    if module.weight is not None:
        (y,) = ctx.node("Mul", [y, ctx.initializer(_per_channel(module.weight.data, rank),
                                                   "weight")])
    if module.bias is not None:
        (y,) = ctx.node("Add", [y, ctx.initializer(_per_channel(module.bias.data, rank),
                                                   "bias")])
    return y


@register(nn.GroupNorm)
def _group_norm(module, ctx, inputs):
    (x,) = inputs
    rank = ctx.value(x).ndim
    return [_affine(ctx, _instance_norm(ctx, x, module.num_groups, module.eps), module, rank)]


@register(nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
def _instance_norm_layer(module, ctx, inputs):
    nd = module._spatial_dims
    if module.track_running_stats:
        # eval mode with running statistics: per-channel, as batch norm in eval mode
        return _spatial_op(ctx, inputs[0], nd, lambda x: _batch_norm(module, ctx, [x])[0])
    c = module.num_features

    def emit(x):
        return _affine(ctx, _instance_norm(ctx, x, c, module.eps), module, nd + 2)
    return _spatial_op(ctx, inputs[0], nd, emit)
