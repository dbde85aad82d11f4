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

Here: the fallback, the comparison of the two runs and the emitter; the noting of the
calls is in :mod:`._trace_calls`, the ONNX of each op in :mod:`._trace_ops`.
"""

import inspect
import warnings

import numpy as np

from ..autograd.tensor import Tensor
from ..nn.module import Module
from ..nn.parameter import Parameter
from ._export import ExportError, register_fallback
from ._trace_calls import COMPARE, flat_tensors, trace
from ._trace_ops import HANDLERS, SHAPE_OPS, onnx_dtype

__all__ = ["trace_module"]


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
            for r in flat_tensors(c.result, []):
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
        r1, r2 = flat_tensors(c1.result, []), flat_tensors(c2.result, [])
        if len(r1) != len(r2):
            raise _Unaligned(f"{_label(c1)} returned a different number of tensors")
        pairs.extend(zip(r1, r2))
        for (key, v1), (_, v2) in zip(_arg_items(c1), _arg_items(c2)):
            sizes_free = c1.name in SHAPE_OPS and key != "x"   # the output shape decides
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
    if name in COMPARE:
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
                    got = self._node("Cast", [got], to=onnx_dtype(dtype))
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
                shape = self._node("Shape", [self.name(self.plan.inputs[follow[axis]])])
                parts.append(self._node("Gather", [shape, self.ctx.int64([0], "axis")],
                                        axis=0))
            else:
                parts.append(self.ctx.int64([n], "size"))
        out = self._node("Expand", [fill, self._node("Concat", parts, axis=0)])
        self.ctx.set_value(out, arr.astype(dtype or arr.dtype))
        return out

    def _node(self, op, inputs, **attrs):
        return self.ctx.node(op, inputs, **attrs)[0]

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
            self.ctx.batch_fixed = True   # export() then declares that batch size

    # ------------------------------------------------------------------- walk
    def emit(self, input_names):
        """Append the nodes of every noted call; returns the output names."""
        for t, name in zip(self.plan.inputs, input_names):
            self.bind(t, name)
        for call in self.plan.calls:
            outs = flat_tensors(call.result, [])
            if call.kind == "module":
                names = self._module(call)
            else:
                handler = HANDLERS.get(call.name)
                if handler is None:
                    raise ExportError(f"{_label(call)} ({call.kind} op) has no ONNX "
                                      f"export; the traceable ops are "
                                      f"{', '.join(sorted(HANDLERS))}")
                names = handler(self, call.args, call.result)
                names = [names] if isinstance(names, str) else list(names)
                if isinstance(call.result, Tensor) and call.result.data.ndim == 0:
                    # The context stores a 0-d constant 1-D (np.ascontiguousarray), and
                    # broadcasting with it would make this 0-d result 1-D.
                    names = [self._node("Reshape", [names[0], self.ctx.int64([])])]
            if len(names) != len(outs):
                raise ExportError(f"{_label(call)} gave {len(names)} ONNX outputs for "
                                  f"{len(outs)} tensors")
            for t, n in zip(outs, names):
                self.bind(t, n)
        flat = []
        _flatten(self.plan.result, flat, "an output of the forward")
        if any(v is None for v in flat):
            raise ExportError("an output of the forward is None: only tensors and numbers "
                              "can be exported")
        return [self.name(v) for v in flat]

    def _module(self, call):
        """The converter of a noted module call, on its tensor arguments flattened
        (``lstm(x, (h, c))`` -> x, h, c; trailing Nones left out)."""
        args, kwargs = call.args
        module = call.module
        sig = inspect.signature(module.forward)
        given = sig.bind(*args, **kwargs).arguments
        flat = []
        for name, param in sig.parameters.items():
            value = given.get(name, param.default)
            if param.kind is param.VAR_KEYWORD:
                if value:
                    raise ExportError(f"{_label(call)}: keyword arguments {sorted(value)} "
                                      f"cannot be exported")
                continue
            if value is param.empty or (not isinstance(value, (Tensor, np.ndarray))
                                        and _same(value, param.default)):
                value = None          # left at its default: not an input
            _flatten(value, flat, f"argument {name!r} of {_label(call)}", tensors_only=True)
        while flat and flat[-1] is None:
            flat.pop()
        if any(v is None for v in flat):
            raise ExportError(f"{_label(call)}: a None argument before a given one "
                              f"cannot be exported")
        inputs = [self.name(v) for v in flat]
        return self.ctx.convert(module, inputs, self.paths.get(id(module)))


def _same(value, default):
    try:
        return value is default or bool(value == default)
    except (TypeError, ValueError):
        return False


def _flatten(value, out, what, tensors_only=False):
    """Tensors and arrays (and numbers, unless ``tensors_only``; None kept where it
    is) of nested tuples/lists into ``out``, depth first."""
    if isinstance(value, (tuple, list)):
        for v in value:
            _flatten(v, out, what, tensors_only)
    elif value is None or isinstance(value, (Tensor, np.ndarray)) or (
            not tensors_only and isinstance(value, (np.generic, int, float))
            and not isinstance(value, bool)):
        out.append(value)
    else:
        raise ExportError(f"{what} is {_short(value)} ({type(value).__name__}): only "
                          f"tensors{'' if tensors_only else ' and numbers'} can be exported")


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
        calls, tensors, result = trace(module, examples)
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
                other = _Plan(*trace(module, others))
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
                ctx.batch_fixed = True    # export() then declares that batch size
    _normalize(calls)
    return _Emitter(ctx, plan, _module_paths(module)).emit(inputs)


register_fallback(trace_module)
