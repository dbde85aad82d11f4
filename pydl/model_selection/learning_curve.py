"""Learning curves: training and validation loss against the training-set size.

The notes read them to tell bias from variance. High bias: both losses high and close
together, and more data does not help (a bigger model or more features will). High
variance: a low training loss with a validation loss well above it, the gap closing
as the set grows (more data or more regularization will help).
"""

import numbers
import warnings

import numpy as np

from ..data._checks import as_array, as_generator, check_positive_int, check_same_length
from ..nn.module import Module
from ..random import manual_seed
from ..training import evaluate
from .. import _plotting as _plot
from ._seeding import caller_rng_kept
from ._table import format_table

__all__ = ["LearningCurve", "learning_curve"]


class LearningCurve:
    """What :func:`learning_curve` measured.

    Attributes
    ----------
    train_sizes : ndarray of int (K,)
        Training-set sizes, increasing.
    train_loss, val_loss : ndarray (K,)
        The data loss (regularization penalty left out) of the model fitted on each
        size, on its own training subset and on the validation set.
    metrics : dict of str to ndarray (K,)
        ``train_<name>`` and ``val_<name>`` for each metric asked for.
    """

    def __init__(self, train_sizes, train_loss, val_loss, metrics):
        self.train_sizes = np.asarray(train_sizes, dtype=np.int64)
        self.train_loss = np.asarray(train_loss, dtype=np.float64)
        self.val_loss = np.asarray(val_loss, dtype=np.float64)
        self.metrics = {k: np.asarray(v, dtype=np.float64) for k, v in metrics.items()}

    @property
    def gap(self):
        """``val_loss - train_loss`` at each size: large and shrinking with more data
        means high variance; small with both losses high means high bias."""
        return self.val_loss - self.train_loss

    def table(self):
        """The curve as a text table, one row per size."""
        columns = {"train size": self.train_sizes, "train loss": self.train_loss,
                   "val loss": self.val_loss, "gap": self.gap, **self.metrics}
        return format_table([dict(zip(columns, row)) for row in zip(*columns.values())])

    def __repr__(self):
        return f"LearningCurve(\n{self.table()}\n)"

    def plot(self, path, title="Learning curve", dpi=100, log_x=False):
        """Write the curve to a PNG: loss against training-set size, training and
        validation, plus one panel per metric.

        Parameters
        ----------
        path : str or os.PathLike
        title : str or None
        dpi : int
        log_x : bool
            A logarithmic size axis (for sizes spanning decades).

        Returns
        -------
        str
            The path written.

        Raises
        ------
        ImportError
            If matplotlib is not installed.
        """
        names = sorted({k.split("_", 1)[1] for k in self.metrics})
        fig = _plot.new_figure(5 * (1 + len(names)), 3.8, "LearningCurve.plot")
        panels = [("loss", self.train_loss, self.val_loss)] + [
            (n, self.metrics.get(f"train_{n}"), self.metrics.get(f"val_{n}")) for n in names]
        for i, (name, train, val) in enumerate(panels):
            ax = fig.add_subplot(1, len(panels), i + 1)
            for values, label in ((train, "training"), (val, "validation")):
                if values is not None:
                    ax.plot(self.train_sizes, values, marker="o", markersize=4, label=label)
            if log_x:
                _plot.log_x(ax)
            ax.set_xlabel("training-set size")
            ax.set_ylabel(name if name != "loss" else "loss (no penalty)")
            ax.grid(True, alpha=0.3)
            ax.legend()
        return _plot.save(fig, path, dpi, title)


def _absolute_sizes(train_sizes, n_pool):
    """Training-set sizes as increasing distinct ints in [1, n_pool]."""
    sizes = np.asarray(train_sizes)
    if sizes.ndim != 1 or sizes.size == 0 or sizes.dtype.kind not in "iuf":
        raise ValueError(f"train_sizes must be a non-empty 1-D list of numbers, got "
                         f"{train_sizes!r}")
    if sizes.dtype.kind == "f":
        if not np.all((sizes > 0) & (sizes <= 1)):
            raise ValueError(f"train_sizes given as floats are fractions of the "
                             f"{n_pool} training samples, in (0, 1]; got {sizes.tolist()}")
        absolute = np.maximum(1, np.floor(sizes * n_pool)).astype(np.int64)
    else:
        if sizes.min() < 1 or sizes.max() > n_pool:
            raise ValueError(f"train_sizes given as ints must be in [1, {n_pool}] (the "
                             f"training samples available), got {sizes.tolist()}")
        absolute = sizes.astype(np.int64)
    unique = np.unique(absolute)
    if len(unique) < len(absolute):
        warnings.warn(f"train_sizes repeat once made absolute ({absolute.tolist()}); each "
                      f"size is fitted once", RuntimeWarning, stacklevel=3)
    return unique


def learning_curve(build_and_fit, x, y, *, loss, train_sizes=(0.1, 0.325, 0.55, 0.775, 1.0),
                   validation_data=None, validation_split=0.2, metrics=None, shuffle=True,
                   seed=0, batch_size=256):
    """Train on growing subsets of ``(x, y)``; measure training and validation loss.

    Parameters
    ----------
    build_and_fit : callable
        ``build_and_fit(x_train, y_train) -> model``: builds a fresh model, fits it on
        the arrays given and returns it (a :class:`pydl.nn.Module`).
    x, y : ndarray (N, ...), (N, ...)
        The samples to draw the training subsets from.
    loss : str or loss module
        The loss to measure (as :func:`pydl.evaluate` takes it). The penalty of
        any regularizers is left out of both curves, as the notes do for the cost
        of a test set.
    train_sizes : sequence of float or int
        Fractions in (0, 1] of the training samples, or absolute counts.
    validation_data : (x_val, y_val), optional
        Held-out data; default the last ``validation_split`` of ``(x, y)`` after
        the shuffle.
    validation_split : float in (0, 1)
        Used when ``validation_data`` is None.
    metrics : list, optional
        Metric names or objects, as :func:`pydl.evaluate` takes them.
    shuffle : bool
        Shuffle ``(x, y)`` once (seeded) before taking subsets; each subset is the
        first ``n`` samples of that order, so the subsets are nested.
    seed : int
        Seeds the shuffle, and ``pydl.manual_seed(seed)`` runs before each call of
        ``build_and_fit`` so every size starts from the same initialization. pydl's
        default generator is put back to its state before the call on return.
    batch_size : int
        Batch size of the evaluations.

    Returns
    -------
    LearningCurve
        ``train_sizes``, ``train_loss``, ``val_loss``, ``gap``, ``metrics``,
        ``table()`` and ``plot(path)``.

    Examples
    --------
    >>> def build_and_fit(x, y):
    ...     model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 3))
    ...     pydl.fit(model, x, y, loss="cross_entropy", epochs=20, verbose=0,
    ...              optimizer=pydl.optim.Adam(model.parameters(), lr=1e-2))
    ...     return model
    >>> curve = learning_curve(build_and_fit, x, y, loss="cross_entropy")
    >>> curve.plot("learning_curve.png")
    """
    if not callable(build_and_fit):
        raise TypeError(f"build_and_fit must be callable, got {type(build_and_fit).__name__}")
    x, y = as_array(x, "x"), as_array(y, "y", kinds="biufUS")
    check_same_length([x, y], ["x", "y"])
    seed = check_positive_int(seed, "seed", low=0)
    batch_size = check_positive_int(batch_size, "batch_size")
    order = (as_generator(seed).permutation(len(x)) if shuffle else np.arange(len(x)))
    if validation_data is None:
        if isinstance(validation_split, bool) or not isinstance(validation_split,
                                                                numbers.Real) \
                or not 0 < validation_split < 1:
            raise ValueError(f"validation_split must be a number in (0, 1), got "
                             f"{validation_split!r}")
        n_val = round(len(x) * validation_split)
        if n_val < 1 or n_val >= len(x):
            raise ValueError(f"validation_split={validation_split} of {len(x)} samples "
                             f"leaves no validation or no training sample")
        x_val, y_val = x[order[-n_val:]], y[order[-n_val:]]
        order = order[:-n_val]
    else:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("validation_data must be a pair (x_val, y_val)")
        x_val = as_array(validation_data[0], "validation_data[0]")
        y_val = as_array(validation_data[1], "validation_data[1]", kinds="biufUS")
        check_same_length([x_val, y_val], ["validation_data[0]", "validation_data[1]"])
    sizes = _absolute_sizes(train_sizes, len(order))

    train_loss, val_loss, tracked = [], [], {}
    for n in sizes:
        x_train, y_train = x[order[:n]], y[order[:n]]
        with caller_rng_kept():
            manual_seed(seed)
            model = build_and_fit(x_train, y_train)
        if not isinstance(model, Module):
            raise TypeError(f"build_and_fit must return the fitted pydl.nn.Module, "
                            f"got {type(model).__name__}")
        for split, xs, ys, losses in (("train", x_train, y_train, train_loss),
                                      ("val", x_val, y_val, val_loss)):
            logs = evaluate(model, xs, ys, loss=loss, metrics=metrics, batch_size=batch_size)
            losses.append(logs.pop("data_loss", logs["loss"]))
            for key, value in logs.items():
                if key not in ("loss", "penalty"):
                    tracked.setdefault(f"{split}_{key}", []).append(value)
    return LearningCurve(sizes, train_loss, val_loss, tracked)
