"""Parameter: a trainable array and its gradient, a leaf of the autograd tape."""

import weakref

import numpy as np

from ..autograd import graph as _graph
from ..autograd.tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A trainable array held by a :class:`~pydl.nn.Module`: a leaf :class:`~pydl.Tensor`.

    Modules read ``data`` directly on the explicit path; tensor ops (``x @ w.T``) and
    module calls on tensors record it on the tape, and ``loss.backward()`` adds into
    ``grad`` either way.

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

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            data = data.data
        data = np.asarray(data)
        if data.dtype not in (np.float32, np.float64):
            raise TypeError(f"Parameter data must be float32 or float64, got {data.dtype}")
        if not data.flags.c_contiguous or not data.flags.writeable:
            data = np.array(data, order="C")
        super().__init__(data, requires_grad=requires_grad)

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
        if _graph.post_accumulate_hooks:
            _graph.run_post_accumulate_hooks(self)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(param)`` each time a backward pass has added into ``grad``.

        As ``torch.Tensor.register_post_accumulate_grad_hook``: on the explicit path
        after each ``accumulate_grad``, on the tape after each addition into this leaf.
        ``pydl.distributed.DistributedDataParallel`` starts its gradient reductions
        from these hooks.

        Returns
        -------
        handle
            ``handle.remove()`` unregisters the hook.
        """
        if not callable(hook):
            raise TypeError(f"hook must be callable, got {type(hook).__name__}")
        key = id(self)
        hooks = _graph.post_accumulate_hooks.get(key)
        if hooks is None:
            hooks = _graph.post_accumulate_hooks[key] = []
            # The registry is keyed by id: drop the entry when this parameter dies, so
            # that a later object given the same id never inherits its hooks
            weakref.finalize(self, _graph.post_accumulate_hooks.pop, key, None)
        hooks.append(hook)
        return _HookHandle(self, hook)

    def __repr__(self):
        return f"Parameter containing:\n{self.data!r}"


class _HookHandle:
    """Removes one post-accumulate hook (holds the parameter, so its id stays its own
    while the hook is registered)."""

    __slots__ = ("_hook", "_param")

    def __init__(self, param, hook):
        self._param, self._hook = param, hook

    def remove(self):
        if self._param is None:
            return
        hooks = _graph.post_accumulate_hooks.get(id(self._param), [])
        if self._hook in hooks:
            hooks.remove(self._hook)
        if not hooks:
            _graph.post_accumulate_hooks.pop(id(self._param), None)
        self._param = self._hook = None
