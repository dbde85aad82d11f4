"""Collectives pydl needs beyond MPI's own: sums in a fixed rank order (bitwise the
same whatever MPI's reduction algorithm and message size), parameter broadcast."""

import numpy as np

from .state import active_comm, get_comm

__all__ = ["average_scalars", "broadcast_arrays", "broadcast_parameters", "sum_in_rank_order",
           "sum_rows"]


def sum_rows(gathered):
    """``gathered[0] + gathered[1] + ...`` in that order (rank order), float-exact
    whatever the message was split into."""
    total = gathered[0].copy()
    for row in gathered[1:]:
        total += row
    return total


def sum_in_rank_order(array, comm=None):
    """Elementwise sum of ``array`` over the ranks, added in rank order (Allgather,
    then a local sum): every rank gets the same bits, run after run.

    Costs ``world_size`` times the array's memory and traffic; meant for small arrays
    (statistics, logs) and for ``deterministic=True`` gradient reduction.
    """
    comm = comm if comm is not None else get_comm()
    array = np.ascontiguousarray(array)
    gathered = np.empty((comm.Get_size(),) + array.shape, array.dtype)
    comm.Allgather(array, gathered)
    return sum_rows(gathered)


def average_scalars(values, weight=1.0):
    """Weighted mean over the ranks of a dict of floats (weight: e.g. samples seen).

    Every rank gets the same floats (summed in rank order). Single process: the input.
    """
    comm = active_comm()
    if comm is None:
        return dict(values)
    keys = list(values)     # the same keys in the same order on every rank (fit's logs)
    local = np.array([float(values[k]) * weight for k in keys] + [float(weight)])
    total = sum_in_rank_order(local, comm)
    if total[-1] == 0:
        return {k: float("nan") for k in keys}
    return {k: float(total[i] / total[-1]) for i, k in enumerate(keys)}


def broadcast_parameters(model, root=0):
    """Copy ``model``'s parameters and buffers from rank ``root`` to every rank, in place.

    Parameters
    ----------
    model : pydl.nn.Module
    root : int
        The rank whose values everyone gets.
    """
    from ..nn.module import Module
    if not isinstance(model, Module):
        raise TypeError(f"model must be a pydl.nn.Module, got {type(model).__name__}")
    comm = get_comm()
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) \
            or not 0 <= root < comm.Get_size():
        raise ValueError(f"root must be a rank in [0, {comm.Get_size()}), got {root!r}")
    broadcast_arrays([p.data for p in model.parameters()] + list(model.buffers()), comm,
                     int(root))


def broadcast_arrays(arrays, comm, root=0):
    """Copy ``arrays`` from rank ``root`` into every rank's arrays, in place: one
    ``Bcast`` per dtype (the arrays packed into one buffer), not one per array."""
    if comm.Get_size() == 1:
        return
    by_dtype = {}
    for a in arrays:
        by_dtype.setdefault(a.dtype, []).append(a)
    for group in by_dtype.values():     # the same order on every rank: the model's
        flat = np.concatenate([a.reshape(-1) for a in group])
        comm.Bcast(flat, root=root)
        offset = 0
        for a in group:
            a[...] = flat[offset:offset + a.size].reshape(a.shape)
            offset += a.size
