"""ONNX converters of Conv1d/2d/3d and ConvTranspose1d/2d/3d, and the unbatched-input
wrapper the spatial layers share.

Spatial sizes come from the example input (static in the graph); only the batch axis
is left free, so no shape constant here holds dim 0.
"""

from .. import nn
from ..functional.conv import conv_padding
from ._export import ExportError, register

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_TS = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _spatial_op(ctx, x, nd, emit):
    """Run ``emit(name) -> name`` on (N, C, *spatial) input; an unbatched (C, *spatial)
    example gets a batch axis of 1 around it, as pydl's layers do."""
    rank = ctx.value(x).ndim
    if rank == nd + 2:
        return [emit(x)]
    if rank != nd + 1:
        raise ExportError(f"expected {nd + 1}-D or {nd + 2}-D input, the example is {rank}-D")
    (xb,) = ctx.node("Unsqueeze", [x, ctx.int64([0], "axes")])
    return ctx.node("Squeeze", [emit(xb), ctx.int64([0], "axes")])


def _conv_node(module, ctx, inputs, op, **extra):
    nd = module._nd
    w = ctx.initializer(module.weight.data, "weight")
    b = [] if module.bias is None else [ctx.initializer(module.bias.data, "bias")]
    low, high = conv_padding(module.padding, nd, module.kernel_size, module.stride,
                             module.dilation)
    return _spatial_op(ctx, inputs[0], nd, lambda x: ctx.node(
        op, [x, w] + b, kernel_shape=list(module.kernel_size), strides=list(module.stride),
        pads=[*low, *high], dilations=list(module.dilation), group=module.groups,
        **extra)[0])


@register(*_CONVS)
def _conv(module, ctx, inputs):
    return _conv_node(module, ctx, inputs, "Conv")


@register(*_CONV_TS)
def _conv_transpose(module, ctx, inputs):
    op, stride = list(module.output_padding), module.stride
    if all(o < s for o, s in zip(op, stride)):
        return _conv_node(module, ctx, inputs, "ConvTranspose", output_padding=op)
    return _conv_transpose_wide_output_padding(module, ctx, inputs)


def _conv_transpose_wide_output_padding(module, ctx, inputs):
    """output_padding >= stride (pydl, as PyTorch, allows up to the dilation; the ONNX
    runtime refuses it): the extra end positions are the full transposed convolution's
    next ones, cropped off less (end pads p - output_padding), and past its end only
    the bias (zeros, then the bias added)."""
    nd = module._nd
    op, pad = module.output_padding, module.padding
    w = ctx.initializer(module.weight.data, "weight")
    extra = [max(o - p, 0) for o, p in zip(op, pad)]

    def emit(x):
        (y,) = ctx.node("ConvTranspose", [x, w], kernel_shape=list(module.kernel_size),
                        strides=list(module.stride), dilations=list(module.dilation),
                        pads=[*pad, *(max(p - o, 0) for o, p in zip(op, pad))],
                        group=module.groups)
        if any(extra):
            (y,) = ctx.node("Pad", [y, ctx.int64([0] * (nd + 2) + [0, 0, *extra], "pads")])
        if module.bias is None:
            return y
        bias = module.bias.data.reshape(-1, *(1,) * nd)
        return ctx.node("Add", [y, ctx.initializer(bias, "bias")])[0]
    return _spatial_op(ctx, inputs[0], nd, emit)
