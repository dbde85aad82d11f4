"""ONNX export of models written with tensor ops, by tracing one forward.

A module with no converter of its own (a ``forward`` written with ``pydl.Tensor``
arithmetic, ``pydl.functional`` ops and calls of other modules) is exported by
running that forward on ``pydl.Tensor`` inputs while every tensor op, every
``pydl.functional`` forward op and every module call is noted with its arguments
(the functions are swapped for noting twins for the duration of the trace, in the
tracing thread only; the tape itself is not changed). Then each noted call becomes
ONNX nodes:

- tensor ops (``+ - * / ** @``, comparisons, reductions, shapes, indexing with
  slices/ints/None/one integer array, joins, ``pad``, ``where``, ``clip``...) map to
  their ONNX operators;
- functional ops map to ONNX directly (``linear``, ``conv*d``, ``embedding``), or
  through the converter of the module that wraps them (``softmax_forward(x, dim)`` is
  ``nn.Softmax(dim)``, pooling, norms, interpolate);
- a call of a module with an explicit ``backward`` and a converter is handed to that
  converter whole; a module without one is traced through in turn.

The forward runs a second time on other values, one row longer for a dynamic batch.
Sizes that change between the runs follow the batch, and shape arguments are written
so that they keep following it (``Reshape`` with -1/0, never a baked batch size). A
constant of one value sized by the batch (``np.zeros((len(x), H))``, an initial
state) becomes an ``Expand`` of the input's length. Refused, with the op named: a
tensor that follows the input but was computed outside the tensor ops (NumPy on
``.data``), and an op the tracer did not see. A graph that changes with the input
(a Python loop over the rows, a branch on a value) is exported as traced, with a
warning that it fits the example only; so is ``bool()``/``item()`` of a traced value.
"""

import contextlib
import inspect
import threading
import warnings

import numpy as np

from .. import autograd as _autograd_pkg
from .. import functional as _functional
from .. import nn
from .._grad_mode import enable_grad
from ..autograd import ops as _ops
from ..autograd.tensor import Tensor, has_tensor
from ..functional.conv import conv_padding
from ..nn.module import Module
from ..nn.parameter import Parameter
from ._export import ExportError, _converter_for, register_fallback

__all__ = []

_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min

# Tensor ops that are noted (by their name in pydl.autograd.ops); ops they call
# internally (flatten -> reshape) run unnoted inside the outer one.
_OP_NAMES = tuple(_ops.__all__) + ("getitem",)
_COMPARE = {"__lt__": "Less", "__le__": "LessOrEqual", "__gt__": "Greater",
            "__ge__": "GreaterOrEqual", "__eq__": "Equal", "__ne__": "NotEqual"}
# Ops whose shape arguments may follow the batch: the output shape decides.
_SHAPE_OPS = {"reshape", "flatten", "squeeze", "unsqueeze"}


# ===================================================================== the trace
class _Call:
    """One noted call: ``kind`` "op" / "functional" / "module", its name, its bound
    arguments (or, for a module, the module, args and kwargs) and its result."""

    __slots__ = ("args", "kind", "module", "name", "result")

    def __init__(self, kind, name, args, result, module=None):
        self.kind, self.name, self.args, self.result, self.module = kind, name, args, result, module


def _flat_tensors(value, out):
    """Tensors in ``value`` (nested tuples/lists), depth first."""
    if isinstance(value, Tensor):
        out.append(value)
    elif isinstance(value, (tuple, list)):
        for v in value:
            _flat_tensors(v, out)
    return out


class _Tracer:
    def __init__(self):
        self.calls = []
        self.depth = 0
        self.thread = threading.get_ident()
        self.made = set()       # ids of the traced values (kept alive by ``calls``)

    def active(self):
        return self.depth == 0 and threading.get_ident() == self.thread

    def run(self, kind, name, fn, args, kwargs, bind=None, module=None):
        """Call ``fn`` (unnoted inside) and note the call."""
        self.depth += 1
        try:
            result = fn(*args, **kwargs)
        finally:
            self.depth -= 1
        if module is None:
            bound = bind.bind(*args, **kwargs)
            bound.apply_defaults()
            noted = dict(bound.arguments)
        else:
            noted = (args[1:], kwargs)      # args[0] is the module
        self.calls.append(_Call(kind, name, noted, result, module))
        self.made.update(id(t) for t in _flat_tensors(result, []))
        return result


def _noting(tracer, kind, name, fn, bind):
    def traced(*args, **kwargs):
        if not tracer.active():
            return fn(*args, **kwargs)
        return tracer.run(kind, name, fn, args, kwargs, bind)
    traced.__wrapped__ = fn
    return traced


def _compare_signature(self, other):
    """The arguments of a comparison operator, as noted."""


_COMPARE_SIG = inspect.signature(_compare_signature)


def _noting_compare(tracer, dunder, fn):
    def traced(self, other):
        if not tracer.active():
            return fn(self, other)
        return tracer.run("op", dunder, fn, (self, other), {}, _COMPARE_SIG)
    return traced


def _noting_call(tracer, original_call):
    def __call__(module, *args, **kwargs):
        if not tracer.active():
            return original_call(module, *args, **kwargs)
        explicit = module._explicit()
        if explicit and not has_tensor(args, kwargs):     # on arrays: a constant
            tracer.depth += 1
            try:
                return original_call(module, *args, **kwargs)
            finally:
                tracer.depth -= 1
        if explicit and _converter_for(type(module)) is not None:
            return tracer.run("module", type(module).__name__, original_call,
                              (module, *args), kwargs, module=module)
        if explicit:     # no converter: its forward, run on tensors, is traced through
            return module.forward(*args, **kwargs)
        return original_call(module, *args, **kwargs)
    return __call__


def _noting_escape(tracer, name, fn):
    """``bool(t)``, ``float(t)``, ``t.item()``...: a traced value becomes a Python
    value, which the graph can only hold as the constant it is now."""
    def escape(self, *args, **kwargs):
        if tracer.active() and id(self) in tracer.made:
            warnings.warn(f"{name} of a traced tensor: its value now is written into the "
                          f"graph as a constant (a branch or size taken on it is fixed)",
                          UserWarning, stacklevel=2)
        return fn(self, *args, **kwargs)
    return escape


@contextlib.contextmanager
def _patched(tracer, inputs=()):
    """Swap the ops, the Tensor operators, the functional forward ops and
    ``Module.__call__`` for noting versions; everything is put back on exit."""
    restore = []

    def swap(owner, attr, value):
        restore.append((owner, attr, vars(owner).get(attr, _MISSING)))
        setattr(owner, attr, value)

    try:
        import pydl
        traced = {}
        for name in _OP_NAMES:
            fn = getattr(_ops, name)
            traced[name] = _noting(tracer, "op", name, fn, inspect.signature(fn))
            for owner in (_ops, _autograd_pkg, pydl):
                if getattr(owner, name, None) is fn:
                    swap(owner, name, traced[name])
        t = traced
        binary = {"add": ("__add__", "__radd__"), "sub": ("__sub__", "__rsub__"),
                  "mul": ("__mul__", "__rmul__"), "div": ("__truediv__", "__rtruediv__"),
                  "pow": ("__pow__", "__rpow__"), "matmul": ("__matmul__", "__rmatmul__")}
        for op, (direct, reflected) in binary.items():
            swap(Tensor, direct, t[op])
            swap(Tensor, reflected, _ops._reflect(t[op]))
        swap(Tensor, "__neg__", t["neg"])
        swap(Tensor, "__abs__", t["abs"])
        swap(Tensor, "__getitem__", t["getitem"])
        for dunder in _COMPARE:
            swap(Tensor, dunder, _noting_compare(tracer, dunder, Tensor.__dict__[dunder]))
        for name in ("sum", "mean", "max", "min"):
            swap(Tensor, name, _ops._numpy_compatible(t[name]))
        for name in ("exp", "log", "sqrt", "abs", "clip", "clamp", "var", "std", "reshape",
                     "flatten", "transpose", "permute", "squeeze", "unsqueeze", "relu",
                     "sigmoid", "tanh", "maximum", "minimum", "matmul", "pow"):
            swap(Tensor, name, t[name])
        swap(Tensor, "view", t["reshape"])
        detach = Tensor.detach
        swap(Tensor, "detach", _noting(tracer, "op", "detach", detach,
                                       inspect.signature(detach)))
        tracer.made.update(id(x) for x in inputs)
        for name in ("__bool__", "__float__", "__int__", "__index__", "item", "tolist"):
            swap(Tensor, name, _noting_escape(tracer, f"{name.strip('_')}()",
                                              vars(Tensor)[name]))
        swap(Tensor, "T", property(lambda self: t["transpose"](self)))
        for name in list(vars(_functional)):
            fn = getattr(_functional, name)
            if name.endswith("_forward") and callable(fn):
                swap(_functional, name,
                     _noting(tracer, "functional", name, fn, inspect.signature(fn)))
        swap(Module, "__call__", _noting_call(tracer, Module.__call__))
        yield
    finally:
        for owner, attr, old in reversed(restore):
            if old is _MISSING:
                delattr(owner, attr)
            else:
                setattr(owner, attr, old)


_MISSING = object()


# One trace at a time: two threads swapping the same functions would undo each other.
_TRACE_LOCK = threading.RLock()


def _trace(module, examples):
    """Run ``module.forward`` on tensors over ``examples``; (calls, inputs, result).

    Float inputs require gradients, so a tensor made by an op the tracer did not see
    still carries that op's node, and the error can name it."""
    tracer = _Tracer()
    inputs = [Tensor(x, requires_grad=x.dtype.kind == "f") for x in examples]
    with _TRACE_LOCK, enable_grad(), _patched(tracer, inputs):
        result = module.forward(*inputs)
    return tracer.calls, inputs, result


def _other_example(x, longer, rng):
    """Another input for the second run: rows rotated, one more if ``longer``, and
    floats scaled by 0.75-1.25 (zeros made small positive): so what follows the input
    changes even where the example is uniform (np.ones), with every sign kept."""
    y = np.roll(x, 1, axis=0)
    if longer:
        y = np.concatenate([y, x[:1]], axis=0)
    if y.dtype.kind == "f":
        u = rng.uniform(0.75, 1.25, y.shape).astype(y.dtype)
        y = np.where(y == 0, (u - 0.7) / 5, y * u).astype(y.dtype)
    return y


# ============================================================ the second run
class _Plan:
    """What the emitter needs: the calls, the names of the traced values and which
    dimensions of each value follow the batch."""

    def __init__(self, calls, inputs, result):
        self.calls, self.inputs, self.result = calls, inputs, result
        self.dynamic = {}       # id(tensor) -> tuple of bool per dim
        self.static_reason = None   # why no size could be told to follow the batch
        self.fills = {}         # id(constant) -> (constant, [(axis, input index)])

    def produced(self):
        """id -> tensor of every value made by a noted call or given as input."""
        made = {id(t): t for t in self.inputs}
        for c in self.calls:
            for r in _flat_tensors(c.result, []):
                made[id(r)] = r
        return made


def _unseen_op(tensor):
    return ExportError(
        f"a tensor made by {tensor._node.name!r} reached the traced graph, but the tracer "
        f"did not see that op (called through a reference made before the trace?); call "
        f"it as pydl.<op>, a Tensor method or pydl.functional.<op>")


def _outside_ops(what):
    return ExportError(
        f"{what} depends on the input (or its batch size) but was not computed by pydl "
        f"tensor ops (NumPy on .data?); write it with tensor ops")


def _short(v):
    if isinstance(v, np.ndarray):
        return f"an array of shape {v.shape}"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


class _Runs:
    """The two runs side by side, for comparing what their calls were given."""

    def __init__(self, plan, other):
        self.plan, self.other = plan, other
        self.made1, self.made2 = plan.produced(), other.produced()

    def batch_fill(self, a1, a2):
        """For two constant arrays that hold one value and differ only in sizes that
        are some input's length in both runs (``np.zeros((len(x), H))``): the
        ``(axis, input index)`` of those sizes; else None."""
        if a1.ndim != a2.ndim or not a1.size or not a2.size:
            return None
        value = a1.reshape(-1)[0]
        if not ((a1 == value).all() and (a2 == value).all()):
            return None
        lengths = [(len(x.data), len(y.data)) if x.data.ndim else None
                   for x, y in zip(self.plan.inputs, self.other.inputs)]
        sizes = []
        for axis, pair in enumerate(zip(a1.shape, a2.shape)):
            if pair[0] != pair[1]:
                if pair not in lengths:
                    return None
                sizes.append((axis, lengths.index(pair)))
        return sizes

    def compare(self, what, v1, v2, sizes_free=False):
        """Refuse an argument that follows the input without being a traced value (a
        fill sized by the batch becomes an Expand); an argument that follows the
        batch size (a Python number) makes the graph unaligned."""
        key = v1
        if isinstance(v1, Tensor):
            if id(v1) in self.made1:
                return
            if v1._node is not None:
                raise _unseen_op(v1)
            if not isinstance(v2, Tensor) or id(v2) in self.made2:
                raise _outside_ops(what)
            v1, v2 = v1.data, v2.data
        if isinstance(v1, np.ndarray) or isinstance(v2, np.ndarray):
            if not (isinstance(v1, np.ndarray) and isinstance(v2, np.ndarray)):
                raise _outside_ops(what)
            if v1.shape == v2.shape and np.array_equal(v1, v2):
                return
            sizes = self.batch_fill(v1, v2) if v1.shape != v2.shape else None
            if sizes is None:
                raise _outside_ops(what)
            self.plan.fills[id(key)] = (key, sizes)
        elif isinstance(v1, (tuple, list)) and isinstance(v2, (tuple, list)) \
                and len(v1) == len(v2):
            for a, b in zip(v1, v2):
                self.compare(what, a, b, sizes_free)
        elif not sizes_free and not _equal(v1, v2):
            raise _Unaligned(f"{what} changes with the input or its batch size "
                             f"({_short(v1)}, then {_short(v2)})")


def _equal(a, b):
    if isinstance(a, Module) or isinstance(b, Module):
        return a is b
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


def _arg_items(call):
    if call.kind == "module":
        args, kwargs = call.args
        return list(enumerate(args)) + sorted(kwargs.items())
    return list(call.args.items())


def _compare_runs(plan, other):
    """Mark the dimensions that changed between the runs; refuse a graph that did."""
    if len(plan.calls) != len(other.calls) or any(
            a.kind != b.kind or a.name != b.name for a, b in zip(plan.calls, other.calls)):
        raise _Unaligned("the forward made other calls on an input of another batch size "
                         "and values")
    runs = _Runs(plan, other)
    pairs = list(zip(plan.inputs, other.inputs))
    for c1, c2 in zip(plan.calls, other.calls):
        r1, r2 = _flat_tensors(c1.result, []), _flat_tensors(c2.result, [])
        if len(r1) != len(r2):
            raise _Unaligned(f"{_label(c1)} returned a different number of tensors")
        pairs.extend(zip(r1, r2))
        for (key, v1), (_, v2) in zip(_arg_items(c1), _arg_items(c2)):
            sizes_free = c1.name in _SHAPE_OPS and key != "x"   # the output shape decides
            runs.compare(f"argument {key!r} of {_label(c1)}", v1, v2, sizes_free)
    runs.compare("the forward's result", plan.result, other.result)
    for t1, t2 in pairs:
        s1, s2 = t1.data.shape, t2.data.shape
        if len(s1) != len(s2):
            raise _Unaligned("a value changed rank with the batch size")
        plan.dynamic[id(t1)] = tuple(a != b for a, b in zip(s1, s2))


class _Unaligned(Exception):
    """The second run does not tell which sizes follow the batch: the graph changed
    with it (``certain``), or the forward failed on the longer input (not certain
    that anything depends on it: then only sizes written into the graph are)."""

    def __init__(self, message, certain=True):
        super().__init__(message)
        self.certain = certain


def _label(call):
    if call.kind == "module":
        return f"the call of {call.name}"
    name = call.name
    if name in _COMPARE:
        name = {"__lt__": "<", "__le__": "<=", "__gt__": ">", "__ge__": ">=",
                "__eq__": "==", "__ne__": "!="}[name]
    return f"{name!r}"


# ====================================================================== emitting
class _Emitter:
    def __init__(self, ctx, plan, paths):
        self.ctx, self.plan, self.paths = ctx, plan, paths
        self.names = {}           # id(tensor) -> ONNX value name
        self.keep = []            # tensors named here stay alive (ids stay unique)
        self.fills = {}           # (id(constant), dtype) -> its Expand

    # ----------------------------------------------------------------- values
    def bind(self, tensor, name):
        self.names[id(tensor)] = name
        self.keep.append(tensor)
        if not self.ctx.has_value(name):
            self.ctx.set_value(name, tensor.data)

    def name(self, value, dtype=None, hint="const"):
        """The ONNX name of a tensor, array or number, as ``dtype`` if given (a Cast
        for a traced value of another dtype; constants become initializers)."""
        if id(value) in self.plan.fills:
            key = (id(value), dtype)
            if key not in self.fills:
                self.fills[key] = self._fill(*self.plan.fills[id(value)], dtype)
            return self.fills[key]
        if isinstance(value, Tensor):
            got = self.names.get(id(value))
            if got is not None:
                if dtype is not None and value.data.dtype != dtype:
                    to = self.ctx._onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
                    got = self.ctx.node("Cast", [got], to=to)[0]
                return got
            if value._node is not None:
                raise _unseen_op(value)
            hint = "param" if isinstance(value, Parameter) else hint
            arr = value.data
        else:
            arr = np.asarray(value)
        if dtype is not None and arr.dtype != dtype:
            arr = arr.astype(dtype)
        return self.ctx.initializer(arr, hint)

    def _fill(self, value, sizes, dtype):
        """A constant of one value whose sizes follow inputs' lengths: an Expand."""
        arr = value.data if isinstance(value, Tensor) else value
        fill = self.ctx.initializer(arr.reshape(-1)[:1].astype(dtype or arr.dtype), "fill")
        follow = dict(sizes)
        parts = []
        for axis, n in enumerate(arr.shape):
            if axis in follow:
                shape = _node(self, "Shape", [self.name(self.plan.inputs[follow[axis]])])
                parts.append(_node(self, "Gather", [shape, self.ctx.int64([0], "axis")],
                                   axis=0))
            else:
                parts.append(self.ctx.int64([n], "size"))
        out = _node(self, "Expand", [fill, _node(self, "Concat", parts, axis=0)])
        self.ctx.set_value(out, arr.astype(dtype or arr.dtype))
        return out

    def dyn(self, tensor):
        return self.plan.dynamic.get(id(tensor), (False,) * tensor.data.ndim)

    def writing_sizes(self, what):
        """Note that ``what`` writes sizes into the graph: without a second run that
        told which follow the batch, they are the example's (said once)."""
        reason = self.plan.static_reason
        if reason is not None:
            warnings.warn(f"{reason}; so {what} is exported with the example's sizes, and "
                          f"the file runs at that batch size only", UserWarning,
                          stacklevel=4)
            self.plan.static_reason = None

    # ------------------------------------------------------------------- walk
    def emit(self, input_names):
        """Append the nodes of every noted call; returns the output names."""
        for t, name in zip(self.plan.inputs, input_names):
            self.bind(t, name)
        for call in self.plan.calls:
            outs = _flat_tensors(call.result, [])
            if call.kind == "module":
                names = self._module(call)
            else:
                handler = _HANDLERS.get(call.name)
                if handler is None:
                    raise ExportError(f"{_label(call)} ({call.kind} op) has no ONNX "
                                      f"export; write the model with the ops listed in "
                                      f"pydl.onnx._export_trace")
                names = handler(self, call.args, call.result)
                names = [names] if isinstance(names, str) else list(names)
                if isinstance(call.result, Tensor) and call.result.data.ndim == 0:
                    # Scalar constants are stored 1-D: keep a 0-d result 0-d.
                    names = [_node(self, "Reshape", [names[0], self.ctx.int64([])])]
            if len(names) != len(outs):
                raise ExportError(f"{_label(call)} gave {len(names)} ONNX outputs for "
                                  f"{len(outs)} tensors")
            for t, n in zip(outs, names):
                self.bind(t, n)
        flat = []
        _flatten_result(self.plan.result, flat)
        return [self.name(v) for v in flat]

    def _module(self, call):
        args, kwargs = call.args
        module = call.module
        if kwargs:
            sig = inspect.signature(module.forward)
            bound = sig.bind(*args, **kwargs)
            args = bound.args
        flat = []
        for a in args:
            _flatten_result(a, flat, allow_none=True)
        while flat and flat[-1] is None:
            flat.pop()
        if any(v is None for v in flat):
            raise ExportError(f"{_label(call)}: a None argument before a given one "
                              f"cannot be exported")
        inputs = [self.name(v) for v in flat]
        return self.ctx.convert(module, inputs, self.paths.get(id(module)))


def _flatten_result(value, out, allow_none=False):
    if isinstance(value, (tuple, list)):
        for v in value:
            _flatten_result(v, out, allow_none)
    elif value is None and allow_none:
        out.append(None)
    elif isinstance(value, (Tensor, np.ndarray, np.generic, int, float)) and \
            not isinstance(value, bool):
        out.append(value)
    else:
        raise ExportError(f"the traced forward returned or passed a {type(value).__name__}, "
                          f"which is not a tensor")


# ====================================================================== handlers
_HANDLERS = {}


def _handles(*names):
    def register(fn):
        for n in names:
            _HANDLERS[n] = fn
        return fn
    return register


def _dtype_of(result):
    return result.data.dtype


def _node(em, op, inputs, **attrs):
    return em.ctx.node(op, inputs, **attrs)[0]


_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow",
           "matmul": "MatMul", "maximum": "Max", "minimum": "Min"}


@_handles(*_BINARY)
def _binary(em, a, result):
    dtype = _dtype_of(result)
    return _node(em, _BINARY[a["__op__"]], [em.name(a["a"], dtype),
                                                      em.name(a["b"], dtype)])


_UNARY = {"neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "abs": "Abs",
          "relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}


@_handles(*_UNARY)
def _unary(em, a, result):
    x = a.get("x", a.get("a"))
    return _node(em, _UNARY[a["__op__"]], [em.name(x)])


@_handles(*_COMPARE)
def _compare(em, a, result):
    x, y = a["self"], a["other"]
    dx = x.data.dtype if isinstance(x, Tensor) else np.asarray(x).dtype
    dy = y.data.dtype if isinstance(y, Tensor) else np.asarray(y).dtype
    dtype = dx if not isinstance(y, Tensor) and np.ndim(y) == 0 else np.result_type(dx, dy)
    op = _COMPARE[a["__op__"]]
    negate = op == "NotEqual"
    out = _node(em, "Equal" if negate else op, [em.name(x, dtype),
                                                em.name(y, dtype)])
    return _node(em, "Not", [out]) if negate else out


@_handles("detach")
def _detach(em, a, result):
    return _node(em, "Identity", [em.name(a["self"])])


@_handles("where")
def _where(em, a, result):
    dtype = _dtype_of(result)
    cond = a["condition"]
    if isinstance(cond, Tensor) and id(cond) in em.names:
        c = em.names[id(cond)]
        if cond.data.dtype != np.bool_:
            c = _node(em, "Cast", [c], to=em.ctx._onnx.TensorProto.BOOL)
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
        return _node(em, "Clip", [x, "" if lo is None else em.name(_scalar(lo), dtype),
                                  "" if hi is None else em.name(_scalar(hi), dtype)])
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
        count = _node(em, "Cast", [count], to=em.ctx._onnx.helper.np_dtype_to_tensor_dtype(dtype))
        denom = _node(em, "Sub", [count, em.name(a["correction"], dtype)])
    else:
        em.writing_sizes(f"{a['__op__']!r}'s count")
        n = int(np.prod([x.data.shape[i] for i in axes])) if axes else 1
        denom = em.name(n - a["correction"], dtype)
    out = _node(em, "Div", [squares, denom])
    return _node(em, "Sqrt", [out]) if a["__op__"] == "std" else out


# ---------------------------------------------------------------------- shapes
@_handles(*_SHAPE_OPS)
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
    if 0 in [s for i, s in enumerate(target) if not dyn_out[i] and shape[i] == 0]:
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
def _via_module(factory):
    """A functional op exported by the converter of the module that wraps it (its
    other tensor arguments become that module's parameters: they must be constants)."""
    def handler(em, a, result):
        op = a["__op__"]
        for key, value in a.items():
            if key != "x" and isinstance(value, Tensor) and id(value) in em.names:
                raise ExportError(f"{op} with a {key} computed in the forward cannot be "
                                  f"exported; use a Parameter or a constant")
        return em.ctx.convert(factory(a), [em.name(a["x"])], op[:-len("_forward")])
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


def _layer_norm(a):
    w = _constant(a["weight"])
    b = _constant(a["bias"])
    m = nn.LayerNorm(a["normalized_shape"], eps=a["eps"], elementwise_affine=w is not None,
                     bias=b is not None, dtype=_scalar(a["x"]).dtype)
    if w is not None:
        m.weight = Parameter(w)
    if b is not None:
        m.bias = Parameter(b)
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
    if w is not None:
        m.weight = Parameter(w)
    if b is not None:
        m.bias = Parameter(b)
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
        m.weight = Parameter(w)
        if b is not None:
            m.bias = Parameter(b)
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
    _HANDLERS[_name] = _via_module(_factory)


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
    _HANDLERS[f"conv{_nd}d_forward"] = _conv_handler(_nd)


@_handles("embedding_forward")
def _embedding(em, a, result):
    return _node(em, "Gather", [em.name(a["weight"]), em.name(a["indices"], np.int64)],
                 axis=0)


@_handles("dropout_forward")
def _dropout(em, a, result):
    if a["training"] and a["p"] > 0:
        raise ExportError("dropout_forward(training=True) is random; pass "
                          "training=self.training so the export (eval mode) is the identity")
    return [_node(em, "Identity", [em.name(a["x"])])]


# ==================================================================== the fallback
def _normalize(calls):
    """Tag each call's arguments with its op name (handlers serve several ops)."""
    for c in calls:
        if c.kind != "module":
            c.args["__op__"] = c.name


def _module_paths(root):
    return {id(m): name for name, m in root.named_modules() if name}


def trace_module(module, ctx, inputs):
    """Convert ``module`` applied to the ONNX values ``inputs`` by tracing its forward.

    Returns the output names (the forward's tensors, nested results flattened depth
    first). Registered as a fallback of :func:`pydl.onnx.export`.
    """
    examples = [np.asarray(ctx.value(i)) for i in inputs]
    try:
        calls, tensors, result = _trace(module, examples)
    except ExportError:
        raise
    except Exception as exc:
        raise NotImplementedError(
            f"cannot export {type(module).__name__}: it has no ONNX converter, and running "
            f"its forward on pydl.Tensor inputs to trace it failed: "
            f"{type(exc).__name__}: {exc}") from exc
    plan = _Plan(calls, tensors, result)
    if all(x.ndim > 0 and len(x) for x in examples):
        # What follows the input changes in the second run, constants must not.
        dynamic = getattr(ctx, "dynamic_batch", True)
        rng = np.random.default_rng(0)
        others = [_other_example(x, dynamic, rng) for x in examples]
        try:
            try:
                other = _Plan(*_trace(module, others))
            except Exception as exc:     # any failure there: static sizes
                raise _Unaligned(f"the forward failed on inputs one row longer "
                                 f"({type(exc).__name__}: {exc})", certain=False) from exc
            _compare_runs(plan, other)
        except _Unaligned as exc:
            plan.dynamic = {}
            plan.static_reason = f"{type(module).__name__}: {exc}"
            if exc.certain:
                warnings.warn(f"{plan.static_reason}; the graph is exported as traced at "
                              f"the example's batch size and runs at that size only",
                              UserWarning, stacklevel=2)
                plan.static_reason = None
    _normalize(calls)
    return _Emitter(ctx, plan, _module_paths(module)).emit(inputs)


register_fallback(trace_module)
