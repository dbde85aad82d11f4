"""Neural style transfer: GramMatrix, ContentLoss and StyleLoss (Gatys et al., 2016).

As in the PyTorch neural style tutorial, ``ContentLoss(target)`` and
``StyleLoss(target_feature)`` hold their target, built from the content and style
images' features; here they are losses: ``loss = criterion(features)`` returns the
loss, and ``criterion.backward()`` (or the tape) gives the gradient of the features.
"""

import numpy as np

from .. import functional as F
from .._grad_mode import is_grad_enabled
from ..autograd.tensor import Tensor
from ..functional._validation import as_float_array
from ..functional.style_loss import STYLE_REDUCTIONS, _check_normalize
from .loss import _Loss
from .module import Module

__all__ = ["ContentLoss", "GramMatrix", "StyleLoss"]


def _target_array(target, name):
    """A fixed target (an array, or a tensor's data: the target is detached), or None."""
    if target is None:
        return None
    return as_float_array(target.data if isinstance(target, Tensor) else target, name).copy()


def _pick_target(module, target, input):
    """The call's target, else the stored one in the input's dtype (a loss serves
    either dtype)."""
    if target is not None:
        return target
    if module.target is None:
        raise ValueError(f"{type(module).__name__} has no target: give one at construction "
                         f"or in the call, criterion(input, target)")
    dtype = np.asarray(input.data if isinstance(input, Tensor) else input).dtype
    t = module.target
    return t if t.dtype == dtype or dtype.kind != "f" else t.astype(dtype)


class GramMatrix(Module):
    """Gram matrix of each sample's feature maps (:func:`pydl.functional.gram_matrix_forward`).

    Input (N, C, *spatial); output (N, C, C), ``G[n] = F F^T / (C * S)`` with F the
    (C, S) matrix of sample n's features (without the division when ``normalize`` is
    False).
    """

    def __init__(self, normalize=True):
        super().__init__()
        self.normalize = _check_normalize(normalize)

    def forward(self, x):
        self.save_for_backward(x=x)
        return F.gram_matrix_forward(x, self.normalize)

    def backward(self, grad_output):
        return F.gram_matrix_backward(grad_output, self.saved()["x"], self.normalize)

    def extra_repr(self):
        return f"normalize={self.normalize}"


class ContentLoss(_Loss):
    """Content loss: mean squared error between features and the content image's
    features ``target`` (fixed at construction, as the PyTorch tutorial's
    ``ContentLoss``).

    Parameters
    ----------
    target : ndarray or Tensor, optional
        The content image's features at this layer, e.g. (1, C, H, W); detached and
        kept as the buffer ``target``.
    reduction : {"mean", "sum", "none"}

    ``loss = criterion(input)`` with input of target's shape, or
    ``criterion(input, target)`` with another target; ``criterion.backward()``
    returns the gradient of the input.
    """

    _backward_fn = staticmethod(F.content_loss_backward)

    def __init__(self, target=None, reduction="mean"):
        super().__init__(reduction)
        self.register_buffer("target", _target_array(target, "target"))

    def forward(self, input, target=None):
        loss, grad = F.content_loss_forward(input, _pick_target(self, target, input),
                                            reduction=self.reduction,
                                            need_grad=is_grad_enabled())
        return self._finish(loss, grad)


class StyleLoss(_Loss):
    """Style loss: mean squared error between the Gram matrix of the input features
    and that of the style image's features ``target_feature`` (computed once, at
    construction, as the PyTorch tutorial's ``StyleLoss``).

    Parameters
    ----------
    target_feature : ndarray or Tensor (N', C, *spatial), optional
        The style image's features at this layer; with N' = 1 its Gram matrix applies
        to every sample of the input, otherwise N' must equal the input's N.
    reduction : {"mean", "sum"}
        Over the N * C * C entries of the Gram matrices.
    normalize : bool
        Gram matrices divided by C * S (see :class:`GramMatrix`).

    The target Gram matrix is the buffer ``target`` ((C, C), or (N', C, C)).
    ``loss = criterion(input)``, or ``criterion(input, target)`` with a target Gram
    matrix instead of the stored one.
    """

    _backward_fn = staticmethod(F.style_loss_backward)
    _reductions = STYLE_REDUCTIONS

    def __init__(self, target_feature=None, reduction="mean", normalize=True):
        super().__init__(reduction)
        self.normalize = _check_normalize(normalize)
        gram = None
        if target_feature is not None:
            gram = F.gram_matrix_forward(_target_array(target_feature, "target_feature"),
                                         self.normalize)
            gram = gram[0].copy() if gram.shape[0] == 1 else gram
        self.register_buffer("target", gram)

    def forward(self, input, target=None):
        loss, grad = F.style_loss_forward(input, _pick_target(self, target, input),
                                          reduction=self.reduction, normalize=self.normalize,
                                          need_grad=is_grad_enabled())
        return self._finish(loss, grad)

    def extra_repr(self):
        return super().extra_repr() + f", normalize={self.normalize}"
