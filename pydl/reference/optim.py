"""NumPy twin of pydl.functional.optim (updates in place, like the kernels)."""

import numpy as np

__all__ = ["sgd_step"]


def sgd_step(param, grad, momentum_buffer=None, *, lr, momentum=0.0, dampening=0.0,
             weight_decay=0.0, nesterov=False, maximize=False, first_step=False):
    g = -grad if maximize else grad.copy()
    if weight_decay:
        g = g + weight_decay * param
    if momentum:
        if first_step:
            momentum_buffer[...] = g
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1 - dampening) * g
        g = g + momentum * momentum_buffer if nesterov else momentum_buffer
    param -= (lr * g).astype(param.dtype)
    return param
