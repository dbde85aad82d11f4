"""Convolutions and transposed convolutions over 1, 2 or 3 spatial dimensions.

Arguments follow ``torch.nn.functional.conv{1,2,3}d`` and ``conv_transpose{1,2,3}d``:
activations are (N, C, *spatial) (or (C, *spatial) unbatched), convolution weights
(out_channels, in_channels / groups, *kernel), transposed-convolution weights
(in_channels, out_channels / groups, *kernel). ``stride``, ``padding``, ``dilation``
and ``output_padding`` are an int or a tuple with one int per spatial dimension;
convolutions also take ``padding="valid"`` (none) or ``"same"`` (output size = input
size, stride 1 only; an odd total goes to the high side, as in PyTorch).

All sizes share one set of kernels (``pydl._ext.conv``), which see 5-D views
(N, C, D, H, W) with leading spatial sizes of 1.
"""

import math
from collections import namedtuple

import numpy as np

from .._ext import conv as _conv
from .._threading import _state as _threading_state
from .._threading import blas_single_threaded, get_num_threads
from ._alloc import _state as _alloc_state
from ._alloc import check_fits_in_memory, empty, empty_checked
from ._plans import remember
from ._validation import BLAS_INT_MAX, as_float_array, check_blas_dims, check_int

__all__ = [
    "conv1d_forward", "conv1d_backward",
    "conv2d_forward", "conv2d_backward",
    "conv3d_forward", "conv3d_backward",
    "conv_transpose1d_forward", "conv_transpose1d_backward",
    "conv_transpose2d_forward", "conv_transpose2d_backward",
    "conv_transpose3d_forward", "conv_transpose3d_backward",
]

# The kernels' view of one call. in5/out5: 5-D shapes of the convolution's input and
# output (for a transposed convolution: of its output and input); stride, padding
# (low side) and dilation padded to 3 dimensions.
_Spec = namedtuple("_Spec", "nd batched x weight bias in5 out5 w5 stride padding dilation "
                            "groups out_shape")


def int_tuple(value, name, nd, low=0):
    """``value`` (an int, or a tuple/list of ``nd`` ints) as a tuple of ``nd`` ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != nd:
            raise ValueError(f"{name} must be an int or a tuple of {nd} int(s), "
                             f"got {value!r}")
        items = value
    else:
        items = (value,) * nd
    return tuple(check_int(v, name, low=low, high=BLAS_INT_MAX) for v in items)


def conv_padding(padding, nd, kernel_size, stride, dilation):
    """Low- and high-side padding per dimension of a convolution.

    ``"valid"`` is no padding; ``"same"`` pads ``dilation * (kernel - 1)`` in total,
    half of it (rounded down) on the low side, and needs stride 1.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * nd, (0,) * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"padding='same' is not supported for strided "
                                 f"convolutions (stride={stride})")
            total = [d * (k - 1) for d, k in zip(dilation, kernel_size)]
            low = tuple(t // 2 for t in total)
            return low, tuple(t - lo for t, lo in zip(total, low))
        raise ValueError(f"padding must be 'same', 'valid', an int or a tuple of {nd} "
                         f"int(s), got {padding!r}")
    pad = int_tuple(padding, "padding", nd)
    return pad, pad


def conv_output_size(size, kernel_size, stride, pad_low, pad_high, dilation):
    """Output length of a convolution along one dimension (may be < 1)."""
    return (size + pad_low + pad_high - dilation * (kernel_size - 1) - 1) // stride + 1


def conv_transpose_output_size(size, kernel_size, stride, padding, output_padding,
                               dilation):
    """Output length of a transposed convolution along one dimension (may be < 1)."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) \
        + output_padding + 1


def _pad3(values, fill):
    return (fill,) * (3 - len(values)) + tuple(values)


def _activation(x, name, nd, weight, op):
    """x as a C-contiguous (N, C, *spatial) array, and whether it had a batch axis."""
    x = as_float_array(x, name, like=weight, like_name="weight")
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{name} must be {nd + 1}-D (unbatched: C, *spatial) or "
                         f"{nd + 2}-D (batched: N, C, *spatial) for {op}, got "
                         f"{x.ndim}-D array of shape {x.shape}")
    batched = x.ndim == nd + 2
    xb = x if batched else x[None]
    if 0 in xb.shape[2:]:
        raise ValueError(f"{name} has shape {x.shape}: its spatial dimensions must be "
                         f"non-zero")
    return xb, batched


def _weight(weight, nd, op):
    weight = as_float_array(weight, "weight", ndim=nd + 2)
    if 0 in weight.shape[2:]:
        raise ValueError(f"weight has shape {weight.shape}: the kernel size must be >= 1 "
                         f"in every spatial dimension")
    return weight


def _bias(bias, weight, channels):
    if bias is None:
        return None
    bias = as_float_array(bias, "bias", ndim=1, like=weight, like_name="weight")
    if bias.shape != (channels,):
        raise ValueError(f"bias has shape {bias.shape}, expected ({channels},) "
                         f"(one value per output channel)")
    return bias


def _finish_spec(nd, batched, x, weight, bias, in_shape, out_shape, stride, pad_low,
                 dilation, groups, result_shape):
    """Common tail of both argument checks: 5-D shapes and size checks.

    in_shape/out_shape are the kernels' convolution's input and output shapes;
    result_shape is the shape (batched) this op returns.
    """
    in5 = tuple(in_shape[:2]) + _pad3(in_shape[2:], 1)
    out5 = tuple(out_shape[:2]) + _pad3(out_shape[2:], 1)
    w5 = tuple(weight.shape[:2]) + _pad3(weight.shape[2:], 1)
    check_blas_dims(f"conv{nd}d", w5[1] * math.prod(w5[2:]), math.prod(in5[2:]),
                    math.prod(out5[2:]), w5[0])
    result_shape = tuple(result_shape)
    user_out = result_shape if batched else result_shape[1:]
    return _Spec(nd, batched, x, weight, bias, in5, out5, w5, _pad3(stride, 1),
                 _pad3(pad_low, 0), _pad3(dilation, 1), groups, user_out)


def _conv_spec_uncached(nd, x, weight, bias, stride, padding, dilation, groups):
    op = f"conv{nd}d"
    weight = _weight(weight, nd, op)
    xb, batched = _activation(x, "x", nd, weight, op)
    groups = check_int(groups, "groups", low=1, high=BLAS_INT_MAX)
    stride = int_tuple(stride, "stride", nd, low=1)
    dilation = int_tuple(dilation, "dilation", nd, low=1)
    kernel = weight.shape[2:]
    pad_low, pad_high = conv_padding(padding, nd, kernel, stride, dilation)
    n, c = xb.shape[:2]
    k, c_per_group = weight.shape[:2]
    if k == 0:
        raise ValueError(f"weight has shape {weight.shape}: it needs at least one output "
                         f"channel (weight.shape[0] >= 1)")
    if k % groups:
        raise ValueError(f"weight.shape[0] = out_channels = {k} must be divisible by "
                         f"groups = {groups}")
    if c_per_group * groups != c:
        raise ValueError(f"given groups={groups}, weight of shape {weight.shape} expects "
                         f"x to have {c_per_group * groups} channels (weight.shape[1] * "
                         f"groups), but x has shape {np.shape(x)} ({c} channels)")
    out_sp = []
    for i, size in enumerate(xb.shape[2:]):
        effective = dilation[i] * (kernel[i] - 1) + 1
        padded = size + pad_low[i] + pad_high[i]
        if padded < effective:
            raise ValueError(f"kernel size {kernel[i]} (dilated: {effective}) is larger "
                             f"than the padded input size {padded} (input {size} + "
                             f"padding {pad_low[i] + pad_high[i]}) in spatial dimension "
                             f"{i} of x with shape {np.shape(x)}")
        out_sp.append(conv_output_size(size, kernel[i], stride[i], pad_low[i],
                                       pad_high[i], dilation[i]))
    bias = _bias(bias, weight, k)
    out_shape = (n, k, *out_sp)
    return _finish_spec(nd, batched, xb, weight, bias, xb.shape, out_shape, stride,
                        pad_low, dilation, groups, out_shape)


def _conv_transpose_spec_uncached(nd, x, weight, bias, stride, padding, output_padding,
                                  groups, dilation):
    op = f"conv_transpose{nd}d"
    weight = _weight(weight, nd, op)
    xb, batched = _activation(x, "x", nd, weight, op)
    groups = check_int(groups, "groups", low=1, high=BLAS_INT_MAX)
    stride = int_tuple(stride, "stride", nd, low=1)
    dilation = int_tuple(dilation, "dilation", nd, low=1)
    if isinstance(padding, str):
        raise ValueError(f"padding={padding!r} is not supported by {op}: give an int or "
                         f"a tuple of {nd} int(s)")
    padding = int_tuple(padding, "padding", nd)
    output_padding = int_tuple(output_padding, "output_padding", nd)
    n, c_in = xb.shape[:2]
    if weight.shape[0] != c_in:
        raise ValueError(f"x has shape {np.shape(x)} ({c_in} channels) but weight of shape "
                         f"{weight.shape} expects weight.shape[0] = in_channels = "
                         f"{weight.shape[0]} channels")
    if c_in == 0:
        raise ValueError(f"weight has shape {weight.shape}: it needs at least one input "
                         f"channel (weight.shape[0] >= 1)")
    if c_in % groups:
        raise ValueError(f"weight.shape[0] = in_channels = {c_in} must be divisible by "
                         f"groups = {groups}")
    c_out = weight.shape[1] * groups
    kernel = weight.shape[2:]
    out_sp = []
    for i, size in enumerate(xb.shape[2:]):
        if output_padding[i] >= stride[i] and output_padding[i] >= dilation[i]:
            raise ValueError(f"output_padding must be smaller than either stride or "
                             f"dilation, got output_padding={output_padding}, "
                             f"stride={stride}, dilation={dilation}")
        o = conv_transpose_output_size(size, kernel[i], stride[i], padding[i],
                                       output_padding[i], dilation[i])
        if o < 1:
            raise ValueError(f"{op}: the output size {o} in spatial dimension {i} is below "
                             f"1 (input {size}, kernel {kernel[i]}, stride {stride[i]}, "
                             f"padding {padding[i]}, output_padding {output_padding[i]}, "
                             f"dilation {dilation[i]})")
        out_sp.append(o)
    bias = _bias(bias, weight, c_out)
    # The kernels see the convolution that maps the output's shape to x's shape.
    out_shape = (n, c_out, *out_sp)
    return _finish_spec(nd, batched, xb, weight, bias, out_shape, xb.shape,
                        stride, padding, dilation, groups, out_shape)


# A layer called again with the same shapes and arguments reuses its geometry: only
# the arrays are checked again (dtype, contiguity). Keys hold exact ints and strings
# only (a bool or a NumPy integer must still reach check_int and its error).
_GEOMETRY = {}
_WORKSPACE_CHECKED = {}   # keys whose workspace fits
_CACHE_SIZE = 512


def _plain(value):
    t = type(value)
    return t is int or t is str or (t is tuple and all(type(v) is int for v in value))


def _cached_spec(build, op, nd, x, weight, bias, params):
    """``build(nd, x, weight, bias, *params)``, its geometry computed once per key."""
    if type(x) is not np.ndarray or type(weight) is not np.ndarray \
            or not all(map(_plain, params)):
        return build(nd, x, weight, bias, *params)
    key = (op, nd, x.shape, weight.shape, None if bias is None else np.shape(bias), params)
    geometry = _GEOMETRY.get(key)
    if geometry is None:
        spec = build(nd, x, weight, bias, *params)
        remember(_GEOMETRY, key, spec[5:], _CACHE_SIZE)
        return spec
    # The shapes passed every shape check when the key was stored: check the rest.
    weight = as_float_array(weight, "weight")
    x = as_float_array(x, "x", like=weight, like_name="weight")
    if bias is not None:
        bias = as_float_array(bias, "bias", like=weight, like_name="weight")
    batched = x.ndim == nd + 2
    return _Spec(nd, batched, x if batched else x[None], weight, bias, *geometry)


def _conv_spec(nd, x, weight, bias, stride, padding, dilation, groups):
    return _cached_spec(_conv_spec_uncached, f"conv{nd}d", nd, x, weight, bias,
                        (stride, padding, dilation, groups))


# The forward convolution of C-contiguous ndarrays whose key (shapes, dtypes and the
# hyper-parameters) passed every check once: a plan with the kernels' arguments, so a
# layer called again with the same shapes pays a dict lookup instead of the checks.
# The hyper-parameters in the key must be exact ints/strings (``_plain``): 2.0 and True
# hash like 2 and 1, so a plan is used for the objects that built it (identity, which
# small ints and a layer's own tuples keep call after call) or after ``_plain``.
_FORWARD_PLANS = {}
_ndarray = np.ndarray
_np_empty = np.empty


class _ConvPlan:
    __slots__ = ("params", "batched", "in5", "w5", "out5", "result", "stride",
                 "padding", "dilation", "groups", "itemsize", "threads_checked")


def _conv_plan(nd, x, weight, bias, stride, padding, dilation, groups):
    """The plan of a forward convolution of C-contiguous ndarrays, or None where the
    general path must run (hyper-parameters that are not plain, nothing to compute)."""
    key = (nd, x.shape, x.dtype, weight.shape, weight.dtype,
           None if bias is None else (bias.shape, bias.dtype), stride, padding, dilation,
           groups)
    try:
        plan = _FORWARD_PLANS.get(key)
    except TypeError:       # a list among the hyper-parameters: the general path
        return None
    if plan is not None:
        p = plan.params
        if (p[0] is stride and p[1] is padding and p[2] is dilation and p[3] is groups) \
                or all(map(_plain, (stride, padding, dilation, groups))):
            return plan
        return None
    if not all(map(_plain, (stride, padding, dilation, groups))):
        return None
    spec = _conv_spec_uncached(nd, x, weight, bias, stride, padding, dilation, groups)
    if _empty_case(spec, spec.out5[0], spec.in5[1]):
        return None
    check_fits_in_memory(math.prod(spec.out5) * spec.weight.itemsize,
                         f"an output of shape {spec.out_shape}")
    plan = _ConvPlan()
    plan.params = (stride, padding, dilation, groups)
    plan.batched = spec.batched
    plan.in5, plan.w5, plan.out5, plan.result = spec.in5, spec.w5, spec.out5, spec.out_shape
    plan.stride, plan.padding, plan.dilation = spec.stride, spec.padding, spec.dilation
    plan.groups, plan.itemsize = spec.groups, spec.weight.itemsize
    plan.threads_checked = None
    remember(_FORWARD_PLANS, key, plan, _CACHE_SIZE)
    return plan


def conv_forward_arrays(nd, x, weight, bias, stride, padding, dilation, groups):
    """``conv{nd}d_forward`` for ndarray arguments (the layers' explicit path): the
    same checks and result, the checks done once per shape, dtype and arguments."""
    if type(x) is _ndarray and type(weight) is _ndarray \
            and (bias is None or type(bias) is _ndarray and bias.flags.c_contiguous) \
            and x.flags.c_contiguous and weight.flags.c_contiguous:
        plan = _conv_plan(nd, x, weight, bias, stride, padding, dilation, groups)
        if plan is not None:
            # get_num_threads() is the process-wide count when that is 1
            n_threads = 1 if _threading_state["n_threads"] == 1 else get_num_threads()
            if plan.threads_checked != n_threads:
                _workspace_check(plan, n_threads)
                plan.threads_checked = n_threads
            out = _np_empty(plan.out5, weight.dtype) if not _alloc_state["poison"] \
                else empty_checked(plan.out5, weight.dtype)
            args = (x.reshape(plan.in5), weight.reshape(plan.w5), bias, out, plan.stride,
                    plan.padding, plan.dilation, plan.groups, n_threads)
            if n_threads > 1 or _threading_state["n_threads"] > 1:
                with blas_single_threaded(n_threads):
                    _conv.conv_forward(*args)
            else:   # blas_single_threaded's no-op case, without building the context
                _conv.conv_forward(*args)
            return out.reshape(plan.result)
    return _conv_forward(_conv_spec(nd, x, weight, bias, stride, padding, dilation, groups))


def conv_backward_arrays(nd, grad_out, x, weight, stride, padding, dilation, groups,
                         need_input_grad=True, need_weight_grad=True, need_bias_grad=True):
    """``conv{nd}d_backward`` (the layers' explicit path too): for C-contiguous
    ndarrays the plan of the forward convolution's shapes (without bias), so the
    checks run once per key; grad_out must then be an ndarray of weight's dtype and
    the forward output's shape, else (like any other argument) the general path."""
    if type(x) is _ndarray and type(weight) is _ndarray and type(grad_out) is _ndarray \
            and grad_out.dtype is weight.dtype and x.flags.c_contiguous \
            and weight.flags.c_contiguous and grad_out.flags.c_contiguous:
        plan = _conv_plan(nd, x, weight, None, stride, padding, dilation, groups)
        if plan is not None and grad_out.shape == plan.result:
            n_threads = 1 if _threading_state["n_threads"] == 1 else get_num_threads()
            if plan.threads_checked != n_threads:
                _workspace_check(plan, n_threads)
                plan.threads_checked = n_threads
            dtype = weight.dtype
            alloc = _np_empty if not _alloc_state["poison"] else empty_checked
            gx = alloc(plan.in5, dtype) if need_input_grad else None
            gw = alloc(plan.w5, dtype) if need_weight_grad else None
            gb = alloc((plan.out5[1],), dtype) if need_bias_grad else None
            args = (grad_out.reshape(plan.out5), x.reshape(plan.in5),
                    weight.reshape(plan.w5), gx, gw, gb, plan.stride, plan.padding,
                    plan.dilation, plan.groups, n_threads)
            if n_threads > 1 or _threading_state["n_threads"] > 1:
                with blas_single_threaded(n_threads):
                    _conv.conv_backward(*args)
            else:   # blas_single_threaded's no-op case, without building the context
                _conv.conv_backward(*args)
            return (None if gx is None else gx.reshape(x.shape),
                    None if gw is None else gw.reshape(weight.shape), gb)
    spec = _conv_spec(nd, x, weight, None, stride, padding, dilation, groups)
    return _conv_backward(spec, grad_out, need_input_grad, need_weight_grad, need_bias_grad)


def _conv_transpose_spec(nd, x, weight, bias, stride, padding, output_padding, groups,
                         dilation):
    return _cached_spec(_conv_transpose_spec_uncached, f"conv_transpose{nd}d", nd, x,
                        weight, bias, (stride, padding, output_padding, groups, dilation))


def _workspace_check(spec, n_threads):
    if type(spec) is _ConvPlan:
        fwd, bwd = _conv.workspace_elements(spec.in5, spec.w5, spec.out5, spec.stride,
                                            spec.padding, spec.dilation, spec.groups,
                                            n_threads)
        check_fits_in_memory(max(fwd, bwd) * spec.itemsize, "the convolution workspace")
        return
    key = (spec[5:], n_threads, spec.weight.itemsize)
    if key in _WORKSPACE_CHECKED:
        return
    fwd, bwd = _conv.workspace_elements(spec.in5, spec.w5, spec.out5, spec.stride,
                                        spec.padding, spec.dilation, spec.groups, n_threads)
    check_fits_in_memory(max(fwd, bwd) * spec.weight.itemsize, "the convolution workspace")
    remember(_WORKSPACE_CHECKED, key, True, _CACHE_SIZE)


def _run(kernel, spec, *arrays):
    n_threads = get_num_threads()
    _workspace_check(spec, n_threads)
    with blas_single_threaded(n_threads):
        kernel(*arrays, spec.stride, spec.padding, spec.dilation, spec.groups, n_threads)


def _as_shape(a, shape):
    return None if a is None else a.reshape(shape)


def _unbatch(a, spec, shape):
    """A kernel output in the caller's layout: (N, C, *spatial) or unbatched."""
    a = a.reshape(shape)
    return a if spec.batched else a[0]


def _grad_out(grad_out, spec):
    g = as_float_array(grad_out, "grad_out", like=spec.weight, like_name="weight")
    if g.shape != spec.out_shape:
        raise ValueError(f"grad_out has shape {g.shape}, expected {spec.out_shape} "
                         f"(the forward output's shape)")
    return g if spec.batched else g[None]


def _empty_case(spec, n, c):
    """True when the kernels have nothing to do: an empty batch or no channels."""
    return n == 0 or c == 0


# ---------------------------------------------------------------- convolutions

def _conv_forward(spec):
    n, k = spec.out5[:2]
    out_shape = (n, k, *spec.out_shape[-spec.nd:])
    if _empty_case(spec, n, spec.in5[1]):
        out = np.zeros(out_shape, spec.weight.dtype)
        if spec.bias is not None:
            out += spec.bias.reshape((k,) + (1,) * spec.nd)
        return _unbatch(out, spec, out_shape)
    out = empty(spec.out5, spec.weight.dtype)
    _run(_conv.conv_forward, spec, spec.x.reshape(spec.in5), spec.weight.reshape(spec.w5),
         spec.bias, out)
    return _unbatch(out, spec, out_shape)


def _conv_backward(spec, grad_out, need_input_grad, need_weight_grad, need_bias_grad):
    g = _grad_out(grad_out, spec)
    dtype = spec.weight.dtype
    n, c = spec.in5[:2]
    k = spec.out5[1]
    if _empty_case(spec, n, c):
        gx = np.zeros(spec.x.shape, dtype) if need_input_grad else None
        gw = np.zeros(spec.weight.shape, dtype) if need_weight_grad else None
        gb = g.sum(axis=tuple(i for i in range(g.ndim) if i != 1), dtype=np.float64) \
            .astype(dtype) if need_bias_grad else None
        return (None if gx is None else _unbatch(gx, spec, gx.shape)), gw, gb
    gx = empty(spec.in5, dtype) if need_input_grad else None
    gw = empty(spec.w5, dtype) if need_weight_grad else None
    gb = empty((k,), dtype) if need_bias_grad else None
    _run(_conv.conv_backward, spec, g.reshape(spec.out5), spec.x.reshape(spec.in5),
         spec.weight.reshape(spec.w5), gx, gw, gb)
    if gx is not None:
        gx = _unbatch(gx, spec, spec.x.shape)
    return gx, _as_shape(gw, spec.weight.shape), gb


def _conv_transpose_forward(spec):
    n, c_out = spec.in5[:2]
    out_shape = (n, c_out, *spec.out_shape[-spec.nd:])
    if _empty_case(spec, n, c_out):
        return _unbatch(np.zeros(out_shape, spec.weight.dtype), spec, out_shape)
    out = empty(spec.in5, spec.weight.dtype)
    _run(_conv.conv_transpose_forward, spec, spec.x.reshape(spec.out5),
         spec.weight.reshape(spec.w5), spec.bias, out)
    return _unbatch(out, spec, out_shape)


def _conv_transpose_backward(spec, grad_out, need_input_grad, need_weight_grad,
                             need_bias_grad):
    g = _grad_out(grad_out, spec)
    dtype = spec.weight.dtype
    n, c_out = spec.in5[:2]
    if _empty_case(spec, n, c_out):
        gx = np.zeros(spec.x.shape, dtype) if need_input_grad else None
        gw = np.zeros(spec.weight.shape, dtype) if need_weight_grad else None
        gb = np.zeros((c_out,), dtype) if need_bias_grad else None
        return (None if gx is None else _unbatch(gx, spec, gx.shape)), gw, gb
    gx = empty(spec.out5, dtype) if need_input_grad else None
    gw = empty(spec.w5, dtype) if need_weight_grad else None
    gb = empty((c_out,), dtype) if need_bias_grad else None
    _run(_conv.conv_transpose_backward, spec, g.reshape(spec.in5),
         spec.x.reshape(spec.out5), spec.weight.reshape(spec.w5), gx, gw, gb)
    if gx is not None:
        gx = _unbatch(gx, spec, spec.x.shape)
    return gx, _as_shape(gw, spec.weight.shape), gb


# ------------------------------------------------------------------ public ops

_FORWARD_DOC = """{nd}-D convolution (PyTorch's ``F.conv{nd}d``).

    Parameters
    ----------
    x : ndarray, shape (N, C_in, {sp}) or (C_in, {sp})
    weight : ndarray, shape (C_out, C_in / groups, {k})
    bias : ndarray, shape (C_out,), optional
    stride, dilation : int or tuple of {nd} int(s), >= 1
    padding : int or tuple of {nd} int(s) >= 0, or "valid" or "same"
    groups : int
        Split the channels into this many independent groups (``groups = C_in``
        is a depthwise convolution).

    Returns
    -------
    y : ndarray, shape (N, C_out, {osp}) (no N for an unbatched x)
    """

_BACKWARD_DOC = """Gradients of :func:`conv{nd}d_forward`.

    Parameters
    ----------
    grad_out : ndarray, the forward output's shape
    x, weight, stride, padding, dilation, groups
        The forward call's arguments.
    need_input_grad, need_weight_grad, need_bias_grad : bool
        Skip what is not needed.

    Returns
    -------
    grad_x : ndarray, x's shape, or None
    grad_weight : ndarray, weight's shape, or None
    grad_bias : ndarray, shape (C_out,), or None
    """

_T_FORWARD_DOC = """{nd}-D transposed convolution (PyTorch's ``F.conv_transpose{nd}d``).

    The adjoint of a convolution with the same arguments: it maps the convolution's
    output shape back to its input shape. Output size per dimension:
    ``(in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1``.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, {sp}) or (C_in, {sp})
    weight : ndarray, shape (C_in, C_out / groups, {k})
    bias : ndarray, shape (C_out,), optional
    stride, dilation : int or tuple of {nd} int(s), >= 1
    padding : int or tuple of {nd} int(s), >= 0
    output_padding : int or tuple of {nd} int(s), each smaller than the stride or the
        dilation: added to the high side of the output (picks one of the input
        sizes a strided convolution maps to the same output size)
    groups : int

    Returns
    -------
    y : ndarray, shape (N, C_out, {osp}) (no N for an unbatched x)
    """

_T_BACKWARD_DOC = """Gradients of :func:`conv_transpose{nd}d_forward`.

    Parameters
    ----------
    grad_out : ndarray, the forward output's shape
    x, weight, stride, padding, output_padding, groups, dilation
        The forward call's arguments.
    need_input_grad, need_weight_grad, need_bias_grad : bool

    Returns
    -------
    grad_x, grad_weight, grad_bias : ndarray or None
    """

_SPATIAL = {1: ("L", "kL", "L_out"), 2: ("H, W", "kH, kW", "H_out, W_out"),
            3: ("D, H, W", "kD, kH, kW", "D_out, H_out, W_out")}


def _documented(template, nd):
    sp, k, osp = _SPATIAL[nd]

    def decorate(fn):
        fn.__doc__ = template.format(nd=nd, sp=sp, k=k, osp=osp)
        return fn
    return decorate


@_documented(_FORWARD_DOC, 1)
def conv1d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return conv_forward_arrays(1, x, weight, bias, stride, padding, dilation, groups)


@_documented(_FORWARD_DOC, 2)
def conv2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return conv_forward_arrays(2, x, weight, bias, stride, padding, dilation, groups)


@_documented(_FORWARD_DOC, 3)
def conv3d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return conv_forward_arrays(3, x, weight, bias, stride, padding, dilation, groups)


@_documented(_BACKWARD_DOC, 1)
def conv1d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    need_input_grad=True, need_weight_grad=True, need_bias_grad=True):
    return conv_backward_arrays(1, grad_out, x, weight, stride, padding, dilation, groups,
                                need_input_grad, need_weight_grad, need_bias_grad)


@_documented(_BACKWARD_DOC, 2)
def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    need_input_grad=True, need_weight_grad=True, need_bias_grad=True):
    return conv_backward_arrays(2, grad_out, x, weight, stride, padding, dilation, groups,
                                need_input_grad, need_weight_grad, need_bias_grad)


@_documented(_BACKWARD_DOC, 3)
def conv3d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    need_input_grad=True, need_weight_grad=True, need_bias_grad=True):
    return conv_backward_arrays(3, grad_out, x, weight, stride, padding, dilation, groups,
                                need_input_grad, need_weight_grad, need_bias_grad)


@_documented(_T_FORWARD_DOC, 1)
def conv_transpose1d_forward(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                             groups=1, dilation=1):
    return _conv_transpose_forward(_conv_transpose_spec(
        1, x, weight, bias, stride, padding, output_padding, groups, dilation))


@_documented(_T_FORWARD_DOC, 2)
def conv_transpose2d_forward(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                             groups=1, dilation=1):
    return _conv_transpose_forward(_conv_transpose_spec(
        2, x, weight, bias, stride, padding, output_padding, groups, dilation))


@_documented(_T_FORWARD_DOC, 3)
def conv_transpose3d_forward(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                             groups=1, dilation=1):
    return _conv_transpose_forward(_conv_transpose_spec(
        3, x, weight, bias, stride, padding, output_padding, groups, dilation))


@_documented(_T_BACKWARD_DOC, 1)
def conv_transpose1d_backward(grad_out, x, weight, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, *, need_input_grad=True,
                              need_weight_grad=True, need_bias_grad=True):
    spec = _conv_transpose_spec(1, x, weight, None, stride, padding, output_padding,
                                groups, dilation)
    return _conv_transpose_backward(spec, grad_out, need_input_grad, need_weight_grad,
                                    need_bias_grad)


@_documented(_T_BACKWARD_DOC, 2)
def conv_transpose2d_backward(grad_out, x, weight, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, *, need_input_grad=True,
                              need_weight_grad=True, need_bias_grad=True):
    spec = _conv_transpose_spec(2, x, weight, None, stride, padding, output_padding,
                                groups, dilation)
    return _conv_transpose_backward(spec, grad_out, need_input_grad, need_weight_grad,
                                    need_bias_grad)


@_documented(_T_BACKWARD_DOC, 3)
def conv_transpose3d_backward(grad_out, x, weight, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, *, need_input_grad=True,
                              need_weight_grad=True, need_bias_grad=True):
    spec = _conv_transpose_spec(3, x, weight, None, stride, padding, output_padding,
                                groups, dilation)
    return _conv_transpose_backward(spec, grad_out, need_input_grad, need_weight_grad,
                                    need_bias_grad)
