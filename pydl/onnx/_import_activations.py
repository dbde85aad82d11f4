"""ONNX activations: the layers pydl has (ReLU, LeakyReLU, ELU, Sigmoid, Tanh,
Softplus, GELU, PReLU, Hardtanh/ReLU6 from Clip, Softmax, LogSoftmax), Erf as a
layer with its own backward, and the rest (HardSigmoid, HardSwish, Selu, Celu,
Softsign, Mish, ThresholdedRelu) written with tensor ops.
"""

import numpy as np

from .. import functional as F
from .. import nn
from ..autograd import ops as T
from ..nn.module import Module
from ..nn.parameter import Parameter
from ._import_context import converter
from ._import_graph import runtime
from ._import_ops import _is_t

_SIMPLE = {"Relu": nn.ReLU, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh, "Softplus": nn.Softplus}


@converter(*_SIMPLE)
def _convert_simple(node, ctx):
    ctx.emit("call", node.input[:1], node.output[:1], module=_SIMPLE[node.op_type](),
             node=node)


@converter("LeakyRelu", "Elu", "Gelu")
def _convert_parametric(node, ctx):
    a = ctx.attrs(node)
    if node.op_type == "LeakyRelu":
        layer = nn.LeakyReLU(a.get("alpha", 0.01))
    elif node.op_type == "Elu":
        layer = nn.ELU(a.get("alpha", 1.0))
    else:
        layer = nn.GELU(a.get("approximate", "none"))
    ctx.emit("call", node.input[:1], node.output[:1], module=layer, node=node)


@runtime("softmax_2d")
def _softmax_2d(module, attrs, x):
    """Softmax of opset < 13: over all dimensions from ``axis`` on, as one."""
    shape = x.shape
    axis = attrs["axis"] + len(shape) if attrs["axis"] < 0 else attrs["axis"]
    flat = T.reshape(x, (int(np.prod(shape[:axis])), -1))
    op = F.log_softmax_forward if attrs["log"] else F.softmax_forward
    return T.reshape(op(flat, 1), shape)


@converter("Softmax", "LogSoftmax")
def _convert_softmax(node, ctx):
    log = node.op_type == "LogSoftmax"
    a = ctx.attrs(node)
    rank = ctx.rank(node.input[0])
    if ctx.opset >= 13:
        axis = a.get("axis", -1)
    else:
        axis = a.get("axis", 1)
        if not (axis == -1 or (rank is not None and axis in (rank - 1, -1))):
            ctx.emit("softmax_2d", node.input[:1], node.output[:1],
                     {"axis": axis, "log": log}, node=node)
            return
    layer = nn.LogSoftmax(dim=axis) if log else nn.Softmax(dim=axis)
    ctx.emit("call", node.input[:1], node.output[:1], module=layer, node=node)


@converter("PRelu")
def _convert_prelu(node, ctx):
    slope = ctx.initializer(node, 1)
    rank = ctx.rank(node.input[0])
    # PReLU's weight is one slope, or one per channel (axis 1) broadcast over the rest
    if slope is not None and (slope.size == 1 or (
            rank is not None and rank >= 2 and slope.ndim <= rank - 1
            and slope.shape[0] == slope.size and slope.ndim == rank - 1)):
        layer = nn.PReLU(slope.size)
        layer.weight = Parameter(np.array(slope.reshape(-1)))
        ctx.emit("call", node.input[:1], node.output[:1], module=layer, node=node)
        return
    ctx.emit("prelu", node.input[:2], node.output[:1], node=node)


@runtime("prelu")
def _prelu(module, attrs, x, slope):
    slope = slope if _is_t(slope) else np.asarray(slope, dtype=x.dtype)
    return T.add(T.relu(x), T.mul(slope, T.minimum(x, 0.0)))


@converter("Clip")
def _convert_clip(node, ctx):
    a = ctx.attrs(node)
    lo, hi = a.get("min"), a.get("max")
    if lo is None and "max" not in a and "min" not in a:
        if any(ctx.input(node, i) and ctx.input(node, i) not in ctx.static
               and ctx.input(node, i) not in ctx.initializers for i in (1, 2)):
            # bounds computed at run time (opset 11+ inputs): max, then min
            ctx.emit("clip_bounds", list(node.input[:3]), node.output[:1], node=node)
            return
        lo, hi = (ctx.const(node, i, what) for i, what in ((1, "min"), (2, "max")))
        lo = None if lo is None else float(lo.reshape(-1)[0])
        hi = None if hi is None else float(hi.reshape(-1)[0])
    if lo == 0.0 and hi is None:
        layer = nn.ReLU()
    elif lo == 0.0 and hi == 6.0:
        layer = nn.ReLU6()
    elif lo is not None and hi is not None:
        layer = nn.Hardtanh(lo, hi)
    else:
        ctx.emit("clip", node.input[:1], node.output[:1], {"min": lo, "max": hi}, node=node)
        return
    ctx.emit("call", node.input[:1], node.output[:1], module=layer, node=node)


@runtime("activation")
def _activation(module, attrs, x):
    """Activations pydl has no layer for, written with tensor ops."""
    kind, alpha = attrs["kind"], attrs.get("alpha")
    if kind == "HardSigmoid":
        return T.clip(x * alpha + attrs["beta"], 0.0, 1.0)
    if kind == "HardSwish":
        return x * T.clip(x * (1.0 / 6.0) + 0.5, 0.0, 1.0)
    if kind == "Selu":
        return F.elu_forward(x, alpha) * attrs["gamma"]
    if kind == "Celu":
        return F.elu_forward(x * (1.0 / alpha), 1.0) * alpha
    if kind == "Softsign":
        return x / (T.abs(x) + 1.0)
    if kind == "Mish":
        return x * T.tanh(F.softplus_forward(x))
    if kind == "ThresholdedRelu":
        return T.where(x.data > alpha, x, 0.0)
    raise AssertionError(kind)


_ACTIVATION_DEFAULTS = {
    "HardSigmoid": {"alpha": 0.2, "beta": 0.5}, "HardSwish": {},
    "Selu": {"alpha": 1.67326319217681884765625, "gamma": 1.05070102214813232421875},
    "Celu": {"alpha": 1.0}, "Softsign": {}, "Mish": {}, "ThresholdedRelu": {"alpha": 1.0},
}


@converter(*_ACTIVATION_DEFAULTS)
def _convert_activation(node, ctx):
    attrs = dict(_ACTIVATION_DEFAULTS[node.op_type], kind=node.op_type)
    attrs.update({k: v for k, v in ctx.attrs(node).items() if k in attrs})
    ctx.emit("activation", node.input[:1], node.output[:1], attrs, node=node)


class Erf(Module):
    """The error function, elementwise (ONNX's Erf; PyTorch exports GELU with it)."""

    def forward(self, x):
        from scipy.special import erf
        self.save_for_backward(x=x)
        return erf(x).astype(x.dtype, copy=False)

    def backward(self, grad_output):
        x = self.saved()["x"]
        return grad_output * (2.0 / np.sqrt(np.pi)) * np.exp(-x * x)


@converter("Erf")
def _convert_erf(node, ctx):
    ctx.emit("call", node.input[:1], node.output[:1], module=Erf(), node=node)
