"""Averages over time: ``ExponentialMovingAverage`` (of any values, with bias
correction), and weight averaging of models (Polyak/SWA, EMA) as
``torch.optim.swa_utils`` (also importable from :mod:`pydl.optim.swa_utils`):
``AveragedModel``, the averaging functions and ``update_bn``."""

import copy
import numbers

import numpy as np

from ._grad_mode import no_grad
from .nn.batchnorm import _BatchNorm
from .nn.module import Module

__all__ = ["AveragedModel", "ExponentialMovingAverage", "get_ema_avg_fn",
           "get_ema_multi_avg_fn", "get_swa_avg_fn", "get_swa_multi_avg_fn", "update_bn"]


def check_decay(decay):
    """``decay`` as a float in [0, 1), or a ValueError naming it."""
    if isinstance(decay, bool) or not isinstance(decay, numbers.Real) \
            or not 0.0 <= decay < 1.0:
        raise ValueError(f"decay must be a number in [0, 1), got {decay!r}")
    return float(decay)


class ExponentialMovingAverage:
    """An exponentially weighted average of a sequence of numbers or arrays, with bias
    correction (as Adam's moments).

    ``v_t = decay * v_(t-1) + (1 - decay) * x_t`` from ``v_0 = 0``; :attr:`value` is
    ``v_t / (1 - decay**t)`` with ``bias_correction`` (the default: an unbiased weighting
    from the first step, ``value == x_1`` after one update), else ``v_t`` itself (biased
    towards 0 for the first ~``1 / (1 - decay)`` steps). It averages roughly the last
    ``1 / (1 - decay)`` values.

    Parameters
    ----------
    decay : float in [0, 1)
        ``beta`` of the notes (0.9: about 10 values).
    bias_correction : bool

    Attributes
    ----------
    count : int
        Updates so far (``t``).
    value : float or ndarray or None
        The (corrected) average; None before the first update.

    Examples
    --------
    >>> ema = ExponentialMovingAverage(0.9)
    >>> ema.update(10.0), ema.update(20.0)   # (0.1*10)/0.1, (0.09*10 + 0.1*20)/0.19
    (10.0, 15.263157894736842)
    """

    def __init__(self, decay=0.9, bias_correction=True):
        self.decay = check_decay(decay)
        self.bias_correction = bool(bias_correction)
        self.reset()

    def reset(self):
        """Forget every value (``count`` 0, ``value`` None)."""
        self.count = 0
        self._v = None

    def update(self, x):
        """Fold in one value (a number or an array of a fixed shape); return the new
        :attr:`value`."""
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"x must be a real number or array, got {arr.dtype}")
        if self._v is not None and arr.shape != np.shape(self._v):
            raise ValueError(f"x must have the shape of the earlier values "
                             f"{np.shape(self._v)}, got {arr.shape}")
        term = (1.0 - self.decay) * (arr if arr.dtype.kind == "f" else arr.astype(float))
        self._v = term if self._v is None else self.decay * self._v + term
        self.count += 1
        return self.value

    @property
    def value(self):
        if self._v is None:
            return None
        v = self._v / (1.0 - self.decay ** self.count) if self.bias_correction else self._v
        return float(v) if np.ndim(v) == 0 else v

    def state_dict(self):
        return {"decay": self.decay, "bias_correction": self.bias_correction,
                "count": self.count, "v": None if self._v is None else np.array(self._v)}

    def load_state_dict(self, state):
        self.decay = check_decay(state["decay"])
        self.bias_correction = bool(state["bias_correction"])
        self.count = int(state["count"])
        self._v = None if state["v"] is None else np.array(state["v"])

    def __repr__(self):
        return (f"ExponentialMovingAverage(decay={self.decay}, "
                f"bias_correction={self.bias_correction}, count={self.count})")


def lerp_(start, end, weight):
    """``start += weight * (end - start)`` in place, rounded as ``torch.lerp`` (from the
    nearer end: ``end - (1 - weight) * (end - start)`` for weights >= 0.5)."""
    diff = np.subtract(end, start, dtype=start.dtype)
    if weight < 0.5:
        start += start.dtype.type(weight) * diff
    else:
        np.subtract(end, start.dtype.type(1.0 - weight) * diff, out=start)
    return start


def get_ema_avg_fn(decay=0.999):
    """``avg_fn`` of an exponential moving average: ``decay * avg + (1 - decay) * p``."""
    decay = check_decay(decay)

    def ema_update(ema_param, current_param, num_averaged):
        return decay * ema_param + (1 - decay) * current_param
    return ema_update


def get_swa_avg_fn():
    """``avg_fn`` of the running (Polyak) mean: ``avg + (p - avg) / (n + 1)``."""
    def swa_update(averaged_param, current_param, num_averaged):
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)
    return swa_update


def get_ema_multi_avg_fn(decay=0.999, bias_correction=False):
    """``multi_avg_fn`` of an exponential moving average, updating lists of arrays in place.

    Without bias correction (PyTorch's) each update is ``avg = lerp(avg, p, 1 - decay)``
    after the first, which copies. With ``bias_correction`` the average is the notes'
    ``v_t / (1 - decay**t)`` of ``v_t = decay * v_(t-1) + (1 - decay) * p_t``, ``v_0 = 0``,
    computed as the equal recurrence ``avg_t = lerp(avg_(t-1), p_t, (1 - decay) /
    (1 - decay**t))`` (the first update copies here too).
    """
    decay = check_decay(decay)
    bias_correction = bool(bias_correction)

    def ema_update(ema_param_list, current_param_list, num_averaged):
        weight = 1.0 - decay
        if bias_correction:
            weight /= 1.0 - decay ** (int(num_averaged) + 1)
        for avg, cur in zip(ema_param_list, current_param_list):
            lerp_(avg, cur, weight)
    return ema_update


def get_swa_multi_avg_fn():
    """``multi_avg_fn`` of the running mean: ``avg = lerp(avg, p, 1 / (n + 1))``."""
    def swa_update(averaged_param_list, current_param_list, num_averaged):
        weight = 1.0 / (int(num_averaged) + 1)
        for avg, cur in zip(averaged_param_list, current_param_list):
            lerp_(avg, cur, weight)
    return swa_update


def averaged_arrays(model, use_buffers):
    """The arrays a weight average follows: the parameters, then (``use_buffers``) the
    floating-point buffers (running statistics, not counters)."""
    arrays = [p.data for p in model.parameters()]
    if use_buffers:
        arrays += [b for b in model.buffers() if b.dtype.kind == "f"]
    return arrays


class AveragedModel(Module):
    """A running average of a model's weights (``torch.optim.swa_utils.AveragedModel``).

    Holds a deep copy of ``model`` (``self.module``); each :meth:`update_parameters`
    folds the model's current weights into the average. The default is the equal-weight
    (Polyak/SWA) mean of every update; ``multi_avg_fn=get_ema_multi_avg_fn(decay)`` (or
    ``avg_fn=get_ema_avg_fn(decay)``) gives an exponential moving average. Calling the
    averaged model runs ``self.module``.

    Parameters
    ----------
    model : pydl.nn.Module
    avg_fn : callable, optional
        ``avg_fn(averaged, current, num_averaged) -> new averaged array``, per array.
    multi_avg_fn : callable, optional
        ``multi_avg_fn(averaged_list, current_list, num_averaged)``, updating the
        averaged arrays in place (used when both are given, as PyTorch).
    use_buffers : bool
        Average the floating-point buffers too (batch norm running statistics);
        otherwise the buffers are copied from ``model`` at each update (then run
        :func:`update_bn` after training to recompute them for the averaged weights).
        Integer buffers (``num_batches_tracked``) are always copied.

    Attributes
    ----------
    module : pydl.nn.Module
    n_averaged : ndarray, int64, 0-d
        Updates so far (a buffer: in the state_dict as PyTorch's).

    Notes
    -----
    The first update copies the model's weights; ``num_averaged`` passed to the
    averaging functions is the number of updates before the current one.
    """

    def __init__(self, model, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if not isinstance(model, Module):
            raise TypeError(f"model must be a pydl.nn.Module, got {type(model).__name__}")
        for name, fn in (("avg_fn", avg_fn), ("multi_avg_fn", multi_avg_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
        self.module = copy.deepcopy(model)
        self.module.clear_saved()       # not the model's last forward cache
        self.register_buffer("n_averaged", np.array(0, np.int64))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = bool(use_buffers)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def backward(self, grad_output):
        return self.module.backward(grad_output)

    def update_parameters(self, model):
        """Fold ``model``'s current weights (the model being trained) into the average."""
        if not isinstance(model, Module):
            raise TypeError(f"model must be a pydl.nn.Module, got {type(model).__name__}")
        averaged = averaged_arrays(self.module, self.use_buffers)
        current = averaged_arrays(model, self.use_buffers)
        if len(averaged) != len(current) or any(a.shape != c.shape
                                                for a, c in zip(averaged, current)):
            raise ValueError("model must have the parameters (and buffers) of the averaged "
                             "model: same number and shapes")
        n = int(self.n_averaged)
        if n == 0:
            for a, c in zip(averaged, current):
                np.copyto(a, c, casting="same_kind")
        elif self.multi_avg_fn is not None or self.avg_fn is None:
            fn = self.multi_avg_fn or get_swa_multi_avg_fn()
            fn(averaged, [np.asarray(c, a.dtype) for a, c in zip(averaged, current)], n)
        else:
            for a, c in zip(averaged, current):
                np.copyto(a, self.avg_fn(a, np.asarray(c, a.dtype), n), casting="same_kind")
        # buffers not averaged are the model's: all without use_buffers, else counters
        for b_avg, b_model in zip(self.module.buffers(), model.buffers()):
            if not self.use_buffers or b_avg.dtype.kind != "f":
                np.copyto(b_avg, b_model, casting="same_kind")
        self.n_averaged = np.array(n + 1, np.int64)


def update_bn(loader, model):
    """Recompute the batch norm running statistics of ``model`` in one pass over
    ``loader`` (``torch.optim.swa_utils.update_bn``): the statistics are reset, then
    averaged equally over the batches (momentum None), with gradients off.

    ``loader`` yields input batches, or tuples/lists whose first item is the input
    (``(x, y)`` pairs, a :class:`pydl.data.DataLoader`). A model without batch norm is
    left unchanged. The model's training mode is restored.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a pydl.nn.Module, got {type(model).__name__}")
    momenta = {}
    for m in model.modules():
        if isinstance(m, _BatchNorm) and m.track_running_stats:
            m.reset_running_stats()
            momenta[m] = m.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    try:
        for m in momenta:
            m.momentum = None
        with no_grad():
            for batch in loader:
                if isinstance(batch, (list, tuple)):
                    batch = batch[0]
                model(batch)
    finally:
        for m, momentum in momenta.items():
            m.momentum = momentum
        model.train(was_training)
