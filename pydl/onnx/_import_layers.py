"""ONNX nodes that become pydl layers: Conv, ConvTranspose, Gemm and MatMul(+Add)
(Linear), pooling, BatchNormalization, InstanceNormalization, LayerNormalization, LRN,
Dropout, Resize (Upsample), Gather on a weight (Embedding), Flatten. The activations
are in :mod:`._import_activations`.

A layer's weights become its Parameters (an initializer used as is by two layers
gives both the same Parameter). Padding a pydl layer cannot express (asymmetric
pads, ``auto_pad="SAME_*"`` with strides) becomes an explicit pad before the layer,
or a crop after a transposed convolution.
"""

import numpy as np

from .. import functional as F
from .. import nn
from .._grad_mode import no_grad
from ..autograd import ops as T
from ..autograd.tensor import Tensor
from ..nn.batchnorm import _BatchNorm
from ..nn.parameter import Parameter
from ._import_context import Unsupported, converter
from ._import_graph import runtime
from ._import_ops import _is_t

_ND = (1, 2, 3)


# ------------------------------------------------------------------ helpers
@runtime("call")
def _call(module, attrs, *values):
    return module(*values)


def _same_pads(shape, attrs):
    """ONNX auto_pad SAME_UPPER/SAME_LOWER pads for the spatial ``shape``."""
    pads = []
    for size, k, s, d in zip(shape, attrs["kernel"], attrs["strides"], attrs["dilations"]):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small = total // 2
        pads.append((small, total - small) if attrs["upper"] else (total - small, small))
    return pads


@runtime("call_padded")
def _call_padded(module, attrs, x):
    """Pad the spatial dimensions explicitly, then run the layer."""
    shape = x.shape if _is_t(x) else np.shape(x)
    nd = len(attrs["kernel"])
    pads = attrs["pads"] if attrs["pads"] is not None else _same_pads(shape[-nd:], attrs)
    width = [(0, 0)] * (len(shape) - nd) + [tuple(p) for p in pads]
    x = T.pad(x if _is_t(x) else Tensor(x), width, value=attrs["fill"])
    return module(x)


@runtime("call_cropped")
def _call_cropped(module, attrs, x):
    """Run the layer, then drop ``crop`` (begin, end) elements per spatial dimension."""
    y = module(x)
    crop = attrs["crop"]
    shape = y.shape
    lead = len(shape) - len(crop)
    key = (slice(None),) * lead + tuple(slice(b, shape[lead + i] - e)
                                        for i, (b, e) in enumerate(crop))
    return T.getitem(y, key)


def _geometry(node, ctx, nd, kernel):
    """(strides, dilations, symmetric padding, explicit extra padding or SAME attrs)."""
    a = ctx.attrs(node)
    strides = tuple(a.get("strides", (1,) * nd))
    dilations = tuple(a.get("dilations", (1,) * nd))
    auto = a.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        same = {"kernel": kernel, "strides": strides, "dilations": dilations,
                "upper": auto == "SAME_UPPER", "pads": None}
        if all(s == 1 for s in strides):       # then the pads do not depend on the input
            same["pads"] = _same_pads([1] * nd, same)
            return _split_pads(strides, dilations, same["pads"], kernel)
        return strides, dilations, (0,) * nd, same
    if auto == "VALID":
        return strides, dilations, (0,) * nd, None
    if auto != "NOTSET":
        raise Unsupported(f"auto_pad={auto!r}")
    pads = a.get("pads", (0,) * (2 * nd))
    return _split_pads(strides, dilations, list(zip(pads[:nd], pads[nd:])), kernel)


def _split_pads(strides, dilations, pairs, kernel):
    sym = tuple(min(b, e) for b, e in pairs)
    extra = [(b - s, e - s) for (b, e), s in zip(pairs, sym)]
    if not any(b or e for b, e in extra):
        return strides, dilations, sym, None
    return strides, dilations, sym, {"kernel": kernel, "strides": strides,
                                     "dilations": dilations, "pads": extra}


def _emit_layer(node, ctx, module, extra, fill=0.0, weight=None):
    """The layer as a step, behind an explicit pad when ``extra`` asks for one."""
    if extra is None:
        ctx.emit("call", node.input[:1], node.output[:1], module=module, node=node,
                 weight=weight)
    else:
        ctx.emit("call_padded", node.input[:1], node.output[:1], dict(extra, fill=fill),
                 module=module, node=node, weight=weight)


def _weight(node, ctx, i, what):
    """Input ``i`` (a layer's weight) when it is known at load: an initializer, or
    folded from initializers (PyTorch's weight_norm: g * v / |v|); else Unsupported."""
    name = ctx.input(node, i)
    if name and name not in ctx.static:
        raise Unsupported(f"its {what} (input {i}) is computed at run time; pydl imports "
                          f"{node.op_type} with its {what} known at load (an initializer "
                          f"or computed from initializers)")
    return ctx.static.get(name) if name else None


# -------------------------------------------------------------- convolution
def _conv_weights(node, ctx):
    """(weight, bias or None, number of spatial dimensions, kernel size)."""
    w = _weight(node, ctx, 1, "weight")
    if w is None:
        raise Unsupported("it has no weight")
    nd = w.ndim - 2
    if nd not in _ND:
        raise Unsupported(f"a {nd}-D convolution (pydl has 1-, 2- and 3-D)")
    return w, _weight(node, ctx, 2, "bias"), nd, tuple(int(k) for k in w.shape[2:])


def _share_weights(layer, node, ctx):
    ctx.set_weight(layer, "weight", ctx.parameter(node.input[1]))
    if layer.bias is not None:
        ctx.set_weight(layer, "bias", ctx.parameter(node.input[2]))


@converter("Conv")
def _convert_conv(node, ctx):
    w, b, nd, kernel = _conv_weights(node, ctx)
    group = ctx.attrs(node).get("group", 1)
    strides, dilations, sym, extra = _geometry(node, ctx, nd, kernel)
    conv = getattr(nn, f"Conv{nd}d")(w.shape[1] * group, w.shape[0], kernel, stride=strides,
                                     padding=sym, dilation=dilations, groups=group,
                                     bias=b is not None)
    _share_weights(conv, node, ctx)
    _emit_layer(node, ctx, conv, extra, weight=node.input[1])


@converter("ConvTranspose")
def _convert_conv_transpose(node, ctx):
    w, b, nd, kernel = _conv_weights(node, ctx)
    a = ctx.attrs(node)
    if "output_shape" in a:
        raise Unsupported("the output_shape attribute (give pads and output_padding)")
    group = a.get("group", 1)
    strides = tuple(a.get("strides", (1,) * nd))
    dilations = tuple(a.get("dilations", (1,) * nd))
    out_pad = tuple(a.get("output_padding", (0,) * nd))
    auto = a.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pairs = []
        for k, s, d, op in zip(kernel, strides, dilations, out_pad):
            total = op + (k - 1) * d + 1 - s          # output = input * stride
            if total < 0:
                raise Unsupported(f"auto_pad={auto!r} with a stride larger than the kernel")
            small = total // 2
            pairs.append((small, total - small) if auto == "SAME_UPPER" else
                         (total - small, small))
    elif auto in ("NOTSET", "VALID"):
        pads = a.get("pads", (0,) * (2 * nd)) if auto == "NOTSET" else (0,) * (2 * nd)
        pairs = list(zip(pads[:nd], pads[nd:]))
    else:
        raise Unsupported(f"auto_pad={auto!r}")
    sym = tuple(min(p) for p in pairs)
    crop = [(p0 - s, p1 - s) for (p0, p1), s in zip(pairs, sym)]
    conv = getattr(nn, f"ConvTranspose{nd}d")(
        w.shape[0], w.shape[1] * group, kernel, stride=strides, padding=sym,
        output_padding=out_pad, groups=group, bias=b is not None, dilation=dilations)
    _share_weights(conv, node, ctx)
    if any(b or e for b, e in crop):
        ctx.emit("call_cropped", node.input[:1], node.output[:1], {"crop": crop},
                 module=conv, node=node, weight=node.input[1])
    else:
        _emit_layer(node, ctx, conv, None, weight=node.input[1])


# ------------------------------------------------------------------- linear
def _constant_matrix(ctx, node, i):
    """Input ``i`` when it is a float matrix known at load (an initializer, or one
    folded from initializers, e.g. a transposed weight), else None."""
    value = ctx.static.get(ctx.input(node, i))
    return value if value is not None and value.ndim == 2 and value.dtype.kind == "f" \
        else None


def _linear(weight, bias):
    out_features, in_features = weight.shape
    layer = nn.Linear(in_features, out_features, bias=bias is not None)
    layer.weight = weight
    if bias is not None:
        layer.bias = bias
    return layer


def _bias_vector(c, n):
    """``c`` as a bias of n features when it broadcasts along the batch only."""
    if c is None or c.ndim > 2 or (c.ndim == 2 and c.shape[0] != 1):
        return None
    if c.size not in (1, n):
        return None
    return np.broadcast_to(c.reshape(-1), (n,))


@converter("Gemm")
def _convert_gemm(node, ctx):
    a = ctx.attrs(node)
    attrs = {"alpha": a.get("alpha", 1.0), "beta": a.get("beta", 1.0),
             "transA": a.get("transA", 0), "transB": a.get("transB", 0)}
    w = _constant_matrix(ctx, node, 1)
    c_name = ctx.input(node, 2)
    c = ctx.static.get(c_name)
    bias = None if w is None else _bias_vector(c, w.shape[0] if attrs["transB"] else
                                                  w.shape[1])
    if w is None or attrs["transA"] or (c_name and bias is None):
        ctx.emit("gemm", node.input[:3], node.output[:1], attrs, node=node)
        return
    if attrs["transB"] and attrs["alpha"] == 1.0 and node.input[1] in ctx.initializers:
        weight = ctx.parameter(node.input[1])
    else:
        weight = Parameter((w if attrs["transB"] else w.T) * np.asarray(attrs["alpha"],
                                                                          w.dtype))
    if bias is not None:
        same = c.ndim == 1 and c.size == bias.size and attrs["beta"] == 1.0 \
            and c_name in ctx.initializers
        bias = ctx.parameter(c_name) if same else Parameter(bias * np.asarray(attrs["beta"],
                                                                                c.dtype))
    ctx.emit("call", node.input[:1], node.output[:1], module=_linear(weight, bias),
             node=node, weight=node.input[1])


@converter("MatMul")
def _convert_matmul(node, ctx):
    w = _constant_matrix(ctx, node, 1)
    if w is None or node.input[0] in ctx.static:
        ctx.emit("matmul", node.input[:2], node.output[:1], node=node)
        return
    # x @ W (+ b) is Linear with weight W^T: take the Add of a bias along if it follows
    add = ctx.only_consumer(node.output[0])
    bias, output = None, node.output[0]
    if add is not None and add.op_type == "Add":
        other = add.input[1] if add.input[0] == node.output[0] else add.input[0]
        b = ctx.static.get(other)
        if b is not None and b.dtype.kind == "f" and b.ndim == 1 and b.shape[0] == w.shape[1]:
            bias, output = ctx.parameter(other), add.output[0]
            ctx.fuse(add)
    layer = _linear(Parameter(np.ascontiguousarray(w.T)), bias)
    ctx.emit("call", node.input[:1], [output], module=layer, node=node)


# ------------------------------------------------------------------ pooling
@converter("MaxPool", "AveragePool")
def _convert_pool(node, ctx):
    if len(node.output) > 1 and node.output[1] and ctx.consumers.get(node.output[1]):
        raise Unsupported("its Indices output is used")
    a = ctx.attrs(node)
    kernel = tuple(a["kernel_shape"])
    nd = len(kernel)
    if nd not in _ND:
        raise Unsupported(f"{nd}-D pooling (pydl has 1-, 2- and 3-D)")
    strides, dilations, sym, extra = _geometry(node, ctx, nd, kernel)
    ceil = bool(a.get("ceil_mode", 0))
    maxpool = node.op_type == "MaxPool"
    include_pad = bool(a.get("count_include_pad", 0))
    exclusive = False
    if extra is not None or any(2 * p > k for p, k in zip(sym, kernel)):
        # padding pydl's pools cannot take: pad explicitly (exact unless a window may
        # start in the padding, ceil_mode); an average that does not count the padding
        # then divides by the pooled mask of real elements
        if ceil:
            raise Unsupported("asymmetric or large pads with ceil_mode=1")
        exclusive = not (maxpool or include_pad)
        if extra is None or extra["pads"] is not None:
            more = [(0, 0)] * nd if extra is None else extra["pads"]
            extra = {"kernel": kernel, "strides": strides, "dilations": dilations,
                     "pads": [(b + s, e + s) for (b, e), s in zip(more, sym)]}
        sym, include_pad = (0,) * nd, True
    if maxpool:
        pool = getattr(nn, f"MaxPool{nd}d")(kernel, strides, sym, dilations, ceil_mode=ceil)
    else:
        if any(d != 1 for d in dilations):
            raise Unsupported("AveragePool with dilations")
        pool = getattr(nn, f"AvgPool{nd}d")(kernel, strides, sym, ceil_mode=ceil,
                                            count_include_pad=include_pad)
    if exclusive:
        ctx.emit("avg_pool_exclusive", node.input[:1], node.output[:1], extra, module=pool,
                 node=node)
        return
    _emit_layer(node, ctx, pool, extra, fill=-np.inf if maxpool else 0.0)


@runtime("avg_pool_exclusive")
def _avg_pool_exclusive(module, attrs, x):
    """Average over the real elements of each window of an explicitly padded input:
    the padded average divided by the padded average of a mask of ones."""
    shape = x.shape if _is_t(x) else np.shape(x)
    nd = len(attrs["kernel"])
    pads = attrs["pads"] if attrs["pads"] is not None else _same_pads(shape[-nd:], attrs)
    width = [(0, 0)] * (len(shape) - nd) + [tuple(p) for p in pads]
    mask = np.pad(np.ones((1, 1, *shape[-nd:]), x.dtype), [(0, 0), (0, 0), *width[-nd:]])
    with no_grad():
        share = np.asarray(module(mask))
    padded = T.pad(x if _is_t(x) else Tensor(x), width)
    return T.div(module(padded), share)


@runtime("global_pool")
def _global_pool(module, attrs, x):
    axes = tuple(range(2, np.ndim(x.data if _is_t(x) else x)))
    if attrs["max"]:
        return T.max(x, axis=axes, keepdims=True)
    return T.mean(x, axis=axes, keepdims=True)


@converter("GlobalAveragePool", "GlobalMaxPool")
def _convert_global_pool(node, ctx):
    rank = ctx.rank(node.input[0])
    kind = "Max" if node.op_type == "GlobalMaxPool" else "Avg"
    if rank is not None and rank - 2 in _ND:
        pool = getattr(nn, f"Adaptive{kind}Pool{rank - 2}d")(1)
        ctx.emit("call", node.input[:1], node.output[:1], module=pool, node=node)
    else:
        ctx.emit("global_pool", node.input[:1], node.output[:1], {"max": kind == "Max"},
                 node=node)


# ------------------------------------------------------------ normalization
class _BatchNormAnyRank(_BatchNorm):
    """Batch normalization of (N, C, *) input, for a graph whose ranks are unknown."""

    _ndims = (2, 3, 4, 5)
    _expected = "(N, C, *)"


@converter("BatchNormalization")
def _convert_batch_norm(node, ctx):
    if any(o and ctx.consumers.get(o) for o in node.output[1:]):
        raise Unsupported("its running-statistics outputs are used")
    scale, _, mean, var = (_weight(node, ctx, i, what) for i, what in
                           enumerate(("scale", "bias", "mean", "var"), 1))
    a = ctx.attrs(node)
    rank = ctx.rank(node.input[0])
    cls = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}.get(
        rank, _BatchNormAnyRank)
    # ONNX keeps 0.9 of the running statistics, PyTorch says momentum 0.1
    momentum = float(str(np.float32(1.0 - a.get("momentum", 0.9))))
    bn = cls(scale.shape[0], eps=a.get("epsilon", 1e-5), momentum=momentum)
    ctx.set_weight(bn, "weight", ctx.parameter(node.input[1]))
    ctx.set_weight(bn, "bias", ctx.parameter(node.input[2]))
    dtype = bn.weight.dtype
    ctx.set_weight(bn, "running_mean", np.array(mean, dtype=dtype))
    ctx.set_weight(bn, "running_var", np.array(var, dtype=dtype))
    ctx.emit("call", node.input[:1], node.output[:1], module=bn, node=node,
             weight=node.input[1])


@converter("LayerNormalization")
def _convert_layer_norm(node, ctx):
    if any(o and ctx.consumers.get(o) for o in node.output[1:]):
        raise Unsupported("its Mean or InvStdDev output is used")
    scale, bias = _weight(node, ctx, 1, "scale"), _weight(node, ctx, 2, "bias")
    a = ctx.attrs(node)
    axis = a.get("axis", -1)
    rank = ctx.rank(node.input[0])
    n = -axis if axis < 0 else (None if rank is None else rank - axis)
    if n is None or scale.ndim != n:
        raise Unsupported(f"axis={axis} with a scale of shape {scale.shape} (pydl's "
                          f"LayerNorm takes a scale over the normalized dimensions)")
    ln = nn.LayerNorm(scale.shape, eps=a.get("epsilon", 1e-5), bias=bias is not None)
    ctx.set_weight(ln, "weight", ctx.parameter(node.input[1]))
    if bias is not None:
        ctx.set_weight(ln, "bias", ctx.parameter(node.input[2]))
    ctx.emit("call", node.input[:1], node.output[:1], module=ln, node=node,
             weight=node.input[1])


@converter("InstanceNormalization")
def _convert_instance_norm(node, ctx):
    scale = ctx.const(node, 1, "scale")
    if scale is None or ctx.const(node, 2, "B") is None:
        raise Unsupported("it needs its scale and B inputs")
    rank = ctx.rank(node.input[0])
    if rank is None or rank - 2 not in _ND:
        raise Unsupported("an input of unknown rank or of other than 1-3 spatial dimensions")
    layer = getattr(nn, f"InstanceNorm{rank - 2}d")(scale.size, eps=ctx.attrs(node).get(
        "epsilon", 1e-5), affine=True)
    ctx.set_weight(layer, "weight", ctx.parameter(node.input[1]))
    ctx.set_weight(layer, "bias", ctx.parameter(node.input[2]))
    ctx.emit("call", node.input[:1], node.output[:1], module=layer, node=node,
             weight=node.input[1])


@converter("LRN")
def _convert_lrn(node, ctx):
    a = ctx.attrs(node)
    lrn = nn.LocalResponseNorm(a["size"], alpha=a.get("alpha", 1e-4), beta=a.get("beta", 0.75),
                               k=a.get("bias", 1.0))
    ctx.emit("call", node.input[:1], node.output[:1], module=lrn, node=node)


@converter("Dropout")
def _convert_dropout(node, ctx):
    if len(node.output) > 1 and node.output[1] and ctx.consumers.get(node.output[1]):
        raise Unsupported("its mask output is used")
    ratio = ctx.attrs(node).get("ratio")
    if ratio is None:
        given = ctx.const(node, 1, "ratio")
        ratio = 0.5 if given is None else float(given)
    layer = nn.Dropout(ratio) if ratio > 0 else nn.Identity()
    ctx.emit("call", node.input[:1], node.output[:1], module=layer, node=node)


# ---------------------------------------------------------------- embedding
def embedding_from_gather(node, ctx, axis):
    """Gather rows of a float weight by run-time indices: an Embedding layer."""
    w = ctx.initializer(node, 0)
    if (w is None or axis != 0 or w.ndim != 2 or w.dtype.kind != "f"
            or ctx.input(node, 1) in ctx.static):
        return False
    emb = nn.Embedding(w.shape[0], w.shape[1])
    ctx.set_weight(emb, "weight", ctx.parameter(node.input[0]))
    ctx.emit("call", node.input[1:2], node.output[:1], module=emb, node=node,
             weight=node.input[0])
    return True


# ------------------------------------------------------------------ resize
_RESIZE_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _resize_mode(node, a, nd):
    """pydl's (mode, align_corners) for an ONNX Resize, or Unsupported."""
    mode = a.get("mode", "nearest")
    coord = a.get("coordinate_transformation_mode", "half_pixel")
    nearest = a.get("nearest_mode", "round_prefer_floor")
    if a.get("antialias", 0) or a.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise Unsupported("antialias or keep_aspect_ratio_policy")
    if mode == "nearest" and coord == "asymmetric" and nearest == "floor":
        return "nearest", None
    if mode == "nearest" and coord in ("half_pixel", "pytorch_half_pixel") \
            and nearest == "round_prefer_ceil":
        return "nearest-exact", None
    if mode == "linear" and coord in ("align_corners", "half_pixel", "pytorch_half_pixel"):
        return _RESIZE_MODES[nd], coord == "align_corners"
    raise Unsupported(f"mode={mode!r} with coordinate_transformation_mode={coord!r} and "
                      f"nearest_mode={nearest!r} (pydl resizes as PyTorch: nearest "
                      f"asymmetric/floor, nearest half_pixel/round_prefer_ceil, linear "
                      f"half_pixel or align_corners)")


def _resize_args(scales, sizes):
    """(size, scale_factor) for the spatial dimensions, or raise on N and C."""
    if sizes is not None and np.size(sizes):
        sizes = [int(s) for s in np.asarray(sizes).reshape(-1)]
        return tuple(sizes[2:]), None, sizes[:2]
    scales = [float(s) for s in np.asarray(scales).reshape(-1)]
    return None, tuple(scales[2:]), scales[:2]


@runtime("resize")
def _resize(module, attrs, x, roi=None, scales=None, sizes=None):
    size, scale, lead = _resize_args(scales, sizes)
    if size is not None and tuple(lead) != tuple(np.shape(x)[:2]) or \
            size is None and any(s != 1.0 for s in lead):
        raise ValueError(f"Resize: pydl resizes the spatial dimensions only, got "
                         f"{'sizes' if size is not None else 'scales'} {lead} for N and C")
    return F.interpolate_forward(x, size=size, scale_factor=scale, mode=attrs["mode"],
                                 align_corners=attrs["align_corners"])


def _known(ctx, name):
    """A non-empty constant input, else None."""
    value = ctx.static.get(name, ctx.initializers.get(name)) if name else None
    return value if value is not None and np.size(value) else None


@converter("Resize")
def _convert_resize(node, ctx):
    a = ctx.attrs(node)
    if len(node.input) == 2:              # opset 10: (X, scales)
        inputs = [node.input[0], "", node.input[1], ""]
    else:
        inputs = [ctx.input(node, i) for i in range(4)]
    if a.get("axes") is not None:
        raise Unsupported("the axes attribute")
    scales, sizes = _known(ctx, inputs[2]), _known(ctx, inputs[3])
    known = sizes if sizes is not None else scales
    rank = ctx.rank(node.input[0])
    nd = np.size(known) - 2 if known is not None else (None if rank is None else rank - 2)
    if nd not in _ND:
        raise Unsupported("a Resize of unknown rank, or of other than 1-3 spatial dimensions")
    mode, align = _resize_mode(node, a, nd)
    if sizes is None and scales is not None:
        _, scale, lead = _resize_args(scales, None)
        if any(s != 1.0 for s in lead):
            raise Unsupported(f"scales {lead} for N and C (pydl resizes spatial dims only)")
        layer = nn.Upsample(scale_factor=scale, mode=mode, align_corners=align)
        ctx.emit("call", inputs[:1], node.output[:1], module=layer, node=node)
        return
    ctx.emit("resize", inputs, node.output[:1], {"mode": mode, "align_corners": align},
             node=node)


@converter("Flatten")
def _convert_flatten(node, ctx):
    axis = ctx.attrs(node).get("axis", 1)
    rank = ctx.rank(node.input[0])
    if axis == 1 and rank is not None and rank >= 2:
        ctx.emit("call", node.input[:1], node.output[:1], module=nn.Flatten(), node=node)
    else:
        ctx.emit("flatten", node.input[:1], node.output[:1], {"axis": axis}, node=node)
