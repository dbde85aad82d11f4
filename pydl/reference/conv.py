"""NumPy twin of pydl.functional.conv.

A convolution is a sum over kernel offsets: for each offset, the strided window of the
(zero-padded) input that offset reads, times that offset's weight slice, summed over
the input channels of each group (one batched matmul over the groups). A transposed
convolution is written independently, as the scatter that defines it: every input
position adds ``x * weight`` at ``i * stride + k * dilation`` of a buffer, from which
``padding`` is cropped.
"""

import itertools

import numpy as np

__all__ = [f"{op}{nd}d_{step}" for op in ("conv", "conv_transpose") for nd in (1, 2, 3)
           for step in ("forward", "backward")]

_ALL = (slice(None),) * 3   # batch, group and channel-in-group axes


def _tuple(value, nd):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * nd


def _padding(padding, nd, kernel, dilation):
    """(low, high) padding per dimension; "same" puts an odd remainder on the high side."""
    if padding == "valid":
        return (0,) * nd, (0,) * nd
    if padding == "same":
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)
    p = _tuple(padding, nd)
    return p, p


def _window(offset, dilation, stride, count):
    """Slices picking, for kernel offset ``offset``, the ``count`` positions it touches."""
    return _ALL + tuple(slice(o * d, o * d + s * (n - 1) + 1, s)
                        for o, d, s, n in zip(offset, dilation, stride, count))


def _offsets(kernel):
    return itertools.product(*(range(k) for k in kernel))


def _grouped(a, groups):
    """(N, C, *sp) -> (N, groups, C / groups, *sp)."""
    return a.reshape(a.shape[0], groups, a.shape[1] // groups, *a.shape[2:])


def _mix(a, m):
    """out[n, g, k, ...] = sum over c of m[g, k, c] * a[n, g, c, ...]."""
    n, g, c = a.shape[:3]
    out = np.ascontiguousarray(m)[None] @ a.reshape(n, g, c, -1)   # contiguous: BLAS
    return out.reshape(n, g, m.shape[1], *a.shape[3:])


def _outer(a, b):
    """out[g, i, j] = sum over n and positions of a[n, g, i, ...] * b[n, g, j, ...]."""
    n, g = a.shape[:2]
    a2 = a.reshape(n, g, a.shape[2], -1)
    b2 = b.reshape(n, g, b.shape[2], -1)
    return (a2 @ b2.transpose(0, 1, 3, 2)).sum(axis=0)


def _batched(x, nd):
    return (x, False) if x.ndim == nd + 2 else (x[None], True)


def _conv_geometry(nd, x, weight, stride, padding, dilation, groups):
    stride, dilation = _tuple(stride, nd), _tuple(dilation, nd)
    low, high = _padding(padding, nd, weight.shape[2:], dilation)
    xp = _grouped(np.pad(x, [(0, 0), (0, 0)] + list(zip(low, high))), groups)
    out = [(xp.shape[3 + i] - dilation[i] * (weight.shape[2 + i] - 1) - 1) // stride[i] + 1
           for i in range(nd)]
    wg = weight.reshape(groups, weight.shape[0] // groups, *weight.shape[1:])
    return xp, wg, low, stride, dilation, out


def _conv_forward(nd, x, weight, bias, stride, padding, dilation, groups):
    x, unbatched = _batched(x, nd)
    xp, wg, _, stride, dilation, out = _conv_geometry(nd, x, weight, stride, padding,
                                                      dilation, groups)
    y = np.zeros((x.shape[0], groups, wg.shape[1], *out), np.result_type(x, weight))
    for off in _offsets(weight.shape[2:]):
        y += _mix(xp[_window(off, dilation, stride, out)], wg[(...,) + off])
    y = y.reshape(x.shape[0], weight.shape[0], *out)
    if bias is not None:
        y += bias.reshape((-1,) + (1,) * nd)
    return y[0] if unbatched else y


def _conv_backward(nd, grad_out, x, weight, stride, padding, dilation, groups,
                   need_input_grad, need_weight_grad, need_bias_grad):
    x, unbatched = _batched(x, nd)
    gy, _ = _batched(grad_out, nd)
    xp, wg, low, stride, dilation, out = _conv_geometry(nd, x, weight, stride, padding,
                                                        dilation, groups)
    gyg = _grouped(gy, groups)
    gxp = np.zeros(xp.shape, np.result_type(x, weight))
    gw = np.zeros(wg.shape, gxp.dtype)
    for off in _offsets(weight.shape[2:]):
        win = _window(off, dilation, stride, out)
        gxp[win] += _mix(gyg, wg[(...,) + off].transpose(0, 2, 1))
        gw[(...,) + off] = _outer(gyg, xp[win])
    crop = _ALL + tuple(slice(lo, lo + n) for lo, n in zip(low, x.shape[2:]))
    gx = gxp[crop].reshape(x.shape)
    gb = gy.sum(axis=(0, *range(2, nd + 2)))
    return (((gx[0] if unbatched else gx) if need_input_grad else None),
            gw.reshape(weight.shape) if need_weight_grad else None,
            gb if need_bias_grad else None)


def _transpose_geometry(nd, x, weight, stride, padding, output_padding, dilation):
    stride, padding = _tuple(stride, nd), _tuple(padding, nd)
    output_padding, dilation = _tuple(output_padding, nd), _tuple(dilation, nd)
    kernel, size = weight.shape[2:], x.shape[2:]
    out = [(i - 1) * s - 2 * p + d * (k - 1) + op + 1
           for i, s, p, d, k, op in zip(size, stride, padding, dilation, kernel,
                                         output_padding)]
    # Room for every position the scatter reaches and for the cropped output.
    full = [max((i - 1) * s + d * (k - 1) + 1, p + o)
            for i, s, d, k, p, o in zip(size, stride, dilation, kernel, padding, out)]
    crop = _ALL + tuple(slice(p, p + o) for p, o in zip(padding, out))
    return stride, dilation, full, crop


def _conv_transpose_forward(nd, x, weight, bias, stride, padding, output_padding, groups,
                            dilation):
    x, unbatched = _batched(x, nd)
    stride, dilation, full, crop = _transpose_geometry(nd, x, weight, stride, padding,
                                                       output_padding, dilation)
    xg = _grouped(x, groups)
    wg = weight.reshape(groups, -1, *weight.shape[1:])     # (G, C_in/G, C_out/G, *k)
    buf = np.zeros((x.shape[0], groups, weight.shape[1], *full), np.result_type(x, weight))
    for off in _offsets(weight.shape[2:]):
        buf[_window(off, dilation, stride, x.shape[2:])] += _mix(
            xg, wg[(...,) + off].transpose(0, 2, 1))
    y = buf[crop]
    y = y.reshape(x.shape[0], -1, *y.shape[3:])
    if bias is not None:
        y = y + bias.reshape((-1,) + (1,) * nd)
    return y[0] if unbatched else y


def _conv_transpose_backward(nd, grad_out, x, weight, stride, padding, output_padding,
                             groups, dilation, need_input_grad, need_weight_grad,
                             need_bias_grad):
    x, unbatched = _batched(x, nd)
    gy, _ = _batched(grad_out, nd)
    stride, dilation, full, crop = _transpose_geometry(nd, x, weight, stride, padding,
                                                       output_padding, dilation)
    xg = _grouped(x, groups)
    wg = weight.reshape(groups, -1, *weight.shape[1:])
    gbuf = np.zeros((x.shape[0], groups, weight.shape[1], *full), np.result_type(x, weight))
    gbuf[crop] = _grouped(gy, groups)
    gx = np.zeros(xg.shape, gbuf.dtype)
    gw = np.zeros(wg.shape, gbuf.dtype)
    for off in _offsets(weight.shape[2:]):
        gwin = gbuf[_window(off, dilation, stride, x.shape[2:])]
        gx += _mix(gwin, wg[(...,) + off])
        gw[(...,) + off] = _outer(xg, gwin)
    gb = gy.sum(axis=(0, *range(2, nd + 2)))
    gx = gx.reshape(x.shape)
    return (((gx[0] if unbatched else gx) if need_input_grad else None),
            gw.reshape(weight.shape) if need_weight_grad else None,
            gb if need_bias_grad else None)


def conv1d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv_forward(1, x, weight, bias, stride, padding, dilation, groups)


def conv2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv_forward(2, x, weight, bias, stride, padding, dilation, groups)


def conv3d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv_forward(3, x, weight, bias, stride, padding, dilation, groups)


def conv1d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    need_input_grad=True, need_weight_grad=True, need_bias_grad=True):
    return _conv_backward(1, grad_out, x, weight, stride, padding, dilation, groups,
                          need_input_grad, need_weight_grad, need_bias_grad)


def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    need_input_grad=True, need_weight_grad=True, need_bias_grad=True):
    return _conv_backward(2, grad_out, x, weight, stride, padding, dilation, groups,
                          need_input_grad, need_weight_grad, need_bias_grad)


def conv3d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    need_input_grad=True, need_weight_grad=True, need_bias_grad=True):
    return _conv_backward(3, grad_out, x, weight, stride, padding, dilation, groups,
                          need_input_grad, need_weight_grad, need_bias_grad)


def conv_transpose1d_forward(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                             groups=1, dilation=1):
    return _conv_transpose_forward(1, x, weight, bias, stride, padding, output_padding,
                                   groups, dilation)


def conv_transpose2d_forward(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                             groups=1, dilation=1):
    return _conv_transpose_forward(2, x, weight, bias, stride, padding, output_padding,
                                   groups, dilation)


def conv_transpose3d_forward(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                             groups=1, dilation=1):
    return _conv_transpose_forward(3, x, weight, bias, stride, padding, output_padding,
                                   groups, dilation)


def conv_transpose1d_backward(grad_out, x, weight, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, *, need_input_grad=True,
                              need_weight_grad=True, need_bias_grad=True):
    return _conv_transpose_backward(1, grad_out, x, weight, stride, padding, output_padding,
                                    groups, dilation, need_input_grad, need_weight_grad,
                                    need_bias_grad)


def conv_transpose2d_backward(grad_out, x, weight, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, *, need_input_grad=True,
                              need_weight_grad=True, need_bias_grad=True):
    return _conv_transpose_backward(2, grad_out, x, weight, stride, padding, output_padding,
                                    groups, dilation, need_input_grad, need_weight_grad,
                                    need_bias_grad)


def conv_transpose3d_backward(grad_out, x, weight, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, *, need_input_grad=True,
                              need_weight_grad=True, need_bias_grad=True):
    return _conv_transpose_backward(3, grad_out, x, weight, stride, padding, output_padding,
                                    groups, dilation, need_input_grad, need_weight_grad,
                                    need_bias_grad)
