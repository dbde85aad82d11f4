"""Loss modules: ``loss = criterion(input, target)`` then ``grad = criterion.backward()``."""

import numpy as np

from .. import functional as F
from .._grad_mode import is_grad_enabled
from ..functional._validation import check_int, check_real, check_reduction
from .module import Module

__all__ = ["CrossEntropyLoss", "BCEWithLogitsLoss", "MSELoss"]


class _Loss(Module):
    """Base of the losses: forward returns the loss, backward its input gradient.

    ``forward`` computes the gradient in the same fused pass (kept when gradients are
    enabled); ``backward(grad_loss=1.0)`` scales it by the upstream gradient — an
    array of per-sample values for ``reduction="none"``.
    """

    _backward_fn = None

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = check_reduction(reduction)

    def _finish(self, loss, grad):
        self.save_for_backward(grad=grad)
        return loss

    def backward(self, grad_output=1.0):
        grad = self.saved()["grad"]
        return type(self)._backward_fn(grad, grad_output, self.reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


def _weight_like(weight, like):
    """A stored weight cast to the input's dtype (losses serve either dtype)."""
    if weight is None:
        return None
    dtype = np.asarray(like).dtype
    return weight if weight.dtype == dtype or dtype.kind != "f" else weight.astype(dtype)


def _as_weight(weight, name):
    if weight is None:
        return None
    w = np.asarray(weight)
    if w.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a numeric array, got dtype {w.dtype}")
    w = np.array(w, dtype=np.float64 if w.dtype == np.float64 else np.float32)
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} must be finite")
    return w


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy on logits against class indices (``nn.CrossEntropyLoss``).

    Parameters
    ----------
    weight : array of shape (C,), optional
        Per-class weights.
    ignore_index : int
        Target value that contributes no loss and no gradient.
    reduction : {"mean", "sum", "none"}
    label_smoothing : float in [0, 1]

    Shapes: input (N, C) or (N, C, d1, ...) logits; target (N,) or (N, d1, ...) int.
    """

    _backward_fn = staticmethod(F.softmax_cross_entropy_backward)

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.label_smoothing = check_real(label_smoothing, "label_smoothing", low=0.0, high=1.0)
        self.register_buffer("weight", _as_weight(weight, "weight"))

    def forward(self, input, target):
        loss, grad = F.softmax_cross_entropy_forward(
            input, target, weight=_weight_like(self.weight, input),
            ignore_index=self.ignore_index, reduction=self.reduction,
            label_smoothing=self.label_smoothing, need_grad=is_grad_enabled())
        return self._finish(loss, grad)

    def extra_repr(self):
        extra = f", label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
        return super().extra_repr() + extra


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy in one stable pass (``nn.BCEWithLogitsLoss``).

    Parameters
    ----------
    weight : array broadcastable to the input, optional
    reduction : {"mean", "sum", "none"}
    pos_weight : array broadcastable to the input (e.g. (C,)), optional
        Weight of positive examples per class.
    """

    _backward_fn = staticmethod(F.binary_cross_entropy_with_logits_backward)

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        self.register_buffer("weight", _as_weight(weight, "weight"))
        self.register_buffer("pos_weight", _as_weight(pos_weight, "pos_weight"))

    def forward(self, input, target):
        loss, grad = F.binary_cross_entropy_with_logits_forward(
            input, target, weight=_weight_like(self.weight, input),
            pos_weight=_weight_like(self.pos_weight, input), reduction=self.reduction,
            need_grad=is_grad_enabled())
        return self._finish(loss, grad)


class MSELoss(_Loss):
    """Mean squared error (``nn.MSELoss``); input and target shapes must match."""

    _backward_fn = staticmethod(F.mse_loss_backward)

    def forward(self, input, target):
        loss, grad = F.mse_loss_forward(input, target, reduction=self.reduction,
                                        need_grad=is_grad_enabled())
        return self._finish(loss, grad)
