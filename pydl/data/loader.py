"""Mini-batches over in-memory arrays, with seeded shuffling anew every epoch."""

import numpy as np

from ._checks import as_array, as_generator, check_positive_int, check_same_length

__all__ = ["DataLoader", "iterate_minibatches"]


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

    Batches are views when not shuffling (C-contiguous input) and copies otherwise.
    """

    def __init__(self, x, y=None, batch_size=1, shuffle=False, drop_last=False,
                 generator=None):
        self.x = as_array(x, "x", finite=False)
        self.y = None if y is None else as_array(y, "y", finite=False)
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

    def __len__(self):
        n, b = len(self.x), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def batch_indices(self):
        """The index arrays (or slices) of one epoch's batches, in order."""
        n, b = len(self.x), self.batch_size
        stop = n - n % b if self.drop_last else n
        if not self.shuffle:
            return [slice(i, min(i + b, stop)) for i in range(0, stop, b)]
        order = self.generator.permutation(n)
        return [order[i:min(i + b, stop)] for i in range(0, stop, b)]

    def __iter__(self):
        for idx in self.batch_indices():
            xb = self.x[idx]
            yield xb if self.y is None else (xb, self.y[idx])


def iterate_minibatches(x, y=None, batch_size=32, shuffle=True, drop_last=False,
                        generator=None):
    """Yield one epoch of mini-batches; see :class:`DataLoader` for the arguments."""
    yield from DataLoader(x, y, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                          generator=generator)
