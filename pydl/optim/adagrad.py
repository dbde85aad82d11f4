"""Adagrad (torch.optim.Adagrad)."""

import numpy as np

from .. import functional as F
from .optimizer import Optimizer, check_hyper

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad: per-element learning rates from the sum of squared gradients;
    PyTorch's formulas, defaults and state names.

    Parameters
    ----------
    params : iterable of Parameter or of parameter-group dicts
    lr : float >= 0, default 1e-2
    lr_decay : float >= 0, default 0
        The step's learning rate is ``lr / (1 + (step - 1) * lr_decay)``.
    weight_decay : float >= 0, default 0
        L2 penalty added to the gradient.
    initial_accumulator_value : float >= 0, default 0
        Starting value of the sum of squares.
    eps : float >= 0, default 1e-10
        Added to the denominator (after the square root).
    maximize : bool
        Ascend instead of descend.

    Per-parameter state, created at construction as PyTorch does: ``'step'`` and
    ``'sum'``. One fused kernel pass per parameter (``pydl.functional.adagrad_step``).
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, *, maximize=False):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group, self.state.setdefault(p, {}))

    def _check_group(self, group):
        check_hyper(group, "lr", low=0.0)
        check_hyper(group, "lr_decay", low=0.0)
        check_hyper(group, "weight_decay", low=0.0)
        check_hyper(group, "initial_accumulator_value", low=0.0)
        check_hyper(group, "eps", low=0.0)
        group["maximize"] = bool(group["maximize"])

    @staticmethod
    def _init_state(param, group, state):
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(param.data, group["initial_accumulator_value"])

    def _update(self, param, group, state):
        self._init_state(param, group, state)
        step = state["step"] + 1
        F.adagrad_step(param.data, param.grad, state["sum"], step=step, lr=group["lr"],
                       lr_decay=group["lr_decay"], weight_decay=group["weight_decay"],
                       eps=group["eps"], maximize=group["maximize"])
        state["step"] = step
