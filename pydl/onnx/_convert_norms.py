"""ONNX converters of GroupNorm, InstanceNorm1d/2d/3d and SyncBatchNorm.

GroupNorm is spelled with InstanceNormalization over the (N, G, C/G * spatial) view
(one mean and variance per sample and group), then the per-channel affine: the same
arithmetic in every opset (ONNX's GroupNormalization changed meaning at opset 21).
"""

import numpy as np

from .. import nn
from ._convert_layers import _batch_norm, _spatial_op
from ._export import register

register(nn.SyncBatchNorm)(_batch_norm)    # in eval mode, exactly BatchNorm


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
