"""Module: the base class of every layer, loss and model."""

import contextlib
import threading
from collections import OrderedDict, namedtuple

import numpy as np

from .._grad_mode import _local as _grad_local
from ..autograd.module_call import call_module, call_on_one_tensor, has_tensor
from ..autograd.tensor import Tensor
from .parameter import Parameter

__all__ = ["Module", "IncompatibleKeys", "eval_in_this_thread"]

class _ModeLocal(threading.local):
    eval_depth = 0      # a class default: no AttributeError on every read


_mode_local = _ModeLocal()

# Bumped whenever any module gains, loses or replaces a parameter or submodule: the
# per-instance caches of the tape (subtree, parameters, explicit-ness) check it.
_structure_version = [0]


@contextlib.contextmanager
def eval_in_this_thread():
    """Every module reads as ``training=False`` in the calling thread, for the block.

    Inference (``pydl.predict``, ``pydl.evaluate``) runs in evaluation mode without
    writing the shared ``training`` flags, so other threads using the same model, at
    the same time, see the mode they set.
    """
    depth = _mode_local.eval_depth
    _mode_local.eval_depth = depth + 1
    try:
        yield
    finally:
        _mode_local.eval_depth = depth

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])

_DTYPES = {np.dtype(np.float32), np.dtype(np.float64)}
_ndarray = np.ndarray


def _to_numpy(value, key):
    """A state_dict value as an ndarray; PyTorch tensors are accepted too."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"state_dict[{key!r}] is not an array: {exc}") from None


class Module:
    """Base class for layers and models, after ``torch.nn.Module``.

    Subclasses assign :class:`Parameter` and ``Module`` attributes in ``__init__``
    (they are registered automatically) and implement:

    ``forward(*inputs)``
        Compute the output. When :func:`pydl.is_grad_enabled` (the default), keep what
        ``backward`` needs with :meth:`save_for_backward`.
    ``backward(grad_output)``
        Given the gradient of the loss with respect to the output of the most recent
        ``forward``, add parameter gradients into each ``Parameter.grad`` and return
        the gradient with respect to the input.

    Calling the module (``module(x)``) runs ``forward``. Called with
    :class:`pydl.Tensor` inputs, the call is recorded on the autograd tape, and a
    subclass may then define ``forward`` alone, written with tensor ops and other
    modules.
    """

    _explicit_backward = False
    _hybrid = False
    _tape_cache = None      # class default: read by __call__ before __init__ ran

    def __init__(self):
        object.__setattr__(self, "_training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_saved", None)
        object.__setattr__(self, "_calls", 0)
        object.__setattr__(self, "_tape_cache", None)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A class has an explicit backward when some class below Module defines one.
        fwd = next(k for k in cls.__mro__ if "forward" in k.__dict__)
        bwd = next(k for k in cls.__mro__ if "backward" in k.__dict__)
        cls._explicit_backward = bwd is not Module
        # A forward overridden below the backward it inherits (a subclass that sets
        # some state, then calls super().forward) still pairs with that backward on
        # arrays; if it returns a tensor it was written with tensor ops, which that
        # backward knows nothing of, and the call is refused (``_check_hybrid``).
        # pydl's losses, whose forwards all end in the base class's ``_finish``, say
        # so with ``_generic_backward``.
        cls._hybrid = cls._explicit_backward and not issubclass(bwd, fwd) and not (
            bwd.__dict__.get("_generic_backward", False) and fwd.__module__.startswith("pydl."))

    # ------------------------------------------------------------ registration
    def _stores(self):
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"cannot assign parameters, buffers or submodules before "
                                 f"{type(self).__name__}.__init__() calls super().__init__()")
        return d["_parameters"], d["_buffers"], d["_modules"]

    def __setattr__(self, name, value):
        if isinstance(value, (Parameter, Module)) or name in self.__dict__.get("_modules", ()) \
                or name in self.__dict__.get("_parameters", ()):
            _structure_version[0] += 1
        if isinstance(value, Parameter):
            params, buffers, modules = self._stores()
            self._forget(name)
            params[name] = value
        elif isinstance(value, Module):
            params, buffers, modules = self._stores()
            self._forget(name)
            modules[name] = value
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter "
                                f"{name!r} (a pydl.nn.Parameter or None is expected)")
            self._parameters[name] = None
        elif "_modules" in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as submodule "
                                f"{name!r} (a pydl.nn.Module or None is expected)")
            self._modules[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            if value is not None and not isinstance(value, np.ndarray):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} "
                                f"(an ndarray or None is expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name):
        _structure_version[0] += 1
        for store in ("_parameters", "_buffers", "_modules"):
            self.__dict__[store].pop(name, None)
        self.__dict__.pop(name, None)
        self._non_persistent.discard(name)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        if any(name in self.__dict__.get(s, ()) for s in ("_parameters", "_buffers", "_modules")):
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Add a parameter (or None, e.g. a disabled bias) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"parameter {name!r} must be a pydl.nn.Parameter or None, "
                            f"got {type(param).__name__}")
        params, _, _ = self._stores()
        self._forget(name)
        params[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Add state that is not trained (e.g. running statistics) under ``name``.

        Persistent buffers are part of :meth:`state_dict`.
        """
        if tensor is not None and not isinstance(tensor, np.ndarray):
            raise TypeError(f"buffer {name!r} must be an ndarray or None, "
                            f"got {type(tensor).__name__}")
        _, buffers, _ = self._stores()
        self._forget(name)
        buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        """Add a child module under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a pydl.nn.Module")
        _, _, modules = self._stores()
        self._forget(name)
        modules[name] = module

    # --------------------------------------------------------------- traversal
    def named_modules(self, memo=None, prefix=""):
        """Yield ``(name, module)`` for this module and all below it, each once."""
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def named_parameters(self, prefix="", recurse=True):
        """Yield ``(dotted_name, Parameter)``; a parameter shared by two modules once."""
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, module in modules:
            for name, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), p

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, module in modules:
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{mod_prefix}.{name}" if mod_prefix else name), b

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call ``fn(module)`` on every submodule and then on this one; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------- state
    def _state_entries(self, prefix=""):
        """(key, owner module, attribute name, kind) for every state_dict entry."""
        for name, p in self._parameters.items():
            if p is not None:
                yield prefix + name, self, name, "parameter"
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                yield prefix + name, self, name, "buffer"
        for name, child in self._modules.items():
            if child is not None:
                yield from child._state_entries(f"{prefix}{name}.")

    def state_dict(self):
        """Parameters and persistent buffers by dotted name, as copies.

        Keys follow PyTorch (``"0.weight"``, ``"layer1.0.bn1.running_mean"``), so a
        state_dict saved by PyTorch loads with :meth:`load_state_dict`.
        """
        out = OrderedDict()
        for key, owner, name, kind in self._state_entries():
            value = owner._parameters[name].data if kind == "parameter" else owner._buffers[name]
            out[key] = value.copy()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from ``state_dict`` into this module's parameters and buffers.

        Values may be ndarrays or PyTorch tensors; they are cast to each parameter's
        dtype. With ``strict`` every key must match; in any case a shape mismatch is an
        error and nothing is changed when any error is found.

        Returns
        -------
        IncompatibleKeys
            ``(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
        entries = {key: (owner, name, kind) for key, owner, name, kind in self._state_entries()}
        missing = [k for k in entries if k not in state_dict]
        unexpected = [k for k in state_dict.keys() if k not in entries]
        errors = []
        updates = []
        for key, (owner, name, kind) in entries.items():
            if key not in state_dict:
                continue
            value = _to_numpy(state_dict[key], key)
            target = owner._parameters[name].data if kind == "parameter" else owner._buffers[name]
            if value.shape != target.shape:
                errors.append(f"size mismatch for {key}: the checkpoint has shape "
                              f"{value.shape}, this module has {target.shape}")
                continue
            if value.dtype.kind not in "fiub" or (target.dtype.kind in "iub" and
                                                   value.dtype.kind == "f"):
                errors.append(f"dtype mismatch for {key}: cannot load {value.dtype} into "
                              f"{target.dtype}")
                continue
            updates.append((target, value))
        if strict and missing:
            errors.append(f"missing keys: {missing}")
        if strict and unexpected:
            errors.append(f"unexpected keys: {unexpected}")
        if errors:
            raise ValueError(f"error(s) loading state_dict into {type(self).__name__}:\n  "
                             + "\n  ".join(errors))
        for target, value in updates:
            np.copyto(target, value, casting="unsafe")
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------- modes
    @property
    def training(self):
        """True in training mode (dropout active, batch norm on batch statistics).

        Reads False inside :func:`eval_in_this_thread` whatever the flag holds.
        """
        return self._training and not _mode_local.eval_depth

    @training.setter
    def training(self, mode):
        object.__setattr__(self, "_training", bool(mode))

    def train(self, mode=True):
        """Set training mode (dropout active, batch norm uses batch statistics)."""
        if not isinstance(mode, bool):
            raise TypeError(f"train mode must be a bool, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "_training", mode)
        return self

    def eval(self):
        """Set evaluation mode; same as ``train(False)``."""
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Clear every parameter's gradient (to None, or to zeros in place)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad[...] = 0

    def to(self, dtype):
        """Convert floating parameters and buffers to ``dtype`` (float32 or float64)."""
        dtype = np.dtype(dtype)
        if dtype not in _DTYPES:
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None and p.data.dtype != dtype:
                    p.data = p.data.astype(dtype)
                    p.grad = None
            for name, b in m._buffers.items():
                if b is not None and b.dtype.kind == "f" and b.dtype != dtype:
                    m._buffers[name] = b.astype(dtype)
            object.__setattr__(m, "_saved", None)
        return self

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    # ---------------------------------------------------------- forward/backward
    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__} does not implement backward()")

    def __call__(self, *args, **kwargs):
        # Arrays through a module with an explicit backward: the explicit path, as fast
        # as calling forward. Tensors, or a forward-only module: the tape.
        if not kwargs:
            # the common calls, layer(array), layer(tensor) and loss(tensor, array):
            # no argument walk, and the explicit-ness read straight from the cache
            # _tape_info keeps (valid while no module anywhere gained, lost or
            # replaced a parameter or submodule)
            cache = self._tape_cache
            if cache is not None and cache[0] == _structure_version[0] and cache[1]:
                n = len(args)
                if n == 1:
                    x = args[0]
                    tx = type(x)
                    if tx is _ndarray:
                        out = self.forward(x)
                        if type(self)._hybrid:
                            self._check_hybrid(out)
                        return out
                    if tx is Tensor:
                        return call_on_one_tensor(self, x, cache)
                elif n == 2 and type(args[0]) is Tensor and type(args[1]) is _ndarray:
                    return call_on_one_tensor(self, args[0], cache, args[1:])
        if has_tensor(args, kwargs) or not self._explicit():
            return call_module(self, args, kwargs)
        out = self.forward(*args, **kwargs)
        if type(self)._hybrid:
            self._check_hybrid(out)
        return out

    def _check_hybrid(self, out):
        """Refuse a tensor from a forward that an explicit backward is paired with."""
        if not has_tensor((out,), None):
            return
        if type(self)._hybrid:
            raise RuntimeError(
                f"{type(self).__name__} overrides forward() of a class with an explicit "
                f"backward(), and its forward returned a pydl.Tensor: that backward would "
                f"not include the tensor ops. Define backward() too, or hold the layer as "
                f"a submodule of a Module whose forward() uses it (then the tape "
                f"differentiates the whole forward)")
        raise RuntimeError(
            f"{type(self).__name__} defines backward(), but its forward() returned a "
            f"pydl.Tensor computed from arrays: the explicit backward cannot follow tensor "
            f"ops. Remove backward() to let the tape differentiate forward(), or compute "
            f"forward() on arrays")

    def save_for_backward(self, **values):
        """Keep ``values`` for the next :meth:`backward`.

        Under :func:`pydl.no_grad` nothing is written (inference leaves the module as
        it was). A second call before ``backward`` is counted, so that the explicit
        ``backward`` refuses to guess which call it is for.
        """
        if _grad_local.enabled:     # is_grad_enabled(), without the call
            d = self.__dict__
            d["_calls"] = d.get("_calls", 0) + 1
            d["_saved"] = values

    def saved(self):
        """What the last ``forward`` saved; a clear error if there is nothing, or if
        the module was called more than once since then."""
        d = self.__dict__
        saved = d.get("_saved")
        if saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward() needs a forward() first, "
                               f"run with gradients enabled (not under pydl.no_grad())")
        calls = d.get("_calls", 0)
        if calls > 1:
            raise RuntimeError(
                f"{type(self).__name__} was called {calls} times since its last backward, "
                f"and its explicit backward() only knows the last call; its gradient would "
                f"be wrong. For a module used more than once in one forward (shared or "
                f"tied weights, Siamese networks), use the tensor path: pass pydl.Tensor "
                f"inputs (pydl.tensor(x)) and call loss.backward(). (After forward calls "
                f"that backward will not go through, run them under pydl.no_grad() or "
                f"call model.clear_saved().)")
        d["_calls"] = 0
        return saved

    def clear_saved(self):
        """Forget what forward calls saved for the explicit ``backward``, in this module
        and all below it (after forward passes run for inspection)."""
        for m in self.modules():
            m._tape_unstash(m._tape_empty())

    # ------------------------------------------------------------ tape hooks
    def _tape_empty(self):
        return None, 0

    def _explicit(self):
        """Whether this module and all below it have an explicit backward."""
        return self._tape_info()[1]

    def _tape_info(self):
        """The tape's per-instance cache, refreshed if the structure changed:
        ``(structure version, explicit, members, parameters, plain)``.

        ``members`` is this module and every module below it (whose caches a recorded
        call moves into its node), ``parameters`` those of the subtree, and ``plain``
        whether every member keeps the base class's tape hooks (then the tape moves
        ``_saved`` and ``_calls`` itself, without calling the four hooks per member).
        """
        cache = self.__dict__.get("_tape_cache")
        if cache is None or cache[0] != _structure_version[0]:
            cache = self._refresh_tape_cache()
        return cache

    def _refresh_tape_cache(self):
        members = list(self.modules())
        explicit = all(type(m)._explicit_backward for m in members)
        params = list(self.parameters())
        plain = all(_default_tape_hooks(type(m)) for m in members)
        cache = (_structure_version[0], explicit, members, params, plain)
        object.__setattr__(self, "_tape_cache", cache)
        return cache

    def _tape_members(self):
        """This module and every module below it (whose caches a call fills)."""
        return self._tape_info()[2]

    def _tape_parameters(self):
        return self._tape_info()[3]

    # The explicit path's state of a module is ``(_saved, _calls)``. A recorded call
    # moves what its forward saved into the node and puts that state back; the node's
    # backward lends the cache back to the module. A module that keeps other state for
    # backward (the RNN cells' stack of steps) overrides the four hooks below; for the
    # others pydl.autograd.module_call does the same moves inline (``plain`` above).
    def _tape_stash(self):
        """The explicit path's state, before a recorded forward."""
        d = self.__dict__
        return d.get("_saved"), d.get("_calls", 0)

    def _tape_take(self, state):
        """Move the cache the recorded forward saved out of the module (into the
        node), and put the explicit path's state back."""
        d = self.__dict__
        cache = d.get("_saved")
        d["_saved"], d["_calls"] = state
        return cache

    def _tape_give(self, cache):
        """Lend a node's cache to the module for its backward; returns what to restore."""
        d = self.__dict__
        state = d.get("_saved"), d.get("_calls", 0)
        d["_saved"], d["_calls"] = cache, 1
        return state

    def _tape_unstash(self, state):
        d = self.__dict__
        d["_saved"], d["_calls"] = state

    # -------------------------------------------------------------------- repr
    def extra_repr(self):
        """Shown inside the module's repr, e.g. ``in_features=2, out_features=4``."""
        return ""

    def __repr__(self):
        lines = []
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"


_TAPE_HOOKS = ("_tape_stash", "_tape_take", "_tape_give", "_tape_unstash", "_tape_empty")


def _default_tape_hooks(cls):
    """Whether ``cls`` keeps Module's tape hooks (its state is ``_saved``, ``_calls``)."""
    return all(getattr(cls, name) is Module.__dict__[name] for name in _TAPE_HOOKS)
