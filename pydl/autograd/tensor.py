"""Tensor: a NumPy array that remembers how it was computed.

``pydl.Tensor`` wraps an ndarray (``.data``). When gradients are enabled and an input
of an op requires them, the result carries the :class:`~pydl.autograd.graph.Node` of
that op, and ``result.backward()`` fills the ``.grad`` of every leaf tensor (and of
every :class:`~pydl.nn.Parameter`) it depends on. The arithmetic lives in
:mod:`pydl.autograd.ops`; this module holds the type and its bookkeeping only.
"""

import numpy as np

from .._grad_mode import is_grad_enabled
from . import graph as _graph
from .graph import run_backward

__all__ = ["Tensor", "tensor", "has_tensor"]

_ndarray = np.ndarray

# The dtypes a tensor that requires gradients may have (shared by the autograd modules).
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _as_data(data, dtype):
    """The ndarray a new tensor holds: floats stay as they are, Python floats become
    float32 (PyTorch's default), integers and bools keep an integer/bool type."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        arr = data
    else:
        arr = np.asarray(data)
        if arr.dtype == np.float64 and not isinstance(data, np.generic):
            arr = arr.astype(np.float32)     # Python floats and lists of them
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"a tensor holds numbers: float32, float64, integers or bools, "
                        f"got dtype {arr.dtype}")
    return arr


class Tensor:
    """An ndarray with an optional gradient and the record of how it was made.

    Parameters
    ----------
    data : array_like
        float32 or float64 for a tensor that requires gradients; integer and bool
        tensors (indices, masks) take part in ops without one. Python floats become
        float32.
    requires_grad : bool
        Make this a leaf whose ``.grad`` backward fills.
    dtype : dtype, optional

    Attributes
    ----------
    data : ndarray
        The values (no copy of an ndarray passed in).
    grad : ndarray or None
        For leaves: the accumulated gradient, same shape and dtype as ``data``.
    requires_grad : bool
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "_out_index", "_vc", "__weakref__")

    # NumPy defers to Tensor's reflected operators (``ndarray + tensor`` is a tensor).
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False, dtype=None):
        arr = _as_data(data, dtype)
        if requires_grad and arr.dtype not in _FLOATS:
            raise TypeError(f"only float32 and float64 tensors can require gradients, "
                            f"got dtype {arr.dtype}")
        self.data = arr
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._node = None
        self._out_index = 0
        self._vc = None

    # ------------------------------------------------------------ construction
    @classmethod
    def _wrap(cls, data, node=None, index=0, vc=None):
        """A tensor over ``data`` (no checks): the result of an op."""
        t = Tensor.__new__(Tensor)
        t.data = data
        t.grad = None
        t.requires_grad = node is not None
        t._node = node
        t._out_index = index
        t._vc = vc
        return t

    # -------------------------------------------------------------- properties
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

    def dim(self):
        return self.data.ndim

    @property
    def is_leaf(self):
        """True for tensors made by the user (and Parameters), not by an op."""
        return self._node is None

    @property
    def grad_fn(self):
        """The node that made this tensor, or None for a leaf."""
        return self._node

    # The version counter is a one-element list shared by the tensors over one buffer
    # (a tensor and its views, detach()); None stands for [0] not yet shared, so an op
    # result allocates none (one object less for the cyclic GC per recorded op).
    @property
    def _version(self):
        """How many in-place changes the data has seen (shared with views)."""
        vc = self._vc
        return 0 if vc is None else vc[0]

    def _bump_version(self):
        vc = self._vc
        if vc is None:
            self._vc = [1]
        else:
            vc[0] += 1
        _graph.bumps[0] = next(_graph.bump_ids)   # nodes recorded before: check versions

    def _shared_vc(self):
        """The version counter, created if needed, for a tensor over the same data."""
        vc = self._vc
        if vc is None:
            vc = self._vc = [0]
        return vc

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """Export ``data`` as a DLPack capsule (``torch.from_dlpack(t)`` shares memory).

        Refused, as in PyTorch, for a tensor that requires gradients: the consumer
        could write into it behind autograd's back. Export ``t.detach()`` instead
        (same memory). Writes made through the consumer do not bump ``_version``.
        """
        if self.requires_grad:
            raise RuntimeError("cannot export a tensor that requires grad through DLPack: "
                               "export tensor.detach() (it shares the memory)")
        # NumPy before 2.1 takes only stream=: pass the newer keywords only when given,
        # so a consumer's retry without max_version (torch does that) works there too
        given = {"max_version": max_version, "dl_device": dl_device, "copy": copy}
        return self.data.__dlpack__(stream=stream,
                                    **{k: v for k, v in given.items() if v is not None})

    def __dlpack_device__(self):
        """``(device type, index)``: always the CPU, ``(1, 0)``."""
        return self.data.__dlpack_device__()

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.data.size} elements "
                             f"is ambiguous")
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only one-element integer tensors can be used as an index")
        return int(self.data.reshape(-1)[0])

    __hash__ = object.__hash__

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype != np.float32:
            extra += f", dtype={self.data.dtype}"
        if self._node is not None:
            extra += f", grad_fn=<{self._node.name}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # --------------------------------------------------------------- autograd
    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has "
                             f"{self.data.size} (shape {self.data.shape})")
        return self.data.reshape(-1)[0].item()

    def tolist(self):
        return self.data.tolist()

    def numpy(self):
        """The data as an ndarray (shared, not copied). Refused on a tensor that
        requires gradients, as in PyTorch: use ``t.detach().numpy()`` (or ``t.data``)."""
        if self.requires_grad:
            raise RuntimeError("numpy() of a tensor that requires grad: call "
                               "tensor.detach().numpy() (or use tensor.data)")
        return self.data

    def detach(self):
        """The same data, cut from the graph (shares the data and its version)."""
        return Tensor._wrap(self.data, vc=self._shared_vc())

    def requires_grad_(self, requires_grad=True):
        """Make this leaf require gradients (in place); returns self."""
        if self._node is not None and not requires_grad:
            raise RuntimeError("requires_grad_(False) on a tensor made by an op: use "
                               "detach() instead")
        if requires_grad and self.data.dtype not in _FLOATS:
            raise TypeError(f"only float32 and float64 tensors can require gradients, "
                            f"got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient=None, retain_graph=False):
        """Compute the gradient of this tensor with respect to every leaf it depends
        on, adding it into each leaf's ``.grad``.

        Parameters
        ----------
        gradient : array_like, optional
            The gradient of some scalar with respect to this tensor, same shape.
            Required unless this tensor has one element.
        retain_graph : bool
            Keep the recorded graph (and its caches) for another backward.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad: no "
                               "input of the ops that made it requires grad (was it made "
                               "under pydl.no_grad(), or from detached tensors?)")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a tensor with one "
                                   f"element (a loss); this one has shape {self.data.shape}: "
                                   f"pass gradient= of that shape")
            g = np.empty(self.data.shape, self.data.dtype)   # np.ones: 1 us more
            g.fill(1)
        else:
            g = gradient.data if isinstance(gradient, Tensor) else gradient
            g = np.asarray(g)
            if g.shape != self.data.shape:
                raise ValueError(f"gradient has shape {g.shape}, expected {self.data.shape} "
                                 f"(the tensor's shape)")
            if g.dtype.kind not in "fiu":
                raise TypeError(f"gradient must be numeric, got dtype {g.dtype}")
            g = g.astype(self.data.dtype, copy=False)
        run_backward(self, g, retain_graph)

    def zero_(self):
        """Fill with zeros in place; returns self."""
        _check_inplace(self, None)
        self.data[...] = 0
        self._bump_version()
        return self


def _check_inplace(target, other):
    """In-place arithmetic is for data nobody differentiates through."""
    if is_grad_enabled() and (target.requires_grad or (
            isinstance(other, Tensor) and other.requires_grad)):
        raise RuntimeError(
            "in-place operation on a tensor that takes part in autograd: write it out of "
            "place (x = x + y), or run it under pydl.no_grad() (as optimizers do)")


def has_tensor(args, kwargs):
    """Whether a call's arguments hold a Tensor (also inside a tuple, as RNN states).
    Runs on every functional op call and module call, the explicit path's included:
    arrays, the usual arguments there, are passed over first."""
    for a in args:
        ta = type(a)
        if ta is _ndarray:
            continue
        if ta is Tensor or isinstance(a, Tensor):
            return True
        if ta is tuple or ta is list:
            for b in a:
                if isinstance(b, Tensor):
                    return True
    if kwargs:
        return has_tensor(tuple(kwargs.values()), None)
    return False


def tensor(data, requires_grad=False, dtype=None):
    """A new leaf :class:`Tensor` over ``data`` (PyTorch's ``torch.tensor``; ndarrays
    are not copied).

    >>> x = pydl.tensor([[1.0, 2.0]], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    array([[2., 4.]], dtype=float32)
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)
