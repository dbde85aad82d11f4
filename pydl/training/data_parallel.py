"""What :func:`pydl.fit` does differently when :mod:`pydl.distributed` is initialized
with more than one rank: shard the batches, average the logs, agree on stopping.

``batch_size`` stays the global batch (Keras's convention under a distribution
strategy): each rank takes ``batch_size / R`` samples of every global batch, so R
ranks take the same optimization steps as one process would.
"""

import numpy as np

from ..data.distributed import shard_indices
from ..distributed.state import active_comm

__all__ = [
    "active_comm",
    "any_rank",
    "average_logs",
    "check_global_batch",
    "merged_counts",
    "rank_batches",
    "shard_rows",
    "wrap_model",
]


def check_global_batch(batch_size, comm, name="batch_size"):
    """The per-rank batch of a global ``batch_size``; it must divide evenly."""
    ranks = comm.Get_size()
    if batch_size % ranks:
        raise ValueError(f"{name}={batch_size} is the global batch, split over {ranks} "
                         f"ranks: it must be a multiple of {ranks}")
    return batch_size // ranks


def rank_batches(n, batch_size, comm, *, shuffle, generator, drop_last):
    """This rank's share of each global batch of one epoch over ``n`` samples.

    Rank 0 draws the epoch's order from ``generator`` (the draw one process would
    make) and broadcasts it; each rank then takes every R-th index of the order, so
    its k-th batch holds its share of the k-th global batch. A last global batch that
    R does not divide is padded with the order's first indices (PyTorch's
    DistributedSampler rule).
    """
    order = np.arange(n, dtype=np.int64)
    if shuffle:
        if comm.Get_rank() == 0:
            generator.shuffle(order)
        comm.Bcast(order, root=0)
    if drop_last:
        order = order[:n - n % batch_size]
    ranks = comm.Get_size()
    mine = shard_indices(order, ranks, comm.Get_rank())
    per_rank = batch_size // ranks
    return [mine[i:i + per_rank] for i in range(0, len(mine), per_rank)]


def shard_rows(n, comm):
    """Rows of this rank's part of an evaluation set (no padding: every sample once)."""
    return slice(comm.Get_rank(), n, comm.Get_size())


def average_logs(logs, weight):
    """``logs`` averaged over the ranks, each weighted by ``weight`` (its sample
    count); the same floats on every rank, so callbacks decide alike everywhere."""
    from ..distributed.collectives import average_scalars
    return average_scalars(logs, weight)


def merged_counts(metrics, comm):
    """Metrics that are not means over samples (precision, recall, F1: functions of
    per-class counts) computed from the counts of every rank, summed: the global
    value, where a weighted mean of the ranks' values would not be. Returns their
    ``{name: value}``; the metrics then hold the global counts."""
    out = {}
    for m in metrics:
        if not hasattr(m, "tp"):
            continue
        states = comm.allgather((m.tp, m.pred, m.true, m.binary))
        k = max(len(s[0]) for s in states)
        m.tp, m.pred, m.true = (sum(np.pad(s[i], (0, k - len(s[i]))) for s in states)
                                for i in range(3))
        m.binary = next((s[3] for s in states if s[3] is not None), None)
        out[m.name] = m.result()
    return out


def any_rank(flag, comm):
    """True on every rank when ``flag`` is true on any (e.g. ``stop_training``)."""
    buf = np.array([1 if flag else 0], np.int64)
    comm.Allreduce(buf.copy(), buf, op=_mpi().MAX)
    return bool(buf[0])


def _mpi():
    from ..distributed.state import _state
    return _state["MPI"]


def wrap_model(model):
    """``model`` in a DistributedDataParallel (as is when it already is one)."""
    from ..distributed.ddp import DistributedDataParallel
    if isinstance(model, DistributedDataParallel):
        return model
    return DistributedDataParallel(model)
