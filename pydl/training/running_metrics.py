"""Metrics accumulated over the batches of an epoch, from model outputs and targets.

Names accepted by ``fit(metrics=...)`` / ``evaluate(metrics=...)``:

``"accuracy"`` (or ``"acc"``)
    Class-index targets: ``argmax`` over axis 1 of the output (N, C, ...) against the
    target (N, ...). Targets shaped like the output (binary or multi-label, e.g. with
    ``BCEWithLogitsLoss``): ``output > threshold`` against ``target > 0.5``, element by
    element; the threshold is 0 for logits (``BCEWithLogitsLoss``), else 0.5.
``"precision"``, ``"recall"``, ``"f1"``
    From the epoch's confusion counts: binary (positive class 1) for a single binary
    output, else macro-averaged over the classes seen; 0/0 counts as 0.
``"mse"``, ``"mae"``
    Mean squared / absolute error over all output elements (target shaped like output).

A callable ``fn(output, target) -> float`` is averaged over batches weighted by their
size and logged under ``fn.__name__``.
"""

import numpy as np

from ..nn.loss import BCEWithLogitsLoss

__all__ = ["make_metrics", "METRIC_NAMES"]

METRIC_NAMES = ("accuracy", "acc", "precision", "recall", "f1", "mse", "mae")


def _labels(output, target, threshold):
    """Predicted and true labels, flattened, from an output batch and its target."""
    output, target = np.asarray(output), np.asarray(target)
    if output.shape == target.shape:
        return (output > threshold).ravel().astype(np.int64), \
            (target > 0.5).ravel().astype(np.int64)
    if output.ndim == target.ndim + 1 and output.shape[:1] + output.shape[2:] == target.shape:
        pred, true = output.argmax(axis=1).ravel(), target.ravel().astype(np.int64)
        keep = true >= 0  # negative targets are ignore_index (CrossEntropyLoss's -100)
        return (pred, true) if keep.all() else (pred[keep], true[keep])
    raise ValueError(f"cannot compare an output of shape {output.shape} with targets of "
                     f"shape {target.shape}: class-index targets need shape (N, ...) for an "
                     f"output (N, C, ...); binary targets need the output's shape")


class _Metric:
    def __init__(self, name, threshold):
        self.name = name
        self.threshold = threshold
        self.reset()


class _Accuracy(_Metric):
    def reset(self):
        self.correct = self.count = 0

    def update(self, output, target):
        pred, true = _labels(output, target, self.threshold)
        self.correct += int(np.count_nonzero(pred == true))
        self.count += pred.size

    def result(self):
        return self.correct / self.count if self.count else float("nan")


class _Confusion(_Metric):
    """Per-class true positives, predicted and true counts, grown as classes appear."""

    def reset(self):
        self.tp = self.pred = self.true = np.zeros(0, np.int64)
        self.binary = None

    def update(self, output, target):
        pred, true = _labels(output, target, self.threshold)
        if self.binary is None:
            self.binary = np.shape(output) == np.shape(target)
        k = max(len(self.tp), int(pred.max(initial=0)) + 1, int(true.max(initial=0)) + 1)
        grow = lambda a: np.pad(a, (0, k - len(a)))  # noqa: E731
        self.tp = grow(self.tp) + np.bincount(true[pred == true], minlength=k)
        self.pred = grow(self.pred) + np.bincount(pred, minlength=k)
        self.true = grow(self.true) + np.bincount(true, minlength=k)

    def result(self):
        if not len(self.tp):
            return float("nan")
        tp, pred, true = self.tp, self.pred, self.true
        if self.binary:
            tp, pred, true = tp[1:2], pred[1:2], true[1:2]
            if not len(tp):
                return 0.0
        else:
            seen = (pred + true) > 0
            tp, pred, true = tp[seen], pred[seen], true[seen]
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(pred > 0, tp / np.maximum(pred, 1), 0.0)
            r = np.where(true > 0, tp / np.maximum(true, 1), 0.0)
            if self.name == "precision":
                s = p
            elif self.name == "recall":
                s = r
            else:
                den = pred + true
                s = np.where(den > 0, 2 * tp / np.maximum(den, 1), 0.0)
        return float(np.mean(s))


class _Error(_Metric):
    def reset(self):
        self.total = 0.0
        self.count = 0

    def update(self, output, target):
        output, target = np.asarray(output), np.asarray(target)
        if output.shape != target.shape:
            raise ValueError(f"{self.name} needs targets shaped like the output "
                             f"{output.shape}, got {target.shape}")
        diff = output.astype(np.float64) - target
        self.total += float(np.sum(diff * diff) if self.name == "mse" else np.sum(np.abs(diff)))
        self.count += diff.size

    def result(self):
        return self.total / self.count if self.count else float("nan")


class _Callable(_Metric):
    def __init__(self, fn):
        self.fn = fn
        super().__init__(getattr(fn, "__name__", type(fn).__name__), None)

    def reset(self):
        self.total = 0.0
        self.count = 0

    def update(self, output, target):
        n = len(output)
        self.total += float(self.fn(output, target)) * n
        self.count += n

    def result(self):
        return self.total / self.count if self.count else float("nan")


_KINDS = {"accuracy": _Accuracy, "acc": _Accuracy, "precision": _Confusion,
          "recall": _Confusion, "f1": _Confusion, "mse": _Error, "mae": _Error}


def make_metrics(metrics, loss):
    """Build the metric accumulators; ValueError for an unknown name."""
    if metrics is None:
        return []
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    try:
        metrics = list(metrics)
    except TypeError:
        raise TypeError(f"metrics must be a list of names or callables, "
                        f"got {type(metrics).__name__}") from None
    threshold = 0.0 if isinstance(loss, BCEWithLogitsLoss) else 0.5
    out = []
    for m in metrics:
        if isinstance(m, str):
            if m not in _KINDS:
                raise ValueError(f"unknown metric {m!r}; known: {list(METRIC_NAMES)} "
                                 f"or a callable fn(output, target)")
            out.append(_KINDS[m](m, threshold))
        elif callable(m):
            out.append(_Callable(m))
        else:
            raise TypeError(f"a metric must be a name or a callable, got {type(m).__name__}")
    names = [m.name for m in out]
    if len(set(names)) != len(names) or "loss" in names or "lr" in names:
        raise ValueError(f"metric names must be distinct and not 'loss' or 'lr', got {names}")
    return out
