"""Stochastic gradient descent with momentum (torch.optim.SGD)."""

import numpy as np

from .. import functional as F
from .optimizer import Optimizer, check_hyper

__all__ = ["SGD"]


class SGD(Optimizer):
    """SGD, optionally with (Nesterov) momentum and weight decay; PyTorch's formulas.

    Parameters
    ----------
    params : iterable of Parameter or of parameter-group dicts
    lr : float >= 0, default 1e-3
    momentum : float >= 0
    dampening : float
    weight_decay : float >= 0
        L2 penalty added to the gradient (``g + weight_decay * param``).
    nesterov : bool
        Needs ``momentum > 0`` and ``dampening == 0``.
    maximize : bool
        Ascend instead of descend.

    Each step is one fused kernel pass per parameter (``pydl.functional.sgd_step``).
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group):
        check_hyper(group, "lr", low=0.0)
        check_hyper(group, "momentum", low=0.0)
        check_hyper(group, "dampening")
        check_hyper(group, "weight_decay", low=0.0)
        group["nesterov"] = bool(group["nesterov"])
        group["maximize"] = bool(group["maximize"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("nesterov momentum requires momentum > 0 and dampening = 0")

    def _update(self, param, group, state):
        buf, first = None, False
        if group["momentum"] != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.empty_like(param.data)
                first = True
        F.sgd_step(param.data, param.grad, buf, lr=group["lr"], momentum=group["momentum"],
                   dampening=group["dampening"], weight_decay=group["weight_decay"],
                   nesterov=group["nesterov"], maximize=group["maximize"], first_step=first)
