"""Weight penalties attached to a layer's parameters (Keras ``kernel_regularizer`` style).

A regularizer maps a weight array to a penalty added to the loss. Attach one to a
parameter of a module by the parameter's name::

    from pydl.regularizers import L2, apply
    apply(model.fc1, weight=L2(1e-4))           # or apply(model[0], weight=..., bias=...)

This stores ``{"weight": L2(1e-4)}`` in ``model.fc1.regularizers`` (a plain dict you
may also set by hand). :func:`pydl.fit` then adds :func:`penalty` to the reported loss
and :func:`add_gradients` to each parameter's ``.grad`` before the optimizer step (and
before gradient clipping); :func:`pydl.evaluate` adds the penalty to the loss it reports,
as Keras does, and reports the data loss without it (``data_loss``) and the penalty
(``penalty``) beside it (fit's validation logs: ``val_data_loss``, ``val_penalty``).
With a hand-written loop, do the same::

    loss = criterion(model(x), y) + regularizers.penalty(model)
    model.backward(criterion.backward())
    regularizers.add_gradients(model)
    optimizer.step()

Penalties follow Keras: ``L2(l2)`` is ``l2 * sum(w**2)`` (gradient ``2 * l2 * w``;
``weight_decay=wd`` in SGD equals ``L2(wd / 2)``) and ``L1(l1)`` is
``l1 * sum(|w|)`` (gradient ``l1 * sign(w)``). A frozen parameter
(``requires_grad=False``) adds its penalty to the loss but gets no gradient.
"""

import math
import numbers

import numpy as np

from .nn.module import Module

__all__ = ["Regularizer", "L1", "L2", "L1L2", "apply", "regularized_parameters",
           "penalty", "add_gradients"]


def _factor(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


class Regularizer:
    """Base class: ``penalty = reg(w)`` and ``reg.gradient(w)`` (d penalty / d w)."""

    def __call__(self, w):
        raise NotImplementedError

    def gradient(self, w):
        raise NotImplementedError

    def get_config(self):
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)``; Keras's defaults (both 0)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(l1, "l1")
        self.l2 = _factor(l2, "l2")

    def __call__(self, w):
        w = np.asarray(w, dtype=np.float64)
        total = 0.0
        if self.l1:
            total += self.l1 * float(np.sum(np.abs(w)))
        if self.l2:
            total += self.l2 * float(np.sum(w * w))
        return total

    def gradient(self, w):
        w = np.asarray(w)
        g = np.zeros_like(w)
        if self.l1:
            g += w.dtype.type(self.l1) * np.sign(w)
        if self.l2:
            g += w.dtype.type(2 * self.l2) * w
        return g

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|w|)`` (Keras default ``l1=0.01``); pushes weights to exactly zero."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(w**2)`` (Keras default ``l2=0.01``): weight decay through the loss."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def apply(module, **regularizers):
    """Attach regularizers to ``module``'s own parameters by name; returns ``module``.

    ``apply(layer, weight=L2(1e-4), bias=None)``: None removes a regularizer.

    Raises
    ------
    ValueError
        If ``module`` has no parameter of that name.
    """
    if not isinstance(module, Module):
        raise TypeError(f"module must be a pydl.nn.Module, got {type(module).__name__}")
    current = dict(getattr(module, "regularizers", None) or {})
    own = {name for name, p in module._parameters.items() if p is not None}
    for name, reg in regularizers.items():
        if name not in own:
            raise ValueError(f"{type(module).__name__} has no parameter {name!r} "
                             f"(it has {sorted(own)})")
        if reg is None:
            current.pop(name, None)
        elif not isinstance(reg, Regularizer):
            raise TypeError(f"regularizer for {name!r} must be a pydl.regularizers."
                            f"Regularizer (e.g. L2(1e-4)), got {type(reg).__name__}")
        else:
            current[name] = reg
    object.__setattr__(module, "regularizers", current)
    return module


def regularized_parameters(model):
    """``[(dotted_name, Parameter, Regularizer), ...]`` over ``model`` and its children."""
    if not isinstance(model, Module):
        raise TypeError(f"model must be a pydl.nn.Module, got {type(model).__name__}")
    found = []
    for prefix, module in model.named_modules():
        regs = module.__dict__.get("regularizers")
        if not regs:
            continue
        for name, reg in regs.items():
            param = module._parameters.get(name)
            if param is None:
                raise ValueError(f"{prefix or type(module).__name__}: regularizer attached to "
                                 f"{name!r}, which is not a parameter of the module")
            found.append((f"{prefix}.{name}" if prefix else name, param, reg))
    return found


def penalty(model):
    """The total penalty of every regularized parameter in ``model`` (a float)."""
    return total_penalty(regularized_parameters(model))


def add_gradients(model):
    """Add each penalty's gradient to its parameter's ``.grad`` (creating it if None)."""
    accumulate_gradients(regularized_parameters(model))


def total_penalty(entries):
    """:func:`penalty` over a list from :func:`regularized_parameters` (the training
    loop finds the entries once, not every step)."""
    return float(sum(reg(p.data) for _, p, reg in entries))


def accumulate_gradients(entries):
    """:func:`add_gradients` over a list from :func:`regularized_parameters`."""
    for _, p, reg in entries:
        if p.requires_grad:
            g = reg.gradient(p.data)
            if p.grad is None:
                p.grad = g
            else:
                p.grad += g
