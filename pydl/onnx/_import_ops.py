"""ONNX ops without weights: arithmetic, shapes, joins, reductions, constants.

Every runtime function takes NumPy arrays (values known at load, integer shapes) or
``pydl.Tensor``s (activations): with a tensor among its inputs it uses tensor ops,
which the tape differentiates; with arrays only it uses NumPy, which is also how
constant subgraphs fold when the file is loaded.
"""

import numpy as np

from ..autograd import ops as T
from ..autograd.tensor import Tensor
from ..nn.module import Module
from ._import_context import Unsupported, converter
from ._import_graph import as_float_like, runtime
from ._import_patterns import (
    flatten_from_reshape,
    fuse_gelu,
    fuse_group_norm,
)

_INT_MAX = 2**63 - 1


def _is_t(v):
    return isinstance(v, Tensor)


def _data(v):
    return v.data if isinstance(v, Tensor) else v


def _ints(v):
    return [int(i) for i in np.asarray(_data(v)).reshape(-1)]


def _axis(axis, ndim):
    return axis + ndim if axis < 0 else axis


def _tensor_pair(a, b):
    return as_float_like(a, b), as_float_like(b, a)


# ------------------------------------------------------------- arithmetic
def _np_div(a, b):
    if np.asarray(a).dtype.kind in "iu" and np.asarray(b).dtype.kind in "iu":
        return np.asarray(np.trunc(np.divide(a, b)), dtype=np.result_type(a, b))
    return np.divide(a, b)


_BINARY = {"Add": (T.add, np.add), "Sub": (T.sub, np.subtract), "Mul": (T.mul, np.multiply),
           "Div": (T.div, _np_div), "Pow": (T.pow, np.power)}


@runtime("binary")
def _binary(module, attrs, a, b):
    tensor_op, numpy_op = _BINARY[attrs["kind"]]
    if _is_t(a) or _is_t(b):
        return tensor_op(*_tensor_pair(a, b))
    if attrs["kind"] == "Pow":
        return np.asarray(np.power(a, b), dtype=np.asarray(a).dtype)
    return np.asarray(numpy_op(a, b))


@converter("Add", "Sub", "Mul", "Div", "Pow")
def _convert_binary(node, ctx):
    if node.op_type in ("Div", "Mul") and fuse_gelu(node, ctx):
        return
    ctx.emit("binary", node.input[:2], node.output[:1], {"kind": node.op_type}, node=node)


@runtime("mod")
def _mod(module, attrs, a, b):
    """a - b * q with q = floor(a / b) (Python's sign rule) or trunc (fmod=1); q is
    piecewise constant, so the gradient is that of a - b * q."""
    da, db = np.asarray(_data(a)), np.asarray(_data(b))
    if not (_is_t(a) or _is_t(b)):
        out = np.fmod(da, db) if attrs["fmod"] else np.mod(da, db)
        return np.asarray(out, dtype=da.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = (np.trunc if attrs["fmod"] else np.floor)(da / db)
    a, b = _tensor_pair(a, b)
    return T.sub(a, T.mul(b, q.astype((a if _is_t(a) else b).dtype)))


@converter("Mod")
def _convert_mod(node, ctx):
    ctx.emit("mod", node.input[:2], node.output[:1],
             {"fmod": ctx.attrs(node).get("fmod", 0)}, node=node)


_VARIADIC = {"Max": (T.maximum, np.maximum), "Min": (T.minimum, np.minimum),
             "Sum": (T.add, np.add), "Mean": (T.add, np.add)}


@runtime("variadic")
def _variadic(module, attrs, *values):
    tensor_op, numpy_op = _VARIADIC[attrs["kind"]]
    out = values[0]
    for v in values[1:]:
        out = tensor_op(*_tensor_pair(out, v)) if _is_t(out) or _is_t(v) else numpy_op(out, v)
    if attrs["kind"] == "Mean":
        out = out / len(values) if _is_t(out) else np.asarray(out / len(values), out.dtype)
    return out


@converter("Max", "Min", "Sum", "Mean")
def _convert_variadic(node, ctx):
    ctx.emit("variadic", node.input, node.output[:1], {"kind": node.op_type}, node=node)


def _reciprocal(x):
    return 1.0 / x


_UNARY = {"Neg": (T.neg, np.negative), "Abs": (T.abs, np.abs), "Sqrt": (T.sqrt, np.sqrt),
          "Exp": (T.exp, np.exp), "Log": (T.log, np.log),
          "Reciprocal": (_reciprocal, np.reciprocal),
          "Floor": (None, np.floor), "Ceil": (None, np.ceil), "Not": (None, np.logical_not)}


@runtime("unary")
def _unary(module, attrs, x):
    tensor_op, numpy_op = _UNARY[attrs["kind"]]
    if _is_t(x) and tensor_op is not None:
        return tensor_op(x)
    return np.asarray(numpy_op(_data(x)))     # no gradient (floor, ceil, not)


@converter("Neg", "Abs", "Sqrt", "Exp", "Log", "Reciprocal", "Floor", "Ceil", "Not")
def _convert_unary(node, ctx):
    ctx.emit("unary", node.input[:1], node.output[:1], {"kind": node.op_type}, node=node)


_COMPARE = {"Equal": np.equal, "Less": np.less, "Greater": np.greater,
            "LessOrEqual": np.less_equal, "GreaterOrEqual": np.greater_equal,
            "And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor}


@runtime("compare")
def _compare(module, attrs, a, b):
    return np.asarray(_COMPARE[attrs["kind"]](_data(a), _data(b)))


@converter(*_COMPARE)
def _convert_compare(node, ctx):
    ctx.emit("compare", node.input[:2], node.output[:1], {"kind": node.op_type}, node=node)


@runtime("where")
def _where(module, attrs, cond, a, b):
    if _is_t(a) or _is_t(b):
        return T.where(_data(cond), *_tensor_pair(a, b))
    return np.where(cond, a, b)


@converter("Where")
def _convert_where(node, ctx):
    ctx.emit("where", node.input[:3], node.output[:1], node=node)


@runtime("matmul")
def _matmul(module, attrs, a, b):
    if _is_t(a) or _is_t(b):
        a, b = _tensor_pair(a, b)
        return T.matmul(a if _is_t(a) else Tensor(a), b if _is_t(b) else Tensor(b))
    return np.asarray(np.matmul(a, b))


@runtime("gemm")
def _gemm(module, attrs, a, b, c=None):
    if attrs["transA"]:
        a = T.transpose(a) if _is_t(a) else a.T
    if attrs["transB"]:
        b = T.transpose(b) if _is_t(b) else b.T
    y = _matmul(None, None, a, b)
    if attrs["alpha"] != 1.0:
        y = y * attrs["alpha"]
    if c is not None:
        c = c * attrs["beta"] if attrs["beta"] != 1.0 else c
        y = _binary(None, {"kind": "Add"}, y, c)
    return y


@runtime("clip")
def _clip(module, attrs, x):
    lo, hi = attrs["min"], attrs["max"]
    if lo is None and hi is None:
        return x
    return T.clip(x, lo, hi) if _is_t(x) else np.clip(x, lo, hi)


@runtime("clip_bounds")
def _clip_bounds(module, attrs, x, lo=None, hi=None):
    """Clip with bounds that are values of the graph: ``min(max(x, lo), hi)``."""
    for bound, tensor_op, numpy_op in ((lo, T.maximum, np.maximum),
                                       (hi, T.minimum, np.minimum)):
        if bound is not None:
            x = (tensor_op(*_tensor_pair(x, bound)) if _is_t(x) or _is_t(bound)
                 else numpy_op(x, bound))
    return x


# ----------------------------------------------------------------- shapes
@runtime("shape")
def _shape(module, attrs, x):
    shape = np.shape(_data(x))
    start, end = attrs.get("start", 0), attrs.get("end", None)
    return np.array(shape[start:end], np.int64)


@converter("Shape")
def _convert_shape(node, ctx):
    a = ctx.attrs(node)
    ctx.emit("shape", node.input[:1], node.output[:1],
             {"start": a.get("start", 0), "end": a.get("end")}, node=node)


@runtime("size")
def _size(module, attrs, x):
    return np.array(np.size(_data(x)), np.int64)


@converter("Size")
def _convert_size(node, ctx):
    ctx.emit("size", node.input[:1], node.output[:1], node=node)


def reshape_to(x, shape):
    """Tensor or array ``x`` in ``shape``."""
    shape = tuple(int(s) for s in shape)
    return T.reshape(x, shape) if _is_t(x) else np.reshape(x, shape)


@runtime("reshape")
def _reshape(module, attrs, x, shape):
    dims = _ints(shape)
    if not attrs.get("allowzero", 0):
        in_shape = np.shape(_data(x))
        dims = [in_shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return reshape_to(x, dims)


@converter("Reshape")
def _convert_reshape(node, ctx):
    if fuse_group_norm(node, ctx) or flatten_from_reshape(node, ctx):
        return
    ctx.emit("reshape", node.input[:2], node.output[:1],
             {"allowzero": ctx.attrs(node).get("allowzero", 0)}, node=node)


@runtime("flatten")
def _flatten(module, attrs, x):
    shape = np.shape(_data(x))
    axis = _axis(attrs["axis"], len(shape))
    return reshape_to(x, (int(np.prod(shape[:axis])), int(np.prod(shape[axis:]))))


@runtime("transpose")
def _transpose(module, attrs, x):
    perm = attrs.get("perm")
    if perm is None:
        perm = tuple(reversed(range(np.ndim(_data(x)))))
    return T.permute(x, tuple(perm)) if _is_t(x) else np.transpose(x, perm)


@converter("Transpose")
def _convert_transpose(node, ctx):
    ctx.emit("transpose", node.input[:1], node.output[:1],
             {"perm": ctx.attrs(node).get("perm")}, node=node)


@runtime("concat")
def _concat(module, attrs, *values):
    values = [v for v in values if v is not None]
    if any(_is_t(v) for v in values):
        like = next(v for v in values if _is_t(v))
        ts = [v if _is_t(v) else Tensor(as_float_like(np.asarray(v), like)) for v in values]
        return T.concatenate(ts, axis=attrs["axis"])
    return np.concatenate([np.asarray(v) for v in values], axis=attrs["axis"])


@converter("Concat")
def _convert_concat(node, ctx):
    ctx.emit("concat", node.input, node.output[:1], {"axis": ctx.attrs(node)["axis"]},
             node=node)


def _axes_input(node, ctx, position):
    """Axes given as an attribute (older opsets) or as a constant input (newer)."""
    axes = ctx.attrs(node).get("axes")
    if axes is None and len(node.input) > position and node.input[position]:
        axes = _ints(ctx.const(node, position, "axes"))
    return None if axes is None else [int(a) for a in axes]


@runtime("squeeze")
def _squeeze(module, attrs, x):
    shape = np.shape(_data(x))
    axes = attrs["axes"]
    if axes is None:
        axes = [i for i, s in enumerate(shape) if s == 1]
    axes = {_axis(a, len(shape)) for a in axes}
    for a in axes:
        if shape[a] != 1:
            raise ValueError(f"Squeeze: dimension {a} of an input of shape {shape} is not 1")
    return reshape_to(x, [s for i, s in enumerate(shape) if i not in axes])


@converter("Squeeze")
def _convert_squeeze(node, ctx):
    ctx.emit("squeeze", node.input[:1], node.output[:1], {"axes": _axes_input(node, ctx, 1)},
             node=node)


@runtime("unsqueeze")
def _unsqueeze(module, attrs, x):
    shape = list(np.shape(_data(x)))
    rank = len(shape) + len(attrs["axes"])
    for a in sorted(_axis(a, rank) for a in attrs["axes"]):
        shape.insert(a, 1)
    return reshape_to(x, shape)


@converter("Unsqueeze")
def _convert_unsqueeze(node, ctx):
    axes = _axes_input(node, ctx, 1)
    if axes is None:
        raise Unsupported("Unsqueeze needs axes")
    ctx.emit("unsqueeze", node.input[:1], node.output[:1], {"axes": axes}, node=node)


@runtime("gather")
def _gather(module, attrs, data, indices):
    axis = attrs["axis"]
    idx = np.asarray(_data(indices))
    size = np.shape(_data(data))[axis]
    idx = np.where(idx < 0, idx + size, idx)
    if _is_t(data):
        key = (slice(None),) * _axis(axis, data.ndim) + (int(idx) if idx.ndim == 0 else idx,)
        return T.getitem(data, key)
    return np.take(data, idx, axis=axis)


@converter("Gather")
def _convert_gather(node, ctx):
    from ._import_layers import embedding_from_gather
    axis = ctx.attrs(node).get("axis", 0)
    if embedding_from_gather(node, ctx, axis):
        return
    ctx.emit("gather", node.input[:2], node.output[:1], {"axis": axis}, node=node)


@runtime("slice")
def _slice(module, attrs, x, starts, ends, axes=None, steps=None):
    ndim = np.ndim(_data(x))
    starts, ends = _ints(starts), _ints(ends)
    axes = list(range(len(starts))) if axes is None else _ints(axes)
    steps = [1] * len(starts) if steps is None else _ints(steps)
    key = [slice(None)] * ndim
    for a, s, e, st in zip(axes, starts, ends, steps):
        # ONNX clamps out-of-range bounds as Python slicing does; INT_MAX means the end
        e = None if (st > 0 and e >= _INT_MAX) or (st < 0 and e <= -_INT_MAX) else e
        key[_axis(a, ndim)] = slice(s, e, st)
    return T.getitem(x, tuple(key)) if _is_t(x) else np.asarray(x[tuple(key)])


@converter("Slice")
def _convert_slice(node, ctx):
    a = ctx.attrs(node)
    if "starts" in a:           # opset < 10: attributes, not inputs
        inputs = [node.input[0]]
        for key in ("starts", "ends", "axes"):
            name = ""
            if key in a:
                name = f"{node.output[0]}::{key}"
                ctx.static[name] = np.asarray(a[key], np.int64)
            inputs.append(name)
        ctx.emit("slice", inputs, node.output[:1], node=node)
        return
    ctx.emit("slice", node.input[:5], node.output[:1], node=node)


@runtime("expand")
def _expand(module, attrs, x, shape):
    target = np.broadcast_shapes(np.shape(_data(x)), tuple(_ints(shape)))
    if _is_t(x):
        return T.add(x, np.zeros(target, x.dtype))       # the gradient sums back
    return np.broadcast_to(x, target).copy()


@converter("Expand")
def _convert_expand(node, ctx):
    ctx.emit("expand", node.input[:2], node.output[:1], node=node)


@runtime("tile")
def _tile(module, attrs, x, repeats):
    reps = _ints(repeats)
    if not _is_t(x):
        return np.tile(x, reps)
    shape = np.shape(x.data)
    # tile = broadcast over a new axis before each dimension, then merge the pairs
    expanded = reshape_to(x, [d for s in shape for d in (1, s)])
    big = T.add(expanded, np.zeros([d for r, s in zip(reps, shape) for d in (r, s)], x.dtype))
    return reshape_to(big, [r * s for r, s in zip(reps, shape)])


@converter("Tile")
def _convert_tile(node, ctx):
    ctx.emit("tile", node.input[:2], node.output[:1], node=node)


@runtime("split")
def _split(module, attrs, x, split=None):
    axis = attrs["axis"]
    size = np.shape(_data(x))[axis]
    if split is None:
        split = attrs.get("split")
    if split is None:
        n = attrs["n"]
        chunk = -(-size // n)
        sizes = [min(chunk, size - i * chunk) for i in range(n)]
    else:
        sizes = _ints(split)
    cuts = list(np.cumsum(sizes)[:-1])
    if _is_t(x):
        return tuple(T.split(x, cuts, axis=axis))
    return tuple(np.split(x, cuts, axis=axis))


@converter("Split")
def _convert_split(node, ctx):
    a = ctx.attrs(node)
    attrs = {"axis": a.get("axis", 0), "n": a.get("num_outputs", len(node.output))}
    if "split" in a:
        attrs["split"] = list(a["split"])
    ctx.emit("split", node.input[:2], node.output, attrs, node=node)


# ------------------------------------------------------------- constants
def _onnx_dtype(ctx, code):
    return ctx.onnx.helper.tensor_dtype_to_np_dtype(code)


@converter("Constant")
def _convert_constant(node, ctx):
    a = ctx.attrs(node)
    if "value" in a:
        value = np.asarray(a["value"])
    elif "value_float" in a:
        value = np.array(a["value_float"], np.float32)
    elif "value_floats" in a:
        value = np.array(a["value_floats"], np.float32)
    elif "value_int" in a:
        value = np.array(a["value_int"], np.int64)
    elif "value_ints" in a:
        value = np.array(a["value_ints"], np.int64)
    else:
        raise Unsupported(f"Constant with attribute(s) {sorted(a)}")
    ctx.static[node.output[0]] = value


@runtime("constant_of_shape")
def _constant_of_shape(module, attrs, shape):
    return np.full(_ints(shape), attrs["value"], dtype=attrs["value"].dtype)


@converter("ConstantOfShape")
def _convert_constant_of_shape(node, ctx):
    value = ctx.attrs(node).get("value")
    value = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)
    ctx.emit("constant_of_shape", node.input[:1], node.output[:1], {"value": value[0]},
             node=node)


@runtime("range")
def _range(module, attrs, start, limit, delta):
    return np.arange(start, limit, delta, dtype=np.asarray(start).dtype)


@converter("Range")
def _convert_range(node, ctx):
    ctx.emit("range", node.input[:3], node.output[:1], node=node)


@runtime("cast")
def _cast(module, attrs, x):
    to = np.dtype(attrs["to"])
    if _is_t(x) and to.kind == "f" and x.dtype.kind == "f":
        return x            # float to float: keep the model's dtype (float32 or float64)
    return np.asarray(_data(x)).astype(to)


@converter("Cast")
def _convert_cast(node, ctx):
    ctx.emit("cast", node.input[:1], node.output[:1],
             {"to": _onnx_dtype(ctx, ctx.attrs(node)["to"])}, node=node)


@runtime("identity")
def _identity(module, attrs, x):
    return x


@converter("Identity")
def _convert_identity(node, ctx):
    if node.input[0] in ctx.initializers:
        ctx.alias(node.output[0], node.input[0])    # a weight under a second name
        return
    ctx.emit("identity", node.input[:1], node.output[:1], node=node)


# ------------------------------------------------------------- reductions
def _log_sum_exp(ns, x, axis, keepdims):
    m = np.max(_data(x), axis=axis, keepdims=True)       # a constant shift, for range
    out = ns.log(ns.sum(ns.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else reshape_to(out, np.squeeze(_data(out), axis=axis).shape)


# kind -> fn(namespace, x, axis, keepdims); the namespace is the tensor ops for
# tensors and NumPy for arrays (the two share these functions' names and arguments)
_REDUCE = {
    "ReduceMean": lambda ns, x, a, k: ns.mean(x, axis=a, keepdims=k),
    "ReduceSum": lambda ns, x, a, k: ns.sum(x, axis=a, keepdims=k),
    "ReduceMax": lambda ns, x, a, k: ns.max(x, axis=a, keepdims=k),
    "ReduceMin": lambda ns, x, a, k: ns.min(x, axis=a, keepdims=k),
    "ReduceL1": lambda ns, x, a, k: ns.sum(ns.abs(x), axis=a, keepdims=k),
    "ReduceL2": lambda ns, x, a, k: ns.sqrt(ns.sum(x * x, axis=a, keepdims=k)),
    "ReduceSumSquare": lambda ns, x, a, k: ns.sum(x * x, axis=a, keepdims=k),
    "ReduceLogSum": lambda ns, x, a, k: ns.log(ns.sum(x, axis=a, keepdims=k)),
    "ReduceLogSumExp": _log_sum_exp,
}


@runtime("reduce")
def _reduce(module, attrs, x, axes=None):
    axes = attrs.get("axes") if axes is None else _ints(axes)
    if not axes:
        if attrs["noop"]:
            return x
        axes = None
    axes = None if axes is None else tuple(_axis(a, np.ndim(_data(x))) for a in axes)
    out = _REDUCE[attrs["kind"]](T if _is_t(x) else np, x, axes, bool(attrs["keepdims"]))
    return out if _is_t(out) else np.asarray(out)


class ReduceProd(Module):
    """The product over ``axes``, for tensors: the gradient of each element is the
    product of the others (exclusive cumulative products: exact with zeros too)."""

    def __init__(self, axes, keepdims):
        super().__init__()
        self.axes, self.keepdims = axes, bool(keepdims)

    def _moved(self, x):
        axes = tuple(range(x.ndim)) if not self.axes else tuple(_axis(a, x.ndim)
                                                               for a in self.axes)
        keep = [a for a in range(x.ndim) if a not in axes]
        return axes, keep, np.transpose(x, keep + list(axes))

    def forward(self, x):
        self.save_for_backward(x=x)
        axes = None if not self.axes else tuple(self.axes)
        return np.asarray(np.prod(x, axis=axes, keepdims=self.keepdims))

    def backward(self, grad_output):
        x = self.saved()["x"]
        axes, keep, moved = self._moved(x)
        flat = moved.reshape(moved.shape[:len(keep)] + (-1,))
        ones = np.ones(flat.shape[:-1] + (1,), x.dtype)
        left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        g = np.reshape(grad_output, [x.shape[a] for a in keep] + [1])
        grad = (g * left * right).reshape(moved.shape)
        return np.ascontiguousarray(np.transpose(grad, np.argsort(keep + list(axes))))


@runtime("reduce_prod")
def _reduce_prod(module, attrs, x):
    if _is_t(x):
        return module(x)
    axes = None if not module.axes else tuple(module.axes)
    return np.asarray(np.prod(x, axis=axes, keepdims=module.keepdims))


@converter("ReduceProd")
def _convert_reduce_prod(node, ctx):
    a = ctx.attrs(node)
    axes = _axes_input(node, ctx, 1) or []
    if not axes and a.get("noop_with_empty_axes", 0):
        ctx.emit("identity", node.input[:1], node.output[:1], node=node)
        return
    x = node.input[0]
    if x in ctx.static:      # shape arithmetic: fold now
        ctx.static[node.output[0]] = np.asarray(np.prod(ctx.static[x], axis=tuple(axes) or None,
                                                        keepdims=bool(a.get("keepdims", 1))))
        return
    ctx.emit("reduce_prod", [x], node.output[:1],
             module=ReduceProd(axes, a.get("keepdims", 1)), node=node)


@converter(*_REDUCE)
def _convert_reduce(node, ctx):
    a = ctx.attrs(node)
    attrs = {"kind": node.op_type, "keepdims": a.get("keepdims", 1),
             "noop": a.get("noop_with_empty_axes", 0)}
    if "axes" in a:
        attrs["axes"] = list(a["axes"])
    ctx.emit("reduce", node.input[:2], node.output[:1], attrs, node=node)


@runtime("pad")
def _pad(module, attrs, x, pads, value=None, axes=None):
    ndim = np.ndim(_data(x))
    pads = _ints(pads)
    axes = list(range(ndim)) if axes is None else [_axis(a, ndim) for a in _ints(axes)]
    k = len(axes)
    width = [[0, 0] for _ in range(ndim)]
    for i, a in enumerate(axes):
        width[a] = [pads[i], pads[i + k]]
    if any(w < 0 for pair in width for w in pair):
        raise ValueError(f"Pad: negative pads (cropping) are not supported, got {pads}")
    fill = 0.0 if value is None else _data(value).item()
    if _is_t(x):
        return T.pad(x, width, value=fill)
    return np.pad(x, width, constant_values=fill)


@converter("Pad")
def _convert_pad(node, ctx):
    a = ctx.attrs(node)
    mode = a.get("mode", "constant")
    if mode != "constant":
        raise Unsupported(f"mode={mode!r} (only 'constant' is)")
    if "pads" in a:             # opset < 11
        name = f"{node.output[0]}::pads"
        ctx.static[name] = np.asarray(a["pads"], np.int64)
        value = f"{node.output[0]}::value"
        ctx.static[value] = np.asarray(a.get("value", 0.0), np.float32)
        ctx.emit("pad", [node.input[0], name, value], node.output[:1], node=node)
        return
    ctx.emit("pad", node.input[:4], node.output[:1], node=node)
