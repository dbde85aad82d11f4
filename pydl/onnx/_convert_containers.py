"""ONNX converters of the containers: Sequential, Residual, Concat, Identity."""

from .. import nn
from ._export import register


@register(nn.Sequential)
def _sequential(module, ctx, inputs):
    for name, child in module.named_children():
        inputs = ctx.convert(child, inputs, name)
    return inputs


@register(nn.Residual)
def _residual(module, ctx, inputs):
    (y,) = ctx.convert(module.block, inputs, "block")
    (s,) = inputs if module.shortcut is None else ctx.convert(module.shortcut, inputs,
                                                               "shortcut")
    return ctx.node("Add", [y, s])


@register(nn.Concat)
def _concat(module, ctx, inputs):
    branches = []
    for name, child in module.named_children():
        branches += ctx.convert(child, inputs, name)
    rank = ctx.value(branches[0]).ndim
    return ctx.node("Concat", branches, axis=module.dim % rank)


@register(nn.Identity)
def _identity(module, ctx, inputs):
    return list(inputs)
