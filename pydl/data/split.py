"""train_test_split: hold out a test set, optionally keeping class proportions."""

import math
import numbers

import numpy as np

from ._checks import as_array, as_generator, check_same_length

__all__ = ["train_test_split"]


def _sizes(n, test_size, train_size):
    """Numbers of test and train samples, as scikit-learn computes them."""
    def check(value, name):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a float in (0, 1), an int or None, "
                            f"got {type(value).__name__}")
        if isinstance(value, numbers.Integral):
            if not 0 < value < n:
                raise ValueError(f"{name}={value} must be between 1 and {n - 1} "
                                 f"(there are {n} samples)")
            return int(value)
        if not 0.0 < value < 1.0:  # also refuses NaN
            raise ValueError(f"{name}={value} must be in (0, 1) as a fraction")
        return float(value)

    test_size, train_size = check(test_size, "test_size"), check(train_size, "train_size")
    if test_size is None and train_size is None:
        test_size = 0.25
    n_test = n_train = None
    if test_size is not None:
        n_test = math.ceil(test_size * n) if isinstance(test_size, float) else test_size
    if train_size is not None:
        n_train = math.floor(train_size * n) if isinstance(train_size, float) else train_size
    n_test = n - n_train if n_test is None else n_test
    n_train = n - n_test if n_train is None else n_train
    if n_train + n_test > n:
        raise ValueError(f"train_size + test_size = {n_train} + {n_test} samples, more "
                         f"than the {n} available")
    if n_train < 1 or n_test < 1:
        raise ValueError(f"with {n} samples, test_size={test_size} and "
                         f"train_size={train_size} leave an empty train or test set")
    return n_test, n_train


def _stratified(labels, n_test, n_train, rng):
    """Test and train indices drawn per class in proportion to the class sizes."""
    classes, y = np.unique(labels, return_inverse=True)
    counts = np.bincount(y)
    if counts.min() < 2:
        raise ValueError(f"the least populated class in stratify ({classes[counts.argmin()]!r})"
                         f" has only 1 member; every class needs at least 2")
    if n_test < len(classes) or n_train < len(classes):
        raise ValueError(f"test and train sets need at least as many samples as there are "
                         f"classes ({len(classes)}); got {n_test} test and {n_train} train")
    n = len(labels)
    test_counts = _apportion(counts, n_test, rng)
    train_counts = _apportion(counts - test_counts, n_train, rng)
    test, train = [], []
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(y == c))
        test.append(members[:test_counts[c]])
        train.append(members[test_counts[c]:test_counts[c] + train_counts[c]])
    # Shuffle across classes so the split is not sorted by class.
    test, train = rng.permutation(np.concatenate(test)), rng.permutation(np.concatenate(train))
    assert len(test) == n_test and len(train) == n_train and n_test + n_train <= n
    return test, train


def _apportion(counts, total, rng):
    """Split ``total`` over classes in proportion to ``counts`` (largest remainders,
    ties broken at random), never taking more than a class has."""
    exact = counts * (total / counts.sum())
    alloc = np.minimum(np.floor(exact).astype(np.int64), counts)
    remainder = exact - alloc
    order = np.lexsort((rng.random(len(counts)), -remainder))
    for c in order:
        if alloc.sum() == total:
            break
        if alloc[c] < counts[c]:
            alloc[c] += 1
    return alloc


def train_test_split(*arrays, test_size=None, train_size=None, shuffle=True, stratify=None,
                     seed=None):
    """Split arrays (same number of samples) into train and test parts, like scikit-learn.

    Parameters
    ----------
    *arrays : ndarrays, each of shape (N, ...)
    test_size : float in (0, 1) or int, optional
        Fraction or number of test samples (default 0.25 when train_size is not given;
        a fraction is rounded up, as in scikit-learn).
    train_size : float in (0, 1) or int, optional
        Fraction (rounded down) or number of train samples; default the rest.
    shuffle : bool
        Without shuffling the test set is the last samples.
    stratify : array of shape (N,), optional
        Class labels whose proportions both parts keep (needs ``shuffle``).
    seed : int or numpy.random.Generator, optional
        Default: pydl's generator (:func:`pydl.manual_seed`).

    Returns
    -------
    list
        ``[a_train, a_test, b_train, b_test, ...]``.
    """
    if not arrays:
        raise ValueError("train_test_split needs at least one array")
    arrays = [as_array(a, f"arrays[{i}]", kinds="biufUSO", finite=False)
              for i, a in enumerate(arrays)]
    check_same_length(arrays, [f"arrays[{i}]" for i in range(len(arrays))])
    n = len(arrays[0])
    n_test, n_train = _sizes(n, test_size, train_size)
    if stratify is not None:
        if not shuffle:
            raise ValueError("stratified splitting needs shuffle=True")
        stratify = as_array(stratify, "stratify", kinds="biuUSO", finite=False)
        if stratify.ndim != 1 or len(stratify) != n:
            raise ValueError(f"stratify must have shape ({n},), got {stratify.shape}")
        test, train = _stratified(stratify, n_test, n_train, as_generator(seed))
    elif shuffle:
        order = as_generator(seed).permutation(n)
        test, train = order[:n_test], order[n_test:n_test + n_train]
    else:
        train, test = np.arange(n_train), np.arange(n - n_test, n)
    out = []
    for a in arrays:
        out += [a[train], a[test]]
    return out
