"""ONNX converters of the activations, Softmax and LogSoftmax.

Each maps to its ONNX operator where one has the same definition; SiLU, Softplus
with beta/threshold, and GELU before opset 20 are spelled in elementary ops.
"""

import math

import numpy as np

from .. import nn
from ._export import register

_PLAIN = {nn.ReLU: "Relu", nn.Sigmoid: "Sigmoid", nn.Tanh: "Tanh"}


def _plain(module, ctx, inputs):
    return ctx.node(_PLAIN[type(module)], inputs)


for _cls in _PLAIN:
    register(_cls)(_plain)


@register(nn.LeakyReLU)
def _leaky_relu(module, ctx, inputs):
    # PRelu with a scalar slope: the slope keeps the model's precision (a LeakyRelu
    # attribute is a float32, off by 1e-8 for a float64 model)
    return ctx.node("PRelu", [inputs[0], ctx.constant(module.negative_slope,
                                                      "negative_slope")])


@register(nn.ELU)
def _elu(module, ctx, inputs):
    return ctx.node("Elu", inputs, alpha=float(module.alpha))


@register(nn.SiLU)
def _silu(module, ctx, inputs):
    (x,) = inputs
    return ctx.node("Mul", [x, ctx.node("Sigmoid", [x])[0]])


@register(nn.PReLU)
def _prelu(module, ctx, inputs):
    (x,) = inputs
    rank = ctx.value(x).ndim
    slope = module.weight.data
    if rank >= 2:   # one slope per channel (axis 1), broadcast over the axes after it
        slope = slope.reshape(slope.shape + (1,) * (rank - 2))
    return ctx.node("PRelu", [x, ctx.initializer(slope, "weight")])


@register(nn.Softplus)
def _softplus(module, ctx, inputs):
    # log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (as pydl)
    (x,) = inputs
    (bx,) = ctx.node("Mul", [x, ctx.constant(module.beta, "beta")])
    (soft,) = ctx.node("Div", [ctx.node("Softplus", [bx])[0], ctx.constant(module.beta, "beta")])
    (linear,) = ctx.node("Greater", [bx, ctx.constant(module.threshold, "threshold")])
    return ctx.node("Where", [linear, x, soft])


@register(nn.Hardtanh)      # ReLU6 inherits Hardtanh's forward, and so this converter
def _hardtanh(module, ctx, inputs):
    return ctx.node("Clip", [inputs[0], ctx.constant(module.min_val, "min_val"),
                             ctx.constant(module.max_val, "max_val")])


@register(nn.GELU)
def _gelu(module, ctx, inputs):
    (x,) = inputs
    if ctx.opset >= 20:
        return ctx.node("Gelu", [x], approximate=module.approximate)
    half = ctx.constant(0.5, "half")
    one = ctx.constant(1.0, "one")
    if module.approximate == "tanh":
        (cube,) = ctx.node("Mul", [ctx.node("Mul", [x, x])[0], x])
        (inner,) = ctx.node("Add", [x, ctx.node("Mul", [cube, ctx.constant(0.044715, "c")])[0]])
        (inner,) = ctx.node("Mul", [inner, ctx.constant(math.sqrt(2 / math.pi), "sqrt_2_pi")])
        (t,) = ctx.node("Tanh", [inner])
    else:
        (t,) = ctx.node("Erf", [ctx.node("Mul", [x, ctx.constant(1 / math.sqrt(2),
                                                                 "inv_sqrt2")])[0]])
    (gate,) = ctx.node("Mul", [ctx.node("Add", [t, one])[0], half])
    return ctx.node("Mul", [x, gate])


def _axis(module, ctx, x):
    return module._dim(ctx.value(x)) % max(np.ndim(ctx.value(x)), 1)


@register(nn.Softmax)
def _softmax(module, ctx, inputs):
    return ctx.node("Softmax", inputs, axis=_axis(module, ctx, inputs[0]))


@register(nn.LogSoftmax)
def _log_softmax(module, ctx, inputs):
    return ctx.node("LogSoftmax", inputs, axis=_axis(module, ctx, inputs[0]))
