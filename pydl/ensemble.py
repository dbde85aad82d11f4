"""Ensembles: average the predictions of several models or saved checkpoints.

``Ensemble(models)`` is a module whose output is the (weighted) mean of its members'
outputs, or of their probabilities (``activation="softmax"`` / ``"sigmoid"``);
``Ensemble.from_checkpoints(paths, build)`` loads each checkpoint into a model from
``build()``. :func:`predict` averages predictions over models or checkpoint files one
member at a time, so a checkpoint ensemble needs one model in memory, not all.
"""

import copy
import math
import numbers
import os

import numpy as np

from . import functional as F
from . import nn
from .autograd.tensor import Tensor
from .serialization import load

__all__ = ["Ensemble", "predict"]

ACTIVATIONS = (None, "softmax", "sigmoid")


def _check_activation(activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    return activation


def _check_weights(weights, n):
    """Member weights normalised to sum 1 (equal when None)."""
    if weights is None:
        return [1.0 / n] * n
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__"):
        raise TypeError(f"weights must be a sequence of {n} numbers, "
                        f"got {type(weights).__name__}")
    if len(weights) != n:
        raise ValueError(f"weights must have one number per member ({n}), "
                         f"got {len(weights)}")
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w) \
                or w < 0:
            raise ValueError(f"weights[{i}] must be a finite number >= 0, got {w!r}")
    total = math.fsum(weights)
    if total <= 0:
        raise ValueError("weights must not all be 0")
    return [float(w) / total for w in weights]


def _is_path(item):
    return isinstance(item, (str, bytes, os.PathLike))


def _sequence(items, name, accepts, what):
    """``items`` as a non-empty list whose entries all pass ``accepts``; TypeError or
    ValueError naming ``name`` and ``what`` was expected."""
    if isinstance(items, nn.Module) or _is_path(items) or not hasattr(items, "__iter__"):
        raise TypeError(f"{name} must be a sequence of {what}, got {type(items).__name__}")
    items = list(items)
    if not items:
        raise ValueError(f"{name} must hold at least one of {what}")
    for i, item in enumerate(items):
        if not accepts(item):
            raise TypeError(f"{name}[{i}] must be one of {what}, got {type(item).__name__}")
    return items


def _apply(activation, out):
    """The activation of one member's (N, C) or (N, ...) output, on arrays or tensors."""
    if activation == "softmax":
        return F.softmax_forward(out, 1)
    if activation == "sigmoid":
        return F.sigmoid_forward(out)
    return out


class _WeightedSum:
    """``sum_i w_i * out_i`` of the members' outputs, added one at a time (so
    :func:`predict` holds one member's output at once), accumulated in float64 and
    returned in the first output's dtype. ``name(i)`` names member ``i`` in errors."""

    def __init__(self, name):
        self.name, self.acc, self.dtype = name, None, None

    def add(self, i, w, out):
        if not isinstance(out, np.ndarray):
            raise TypeError(f"{self.name(i)} returned {type(out).__name__}; one array is "
                            f"expected")
        if self.acc is None:
            self.acc, self.dtype = np.zeros(out.shape, np.float64), out.dtype
        elif out.shape != self.acc.shape:
            raise ValueError(f"{self.name(i)} returned shape {out.shape}, {self.name(0)} "
                             f"{self.acc.shape}; the outputs must agree")
        self.acc += np.float64(w) * out   # in float64 (a Python float rounds to out.dtype)

    def result(self):
        return self.acc.astype(self.dtype, copy=False)


def _weighted_sum(weights, outputs):
    """sum_i w_i * out_i of a list of outputs (see :class:`_WeightedSum`)."""
    total = _WeightedSum(lambda i: f"ensemble member {i}")
    for i, (w, out) in enumerate(zip(weights, outputs)):
        total.add(i, w, out)
    return total.result()


class Ensemble(nn.Module):
    """The weighted mean of several models' outputs (or probabilities).

    Parameters
    ----------
    models : sequence of pydl.nn.Module
        The members, each mapping the same input to outputs of one shape (they may
        differ in architecture).
    weights : sequence of float >= 0, optional
        One per member, normalised to sum to 1 (default: equal).
    activation : {None, "softmax", "sigmoid"}
        Applied to each member's output before averaging: None averages the raw
        outputs (logits, regression values); ``"softmax"`` (over axis 1) or
        ``"sigmoid"`` average the members' probabilities, the usual ensemble of
        classifiers; the output is then a probability.

    Attributes ``members`` (the list of models; children ``"0"``, ``"1"``, ...: state_dict
    keys ``0.weight``, ...) and ``weights``.

    Shapes: input as the members'; output the members' output shape, in their dtype
    (the sum is accumulated in float64). ``backward`` passes the weighted gradient to
    each member and returns the sum of their input gradients, so an ensemble can be
    trained end to end or differentiated with respect to its input.
    """

    def __init__(self, models, weights=None, activation=None):
        super().__init__()
        models = _sequence(models, "models", lambda m: isinstance(m, nn.Module),
                           "pydl.nn.Module")
        # children "0", "1", ... as Concat's (a ModuleList, having no backward, would
        # send every call through the tape)
        for i, m in enumerate(models):
            self.add_module(str(i), m)
        self.weights = _check_weights(weights, len(models))
        self.activation = _check_activation(activation)

    @classmethod
    def from_checkpoints(cls, paths, build, weights=None, activation=None):
        """An ensemble of checkpoints (:func:`pydl.save` files, or safetensors weights):
        each path is loaded into a new model from ``build()`` (strict
        ``load_state_dict``)."""
        if not callable(build):
            raise TypeError(f"build must be a callable returning a model, "
                            f"got {type(build).__name__}")
        paths = _sequence(paths, "paths", _is_path, "checkpoint paths")
        models = []
        for path in paths:
            model = build()
            if not isinstance(model, nn.Module):
                raise TypeError(f"build() must return a pydl.nn.Module, "
                                f"got {type(model).__name__}")
            load(path, model)
            models.append(model)
        return cls(models, weights=weights, activation=activation)

    @property
    def members(self):
        return list(self._modules.values())

    def forward(self, x):
        outs = [m(x) for m in self.members]
        if any(isinstance(o, Tensor) for o in outs):
            # a member without an explicit backward ran on the tape: combine there too
            total = None
            for w, out in zip(self.weights, outs):
                term = _apply(self.activation, out) * w
                total = term if total is None else total + term
            return total
        if self.activation is not None:
            outs = [_apply(self.activation, out) for out in outs]
            self.save_for_backward(probs=outs)
        return _weighted_sum(self.weights, outs)

    def backward(self, grad_output):
        grad_output = np.asarray(grad_output)
        probs = self.saved()["probs"] if self.activation is not None else None
        total = None
        for i, (w, m) in enumerate(zip(self.weights, self.members)):
            g = grad_output * grad_output.dtype.type(w)
            if self.activation == "softmax":
                g = F.softmax_backward(g, probs[i], 1)
            elif self.activation == "sigmoid":
                g = F.sigmoid_backward(g, probs[i])
            g = m.backward(g)
            total = g if total is None else total + g
        return total

    def extra_repr(self):
        return f"weights={self.weights}, activation={self.activation!r}"


def predict(models, x, *, model=None, weights=None, activation=None, batch_size=32,
            steps=None):
    """The averaged predictions of several models or checkpoints for ``x``.

    Each member predicts all of ``x`` in turn (:func:`pydl.predict`: batches, eval mode,
    no gradients), and the running weighted sum is kept, so only one member's weights
    are in memory at a time when the members are checkpoint files.

    Parameters
    ----------
    models : sequence of pydl.nn.Module or checkpoint paths (mixed is fine)
    x : as :func:`pydl.predict` (an array, a memory-mapped array, or an iterable of
        batches that can be iterated once per member, e.g. a ``DataLoader``)
    model : pydl.nn.Module, optional
        The architecture of the checkpoints: each path is loaded into one copy of it
        (``model`` itself is not modified). Required when ``models`` holds a path.
    weights : sequence of float >= 0, optional
        One per member, normalised (default: equal).
    activation : {None, "softmax", "sigmoid"}
        Average each member's probabilities rather than its raw outputs (see
        :class:`Ensemble`).
    batch_size, steps : as :func:`pydl.predict`

    Returns
    -------
    ndarray
        The members' output shape, in their dtype (summed in float64).
    """
    from .training.loop import predict as predict_one

    members = _sequence(models, "models", lambda m: isinstance(m, nn.Module) or _is_path(m),
                        "pydl.nn.Module or checkpoint paths")
    if any(_is_path(m) for m in members) and not isinstance(model, nn.Module):
        raise TypeError("model (a pydl.nn.Module of the checkpoints' architecture) is "
                        "required to load checkpoint paths"
                        + ("" if model is None else f", got {type(model).__name__}"))
    weights = _check_weights(weights, len(members))
    activation = _check_activation(activation)
    holder = None
    total = _WeightedSum(lambda i: f"models[{i}]")
    for i, (w, member) in enumerate(zip(weights, members)):
        if _is_path(member):
            if holder is None:
                holder = copy.deepcopy(model)
            load(member, holder)
            member = holder
        out = predict_one(member, x, batch_size=batch_size, steps=steps)
        if isinstance(out, np.ndarray):
            out = np.asarray(_apply(activation, out))
        total.add(i, w, out)
    return total.result()
