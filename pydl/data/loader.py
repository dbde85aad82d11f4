"""Mini-batches over arrays (in memory or memory-mapped), with seeded shuffling anew
every epoch."""

import contextlib
import mmap

import numpy as np

from ._checks import (as_array, as_generator, check_positive_int, check_same_length,
                      is_memory_mapped)

__all__ = ["DataLoader", "iterate_minibatches"]


def batch_indices(n, batch_size, shuffle=False, generator=None, drop_last=False):
    """One epoch's batches of ``range(n)``: slices in order, or index arrays of a
    permutation drawn from ``generator`` (the same one ``generator.permutation(n)``
    draws, held as int32 when ``n`` allows: 4 bytes a sample)."""
    stop = n - n % batch_size if drop_last else n
    if not shuffle:
        return [slice(i, min(i + batch_size, stop)) for i in range(0, stop, batch_size)]
    order = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
    generator.shuffle(order)
    return [order[i:min(i + batch_size, stop)] for i in range(0, stop, batch_size)]


def _mapping(a):
    """The ``mmap.mmap`` under a memory-mapped array (or a view of one), else None."""
    for _ in range(64):
        if a is None or isinstance(a, mmap.mmap):
            return a
        a = getattr(a, "base", None)
    return None


@contextlib.contextmanager
def random_access(*arrays):
    """Advise the kernel that memory-mapped ``arrays`` are read at random rows for the
    block (``MADV_RANDOM``), then back to the default (``MADV_NORMAL``).

    Without it each page fault of a shuffled batch reads ahead a large window of the
    file: measured on a 25 GiB memmap, 256 random rows took 5-15 s to read, and 20 ms
    with the advice. In-memory arrays and platforms without ``madvise`` are left as is.
    """
    advised = []
    for a in arrays:
        m = _mapping(a)
        if m is not None and hasattr(m, "madvise") and hasattr(mmap, "MADV_RANDOM") \
                and all(m is not b for b in advised):
            try:
                m.madvise(mmap.MADV_RANDOM)
            except (OSError, ValueError):
                continue
            advised.append(m)
    try:
        yield
    finally:
        for m in advised:
            try:
                m.madvise(mmap.MADV_NORMAL)
            except (OSError, ValueError):  # closed meanwhile
                pass


def take_rows(a, idx):
    """``a[idx]`` for a slice or an index array of rows.

    In-memory arrays give what NumPy gives (a view for a slice). A memory-mapped array
    gives an ordinary in-memory copy of just those rows, read in ascending file order
    and put back in the order of ``idx``, so a batch costs its own size in memory and
    equals the in-memory result bitwise.
    """
    if not is_memory_mapped(a):
        return a[idx]
    if isinstance(idx, slice):
        return np.array(a[idx])
    idx = np.asarray(idx)
    order = np.argsort(idx, kind="stable")
    rows = np.asarray(a[idx[order]])
    out = np.empty_like(rows)
    out[order] = rows
    return out


class DataLoader:
    """Iterate over ``(x_batch, y_batch)`` (or ``x_batch`` alone) mini-batches.

    Each ``iter()`` starts a new epoch: with ``shuffle`` a new permutation is drawn from
    the generator, so two epochs see the samples in different orders while a seeded
    generator makes the whole run reproducible.

    Parameters
    ----------
    x : ndarray, shape (N, ...)
    y : ndarray, shape (N, ...), optional
    batch_size : int >= 1
        A batch larger than N gives one batch of N.
    shuffle : bool
    drop_last : bool
        Drop the last batch when it is smaller than ``batch_size``.
    generator : numpy.random.Generator or int seed, optional
        Source of the permutations; default pydl's generator (:func:`pydl.manual_seed`).
    sampler : iterable of int with len, optional
        The sample indices of an epoch, in order, instead of ``range(N)`` or a
        permutation (e.g. :class:`pydl.data.DistributedSampler`: this rank's shard);
        excludes ``shuffle``, as in PyTorch. Iterated anew each epoch.

    Batches are views when not shuffling (C-contiguous input) and copies otherwise.
    A memory-mapped ``x`` (``np.memmap``) is never read whole: each batch is an
    in-memory copy of its rows, so memory stays bounded by the batch.
    """

    def __init__(self, x, y=None, batch_size=1, shuffle=False, drop_last=False,
                 generator=None, sampler=None):
        self.x = as_array(x, "x", finite=False, check_memory=False)
        self.y = None if y is None else as_array(y, "y", finite=False, check_memory=False)
        if self.y is not None:
            check_same_length([self.x, self.y], ["x", "y"])
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        if isinstance(generator, (str, bytes, float)):
            raise TypeError(f"generator must be a numpy.random.Generator, an int seed or "
                            f"None, got {type(generator).__name__}")
        if isinstance(generator, np.random.Generator) or generator is None:
            self.generator = as_generator(generator=generator)
        else:
            self.generator = as_generator(seed=generator)
        if sampler is not None:
            if not (hasattr(sampler, "__iter__") and hasattr(sampler, "__len__")):
                raise TypeError(f"sampler must be an iterable of indices with len() (e.g. "
                                f"pydl.data.DistributedSampler), got {type(sampler).__name__}")
            if self.shuffle:
                raise ValueError("sampler and shuffle=True exclude each other: the sampler "
                                 "gives the order (DistributedSampler(shuffle=True) shuffles)")
        self.sampler = sampler

    def num_samples(self):
        """Samples per epoch before ``drop_last``: N, or the sampler's length."""
        return len(self.x) if self.sampler is None else len(self.sampler)

    def __len__(self):
        n, b = self.num_samples(), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def batch_indices(self):
        """The index arrays (or slices) of one epoch's batches, in order."""
        if self.sampler is None:
            return batch_indices(len(self.x), self.batch_size, self.shuffle,
                                 self.generator, self.drop_last)
        order = np.fromiter(iter(self.sampler), dtype=np.int64)
        bad = order[(order < 0) | (order >= len(self.x))]
        if bad.size:
            raise ValueError(f"sampler gave index {int(bad[0])}, outside [0, {len(self.x)})")
        return [order[i] for i in batch_indices(len(order), self.batch_size,
                                                drop_last=self.drop_last)]

    def __iter__(self):
        indices = self.batch_indices()
        with random_access(self.x, self.y) if self.shuffle else contextlib.nullcontext():
            for idx in indices:
                xb = take_rows(self.x, idx)
                yield xb if self.y is None else (xb, take_rows(self.y, idx))


def iterate_minibatches(x, y=None, batch_size=32, shuffle=True, drop_last=False,
                        generator=None):
    """Yield one epoch of mini-batches; see :class:`DataLoader` for the arguments."""
    yield from DataLoader(x, y, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                          generator=generator)
