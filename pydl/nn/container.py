"""Containers: Sequential, ModuleList and Concat (parallel branches)."""

from collections import OrderedDict
import inspect
import weakref

from ..autograd.ops import concatenate
from ..autograd.tensor import Tensor
from .module import Module

import numpy as np

__all__ = ["Sequential", "ModuleList", "Concat"]

# backward function -> whether it takes ``need_input_grad`` by keyword (weak keys: a
# class defined at run time, and its functions, can still go away)
_takes_flag = weakref.WeakKeyDictionary()


def accepts_need_input_grad(module):
    """Whether ``module.backward`` takes the keyword ``need_input_grad``.

    The layers that can skip their input gradient (Conv1d/2d/3d, ConvTranspose1d/2d/3d,
    Linear, Sequential, Concat) declare ``backward(grad_output, *,
    need_input_grad=True)``; a user module whose backward has that keyword joins in,
    one whose backward takes only ``grad_output`` (a subclass of Conv2d that overrides
    it, say) is called as before.
    """
    bwd = module.backward
    func = getattr(bwd, "__func__", bwd)
    try:
        return _takes_flag[func]
    except (KeyError, TypeError):   # not seen yet, or not weakly referable
        pass
    try:
        param = inspect.signature(func).parameters.get("need_input_grad")
    except (TypeError, ValueError):  # no signature to read (a builtin, say)
        param = None
    takes = param is not None and param.kind in (param.KEYWORD_ONLY,
                                                 param.POSITIONAL_OR_KEYWORD)
    try:
        _takes_flag[func] = takes
    except TypeError:
        pass
    return takes


def backward_without_input_grad(module, grad_output):
    """``module.backward(grad_output)`` when the gradient it returns is not wanted:
    with ``need_input_grad=False`` where the module's backward takes it. Returns None.
    """
    if accepts_need_input_grad(module):
        module.backward(grad_output, need_input_grad=False)
    else:
        module.backward(grad_output)


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse.

    ``Sequential(a, b, c)`` names its children ``"0"``, ``"1"``, ``"2"`` (so state_dict
    keys are ``"0.weight"``, ... as in PyTorch); ``Sequential(OrderedDict(...))``
    uses the given names.

    A training step on the explicit path::

        loss = criterion(model(x), y)
        model.backward(criterion.backward(), need_input_grad=False)
        optimizer.step()

    ``need_input_grad=False`` is what PyTorch does for an input that does not require
    grad: the first layer skips the gradient with respect to the data.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def backward(self, grad_output, *, need_input_grad=True):
        """Backpropagate ``grad_output`` through the modules in reverse order.

        Each module adds its parameters' gradients into their ``.grad``.

        Parameters
        ----------
        grad_output : ndarray
            Gradient of the loss with respect to this Sequential's output.
        need_input_grad : bool, keyword-only, default True
            False when the gradient with respect to the input is not wanted (the input
            is data, as in a training step; PyTorch skips it for an input that does not
            require grad). The first module then skips computing it if its backward
            takes ``need_input_grad`` too (Conv1d/2d/3d, ConvTranspose1d/2d/3d, Linear,
            Sequential, Concat, or a user module whose backward declares the keyword);
            any other first module computes it as before and it is dropped. Parameter
            gradients are the same either way, bit for bit.

        Returns
        -------
        grad_input : ndarray or None
            Gradient with respect to the input; None when ``need_input_grad`` is False.
        """
        modules = list(self._modules.values())
        if need_input_grad:
            for m in reversed(modules):
                grad_output = m.backward(grad_output)
            return grad_output
        if not modules:
            return None
        for m in reversed(modules[1:]):
            grad_output = m.backward(grad_output)
        return backward_without_input_grad(modules[0], grad_output)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(items[idx]))
        try:
            return items[idx][1]
        except (IndexError, TypeError):
            raise IndexError(f"index {idx} is out of range for a Sequential of "
                             f"{len(items)} modules") from None


class ModuleList(Module):
    """A list of modules, registered so their parameters are found (no forward)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        return list(self._modules.values())[idx]


class Concat(Module):
    """Parallel branches on the same input, outputs concatenated along ``dim``.

    The container of an Inception block: ``Concat(b1x1, b3x3, b5x5, pool)`` returns
    ``concatenate([b(x) for b in branches], axis=dim)``; backward splits the gradient
    along ``dim`` and sums the branches' input gradients. Children are named ``"0"``,
    ``"1"``, ... like :class:`Sequential`'s.

    Parameters
    ----------
    *modules : Module
        The branches; each must map the input to arrays that agree in every dimension
        but ``dim``.
    dim : int
        Concatenation axis (default 1: channels of (N, C, ...) outputs).

    Shapes: input any; output (..., sum of the branches' sizes along dim, ...).
    """

    def __init__(self, *modules, dim=1):
        super().__init__()
        if not modules:
            raise ValueError("Concat needs at least one branch")
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"dim must be an int, got {type(dim).__name__}")
        self.dim = int(dim)
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"branch {i} must be a pydl.nn.Module, got {type(m).__name__}")
            self.add_module(str(i), m)

    def forward(self, x):
        outs = [m(x) for m in self._modules.values()]
        if any(isinstance(o, Tensor) for o in outs):
            # A branch without an explicit backward ran on the tape: join there too.
            return concatenate(outs, axis=self.dim)
        ndim = outs[0].ndim
        if not -ndim <= self.dim < ndim:
            raise ValueError(f"dim {self.dim} is out of range for branch outputs of "
                             f"{ndim} dimensions")
        axis = self.dim % ndim
        for i, o in enumerate(outs):
            if o.ndim != ndim or o.shape[:axis] + o.shape[axis + 1:] != \
                    outs[0].shape[:axis] + outs[0].shape[axis + 1:]:
                raise ValueError(f"branch {i} output has shape {o.shape}, which does not match "
                                 f"branch 0's {outs[0].shape} outside dim {self.dim}")
            if o.dtype != outs[0].dtype:
                raise TypeError(f"branch {i} output has dtype {o.dtype}, branch 0's "
                                f"{outs[0].dtype}")
        self.save_for_backward(sizes=np.array([o.shape[axis] for o in outs]))
        return np.concatenate(outs, axis=axis)

    def backward(self, grad_output, *, need_input_grad=True):
        """Gradients of the branches; returns the sum of their input gradients, or
        None with ``need_input_grad=False`` (then each branch that can skips its input
        gradient, see :meth:`Sequential.backward`)."""
        sizes = self.saved()["sizes"]
        axis = self.dim % grad_output.ndim
        if grad_output.shape[axis] != sizes.sum():
            raise ValueError(f"grad_output has size {grad_output.shape[axis]} along dim "
                             f"{self.dim}, the output had {int(sizes.sum())}")
        pieces = np.split(grad_output, np.cumsum(sizes)[:-1], axis=axis)
        if not need_input_grad:
            for m, g in zip(self._modules.values(), pieces):
                backward_without_input_grad(m, np.ascontiguousarray(g))
            return None
        grad_input = None
        for m, g in zip(self._modules.values(), pieces):
            gi = m.backward(np.ascontiguousarray(g))
            grad_input = gi if grad_input is None else grad_input + gi
        return grad_input

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def extra_repr(self):
        return f"dim={self.dim}"
