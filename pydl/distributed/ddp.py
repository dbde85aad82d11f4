"""DistributedDataParallel: one model replica per rank, gradients averaged over ranks
during backward."""

import contextlib
import time
import weakref

import numpy as np

from .._grad_mode import is_grad_enabled
from ..autograd import graph as _graph
from ..nn.module import Module
from .buckets import make_buckets
from .collectives import broadcast_arrays, broadcast_parameters
from .state import get_comm

__all__ = ["DistributedDataParallel", "allreduce_gradients"]


def _check_same_parameters(model, comm):
    """Refuse, on every rank alike, a model whose parameters or buffers differ between
    ranks (buffers too: they are broadcast with the parameters, and a Bcast of
    another length fails inside MPI with a truncation error, or worse)."""
    mine = ([(name, tuple(p.data.shape), p.data.dtype.str, bool(p.requires_grad))
             for name, p in model.named_parameters()],
            [(name, tuple(b.shape), b.dtype.str) for name, b in model.named_buffers()])
    everyone = comm.allgather(mine)
    for r, theirs in enumerate(everyone):
        for kind, ours, other in (("parameters", everyone[0][0], theirs[0]),
                                  ("buffers", everyone[0][1], theirs[1])):
            if other == ours:
                continue
            if len(other) != len(ours):
                detail = f"rank 0 has {len(ours)} {kind}, rank {r} has {len(other)}"
            else:
                a, b = next((a, b) for a, b in zip(ours, other) if a != b)
                what = "shape {}, dtype {}" + (", requires_grad {}" if len(a) > 3 else "")
                detail = (f"{kind[:-1]} {a[0]!r} is ({what.format(*a[1:])}) on rank 0 and "
                          f"{b[0]!r} ({what.format(*b[1:])}) on rank {r}")
            raise ValueError(f"DistributedDataParallel needs the same model on every "
                             f"rank: {detail}")


def _check_cap(bucket_cap_mb):
    if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, (int, float)) \
            or not np.isfinite(bucket_cap_mb) or bucket_cap_mb <= 0:
        raise ValueError(f"bucket_cap_mb must be a finite number > 0, got {bucket_cap_mb!r}")
    return float(bucket_cap_mb)


class DistributedDataParallel(Module):
    """Data-parallel training of ``module`` over the ranks of :func:`pydl.distributed.init`,
    as ``torch.nn.parallel.DistributedDataParallel``.

    At wrap time the parameters and buffers are checked to be the same on every rank
    (names, shapes, dtypes; otherwise ``ValueError`` on every rank) and rank 0's
    parameters and buffers are broadcast. Each rank then runs forward and backward on its own
    part of the batch. During backward, gradients are packed into buckets of about
    ``bucket_cap_mb`` in reverse order of the parameters (the order backward makes
    them final); as soon as every gradient of a bucket is final its non-blocking
    reduction (``Iallreduce``) starts, so communication overlaps the rest of the
    backward. When backward ends (``ddp.backward(dy)`` on the explicit path,
    ``loss.backward()`` on the tape) every bucket has been waited for and each
    ``param.grad`` holds the average over ranks: ``optimizer.step()`` needs nothing
    more.

    Which contributions make a gradient final is learnt in the first backward (which
    therefore reduces everything at its end, without overlap); from then on the
    graph must be the same each step. A parameter that gets more contributions than
    in the first step after its bucket has started raises RuntimeError; for models
    whose graph changes from step to step pass ``overlap=False`` (all buckets are
    reduced when backward ends).

    Parameters
    ----------
    module : pydl.nn.Module
        The model, identical on every rank.
    bucket_cap_mb : float
        Bucket size in MiB (PyTorch's default 25). Smaller buckets start sooner and
        overlap more, at one message latency each.
    deterministic : bool
        Sum gradients in rank order (``Iallgather``, then a local sum rank by rank)
        instead of MPI's reduction, whose order depends on the algorithm MPI picks for
        the message size and rank count: results are then bitwise identical across
        runs and bucket sizes. Cost: ``world_size`` times the gradient memory and
        traffic per bucket (an allgather moves ``(R - 1) * n`` values per rank where a
        ring allreduce moves ``2 (R - 1) / R * n``), plus the local sum.
    broadcast_buffers : bool
        Copy rank 0's buffers (e.g. BatchNorm running statistics) to every rank at the
        start of each training forward, as PyTorch does, so all ranks hold rank 0's.
    overlap : bool
        Start bucket reductions during backward (default); False reduces them all
        when backward ends.

    Attributes
    ----------
    module : Module
    wait_seconds : float
        Total time spent waiting for reductions when backward ended (communication
        not hidden behind backward).
    buckets_overlapped : int
        How many of the ``len(ddp.buckets)`` buckets the last backward started before it
        ended (0 in the first step, which learns the graph).
    buckets : list
        The buckets, in reduction order (``bucket.params``, ``bucket.nbytes()``).
    """

    def __init__(self, module, bucket_cap_mb=25, deterministic=False,
                 broadcast_buffers=True, overlap=True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"module must be a pydl.nn.Module, got {type(module).__name__}")
        if isinstance(module, DistributedDataParallel):
            raise TypeError("module is already a DistributedDataParallel")
        cap = _check_cap(bucket_cap_mb)
        comm = get_comm()
        from .state import _state
        self.module = module
        object.__setattr__(self, "_comm", comm)
        object.__setattr__(self, "_MPI", _state["MPI"])
        self.deterministic = bool(deterministic)
        self.broadcast_buffers = bool(broadcast_buffers)
        self.overlap = bool(overlap)
        self.bucket_cap_mb = cap
        _check_same_parameters(module, comm)
        broadcast_parameters(module)
        params = [p for p in module.parameters() if p.requires_grad]
        params.reverse()            # backward makes the last layers' gradients first
        buckets = make_buckets(params, cap * 2**20, comm, self.deterministic)
        index = {}
        for b, bucket in enumerate(buckets):
            for p in bucket.params:
                index[id(p)] = (len(index), b)
        object.__setattr__(self, "_buckets", buckets)
        object.__setattr__(self, "buckets", buckets)
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_expected", None)
        object.__setattr__(self, "_sync", True)
        object.__setattr__(self, "wait_seconds", 0.0)
        object.__setattr__(self, "buckets_overlapped", 0)
        self._reset_step()
        self._register_hooks(params)

    # -------------------------------------------------------------- hooks
    def _register_hooks(self, params):
        ref = weakref.ref(self)

        def on_grad(p):
            ddp = ref()
            if ddp is not None:
                ddp._on_grad(p)

        def on_backward_end():
            ddp = ref()
            if ddp is not None and ddp._active:
                ddp.finish_gradient_synchronization()

        handles = [p.register_post_accumulate_grad_hook(on_grad) for p in params]
        _graph.backward_end_hooks.append(on_backward_end)
        # Removed when the wrapper is collected, or by remove_hooks(). Collection alone
        # is not enough where it matters: a Module that ran backward sits in a reference
        # cycle (its tape cache lists itself), so it lives until the garbage collector
        # runs, which each rank does at its own moments.
        object.__setattr__(self, "_finalizer",
                           weakref.finalize(self, _unregister, handles, on_backward_end))

    def remove_hooks(self):
        """Detach this wrapper from its module's parameters now: later backward passes
        no longer start reductions for it, and its gradients stay local. For a wrapper
        that is done with (``pydl.fit`` calls it on the one it made); otherwise the
        hooks go when the wrapper is garbage collected, which each rank does at its own
        moment: until then a stale wrapper of the same model would start collectives on
        some ranks and not on others."""
        # (a reduction still in flight after an interrupted backward is not waited
        # for: on the way out of an exception that could hang instead of raising)
        self.__dict__["_finalizer"]()

    def _reset_step(self):
        d = self.__dict__
        n = len(d["_index"])
        d["_counts"] = [0] * n
        d["_active"] = False
        d["_late"] = []
        d["_launched"] = 0
        expected = d["_expected"]
        # a parameter expected to get no gradient is final from the start
        d["_ready"] = [sum(1 for p in b.params if expected is not None
                           and expected[d["_index"][id(p)][0]] == 0) for b in d["_buckets"]]

    def _on_grad(self, p):
        d = self.__dict__
        if not d["_sync"]:
            return
        i, b = d["_index"][id(p)]
        counts = d["_counts"]
        counts[i] += 1
        d["_active"] = True
        expected = d["_expected"]
        if expected is None or not self.overlap:
            return
        if counts[i] == expected[i]:
            d["_ready"][b] += 1
            self._launch_ready()
        elif counts[i] > expected[i] and b < d["_launched"]:
            d["_late"].append(i)

    def _launch_ready(self):
        d = self.__dict__
        buckets, ready = d["_buckets"], d["_ready"]
        # Buckets start in index order on every rank: MPI matches collectives by order.
        while d["_launched"] < len(buckets) and \
                ready[d["_launched"]] == len(buckets[d["_launched"]].params):
            buckets[d["_launched"]].launch(d["_MPI"])
            d["_launched"] += 1
        # MPI progresses a non-blocking collective only inside MPI calls: poke it.
        for bucket in buckets[:d["_launched"]]:
            if bucket.request is not None:
                bucket.request.Test()

    def finish_gradient_synchronization(self):
        """Start what has not started, wait for every bucket and write the averaged
        gradients. Called when backward ends; call it yourself only after a backward
        that bypassed both ``ddp.backward`` and ``Tensor.backward``."""
        d = self.__dict__
        start = time.perf_counter()
        d["buckets_overlapped"] = d["_launched"]
        for bucket in d["_buckets"][d["_launched"]:]:
            bucket.launch(d["_MPI"])
        for bucket in d["_buckets"]:
            bucket.finish()
        d["wait_seconds"] += time.perf_counter() - start
        late = d["_late"]
        counts = d["_counts"]
        if d["_expected"] is None:
            d["_expected"] = list(counts)
        self._reset_step()
        if late:
            names = {id(p): n for n, p in self.module.named_parameters()}
            p = next(p for b in d["_buckets"] for p in b.params
                     if d["_index"][id(p)][0] == late[0])
            raise RuntimeError(
                f"parameter {names.get(id(p), '?')!r} received more gradient contributions "
                f"in this backward than in the first one, after its bucket's reduction "
                f"had started: its averaged gradient would miss them. For a model whose "
                f"graph changes between steps, use DistributedDataParallel(..., "
                f"overlap=False)")

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes in the block only accumulate local gradients (gradient
        accumulation over micro-batches); the first backward after it averages the
        sum."""
        d = self.__dict__
        previous = d["_sync"]
        d["_sync"] = False
        try:
            yield
        finally:
            d["_sync"] = previous

    # ------------------------------------------------------ forward/backward
    def __call__(self, *args, **kwargs):
        if self.broadcast_buffers and self.training and is_grad_enabled():
            self._broadcast_buffers()
        return self.module(*args, **kwargs)

    def forward(self, *args, **kwargs):
        return self(*args, **kwargs)

    def backward(self, grad_output):
        """``module.backward(grad_output)``, then the averaged gradients are in place."""
        grad_input = self.module.backward(grad_output)
        if self._active:
            self.finish_gradient_synchronization()
        return grad_input

    def _broadcast_buffers(self):
        broadcast_arrays(list(self.module.buffers()), self._comm)

    def extra_repr(self):
        return (f"bucket_cap_mb={self.bucket_cap_mb}, deterministic={self.deterministic}, "
                f"buckets={len(self._buckets)}")


def _unregister(handles, end_hook):
    for h in handles:
        h.remove()
    if end_hook in _graph.backward_end_hooks:
        _graph.backward_end_hooks.remove(end_hook)


def allreduce_gradients(model, deterministic=False):
    """Average every parameter's gradient over the ranks now (blocking).

    For hand-written loops that do not use :class:`DistributedDataParallel`: call it
    after backward and before ``optimizer.step()``. A parameter no rank has a gradient
    for keeps ``grad = None``; one that some ranks lack counts as zeros there.

    Parameters
    ----------
    model : pydl.nn.Module or iterable of Parameter
    deterministic : bool
        Sum in rank order (see :class:`DistributedDataParallel`).
    """
    from .state import _state
    params = list(model.parameters()) if isinstance(model, Module) else list(model)
    comm = get_comm()
    if comm.Get_size() == 1:
        return
    buckets = make_buckets([p for p in params if p.requires_grad], 25 * 2**20, comm,
                           bool(deterministic))
    for bucket in buckets:
        bucket.launch(_state["MPI"])
    for bucket in buckets:
        bucket.finish()
