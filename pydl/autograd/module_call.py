"""Recording a module call on the tape.

A module whose whole subtree has explicit ``backward`` methods (every pydl layer,
loss and container of them) is one node: its forward runs on the tensors' arrays, the
caches its subtree saved are moved out of the modules into the node, and the node's
backward puts them back for the duration of ``module.backward``. So each call owns its
cache, and a module called k times in one forward gets k nodes whose gradients add up.

A module that defines only ``forward`` runs that forward on tensors, and the tensor
ops and module calls inside it record themselves.
"""

import inspect

import numpy as np

from .._grad_mode import _local as _mode
from .graph import Node, bumps as _bumps
from .tensor import _FLOATS, Tensor, has_tensor

_ndarray = np.ndarray

__all__ = ["has_tensor", "call_module", "call_on_one_tensor"]


def _unwrap(x):
    if isinstance(x, Tensor):
        return x.data
    if type(x) in (tuple, list):
        return type(x)(_unwrap(b) for b in x)
    return x


def _tensors_in(args, out):
    """Append every Tensor in ``args`` (one level of tuples) to ``out``, in order."""
    for a in args:
        if isinstance(a, Tensor):
            out.append(a)
        elif type(a) in (tuple, list):
            _tensors_in(a, out)
    return out


def _wrap_outputs(out, node, metas, dtype=None):
    """Tensors in place of the arrays (and the Python-float loss) in ``out``; a Python
    float takes ``dtype``, the inputs' float type."""
    if isinstance(out, np.ndarray) or isinstance(out, (float, np.floating)):
        k = len(metas)
        arr = np.asarray(out, dtype=dtype if isinstance(out, float) and dtype else None)
        if node is not None and arr.dtype in _FLOATS:
            metas.append((arr.shape, arr.dtype))
            return Tensor._wrap(arr, node, k)
        return Tensor._wrap(arr)
    if type(out) in (tuple, list):
        return type(out)(_wrap_outputs(o, node, metas, dtype) for o in out)
    return out


def _grad_structure(out, grads, pos):
    """Rebuild the nesting of ``out`` with the gradients of its float arrays."""
    if isinstance(out, np.ndarray) or isinstance(out, (float, np.floating)):
        arr = np.asarray(out)
        if arr.dtype in _FLOATS:
            g = grads[pos[0]]
            pos[0] += 1
            return g[()] if arr.ndim == 0 else g
        return None
    if type(out) in (tuple, list):
        return tuple(_grad_structure(o, grads, pos) for o in out)
    return None


def _match_input_grads(args, returned, out):
    """Pair a backward's return value with the tensors among the call's arguments.

    A single array is the first argument's gradient; a tuple follows the arguments'
    order and nesting (``(gx, (gh, gc))`` for ``cell(x, (h, c))``).
    """
    if not isinstance(returned, tuple):
        returned = (returned,)
    for a, g in zip(args, returned):
        if isinstance(a, Tensor):
            out.append((a, g))
        elif type(a) in (tuple, list):
            if g is None:
                g = (None,) * len(a)
            _match_input_grads(a, g if isinstance(g, tuple) else (g,), out)
    return out


def _input_dtype(inputs, params):
    for t in (*inputs, *params):
        if t.data.dtype in _FLOATS:
            return t.data.dtype
    return None


_SIGNATURES = {}


def _positional(module, args, kwargs):
    """Keyword arguments that hold tensors moved into position (``lstm(x, hx=s)``)."""
    cls = type(module)
    sig = _SIGNATURES.get(cls)
    if sig is None:
        sig = _SIGNATURES[cls] = inspect.signature(module.forward)
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{cls.__name__}.forward: {exc}") from None
    return bound.args, bound.kwargs


def call_module(module, args, kwargs):
    """``module(*args, **kwargs)`` with tensors among the arguments, or a module that
    has no explicit backward."""
    info = module._tape_info()
    if not info[1]:
        # Forward written with tensor ops: arrays become tensors, so the result is one.
        args = tuple(Tensor._wrap(a) if isinstance(a, np.ndarray) else a for a in args)
        return module.forward(*args, **kwargs)
    if not kwargs:
        first = args[0] if args else None
        if isinstance(first, Tensor):
            if len(args) == 1:
                return call_on_one_tensor(module, first, info)
            if _arrays_only(args, 1):       # loss(out, target): one node input
                return call_on_one_tensor(module, first, info, args[1:])
        inputs, raw_args = _flat_call(args)
        raw_kwargs = kwargs
    else:
        inputs = None
    if inputs is None:
        if kwargs and has_tensor((), kwargs):
            args, kwargs = _positional(module, args, kwargs)
        inputs = _tensors_in(args, [])
        raw_args = _unwrap(args)
        raw_kwargs = {k: _unwrap(v) for k, v in kwargs.items()} if kwargs else kwargs
    params = info[3]
    if not _needs_grad(inputs, params):
        out = _forward_no_grad(module, raw_args, raw_kwargs)
        return _wrap_outputs(out, None, [], _input_dtype(inputs, params))

    out, caches = _forward_taking_caches(module, raw_args, raw_kwargs, info)
    return _record_call(module, args, inputs, out, caches, info)


def _arrays_only(args, start):
    """Whether ``args[start:]`` hold no Tensor and no tuple or list (arrays, numbers,
    None: what the node needs no gradient for)."""
    for i in range(start, len(args)):
        a = args[i]
        ta = type(a)
        if ta is _ndarray:
            continue
        if ta is tuple or ta is list or isinstance(a, Tensor):
            return False
    return True


def _flat_call(args):
    """``(tensors, arrays)`` of positional arguments none of which is a tuple or list
    (``loss(out, target)``); ``(None, None)`` otherwise."""
    inputs = []
    raw = []
    for a in args:
        if isinstance(a, Tensor):
            inputs.append(a)
            raw.append(a.data)
        elif type(a) in (tuple, list):
            return None, None
        else:
            raw.append(a)
    return inputs, tuple(raw)


def _needs_grad(inputs, params):
    """Whether a call records a node: grad mode on and an input or a parameter that
    requires a gradient."""
    if not _mode.enabled:
        return False
    for t in inputs:
        if t.requires_grad:
            return True
    for p in params:
        if p.requires_grad:
            return True
    return False


def _forward_no_grad(module, args, kwargs):
    """``module.forward`` under no_grad() (without contextlib's cost)."""
    previous = _mode.enabled
    _mode.enabled = False
    try:
        return module.forward(*args, **kwargs) if kwargs else module.forward(*args)
    finally:
        _mode.enabled = previous


# The caches of a recorded call. A module's explicit-path state is ``(_saved,
# _calls)``: around the forward the tape keeps that state, takes what the forward
# saved and puts the state back; around the node's backward it lends the cache back
# (with ``_calls`` 1) and restores the state after. Where every member of the subtree
# keeps Module's hooks (``info[4]``, "plain") these moves are done here on the
# members' __dict__, not by four method calls per member; a subtree with another kind
# of state (RNN cells) goes through its hooks. The caches are one object for a module
# with no submodules, else a list in the order of ``info[2]``.
def _forward_taking_caches(module, args, kwargs, info):
    """Run ``module.forward`` on arrays and move the caches its subtree saved out of
    the modules (the explicit path's state is put back); returns ``(out, caches)``."""
    members = info[2]
    if info[4]:
        if len(members) == 1:
            d = module.__dict__
            saved = d.get("_saved")
            calls = d.get("_calls", 0)
            try:
                out = module.forward(*args, **kwargs) if kwargs else module.forward(*args)
            finally:
                cache = d.get("_saved")
                d["_saved"] = saved
                d["_calls"] = calls
            return out, cache
        dicts = [m.__dict__ for m in members]
        before = [(d.get("_saved"), d.get("_calls", 0)) for d in dicts]
        try:
            out = module.forward(*args, **kwargs) if kwargs else module.forward(*args)
        finally:
            caches = [d.get("_saved") for d in dicts]
            for d, (saved, calls) in zip(dicts, before):
                d["_saved"] = saved
                d["_calls"] = calls
        return out, caches
    before = [m._tape_stash() for m in members]
    try:
        out = module.forward(*args, **kwargs) if kwargs else module.forward(*args)
    except BaseException:
        for m, state in zip(members, before):
            m._tape_unstash(state)
        raise
    return out, [m._tape_take(state) for m, state in zip(members, before)]


def _module_backward(module, members, plain, caches, grad_output):
    """``module.backward(grad_output)`` with the caches of one recorded call lent to
    the modules of its subtree (their own state is put back after)."""
    if plain:
        if len(members) == 1:
            d = module.__dict__
            saved = d.get("_saved")
            calls = d.get("_calls", 0)
            d["_saved"] = caches
            d["_calls"] = 1
            try:
                return module.backward(grad_output)
            finally:
                d["_saved"] = saved
                d["_calls"] = calls
        dicts = [m.__dict__ for m in members]
        prior = [(d.get("_saved"), d.get("_calls", 0)) for d in dicts]
        for d, cache in zip(dicts, caches):
            d["_saved"] = cache
            d["_calls"] = 1
        try:
            return module.backward(grad_output)
        finally:
            for d, (saved, calls) in zip(dicts, prior):
                d["_saved"] = saved
                d["_calls"] = calls
    prior = [m._tape_give(c) for m, c in zip(members, caches)]
    try:
        return module.backward(grad_output)
    finally:
        for m, state in zip(members, prior):
            m._tape_unstash(state)


def _saved_versions(first, params):
    """``Node.saved`` for ``first`` and ``params``: each followed by its version."""
    vc = first._vc
    saved = [first, 0 if vc is None else vc[0]]
    for p in params:
        vc = p._vc
        saved.append(p)
        saved.append(0 if vc is None else vc[0])
    return tuple(saved)


def _record_call(module, args, inputs, out, caches, info):
    """The node of a module call whose forward ran on the arrays: its backward
    (_call_backward) lends ``caches`` back to the subtree's modules and pairs what
    ``module.backward`` returns with the tensors among ``args``."""
    if not isinstance(out, (np.ndarray, float, np.floating)):
        module._check_hybrid(out)   # forward ran on arrays: no tensor may come out
    params = info[3]
    node_inputs = tuple(dict.fromkeys(inputs))   # a tensor passed twice: one entry
    saved = node_inputs + tuple(params)
    metas = []
    node = Node(_call_backward, tuple(t if t.requires_grad else None for t in node_inputs),
                type(module).__name__, 0,
                _saved_versions(saved[0], saved[1:]) if saved else (), None,
                (module, info[2], info[4], caches, out, args, node_inputs))
    wrapped = _wrap_outputs(out, node, metas, _input_dtype(inputs, params))
    node.n_out = len(metas)
    node.out_meta = tuple(metas)
    return wrapped


def _call_backward(grads, ctx):
    """The backward of a _record_call node (a function and a ctx tuple, not a
    closure)."""
    module, members, plain, caches, out, args, node_inputs = ctx
    returned = _module_backward(module, members, plain, caches,
                                _grad_structure(out, grads, [0]))
    by_id = {}
    covered = set()
    for t, g in _match_input_grads(args, returned, []):
        covered.add(id(t))
        if g is not None:
            prev = by_id.get(id(t))
            by_id[id(t)] = g if prev is None else prev + g
    for t in node_inputs:
        if t.requires_grad and id(t) not in covered:
            # e.g. loss(array, tensor): the explicit backward returns its first
            # argument's gradient only; leaving this one None would be a silently
            # missing gradient
            raise RuntimeError(
                f"{type(module).__name__}'s explicit backward returns no gradient for a "
                f"tensor argument that requires one (shape {t.shape}; a single array is "
                f"the first argument's gradient). Pass that argument detached "
                f"(t.detach()) or as an array, or compute with tensor ops.")
    return tuple(by_id.get(id(t)) if t.requires_grad else None for t in node_inputs)


def call_on_one_tensor(module, x, info, rest=()):
    """call_module for the common calls, ``layer(x)`` with one tensor and
    ``loss(x, target)`` with the tensor first and arrays after it (``rest``), where
    ``info`` is the module's valid ``_tape_info()``: the same node as the general
    path, without walking nested arguments and outputs."""
    params = info[3]
    record = False
    if _mode.enabled:
        if x.requires_grad:
            record = True
        else:
            for p in params:
                if p.requires_grad:
                    record = True
                    break
    if not record:
        out = _forward_no_grad(module, (x.data, *rest), None)
        return _wrap_outputs(out, None, [], _input_dtype((x,), params))
    members = info[2]
    if info[4] and len(members) == 1:
        # a layer with no submodules and Module's hooks (Linear, Conv2d, ReLU, the
        # losses): _forward_taking_caches inline
        d = module.__dict__
        saved = d.get("_saved")
        calls = d.get("_calls", 0)
        try:
            out = module.forward(x.data, *rest) if rest else module.forward(x.data)
        finally:
            caches = d.get("_saved")
            d["_saved"] = saved
            d["_calls"] = calls
        layer = True
    else:
        out, caches = _forward_taking_caches(module, (x.data, *rest), None, info)
        layer = False
    if type(out) is not np.ndarray or out.dtype not in _FLOATS:
        if isinstance(out, (float, np.floating)):
            # a loss: a 0-d tensor; a Python float (np.float64 too) takes the inputs'
            # float type, as in _wrap_outputs
            dtype = None
            if isinstance(out, float):
                dtype = x.data.dtype
                if dtype not in _FLOATS:
                    dtype = _input_dtype((x,), params)
            out = np.asarray(out, dtype=dtype)
        if type(out) is not np.ndarray or out.dtype not in _FLOATS:
            # a tuple or an integer result: the general bookkeeping
            return _record_call(module, (x, *rest), (x,), out, caches, info)
    # an ndarray came out: no tensor, so nothing for module._check_hybrid to refuse
    vc = x._vc
    saved = [x, 0 if vc is None else vc[0]]
    for p in params:
        vc = p._vc
        saved.append(p)
        saved.append(0 if vc is None else vc[0])
    node = _new_node(Node)          # Node(...) without the call
    if layer:
        node.backward = _layer_backward
        node.ctx = (module, caches, out.ndim, x)
    else:
        node.backward = _one_tensor_backward
        node.ctx = (module, members, info[4], caches, out.ndim, x)
    node.inputs = (x if x.requires_grad else None,)
    node.name = type(module).__name__
    node.n_out = 1
    node.saved = tuple(saved)
    node.out_meta = None
    node.epoch = _bumps[0]
    t = _new_tensor(Tensor)         # Tensor._wrap(out, node, 0), inlined
    t.data = out
    t.grad = None
    t.requires_grad = True
    t._node = node
    t._out_index = 0
    t._vc = None
    return t


_new_node = Node.__new__
_new_tensor = Tensor.__new__


def _layer_backward(grads, ctx):
    """The backward of a call_on_one_tensor node of a module with no submodules and
    Module's hooks: its cache lent back for ``module.backward`` (_module_backward
    inline)."""
    module, cache, out_ndim, x = ctx
    g = grads[0]
    if out_ndim == 0:
        g = g[()]
    d = module.__dict__
    saved = d.get("_saved")
    calls = d.get("_calls", 0)
    d["_saved"] = cache
    d["_calls"] = 1
    try:
        returned = module.backward(g)
    finally:
        d["_saved"] = saved
        d["_calls"] = calls
    if isinstance(returned, tuple):
        returned = returned[0]
    return (returned if x.requires_grad else None,)


def _one_tensor_backward(grads, ctx):
    """The backward of a call_on_one_tensor node: the caches lent back to the
    modules of the subtree for ``module.backward``."""
    module, members, plain, caches, out_ndim, x = ctx
    g = grads[0]
    returned = _module_backward(module, members, plain, caches,
                                g[()] if out_ndim == 0 else g)
    if isinstance(returned, tuple):
        returned = returned[0]
    return (returned if x.requires_grad else None,)
