"""Adam (torch.optim.Adam), with amsgrad and optional decoupled weight decay."""

import numpy as np

from .. import functional as F
from .optimizer import Optimizer, check_betas, check_hyper

__all__ = ["Adam"]


class Adam(Optimizer):
    """Adam with bias correction; PyTorch's formulas, defaults and state names.

    Parameters
    ----------
    params : iterable of Parameter or of parameter-group dicts
    lr : float >= 0, default 1e-3
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the first and second moment averages, each in [0, 1).
    eps : float >= 0, default 1e-8
        Added to the denominator.
    weight_decay : float >= 0, default 0
        L2 penalty added to the gradient, or (``decoupled_weight_decay``) a decay of
        the parameter itself, ``param *= 1 - lr * weight_decay`` (AdamW).
    amsgrad : bool
        Normalise by the running maximum of the second moment (state
        ``'max_exp_avg_sq'``).
    maximize : bool
        Ascend instead of descend.
    decoupled_weight_decay : bool
        AdamW's weight decay (see :class:`AdamW`).

    Per-parameter state: ``'step'`` (int), ``'exp_avg'``, ``'exp_avg_sq'`` and, with
    amsgrad, ``'max_exp_avg_sq'`` (arrays of the parameter's shape and dtype). Each
    step is one fused kernel pass per parameter (``pydl.functional.adam_step``).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_group(self, group):
        check_hyper(group, "lr", low=0.0)
        check_betas(group)
        check_hyper(group, "eps", low=0.0)
        check_hyper(group, "weight_decay", low=0.0)
        for flag in ("amsgrad", "maximize", "decoupled_weight_decay"):
            group[flag] = bool(group[flag])

    def _update(self, param, group, state):
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param.data)
            state["exp_avg_sq"] = np.zeros_like(param.data)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = np.zeros_like(param.data)
        step = state["step"] + 1
        F.adam_step(param.data, param.grad, state["exp_avg"], state["exp_avg_sq"],
                    state.get("max_exp_avg_sq"), step=step, lr=group["lr"],
                    betas=group["betas"], eps=group["eps"],
                    weight_decay=group["weight_decay"], amsgrad=group["amsgrad"],
                    maximize=group["maximize"],
                    decoupled_weight_decay=group["decoupled_weight_decay"])
        state["step"] = step
