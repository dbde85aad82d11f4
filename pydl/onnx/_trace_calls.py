"""Noting the calls of one forward, for ONNX export by tracing.

While :func:`trace` runs ``module.forward`` on ``pydl.Tensor`` inputs, every tensor op
(``pydl.<op>``, the ``Tensor`` operators and methods), every ``pydl.functional``
forward op and every call of a module with an explicit backward and a converter is
noted: its name, its arguments (bound by name) and its result. The functions are
swapped for noting twins for the duration (in the tracing thread only; others run
the originals) and put back after; ops that a noted op calls inside (flatten ->
reshape, a module's layers) are not noted. The tape itself is not changed.
"""

import contextlib
import inspect
import threading
import warnings

from .. import autograd as _autograd_pkg
from .. import functional as _functional
from .._grad_mode import enable_grad
from ..autograd import ops as _ops
from ..autograd.tensor import Tensor, has_tensor
from ..nn.module import Module
from ._export import _converter_for

__all__ = ["COMPARE", "Call", "flat_tensors", "trace"]

# Tensor ops that are noted (by their name in pydl.autograd.ops).
_OP_NAMES = tuple(_ops.__all__) + ("getitem",)
# The comparison operators and their ONNX ops.
COMPARE = {"__lt__": "Less", "__le__": "LessOrEqual", "__gt__": "Greater",
           "__ge__": "GreaterOrEqual", "__eq__": "Equal", "__ne__": "NotEqual"}


class Call:
    """One noted call: ``kind`` "op" / "functional" / "module", its name, its bound
    arguments (or, for a module, the module, args and kwargs) and its result."""

    __slots__ = ("args", "kind", "module", "name", "result")

    def __init__(self, kind, name, args, result, module=None):
        self.kind, self.name, self.args, self.result, self.module = kind, name, args, result, module


def flat_tensors(value, out):
    """Tensors in ``value`` (nested tuples/lists), depth first."""
    if isinstance(value, Tensor):
        out.append(value)
    elif isinstance(value, (tuple, list)):
        for v in value:
            flat_tensors(v, out)
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
        self.calls.append(Call(kind, name, noted, result, module))
        self.made.update(id(t) for t in flat_tensors(result, []))
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
        for dunder in COMPARE:
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


def trace(module, examples):
    """Run ``module.forward`` on tensors over ``examples``; (calls, inputs, result).

    Float inputs require gradients, so a tensor made by an op the tracer did not see
    still carries that op's node, and the error can name it."""
    tracer = _Tracer()
    inputs = [Tensor(x, requires_grad=x.dtype.kind == "f") for x in examples]
    with _TRACE_LOCK, enable_grad(), _patched(tracer, inputs):
        result = module.forward(*inputs)
    return tracer.calls, inputs, result
