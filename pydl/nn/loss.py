"""Loss modules: ``loss = criterion(input, target)`` then ``grad = criterion.backward()``."""

import numbers

import numpy as np

from .. import functional as F
from .._grad_mode import _local as _grad_local
from .._grad_mode import is_grad_enabled
from ..functional import loss as _loss_ops
from ..functional._validation import REDUCTIONS, check_int, check_real
from .module import Module

__all__ = ["CrossEntropyLoss", "BCEWithLogitsLoss", "MSELoss",
           "NLLLoss", "BCELoss", "KLDivLoss", "L1Loss", "SmoothL1Loss", "HuberLoss",
           "MultiMarginLoss", "HingeLoss", "PerceptronLoss", "BinaryFocalLoss", "FocalLoss",
           "TripletMarginLoss", "CosineEmbeddingLoss"]


class _Loss(Module):
    """Base of the losses: forward returns the loss, backward its input gradient.

    ``forward`` computes the gradient in the same fused pass (kept when gradients are
    enabled); ``backward(grad_loss=1.0)`` scales it by the upstream gradient — an
    array of per-sample values for ``reduction="none"``.
    """

    _backward_fn = None
    _reductions = REDUCTIONS
    # Subclasses' forwards end in _finish, which saves what this backward reads.
    _generic_backward = True

    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in self._reductions:
            raise ValueError(f"reduction must be one of {self._reductions}, got {reduction!r}")
        self.reduction = reduction

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
    """Softmax cross-entropy on logits (``nn.CrossEntropyLoss``), against class indices
    or class probabilities.

    Parameters
    ----------
    weight : array of shape (C,), optional
        Per-class weights. With index targets the mean is weighted:
        ``sum_i w[t_i] l_i / sum_i w[t_i]``; with probabilities it divides by N.
    ignore_index : int
        Target value that contributes no loss and no gradient (index targets only).
    reduction : {"mean", "sum", "none"}
    label_smoothing : float in [0, 1]

    Shapes: input (C,), (N, C) or (N, C, d1, ...) logits; target (), (N,) or
    (N, d1, ...) class indices, or float probabilities of the input's shape.
    """

    _backward_fn = staticmethod(F.softmax_cross_entropy_backward)

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.label_smoothing = check_real(label_smoothing, "label_smoothing", low=0.0, high=1.0)
        self.register_buffer("weight", _as_weight(weight, "weight"))

    def forward(self, input, target):
        weight = self._buffers["weight"]
        if weight is not None:
            weight = _weight_like(weight, input)
        # on arrays the op itself, without the tape wrapper
        op = _loss_ops.softmax_cross_entropy_forward if type(input) is np.ndarray \
            and type(target) is np.ndarray else F.softmax_cross_entropy_forward
        loss, grad = op(input, target, weight, self.ignore_index, self.reduction,
                        self.label_smoothing, _grad_local.enabled)
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


class NLLLoss(_Loss):
    """Negative log-likelihood on log-probabilities (``nn.NLLLoss``): pair it with
    :class:`LogSoftmax`.

    Parameters
    ----------
    weight : array of shape (C,), optional
        Per-class weights; the mean is ``sum_i w[t_i] l_i / sum_i w[t_i]``.
    ignore_index : int
    reduction : {"mean", "sum", "none"}

    Shapes: input (C,), (N, C) or (N, C, d1, ...); target (), (N,) or (N, d1, ...) int.
    """

    _backward_fn = staticmethod(F.nll_loss_backward)

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(reduction)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.register_buffer("weight", _as_weight(weight, "weight"))

    def forward(self, input, target):
        loss, grad = F.nll_loss_forward(input, target, weight=_weight_like(self.weight, input),
                                        ignore_index=self.ignore_index,
                                        reduction=self.reduction, need_grad=is_grad_enabled())
        return self._finish(loss, grad)


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities (``nn.BCELoss``); logs clamped at -100 as
    PyTorch. :class:`BCEWithLogitsLoss` on logits is the stable choice.

    Parameters
    ----------
    weight : array broadcastable to the input, optional
    reduction : {"mean", "sum", "none"}

    Shapes: input and target any one shape, values in [0, 1].
    """

    _backward_fn = staticmethod(F.binary_cross_entropy_backward)

    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _as_weight(weight, "weight"))

    def forward(self, input, target):
        loss, grad = F.binary_cross_entropy_forward(
            input, target, weight=_weight_like(self.weight, input), reduction=self.reduction,
            need_grad=is_grad_enabled())
        return self._finish(loss, grad)


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence (``nn.KLDivLoss``): input log-probabilities, target
    probabilities (log-probabilities with ``log_target=True``).

    Parameters
    ----------
    reduction : {"mean", "batchmean", "sum", "none"}
        ``"batchmean"`` (sum / batch size) is the KL divergence; ``"mean"`` divides by
        the number of elements and warns, as PyTorch.
    log_target : bool

    ``backward`` returns the gradient with respect to the input only.
    """

    _backward_fn = staticmethod(F.kl_div_backward)
    _reductions = F.loss.KL_REDUCTIONS

    def __init__(self, reduction="mean", log_target=False):
        super().__init__(reduction)
        if not isinstance(log_target, (bool, np.bool_)):
            raise TypeError(f"log_target must be a bool, got {type(log_target).__name__}")
        self.log_target = bool(log_target)

    def forward(self, input, target):
        loss, grad = F.kl_div_forward(input, target, reduction=self.reduction,
                                      log_target=self.log_target, need_grad=is_grad_enabled())
        return self._finish(loss, grad)


class _PointwiseLoss(_Loss):
    """An elementwise loss of (input, target) with hyper-parameters as keywords."""

    _forward_fn = None

    def _hyper(self):
        return {}

    def forward(self, input, target):
        loss, grad = type(self)._forward_fn(input, target, reduction=self.reduction,
                                            need_grad=is_grad_enabled(), **self._hyper())
        return self._finish(loss, grad)


class L1Loss(_PointwiseLoss):
    """Mean absolute error ``|input - target|`` (``nn.L1Loss``); shapes must match."""

    _forward_fn = staticmethod(F.l1_loss_forward)
    _backward_fn = staticmethod(F.l1_loss_backward)


class SmoothL1Loss(_PointwiseLoss):
    """Smooth L1 (``nn.SmoothL1Loss``): ``0.5 d**2 / beta`` where ``|d| < beta``, else
    ``|d| - 0.5 beta``; ``beta=0`` gives L1.

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}
    beta : float >= 0
    """

    _forward_fn = staticmethod(F.smooth_l1_loss_forward)
    _backward_fn = staticmethod(F.smooth_l1_loss_backward)

    def __init__(self, reduction="mean", beta=1.0):
        super().__init__(reduction)
        self.beta = check_real(beta, "beta", low=0.0)

    def _hyper(self):
        return {"beta": self.beta}

    def extra_repr(self):
        return super().extra_repr() + f", beta={self.beta}"


class HuberLoss(_PointwiseLoss):
    """Huber loss (``nn.HuberLoss``): ``0.5 d**2`` where ``|d| < delta``, else
    ``delta (|d| - 0.5 delta)``.

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}
    delta : float > 0
    """

    _forward_fn = staticmethod(F.huber_loss_forward)
    _backward_fn = staticmethod(F.huber_loss_backward)

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction)
        self.delta = check_real(delta, "delta", low=0.0, low_open=True)

    def _hyper(self):
        return {"delta": self.delta}

    def extra_repr(self):
        return super().extra_repr() + f", delta={self.delta}"


class HingeLoss(_PointwiseLoss):
    """Binary hinge loss ``max(0, margin - y x)`` for labels y in {-1, +1} (the linear
    SVM loss; not in PyTorch). Gradient ``-y`` where the margin is violated, 0 elsewhere.

    Parameters
    ----------
    margin : float >= 0
    reduction : {"mean", "sum", "none"}

    Shapes: input any shape of scores; target the same shape, -1/+1 (int or float).
    """

    _forward_fn = staticmethod(F.hinge_loss_forward)
    _backward_fn = staticmethod(F.hinge_loss_backward)

    def __init__(self, margin=1.0, reduction="mean"):
        super().__init__(reduction)
        self.margin = check_real(margin, "margin", low=0.0)

    def _hyper(self):
        return {"margin": self.margin}

    def extra_repr(self):
        return f"margin={self.margin}, " + super().extra_repr()


class PerceptronLoss(_PointwiseLoss):
    """Perceptron loss ``max(0, -y x)`` for labels y in {-1, +1}: zero on correctly
    classified samples, ``-y x`` on the others (hinge loss with margin 0; not in
    PyTorch). Its gradient step is Rosenblatt's perceptron update.
    """

    _forward_fn = staticmethod(F.perceptron_loss_forward)
    _backward_fn = staticmethod(F.perceptron_loss_backward)


class BinaryFocalLoss(_PointwiseLoss):
    """Binary focal loss on logits, as ``torchvision.ops.sigmoid_focal_loss``::

        p = sigmoid(x),  p_t = p y + (1 - p)(1 - y),  alpha_t = alpha y + (1 - alpha)(1 - y)
        loss = alpha_t * (1 - p_t) ** gamma * BCEWithLogits(x, y)

    Parameters
    ----------
    alpha : float <= 1
        Weight of positives; negative disables the weighting.
    gamma : float >= 0
    reduction : {"mean", "sum", "none"}
        (torchvision's function defaults to "none"; the module, like every loss
        module, to "mean".)
    """

    _forward_fn = staticmethod(F.sigmoid_focal_loss_forward)
    _backward_fn = staticmethod(F.sigmoid_focal_loss_backward)

    def __init__(self, alpha=0.25, gamma=2.0, reduction="mean"):
        super().__init__(reduction)
        self.alpha = check_real(alpha, "alpha", high=1.0)
        self.gamma = check_real(gamma, "gamma", low=0.0)

    def _hyper(self):
        return {"alpha": self.alpha, "gamma": self.gamma}

    def extra_repr(self):
        return f"alpha={self.alpha}, gamma={self.gamma}, " + super().extra_repr()


class FocalLoss(_Loss):
    """Multi-class focal loss on logits (Lin et al., 2017)::

        p = softmax(x),  loss = -alpha[t] * (1 - p_t) ** gamma * log(p_t)

    ``gamma=0`` without alpha is the cross-entropy.

    Parameters
    ----------
    alpha : None, float, or array of shape (C,)
        Per-class weights (a float weights all classes alike).
    gamma : float >= 0
    ignore_index : int
    reduction : {"mean", "sum", "none"}
        ``"mean"`` averages over the non-ignored samples (not alpha-weighted).

    Shapes: as :class:`CrossEntropyLoss` with index targets.
    """

    _backward_fn = staticmethod(F.softmax_focal_loss_backward)

    def __init__(self, alpha=None, gamma=2.0, ignore_index=-100, reduction="mean"):
        super().__init__(reduction)
        self.gamma = check_real(gamma, "gamma", low=0.0)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        if alpha is None or isinstance(alpha, numbers.Real):
            self.alpha = None if alpha is None else check_real(alpha, "alpha")
        else:
            self.register_buffer("alpha", _as_weight(alpha, "alpha"))

    def forward(self, input, target):
        alpha = self.alpha if not isinstance(self.alpha, np.ndarray) \
            else _weight_like(self.alpha, input)
        loss, grad = F.softmax_focal_loss_forward(
            input, target, alpha=alpha, gamma=self.gamma, ignore_index=self.ignore_index,
            reduction=self.reduction, need_grad=is_grad_enabled())
        return self._finish(loss, grad)

    def extra_repr(self):
        return f"gamma={self.gamma}, " + super().extra_repr()


class MultiMarginLoss(_Loss):
    """Multi-class hinge loss (``nn.MultiMarginLoss``)::

        loss = w[t] / C * sum_{j != t} max(0, margin - x[t] + x[j]) ** p

    Parameters
    ----------
    p : {1, 2}
    margin : float
    weight : array of shape (C,), optional
    reduction : {"mean", "sum", "none"}
        ``"mean"`` divides by N, as PyTorch.

    Shapes: input (N, C) or (C,); target (N,) or () int.
    """

    _backward_fn = staticmethod(F.multi_margin_loss_backward)

    def __init__(self, p=1, margin=1.0, weight=None, reduction="mean"):
        super().__init__(reduction)
        self.p = check_int(p, "p")
        if self.p not in (1, 2):
            raise ValueError(f"p must be 1 or 2, got {p}")
        self.margin = check_real(margin, "margin")
        self.register_buffer("weight", _as_weight(weight, "weight"))

    def forward(self, input, target):
        loss, grad = F.multi_margin_loss_forward(
            input, target, p=self.p, margin=self.margin,
            weight=_weight_like(self.weight, input), reduction=self.reduction,
            need_grad=is_grad_enabled())
        return self._finish(loss, grad)


class TripletMarginLoss(_Loss):
    """Triplet margin loss (``nn.TripletMarginLoss``)::

        loss = max(d(a, p) - d(a, n) + margin, 0),  d(x, y) = ||x - y + eps||_p

    Parameters
    ----------
    margin : float > 0
    p : float > 0
    eps : float
        Added to the difference before the norm, as PyTorch's ``pairwise_distance``.
    swap : bool
        Use ``min(d(a, n), d(p, n))`` as the negative distance.
    reduction : {"mean", "sum", "none"}

    ``loss = crit(anchor, positive, negative)`` with inputs (N, D) or (D,);
    ``crit.backward(grad=1.0)`` returns the tuple
    ``(d anchor, d positive, d negative)``.
    """

    _backward_fn = staticmethod(F.triplet_margin_loss_backward)

    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction="mean"):
        super().__init__(reduction)
        self.margin = check_real(margin, "margin", low=0.0, low_open=True)
        self.p = check_real(p, "p", low=0.0, low_open=True)
        self.eps = check_real(eps, "eps")
        if not isinstance(swap, (bool, np.bool_)):
            raise TypeError(f"swap must be a bool, got {type(swap).__name__}")
        self.swap = bool(swap)

    def forward(self, anchor, positive, negative):
        loss, grads = F.triplet_margin_loss_forward(
            anchor, positive, negative, margin=self.margin, p=self.p, eps=self.eps,
            swap=self.swap, reduction=self.reduction, need_grad=is_grad_enabled())
        return self._finish(loss, grads)

    def extra_repr(self):
        return (f"margin={self.margin}, p={self.p}, eps={self.eps}, swap={self.swap}, "
                + super().extra_repr())


class CosineEmbeddingLoss(_Loss):
    """Cosine embedding loss (``nn.CosineEmbeddingLoss``): ``1 - cos(x1, x2)`` for
    pairs labelled 1, ``max(0, cos(x1, x2) - margin)`` for pairs labelled -1.

    Parameters
    ----------
    margin : float
    reduction : {"mean", "sum", "none"}

    ``loss = crit(input1, input2, target)`` with inputs (N, D) or (D,) and target (N,)
    or () of -1/+1; ``crit.backward(grad=1.0)`` returns ``(d input1, d input2)``.
    """

    _backward_fn = staticmethod(F.cosine_embedding_loss_backward)

    def __init__(self, margin=0.0, reduction="mean"):
        super().__init__(reduction)
        self.margin = check_real(margin, "margin")

    def forward(self, input1, input2, target):
        loss, grads = F.cosine_embedding_loss_forward(
            input1, input2, target, margin=self.margin, reduction=self.reduction,
            need_grad=is_grad_enabled())
        return self._finish(loss, grads)

    def extra_repr(self):
        return f"margin={self.margin}, " + super().extra_repr()
