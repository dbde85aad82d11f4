"""NumPy twin of pydl.functional.optim (updates in place, like the kernels).

Written as PyTorch's optimizer docs state the algorithms, one array operation per
line; the arithmetic runs in the arrays' own dtype.
"""

import math

import numpy as np

__all__ = ["sgd_step", "adam_step", "adagrad_step", "rmsprop_step"]


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


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr=1e-3,
              betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
              maximize=False, decoupled_weight_decay=False):
    beta1, beta2 = betas
    g = -grad if maximize else grad
    if weight_decay:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * param
    exp_avg += (1 - beta1) * (g - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * g * g
    v = exp_avg_sq
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        v = max_exp_avg_sq
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    denom = np.sqrt(v) / math.sqrt(bias_correction2) + eps
    param -= lr / bias_correction1 * exp_avg / denom
    return param


def adagrad_step(param, grad, state_sum, *, step, lr=1e-2, lr_decay=0.0,
                 weight_decay=0.0, eps=1e-10, maximize=False):
    g = -grad if maximize else grad
    if weight_decay:
        g = g + weight_decay * param
    state_sum += g * g
    clr = lr / (1 + (step - 1) * lr_decay)
    param -= clr * g / (np.sqrt(state_sum) + eps)
    return param


def rmsprop_step(param, grad, square_avg, grad_avg=None, momentum_buffer=None, *,
                 lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
    g = -grad if maximize else grad
    if weight_decay:
        g = g + weight_decay * param
    square_avg *= alpha
    square_avg += (1 - alpha) * g * g
    if centered:
        grad_avg += (1 - alpha) * (g - grad_avg)
        avg = np.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        avg = np.sqrt(square_avg) + eps
    if momentum > 0:
        momentum_buffer *= momentum
        momentum_buffer += g / avg
        param -= lr * momentum_buffer
    else:
        param -= lr * g / avg
    return param
