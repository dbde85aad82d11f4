"""``pydl.functional`` forward ops on tensors: each call becomes one node whose
backward calls the op's ``*_backward`` twin.

A rule per op says which outputs are differentiable and how the backward twin turns
their gradients into gradients of the tensor arguments. Arguments are bound by name
(``a["x"]``, ``a["weight"]``) with the tensors' arrays in place of the tensors; a rule
computes only the gradients that ``need`` names. An op called with no tensor runs
untouched (the explicit path pays one type check).
"""

import functools
import inspect

import numpy as np

from .._grad_mode import is_grad_enabled, no_grad
from .graph import Node, versions as _versions
from .tensor import _FLOATS, Tensor, has_tensor

__all__ = ["record_functional_ops", "RULES"]

# name -> (differentiable output positions or None for a single-array output,
#          backward(a, outs, grads, need) -> {argument name: gradient})
RULES = {}


def rule(*names, outputs=None):
    """Register ``backward(a, outs, grads, need)`` for the ops ``names``.

    ``outputs``: for ops returning a tuple, the positions of the differentiable
    outputs (their gradients arrive in ``grads`` in that order); None for ops that
    return one array.
    """
    def register(fn):
        for n in names:
            RULES[n] = (outputs, fn)
        return fn
    return register


def _as_result(value, dtype):
    """A differentiable output as a tensor without a node (arrays and float losses)."""
    if isinstance(value, np.ndarray):
        return Tensor._wrap(value)
    if isinstance(value, float):
        return Tensor._wrap(np.asarray(value, dtype=dtype))
    return value


def _record(name, fn, sig, args, kwargs):
    outputs, backward_rule = RULES[name]
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    tensors = {k: v for k, v in bound.arguments.items() if isinstance(v, Tensor)}
    for k, v in tensors.items():
        bound.arguments[k] = v.data
    floats = [t.data.dtype for t in tensors.values() if t.data.dtype in _FLOATS]
    dtype = floats[0] if floats else None
    if any(d != dtype for d in floats):
        raise TypeError(f"{name}: the tensors mix float32 and float64; give them one dtype")
    need = {k for k, t in tensors.items() if t.requires_grad} if is_grad_enabled() else set()
    positions = outputs if outputs is not None else (0,)
    if not need:
        with no_grad():
            out = fn(*bound.args, **bound.kwargs)
        if not isinstance(out, tuple):
            return _as_result(out, dtype)
        return tuple(_as_result(o, dtype) if i in positions else o for i, o in enumerate(out))
    if "need_grad" in bound.arguments:      # a loss computes its gradient when asked
        bound.arguments["need_grad"] = True
    out = fn(*bound.args, **bound.kwargs)
    a = bound.arguments
    outs = out if isinstance(out, tuple) else (out,)
    diff = [np.asarray(outs[i], dtype=dtype) if isinstance(outs[i], float) else outs[i]
            for i in positions]

    def backward(grads):
        got = backward_rule(a, outs, grads, need)
        return tuple(got.get(k) for k in inputs_order)

    inputs_order = tuple(need)
    node = Node(backward, tuple(tensors[k] for k in inputs_order), name[:-len("_forward")],
                len(diff), _versions(tensors.values()),
                tuple((d.shape, d.dtype) for d in diff))
    wrapped = {i: Tensor._wrap(d, node, k) for k, (i, d) in enumerate(zip(positions, diff))}
    if not isinstance(out, tuple):
        return wrapped[0]
    # Caches, masks and indices stay arrays: constants for the backward twin.
    return tuple(wrapped.get(i, o) for i, o in enumerate(out))


def record_functional_ops(namespace):
    """Replace each ``*_forward`` op in ``namespace`` that has a rule by a version that
    records a node when it is given tensors (the original stays as ``__wrapped__``)."""
    for name in list(namespace):
        if not name.endswith("_forward") or name not in RULES:
            continue
        fn = namespace[name]
        if hasattr(fn, "__wrapped__"):
            continue
        namespace[name] = _wrapper(name, fn)


def _wrapper(name, fn):
    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def op(*args, **kwargs):
        if has_tensor(args, kwargs):
            return _record(name, fn, sig, args, kwargs)
        return fn(*args, **kwargs)
    return op


from . import functional_rules  # noqa: E402,F401  (registers the rules)
