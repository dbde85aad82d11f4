"""Dropout, and channel dropout (Dropout1d, Dropout2d, Dropout3d)."""

import warnings

import numpy as np

from .. import functional as F
from .._grad_mode import _local as _grad_local
from ..functional.dropout import dropout_forward as _dropout_forward
from ..functional.dropout import check_p
from ..random import resolve
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d"]


class _DropoutBase(Module):
    def __init__(self, p=0.5, inplace=False, generator=None):
        super().__init__()
        self.p = check_p(p)
        self.inplace = bool(inplace)
        if generator is not None:
            resolve(generator)  # type check now rather than at the first forward
        self.generator = generator

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


def _write_back(x, out, inplace):
    """With inplace, put the result into x itself (as PyTorch's inplace=True) and
    return x."""
    if not inplace or out is x:
        return out
    if not (isinstance(x, np.ndarray) and x.flags.writeable and x.dtype == out.dtype):
        raise ValueError("inplace=True needs x to be a writeable float32/float64 ndarray")
    x[...] = out
    return x


class Dropout(_DropoutBase):
    """Inverted dropout (``torch.nn.Dropout``): in training each element is zeroed
    with probability p and the others scaled by 1/(1-p); in eval mode the identity.

    Parameters
    ----------
    p : float in [0, 1]
    inplace : bool
        Write the result into the input array.
    generator : numpy.random.Generator, optional
        Source of the masks (default: pydl's generator, :func:`pydl.manual_seed`).

    The mask drawn in forward is kept for backward.
    """

    def forward(self, x):
        # on arrays the op itself, without the tape wrapper
        op = _dropout_forward if type(x) is np.ndarray else F.dropout_forward
        out, mask = op(x, self.p, self.training, self.generator)
        if _grad_local.enabled:      # save_for_backward, without the call
            self.save_for_backward(mask=mask)
        return out if out is x else _write_back(x, out, self.inplace)

    def backward(self, grad_output):
        return F.dropout_backward(grad_output, self.saved()["mask"], self.p)


class _ChannelDropout(_DropoutBase):
    """Zero whole channels: each (n, c) slice with probability p (Dropout1d/2d/3d)."""

    _batched = _unbatched = None   # input ranks with and without the batch axis

    def _batch_view(self, x):
        ndim = np.ndim(x)
        name = type(self).__name__
        if ndim == self._unbatched:
            return np.asarray(x)[None], True
        if ndim != self._batched:
            raise ValueError(f"{name} expects {self._unbatched}-D (C, ...) or "
                             f"{self._batched}-D (N, C, ...) input, got {ndim}-D")
        return x, False

    def forward(self, x):
        xb, unbatched = self._batch_view(x)
        out, mask = F.channel_dropout_forward(xb, self.p, self.training, self.generator)
        self.save_for_backward(mask=mask, unbatched=unbatched)
        return _write_back(x, out[0] if unbatched else out, self.inplace)

    def backward(self, grad_output):
        s = self.saved()
        g = np.asarray(grad_output)[None] if s["unbatched"] else grad_output
        grad_in = F.channel_dropout_backward(g, s["mask"], self.p)
        return grad_in[0] if s["unbatched"] else grad_in


class Dropout1d(_ChannelDropout):
    """Channel dropout of (N, C, L) or (C, L) input (``torch.nn.Dropout1d``)."""

    _batched, _unbatched = 3, 2


class Dropout2d(_ChannelDropout):
    """Channel dropout of (N, C, H, W) input (``torch.nn.Dropout2d``).

    A 3-D input is taken as (N, C, L) with a warning, as PyTorch does today.
    """

    _batched, _unbatched = 4, None

    def _batch_view(self, x):
        ndim = np.ndim(x)
        if ndim == 3:
            warnings.warn("Dropout2d: received a 3-D input; taking it as (N, C, L) and "
                          "dropping channels (as PyTorch does). Use Dropout1d for that.",
                          UserWarning, stacklevel=3)
            return x, False
        if ndim != 4:
            raise ValueError(f"Dropout2d expects 4-D (N, C, H, W) input (3-D is taken as "
                             f"(N, C, L)), got {ndim}-D")
        return x, False


class Dropout3d(_ChannelDropout):
    """Channel dropout of (N, C, D, H, W) or (C, D, H, W) input (``torch.nn.Dropout3d``)."""

    _batched, _unbatched = 5, 4
