"""Data-parallel training over MPI (mpi4py): one process per rank, launched with
``mpiexec -n R python train.py``.

Needs the optional extra ``pip install "pydl[mpi]"`` plus an MPI runtime (the
``mpich`` wheel, or a cluster's MPI). ``import pydl`` never imports mpi4py; it is
imported by :func:`init`.

A training script::

    import pydl.distributed as dist
    dist.init()
    model = dist.DistributedDataParallel(make_model())
    sampler = pydl.data.DistributedSampler(len(x), shuffle=True, seed=0)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        ...   # forward/backward on x[shard], optimizer.step()

or simply ``pydl.fit(model, x, y, ...)`` after ``dist.init()``: fit shards the data,
averages the gradients, the loss and the metrics, and prints and saves on rank 0.
"""

from .collectives import broadcast_parameters, sum_in_rank_order
from .ddp import DistributedDataParallel, allreduce_gradients
from .state import (
    barrier,
    destroy,
    get_comm,
    init,
    is_initialized,
    is_main_process,
    rank,
    world_size,
)

__all__ = ["DistributedDataParallel", "allreduce_gradients", "barrier",
           "broadcast_parameters", "destroy", "get_comm", "init", "is_initialized",
           "is_main_process", "rank", "sum_in_rank_order", "world_size"]
