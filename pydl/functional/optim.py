"""Fused optimizer updates on one parameter array, in place.

Each function validates its arrays and hyper-parameters, then runs one kernel pass
over the parameter and its state (``pydl._ext.optim``). Arrays updated in place (the
parameter and its state buffers) must be writeable, C-contiguous, of the parameter's
shape and dtype, and must not overlap one another or the gradient: a copy would
silently not be updated, and an overlap would read values already overwritten.
"""

import numpy as np

from .._ext import optim as _optim
from .._threading import get_num_threads
from ._validation import as_float_array, check_inplace_array, check_real, check_same_shape

__all__ = ["sgd_step", "adam_step", "adagrad_step", "rmsprop_step"]


def _param_and_grad(param, grad):
    param = check_inplace_array(param, "param")
    if isinstance(grad, np.ndarray):  # before a contiguous copy of a wrong-shaped view
        check_same_shape(grad, "grad", param, "param")
    grad = as_float_array(grad, "grad", like=param, like_name="param")
    check_same_shape(grad, "grad", param, "param")
    return param, grad


def _state(buffer, name, param, needed_when=None):
    """A state buffer updated in place (call only when the configuration uses it)."""
    if buffer is None:
        raise ValueError(f"{name} is required" + (f" when {needed_when}" if needed_when else ""))
    return check_inplace_array(buffer, name, param, "param")


def _check_no_overlap(grad, **inplace):
    """Refuse in-place arrays that share memory with each other or with grad."""
    named = [(k, v) for k, v in inplace.items() if v is not None]
    for i, (name, a) in enumerate(named):
        for other, b in named[:i] + [("grad", grad)]:
            if a.size and b.size and np.may_share_memory(a, b):
                raise ValueError(f"{name} shares memory with {other}; every array an "
                                 f"optimizer step updates must be a separate buffer")


def _check_betas(betas):
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    return tuple(check_real(b, f"betas[{i}]", low=0.0, high=1.0, high_open=True)
                 for i, b in enumerate(betas))


def _check_step(step):
    if isinstance(step, np.ndarray) and step.ndim == 0:
        step = step.item()  # PyTorch keeps 'step' as a 0-d tensor
    step = check_real(step, "step", low=1.0)
    if step != int(step):
        raise ValueError(f"step must be a whole number, got {step}")
    return step


def _flat(*arrays):
    return [None if a is None else a.reshape(-1) for a in arrays]


def sgd_step(param, grad, momentum_buffer=None, *, lr, momentum=0.0, dampening=0.0,
             weight_decay=0.0, nesterov=False, maximize=False, first_step=False):
    """One in-place SGD update of ``param`` (torch.optim.SGD's formula).

    Parameters
    ----------
    param : ndarray, float32 or float64, C-contiguous and writeable
        Updated in place.
    grad : ndarray, param's shape and dtype
    momentum_buffer : ndarray, param's shape and dtype, optional
        Required when ``momentum != 0``; updated in place. On ``first_step`` its
        contents are ignored and it is set to the (decayed) gradient.
    lr, momentum, dampening, weight_decay : float >= 0
    nesterov, maximize, first_step : bool

    Returns
    -------
    param : ndarray
    """
    lr = check_real(lr, "lr", low=0.0)
    momentum = check_real(momentum, "momentum", low=0.0)
    dampening = check_real(dampening, "dampening")
    weight_decay = check_real(weight_decay, "weight_decay", low=0.0)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("nesterov momentum requires momentum > 0 and dampening = 0")
    param, grad = _param_and_grad(param, grad)
    buf = (_state(momentum_buffer, "momentum_buffer", param, "momentum != 0")
           if momentum != 0 else None)
    _check_no_overlap(grad, param=param, momentum_buffer=buf)
    _optim.sgd_step(*_flat(param, grad, buf), lr, momentum, dampening, weight_decay,
                    bool(nesterov), bool(maximize), bool(first_step), get_num_threads())
    return param


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr=1e-3,
              betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
              maximize=False, decoupled_weight_decay=False):
    """One in-place Adam (or AdamW) update, torch.optim.Adam's single-tensor formula.

    Parameters
    ----------
    param : ndarray, float32 or float64, C-contiguous and writeable, any shape
        Updated in place.
    grad : ndarray, param's shape and dtype
    exp_avg, exp_avg_sq : ndarray, param's shape and dtype
        First and second moment running averages (zeros before the first step);
        updated in place.
    max_exp_avg_sq : ndarray, param's shape and dtype, optional
        Running maximum of ``exp_avg_sq``; required (and updated) when ``amsgrad``.
    step : int >= 1
        The step count including this step (1 on the first), for bias correction.
    lr : float >= 0
    betas : (float, float), each in [0, 1)
    eps : float >= 0
    weight_decay : float >= 0
        L2 penalty added to the gradient, or with ``decoupled_weight_decay`` (AdamW)
        a decay ``param *= 1 - lr * weight_decay`` applied before the update.
    amsgrad, maximize, decoupled_weight_decay : bool

    Returns
    -------
    param : ndarray
    """
    step = _check_step(step)
    lr = check_real(lr, "lr", low=0.0)
    beta1, beta2 = _check_betas(betas)
    eps = check_real(eps, "eps", low=0.0)
    weight_decay = check_real(weight_decay, "weight_decay", low=0.0)
    param, grad = _param_and_grad(param, grad)
    exp_avg = _state(exp_avg, "exp_avg", param)
    exp_avg_sq = _state(exp_avg_sq, "exp_avg_sq", param)
    amsgrad = bool(amsgrad)
    max_sq = (_state(max_exp_avg_sq, "max_exp_avg_sq", param, "amsgrad=True")
              if amsgrad else None)
    _check_no_overlap(grad, param=param, exp_avg=exp_avg, exp_avg_sq=exp_avg_sq,
                      max_exp_avg_sq=max_sq)
    _optim.adam_step(*_flat(param, grad, exp_avg, exp_avg_sq, max_sq), lr, beta1, beta2,
                     eps, weight_decay, bool(decoupled_weight_decay), amsgrad,
                     bool(maximize), step, get_num_threads())
    return param


def adagrad_step(param, grad, state_sum, *, step, lr=1e-2, lr_decay=0.0,
                 weight_decay=0.0, eps=1e-10, maximize=False):
    """One in-place Adagrad update, torch.optim.Adagrad's formula.

    Parameters
    ----------
    param : ndarray, float32 or float64, C-contiguous and writeable, any shape
        Updated in place.
    grad : ndarray, param's shape and dtype
    state_sum : ndarray, param's shape and dtype
        Sum of squared gradients (PyTorch's state ``'sum'``; starts at
        ``initial_accumulator_value``); updated in place.
    step : int >= 1
        The step count including this step; the learning rate is
        ``lr / (1 + (step - 1) * lr_decay)``.
    lr, lr_decay, weight_decay, eps : float >= 0
    maximize : bool

    Returns
    -------
    param : ndarray
    """
    step = _check_step(step)
    lr = check_real(lr, "lr", low=0.0)
    lr_decay = check_real(lr_decay, "lr_decay", low=0.0)
    weight_decay = check_real(weight_decay, "weight_decay", low=0.0)
    eps = check_real(eps, "eps", low=0.0)
    param, grad = _param_and_grad(param, grad)
    state_sum = _state(state_sum, "state_sum", param)
    _check_no_overlap(grad, param=param, state_sum=state_sum)
    _optim.adagrad_step(*_flat(param, grad, state_sum), lr, lr_decay, weight_decay, eps,
                        bool(maximize), step, get_num_threads())
    return param


def rmsprop_step(param, grad, square_avg, grad_avg=None, momentum_buffer=None, *,
                 lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
    """One in-place RMSprop update, torch.optim.RMSprop's formula.

    Parameters
    ----------
    param : ndarray, float32 or float64, C-contiguous and writeable, any shape
        Updated in place.
    grad : ndarray, param's shape and dtype
    square_avg : ndarray, param's shape and dtype
        Running average of squared gradients (zeros at first); updated in place.
    grad_avg : ndarray, param's shape and dtype, optional
        Running average of gradients; required (and updated) when ``centered``.
    momentum_buffer : ndarray, param's shape and dtype, optional
        Required (and updated) when ``momentum > 0``; zeros at first.
    lr, alpha, eps, weight_decay, momentum : float >= 0
    centered, maximize : bool

    Returns
    -------
    param : ndarray
    """
    lr = check_real(lr, "lr", low=0.0)
    alpha = check_real(alpha, "alpha", low=0.0)
    eps = check_real(eps, "eps", low=0.0)
    weight_decay = check_real(weight_decay, "weight_decay", low=0.0)
    momentum = check_real(momentum, "momentum", low=0.0)
    centered = bool(centered)
    param, grad = _param_and_grad(param, grad)
    square_avg = _state(square_avg, "square_avg", param)
    grad_avg = _state(grad_avg, "grad_avg", param, "centered=True") if centered else None
    buf = (_state(momentum_buffer, "momentum_buffer", param, "momentum > 0")
           if momentum > 0 else None)
    _check_no_overlap(grad, param=param, square_avg=square_avg, grad_avg=grad_avg,
                      momentum_buffer=buf)
    _optim.rmsprop_step(*_flat(param, grad, square_avg, grad_avg, buf), lr, alpha, eps,
                        weight_decay, momentum, centered, bool(maximize), get_num_threads())
    return param
