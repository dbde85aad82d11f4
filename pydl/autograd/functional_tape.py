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

from .._grad_mode import _local as _mode
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


def _binder(sig):
    """What :func:`_bind` needs of ``sig``: (positional names, all names in order,
    defaults); None for a signature with ``*args``, ``**kwargs`` or positional-only
    parameters (those go through ``Signature.bind``)."""
    pos, names, defaults = [], [], {}
    for p in sig.parameters.values():
        if p.kind is p.POSITIONAL_OR_KEYWORD:
            if len(pos) != len(names):      # after a keyword-only one: not Python
                return None
            pos.append(p.name)
        elif p.kind is not p.KEYWORD_ONLY:
            return None
        names.append(p.name)
        if p.default is not p.empty:
            defaults[p.name] = p.default
    return tuple(pos), tuple(names), defaults


def _bind(binder, sig, args, kwargs):
    """``(arguments, bound)``: ``sig.bind(*args, **kwargs)`` with defaults applied, as
    a dict in the signature's order (``BoundArguments.arguments``), and None, without
    inspect's cost (about 10 us a call) for the calls a simple signature allows; the
    others, errors included, through ``Signature.bind`` (then ``bound`` is the
    BoundArguments, whose ``args``/``kwargs`` make the call)."""
    if binder is not None:
        pos, names, defaults = binder
        n = len(args)
        if n <= len(pos):
            a = dict(zip(pos, args))
            used = 0
            for k in names[n:]:
                if kwargs and k in kwargs:
                    a[k] = kwargs[k]
                    used += 1
                elif k in defaults:
                    a[k] = defaults[k]
                else:
                    break                   # missing: Signature.bind says so
            else:
                if not kwargs or used == len(kwargs):
                    return a, None
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    return bound.arguments, bound


def _call(fn, a, bound):
    """``fn`` on the bound arguments ``a`` (``bound``: the BoundArguments, or a tuple of
    positional arguments, or None to pass ``a`` by name)."""
    if bound is None:
        return fn(**a)
    if type(bound) is tuple:
        return fn(*bound)
    return fn(*bound.args, **bound.kwargs)


def _call_no_grad(fn, a, bound):
    """_call under no_grad() (without contextlib's cost)."""
    previous = _mode.enabled
    _mode.enabled = False
    try:
        return _call(fn, a, bound)
    finally:
        _mode.enabled = previous


def _record(name, fn, sig, args, kwargs, binder=None):
    outputs, backward_rule = RULES[name]
    a, bound = _bind(binder, sig, args, kwargs)
    tensors = {}
    dtype = None
    for k, v in a.items():
        if isinstance(v, Tensor):
            tensors[k] = v
            d = v.data
            a[k] = d
            d = d.dtype
            if d in _FLOATS:
                if dtype is None:
                    dtype = d
                elif d != dtype:
                    raise TypeError(f"{name}: the tensors mix float32 and float64; give "
                                    f"them one dtype")
    need = {k for k, t in tensors.items() if t.requires_grad} if _mode.enabled else set()
    positions = outputs if outputs is not None else (0,)
    if not need:
        out = _call_no_grad(fn, a, bound)
        if not isinstance(out, tuple):
            return _as_result(out, dtype)
        return tuple(_as_result(o, dtype) if i in positions else o for i, o in enumerate(out))
    if "need_grad" in a:        # a loss computes its gradient when asked
        a["need_grad"] = True
    out = _call(fn, a, bound)
    outs = out if isinstance(out, tuple) else (out,)
    diff = [np.asarray(outs[i], dtype=dtype) if isinstance(outs[i], float) else outs[i]
            for i in positions]
    inputs_order = tuple(need)
    node = Node(_functional_backward, tuple([tensors[k] for k in inputs_order]),
                name[:-len("_forward")], len(diff), _versions(tensors.values()),
                tuple([(d.shape, d.dtype) for d in diff]) if len(diff) != 1 else None,
                (backward_rule, a, outs, need, inputs_order))
    if outputs is None and not isinstance(out, tuple):
        return Tensor._wrap(diff[0], node, 0)
    wrapped = {i: Tensor._wrap(d, node, k) for k, (i, d) in enumerate(zip(positions, diff))}
    if not isinstance(out, tuple):
        return wrapped[0]
    # Caches, masks and indices stay arrays: constants for the backward twin.
    return tuple(wrapped.get(i, o) for i, o in enumerate(out))


def _functional_backward(grads, ctx):
    backward_rule, a, outs, need, inputs_order = ctx
    got = backward_rule(a, outs, grads, need)
    return tuple([got.get(k) for k in inputs_order])


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
    binder = _binder(sig)
    outputs, backward_rule = RULES[name]
    twin = getattr(backward_rule, "from_output", None) if outputs is None else None
    if twin is not None:
        short = name[:-len("_forward")]

        @functools.wraps(fn)
        def op(*args, **kwargs):
            if not kwargs and len(args) == 1 and type(args[0]) is Tensor:
                return _record_from_output(fn, twin, short, args[0])
            if has_tensor(args, kwargs):
                return _record(name, fn, sig, args, kwargs, binder)
            return fn(*args, **kwargs)
        return op

    @functools.wraps(fn)
    def op(*args, **kwargs):
        if has_tensor(args, kwargs):
            return _record(name, fn, sig, args, kwargs, binder)
        return fn(*args, **kwargs)
    return op


def _record_from_output(fn, twin, name, x):
    """``_record`` of ``op(x)`` for an op with one array output whose gradient is
    ``twin(grad, output)`` (the activations): the same node, without binding
    arguments or building the rule's argument dict."""
    d = x.data
    if not (x.requires_grad and _mode.enabled):
        return _as_result(_call_no_grad(fn, {"x": d}, (d,)), d.dtype if d.dtype in _FLOATS
                          else None)
    out = fn(d)
    if type(out) is not np.ndarray:
        out = np.asarray(out, dtype=d.dtype) if isinstance(out, float) else out
    vc = x._vc
    node = Node(_from_output_backward, (x,), name, 1, (x, 0 if vc is None else vc[0]), None,
                (twin, out))
    return Tensor._wrap(out, node, 0)


def _from_output_backward(grads, ctx):
    twin, out = ctx
    return (twin(grads[0], out),)


from . import functional_rules  # noqa: E402,F401  (registers the rules)
