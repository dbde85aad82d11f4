"""Fused optimizer updates on one parameter array, in place."""

from .._ext import optim as _optim
from .._threading import get_num_threads
from ._validation import as_float_array, check_inplace_array, check_real, check_same_shape

__all__ = ["sgd_step"]


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
    """
    lr = check_real(lr, "lr", low=0.0)
    momentum = check_real(momentum, "momentum", low=0.0)
    dampening = check_real(dampening, "dampening")
    weight_decay = check_real(weight_decay, "weight_decay", low=0.0)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("nesterov momentum requires momentum > 0 and dampening = 0")
    param = check_inplace_array(param, "param")
    grad = as_float_array(grad, "grad", like=param, like_name="param")
    check_same_shape(grad, "grad", param, "param")
    if momentum != 0:
        if momentum_buffer is None:
            raise ValueError("momentum_buffer is required when momentum != 0")
        momentum_buffer = check_inplace_array(momentum_buffer, "momentum_buffer", param, "param")
    buf = momentum_buffer.reshape(-1) if momentum != 0 else None
    _optim.sgd_step(param.reshape(-1), grad.reshape(-1), buf, lr, momentum, dampening,
                    weight_decay, bool(nesterov), bool(maximize), bool(first_step),
                    get_num_threads())
    return param
