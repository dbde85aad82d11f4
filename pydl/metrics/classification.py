"""Classification metrics on label arrays, with scikit-learn's semantics and results.

Inputs are 1-D arrays of labels (ints, bools, strings, or integral floats) of the same
length, or, for multi-label data, 2-D label-indicator arrays ``(n_samples, n_labels)``
of 0 and 1 (``y[i, j] = 1``: sample ``i`` has label ``j``). Scores from a model must be
turned into labels first, e.g. ``model_output.argmax(axis=1)`` (one label per sample)
or ``probabilities > 0.5`` (multi-label).
"""

import numbers
import warnings

import numpy as np

from ..data._checks import as_array, check_same_length

__all__ = [
    "UndefinedMetricWarning",
    "accuracy",
    "accuracy_score",
    "confusion_matrix",
    "f1_score",
    "fbeta_score",
    "precision",
    "precision_recall_fscore_support",
    "precision_score",
    "recall",
    "recall_score",
    "zero_one_loss",
]

AVERAGES = (None, "binary", "micro", "macro", "weighted", "samples")


class UndefinedMetricWarning(UserWarning):
    """A precision, recall or F-score divided zero by zero (scikit-learn's warning)."""


def _labels_1d(y, name):
    y = as_array(y, name, kinds="biufUSO", finite=False)
    if y.ndim == 2 and y.shape[1] == 1:  # a column of labels (scikit-learn takes it)
        y = y[:, 0]
    if y.ndim != 1:
        hint = (" (scores or probabilities? take y.argmax(axis=1) first)"
                if y.ndim == 2 and y.dtype.kind == "f" else "")
        raise ValueError(f"{name} must be a 1-D array of labels, got shape {y.shape}{hint}")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or infinity, which are not labels")
    if y.dtype.kind == "O":
        try:
            np.unique(y)
        except TypeError as exc:
            raise TypeError(f"{name} holds labels that cannot be compared: {exc}") from None
    return y


def _sample_weight(sample_weight, arrays, names):
    """``sample_weight`` as float64 (or None), checked, and every array's length."""
    arrays, names = list(arrays), list(names)
    if sample_weight is not None:
        sample_weight = as_array(sample_weight, "sample_weight", kinds="biuf").astype(
            np.float64)
        if sample_weight.ndim != 1:
            raise ValueError(f"sample_weight must be 1-D, got shape {sample_weight.shape}")
        if np.any(sample_weight < 0):
            raise ValueError("sample_weight must be >= 0")
        arrays.append(sample_weight)
        names.append("sample_weight")
    check_same_length(arrays, names)
    return sample_weight


def _is_indicator(y):
    """Whether ``y`` has the form of a multi-label indicator array (2-D, >1 column)."""
    shape = np.shape(y)
    return len(shape) == 2 and shape[1] > 1


def _indicator(y, name):
    """``y`` as a bool label-indicator array (n_samples, n_labels), checked."""
    y = as_array(y, name, kinds="biuf", finite=False)
    if y.ndim != 2:
        raise ValueError(f"{name} must be a 2-D label-indicator array, got shape {y.shape}")
    if y.dtype.kind != "b" and not np.isin(y, (0, 1)).all():
        hint = (" (scores or probabilities? threshold them first, e.g. y > 0.5, or take "
                "y.argmax(axis=1) for one label per sample)" if y.dtype.kind == "f" else "")
        raise ValueError(f"{name} is a 2-D label-indicator array (multi-label), so it must "
                         f"hold only 0 and 1{hint}")
    return y.astype(bool, copy=False)


def _multilabel_targets(y_true, y_pred, sample_weight):
    """Checked ``(y_true, y_pred, sample_weight)`` when the targets are multi-label
    indicator arrays, None when they are 1-D labels."""
    if not (_is_indicator(y_true) or _is_indicator(y_pred)):
        return None
    for name, y, other in (("y_true", y_true, y_pred), ("y_pred", y_pred, y_true)):
        if not _is_indicator(y):
            hint = (" (scores or probabilities? take y.argmax(axis=1) first)"
                    if np.asarray(other).dtype.kind == "f" else "")
            raise ValueError(f"{name} must be a 1-D array of labels or, as the other is, a "
                             f"2-D label-indicator array; got shape {np.shape(y)} with "
                             f"shape {np.shape(other)}{hint}")
    y_true, y_pred = _indicator(y_true, "y_true"), _indicator(y_pred, "y_pred")
    if y_true.shape[1] != y_pred.shape[1]:
        raise ValueError(f"y_true and y_pred must have the same number of labels "
                         f"(columns), got {y_true.shape[1]} and {y_pred.shape[1]}")
    sample_weight = _sample_weight(sample_weight, (y_true, y_pred), ("y_true", "y_pred"))
    return y_true, y_pred, sample_weight


def _check_targets(y_true, y_pred, sample_weight):
    y_true, y_pred = _labels_1d(y_true, "y_true"), _labels_1d(y_pred, "y_pred")
    sample_weight = _sample_weight(sample_weight, (y_true, y_pred), ("y_true", "y_pred"))
    try:
        present = np.union1d(y_true, y_pred)
    except TypeError as exc:
        raise TypeError(f"y_true and y_pred hold labels of types that cannot be compared: "
                        f"{exc}") from None
    return y_true, y_pred, sample_weight, present


def _as_label_list(labels, present):
    if labels is None:
        return present
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D list, got shape {labels.shape}")
    if len(np.unique(labels)) != len(labels):
        raise ValueError("labels must not repeat a label")
    return labels


def _index_of(labels, y):
    """Position of each y in ``labels``, -1 where absent."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    pos = np.searchsorted(sorted_labels, y)
    pos = np.clip(pos, 0, len(labels) - 1)
    found = sorted_labels[pos] == y
    return np.where(found, order[pos], -1)


def _counts(y_true, y_pred, labels, sample_weight):
    """Weighted (true, predicted) co-occurrence counts over ``labels``."""
    k = len(labels)
    t, p = _index_of(labels, y_true), _index_of(labels, y_pred)
    keep = (t >= 0) & (p >= 0)
    w = None if sample_weight is None else sample_weight[keep]
    cm = np.bincount(t[keep] * k + p[keep], weights=w, minlength=k * k).reshape(k, k)
    return cm if sample_weight is not None else cm.astype(np.int64)


def confusion_matrix(y_true, y_pred, *, labels=None, sample_weight=None, normalize=None):
    """``C[i, j]``: number of samples of true class ``labels[i]`` predicted as ``labels[j]``.

    Parameters
    ----------
    labels : list, optional
        Row and column order; default every label seen, sorted. Samples whose labels
        are not listed are left out.
    sample_weight : array (N,), optional
    normalize : {None, "true", "pred", "all"}
        Divide by the row sums, the column sums or the total.

    Returns
    -------
    ndarray (K, K)
        int64 counts, float64 when weighted or normalized.
    """
    y_true, y_pred, sample_weight, present = _check_targets(y_true, y_pred, sample_weight)
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"normalize must be one of None, 'true', 'pred', 'all'; "
                         f"got {normalize!r}")
    labels = _as_label_list(labels, present)
    if not np.isin(labels, present).any() and labels is not present:
        raise ValueError("none of the labels given is in y_true or y_pred")
    cm = _counts(y_true, y_pred, labels, sample_weight)
    if normalize is None:
        return cm
    with np.errstate(divide="ignore", invalid="ignore"):
        if normalize == "true":
            cm = cm / cm.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            cm = cm / cm.sum(axis=0, keepdims=True)
        else:
            cm = cm / cm.sum()
    return np.nan_to_num(cm)


def accuracy(y_true, y_pred, *, normalize=True, sample_weight=None):
    """Fraction (or, with ``normalize=False``, the weighted number) of correct labels.

    For multi-label indicator arrays, the subset accuracy: a sample counts as correct
    when its whole row of labels is."""
    multilabel = _multilabel_targets(y_true, y_pred, sample_weight)
    if multilabel is not None:
        y_true, y_pred, sample_weight = multilabel
        correct = (y_true == y_pred).all(axis=1).astype(np.float64)
    else:
        y_true, y_pred, sample_weight, _ = _check_targets(y_true, y_pred, sample_weight)
        correct = (y_true == y_pred).astype(np.float64)
    if not normalize:
        return float(correct.sum() if sample_weight is None else correct @ sample_weight)
    if sample_weight is None:
        return float(correct.mean())
    if not sample_weight.sum() > 0:
        raise ValueError("sample_weight sums to 0, so the weighted fraction is undefined; "
                         "give some sample a positive weight (or normalize=False)")
    return float(np.average(correct, weights=sample_weight))


def zero_one_loss(y_true, y_pred, *, normalize=True, sample_weight=None):
    """Fraction (or weighted number, with ``normalize=False``) of wrong labels."""
    score = accuracy(y_true, y_pred, normalize=normalize, sample_weight=sample_weight)
    if normalize:
        return 1.0 - score
    total = len(y_true) if sample_weight is None else float(np.sum(sample_weight))
    return float(total - score)


def _zero_division_value(zero_division):
    if isinstance(zero_division, str) and zero_division == "warn":
        return 0.0
    if isinstance(zero_division, numbers.Real) and not isinstance(zero_division, bool):
        if zero_division in (0, 1):
            return float(zero_division)
        if np.isnan(zero_division):
            return np.nan
    raise ValueError(f"zero_division must be 'warn', 0, 1 or nan, got {zero_division!r}")


def _divide(num, den, what, zero_division, warn, samplewise=False):
    zero = den == 0
    out = num / np.where(zero, 1, den)
    if zero.any():
        out[zero] = _zero_division_value(zero_division)
        if warn and isinstance(zero_division, str):
            kind = "predicted" if what == "Precision" else "true"
            where = (f"in samples with no {kind} labels" if samplewise
                     else f"for labels with no {kind} samples")
            warnings.warn(f"{what} is ill-defined and being set to 0.0 {where}; use "
                          f"zero_division to control this", UndefinedMetricWarning,
                          stacklevel=4)
    return out


def precision_recall_fscore_support(y_true, y_pred, *, beta=1.0, labels=None, pos_label=1,
                                    average=None, sample_weight=None, zero_division="warn",
                                    _warn_for=("precision", "recall", "f-score")):
    """Per-label (``average=None``) or averaged precision, recall, F-beta and support.

    ``y_true`` and ``y_pred``: 1-D label arrays (N,), or multi-label indicator arrays
    (N, L) of 0/1, where each column is a label (and ``labels`` are column indices).

    Parameters
    ----------
    beta : float >= 0
        Weight of recall in the F-score (1: F1).
    labels : list, optional
        Labels to score (and their order for ``average=None``).
    pos_label : label
        The positive class when ``average="binary"``.
    average : {None, "binary", "micro", "macro", "weighted", "samples"}
        ``binary``: the positive class only (two-class data); ``micro``: from the
        counts summed over labels; ``macro``: unweighted mean over labels;
        ``weighted``: mean weighted by each label's support; ``samples``
        (multi-label only): each sample's score over its labels, averaged over the
        samples (weighted by ``sample_weight``).
    zero_division : "warn", 0, 1 or nan
        The value of a 0/0 score ("warn": 0 with an UndefinedMetricWarning).

    Returns
    -------
    precision, recall, fbeta, support
        Arrays for ``average=None``, else floats and ``support=None``.
    """
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not beta >= 0:
        raise ValueError(f"beta must be a number >= 0, got {beta!r}")
    _zero_division_value(zero_division)
    multilabel = _multilabel_targets(y_true, y_pred, sample_weight)
    if multilabel is not None:
        y_true, y_pred, sample_weight = multilabel
        tp, pred_sum, true_sum = _indicator_counts(y_true, y_pred, sample_weight, labels,
                                                   average)
    else:
        tp, pred_sum, true_sum, sample_weight = _label_counts(
            y_true, y_pred, sample_weight, labels, pos_label, average)
    if average == "micro":
        tp, pred_sum, true_sum = tp.sum(keepdims=True), pred_sum.sum(keepdims=True), \
            true_sum.sum(keepdims=True)
    samplewise = average == "samples"
    prec = _divide(tp, pred_sum, "Precision", zero_division, "precision" in _warn_for,
                   samplewise)
    rec = _divide(tp, true_sum, "Recall", zero_division, "recall" in _warn_for, samplewise)
    if np.isinf(beta):
        f = rec
    elif beta == 0:
        f = prec
    else:
        b2 = beta * beta
        f = _divide((1 + b2) * tp, b2 * true_sum + pred_sum, "F-score", zero_division,
                    "f-score" in _warn_for, samplewise)
    if average is None:
        support = true_sum if sample_weight is not None else true_sum.astype(np.int64)
        return prec, rec, f, support
    weights = {"weighted": true_sum, "samples": sample_weight}.get(average)
    return _nanaverage(prec, weights), _nanaverage(rec, weights), _nanaverage(f, weights), None


def _label_counts(y_true, y_pred, sample_weight, labels, pos_label, average):
    """Per-label weighted (tp, predicted, true) counts of 1-D label arrays, and the
    checked sample weights."""
    y_true, y_pred, sample_weight, present = _check_targets(y_true, y_pred, sample_weight)
    if average == "samples":
        raise ValueError("average='samples' needs multi-label targets (2-D "
                         "label-indicator arrays); for 1-D labels choose None, 'binary', "
                         "'micro', 'macro' or 'weighted'")
    if average == "binary":
        if len(present) > 2:
            raise ValueError(f"target is multiclass ({len(present)} labels) but "
                             f"average='binary'; choose average=None, 'micro', 'macro' "
                             f"or 'weighted'")
        if pos_label not in present and len(present) >= 2:
            raise ValueError(f"pos_label={pos_label!r} is not a valid label; it should be "
                             f"one of {present.tolist()}")
        labels = np.asarray([pos_label])
    else:
        labels = _as_label_list(labels, present)
    k = len(labels)
    t, p = _index_of(labels, y_true), _index_of(labels, y_pred)
    w = np.ones(len(y_true)) if sample_weight is None else sample_weight
    tp = np.bincount(t[(t >= 0) & (t == p)], weights=w[(t >= 0) & (t == p)], minlength=k)
    pred_sum = np.bincount(p[p >= 0], weights=w[p >= 0], minlength=k)
    true_sum = np.bincount(t[t >= 0], weights=w[t >= 0], minlength=k)
    return tp, pred_sum, true_sum, sample_weight


def _indicator_counts(y_true, y_pred, sample_weight, labels, average):
    """Weighted (tp, predicted, true) counts of bool indicator arrays: per label
    (column), or per sample (row) for ``average="samples"``, each row's counts
    scaled by its weight as scikit-learn does."""
    if average == "binary":
        raise ValueError("target is multilabel-indicator but average='binary'; choose "
                         "average=None, 'micro', 'macro', 'weighted' or 'samples'")
    n_labels = y_true.shape[1]
    if labels is not None:
        columns = _as_label_list(labels, None)
        if columns.dtype.kind not in "iu" or columns.min() < 0 or columns.max() >= n_labels:
            raise ValueError(f"labels of multi-label targets are column indices: ints in "
                             f"[0, {n_labels}), got {columns.tolist()}")
        y_true, y_pred = y_true[:, columns], y_pred[:, columns]
    both = y_true & y_pred
    if average == "samples":
        counts = [a.sum(axis=1) for a in (both, y_pred, y_true)]
        return tuple(c if sample_weight is None else c * sample_weight for c in counts)
    if sample_weight is None:
        return tuple(a.sum(axis=0) for a in (both, y_pred, y_true))
    return tuple(sample_weight @ a for a in (both, y_pred, y_true))


def _nanaverage(a, weights):
    keep = ~np.isnan(a)
    if not keep.any():
        return float("nan")
    if weights is None or weights[keep].sum() == 0:
        return float(np.mean(a[keep]))
    return float(np.average(a[keep], weights=weights[keep]))


def precision(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
              sample_weight=None, zero_division="warn"):
    """tp / (tp + fp): of the samples predicted as a class, the fraction truly in it."""
    return precision_recall_fscore_support(
        y_true, y_pred, labels=labels, pos_label=pos_label, average=average,
        sample_weight=sample_weight, zero_division=zero_division,
        _warn_for=("precision",))[0]


def recall(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
           sample_weight=None, zero_division="warn"):
    """tp / (tp + fn): of the samples of a class, the fraction found."""
    return precision_recall_fscore_support(
        y_true, y_pred, labels=labels, pos_label=pos_label, average=average,
        sample_weight=sample_weight, zero_division=zero_division,
        _warn_for=("recall",))[1]


def fbeta_score(y_true, y_pred, *, beta, labels=None, pos_label=1, average="binary",
                sample_weight=None, zero_division="warn"):
    """Weighted harmonic mean of precision and recall (recall ``beta`` times as
    important)."""
    return precision_recall_fscore_support(
        y_true, y_pred, beta=beta, labels=labels, pos_label=pos_label, average=average,
        sample_weight=sample_weight, zero_division=zero_division,
        _warn_for=("f-score",))[2]


def f1_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
             sample_weight=None, zero_division="warn"):
    """Harmonic mean of precision and recall: 2 tp / (2 tp + fp + fn)."""
    return fbeta_score(y_true, y_pred, beta=1.0, labels=labels, pos_label=pos_label,
                       average=average, sample_weight=sample_weight,
                       zero_division=zero_division)


# scikit-learn's names
accuracy_score = accuracy
precision_score = precision
recall_score = recall
