"""Differentiable tensor ops: arithmetic with NumPy broadcasting, reductions, shapes,
indexing, joins. Each op computes its value with NumPy (or a pydl kernel) and, when a
Tensor input requires gradients, records a node whose backward returns one gradient
per input, summed back to that input's shape.

The operators and methods of :class:`~pydl.autograd.tensor.Tensor` are bound at the
end of this module.
"""

import builtins
import numbers

import numpy as np

from .._grad_mode import _local as _mode
from .graph import Node, bumps as _bumps, versions as _graph_versions
from .tensor import _FLOATS, Tensor, _check_inplace

_wrap = Tensor._wrap

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "matmul",
    "exp", "log", "sqrt", "abs", "clip", "clamp", "maximum", "minimum", "where",
    "sum", "mean", "max", "min", "var", "std",
    "reshape", "flatten", "transpose", "permute", "squeeze", "unsqueeze",
    "concatenate", "cat", "stack", "split", "pad",
    "relu", "sigmoid", "tanh",
]


# ----------------------------------------------------------------- helpers
def _float_dtype(*tensors):
    """The one float dtype of the tensors given, or None; mixing is an error."""
    found = None
    for t in tensors:
        dt = t.data.dtype
        if dt in _FLOATS:
            if found is not None and dt != found:
                raise TypeError("an op mixes float32 and float64 tensors; convert one "
                                "(pydl.tensor(x.data.astype(...)) or module.to(dtype)) so "
                                "both have the same dtype")
            found = dt
    return found


def _operand(x, like):
    """``x`` as a Tensor for an op with the tensor ``like``: Python numbers stay
    numbers (NumPy keeps the tensor's dtype), arrays are wrapped without a gradient."""
    tx = type(x)
    if tx is float or tx is int or tx is Tensor:
        return x
    if isinstance(x, (Tensor, numbers.Number, np.generic)):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind == "f" and like.data.dtype.kind == "f" and arr.dtype != like.data.dtype:
        raise TypeError(f"an op mixes a {like.data.dtype} tensor with a {arr.dtype} array; "
                        f"cast the array to {like.data.dtype}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"cannot use an array of dtype {arr.dtype} in a tensor op")
    return Tensor._wrap(arr)


def _unbroadcast(g, shape):
    """Sum ``g`` down to ``shape`` (the inverse of NumPy broadcasting)."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


def _needs(*tensors):
    if not _mode.enabled:
        return False
    for t in tensors:
        if isinstance(t, Tensor) and t.requires_grad:
            return True
    return False


_new_tensor = Tensor.__new__
_new_node = Node.__new__


def _result(data, node):
    """The tensor an op returns (``Tensor._wrap`` without its keywords: this runs once
    per recorded op)."""
    t = _new_tensor(Tensor)
    t.data = data
    t.grad = None
    t.requires_grad = node is not None
    t._node = node
    t._out_index = 0
    t._vc = None
    return t


def _versions(saved):
    """``Node.saved`` of the tensors ``saved``: each followed by its version."""
    if len(saved) == 1:
        x = saved[0]
        vc = x._vc
        return (x, 0 if vc is None else vc[0])
    return _graph_versions(saved)


def _record(data, inputs, backward, name, saved=(), ctx=None):
    """The result tensor of an op; a node when gradients are wanted (``backward`` is
    called as ``backward(grads, ctx)`` when ``ctx`` is given, see graph.Node)."""
    if type(data) is not np.ndarray:
        data = np.asarray(data)
    if _mode.enabled:
        for t in inputs:
            if isinstance(t, Tensor) and t.requires_grad:
                # one output: its gradient always arrives, so no out_meta (graph.Node)
                node = Node(backward, tuple([x if isinstance(x, Tensor) and x.requires_grad
                                             else None for x in inputs]), name, 1,
                            _versions(saved) if saved else (), None, ctx)
                return _result(data, node)
    return _result(data, None)


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _axis_tuple(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor of {ndim} dimensions")
        out.append(int(a) % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"axis {axis!r} repeats a dimension")
    return tuple(out)


def _reduce_args(axis, keepdims, dim, keepdim):
    """NumPy's (axis, keepdims) and PyTorch's (dim, keepdim) spellings."""
    if dim is not None:
        if axis is not None:
            raise TypeError("give axis or dim, not both")
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    return axis, bool(keepdims)


def _expand_reduced(g, shape, axes, keepdims):
    """A reduction's output gradient broadcast back over the reduced axes."""
    if not keepdims and axes:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


# -------------------------------------------------------------- arithmetic
def _binary_inputs(a, b):
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            da, db = a.data.dtype, b.data.dtype
            if da != db and da in _FLOATS and db in _FLOATS:
                _float_dtype(a, b)          # raises
            return a, b
        return a, _operand(b, a)
    if isinstance(b, Tensor):
        return _operand(a, b), b
    a = _as_tensor(a, "a")
    return a, _operand(b, a)


# Python numbers (exactly float or int) with a tensor: the common ``x * 0.5``,
# ``1 - x``, without _binary_inputs and without a closure where the backward needs
# none. The gradients are those of the general path (the scalar keeps the tensor's
# shape, so nothing is summed back).
def _first(grads):
    return grads[0], None


def _second(grads):
    return None, grads[0]


def _neg_second(grads):
    return None, -grads[0]


def _mul_number_first(grads, b):
    return grads[0] * b, None


def _mul_number_second(grads, a):
    return None, grads[0] * a


def _div_number_first(grads, b):
    return grads[0] / b, None


def _with_number(x, out, backward, name, inputs, ctx=None):
    """The result of an op of the tensor ``x`` with a Python number. None of these
    backwards reads ``x``'s data (``x * c`` needs ``c`` only, as in PyTorch), so the
    node saves nothing: an in-place change of ``x`` afterwards is no error."""
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    t = _new_tensor(Tensor)             # _result, inlined
    t.data = out
    t.grad = None
    if x.requires_grad and _mode.enabled:
        t.requires_grad = True
        node = _new_node(Node)          # Node(backward, inputs, ...) without the call
        node.backward = backward
        node.inputs = inputs
        node.name = name
        node.n_out = 1
        node.saved = ()
        node.out_meta = None
        node.ctx = ctx
        node.epoch = _bumps[0]
        t._node = node
    else:
        t.requires_grad = False
        t._node = None
    t._out_index = 0
    t._vc = None
    return t


def _shape(x):
    return x.shape if type(x) is np.ndarray else np.shape(x)


# The general binary ops: backward(grads, (a, b, da, db)), a module-level function
# and one tuple rather than a closure with four cells.
def _add_backward(grads, ctx):
    a, b, da, db = ctx
    g = grads[0]
    return (_unbroadcast(g, _shape(da)) if _wants(a) else None,
            _unbroadcast(g, _shape(db)) if _wants(b) else None)


def _sub_backward(grads, ctx):
    a, b, da, db = ctx
    g = grads[0]
    return (_unbroadcast(g, _shape(da)) if _wants(a) else None,
            _unbroadcast(-g, _shape(db)) if _wants(b) else None)


def _mul_backward(grads, ctx):
    a, b, da, db = ctx
    g = grads[0]
    ga = _unbroadcast(g * db, _shape(da)) if _wants(a) else None
    gb = _unbroadcast(g * da, _shape(db)) if _wants(b) else None
    return ga, gb


def _div_backward(grads, ctx):
    a, b, da, db, out = ctx
    g = grads[0]
    ga = _unbroadcast(g / db, _shape(da)) if _wants(a) else None
    gb = _unbroadcast(-g * out / db, _shape(db)) if _wants(b) else None
    return ga, gb


def add(a, b):
    """``a + b`` with broadcasting."""
    if isinstance(a, Tensor):
        tb = type(b)
        if tb is float or tb is int:
            return _with_number(a, a.data + b, _first, "add", (a, None))
    elif isinstance(b, Tensor):
        ta = type(a)
        if ta is float or ta is int:
            return _with_number(b, a + b.data, _second, "add", (None, b))
    a, b = _binary_inputs(a, b)
    da, db = _data(a), _data(b)
    return _record(da + db, (a, b), _add_backward, "add", (), (a, b, da, db))


def sub(a, b):
    """``a - b`` with broadcasting."""
    if isinstance(a, Tensor):
        tb = type(b)
        if tb is float or tb is int:
            return _with_number(a, a.data - b, _first, "sub", (a, None))
    elif isinstance(b, Tensor):
        ta = type(a)
        if ta is float or ta is int:
            return _with_number(b, a - b.data, _neg_second, "sub", (None, b))
    a, b = _binary_inputs(a, b)
    da, db = _data(a), _data(b)
    return _record(da - db, (a, b), _sub_backward, "sub", (), (a, b, da, db))


def mul(a, b):
    """``a * b`` with broadcasting."""
    if isinstance(a, Tensor):
        tb = type(b)
        if tb is float or tb is int:
            return _with_number(a, a.data * b, _mul_number_first, "mul", (a, None), b)
    elif isinstance(b, Tensor):
        ta = type(a)
        if ta is float or ta is int:
            return _with_number(b, a * b.data, _mul_number_second, "mul", (None, b), a)
    a, b = _binary_inputs(a, b)
    da, db = _data(a), _data(b)
    return _record(da * db, (a, b), _mul_backward, "mul", _saved(a, b), (a, b, da, db))


def div(a, b):
    """``a / b`` with broadcasting."""
    if isinstance(a, Tensor):
        tb = type(b)
        if tb is float or tb is int:
            return _with_number(a, a.data / b, _div_number_first, "div", (a, None), b)
    a, b = _binary_inputs(a, b)
    da, db = _data(a), _data(b)
    out = da / db
    return _record(out, (a, b), _div_backward, "div", _saved(a, b), (a, b, da, db, out))


def _neg_backward(grads):
    return (-grads[0],)


def neg(a):
    """``-a``."""
    return _record(-a.data, (a,), _neg_backward, "neg")


def pow(a, b):
    """``a ** b`` with broadcasting (either may be a tensor)."""
    a, b = _binary_inputs(a, b)
    da, db = _data(a), _data(b)
    out = da ** db

    def backward(grads):
        g = grads[0]
        ga = gb = None
        if _wants(a):
            ga = _unbroadcast(g * db * da ** (db - 1), _shape(da))
        if _wants(b):
            # d/db a**b = a**b log a; taken as 0 where a == 0 (the limit for b > 0).
            with np.errstate(divide="ignore", invalid="ignore"):
                logs = np.where(da > 0, np.log(np.where(da > 0, da, 1)), np.where(da == 0, 0, np.nan))
            gb = _unbroadcast(g * out * logs, _shape(db))
        return ga, gb
    return _record(out, (a, b), backward, "pow", _saved(a, b))


def _wants(x):
    return isinstance(x, Tensor) and x.requires_grad


def _saved(a, b):
    if isinstance(a, Tensor):
        return (a, b) if isinstance(b, Tensor) else (a,)
    return (b,)


def matmul(a, b):
    """``a @ b`` with NumPy's rules (1-D operands, broadcast batch dimensions)."""
    a, b = _binary_inputs(a, b)
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul needs two arrays or tensors, not a scalar")
    da, db = a.data, b.data
    if da.ndim == 0 or db.ndim == 0:
        raise ValueError("matmul: both operands need at least one dimension")
    return _record(da @ db, (a, b), _matmul_backward, "matmul", (a, b), (a, b, da, db))


def _matmul_backward(grads, ctx):
    a, b, da, db = ctx
    a2 = da[None, :] if da.ndim == 1 else da
    b2 = db[:, None] if db.ndim == 1 else db
    # The gradient in the shape of a2 @ b2 (1-D operands promoted to matrices).
    g2 = grads[0].reshape(np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
                          + (a2.shape[-2], b2.shape[-1]))
    ga = gb = None
    if a.requires_grad:
        ga = g2 @ np.swapaxes(b2, -1, -2)
        ga = _unbroadcast(ga, a2.shape).reshape(da.shape)
    if b.requires_grad:
        gb = np.swapaxes(a2, -1, -2) @ g2
        gb = _unbroadcast(gb, b2.shape).reshape(db.shape)
    return ga, gb


# ----------------------------------------------------------------- unary
def _as_tensor(x, name="input"):
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    return Tensor._wrap(arr)


def exp(x):
    """``e ** x`` elementwise."""
    x = _as_tensor(x)
    out = np.exp(x.data)
    return _record(out, (x,), _exp_backward, "exp", (), out)


def _exp_backward(grads, out):
    return (grads[0] * out,)


def log(x):
    """Natural logarithm elementwise."""
    x = _as_tensor(x)
    return _record(np.log(x.data), (x,), _log_backward, "log", (x,), x)


def _log_backward(grads, x):
    return (grads[0] / x.data,)


def sqrt(x):
    """Square root elementwise."""
    x = _as_tensor(x)
    out = np.sqrt(x.data)
    return _record(out, (x,), _sqrt_backward, "sqrt", (), out)


def _sqrt_backward(grads, out):
    return (grads[0] / (2 * out),)


def abs(x):
    """``|x|`` elementwise (gradient 0 at 0, as PyTorch)."""
    x = _as_tensor(x)
    out = np.abs(x.data)

    def backward(grads):
        return (grads[0] * np.sign(x.data),)
    return _record(out, (x,), backward, "abs", (x,))


def clip(x, min=None, max=None):
    """Limit values to ``[min, max]``; the gradient passes where ``min <= x <= max``."""
    x = _as_tensor(x)
    if min is None and max is None:
        raise ValueError("clip needs min, max or both")
    lo, hi = _data(min), _data(max)
    out = np.clip(x.data, lo, hi)

    def backward(grads):
        keep = np.ones(x.data.shape, bool)
        if lo is not None:
            keep &= x.data >= lo
        if hi is not None:
            keep &= x.data <= hi
        return (np.where(keep, grads[0], 0).astype(x.data.dtype, copy=False),)
    return _record(out, (x,), backward, "clip", (x,))


clamp = clip


def _extremum(a, b, pick, name):
    a, b = _binary_inputs(a, b)
    da, db = _data(a), _data(b)
    out = pick(da, db)

    def backward(grads):
        g = grads[0]
        # Ties share the gradient equally, as PyTorch does.
        first = np.where(da == db, 0.5, (pick(da, db) == da).astype(g.dtype)).astype(g.dtype)
        ga = _unbroadcast(g * first, np.shape(da)) if _wants(a) else None
        gb = _unbroadcast(g * (1 - first), np.shape(db)) if _wants(b) else None
        return ga, gb
    return _record(out, (a, b), backward, name, _saved(a, b))


def maximum(a, b):
    """Elementwise maximum with broadcasting; ties split the gradient."""
    return _extremum(a, b, np.maximum, "maximum")


def minimum(a, b):
    """Elementwise minimum with broadcasting; ties split the gradient."""
    return _extremum(a, b, np.minimum, "minimum")


def where(condition, a, b):
    """``a`` where ``condition`` holds, else ``b`` (broadcast); the condition gets no
    gradient."""
    cond = np.asarray(_data(condition), dtype=bool)
    a, b = _binary_inputs(a, b)
    da, db = _data(a), _data(b)
    out = np.where(cond, da, db)

    def backward(grads):
        g = grads[0]
        zero = np.zeros((), g.dtype)
        ga = _unbroadcast(np.where(cond, g, zero), np.shape(da)) if _wants(a) else None
        gb = _unbroadcast(np.where(cond, zero, g), np.shape(db)) if _wants(b) else None
        return ga, gb
    return _record(out, (a, b), backward, "where")


_functional = []


def _kernel_activation(x, name):
    """The functional op ``name`` on a tensor: its kernel, and the node its tape rule
    records (pydl.functional is imported when first used: it imports this package;
    kept here after, as an import statement per call costs about 1 us)."""
    if not _functional:
        from .. import functional
        _functional.append(functional)
    return getattr(_functional[0], name)(_as_tensor(x))


def relu(x):
    """``max(x, 0)`` elementwise, on pydl's kernel."""
    return _kernel_activation(x, "relu_forward")


def sigmoid(x):
    """Logistic sigmoid elementwise, on pydl's kernel."""
    return _kernel_activation(x, "sigmoid_forward")


def tanh(x):
    """Hyperbolic tangent elementwise, on pydl's kernel."""
    return _kernel_activation(x, "tanh_forward")


# ------------------------------------------------------------- reductions
def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Sum over ``axis`` (all by default); ``dim``/``keepdim`` are PyTorch's names."""
    x = _as_tensor(x)
    axis, keepdims = _reduce_args(axis, keepdims, dim, keepdim)
    axes = _axis_tuple(axis, x.data.ndim)
    shape = x.data.shape
    out = np.sum(x.data, axis=axes, keepdims=keepdims)
    return _record(out, (x,), _sum_backward, "sum", (), (shape, axes, keepdims))


def _sum_backward(grads, ctx):
    shape, axes, keepdims = ctx
    return (_expand_reduced(grads[0], shape, axes, keepdims),)


def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Mean over ``axis`` (all by default)."""
    x = _as_tensor(x)
    axis, keepdims = _reduce_args(axis, keepdims, dim, keepdim)
    axes = _axis_tuple(axis, x.data.ndim)
    shape = x.data.shape
    count = 1                           # np.prod of a list cost ~3 us
    for a in axes:
        count *= shape[a]
    out = np.mean(x.data, axis=axes, keepdims=keepdims)
    return _record(out, (x,), _mean_backward, "mean", (), (x, count, shape, axes, keepdims))


def _mean_backward(grads, ctx):
    x, count, shape, axes, keepdims = ctx
    g = grads[0] / x.data.dtype.type(count) if count else grads[0]
    return (_expand_reduced(g, shape, axes, keepdims),)


def _extreme_reduce(x, axis, keepdims, dim, keepdim, fn, name):
    x = _as_tensor(x)
    axis, keepdims = _reduce_args(axis, keepdims, dim, keepdim)
    axes = _axis_tuple(axis, x.data.ndim)
    if x.data.size == 0:
        raise ValueError(f"{name}() of an empty tensor")
    shape = x.data.shape
    out = fn(x.data, axis=axes, keepdims=keepdims)

    def backward(grads):
        kept = out if keepdims else np.expand_dims(out, axes)
        hit = (x.data == kept)
        count = hit.sum(axis=axes, keepdims=True)
        g = _expand_reduced(grads[0], shape, axes, keepdims)
        return ((g * hit / count).astype(x.data.dtype, copy=False),)
    return _record(out, (x,), backward, name, (x,))


def max(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Maximum over ``axis``; tied maxima share the gradient equally (``torch.amax``)."""
    return _extreme_reduce(x, axis, keepdims, dim, keepdim, np.max, "max")


def min(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Minimum over ``axis``; tied minima share the gradient equally (``torch.amin``)."""
    return _extreme_reduce(x, axis, keepdims, dim, keepdim, np.min, "min")


def var(x, axis=None, keepdims=False, *, correction=1, dim=None, keepdim=None):
    """Variance over ``axis`` with Bessel's ``correction`` (1, PyTorch's default;
    0 gives NumPy's ``np.var``)."""
    x = _as_tensor(x)
    axis, keepdims = _reduce_args(axis, keepdims, dim, keepdim)
    axes = _axis_tuple(axis, x.data.ndim)
    shape = x.data.shape
    n = int(np.prod([shape[a] for a in axes], dtype=np.int64)) if axes else 1
    if isinstance(correction, bool) or not isinstance(correction, (int, np.integer)) \
            or correction < 0:
        raise ValueError(f"correction must be an int >= 0, got {correction!r}")
    centered = x.data - x.data.mean(axis=axes, keepdims=True)
    denom = n - correction
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sum(centered * centered, axis=axes, keepdims=keepdims) / x.data.dtype.type(denom)

    def backward(grads):
        g = _expand_reduced(grads[0], shape, axes, keepdims)
        return ((g * centered * x.data.dtype.type(2.0 / denom)).astype(x.data.dtype,
                                                                         copy=False),)
    return _record(out, (x,), backward, "var")


def std(x, axis=None, keepdims=False, *, correction=1, dim=None, keepdim=None):
    """Standard deviation: ``sqrt(var(...))``."""
    return sqrt(var(x, axis, keepdims, correction=correction, dim=dim, keepdim=keepdim))


# ------------------------------------------------------------------ shapes
def reshape(x, *shape):
    """The same elements in a new shape (``-1`` infers one dimension)."""
    x = _as_tensor(x)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    old = x.data.shape
    out = x.data.reshape(shape)
    return _view_result(out, x, _reshape_backward, "reshape", old)


def _reshape_backward(grads, old):
    return (grads[0].reshape(old),)


def _view_result(out, x, backward, name, ctx=None):
    """Ops whose result may share ``x``'s data share its version counter too."""
    t = _record(out, (x,), backward, name, (), ctx)
    if np.shares_memory(out, x.data):
        t._vc = x._shared_vc()
    return t


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dimensions ``start_dim..end_dim`` into one (PyTorch's ``flatten``)."""
    x = _as_tensor(x)
    nd = x.data.ndim
    if nd == 0:
        return reshape(x, 1)
    s, e = _axis_tuple(start_dim, nd)[0], _axis_tuple(end_dim, nd)[0]
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = x.data.shape
    return reshape(x, shape[:s] + (-1 if 0 not in shape else 0,) + shape[e + 1:]) \
        if s != e else reshape(x, shape)


def permute(x, *dims):
    """Reorder the dimensions: result dimension i is input dimension ``dims[i]``."""
    x = _as_tensor(x)
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if len(dims) != x.data.ndim:
        raise ValueError(f"permute needs {x.data.ndim} dimensions, got {dims}")
    axes = _axis_tuple(dims, x.data.ndim)
    inverse = [0] * len(axes)           # np.argsort(axes), without its 2 us
    for i, a in enumerate(axes):
        inverse[a] = i
    out = x.data.transpose(axes)
    return _view_result(out, x, _permute_backward, "permute", tuple(inverse))


def _permute_backward(grads, inverse):
    return (grads[0].transpose(inverse),)


def transpose(x, dim0=None, dim1=None):
    """Swap dimensions ``dim0`` and ``dim1`` (PyTorch); with neither given, reverse
    all dimensions (NumPy's ``transpose()``, ``tensor.T``)."""
    x = _as_tensor(x)
    nd = x.data.ndim
    if dim0 is None and dim1 is None:
        return permute(x, tuple(reversed(range(nd))))
    if dim0 is None or dim1 is None:
        raise TypeError("transpose needs both dim0 and dim1, or neither")
    a, b = _axis_tuple((dim0,), nd)[0], _axis_tuple((dim1,), nd)[0]
    order = list(range(nd))
    order[a], order[b] = order[b], order[a]
    return permute(x, tuple(order))


def squeeze(x, axis=None):
    """Drop dimensions of size 1 (all of them, or those in ``axis``)."""
    x = _as_tensor(x)
    out = np.squeeze(x.data, axis=axis)
    return reshape(x, out.shape)


def unsqueeze(x, dim):
    """Insert a dimension of size 1 at ``dim``."""
    x = _as_tensor(x)
    return reshape(x, np.expand_dims(x.data, dim).shape)


# ---------------------------------------------------------------- indexing
def _is_basic_index(idx):
    items = idx if isinstance(idx, tuple) else (idx,)
    for i in items:
        if not (i is None or i is Ellipsis or isinstance(i, slice) or (
                isinstance(i, (int, np.integer)) and not isinstance(i, bool))):
            return False
    return True


def _unwrap_index(idx):
    if isinstance(idx, Tensor):
        return idx.data
    if isinstance(idx, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in idx)
    if isinstance(idx, list):
        return np.asarray([i.data if isinstance(i, Tensor) else i for i in idx])
    return idx


def getitem(x, idx):
    """``x[idx]``: basic slicing (a view) or integer/bool-array indexing (a copy);
    repeated indices add their gradients (scatter-add)."""
    idx = _unwrap_index(idx)
    out = x.data[idx]
    basic = _is_basic_index(idx)
    ctx = (x.data.shape, x.data.dtype, idx, basic)
    if basic:
        return _view_result(out, x, _getitem_backward, "index", ctx)
    return _record(out, (x,), _getitem_backward, "index", (), ctx)


def _getitem_backward(grads, ctx):
    shape, dtype, idx, basic = ctx
    g = np.zeros(shape, dtype)
    if basic or (isinstance(idx, np.ndarray) and idx.dtype == bool):
        g[idx] = grads[0]
    else:
        np.add.at(g, idx, grads[0])
    return (g,)


def setitem(x, idx, value):
    """``x[idx] = value`` in place, for tensors outside autograd (no_grad, or none
    requires grad)."""
    _check_inplace(x, value)
    x.data[_unwrap_index(idx)] = _data(value)
    x._bump_version()


# ------------------------------------------------------------------ joins
def _tensor_list(tensors, name):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{name} takes a list or tuple of tensors")
    if not tensors:
        raise ValueError(f"{name} needs at least one tensor")
    ts = [_as_tensor(t) for t in tensors]
    _float_dtype(*ts)
    return ts


def concatenate(tensors, axis=0, *, dim=None):
    """Join tensors along an existing axis (``torch.cat``)."""
    if dim is not None:
        axis = dim
    ts = _tensor_list(tensors, "concatenate")
    out = np.concatenate([t.data for t in ts], axis=axis)
    ax = _axis_tuple(axis, out.ndim)[0]
    bounds = np.cumsum([t.data.shape[ax] for t in ts])[:-1]

    def backward(grads):
        return tuple(np.split(grads[0], bounds, axis=ax))
    return _record(out, tuple(ts), backward, "concatenate")


cat = concatenate


def stack(tensors, axis=0, *, dim=None):
    """Join tensors of one shape along a new axis."""
    if dim is not None:
        axis = dim
    ts = _tensor_list(tensors, "stack")
    out = np.stack([t.data for t in ts], axis=axis)
    ax = _axis_tuple(axis, out.ndim)[0]

    def backward(grads):
        return tuple(np.moveaxis(grads[0], ax, 0))
    return _record(out, tuple(ts), backward, "stack")


def split(x, indices_or_sections, axis=0, *, dim=None):
    """Split into pieces along ``axis`` (NumPy's ``np.split`` arguments: a number of
    equal sections or the indices to cut at). Returns a list of tensors."""
    if dim is not None:
        axis = dim
    x = _as_tensor(x)
    ax = _axis_tuple(axis, x.data.ndim)[0]
    pieces = np.split(x.data, indices_or_sections, axis=ax)
    if not _needs(x):
        vc = x._shared_vc()
        return [Tensor._wrap(p, vc=vc) for p in pieces]
    meta = tuple((p.shape, p.dtype) for p in pieces)

    def backward(grads):
        return (np.concatenate(grads, axis=ax),)
    node = Node(backward, (x,), "split", len(pieces), (), meta)
    vc = x._shared_vc()
    return [Tensor._wrap(p, node, i, vc=vc) for i, p in enumerate(pieces)]


def pad(x, pad_width, mode="constant", value=0.0):
    """Pad with a constant (NumPy's ``pad_width``: one ``(before, after)`` pair per
    dimension, or one pair for all)."""
    if mode != "constant":
        raise ValueError(f"pad supports mode='constant', got {mode!r}")
    x = _as_tensor(x)
    width = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.data.ndim, 2))
    if (width < 0).any():
        raise ValueError(f"pad_width must be >= 0, got {pad_width!r}")
    out = np.pad(x.data, width, mode="constant", constant_values=value)
    region = tuple(slice(int(b), int(b) + n) for (b, _), n in zip(width, x.data.shape))

    def backward(grads):
        return (grads[0][region],)
    return _record(out, (x,), backward, "pad")


# -------------------------------------------------- Tensor methods/operators
def _reflect(fn):
    return lambda self, other: fn(other, self)


def _inplace(fn):
    def op(self, other):
        _check_inplace(self, other)
        value = fn(self.detach(), other).data
        if value.shape != self.data.shape:
            raise ValueError(f"in-place result has shape {value.shape}, the tensor "
                             f"{self.data.shape}")
        self.data[...] = value
        self._bump_version()
        return self
    return op


def _compare(ufunc):
    def op(self, other):
        return Tensor._wrap(ufunc(self.data, _data(other)))
    return op


Tensor.__add__ = add
Tensor.__radd__ = _reflect(add)
Tensor.__sub__ = sub
Tensor.__rsub__ = _reflect(sub)
Tensor.__mul__ = mul
Tensor.__rmul__ = _reflect(mul)
Tensor.__truediv__ = div
Tensor.__rtruediv__ = _reflect(div)
Tensor.__pow__ = pow
Tensor.__rpow__ = _reflect(pow)
Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = _reflect(matmul)
Tensor.__neg__ = neg
Tensor.__pos__ = lambda self: self
Tensor.__iadd__ = _inplace(add)
Tensor.__isub__ = _inplace(sub)
Tensor.__imul__ = _inplace(mul)
Tensor.__itruediv__ = _inplace(div)
Tensor.__lt__ = _compare(np.less)
Tensor.__le__ = _compare(np.less_equal)
Tensor.__gt__ = _compare(np.greater)
Tensor.__ge__ = _compare(np.greater_equal)
Tensor.__eq__ = _compare(np.equal)
Tensor.__ne__ = _compare(np.not_equal)
Tensor.__getitem__ = getitem
Tensor.__setitem__ = setitem
Tensor.__abs__ = abs

def _numpy_compatible(fn):
    """A reduction method that also serves ``np.sum(tensor)`` and the like, which call
    ``tensor.sum(axis=..., dtype=None, out=None)``."""
    def method(self, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        if dtype is not None or out is not None:
            raise TypeError(f"{fn.__name__}: dtype= and out= are not supported on tensors")
        return fn(self, axis, keepdims, **kwargs)
    method.__name__ = fn.__name__
    method.__doc__ = fn.__doc__
    return method


for _name in ("sum", "mean", "max", "min"):
    setattr(Tensor, _name, _numpy_compatible(globals()[_name]))
for _name in ("exp", "log", "sqrt", "abs", "clip", "clamp", "var", "std", "reshape", "flatten", "transpose", "permute", "squeeze",
              "unsqueeze", "relu", "sigmoid", "tanh", "maximum", "minimum", "matmul",
              "pow"):
    setattr(Tensor, _name, globals()[_name])
Tensor.view = reshape
Tensor.T = property(lambda self: transpose(self))
del _name
