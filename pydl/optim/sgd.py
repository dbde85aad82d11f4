"""Stochastic gradient descent with momentum (torch.optim.SGD)."""

import numpy as np

from .. import functional as F
from .._ext import optim as _optim
from .._threading import get_num_threads
from ..functional._validation import FLOAT_DTYPES, check_real
from .optimizer import Optimizer, check_hyper

_ndarray = np.ndarray
_F32, _F64 = FLOAT_DTYPES
_may_share_memory = np.may_share_memory

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

    def _step_group(self, group):
        """The base class's loop with the work per parameter cut down: the group's
        hyper-parameters checked once per step (as ``F.sgd_step`` checks them), then
        per parameter the array checks of ``F.sgd_step`` on ndarrays that pass them
        straight away, and the kernel; anything else goes through ``_update``. A
        subclass that overrides ``_update`` gets the base class's loop."""
        if type(self)._update is not SGD._update:
            return super()._step_group(group)
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        lr = check_real(group["lr"], "lr", low=0.0)
        momentum = check_real(group["momentum"], "momentum", low=0.0)
        dampening = check_real(group["dampening"], "dampening")
        weight_decay = check_real(group["weight_decay"], "weight_decay", low=0.0)
        nesterov, maximize = bool(group["nesterov"]), bool(group["maximize"])
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov momentum requires momentum > 0 and dampening = 0")
        state = self.state
        kernel = _optim.sgd_step
        for p in params:
            st = state.setdefault(p, {})
            param, grad = p.data, p.grad
            buf, first = None, False
            if momentum != 0:
                buf = st.get("momentum_buffer")
                if buf is None:
                    buf = st["momentum_buffer"] = np.empty_like(param)
                    first = True
            dt = param.dtype
            if type(param) is _ndarray and type(grad) is _ndarray \
                    and (dt is _F32 or dt is _F64) and grad.dtype is dt \
                    and grad.shape == param.shape and param.flags.writeable \
                    and param.flags.c_contiguous and grad.flags.c_contiguous \
                    and (buf is None or type(buf) is _ndarray and buf.dtype is dt
                         and buf.shape == param.shape and buf.flags.writeable
                         and buf.flags.c_contiguous) \
                    and not (param.size and (_may_share_memory(param, grad) or (
                        buf is not None and (_may_share_memory(buf, param)
                                             or _may_share_memory(buf, grad))))):
                kernel(param.reshape(-1), grad.reshape(-1),
                       None if buf is None else buf.reshape(-1), lr, momentum, dampening,
                       weight_decay, nesterov, maximize, first, get_num_threads())
            else:   # F.sgd_step's checks, and its errors
                F.sgd_step(param, grad, buf, lr=lr, momentum=momentum, dampening=dampening,
                           weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                           first_step=first)
            p._bump_version()

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
