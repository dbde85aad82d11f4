"""The tape: one :class:`Node` per recorded op or module call, and the backward walk.

A node holds the backward function of one call (a closure over that call's cache,
or, on the hot paths, a module-level function and a ``ctx`` tuple), the tensors
whose gradients it produces, and the versions of the tensors whose data it kept.
``Tensor.backward`` orders the nodes reachable from the output (a depth-first
post-order), feeds each node the sum of its outputs' gradients, in reverse order,
and adds what reaches a leaf into the leaf's ``.grad``. Without ``retain_graph``
each node drops its function, ctx and inputs as soon as it has run, so the caches
are freed during the walk and a second backward through the same nodes is refused.

Per recorded op this costs a few objects (the result tensor, the node, its inputs
and saved tuples): each more object is also more work for Python's cyclic garbage
collector, which on a large process was most of the tape's per-op cost.
"""

import itertools

import numpy as np

__all__ = ["Node", "run_backward", "versions"]

# Hooks for data-parallel training (pydl.distributed): id(leaf) -> callables run after
# the leaf's .grad was added to, and callables run when a backward walk ends. Empty
# unless registered, so the walk pays one truth test per leaf and one per backward.
post_accumulate_hooks = {}
backward_end_hooks = []


# The id of the last in-place change (Tensor._bump_version) in this process: a node
# recorded under the current id has seen no change since, so backward skips reading
# the versions of its saved tensors. Read per node, not once per walk: a hook run
# during the walk (an optimizer step in a post-accumulate hook) may change a tensor a
# later node saved. Ids come from an atomic counter, so a change written by another
# thread never leaves the id a node was recorded under.
bumps = [0]
bump_ids = itertools.count(1)


def run_post_accumulate_hooks(leaf):
    for hook in post_accumulate_hooks.get(id(leaf), ()):
        hook(leaf)


class Node:
    """One recorded call.

    Parameters
    ----------
    backward : callable
        ``backward(grads) -> sequence`` (``backward(grads, ctx)`` when ``ctx`` is not
        None): given one gradient per output (``grads`` is a list; an output that
        received no gradient gets zeros), returns one gradient per entry of ``inputs``
        (None where there is none).
    inputs : tuple of Tensor or None
        The inputs that require gradients, in the order ``backward`` returns them;
        None for an input that needs none.
    name : str
        The op or module, for error messages.
    n_out : int
        Number of tensor outputs.
    saved : tuple
        Tensors whose data ``backward`` reads, each followed by its version at record
        time: ``(t0, v0, t1, v1, ...)`` (flat: one tuple per node, not one per tensor).
    out_meta : tuple of (shape, dtype), optional
        Per output, for the zeros of an output nobody used; only nodes with several
        outputs need it (the one output's gradient is what brings a node to backward).
    ctx : object, optional
        What ``backward`` needs besides the gradients, passed as its second argument
        (a module-level function and a tuple instead of a closure and its cells: fewer
        objects for the cyclic garbage collector per recorded op).
    """

    __slots__ = ("backward", "inputs", "name", "n_out", "saved", "out_meta", "ctx", "epoch")

    def __init__(self, backward, inputs, name, n_out=1, saved=(), out_meta=None, ctx=None):
        self.backward = backward
        self.inputs = inputs
        self.name = name
        self.n_out = n_out
        self.saved = saved
        self.out_meta = out_meta
        self.ctx = ctx
        self.epoch = bumps[0]       # in-place changes so far (see bumps)
        # (ops._with_number sets these fields one by one, the hottest path: a new
        # field goes there too; a test reads every slot of such a node)

    def __repr__(self):
        return f"<Node {self.name}>"


def _topological_order(root):
    """Nodes reachable from ``root``, each after every node that consumes it (the
    reverse of a depth-first post-order; inputs are visited in order)."""
    order = []
    append = order.append
    seen = {root}
    stack = [(root, 0)]
    pop = stack.pop
    push = stack.append
    while stack:
        node, i = pop()
        inputs = node.inputs
        n = len(inputs)
        while i < n:
            t = inputs[i]
            i += 1
            if t is not None:
                child = t._node
                if child is not None and child not in seen:
                    seen.add(child)
                    push((node, i))
                    node, i = child, 0      # descend without a round trip via the stack
                    inputs = node.inputs
                    n = len(inputs)
        append(node)
    order.reverse()
    return order


def versions(tensors):
    """``Node.saved`` for ``tensors``: each followed by its current version."""
    saved = []
    for t in tensors:
        vc = t._vc
        saved.append(t)
        saved.append(0 if vc is None else vc[0])
    return tuple(saved)


def _check_versions(node):
    saved = node.saved
    for i in range(0, len(saved), 2):
        t, version = saved[i], saved[i + 1]
        if t._version != version:
            raise RuntimeError(
                f"one of the tensors needed for the gradient of {node.name} (shape "
                f"{t.shape}) was modified in place after it was used (version "
                f"{version} then, {t._version} now); compute on a copy, or modify it "
                f"before its use or under pydl.no_grad() after backward")


def _add_into_leaf(leaf, g):
    if g.shape != leaf.data.shape:
        raise RuntimeError(f"internal error: gradient of shape {g.shape} for a leaf of "
                           f"shape {leaf.data.shape}")
    if g.dtype != leaf.data.dtype:
        g = g.astype(leaf.data.dtype)
    if leaf.grad is None:
        # A gradient array may be shared between inputs (x + x) or be a view of the
        # caller's: the leaf gets its own.
        leaf.grad = np.array(g, order="C", copy=True)
    else:
        np.add(leaf.grad, g, out=leaf.grad)
    if post_accumulate_hooks:
        run_post_accumulate_hooks(leaf)


def run_backward(root_tensor, gradient, retain_graph):
    """Backpropagate ``gradient`` (an ndarray of the root's shape) from ``root_tensor``."""
    _walk(root_tensor, gradient, retain_graph)
    for hook in tuple(backward_end_hooks):
        hook()


def _walk(root_tensor, gradient, retain_graph):
    root = root_tensor._node
    if root is None:
        _add_into_leaf(root_tensor, gradient)
        return
    if root.backward is None:
        raise RuntimeError(_freed_message(root))
    # node -> its outputs' gradients (Node hashes by identity)
    grads = [None] * root.n_out
    grads[root_tensor._out_index] = gradient
    pending = {root: grads}
    pop = pending.pop
    for node in _topological_order(root):
        grads = pop(node, None)
        if grads is None:       # reachable, but no gradient flowed into it
            continue
        fn = node.backward
        if fn is None:
            raise RuntimeError(_freed_message(node))
        saved = node.saved
        if saved and node.epoch != bumps[0]:     # something changed in place since
            for i in range(0, len(saved), 2):
                vc = saved[i]._vc
                if (0 if vc is None else vc[0]) != saved[i + 1]:
                    _check_versions(node)       # raises
        n_out = node.n_out
        if n_out != 1:      # one output: its gradient is what brought the node here
            for k in range(n_out):
                if grads[k] is None:
                    shape, dtype = node.out_meta[k]
                    grads[k] = np.zeros(shape, dtype)
        ctx = node.ctx
        in_grads = fn(grads) if ctx is None else fn(grads, ctx)
        inputs = node.inputs
        if not retain_graph:
            node.backward = None
            node.saved = ()
            node.inputs = ()
            node.ctx = None
        for t, g in zip(inputs, in_grads):
            if t is None or g is None:
                continue
            child = t._node
            if child is None:
                if t.requires_grad:
                    _add_into_leaf(t, g)
                continue
            slot = pending.get(child)
            if slot is None:
                if child.n_out == 1:
                    pending[child] = [g]
                    continue
                slot = pending[child] = [None] * child.n_out
            k = t._out_index
            slot[k] = g if slot[k] is None else slot[k] + g


def _freed_message(node):
    return (f"trying to backward through the graph a second time (through {node.name}): "
            f"its saved values were freed by the first backward; call "
            f".backward(retain_graph=True) the first time if you need to backward twice")
