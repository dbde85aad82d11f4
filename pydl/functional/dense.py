"""Dense (fully connected) layer: ``y = x @ weight.T + bias``."""

import math

import numpy as np

from .._ext import dense as _dense
from .._threading import _state as _threading_state
from .._threading import blas_single_threaded, get_num_threads
from ._alloc import _state as _alloc_state
from ._alloc import check_fits_in_memory, empty, empty_checked
from ._plans import remember
from ._validation import as_float_array, check_blas_dims

__all__ = ["linear_forward", "linear_backward"]


def _check_linear_args(x, weight, bias):
    weight = as_float_array(weight, "weight", ndim=2)
    x = as_float_array(x, "x", min_ndim=1, like=weight, like_name="weight")
    out_features, in_features = weight.shape
    if x.shape[-1] != in_features:
        raise ValueError(f"x has shape {x.shape}: its last dimension must equal "
                         f"weight.shape[1] = in_features = {in_features}")
    if bias is not None:
        bias = as_float_array(bias, "bias", ndim=1, like=weight, like_name="weight")
        if bias.shape[0] != out_features:
            raise ValueError(f"bias has shape {bias.shape}, expected ({out_features},) "
                             f"= (out_features,)")
    lead = x.shape[:-1]
    n = math.prod(lead)  # exact Python ints; np.prod costs ~5 us a call
    check_blas_dims("linear", n, in_features, out_features)
    return x.reshape(n, in_features), weight, bias, lead


# The checks of _check_linear_args depend only on the arrays' types, shapes, dtypes and
# C-contiguity: for ndarrays that are all C-contiguous they are a function of the key
# (x.shape, x.dtype, weight.shape, weight.dtype, bias.shape, bias.dtype), and a call
# whose key passed them once takes the short path (no argument walk). Non-contiguous
# or non-ndarray arguments always take the full checks (and their copies).
_LINEAR_PLANS = {}
_PLANS_MAX = 256
_ndarray = np.ndarray
_np_empty = np.empty


def _linear_plan(x, weight, bias):
    """(n, in_features, out_features, output shape) after the full checks, cached."""
    key = (x.shape, x.dtype, weight.shape, weight.dtype,
           None if bias is None else (bias.shape, bias.dtype))
    plan = _LINEAR_PLANS.get(key)
    if plan is None:
        x2, weight, bias, lead = _check_linear_args(x, weight, bias)
        n, out_features = x2.shape[0], weight.shape[0]
        check_fits_in_memory(n * out_features * weight.itemsize,
                             f"an output of shape {(n, out_features)}")
        plan = (n, x2.shape[1], out_features, (*lead, out_features))
        remember(_LINEAR_PLANS, key, plan, _PLANS_MAX)
    return plan


def linear_forward_arrays(x, weight, bias=None):
    """:func:`linear_forward` for ndarray arguments (the layers' explicit path): the
    same checks and result, with the checks done once per shape and dtype."""
    if type(x) is _ndarray and type(weight) is _ndarray \
            and (bias is None or type(bias) is _ndarray and bias.flags.c_contiguous) \
            and x.flags.c_contiguous and weight.flags.c_contiguous:
        n, in_features, out_features, out_shape = _linear_plan(x, weight, bias)
        out = _np_empty((n, out_features), weight.dtype) if not _alloc_state["poison"] \
            else empty_checked((n, out_features), weight.dtype)
        x2 = x if len(out_shape) == 2 else x.reshape(n, in_features)
        if _threading_state["n_threads"] == 1:
            # what get_num_threads() returns then, and blas_single_threaded's no-op case
            _dense.linear_forward(x2, weight, bias, out, 1)
        else:
            n_threads = get_num_threads()
            with blas_single_threaded(n_threads):
                _dense.linear_forward(x2, weight, bias, out, n_threads)
        return out if len(out_shape) == 2 else out.reshape(out_shape)
    return _linear_forward(x, weight, bias)


def linear_forward(x, weight, bias=None):
    """Affine map ``y = x @ weight.T + bias`` (PyTorch's ``F.linear``).

    Parameters
    ----------
    x : ndarray, shape (*, in_features)
    weight : ndarray, shape (out_features, in_features)
    bias : ndarray, shape (out_features,), optional

    Returns
    -------
    y : ndarray, shape (*, out_features)
    """
    return linear_forward_arrays(x, weight, bias)


def _linear_forward(x, weight, bias):
    x2, weight, bias, lead = _check_linear_args(x, weight, bias)
    out = empty((x2.shape[0], weight.shape[0]), dtype=weight.dtype)
    n_threads = get_num_threads()
    with blas_single_threaded(n_threads):
        _dense.linear_forward(x2, weight, bias, out, n_threads)
    return out.reshape(*lead, weight.shape[0])


def linear_backward(grad_out, x, weight, *, need_input_grad=True, need_weight_grad=True,
                    need_bias_grad=True):
    """Gradients of :func:`linear_forward`.

    Parameters
    ----------
    grad_out : ndarray, shape (*, out_features)
        Gradient of the loss with respect to ``y``.
    x : ndarray, shape (*, in_features)
        The forward input.
    weight : ndarray, shape (out_features, in_features)
    need_input_grad, need_weight_grad, need_bias_grad : bool
        Skip what is not needed (e.g. the input gradient of a first layer).

    Returns
    -------
    grad_x : ndarray, shape (*, in_features), or None
    grad_weight : ndarray, shape (out_features, in_features), or None
    grad_bias : ndarray, shape (out_features,), or None
    """
    if type(x) is _ndarray and type(weight) is _ndarray and type(grad_out) is _ndarray \
            and grad_out.dtype is weight.dtype and x.flags.c_contiguous \
            and weight.flags.c_contiguous and grad_out.flags.c_contiguous:
        # the plan of the forward's shapes (without bias): the checks once per key
        n, in_features, out_features, out_shape = _linear_plan(x, weight, None)
        if grad_out.shape == out_shape:
            dtype = weight.dtype
            alloc = _np_empty if not _alloc_state["poison"] else empty_checked
            gx = alloc((n, in_features), dtype) if need_input_grad else None
            gw = alloc((out_features, in_features), dtype) if need_weight_grad else None
            gb = alloc((out_features,), dtype) if need_bias_grad else None
            flat = len(out_shape) == 2
            x2 = x if flat else x.reshape(n, in_features)
            g2 = grad_out if flat else grad_out.reshape(n, out_features)
            if _threading_state["n_threads"] == 1:
                # what get_num_threads() returns then, and blas_single_threaded's no-op
                _dense.linear_backward(g2, x2, weight, gx, gw, gb, 1)
            else:
                n_threads = get_num_threads()
                with blas_single_threaded(n_threads):
                    _dense.linear_backward(g2, x2, weight, gx, gw, gb, n_threads)
            if gx is not None and not flat:
                gx = gx.reshape(x.shape)
            return gx, gw, gb
    x2, weight, _, lead = _check_linear_args(x, weight, None)
    n = x2.shape[0]
    out_features, in_features = weight.shape
    grad_out = as_float_array(grad_out, "grad_out", like=weight, like_name="weight")
    expected = (*lead, out_features)
    if grad_out.shape != expected:
        raise ValueError(f"grad_out has shape {grad_out.shape}, expected {expected} "
                         f"(x.shape[:-1] + (out_features,))")
    g2 = grad_out.reshape(n, out_features)
    dtype = weight.dtype
    gx = empty((n, in_features), dtype) if need_input_grad else None
    gw = empty((out_features, in_features), dtype) if need_weight_grad else None
    gb = empty((out_features,), dtype) if need_bias_grad else None
    n_threads = get_num_threads()
    with blas_single_threaded(n_threads):
        _dense.linear_backward(g2, x2, weight, gx, gw, gb, n_threads)
    if gx is not None:
        gx = gx.reshape(*lead, in_features)
    return gx, gw, gb
