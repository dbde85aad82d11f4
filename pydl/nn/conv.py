"""Convolution layers with PyTorch's names, arguments and weight layouts.

``Conv1d``, ``Conv2d``, ``Conv3d``: weight (out_channels, in_channels / groups, *kernel).
``ConvTranspose1d``, ``ConvTranspose2d``, ``ConvTranspose3d``: weight (in_channels,
out_channels / groups, *kernel). A PyTorch ``state_dict`` loads unchanged.
"""

import math

import numpy as np

from .. import functional as F
from .._grad_mode import _local as _grad_local
from ..functional._validation import BLAS_INT_MAX, check_int
from ..functional.conv import (
    conv_backward_arrays,
    conv_forward_arrays,
    conv_transpose_output_size,
    int_tuple,
)
from . import init
from .linear import check_size, resolve_dtype
from .module import Module
from .parameter import Parameter

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
           "ConvTranspose3d"]

_PYTORCH_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """Shared by every convolution layer; subclasses set ``_nd`` and the ops."""

    _nd = None
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding,
                 dilation, groups, bias, padding_mode, output_padding, dtype, generator):
        super().__init__()
        nd, name = self._nd, type(self).__name__
        self.in_channels = check_size(in_channels, "in_channels")
        self.out_channels = check_size(out_channels, "out_channels")
        self.groups = check_int(groups, "groups", low=1, high=BLAS_INT_MAX)
        if self.in_channels % self.groups:
            raise ValueError(f"in_channels = {self.in_channels} must be divisible by "
                             f"groups = {self.groups}")
        if self.out_channels % self.groups:
            raise ValueError(f"out_channels = {self.out_channels} must be divisible by "
                             f"groups = {self.groups}")
        self.kernel_size = int_tuple(kernel_size, "kernel_size", nd, low=1)
        self.stride = int_tuple(stride, "stride", nd, low=1)
        self.dilation = int_tuple(dilation, "dilation", nd, low=1)
        self.output_padding = int_tuple(output_padding, "output_padding", nd)
        self.padding = self._check_padding(padding, name)
        if padding_mode != "zeros":
            if padding_mode in _PYTORCH_PADDING_MODES:
                raise ValueError(f"{name}: padding_mode={padding_mode!r} is not supported "
                                 f"by pydl; only 'zeros' is")
            raise ValueError(f"padding_mode must be one of {_PYTORCH_PADDING_MODES}, got "
                             f"{padding_mode!r} (pydl supports only 'zeros')")
        self.padding_mode = padding_mode
        self.transposed = self._transposed
        dtype = resolve_dtype(dtype)
        if self._transposed:
            shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        else:
            shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(np.empty(shape, dtype))
        if bias:
            self.bias = Parameter(np.zeros(self.out_channels, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)

    def _check_padding(self, padding, name):
        nd = self._nd
        if not isinstance(padding, str):
            return int_tuple(padding, "padding", nd)
        if self._transposed:
            raise ValueError(f"{name} does not support padding={padding!r}; give an int "
                             f"or a tuple of {nd} int(s)")
        if padding not in ("same", "valid"):
            raise ValueError(f"invalid padding string {padding!r}, should be one of "
                             f"('same', 'valid')")
        if padding == "same" and any(s != 1 for s in self.stride):
            raise ValueError(f"padding='same' is not supported for strided convolutions "
                             f"(stride={self.stride})")
        return padding

    def reset_parameters(self, generator=None):
        """PyTorch's default: kaiming_uniform(a=sqrt(5)) weights, bias U(+-1/sqrt(fan_in))."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight.data.shape)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound, generator=generator)

    def _needs(self):
        has_bias = self.bias is not None and self.bias.requires_grad
        return dict(need_weight_grad=self.weight.requires_grad, need_bias_grad=has_bias)

    def _accumulate(self, gw, gb):
        if self.weight.requires_grad:
            self.weight.accumulate_grad(gw)
        if self.bias is not None and self.bias.requires_grad:
            self.bias.accumulate_grad(gb)

    def _bias_data(self):
        return None if self.bias is None else self.bias.data

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding}"   # PyTorch prints 'same' unquoted
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class _Conv(_ConvNd):
    _forward_op = None
    _backward_op = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros", *, dtype=None,
                 generator=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, dtype, generator)

    def forward(self, x):
        params = self._parameters
        weight, bias = params["weight"].data, params["bias"]
        bias = None if bias is None else bias.data
        if type(x) is np.ndarray:    # the explicit path: no tape to record on
            y = conv_forward_arrays(self._nd, x, weight, bias, self.stride, self.padding,
                                    self.dilation, self.groups)
        else:
            y = type(self)._forward_op(x, weight, bias, self.stride, self.padding,
                                       self.dilation, self.groups)
        if _grad_local.enabled:      # save_for_backward, without the call
            self.save_for_backward(x=x)
        return y

    def backward(self, grad_output, *, need_input_grad=True):
        """Add the weight and bias gradients into their ``.grad``; return the input's.

        Parameters
        ----------
        grad_output : ndarray
            Gradient of the loss with respect to the forward output.
        need_input_grad : bool, keyword-only, default True
            False skips the input gradient (a first layer on data: PyTorch skips it
            for an input that does not require grad); the weight and bias gradients
            are the same, bit for bit. See :meth:`pydl.nn.Sequential.backward`.

        Returns
        -------
        grad_input : ndarray, the input's shape, or None when not needed
        """
        x = self.saved()["x"]
        params = self._parameters
        weight, bias = params["weight"], params["bias"]
        need_w = weight.requires_grad
        need_b = bias is not None and bias.requires_grad
        need_x = bool(need_input_grad)
        if not (need_x or need_w or need_b):
            return None
        if type(x) is np.ndarray:    # the explicit path: the op itself, positionally
            gx, gw, gb = conv_backward_arrays(self._nd, grad_output, x, weight.data,
                                              self.stride, self.padding, self.dilation,
                                              self.groups, need_x, need_w, need_b)
        else:
            gx, gw, gb = type(self)._backward_op(grad_output, x, weight.data, self.stride,
                                                 self.padding, self.dilation, self.groups,
                                                 need_input_grad=need_x,
                                                 need_weight_grad=need_w,
                                                 need_bias_grad=need_b)
        if need_w:
            weight.accumulate_grad(gw)
        if need_b:
            bias.accumulate_grad(gb)
        return gx


class _ConvTranspose(_ConvNd):
    _transposed = True
    _forward_op = None
    _backward_op = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 *, dtype=None, generator=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, dtype, generator)

    def _output_padding(self, x, output_size):
        """output_padding that gives ``output_size`` (PyTorch's rule), or the layer's."""
        if output_size is None:
            return self.output_padding
        nd = self._nd
        size = list(output_size)
        x_ndim = np.ndim(x)
        if len(size) == x_ndim and x_ndim in (nd + 1, nd + 2):
            size = size[x_ndim - nd:]
        if len(size) != nd:
            raise ValueError(f"output_size must have {nd} or {nd + 2} elements, got "
                             f"{output_size!r}")
        if x_ndim not in (nd + 1, nd + 2):
            raise ValueError(f"x must be {nd + 1}-D or {nd + 2}-D, got shape {np.shape(x)}")
        result = []
        for i, want in enumerate(size):
            want = check_int(want, "output_size")
            smallest = conv_transpose_output_size(np.shape(x)[x_ndim - nd + i],
                                                  self.kernel_size[i], self.stride[i],
                                                  self.padding[i], 0, self.dilation[i])
            largest = smallest + self.stride[i] - 1
            if not smallest <= want <= largest:
                raise ValueError(f"requested an output size of {tuple(size)}, but valid "
                                 f"sizes in dimension {i} range from {smallest} to "
                                 f"{largest} (for an input of shape {np.shape(x)})")
            result.append(want - smallest)
        return tuple(result)

    def forward(self, x, output_size=None):
        output_padding = self._output_padding(x, output_size)
        y = type(self)._forward_op(x, self.weight.data, self._bias_data(), self.stride,
                                   self.padding, output_padding, self.groups, self.dilation)
        self.save_for_backward(x=x, output_padding=output_padding)
        return y

    def backward(self, grad_output, *, need_input_grad=True):
        """Add the weight and bias gradients into their ``.grad``; return the input's
        (None with ``need_input_grad=False``, as for :meth:`Conv2d.backward`)."""
        saved = self.saved()
        needs = self._needs()
        if not (need_input_grad or needs["need_weight_grad"] or needs["need_bias_grad"]):
            return None
        gx, gw, gb = type(self)._backward_op(grad_output, saved["x"], self.weight.data,
                                             self.stride, self.padding,
                                             saved["output_padding"], self.groups,
                                             self.dilation,
                                             need_input_grad=bool(need_input_grad),
                                             **needs)
        self._accumulate(gw, gb)
        return gx


_CONV_DOC = """{nd}-D convolution over (N, C_in, {sp}) inputs (PyTorch's ``nn.Conv{nd}d``).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or tuple of {nd} int(s)
    stride, dilation : int or tuple, default 1
    padding : int, tuple, "valid" or "same", default 0
        "same" keeps the spatial size (stride 1 only).
    groups : int, default 1
        ``groups = in_channels`` makes a depthwise convolution.
    bias : bool, default True
    padding_mode : "zeros" (the only mode pydl supports)
    dtype : float32 (default) or float64
    generator : numpy.random.Generator, optional
        For the initial weights (default: pydl's generator).

    ``weight`` is (out_channels, in_channels / groups, {k}), initialised as in
    PyTorch (kaiming_uniform with a = sqrt(5)); ``bias`` (out_channels,) is
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)). Input (N, C_in, {sp}) or unbatched.
    """

_CONV_T_DOC = """{nd}-D transposed convolution (PyTorch's ``nn.ConvTranspose{nd}d``).

    The adjoint (gradient) of a ``Conv{nd}d`` with the same arguments: it maps that
    convolution's output shape back to its input shape (e.g. upsampling in a
    decoder). Output size per dimension:
    ``(in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1``;
    ``forward(x, output_size=...)`` picks output_padding to reach a given size.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or tuple of {nd} int(s)
    stride : int or tuple, default 1
    padding : int or tuple, default 0
    output_padding : int or tuple, default 0
        Smaller than the stride or the dilation.
    groups : int, default 1
    bias : bool, default True
    dilation : int or tuple, default 1
    padding_mode : "zeros" (the only mode supported)
    dtype, generator : as for Conv{nd}d

    ``weight`` is (in_channels, out_channels / groups, {k}), PyTorch's layout.
    """

_SPATIAL = {1: ("L", "kL"), 2: ("H, W", "kH, kW"), 3: ("D, H, W", "kD, kH, kW")}


def _doc(template, nd):
    sp, k = _SPATIAL[nd]
    return template.format(nd=nd, sp=sp, k=k)


class Conv1d(_Conv):
    __doc__ = _doc(_CONV_DOC, 1)
    _nd = 1
    _forward_op = staticmethod(F.conv1d_forward)
    _backward_op = staticmethod(F.conv1d_backward)


class Conv2d(_Conv):
    __doc__ = _doc(_CONV_DOC, 2)
    _nd = 2
    _forward_op = staticmethod(F.conv2d_forward)
    _backward_op = staticmethod(F.conv2d_backward)


class Conv3d(_Conv):
    __doc__ = _doc(_CONV_DOC, 3)
    _nd = 3
    _forward_op = staticmethod(F.conv3d_forward)
    _backward_op = staticmethod(F.conv3d_backward)


class ConvTranspose1d(_ConvTranspose):
    __doc__ = _doc(_CONV_T_DOC, 1)
    _nd = 1
    _forward_op = staticmethod(F.conv_transpose1d_forward)
    _backward_op = staticmethod(F.conv_transpose1d_backward)


class ConvTranspose2d(_ConvTranspose):
    __doc__ = _doc(_CONV_T_DOC, 2)
    _nd = 2
    _forward_op = staticmethod(F.conv_transpose2d_forward)
    _backward_op = staticmethod(F.conv_transpose2d_backward)


class ConvTranspose3d(_ConvTranspose):
    __doc__ = _doc(_CONV_T_DOC, 3)
    _nd = 3
    _forward_op = staticmethod(F.conv_transpose3d_forward)
    _backward_op = staticmethod(F.conv_transpose3d_backward)
