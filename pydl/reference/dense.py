"""NumPy twin of pydl.functional.dense."""

import numpy as np

__all__ = ["linear_forward", "linear_backward"]


def linear_forward(x, weight, bias=None):
    y = x @ weight.T
    return y if bias is None else y + bias


def linear_backward(grad_out, x, weight, *, need_input_grad=True, need_weight_grad=True,
                    need_bias_grad=True):
    n = int(np.prod(x.shape[:-1]))
    g2 = grad_out.reshape(n, weight.shape[0])
    x2 = x.reshape(n, weight.shape[1])
    gx = (g2 @ weight).reshape(x.shape) if need_input_grad else None
    gw = g2.T @ x2 if need_weight_grad else None
    gb = g2.sum(axis=0) if need_bias_grad else None
    return gx, gw, gb
