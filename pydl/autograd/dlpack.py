"""DLPack exchange: zero-copy arrays to and from PyTorch, JAX, CuPy's host arrays, NumPy.

A :class:`~pydl.Tensor` exports its ``data`` through ``__dlpack__`` (see
:meth:`Tensor.__dlpack__`); :func:`from_dlpack` imports any producer's CPU tensor as a
pydl Tensor over the same memory, as ``torch.from_dlpack`` does.
"""

import numpy as np

from .tensor import Tensor

__all__ = ["from_dlpack"]

# DLPack device types (dlpack.h) and which of them the CPU can address.
_DEVICES = {1: "CPU", 2: "CUDA", 3: "CUDA host", 4: "OpenCL", 7: "Vulkan", 8: "Metal",
            9: "VPI", 10: "ROCm", 11: "ROCm host", 12: "ExtDev", 13: "CUDA managed",
            14: "oneAPI", 15: "WebGPU", 16: "Hexagon"}
_HOST = (1, 3, 11, 13)


def from_dlpack(x, *, device=None, copy=None):
    """A :class:`~pydl.Tensor` over the memory of ``x``, an object with ``__dlpack__``.

    Parameters
    ----------
    x : object with ``__dlpack__`` and ``__dlpack_device__``
        E.g. a ``torch.Tensor`` on the CPU, an ndarray, a ``pydl.Tensor`` that does not
        require gradients. Any shape and strides.
    device : "cpu" or None
        pydl runs on the CPU; any other device is refused.
    copy : bool or None
        None (default): share memory (every CPU producer allows it). True: a copy.
        False: share or raise.

    Returns
    -------
    Tensor
        Same shape, dtype and memory as ``x`` (writes through either are seen by the
        other); a leaf with ``requires_grad=False``. Read-only memory stays read-only.

    Raises
    ------
    TypeError
        ``x`` has no ``__dlpack__``, or a dtype NumPy cannot hold (bfloat16, complex:
        convert it first, e.g. ``x.float()``).
    ValueError
        ``x`` lives on an accelerator, or ``device`` is not the CPU.
    RuntimeError
        ``x`` requires grad (as ``torch.from_dlpack`` refuses it): pass ``x.detach()``.

    Examples
    --------
    >>> t = torch.arange(4.0)
    >>> p = pydl.from_dlpack(t)
    >>> t[0] = 7
    >>> p.data[0]
    7.0
    """
    if device is not None and str(device) != "cpu":
        raise ValueError(f"device must be 'cpu' or None (pydl runs on the CPU), "
                         f"got {device!r}")
    if copy is not None and not isinstance(copy, bool):
        raise TypeError(f"copy must be a bool or None, got {type(copy).__name__}")
    if not hasattr(x, "__dlpack__") or not hasattr(x, "__dlpack_device__"):
        raise TypeError(f"x must support DLPack (__dlpack__ and __dlpack_device__, e.g. a "
                        f"torch.Tensor or an ndarray), got {type(x).__name__}")
    if getattr(x, "requires_grad", False) is True:  # a torch or pydl tensor
        raise RuntimeError("x requires grad, and DLPack carries no autograd history: "
                           "pass x.detach() (it shares the memory)")
    kind, index = x.__dlpack_device__()
    if kind not in _HOST:
        name = _DEVICES.get(int(kind), f"type {kind}")
        raise ValueError(f"x lives on DLPack device {name}:{index}; pydl runs on the CPU, "
                         f"so move it there first (e.g. x.cpu())")
    try:
        arr = np.from_dlpack(x)  # shares memory; NumPy before 2.1 has no copy=
    except (BufferError, RuntimeError, TypeError) as exc:
        raise TypeError(f"x of dtype {getattr(x, 'dtype', '?')} cannot be imported as an "
                        f"array ({type(exc).__name__}: {exc}); pydl holds bool, integer and "
                        f"float tensors: convert it first (e.g. x.float())") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"x has dtype {arr.dtype}; pydl holds bool, integer and float "
                        f"tensors: convert it first (e.g. x.real or x.float())")
    if copy:
        arr = arr.copy()
    return Tensor(arr)
