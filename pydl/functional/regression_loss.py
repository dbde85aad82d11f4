"""Regression losses on ``d = input - target``: MSE, L1, smooth L1 and Huber, each one
fused kernel pass computing the loss and its gradient.

Shapes must match exactly: silently broadcasting ``(N, 1)`` against ``(N,)`` is a
classic bug, so it is refused. See :mod:`pydl.functional.loss` for the
``(loss, grad)`` / ``*_backward`` convention.
"""

from .._ext import loss as _loss
from ._loss_util import elementwise_backward, input_and_target, run_elementwise
from ._validation import check_real, check_reduction

# Below this beta smooth L1 is computed as L1 (they differ by at most beta / 2).
_TINY_BETA = 1e-30

__all__ = [
    "mse_loss_forward", "mse_loss_backward",
    "l1_loss_forward", "l1_loss_backward",
    "smooth_l1_loss_forward", "smooth_l1_loss_backward",
    "huber_loss_forward", "huber_loss_backward",
]


def _run(kernel, input, target, reduction, need_grad, *hyper):
    check_reduction(reduction)
    input, target = input_and_target(input, target)
    return run_elementwise(kernel, input, target, *hyper, reduction=reduction,
                           need_grad=need_grad)


def mse_loss_forward(input, target, reduction="mean", need_grad=True):
    """Mean squared error ``(input - target)**2`` (``F.mse_loss``).

    Returns
    -------
    loss : float, or ndarray of input's shape for ``reduction="none"``
    grad : ndarray of input's shape, or None
    """
    return _run(_loss.mse_loss_forward, input, target, reduction, need_grad)


def mse_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from :func:`mse_loss_forward` by ``grad_loss``."""
    return elementwise_backward(grad, grad_loss, reduction, "mse_loss_backward")


def l1_loss_forward(input, target, reduction="mean", need_grad=True):
    """Mean absolute error ``|input - target|`` (``F.l1_loss``); gradient ``sign(d)``
    with ``sign(0) = 0``.

    Returns
    -------
    loss : float, or ndarray of input's shape for ``reduction="none"``
    grad : ndarray of input's shape, or None
    """
    return _run(_loss.l1_loss_forward, input, target, reduction, need_grad)


def l1_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from :func:`l1_loss_forward` by ``grad_loss``."""
    return elementwise_backward(grad, grad_loss, reduction, "l1_loss_backward")


def smooth_l1_loss_forward(input, target, reduction="mean", beta=1.0, need_grad=True):
    """Smooth L1 (``F.smooth_l1_loss``): ``0.5 d**2 / beta`` where ``|d| < beta``, else
    ``|d| - 0.5 beta``; ``beta = 0`` is the L1 loss, as in PyTorch.

    Parameters
    ----------
    input, target : ndarray, one shape
    reduction : {"mean", "sum", "none"}
    beta : float >= 0
    need_grad : bool
    """
    beta = check_real(beta, "beta", low=0.0)
    if beta < _TINY_BETA:
        # the quadratic zone |d| < beta is then empty for practical purposes, and
        # 0.5 / beta would overflow
        return l1_loss_forward(input, target, reduction, need_grad)
    return _run(_loss.smooth_l1_loss_forward, input, target, reduction, need_grad, beta)


def smooth_l1_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from :func:`smooth_l1_loss_forward` by ``grad_loss``."""
    return elementwise_backward(grad, grad_loss, reduction, "smooth_l1_loss_backward")


def huber_loss_forward(input, target, reduction="mean", delta=1.0, need_grad=True):
    """Huber loss (``F.huber_loss``): ``0.5 d**2`` where ``|d| < delta``, else
    ``delta (|d| - 0.5 delta)``; equal to ``delta * smooth_l1(beta=delta)``.

    Parameters
    ----------
    input, target : ndarray, one shape
    reduction : {"mean", "sum", "none"}
    delta : float > 0
    need_grad : bool
    """
    delta = check_real(delta, "delta", low=0.0, low_open=True)
    return _run(_loss.huber_loss_forward, input, target, reduction, need_grad, delta)


def huber_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from :func:`huber_loss_forward` by ``grad_loss``."""
    return elementwise_backward(grad, grad_loss, reduction, "huber_loss_backward")
