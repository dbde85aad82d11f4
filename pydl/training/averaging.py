"""The ``EMA`` callback: an exponential moving average of the weights during ``fit``."""

import warnings

import numpy as np

from ..averaging import averaged_arrays, check_decay, get_ema_multi_avg_fn
from .callbacks import Callback

__all__ = ["EMA"]


class EMA(Callback):
    """Keep an exponential moving average of the model's weights while :func:`pydl.fit`
    trains, and use it for validation and as the final weights (Polyak averaging).

    After every training batch the average follows ``v_t = decay * v_(t-1) + (1 - decay)
    * w_t``; with ``bias_correction`` (the default) the averaged weights are
    ``v_t / (1 - decay**t)`` from ``v_0 = 0`` (so the first average is the first weights,
    not a fraction of them), else PyTorch's and Keras's form: the first update copies
    the weights, each later one is ``avg = decay * avg + (1 - decay) * w``.

    Parameters
    ----------
    decay : float in [0, 1)
        Averages roughly the last ``1 / (1 - decay)`` steps.
    bias_correction : bool
    use_buffers : bool
        Average the floating-point buffers (batch norm running statistics) too;
        otherwise they stay the model's own.
    swap_on_epoch : bool
        After the last batch of each epoch, swap the averaged weights into the model,
        so fit's validation (the ``val_*`` logs) and the epoch-end callbacks after this
        one (``ModelCheckpoint``, ``EarlyStopping``) see the averaged model; the training
        weights come back at the next epoch's start. Needs a known number of steps per
        epoch (arrays, a ``DataLoader``, or ``steps_per_epoch``); without it a warning
        is given and validation uses the training weights.
    apply_at_end : bool
        When training ends, leave the averaged weights in the model (True) or the
        training weights (False).

    Attributes
    ----------
    n_averaged : int
        Updates so far (``t``).

    Notes
    -----
    The swaps copy values in place, so optimizers keep their references to the
    parameters. A resumed ``fit`` (``initial_epoch``) starts a new average.
    """

    def __init__(self, decay=0.999, bias_correction=True, use_buffers=False,
                 swap_on_epoch=True, apply_at_end=True):
        self.decay = check_decay(decay)
        self.bias_correction = bool(bias_correction)
        self.use_buffers = bool(use_buffers)
        self.swap_on_epoch = bool(swap_on_epoch)
        self.apply_at_end = bool(apply_at_end)
        self._update = get_ema_multi_avg_fn(self.decay, self.bias_correction)
        self._store = None      # the averaged weights, or the training ones while swapped
        self._swapped = False
        self.n_averaged = 0

    def _arrays(self):
        return averaged_arrays(self.model, self.use_buffers)

    def on_train_begin(self, logs=None):
        self._store = [a.copy() for a in self._arrays()]
        self._swapped = False
        self.n_averaged = 0
        steps = (self.params or {}).get("steps")
        if self.swap_on_epoch and steps is None:
            warnings.warn("EMA: the number of steps per epoch is unknown, so validation "
                          "uses the training weights; pass steps_per_epoch to validate the "
                          "averaged ones", stacklevel=2)

    def on_train_batch_end(self, batch, logs=None):
        if self._swapped:           # a batch after a swap without an epoch start
            self._swap()
        current = self._arrays()
        if self.n_averaged == 0:
            for avg, cur in zip(self._store, current):
                np.copyto(avg, cur)
        else:
            self._update(self._store, current, self.n_averaged)
        self.n_averaged += 1
        steps = (self.params or {}).get("steps")
        if self.swap_on_epoch and steps is not None and batch == steps - 1:
            self._swap()

    def on_epoch_begin(self, epoch, logs=None):
        if self._swapped:
            self._swap()

    def on_train_end(self, logs=None):
        if self.n_averaged and self._swapped != self.apply_at_end:
            self._swap()

    def _swap(self):
        """Exchange the model's weights with the stored ones, in place."""
        for stored, live in zip(self._store, self._arrays()):
            held = live.copy()
            np.copyto(live, stored)
            np.copyto(stored, held)
        self._swapped = not self._swapped

    @property
    def averaged_weights(self):
        """Copies of the averaged arrays (parameters, then averaged buffers, in the
        model's order); None before training."""
        if self._store is None:
            return None
        source = self._arrays() if self._swapped else self._store
        return [a.copy() for a in source]
