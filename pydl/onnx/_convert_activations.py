"""ONNX converters of the activations, Softmax and LogSoftmax."""

from .. import nn
from ._export import register


@register(nn.ReLU)
def _relu(module, ctx, inputs):
    return ctx.node("Relu", inputs)
