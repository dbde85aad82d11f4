"""Losses, each computed with its gradient in one fused kernel pass.

``*_forward`` returns ``(loss, grad)``: the loss (a Python float for reduction
``"mean"``/``"sum"``, an array for ``"none"``) and its gradient with respect to the
input, ready for ``*_backward`` to scale by an upstream gradient. Pass
``need_grad=False`` to evaluate the loss alone (grad is then None).
"""

import numpy as np

from .._ext import loss as _loss
from .._threading import get_num_threads
from ._alloc import empty, empty_like
from ._validation import (as_float_array, as_index_array, check_int, check_real,
                          check_reduction, check_same_shape)

__all__ = [
    "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
    "binary_cross_entropy_with_logits_forward", "binary_cross_entropy_with_logits_backward",
    "mse_loss_forward", "mse_loss_backward",
]


def _loss_grad_and_upstream(grad, grad_loss, reduction, name):
    """Check a saved loss gradient and its upstream gradient for a ``*_backward``.

    Returns ``(grad, g)``: ``g`` is a float for reductions "mean"/"sum" and for a
    scalar upstream gradient, else an array of the upstream gradient's shape.
    """
    check_reduction(reduction)
    if grad is None:
        raise ValueError(f"{name}: grad is None; the forward pass ran with need_grad=False")
    grad = as_float_array(grad, "grad")
    if reduction != "none" or np.ndim(grad_loss) == 0:
        if isinstance(grad_loss, np.ndarray):
            grad_loss = grad_loss.item()
        return grad, check_real(grad_loss, "grad_loss")
    g = as_float_array(np.asarray(grad_loss, dtype=grad.dtype), "grad_loss")
    return grad, g


def _scaled(grad, g):
    return grad if g == 1.0 else grad * grad.dtype.type(g)


def _move_class_axis_last(logits):
    """(N, C, d1, ...) -> (N*d1*..., C): PyTorch's K-dimensional cross-entropy layout."""
    if logits.ndim <= 2:
        return logits.reshape(-1, logits.shape[-1]) if logits.ndim == 2 else logits[None, :]
    return np.ascontiguousarray(np.moveaxis(logits, 1, -1)).reshape(-1, logits.shape[1])


def _restore_class_axis(rows, shape):
    if len(shape) <= 2:
        return rows.reshape(shape)
    moved = rows.reshape(shape[0], *shape[2:], shape[1])
    return np.ascontiguousarray(np.moveaxis(moved, -1, 1))


def softmax_cross_entropy_forward(logits, target, weight=None, ignore_index=-100,
                                  reduction="mean", label_smoothing=0.0, need_grad=True):
    """Cross-entropy of ``softmax(logits)`` against class indices (``F.cross_entropy``).

    One pass per row computes the log-sum-exp, the loss and the gradient.

    Parameters
    ----------
    logits : ndarray, shape (N, C), (C,) or (N, C, d1, ...)
        Unnormalised scores.
    target : integer ndarray, shape (N,), () or (N, d1, ...)
        Class indices in ``[0, C)``, or ``ignore_index``.
    weight : ndarray, shape (C,), optional
        Per-class weights (a manual rescaling, as in PyTorch).
    ignore_index : int
        Label whose samples contribute neither loss nor gradient.
    reduction : {"mean", "sum", "none"}
        ``"mean"`` divides by the summed weight of the non-ignored targets.
    label_smoothing : float in [0, 1]
        Mixes the one-hot target with the uniform distribution.
    need_grad : bool

    Returns
    -------
    loss : float, or ndarray of target's shape for ``reduction="none"``
    grad : ndarray of logits' shape, or None
    """
    check_reduction(reduction)
    ignore_index = check_int(ignore_index, "ignore_index")
    eps = check_real(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    logits = as_float_array(logits, "logits", min_ndim=1)
    shape = logits.shape
    n_classes = shape[1] if logits.ndim >= 2 else shape[0]
    expected_target = (shape[0], *shape[2:]) if logits.ndim >= 2 else ()
    t = as_index_array(target, "target", n_classes, ignore_index)
    if t.shape != expected_target:
        raise ValueError(f"target has shape {t.shape}, expected {expected_target} for "
                         f"logits of shape {shape} (class dimension "
                         f"{1 if logits.ndim >= 2 else 0})")
    if n_classes == 0:
        raise ValueError(f"logits has shape {shape}: the class dimension must be non-empty")
    w = None
    if weight is not None:
        w = as_float_array(weight, "weight", ndim=1, like=logits, like_name="logits")
        if w.shape[0] != n_classes:
            raise ValueError(f"weight has shape {w.shape}, expected ({n_classes},) "
                             f"= (number of classes,)")
    rows = _move_class_axis_last(logits)
    t_flat = t.reshape(-1)
    valid = t_flat != ignore_index
    if reduction == "mean":
        denom = float(w[t_flat[valid]].sum(dtype=np.float64)) if w is not None else float(valid.sum())
        scale = 1.0 / denom if denom != 0 else 0.0
    else:
        denom, scale = None, 1.0
    loss_rows = empty(rows.shape[0], dtype=logits.dtype)
    grad_rows = empty_like(rows) if need_grad else None
    _loss.softmax_cross_entropy_forward(rows, t_flat, w, ignore_index, eps, scale,
                                        loss_rows, grad_rows, get_num_threads())
    if reduction == "none":
        loss = loss_rows.reshape(t.shape)
    else:
        total = float(loss_rows.sum(dtype=np.float64))
        # mean over nothing is NaN, as in PyTorch
        loss = total if reduction == "sum" else (total / denom if denom else float("nan"))
    grad = _restore_class_axis(grad_rows, shape) if need_grad else None
    return loss, grad


def softmax_cross_entropy_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from :func:`softmax_cross_entropy_forward` by ``grad_loss``.

    Parameters
    ----------
    grad : ndarray, logits' shape
    grad_loss : float, or (for ``reduction="none"``) ndarray of the per-sample loss shape
    reduction : the reduction the forward pass used
    """
    grad, g = _loss_grad_and_upstream(grad, grad_loss, reduction,
                                      "softmax_cross_entropy_backward")
    if isinstance(g, float):
        return _scaled(grad, g)
    sample_shape = (grad.shape[0], *grad.shape[2:]) if grad.ndim >= 2 else ()
    if g.shape != sample_shape:
        raise ValueError(f"grad_loss has shape {g.shape}, expected {sample_shape} "
                         f"(one value per sample)")
    rows = _move_class_axis_last(grad)
    out = empty_like(rows)
    _loss.scale_rows(rows, g.reshape(-1), out, get_num_threads())
    return _restore_class_axis(out, grad.shape)


def _elementwise_grad_scale(reduction, n):
    if reduction == "mean":
        return 1.0 / n if n else 0.0
    return 1.0


def _reduce_partials(reduction, partials, n):
    total = float(partials.sum())
    if reduction == "sum":
        return total
    return total / n if n else float("nan")


def _broadcast_operand(a, name, shape, like):
    """A weight broadcast to the input's shape and made contiguous for the kernel."""
    a = as_float_array(a, name, like=like, like_name="input")
    try:
        return np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1)
    except ValueError:
        raise ValueError(f"{name} has shape {a.shape}, which does not broadcast to the "
                         f"input shape {shape}") from None


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
    logits = as_float_array(logits, "logits")
    target = as_float_array(target, "target", like=logits, like_name="logits")
    check_same_shape(target, "target", logits, "logits")
    w = None if weight is None else _broadcast_operand(weight, "weight", logits.shape, logits)
    pw = (None if pos_weight is None
          else _broadcast_operand(pos_weight, "pos_weight", logits.shape, logits))
    n = logits.size
    scale = _elementwise_grad_scale(reduction, n)
    per_elem = empty(n, logits.dtype) if reduction == "none" else None
    partials = empty(-(-n // _loss.CHUNK), np.float64)
    grad = empty(n, logits.dtype) if need_grad else None
    _loss.binary_cross_entropy_with_logits_forward(
        logits.reshape(-1), target.reshape(-1), w, pw, scale, per_elem, partials, grad,
        get_num_threads())
    loss = per_elem.reshape(logits.shape) if reduction == "none" else _reduce_partials(
        reduction, partials, n)
    return loss, (grad.reshape(logits.shape) if need_grad else None)


def binary_cross_entropy_with_logits_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from the forward pass by ``grad_loss`` (array for "none")."""
    return _elementwise_loss_backward(grad, grad_loss, reduction,
                                      "binary_cross_entropy_with_logits_backward")


def mse_loss_forward(input, target, reduction="mean", need_grad=True):
    """Mean squared error ``(input - target)**2`` (``F.mse_loss``).

    Shapes must match exactly: silently broadcasting ``(N, 1)`` against ``(N,)`` is a
    classic bug, so it is refused.

    Returns
    -------
    loss : float, or ndarray of input's shape for ``reduction="none"``
    grad : ndarray of input's shape, or None
    """
    check_reduction(reduction)
    input = as_float_array(input, "input")
    target = as_float_array(target, "target", like=input, like_name="input")
    check_same_shape(target, "target", input, "input")
    n = input.size
    scale = _elementwise_grad_scale(reduction, n)
    per_elem = empty(n, input.dtype) if reduction == "none" else None
    partials = empty(-(-n // _loss.CHUNK), np.float64)
    grad = empty(n, input.dtype) if need_grad else None
    _loss.mse_loss_forward(input.reshape(-1), target.reshape(-1), scale, per_elem, partials,
                           grad, get_num_threads())
    loss = per_elem.reshape(input.shape) if reduction == "none" else _reduce_partials(
        reduction, partials, n)
    return loss, (grad.reshape(input.shape) if need_grad else None)


def mse_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from :func:`mse_loss_forward` by ``grad_loss``."""
    return _elementwise_loss_backward(grad, grad_loss, reduction, "mse_loss_backward")


def _elementwise_loss_backward(grad, grad_loss, reduction, name):
    grad, g = _loss_grad_and_upstream(grad, grad_loss, reduction, name)
    if isinstance(g, float):
        return _scaled(grad, g)
    check_same_shape(g, "grad_loss", grad, "grad")
    return grad * g
