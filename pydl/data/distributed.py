"""DistributedSampler: each rank of data-parallel training its own shard of the
samples, the same size on every rank, reshuffled each epoch from a shared seed."""

import numpy as np

from ._checks import check_positive_int

__all__ = ["DistributedSampler", "shard_indices"]


def shard_indices(order, num_replicas, rank, drop_last=False):
    """Rank ``rank``'s share of ``order`` (an index array), PyTorch's rule.

    Without ``drop_last`` the order is padded by repeating its first indices up to a
    multiple of ``num_replicas``; with it the tail that does not divide evenly is
    dropped. Then the rank takes every ``num_replicas``-th index from ``rank`` on, so
    the shards are disjoint (up to the padding) and equal in size.
    """
    n = len(order)
    if drop_last and n % num_replicas:
        per_rank = n // num_replicas
    else:
        per_rank = -(-n // num_replicas)
    total = per_rank * num_replicas
    if total > n:
        if n == 0:
            return order[:0]
        order = np.concatenate([order] + [order] * ((total - n) // n)
                               + [order[:(total - n) % n]])
    return order[rank:total:num_replicas]


class DistributedSampler:
    """The indices of one rank's shard of a data set (``torch.utils.data.DistributedSampler``).

    Iterating yields ``len(sampler)`` sample indices. With ``shuffle`` each epoch's
    order is a permutation drawn from ``seed + epoch``, the same on every rank, so the
    shards stay disjoint; call :meth:`set_epoch` at the start of each epoch to get a
    new order. Without ``drop_last`` the order is padded with its first indices to a
    multiple of ``num_replicas`` (a few samples are seen twice per epoch), with it the
    remainder is dropped.

    Parameters
    ----------
    dataset : int or sized
        The number of samples, or an object with ``len`` (an array).
    num_replicas : int, optional
        Ranks; default ``pydl.distributed.world_size()`` (1 when not initialized).
    rank : int, optional
        This rank; default ``pydl.distributed.rank()`` (0 when not initialized).
    shuffle : bool
    seed : int
        Must be the same on every rank.
    drop_last : bool

    Examples
    --------
    >>> sampler = DistributedSampler(10, num_replicas=3, rank=1, shuffle=False)
    >>> list(sampler)
    [1, 4, 7]
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        if isinstance(dataset, (int, np.integer)) and not isinstance(dataset, bool):
            n = check_positive_int(dataset, "dataset", low=0)
        elif hasattr(dataset, "__len__"):
            n = len(dataset)
        else:
            raise TypeError(f"dataset must be a number of samples or an object with len(), "
                            f"got {type(dataset).__name__}")
        if num_replicas is None or rank is None:
            from ..distributed.state import get_comm, is_initialized
            comm = get_comm() if is_initialized() else None
            if num_replicas is None:
                num_replicas = 1 if comm is None else comm.Get_size()
            if rank is None:
                rank = 0 if comm is None else comm.Get_rank()
        self.num_replicas = check_positive_int(num_replicas, "num_replicas")
        self.rank = check_positive_int(rank, "rank", low=0)
        if self.rank >= self.num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas={self.num_replicas}), got "
                             f"{self.rank}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        self.n = n
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0

    def set_epoch(self, epoch):
        """Use the order of ``epoch`` (with ``shuffle``) for the next iteration."""
        self.epoch = check_positive_int(epoch, "epoch", low=0)

    def indices(self):
        """This rank's indices for the current epoch, an int64 array."""
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(self.n)
        else:
            order = np.arange(self.n)
        return shard_indices(order, self.num_replicas, self.rank, self.drop_last)

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self):
        if self.drop_last:
            return self.n // self.num_replicas
        return (self.n + self.num_replicas - 1) // self.num_replicas
