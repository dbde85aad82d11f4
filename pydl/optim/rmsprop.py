"""RMSprop (torch.optim.RMSprop), optionally centered and with momentum."""

import numpy as np

from .. import functional as F
from .optimizer import Optimizer, check_hyper

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop; PyTorch's formulas, defaults and state names.

    Parameters
    ----------
    params : iterable of Parameter or of parameter-group dicts
    lr : float >= 0, default 1e-2
    alpha : float >= 0, default 0.99
        Decay rate of the squared-gradient average.
    eps : float >= 0, default 1e-8
        Added to the denominator (after the square root).
    weight_decay : float >= 0, default 0
        L2 penalty added to the gradient.
    momentum : float >= 0, default 0
    centered : bool
        Normalise by an estimate of the gradient's variance (subtracting the squared
        running mean of the gradient, state ``'grad_avg'``).
    maximize : bool
        Ascend instead of descend.

    Per-parameter state: ``'step'``, ``'square_avg'``, and ``'momentum_buffer'``
    (momentum > 0) and ``'grad_avg'`` (centered). One fused kernel pass per parameter
    (``pydl.functional.rmsprop_step``).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                 momentum=0.0, centered=False, *, maximize=False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group):
        check_hyper(group, "lr", low=0.0)
        check_hyper(group, "alpha", low=0.0)
        check_hyper(group, "eps", low=0.0)
        check_hyper(group, "weight_decay", low=0.0)
        check_hyper(group, "momentum", low=0.0)
        group["centered"] = bool(group["centered"])
        group["maximize"] = bool(group["maximize"])

    def _update(self, param, group, state):
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(param.data)
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = np.zeros_like(param.data)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = np.zeros_like(param.data)
        F.rmsprop_step(param.data, param.grad, state["square_avg"], state.get("grad_avg"),
                       state.get("momentum_buffer"), lr=group["lr"], alpha=group["alpha"],
                       eps=group["eps"], weight_decay=group["weight_decay"],
                       momentum=group["momentum"], centered=group["centered"],
                       maximize=group["maximize"])
        state["step"] += 1
