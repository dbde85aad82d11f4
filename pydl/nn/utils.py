"""Gradient clipping (``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``)."""

import math

import numpy as np

from ..functional._validation import check_real
from .parameter import Parameter

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters):
    if isinstance(parameters, Parameter):
        parameters = [parameters]
    params = list(parameters)
    for p in params:
        if not isinstance(p, Parameter):
            raise TypeError(f"parameters must be pydl.nn.Parameter objects, "
                            f"got {type(p).__name__}")
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale gradients in place so that their joint norm is at most ``max_norm``.

    The norm is taken over all gradients together, as if concatenated into one vector
    (the answer to exploding gradients in recurrent networks). Sums run in float64 in
    a fixed order, so the result does not depend on the thread count.

    Parameters
    ----------
    parameters : Parameter or iterable of Parameter
    max_norm : float > 0
    norm_type : float >= 1 or inf
    error_if_nonfinite : bool
        Raise if the total norm is NaN or infinite (else gradients become NaN, as in
        PyTorch).

    Returns
    -------
    float
        The total norm before clipping.
    """
    max_norm = check_real(max_norm, "max_norm", low=0.0)
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float)):
        raise TypeError(f"norm_type must be a number, got {type(norm_type).__name__}")
    norm_type = float(norm_type)
    if not (norm_type >= 1 or math.isinf(norm_type)) or math.isnan(norm_type):
        raise ValueError(f"norm_type must be >= 1 or inf, got {norm_type}")
    grads = _grads(parameters)
    if not grads:
        return 0.0
    if math.isinf(norm_type):
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    else:
        total = sum(float(np.sum(np.abs(g.astype(np.float64)) ** norm_type)) for g in grads)
        total = total ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is "
                           f"{total}; they cannot be clipped")
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g *= g.dtype.type(coef)
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element into ``[-clip_value, clip_value]`` in place."""
    clip_value = check_real(clip_value, "clip_value", low=0.0)
    for g in _grads(parameters):
        np.clip(g, -clip_value, clip_value, out=g)
