"""Pooling and unpooling layers (PyTorch's names, arguments and defaults).

Inputs are ``(N, C, *spatial)`` or unbatched ``(C, *spatial)``; see
:mod:`pydl.functional.pool` for the exact rules. None of these layers has parameters.
Max pooling keeps only the argmax indices for its backward pass.
"""

import numpy as np

from .. import functional as F
from .._grad_mode import _local as _grad_local
from ..functional._spatial import ints
from ..functional.pool import (
    _avg_geometry,
    _flag,
    _max_geometry,
    _max_pool_backward,
    _max_pool_forward,
)
from .module import Module

__all__ = [
    "MaxPool1d", "MaxPool2d", "MaxPool3d",
    "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
    "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
]


def _op(name, nd, suffix):
    return getattr(F, f"{name}{nd}d_{suffix}")


def _first(grad_output):
    """The output's gradient; with ``return_indices`` a gradient for the indices may
    come along (as a pair) and is ignored, as in PyTorch."""
    if isinstance(grad_output, (tuple, list)):
        return grad_output[0]
    return grad_output


class _MaxPoolNd(Module):
    nd = None

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        # check the arguments now (on a large enough dummy input), not at the first call
        _max_geometry((2**40,) * self.nd, self.nd, kernel_size, stride, padding, dilation,
                      ceil_mode)
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices = _flag(return_indices, "return_indices")
        self.ceil_mode = ceil_mode

    def forward(self, x):
        if type(x) is np.ndarray:    # the explicit path: no tape to record on
            out, indices = _max_pool_forward(self.nd, x, self.kernel_size, self.stride,
                                             self.padding, self.dilation, self.ceil_mode)
        else:
            out, indices = _op("max_pool", self.nd, "forward")(
                x, self.kernel_size, self.stride, self.padding, self.dilation,
                self.ceil_mode)
        if _grad_local.enabled:      # save_for_backward, without the call
            self.save_for_backward(indices=indices, shape=np.shape(x))
        return (out, indices) if self.return_indices else out

    def backward(self, grad_output):
        s = self.saved()
        return _max_pool_backward(self.nd, _first(grad_output), s["indices"], s["shape"])

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling over ``(N, C, L)`` or ``(C, L)`` (PyTorch's ``nn.MaxPool1d``).

    Parameters
    ----------
    kernel_size, stride, padding, dilation : int or tuple of 1 int
        ``stride`` defaults to ``kernel_size``; ``padding <= kernel_size // 2`` (-inf).
    return_indices : bool
        Also return the argmax indices (for :class:`MaxUnpool1d`).
    ceil_mode : bool
        Round the output size up.
    """

    nd = 1


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling over ``(N, C, H, W)`` or ``(C, H, W)`` (PyTorch's ``nn.MaxPool2d``).

    Parameters as :class:`MaxPool1d`, with ints or pairs. Output size per axis:
    ``floor((L + 2 padding - dilation (kernel_size - 1) - 1) / stride) + 1`` (rounded
    up with ``ceil_mode``). ``indices`` are flat positions ``h * W + w`` in each plane.
    """

    nd = 2


class MaxPool3d(_MaxPoolNd):
    """3-D max pooling over ``(N, C, D, H, W)`` or ``(C, D, H, W)`` (``nn.MaxPool3d``)."""

    nd = 3


class _AvgPoolNd(Module):
    nd = None

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        _avg_geometry((2**40,) * self.nd, self.nd, kernel_size, stride, padding, ceil_mode,
                      count_include_pad, divisor_override)
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def _args(self):
        return (self.kernel_size, self.stride, self.padding, self.ceil_mode,
                self.count_include_pad, self.divisor_override)

    def forward(self, x):
        self.save_for_backward(shape=np.shape(x))
        return _op("avg_pool", self.nd, "forward")(x, *self._args())

    def backward(self, grad_output):
        return _op("avg_pool", self.nd, "backward")(grad_output, self.saved()["shape"],
                                                    *self._args())

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """1-D average pooling over ``(N, C, L)`` or ``(C, L)`` (PyTorch's ``nn.AvgPool1d``).

    Parameters
    ----------
    kernel_size, stride, padding : int or tuple of 1 int
        ``stride`` defaults to ``kernel_size``; zero padding, at most half the kernel.
    ceil_mode : bool
    count_include_pad : bool
        Count the padded zeros in each window's divisor.
    """

    nd = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        # stored as 1-tuples, as PyTorch does
        self.kernel_size = ints(self.kernel_size, 1, "kernel_size")
        self.stride = ints(self.stride, 1, "stride")
        self.padding = ints(padding, 1, "padding", low=0)


class AvgPool2d(_AvgPoolNd):
    """2-D average pooling over ``(N, C, H, W)`` or ``(C, H, W)`` (``nn.AvgPool2d``).

    Parameters as :class:`AvgPool1d`, with ints or pairs, and ``divisor_override``
    (a non-zero int that replaces every window's divisor).
    """

    nd = 2


class AvgPool3d(_AvgPoolNd):
    """3-D average pooling over ``(N, C, D, H, W)`` or ``(C, D, H, W)`` (``nn.AvgPool3d``)."""

    nd = 3


class _AdaptiveAvgPoolNd(Module):
    nd = None

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        self.save_for_backward(shape=np.shape(x))
        return _op("adaptive_avg_pool", self.nd, "forward")(x, self.output_size)

    def backward(self, grad_output):
        return _op("adaptive_avg_pool", self.nd, "backward")(grad_output,
                                                             self.saved()["shape"])

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average pooling to a fixed output length (PyTorch's ``nn.AdaptiveAvgPool1d``).

    Output position ``i`` of ``out`` averages input ``[floor(i L / out),
    ceil((i + 1) L / out))``.
    """

    nd = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average pooling to a fixed output size (PyTorch's ``nn.AdaptiveAvgPool2d``).

    ``output_size``: int or pair; ``None`` keeps that axis. ``AdaptiveAvgPool2d(1)`` is
    global average pooling.
    """

    nd = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """Average pooling to a fixed output size over 3 axes (``nn.AdaptiveAvgPool3d``)."""

    nd = 3


class _AdaptiveMaxPoolNd(Module):
    nd = None

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = _flag(return_indices, "return_indices")

    def forward(self, x):
        out, indices = _op("adaptive_max_pool", self.nd, "forward")(x, self.output_size)
        self.save_for_backward(indices=indices, shape=np.shape(x))
        return (out, indices) if self.return_indices else out

    def backward(self, grad_output):
        s = self.saved()
        return _op("adaptive_max_pool", self.nd, "backward")(_first(grad_output),
                                                             s["indices"], s["shape"])

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max pooling to a fixed output length (PyTorch's ``nn.AdaptiveMaxPool1d``)."""

    nd = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max pooling to a fixed output size (PyTorch's ``nn.AdaptiveMaxPool2d``)."""

    nd = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Max pooling to a fixed output size over 3 axes (``nn.AdaptiveMaxPool3d``)."""

    nd = 3


class _MaxUnpoolNd(Module):
    nd = None

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        # stored as tuples, as PyTorch does
        self.kernel_size = ints(kernel_size, self.nd, "kernel_size")
        self.stride = ints(kernel_size if stride is None else stride, self.nd, "stride")
        self.padding = ints(padding, self.nd, "padding", low=0)

    def forward(self, x, indices, output_size=None):
        out = _op("max_unpool", self.nd, "forward")(x, indices, self.kernel_size, self.stride,
                                                    self.padding, output_size)
        self.save_for_backward(indices=indices)
        return out

    def backward(self, grad_output):
        return _op("max_unpool", self.nd, "backward")(grad_output, self.saved()["indices"])

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Partial inverse of :class:`MaxPool1d` (PyTorch's ``nn.MaxUnpool1d``)."""

    nd = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """Partial inverse of :class:`MaxPool2d` (PyTorch's ``nn.MaxUnpool2d``).

    ``forward(x, indices, output_size=None)`` puts each value of ``x`` at its argmax
    position in a zero output of size ``(H - 1) * stride - 2 * padding + kernel_size``
    per axis (or ``output_size``, within ``stride`` of that); the backward gathers the
    gradient at those positions. Out-of-range indices raise ``ValueError``.
    """

    nd = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """Partial inverse of :class:`MaxPool3d` (PyTorch's ``nn.MaxUnpool3d``)."""

    nd = 3
