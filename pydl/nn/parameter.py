"""Parameter: a trainable array and its gradient."""

import numpy as np

__all__ = ["Parameter"]


class Parameter:
    """A trainable array held by a :class:`~pydl.nn.Module`.

    Attributes
    ----------
    data : ndarray
        The values, float32 or float64, C-contiguous. Optimizers update it in place.
    grad : ndarray or None
        Accumulated gradient, same shape and dtype as ``data``; None until a backward
        pass produces one (and again after ``zero_grad()``).
    requires_grad : bool
        False freezes the parameter: backward computes no gradient for it.
    """

    __slots__ = ("data", "grad", "requires_grad")

    def __init__(self, data, requires_grad=True):
        data = np.asarray(data)
        if data.dtype not in (np.float32, np.float64):
            raise TypeError(f"Parameter data must be float32 or float64, got {data.dtype}")
        if not data.flags.c_contiguous or not data.flags.writeable:
            data = np.array(data, order="C")
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    def numel(self):
        """Number of elements (PyTorch's name)."""
        return self.data.size

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def accumulate_grad(self, g):
        """Add ``g`` to ``grad`` (taking ``g`` itself when there is no gradient yet).

        ``g`` must be a fresh array that nobody else holds.
        """
        if not self.requires_grad or g is None:
            return
        if self.grad is None:
            self.grad = g
        else:
            np.add(self.grad, g, out=self.grad)

    def __repr__(self):
        return f"Parameter containing:\n{self.data!r}"
