"""ONNX nodes for each noted tensor op and functional op (tracing export).

``HANDLERS[name](em, a, result)`` appends the nodes of one noted call and returns the
name(s) of its output(s); ``a`` holds the call's arguments by name (``a["__op__"]`` the
op's name), ``result`` what pydl computed (shapes and dtypes to match), and ``em`` is
the emitter: ``em.name(value, dtype)`` gives the ONNX name of a traced value or a
constant, ``em.dyn(tensor)`` which of its sizes follow the batch, ``em.ctx`` the export
context. Functional ops that a pydl module wraps are exported by that module's
converter, so the two paths write the same ONNX.
"""

import numpy as np

from .. import nn
from ..autograd import ops as _ops
from ..autograd.tensor import Tensor
from ..functional.conv import conv_padding
from ..nn.parameter import Parameter
from ._export import ExportError
from ._export_rnn import recurrent_op
from ._require import require_onnx
from ._trace_calls import COMPARE

__all__ = ["HANDLERS", "SHAPE_OPS", "onnx_dtype"]

_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min

# Ops whose shape arguments may follow the batch: the output's shape decides.
SHAPE_OPS = {"reshape", "flatten", "squeeze", "unsqueeze"}

HANDLERS = {}


def _handles(*names):
    def register(fn):
        for n in names:
            HANDLERS[n] = fn
        return fn
    return register


def _dtype_of(result):
    return result.data.dtype


def _node(em, op, inputs, **attrs):
    return em.ctx.node(op, inputs, **attrs)[0]


def onnx_dtype(dtype):
    """The ONNX element type of a NumPy dtype (for Cast)."""
    return require_onnx().helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow",
           "matmul": "MatMul", "maximum": "Max", "minimum": "Min"}


@_handles(*_BINARY)
def _binary(em, a, result):
    dtype = _dtype_of(result)
    return _node(em, _BINARY[a["__op__"]], [em.name(a["a"], dtype), em.name(a["b"], dtype)])


_UNARY = {"neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "abs": "Abs",
          "relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}


@_handles(*_UNARY)
def _unary(em, a, result):
    x = a.get("x", a.get("a"))
    return _node(em, _UNARY[a["__op__"]], [em.name(x)])


@_handles(*COMPARE)
def _compare(em, a, result):
    x, y = a["self"], a["other"]
    dx = x.data.dtype if isinstance(x, Tensor) else np.asarray(x).dtype
    dy = y.data.dtype if isinstance(y, Tensor) else np.asarray(y).dtype
    dtype = dx if not isinstance(y, Tensor) and np.ndim(y) == 0 else np.result_type(dx, dy)
    op = COMPARE[a["__op__"]]
    negate = op == "NotEqual"
    out = _node(em, "Equal" if negate else op, [em.name(x, dtype), em.name(y, dtype)])
    return _node(em, "Not", [out]) if negate else out


@_handles("detach")
def _detach(em, a, result):
    return _node(em, "Identity", [em.name(a["self"])])


@_handles("where")
def _where(em, a, result):
    dtype = _dtype_of(result)
    cond = a["condition"]
    if isinstance(cond, Tensor) and id(cond) in em.names:      # a traced condition
        c = em.name(cond, np.bool_)
    else:
        c = em.name(np.asarray(cond.data if isinstance(cond, Tensor) else cond, dtype=bool),
                    hint="mask")
    return _node(em, "Where", [c, em.name(a["a"], dtype), em.name(a["b"], dtype)])


@_handles("clip", "clamp")
def _clip(em, a, result):
    dtype = _dtype_of(result)
    x = em.name(a["x"])
    lo, hi = a["min"], a["max"]
    if all(v is None or np.ndim(v.data if isinstance(v, Tensor) else v) == 0 for v in (lo, hi)):
        # the bounds by em.name: a traced 0-d bound (x.mean()) is its value in the graph,
        # not the example's number
        return _node(em, "Clip", [x, "" if lo is None else em.name(lo, dtype),
                                  "" if hi is None else em.name(hi, dtype)])
    if lo is not None:
        x = _node(em, "Max", [x, em.name(lo, dtype)])
    if hi is not None:
        x = _node(em, "Min", [x, em.name(hi, dtype)])
    return x


def _scalar(v):
    return v.data if isinstance(v, Tensor) else v


# ------------------------------------------------------------------ reductions
def _reduce_axes(a):
    x = a["x"]
    axis, keepdims = _ops._reduce_args(a["axis"], a["keepdims"], a.get("dim"), a.get("keepdim"))
    return x, list(_ops._axis_tuple(axis, x.data.ndim)), keepdims


def _reduce(em, op, x_name, axes, keepdims):
    """An ONNX Reduce* over ``axes`` (axes an input from opset 18, ReduceSum 13)."""
    if not axes:
        return _node(em, "Identity", [x_name])
    if op == "ReduceSum" or em.ctx.opset >= 18:
        return _node(em, op, [x_name, em.ctx.int64(axes, "axes")], keepdims=int(keepdims))
    return _node(em, op, [x_name], axes=axes, keepdims=int(keepdims))


_REDUCE = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax", "min": "ReduceMin"}


@_handles(*_REDUCE)
def _reduction(em, a, result):
    x, axes, keepdims = _reduce_axes(a)
    return _reduce(em, _REDUCE[a["__op__"]], em.name(x), axes, keepdims)


@_handles("var", "std")
def _variance(em, a, result):
    x, axes, keepdims = _reduce_axes(a)
    dtype = _dtype_of(result)
    xn = em.name(x)
    centered = _node(em, "Sub", [xn, _reduce(em, "ReduceMean", xn, axes, True)])
    squares = _reduce(em, "ReduceSum", _node(em, "Mul", [centered, centered]), axes, keepdims)
    dyn = em.dyn(x)
    if any(dyn[i] for i in axes):     # the count follows the batch: computed in the graph
        shape = _node(em, "Shape", [xn])
        sizes = _node(em, "Gather", [shape, em.ctx.int64(axes, "axes")], axis=0)
        count = _node(em, "ReduceProd", [sizes], keepdims=0)
        count = _node(em, "Cast", [count], to=onnx_dtype(dtype))
        denom = _node(em, "Sub", [count, em.name(a["correction"], dtype)])
    else:
        em.writing_sizes(f"{a['__op__']!r}'s count")
        n = int(np.prod([x.data.shape[i] for i in axes])) if axes else 1
        denom = em.name(n - a["correction"], dtype)
    out = _node(em, "Div", [squares, denom])
    return _node(em, "Sqrt", [out]) if a["__op__"] == "std" else out


# ---------------------------------------------------------------------- shapes
@_handles(*SHAPE_OPS)
def _reshape(em, a, result):
    x = a["x"]
    shape = list(result.data.shape)
    em.writing_sizes(f"{a['__op__']!r} to {tuple(shape)}")
    dyn_out = em.dyn(result)
    dyn_in = em.dyn(x)
    target = list(shape)
    free = [i for i, d in enumerate(dyn_out) if d]
    if len(free) > 1:        # copy what sits at the same place in the input (0 in Reshape)
        for i in list(free):
            if i < len(dyn_in) and dyn_in[i] and x.data.shape[i] == shape[i]:
                target[i] = 0
                free.remove(i)
    if len(free) > 1:
        raise ExportError(f"{a['__op__']!r} to shape {tuple(shape)}: more than one of its "
                          f"sizes follows the batch; ONNX Reshape can infer only one")
    if free:
        target[free[0]] = -1
    if any(n == 0 and not d for n, d in zip(shape, dyn_out)):    # Reshape's 0 copies
        raise ExportError(f"{a['__op__']!r} to a shape with a 0 size cannot be exported")
    return _node(em, "Reshape", [em.name(x), em.ctx.int64(target)])


@_handles("permute", "transpose")
def _permute(em, a, result):
    x = a["x"]
    nd = x.data.ndim
    if a["__op__"] == "permute":
        dims = a["dims"]
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        perm = list(_ops._axis_tuple(dims, nd))
    elif a["dim0"] is None:
        perm = list(reversed(range(nd)))
    else:
        perm = list(range(nd))
        i, j = (_ops._axis_tuple((d,), nd)[0] for d in (a["dim0"], a["dim1"]))
        perm[i], perm[j] = perm[j], perm[i]
    return _node(em, "Transpose", [em.name(x)], perm=perm)


@_handles("concatenate", "cat")
def _concatenate(em, a, result):
    dtype = _dtype_of(result)
    axis = a["axis"] if a.get("dim") is None else a["dim"]
    axis = _ops._axis_tuple(axis, result.data.ndim)[0]
    return _node(em, "Concat", [em.name(t, dtype) for t in a["tensors"]], axis=axis)


@_handles("stack")
def _stack(em, a, result):
    dtype = _dtype_of(result)
    axis = a["axis"] if a.get("dim") is None else a["dim"]
    axis = _ops._axis_tuple(axis, result.data.ndim)[0]
    axes = em.ctx.int64([axis], "axes")
    parts = [_node(em, "Unsqueeze", [em.name(t, dtype), axes]) for t in a["tensors"]]
    return _node(em, "Concat", parts, axis=axis)


@_handles("split")
def _split(em, a, result):
    x = a["x"]
    axis = a["axis"] if a.get("dim") is None else a["dim"]
    axis = _ops._axis_tuple(axis, x.data.ndim)[0]
    if em.dyn(x)[axis]:
        raise ExportError("'split' along the batch axis cannot be exported")
    sizes = [p.data.shape[axis] for p in result]
    em.writing_sizes("'split'")
    return em.ctx.node("Split", [em.name(x), em.ctx.int64(sizes, "split")], len(sizes),
                       axis=axis)


@_handles("pad")
def _pad(em, a, result):
    x = a["x"]
    nd = x.data.ndim
    width = np.broadcast_to(np.asarray(a["pad_width"], dtype=np.int64), (nd, 2))
    pads = em.ctx.int64(list(width[:, 0]) + list(width[:, 1]), "pads")
    value = em.name(a["value"], x.data.dtype)
    return _node(em, "Pad", [em.name(x), pads, value], mode="constant")


# -------------------------------------------------------------------- indexing
@_handles("getitem")
def _getitem(em, a, result):
    x, idx = a["x"], a["idx"]
    if isinstance(idx, (Tensor, np.ndarray, list)):
        return _gather(em, x, idx, 0)
    items = list(idx) if isinstance(idx, tuple) else [idx]
    arrays = [i for i, v in enumerate(items) if isinstance(v, (Tensor, np.ndarray, list))]
    if arrays:
        rest = [v for i, v in enumerate(items) if i != arrays[0]]
        if len(arrays) > 1 or any(not (v is Ellipsis or v == slice(None)) for v in rest) \
                or (Ellipsis in rest and arrays[0] > rest.index(Ellipsis)):
            raise ExportError("indexing with an array combined with other indices cannot "
                              "be exported; index with one array (other entries ':')")
        return _gather(em, x, items[arrays[0]], arrays[0])
    return _basic_index(em, x, items)


def _gather(em, x, index, axis):
    idx = index
    if isinstance(idx, Tensor) and id(idx) in em.names:
        if idx.data.dtype.kind not in "iu":
            raise ExportError("indexing with a bool mask cannot be exported")
        name = em.name(idx, np.int64)
    else:
        arr = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
        if arr.dtype.kind not in "iu":
            raise ExportError(f"indexing with an array of dtype {arr.dtype} (a mask?) "
                              f"cannot be exported; index with integers")
        name = em.name(arr.astype(np.int64), hint="index")
    return _node(em, "Gather", [em.name(x), name], axis=axis)


def _basic_index(em, x, items):
    nd = x.data.ndim
    n_real = sum(1 for v in items if v is not None and v is not Ellipsis)
    fill = [slice(None)] * (nd - n_real)
    if any(v is Ellipsis for v in items):
        k = next(i for i, v in enumerate(items) if v is Ellipsis)
        items = items[:k] + fill + items[k + 1:]
    else:
        items = items + fill
    starts, ends, axes, steps, dropped, new_axes = [], [], [], [], [], []
    axis = out_pos = 0
    for v in items:
        if v is None:
            new_axes.append(out_pos)
            out_pos += 1
            continue
        if isinstance(v, slice):
            if v != slice(None):
                step = 1 if v.step is None else int(v.step)
                low, high = (0, _INT64_MAX) if step > 0 else (_INT64_MAX, _INT64_MIN)
                starts.append(low if v.start is None else int(v.start))
                ends.append(high if v.stop is None else int(v.stop))
                axes.append(axis)
                steps.append(step)
            out_pos += 1
        else:       # an integer: a slice of one, then the axis squeezed
            i = int(v)
            starts.append(i)
            ends.append(_INT64_MAX if i == -1 else i + 1)
            axes.append(axis)
            steps.append(1)
            dropped.append(axis)
        axis += 1
    ctx = em.ctx
    name = em.name(x)
    if axes:
        name = _node(em, "Slice", [name, ctx.int64(starts, "starts"), ctx.int64(ends, "ends"),
                                   ctx.int64(axes, "axes"), ctx.int64(steps, "steps")])
    if dropped:
        name = _node(em, "Squeeze", [name, ctx.int64(dropped, "axes")])
    if new_axes:
        name = _node(em, "Unsqueeze", [name, ctx.int64(new_axes, "axes")])
    if name == em.names.get(id(x)):
        name = _node(em, "Identity", [name])
    return name


# ---------------------------------------------------------------- functional ops
def _require_constants(em, a, keys):
    """Refuse a traced value among the arguments ``keys`` (weights an ONNX op or a
    module converter takes as initializers)."""
    for key in keys:
        value = a[key]
        if isinstance(value, Tensor) and id(value) in em.names:
            raise ExportError(f"{a['__op__']} with a {key} computed in the forward cannot "
                              f"be exported; use a Parameter or a constant")


def _via_module(factory, inputs=("x",)):
    """A functional op exported by the converter of the module that wraps it: the
    arguments named in ``inputs`` are the module's inputs (trailing Nones left out),
    the other tensors become its parameters, so they must be constants."""
    def handler(em, a, result):
        op = a["__op__"]
        _require_constants(em, a, [k for k in a if k not in inputs])
        given = [a[k] for k in inputs]
        while given[-1] is None:
            given.pop()
        if any(v is None for v in given):
            raise ExportError(f"{op}: give {', '.join(inputs[:len(given)])} all or none "
                              f"of the later ones")
        return em.ctx.convert(factory(a), [em.name(v) for v in given], op[:-len("_forward")])
    return handler


_MODULE_OPS = {
    "relu_forward": lambda a: nn.ReLU(),
    "sigmoid_forward": lambda a: nn.Sigmoid(),
    "tanh_forward": lambda a: nn.Tanh(),
    "silu_forward": lambda a: nn.SiLU(),
    "softmax_forward": lambda a: nn.Softmax(dim=a["dim"]),
    "log_softmax_forward": lambda a: nn.LogSoftmax(dim=a["dim"]),
    "leaky_relu_forward": lambda a: nn.LeakyReLU(a["negative_slope"]),
    "elu_forward": lambda a: nn.ELU(a["alpha"]),
    "softplus_forward": lambda a: nn.Softplus(a["beta"], a["threshold"]),
    "hardtanh_forward": lambda a: nn.Hardtanh(a["min_val"], a["max_val"]),
    "gelu_forward": lambda a: nn.GELU(a["approximate"]),
}


def _hyper(a, *drop):
    """The op's arguments but ``x`` (and ``drop``): the wrapping module's arguments."""
    return {k: v for k, v in a.items() if k not in ("x", "__op__", *drop)}


def _module_with_args(cls):
    return lambda a: cls(**_hyper(a))


def _constant(value):
    """The array of a parameter or constant argument (None stays None)."""
    return None if value is None else np.asarray(_scalar(value))


def _set_affine(m, w, b):
    """Put a functional op's weight and bias (None: the module's default) into ``m``."""
    if w is not None:
        m.weight = Parameter(w)
    if b is not None:
        m.bias = Parameter(b)


def _layer_norm(a):
    w = _constant(a["weight"])
    b = _constant(a["bias"])
    m = nn.LayerNorm(a["normalized_shape"], eps=a["eps"], elementwise_affine=w is not None,
                     bias=b is not None, dtype=_scalar(a["x"]).dtype)
    _set_affine(m, w, b)
    return m


def _prelu(a):
    w = _constant(a["weight"])
    m = nn.PReLU(w.size, dtype=w.dtype)
    m.weight = Parameter(w)
    return m


def _batch_norm(a):
    if a["training"]:
        raise ExportError("batch_norm_forward(training=True) normalizes with the batch's "
                          "statistics; pass training=self.training so the export (eval "
                          "mode) uses the running ones")
    x = _scalar(a["x"])
    mean = _constant(a["running_mean"])
    var = _constant(a["running_var"])
    w = _constant(a["weight"])
    b = _constant(a["bias"])
    cls = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}[x.ndim]
    m = cls(mean.size, eps=a["eps"], dtype=x.dtype)
    m.running_mean[...] = mean
    m.running_var[...] = var
    _set_affine(m, w, b)
    return m


def _conv_transpose_module(nd):
    def make(a):
        w = _constant(a["weight"])
        b = _constant(a["bias"])
        groups = int(a["groups"])
        m = getattr(nn, f"ConvTranspose{nd}d")(
            w.shape[0], w.shape[1] * groups, tuple(w.shape[2:]), stride=a["stride"],
            padding=a["padding"], output_padding=a["output_padding"], groups=groups,
            bias=b is not None, dilation=a["dilation"], dtype=w.dtype)
        _set_affine(m, w, b)
        return m
    return make


_MODULE_OPS["layer_norm_forward"] = _layer_norm
_MODULE_OPS["prelu_forward"] = _prelu
_MODULE_OPS["batch_norm_forward"] = _batch_norm
_MODULE_OPS["local_response_norm_forward"] = _module_with_args(nn.LocalResponseNorm)
_MODULE_OPS["interpolate_forward"] = _module_with_args(nn.Upsample)


for _nd in (1, 2, 3):
    for _op, _cls in (("max_pool", "MaxPool"), ("avg_pool", "AvgPool"),
                      ("adaptive_avg_pool", "AdaptiveAvgPool"),
                      ("adaptive_max_pool", "AdaptiveMaxPool")):
        _MODULE_OPS[f"{_op}{_nd}d_forward"] = _module_with_args(getattr(nn, f"{_cls}{_nd}d"))
    _MODULE_OPS[f"conv_transpose{_nd}d_forward"] = _conv_transpose_module(_nd)
for _name, _factory in _MODULE_OPS.items():
    HANDLERS[_name] = _via_module(_factory)


def _group_norm(a):
    w, b = _constant(a["weight"]), _constant(a["bias"])
    x = _scalar(a["x"])
    m = nn.GroupNorm(a["num_groups"], x.shape[1], eps=a["eps"], affine=w is not None,
                     bias=b is not None, dtype=x.dtype)
    _set_affine(m, w, b)
    return m


def _instance_norm(a):
    if not a["use_input_stats"]:
        raise ExportError("instance_norm_forward(use_input_stats=False) (running "
                          "statistics) has no ONNX export; use batch_norm_forward")
    w, b = _constant(a["weight"]), _constant(a["bias"])
    x = _scalar(a["x"])
    cls = getattr(nn, f"InstanceNorm{x.ndim - 2}d")
    m = cls(x.shape[1], eps=a["eps"], affine=w is not None, bias=b is not None,
            dtype=x.dtype)
    _set_affine(m, w, b)
    return m


def _cell(cls, *copied):
    """A functional cell step as the cell module holding its weights (``copied``: the
    arguments the module takes as they are)."""
    def make(a):
        w_ih, w_hh = _constant(a["weight_ih"]), _constant(a["weight_hh"])
        b_ih, b_hh = _constant(a["bias_ih"]), _constant(a["bias_hh"])
        if (b_ih is None) != (b_hh is None):    # the one left out is zeros, as in the op
            b_ih, b_hh = (np.zeros_like(b_hh) if b_ih is None else b_ih,
                          np.zeros_like(b_ih) if b_hh is None else b_hh)
        kwargs = {k: a[k] for k in copied}
        m = cls(w_ih.shape[1], w_hh.shape[1], bias=b_ih is not None, dtype=w_ih.dtype,
                **kwargs)
        for name, arr in (("weight_ih", w_ih), ("weight_hh", w_hh), ("bias_ih", b_ih),
                          ("bias_hh", b_hh)):
            if arr is not None:
                setattr(m, name, Parameter(arr))
        return m
    return make


def _additive_attention(a):
    wq, wk, v = (_constant(a[k]) for k in ("weight_query", "weight_key", "v"))
    m = nn.AdditiveAttention(wq.shape[1], wk.shape[1], wq.shape[0], dtype=wq.dtype)
    m.weight_query, m.weight_key, m.v = Parameter(wq), Parameter(wk), Parameter(v)
    return m


HANDLERS["additive_attention_forward"] = _via_module(_additive_attention,
                                                     ("query", "keys", "mask"))
HANDLERS["group_norm_forward"] = _via_module(_group_norm)
HANDLERS["instance_norm_forward"] = _via_module(_instance_norm)
HANDLERS["gram_matrix_forward"] = _via_module(lambda a: nn.GramMatrix(a["normalize"]))
HANDLERS["rnn_cell_forward"] = _via_module(_cell(nn.RNNCell, "nonlinearity"),
                                           ("x", "hx"))
HANDLERS["gru_cell_forward"] = _via_module(_cell(nn.GRUCell), ("x", "hx"))
HANDLERS["lstm_cell_forward"] = _via_module(_cell(nn.LSTMCell), ("x", "hx", "cx"))


@_handles("scaled_dot_product_attention_forward")
def _attention(em, a, result):
    mask = a["attn_mask"]
    if a["is_causal"]:       # pydl's causal mask: key j is seen from query i when j <= i
        if mask is not None:
            raise ExportError("scaled_dot_product_attention_forward: attn_mask must be "
                              "None when is_causal=True")
        mask = np.tri(_scalar(a["query"]).shape[-2], _scalar(a["key"]).shape[-2], dtype=bool)
    a = dict(a, attn_mask=mask)
    module = nn.ScaledDotProductAttention(scale=a["scale"])
    return _via_module(lambda _: module, ("query", "key", "value", "attn_mask"))(em, a, result)


@_handles("linear_forward")
def _linear(em, a, result):
    x, w, b = a["x"], a["weight"], a["bias"]
    if isinstance(w, Tensor) and id(w) in em.names:
        wt = _node(em, "Transpose", [em.names[id(w)]], perm=[1, 0])
    else:    # a parameter: stored transposed, no Transpose at run time
        wt = em.name(np.ascontiguousarray(np.asarray(_scalar(w)).T), hint="weight_t")
    y = _node(em, "MatMul", [em.name(x), wt])
    return y if b is None else _node(em, "Add", [y, em.name(b)])


def _conv_handler(nd):
    def conv(em, a, result):
        x, w, b = a["x"], a["weight"], a["bias"]
        if isinstance(x, Tensor) and x.data.ndim != nd + 2:
            raise ExportError(f"conv{nd}d_forward on unbatched input cannot be exported; "
                              f"give it a batch axis")
        w_arr = _scalar(w)
        kernel = w_arr.shape[2:]
        stride = _ntuple(a["stride"], nd)
        dilation = _ntuple(a["dilation"], nd)
        low, high = conv_padding(a["padding"], nd, kernel, stride, dilation)
        inputs = [em.name(x), em.name(w)] + ([] if b is None else [em.name(b)])
        return _node(em, "Conv", inputs, kernel_shape=list(kernel), strides=list(stride),
                     pads=list(low) + list(high), dilations=list(dilation),
                     group=int(a["groups"]))
    return conv


def _ntuple(v, nd):
    return tuple(int(i) for i in v) if isinstance(v, (tuple, list)) else (int(v),) * nd


for _nd in (1, 2, 3):
    HANDLERS[f"conv{_nd}d_forward"] = _conv_handler(_nd)


@_handles("embedding_forward")
def _embedding(em, a, result):
    return _node(em, "Gather", [em.name(a["weight"]), em.name(a["indices"], np.int64)],
                 axis=0)


@_handles("dropout_forward", "channel_dropout_forward")
def _dropout(em, a, result):
    if a["training"] and a["p"] > 0:
        raise ExportError(f"{a['__op__']}(training=True) is random; pass "
                          f"training=self.training so the export (eval mode) is the identity")
    return [_node(em, "Identity", [em.name(a["x"])])]




def _sequence(kind):
    """``rnn_forward`` / ``lstm_forward`` / ``gru_forward``: one layer, one direction,
    time-major (T, N, I); states (N, H)."""
    def handler(em, a, result):
        weights = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        _require_constants(em, a, weights)
        params = [tuple(_constant(a[k]) for k in weights)]
        axis0 = em.ctx.int64([0], "axes")
        states = [a["h0"], a["c0"] if kind == "lstm" else None]
        h0, c0 = (None if s is None else _node(em, "Unsqueeze", [em.name(s), axis0])
                  for s in states)
        y, h, c = recurrent_op(em.ctx, kind, em.name(a["x"]), params, h0, c0,
                               params[0][1].shape[1], a.get("nonlinearity", "tanh"),
                               "reverse" if a["reverse"] else "forward", kind)
        outs = [_node(em, "Squeeze", [y, em.ctx.int64([1], "axes")])]
        return outs + [_node(em, "Squeeze", [s, axis0]) for s in (h, c) if s is not None]
    return handler


for _kind in ("rnn", "lstm", "gru"):
    HANDLERS[f"{_kind}_forward"] = _sequence(_kind)
