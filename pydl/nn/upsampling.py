"""Upsample and its fixed-mode aliases (PyTorch's names and arguments)."""

import numbers

import numpy as np

from .. import functional as F
from ..functional.interpolate import MODES
from .module import Module

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]


def _as_floats(scale_factor):
    """Scale factors as floats, as PyTorch stores them (anything else is left for the
    functional op to refuse)."""
    def real(v):
        return isinstance(v, numbers.Real) and not isinstance(v, bool)
    if isinstance(scale_factor, (tuple, list)) and all(real(v) for v in scale_factor):
        return tuple(float(v) for v in scale_factor)
    return float(scale_factor) if real(scale_factor) else scale_factor


class Upsample(Module):
    """Resample ``(N, C, L)``, ``(N, C, H, W)`` or ``(N, C, D, H, W)`` input to a new
    spatial size (PyTorch's ``nn.Upsample``).

    Parameters
    ----------
    size : int or tuple of ints, optional
        Output spatial size.
    scale_factor : float or tuple of floats, optional
        Output size ``floor(L * scale_factor)``; give exactly one of size and
        scale_factor.
    mode : {"nearest", "nearest-exact", "linear", "bilinear", "trilinear", "area"}
        ``linear`` takes 3-D input, ``bilinear`` 4-D, ``trilinear`` 5-D.
    align_corners : bool, optional
        For the linear modes (default False): align the corner pixels' centres.
    recompute_scale_factor : bool, optional
        Derive the scale from the sizes rather than use ``scale_factor`` itself.

    The source positions match PyTorch's CPU kernels bit for bit (see
    :mod:`pydl.functional.interpolate`); the backward is the exact adjoint.
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if (size is None) == (scale_factor is None):
            raise ValueError("exactly one of size and scale_factor must be given")
        self.size, self.scale_factor, self.mode = size, _as_floats(scale_factor), mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def _args(self):
        return (self.size, self.scale_factor, self.mode, self.align_corners,
                self.recompute_scale_factor)

    def forward(self, x):
        self.save_for_backward(shape=np.shape(x))
        return F.interpolate_forward(x, *self._args())

    def backward(self, grad_output):
        return F.interpolate_backward(grad_output, self.saved()["shape"], *self._args())

    def extra_repr(self):
        what = f"size={self.size}" if self.size is not None else \
            f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample(size, scale_factor, mode="nearest")`` for 4-D input."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(size, scale_factor, mode="bilinear", align_corners=True)``, as
    PyTorch's ``nn.UpsamplingBilinear2d`` (note: corners aligned)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
