"""The first fallback of ONNX export: a module whose forward only calls its direct
submodules is converted call by call, as recorded on the example input."""

import threading

import numpy as np

from .. import nn

__all__ = ["convert_by_calls"]


def _outputs(out):
    return list(out) if isinstance(out, tuple) else [out]


def _snapshot(values):
    return [v.copy() if isinstance(v, np.ndarray) else v for v in values]


def _callable_children(module):
    """(name, module) of the direct submodules, a ModuleList's items in its place
    (``for layer in self.layers: x = layer(x)``)."""
    found = []
    for name, child in module.named_children():
        if isinstance(child, nn.ModuleList):
            found += [(f"{name}.{sub}", item) for sub, item in child.named_children()]
        else:
            found.append((name, child))
    return found


def convert_by_calls(module, ctx, inputs):
    """Convert a module whose forward only chains calls of its direct submodules (and
    of the items of its ModuleLists).

    Runs the forward on the example arrays with each child's forward wrapped to note
    (child, its input arrays, its outputs). Arrays are matched by identity, and their
    values then must not have changed in between (an in-place edit outside the
    submodules), so any arithmetic done outside the submodules leaves an unmatched
    array and the module is not taken (None)."""
    children = _callable_children(module)
    if not children or type(module).forward is nn.Module.forward:
        return None
    calls = []
    me = threading.get_ident()

    def wrap(name, child):
        original = child.forward

        def forward(*args, **kwargs):
            if threading.get_ident() != me:      # another thread using the model
                return original(*args, **kwargs)
            seen = _snapshot(args)
            out = original(*args, **kwargs)
            calls.append((name, child, args, seen, kwargs, out, _snapshot(_outputs(out))))
            return out
        return forward

    wrapped = []
    try:
        for name, child in children:
            if "forward" in child.__dict__:
                return None        # already wrapped (a child shared in two places)
            object.__setattr__(child, "forward", wrap(name, child))
            wrapped.append(child)
        given = {id(ctx.value(i)): ctx.value(i).copy() for i in inputs}
        # forward itself, on arrays: a module whose subtree is not all explicit (a
        # ModuleList has no backward) would be sent to the tape by __call__, and its
        # children handed tensors; a forward that needs tensors (tensor methods or
        # operators on arrays) fails here, and the module is left to the other
        # fallbacks (tracing), which report any real error
        try:
            result = module.forward(*[ctx.value(i) for i in inputs])
        except (AttributeError, TypeError, ValueError):
            return None
    finally:
        for child in wrapped:
            object.__delattr__(child, "forward")

    def known_as(arr, seen, known):
        return isinstance(arr, np.ndarray) and id(arr) in known and \
            np.array_equal(seen, known[id(arr)], equal_nan=arr.dtype.kind == "f")

    known = dict(given)
    for _, _, args, seen, kwargs, out, out_seen in calls:   # decide before any node
        outs = _outputs(out)
        if kwargs or not all(known_as(a, v, known) for a, v in zip(args, seen)) \
                or not all(isinstance(o, np.ndarray) for o in outs):
            return None
        for o, v in zip(outs, out_seen):
            known.setdefault(id(o), v)
    results = _outputs(result)
    if not all(known_as(r, r, known) for r in results):
        return None
    names = {id(ctx.value(i)): i for i in inputs}
    for name, child, args, _, _, out, _ in calls:
        produced = ctx.convert(child, [names[id(a)] for a in args], name)
        for arr, got in zip(_outputs(out), produced):
            names.setdefault(id(arr), got)
    return [names[id(r)] for r in results]
