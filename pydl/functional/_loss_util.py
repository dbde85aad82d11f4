"""What every loss op shares: reductions, the elementwise-kernel driver, the layout of
class scores, and the scaling of a saved gradient by the upstream gradient.

Losses compute their gradient in the forward pass; ``*_backward(grad, grad_loss,
reduction)`` only scales it: by a float for reductions "mean"/"sum", by one value per
element (elementwise losses) or per sample (row losses) for "none".
"""

import numpy as np

from .._ext import loss as _loss
from .._threading import get_num_threads
from ._alloc import empty, empty_like
from ._validation import (as_float_array, as_index_array, check_real, check_reduction,
                          check_same_shape)


def mean_scale(reduction, count):
    """Gradient scale of a reduction: 1 / count for "mean" (0 for an empty mean)."""
    if reduction == "mean":
        return 1.0 / count if count else 0.0
    return 1.0


def reduce_total(reduction, total, count):
    """The reduced loss from its sum: the sum, or the mean (NaN over nothing, as PyTorch)."""
    if reduction == "sum":
        return total
    return total / count if count else float("nan")


def reduce_rows(loss_rows, reduction, count, sample_shape):
    """Reduce per-sample losses: an array of ``sample_shape`` for "none", else a float."""
    if reduction == "none":
        return loss_rows.reshape(sample_shape)
    return reduce_total(reduction, float(loss_rows.sum(dtype=np.float64)), count)


def run_elementwise(kernel, x, y, *extra, reduction, need_grad, count=None):
    """Run an elementwise loss kernel ``kernel(x, y, *extra, grad_scale, loss,
    partial_sums, grad, n_threads)`` over same-shaped, checked arrays.

    ``count`` is the mean's denominator (default: the number of elements). Returns
    ``(loss, grad)`` as the ``*_forward`` ops do.
    """
    n = x.size
    count = n if count is None else count
    per_elem = empty(n, x.dtype) if reduction == "none" else None
    partials = empty(-(-n // _loss.CHUNK), np.float64)
    grad = empty(n, x.dtype) if need_grad else None
    kernel(x.reshape(-1), y.reshape(-1), *extra, mean_scale(reduction, count), per_elem,
           partials, grad, get_num_threads())
    if reduction == "none":
        loss = per_elem.reshape(x.shape)
    else:
        loss = reduce_total(reduction, float(partials.sum()), count)
    return loss, (grad.reshape(x.shape) if need_grad else None)


def input_and_target(input, target, input_name="input", target_name="target"):
    """Two float arrays of one dtype and one shape (no broadcasting: silently
    broadcasting (N, 1) against (N,) is a classic bug)."""
    input = as_float_array(input, input_name)
    target = as_float_array(target, target_name, like=input, like_name=input_name)
    check_same_shape(target, target_name, input, input_name)
    return input, target


def broadcast_operand(a, name, shape, like):
    """A weight broadcast to the input's shape, flat and contiguous for the kernel."""
    a = as_float_array(a, name, like=like, like_name="input")
    try:
        return np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1)
    except ValueError:
        raise ValueError(f"{name} has shape {a.shape}, which does not broadcast to the "
                         f"input shape {shape}") from None


def sign_target(target, name, shape, dtype, shape_source):
    """Labels that must all be -1 or +1 (integer or float), as a contiguous array of
    ``dtype``; ``shape`` is required, ``shape_source`` names where it comes from."""
    if isinstance(target, (list, tuple, np.generic)):
        target = np.asarray(target)
    if not isinstance(target, np.ndarray) or target.dtype.kind not in "iuf":
        kind = f"dtype {target.dtype}" if isinstance(target, np.ndarray) else type(target).__name__
        raise TypeError(f"{name} must be a numeric array of -1/+1 labels, got {kind}")
    if target.shape != tuple(shape):
        raise ValueError(f"{name} has shape {target.shape}, expected {tuple(shape)} "
                         f"({shape_source})")
    y = np.ascontiguousarray(target, dtype=dtype)
    if not np.all((y == 1) | (y == -1)):
        bad = target[(y != 1) & (y != -1)].flat[0]
        raise ValueError(f"{name} must hold only -1 and +1, found {bad}")
    return y


# ------------------------------------------------------------ class-score layout
# PyTorch's layouts: scores (C,) with a 0-d target, (N, C) with (N,), or (N, C, d1, ...)
# with (N, d1, ...). Kernels see (rows, C) with the class axis last.

def sample_shape(shape):
    """Shape of the per-sample losses for scores of ``shape``."""
    return (shape[0], *shape[2:]) if len(shape) >= 2 else ()


def class_rows(a):
    """(N, C, d1, ...) -> (N*d1*..., C); (C,) -> (1, C)."""
    if a.ndim <= 2:
        return a.reshape(-1, a.shape[-1]) if a.ndim == 2 else a[None, :]
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)).reshape(-1, a.shape[1])


def restore_class_axis(rows, shape):
    """Inverse of :func:`class_rows`."""
    if len(shape) <= 2:
        return rows.reshape(shape)
    moved = rows.reshape(shape[0], *shape[2:], shape[1])
    return np.ascontiguousarray(np.moveaxis(moved, -1, 1))


def class_scores_and_labels(scores, target, scores_name, ignore_index=None, max_ndim=None):
    """Check class scores and their integer labels; return ``(scores, labels, C)``."""
    scores = as_float_array(scores, scores_name, min_ndim=1)
    if max_ndim is not None and scores.ndim > max_ndim:
        raise ValueError(f"{scores_name} must be 1-D (C,) or 2-D (N, C), got shape "
                         f"{scores.shape}")
    shape = scores.shape
    n_classes = shape[1] if scores.ndim >= 2 else shape[0]
    expected = sample_shape(shape)
    # the shape first: a wrong one (say a huge broadcast view) is never converted
    if np.shape(target) != expected:
        raise ValueError(f"target has shape {np.shape(target)}, expected {expected} for "
                         f"{scores_name} of shape {shape} (class dimension "
                         f"{1 if scores.ndim >= 2 else 0})")
    labels = as_index_array(target, "target", n_classes, ignore_index)
    if n_classes == 0:
        raise ValueError(f"{scores_name} has shape {shape}: the class dimension must be "
                         f"non-empty")
    return scores, labels, n_classes


def class_weight(weight, n_classes, like, like_name, name="weight"):
    """Optional per-class weights (C,) of ``like``'s dtype."""
    if weight is None:
        return None
    w = as_float_array(weight, name, ndim=1, like=like, like_name=like_name)
    if w.shape[0] != n_classes:
        raise ValueError(f"{name} has shape {w.shape}, expected ({n_classes},) "
                         f"= (number of classes,)")
    return w


# ------------------------------------------------------------------ backward
def _upstream(grad, grad_loss, reduction, name):
    """Check a saved gradient (or tuple of them) and the upstream gradient.

    Returns ``(grads, g)``: ``g`` is a float for reductions other than "none" and for
    a scalar upstream gradient, else an array.
    """
    if reduction != "batchmean":
        check_reduction(reduction)
    if grad is None or (isinstance(grad, tuple) and any(g is None for g in grad)):
        raise ValueError(f"{name}: grad is None; the forward pass ran with need_grad=False")
    grads = tuple(as_float_array(g, "grad") for g in grad) if isinstance(grad, tuple) \
        else as_float_array(grad, "grad")
    if reduction != "none" or np.ndim(grad_loss) == 0:
        if isinstance(grad_loss, np.ndarray):
            grad_loss = grad_loss.item()
        return grads, check_real(grad_loss, "grad_loss")
    first = grads[0] if isinstance(grads, tuple) else grads
    g = as_float_array(np.asarray(grad_loss, dtype=first.dtype), "grad_loss")
    return grads, g


def _scaled(grad, g):
    return grad if g == 1.0 else grad * grad.dtype.type(g)


def elementwise_backward(grad, grad_loss, reduction, name):
    """Backward of an elementwise loss: the upstream gradient has the input's shape."""
    grad, g = _upstream(grad, grad_loss, reduction, name)
    if isinstance(g, float):
        return _scaled(grad, g)
    check_same_shape(g, "grad_loss", grad, "grad")
    return grad * g


def _scale_rows(grad, g):
    expected = sample_shape(grad.shape)
    if g.shape != expected:
        raise ValueError(f"grad_loss has shape {g.shape}, expected {expected} "
                         f"(one value per sample)")
    rows = class_rows(grad)
    out = empty_like(rows)
    _loss.scale_rows(rows, g.reshape(-1), out, get_num_threads())
    return restore_class_axis(out, grad.shape)


def rowwise_backward(grad, grad_loss, reduction, name):
    """Backward of a per-sample loss: gradients of shape (N, C, ...) (or a tuple of
    them), upstream of shape (N, ...) for reduction "none"."""
    grads, g = _upstream(grad, grad_loss, reduction, name)
    single = not isinstance(grads, tuple)
    grads = (grads,) if single else grads
    if isinstance(g, float):
        out = tuple(_scaled(a, g) for a in grads)
    else:
        out = tuple(_scale_rows(a, g) for a in grads)
    return out[0] if single else out
