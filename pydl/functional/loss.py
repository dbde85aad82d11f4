"""Classification and divergence losses, each computed with its gradient in one fused
kernel pass.

``*_forward`` returns ``(loss, grad)``: the loss (a Python float for reduction
``"mean"``/``"sum"``, an array for ``"none"``) and its gradient with respect to the
input, ready for ``*_backward`` to scale by an upstream gradient. Pass
``need_grad=False`` to evaluate the loss alone (grad is then None).
"""

import warnings

import numpy as np

from .._ext import loss as _loss
from .._threading import _state as _threading_state
from .._threading import get_num_threads
from ._alloc import _state as _alloc_state
from ._alloc import empty, empty_like
from ._loss_util import (broadcast_operand, class_rows, class_scores_and_labels,
                         class_weight, elementwise_backward, input_and_target, mean_scale,
                         reduce_rows, reduce_total, restore_class_axis, rowwise_backward,
                         run_elementwise, sample_shape)
from ._validation import FLOAT_DTYPES, as_float_array, check_int, check_real, check_reduction

_ndarray = np.ndarray
_np_empty = np.empty
_F32, _F64 = FLOAT_DTYPES
_INT64 = np.dtype(np.int64)

__all__ = [
    "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
    "nll_loss_forward", "nll_loss_backward",
    "binary_cross_entropy_forward", "binary_cross_entropy_backward",
    "binary_cross_entropy_with_logits_forward", "binary_cross_entropy_with_logits_backward",
    "kl_div_forward", "kl_div_backward",
]

KL_REDUCTIONS = ("mean", "batchmean", "sum", "none")


def softmax_cross_entropy_forward(logits, target, weight=None, ignore_index=-100,
                                  reduction="mean", label_smoothing=0.0, need_grad=True):
    """Cross-entropy of ``softmax(logits)`` (``F.cross_entropy``), against class indices
    or against class probabilities (soft labels).

    One pass per row computes the log-sum-exp, the loss and the gradient.

    Parameters
    ----------
    logits : ndarray, shape (N, C), (C,) or (N, C, d1, ...)
        Unnormalised scores.
    target : ndarray
        Integer class indices of shape (N,), () or (N, d1, ...), each in ``[0, C)`` or
        ``ignore_index``; or float class probabilities of logits' shape and dtype.
    weight : ndarray, shape (C,), optional
        Per-class weights (a manual rescaling, as in PyTorch).
    ignore_index : int
        Label whose samples contribute neither loss nor gradient (index targets only).
    reduction : {"mean", "sum", "none"}
        ``"mean"`` divides by the summed weight ``sum_i w[t_i]`` of the non-ignored
        targets for index targets, and by the number of samples for probabilities
        (both as PyTorch).
    label_smoothing : float in [0, 1]
        Mixes the target with the uniform distribution: ``(1 - eps) y + eps / C``.
    need_grad : bool

    Returns
    -------
    loss : float, or ndarray of the per-sample shape for ``reduction="none"``
    grad : ndarray of logits' shape, or None
    """
    check_reduction(reduction)
    ignore_index = check_int(ignore_index, "ignore_index")
    eps = check_real(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    if type(logits) is _ndarray and type(target) is _ndarray and weight is None \
            and logits.ndim == 2 and target.dtype is _INT64 and logits.flags.c_contiguous \
            and target.flags.c_contiguous and reduction != "none" \
            and (logits.dtype is _F32 or logits.dtype is _F64):
        # (N, C) float logits and (N,) int64 labels, no class weights, reduced: the checks
        # of _indexed_loss with one pass over the labels for their range, and the
        # weighted count (the number of non-ignored labels) taken from it when no label
        # can equal ignore_index
        n, c = logits.shape
        if target.shape == (n,) and n and c:
            lo, hi = int(target.min()), int(target.max())
            if 0 <= lo and hi < c:
                denom = float(n) if not 0 <= ignore_index < c \
                    else float((target != ignore_index).sum())
                loss_rows = _np_empty(n, logits.dtype) if not _alloc_state["poison"] \
                    else empty(n, logits.dtype)
                grad = (_np_empty((n, c), logits.dtype) if not _alloc_state["poison"]
                        else empty((n, c), logits.dtype)) if need_grad else None
                _loss.softmax_cross_entropy_forward(
                    logits, target, None, ignore_index, eps, mean_scale(reduction, denom),
                    loss_rows, grad,
                    1 if _threading_state["n_threads"] == 1 else get_num_threads())
                return reduce_total(reduction, float(loss_rows.sum(dtype=np.float64)),
                                    denom), grad
    if isinstance(target, (list, tuple)):
        target = np.asarray(target)
    if isinstance(target, np.ndarray) and target.dtype.kind == "f":
        return _soft_cross_entropy(logits, target, weight, ignore_index, reduction, eps,
                                   need_grad)
    return _indexed_loss(_loss.softmax_cross_entropy_forward, logits, "logits", target, weight,
                         ignore_index, (eps,), reduction, need_grad)


def _indexed_loss(kernel, scores, scores_name, target, weight, ignore_index, hyper,
                  reduction, need_grad):
    """Run a row kernel ``kernel(rows, labels, weight, ignore_index, *hyper, grad_scale,
    loss, grad, n_threads)`` on class scores with index targets; mean weighted as
    PyTorch's."""
    scores, t, n_classes = class_scores_and_labels(scores, target, scores_name, ignore_index)
    w = class_weight(weight, n_classes, scores, scores_name)
    rows = class_rows(scores)
    t_flat = t.reshape(-1)
    denom = _weighted_count(t_flat, w, ignore_index)
    loss_rows = empty(rows.shape[0], dtype=scores.dtype)
    grad_rows = empty_like(rows) if need_grad else None
    kernel(rows, t_flat, w, ignore_index, *hyper, mean_scale(reduction, denom), loss_rows,
           grad_rows, get_num_threads())
    loss = reduce_rows(loss_rows, reduction, denom, t.shape)
    return loss, (restore_class_axis(grad_rows, scores.shape) if need_grad else None)


def _weighted_count(t_flat, w, ignore_index):
    """Denominator of PyTorch's weighted mean: sum of w[t] over non-ignored targets."""
    valid = t_flat != ignore_index
    return float(w[t_flat[valid]].sum(dtype=np.float64)) if w is not None \
        else float(valid.sum())


def _soft_cross_entropy(logits, target, weight, ignore_index, reduction, eps, need_grad):
    if ignore_index != -100:
        raise ValueError("ignore_index is not supported for class-probability (float) "
                         "targets; leave it at -100")
    logits = as_float_array(logits, "logits", min_ndim=1)
    target = as_float_array(target, "target", like=logits, like_name="logits")
    if target.shape != logits.shape:
        raise ValueError(f"target holds class probabilities, so it must have logits' "
                         f"shape {logits.shape}, got {target.shape}")
    n_classes = logits.shape[1] if logits.ndim >= 2 else logits.shape[0]
    if n_classes == 0:
        raise ValueError(f"logits has shape {logits.shape}: the class dimension must be "
                         f"non-empty")
    w = class_weight(weight, n_classes, logits, "logits")
    rows = class_rows(logits)
    n = rows.shape[0]
    loss_rows = empty(n, dtype=logits.dtype)
    grad_rows = empty_like(rows) if need_grad else None
    _loss.softmax_cross_entropy_soft_forward(rows, class_rows(target), w, eps,
                                             mean_scale(reduction, n), loss_rows, grad_rows,
                                             get_num_threads())
    loss = reduce_rows(loss_rows, reduction, n, sample_shape(logits.shape))
    return loss, (restore_class_axis(grad_rows, logits.shape) if need_grad else None)


def softmax_cross_entropy_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from :func:`softmax_cross_entropy_forward` by ``grad_loss``.

    Parameters
    ----------
    grad : ndarray, logits' shape
    grad_loss : float, or (for ``reduction="none"``) ndarray of the per-sample loss shape
    reduction : the reduction the forward pass used
    """
    if type(grad) is _ndarray and type(grad_loss) is float \
            and (reduction == "mean" or reduction == "sum") \
            and grad.flags.c_contiguous and (grad.dtype is _F32 or grad.dtype is _F64):
        # rowwise_backward on a saved gradient and a float: its checks, then the scaling
        g = check_real(grad_loss, "grad_loss")
        return grad if g == 1.0 else grad * grad.dtype.type(g)
    return rowwise_backward(grad, grad_loss, reduction, "softmax_cross_entropy_backward")


def nll_loss_forward(input, target, weight=None, ignore_index=-100, reduction="mean",
                     need_grad=True):
    """Negative log-likelihood of log-probabilities (``F.nll_loss``).

    ``loss_i = -w[t_i] * input[i, t_i]``; pair with :func:`log_softmax_forward`.

    Parameters
    ----------
    input : ndarray, shape (N, C), (C,) or (N, C, d1, ...)
        Log-probabilities.
    target : integer ndarray, shape (N,), () or (N, d1, ...)
        Class indices in ``[0, C)``, or ``ignore_index``.
    weight : ndarray, shape (C,), optional
    ignore_index : int
    reduction : {"mean", "sum", "none"}
        ``"mean"`` divides by ``sum_i w[t_i]`` over the non-ignored targets (NaN when
        all are ignored), as PyTorch.
    need_grad : bool

    Returns
    -------
    loss : float, or ndarray of target's shape for ``reduction="none"``
    grad : ndarray of input's shape, or None
    """
    check_reduction(reduction)
    ignore_index = check_int(ignore_index, "ignore_index")
    return _indexed_loss(_loss.nll_loss_forward, input, "input", target, weight, ignore_index,
                         (), reduction, need_grad)


def nll_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from :func:`nll_loss_forward` by ``grad_loss``."""
    return rowwise_backward(grad, grad_loss, reduction, "nll_loss_backward")


def binary_cross_entropy_forward(input, target, weight=None, reduction="mean",
                                 need_grad=True):
    """Binary cross-entropy of probabilities (``F.binary_cross_entropy``).

    ``l = -w [y log(x) + (1 - y) log(1 - x)]`` with both logs clamped at -100 and the
    gradient ``w (x - y) / max(x (1 - x), 1e-12)``, as PyTorch; prefer
    :func:`binary_cross_entropy_with_logits_forward` on logits.

    Parameters
    ----------
    input : ndarray, any shape, values in [0, 1]
    target : ndarray, input's shape, values in [0, 1]
    weight : ndarray broadcastable to input's shape, optional
    reduction : {"mean", "sum", "none"}
    need_grad : bool
    """
    check_reduction(reduction)
    input, target = input_and_target(input, target)
    for a, name in ((input, "input"), (target, "target")):
        if not np.all((a >= 0) & (a <= 1)):
            raise ValueError(f"all elements of {name} must be between 0 and 1 "
                             f"(probabilities); use binary_cross_entropy_with_logits on "
                             f"logits")
    w = None if weight is None else broadcast_operand(weight, "weight", input.shape, input)
    return run_elementwise(_loss.binary_cross_entropy_forward, input, target, w,
                           reduction=reduction, need_grad=need_grad)


def binary_cross_entropy_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from :func:`binary_cross_entropy_forward` by ``grad_loss``."""
    return elementwise_backward(grad, grad_loss, reduction, "binary_cross_entropy_backward")


def binary_cross_entropy_with_logits_forward(logits, target, weight=None, pos_weight=None,
                                             reduction="mean", need_grad=True):
    """Binary cross-entropy of ``sigmoid(logits)`` (``F.binary_cross_entropy_with_logits``).

    ``l = -w [pw * y * log(sigmoid(x)) + (1 - y) * log(1 - sigmoid(x))]``, computed
    without overflow through softplus.

    Parameters
    ----------
    logits : ndarray, any shape
    target : ndarray, logits' shape, values in [0, 1] (soft labels allowed)
    weight : ndarray broadcastable to logits' shape, optional
    pos_weight : ndarray broadcastable to logits' shape (e.g. (C,)), optional
        Weight of the positive term per class.
    reduction : {"mean", "sum", "none"}
    need_grad : bool

    Returns
    -------
    loss : float, or ndarray of logits' shape for ``reduction="none"``
    grad : ndarray of logits' shape, or None
    """
    check_reduction(reduction)
    logits, target = input_and_target(logits, target, "logits")
    w = None if weight is None else broadcast_operand(weight, "weight", logits.shape, logits)
    pw = (None if pos_weight is None
          else broadcast_operand(pos_weight, "pos_weight", logits.shape, logits))
    return run_elementwise(_loss.binary_cross_entropy_with_logits_forward, logits, target,
                           w, pw, reduction=reduction, need_grad=need_grad)


def binary_cross_entropy_with_logits_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from the forward pass by ``grad_loss`` (array for "none")."""
    return elementwise_backward(grad, grad_loss, reduction,
                                "binary_cross_entropy_with_logits_backward")


def kl_div_forward(input, target, reduction="mean", log_target=False, need_grad=True):
    """Kullback-Leibler divergence ``KL(target || exp(input))`` pointwise (``F.kl_div``).

    ``l = target * (log(target) - input)`` (0 where target is 0), or with
    ``log_target=True`` ``l = exp(target) * (target - input)``. The gradient is with
    respect to ``input`` only: ``-target`` (or ``-exp(target)``).

    Parameters
    ----------
    input : ndarray, any shape
        Log-probabilities (e.g. from :func:`log_softmax_forward`).
    target : ndarray, input's shape
        Probabilities, or log-probabilities with ``log_target=True``.
    reduction : {"mean", "batchmean", "sum", "none"}
        ``"batchmean"`` divides the sum by ``input.shape[0]`` (the mathematical KL
        divergence of a batch); ``"mean"`` divides by the number of elements and, as in
        PyTorch, warns that this is rarely what is meant.
    log_target : bool
    need_grad : bool
    """
    if reduction not in KL_REDUCTIONS:
        raise ValueError(f"reduction must be one of {KL_REDUCTIONS}, got {reduction!r}")
    if not isinstance(log_target, (bool, np.bool_)):
        raise TypeError(f"log_target must be a bool, got {type(log_target).__name__}")
    input, target = input_and_target(input, target)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and "
                      "the support size. 'batchmean' divides only by the batch size, and "
                      "aligns with the KL div math definition.", UserWarning, stacklevel=2)
    count = None
    if reduction == "batchmean":
        count = input.shape[0] if input.ndim else 1
    loss, grad = run_elementwise(_loss.kl_div_forward, input, target, bool(log_target),
                                 reduction="mean" if count is not None else reduction,
                                 need_grad=need_grad, count=count)
    return loss, grad


def kl_div_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from :func:`kl_div_forward` by ``grad_loss``."""
    if reduction not in KL_REDUCTIONS:
        raise ValueError(f"reduction must be one of {KL_REDUCTIONS}, got {reduction!r}")
    return elementwise_backward(grad, grad_loss, reduction, "kl_div_backward")
