"""Callbacks for :func:`pydl.fit`, with Keras's names and semantics.

A callback's hooks receive the epoch (0-based) or the batch index within the epoch,
and a ``logs`` dict: per batch ``{"loss", "size"}`` (the batch's own loss, penalties
included); per epoch the epoch's mean ``loss``, the metrics, ``val_*`` and ``lr``.
Callbacks see the model (``self.model``), the optimizer, the scheduler and
``self.params`` (``epochs``, ``steps``, ``samples``, ``batch_size``, ``verbose``,
``metrics``: every epoch log key, ``generator``: the shuffling generator). Setting
``self.model.stop_training = True`` ends training after the current batch.
"""

import csv
import inspect
import math
import numbers
import os
import warnings

import numpy as np

from ..distributed.state import is_main_process

__all__ = ["Callback", "CallbackList", "EarlyStopping", "ModelCheckpoint",
           "LearningRateScheduler", "CSVLogger", "TerminateOnNaN"]


def _say(message):
    """A callback's ``verbose`` message: printed once, by rank 0 under data-parallel
    training (every rank runs the callbacks and takes the same decisions)."""
    if is_main_process():
        print(message)


class Callback:
    """Base class; override the hooks you need (each does nothing by default)."""

    model = None
    optimizer = None
    scheduler = None
    params = None

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def check_monitor(self, available):
        """Called before training with every epoch log key (``loss``, metrics, ``val_*``,
        ``lr``); raise ValueError for a name this callback cannot use."""

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass


class CallbackList:
    """Calls each hook on every callback, in order."""

    def __init__(self, callbacks, model, optimizer, scheduler, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
            cb.optimizer = optimizer
            cb.scheduler = scheduler

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args):
            for cb in self.callbacks:
                getattr(cb, hook)(*args)
        return call


def _check_callbacks(callbacks):
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be pydl.callbacks.Callback instances, "
                            f"got {type(cb).__name__}")
    return callbacks


# Monitored values where larger is better, for mode="auto".
_HIGHER_IS_BETTER = ("acc", "accuracy", "auc", "precision", "recall", "f1")


class _Monitor(Callback):
    """Shared by callbacks that watch one logged value."""

    def __init__(self, monitor, mode, min_delta=0.0):
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a str, got {type(monitor).__name__}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(_finite(min_delta, "min_delta"))
        base = monitor[4:] if monitor.startswith("val_") else monitor
        self._higher = mode == "max" or (mode == "auto" and base in _HIGHER_IS_BETTER)

    def check_monitor(self, available):
        if self.monitor not in available:
            raise ValueError(f"{type(self).__name__}: monitor {self.monitor!r} is not logged; "
                             f"available: {sorted(available)}")

    def _improved(self, current, reference):
        if reference is None:
            return True
        if self._higher:
            return current - self.min_delta > reference
        return current + self.min_delta < reference

    def _current(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(value):
            return None
        return float(value)


def _finite(value, name, low=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or (low is not None and value < low):
        raise ValueError(f"{name} must be a finite number"
                         f"{'' if low is None else f' >= {low}'}, got {value}")
    return value


def _count(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return int(value)


class EarlyStopping(_Monitor):
    """Stop when the monitored value has stopped improving (``keras.callbacks.EarlyStopping``).

    Parameters
    ----------
    monitor : str
        A log key, e.g. ``"val_loss"`` or ``"val_accuracy"``.
    min_delta : float
        Smaller changes do not count as improvement.
    patience : int
        Epochs without improvement before stopping.
    mode : {"auto", "min", "max"}
        "auto": max for accuracy-like names, else min.
    baseline : float, optional
        Stop unless the value beats this within ``patience`` epochs.
    restore_best_weights : bool
        At the end of training, put back the weights of the best epoch.
    start_from_epoch : int
        Epochs to wait before watching.

    Attributes: ``best``, ``best_epoch``, ``stopped_epoch`` (0 if it did not stop).
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        self.patience = _count(patience, "patience")
        self.verbose = verbose
        self.baseline = None if baseline is None else _finite(baseline, "baseline")
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = _count(start_from_epoch, "start_from_epoch")

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = self._current(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.state_dict()
            self.best_epoch = epoch
        self.wait += 1
        if self._improved(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()
            if self.baseline is None or self._improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose:
            _say(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                _say(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.load_state_dict(self.best_weights)


class ModelCheckpoint(_Monitor):
    """Save a checkpoint (:func:`pydl.save`) at the end of every epoch, or of each
    epoch that improves the monitored value (``save_best_only``).

    ``filepath`` may hold ``str.format`` fields: ``{epoch}`` (1-based) and any log key,
    e.g. ``"ckpt-{epoch:02d}-{val_loss:.3f}.npz"``. The checkpoint holds the model, the
    optimizer and scheduler state (unless ``save_weights_only``), the shuffling
    generator's state and ``epoch`` = epochs completed, so training resumes with
    ``pydl.load(path, model, optimizer, scheduler, rng=generator)`` and
    ``fit(..., initial_epoch=ckpt["epoch"], generator=generator)`` (``rng=pydl.random``
    when fit shuffled with pydl's default generator). The epoch's logs are in
    ``extra["logs"]``; pydl's default generator state (dropout masks, initialisers) is in
    ``extra["pydl_random_state"]`` for ``pydl.random.set_state``.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", initial_value_threshold=None):
        super().__init__(monitor, mode)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.best = (None if initial_value_threshold is None
                     else _finite(initial_value_threshold, "initial_value_threshold"))

    def check_monitor(self, available):
        if self.save_best_only:
            super().check_monitor(available)
        try:
            self.filepath.format(epoch=1, **{k: 0.0 for k in available})
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"ModelCheckpoint: filepath {self.filepath!r} cannot be "
                             f"formatted with epoch and the log keys {sorted(available)}: "
                             f"{exc}") from None

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.save_best_only:
            current = self._current(logs)
            if current is None or not self._improved(current, self.best):
                return
            if self.verbose:
                _say(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best} to "
                      f"{current}, saving the model")
            self.best = current
        if not is_main_process():   # data-parallel: rank 0 writes, the others agree
            return
        path = self.filepath.format(epoch=epoch + 1, **logs)
        from .. import random as _random
        from ..serialization import save
        full = not self.save_weights_only
        extra = {"logs": {k: float(v) for k, v in logs.items()}}
        if full:
            extra["pydl_random_state"] = _random.get_state()
        save(path, model=self.model, optimizer=self.optimizer if full else None,
             scheduler=self.scheduler if full else None, epoch=epoch + 1,
             rng=(self.params or {}).get("generator") if full else None, extra=extra)


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch from ``schedule(epoch, lr)``
    (or ``schedule(epoch)``); ``epoch`` is 0-based, ``lr`` the current rate. Every
    parameter group gets the new rate."""

    def __init__(self, schedule, verbose=0):
        if not callable(schedule):
            raise TypeError(f"schedule must be callable, got {type(schedule).__name__}")
        self.schedule = schedule
        self.verbose = verbose
        try:
            params = inspect.signature(schedule).parameters.values()
            positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY,
                                                          p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
            self._two_args = len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL
                                                         for p in positional)
        except (TypeError, ValueError):
            self._two_args = True

    def on_epoch_begin(self, epoch, logs=None):
        lr = self.optimizer.param_groups[0]["lr"]
        new = self.schedule(epoch, lr) if self._two_args else self.schedule(epoch)
        if isinstance(new, np.generic):
            new = new.item()
        if isinstance(new, bool) or not isinstance(new, numbers.Real) \
                or not math.isfinite(new) or new < 0:
            raise ValueError(f"LearningRateScheduler: schedule returned {new!r} for epoch "
                             f"{epoch}; it must return a finite number >= 0")
        for group in self.optimizer.param_groups:
            group["lr"] = float(new)
        if self.verbose:
            _say(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {new}.")


class CSVLogger(Callback):
    """Append one row per epoch (``epoch`` and every log value) to a CSV file.

    The file is opened for each row and closed again, so rows written before an
    exception (or a kill) are on disk and no file handle outlives training.
    """

    def __init__(self, filename, separator=",", append=False):
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = bool(append)
        self._keys = None

    def on_train_begin(self, logs=None):
        self._keys = None
        self._writer = is_main_process()      # data-parallel: rank 0 writes the log
        if not self._writer:
            return
        # resolved once (a later chdir does not move the log); opened now so that a
        # bad path fails before the first epoch, and truncated unless appending
        self._path = os.path.abspath(self.filename)
        self._header_written = (self.append and os.path.exists(self._path)
                                and os.path.getsize(self._path) > 0)
        open(self._path, "a" if self.append else "w").close()

    def on_epoch_end(self, epoch, logs=None):
        if not getattr(self, "_writer", True):
            return
        logs = logs or {}
        rows = []
        if self._keys is None:
            self._keys = sorted(logs)
        if not self._header_written:
            rows.append(["epoch"] + self._keys)
        rows.append([epoch] + [_csv_value(logs.get(k, "NA")) for k in self._keys])
        with open(self._path, "a", newline="") as f:
            csv.writer(f, delimiter=self.separator).writerows(rows)
        self._header_written = True


def _csv_value(v):
    return repr(float(v)) if isinstance(v, (numbers.Real, np.generic)) else v


class TerminateOnNaN(Callback):
    """Stop training when a batch loss is NaN or infinite, and put back the last good
    weights: those from before the update that produced the non-finite loss (the last
    weights whose loss was finite). Warns (RuntimeWarning) naming the epoch and step;
    the details stay in ``stopped_epoch``, ``stopped_step`` (1-based) and ``message``.

    The optimizer's state (momentum, Adam's moments, its step counts and learning
    rates) is put back to what it was before that update too, so that training can go
    on from the restored weights, e.g. after lowering the learning rate, without a
    NaN left in a momentum buffer (optimizers without ``state_dict`` /
    ``load_state_dict`` are left as they are). A learning-rate scheduler is not rolled
    back. It keeps two copies of the parameters and buffers (reused) and of the
    optimizer's ``state_dict()`` (taken anew each step: with Adam about four times
    the parameters' size, and a copy per step).
    """

    def __init__(self):
        self.stopped_epoch = None
        self.stopped_step = None
        self.message = None

    def on_train_begin(self, logs=None):
        self._entries = [(m, name) for m in self.model.modules()
                         for name in list(m._parameters) + list(m._buffers)
                         if getattr(m, name) is not None]
        self._current = self._previous = None
        self._opt_current = self._opt_previous = None
        self._epoch = 0

    def _values(self):
        return [getattr(m, name) for m, name in self._entries]

    def _restores_optimizer(self):
        opt = getattr(self, "optimizer", None)
        return callable(getattr(opt, "state_dict", None)) and \
            callable(getattr(opt, "load_state_dict", None))

    @staticmethod
    def _array(value):
        return value.data if hasattr(value, "data") and not isinstance(value, np.ndarray) \
            else value

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        # Rotate: the snapshot of the previous step becomes "previous", and the
        # reused buffer receives the weights this step starts from.
        self._previous, self._current = self._current, self._previous
        if self._restores_optimizer():
            self._opt_previous = self._opt_current
            self._opt_current = self.optimizer.state_dict()
        arrays = [self._array(v) for v in self._values()]
        if self._current is None:
            self._current = [a.copy() for a in arrays]
        else:
            for dst, src in zip(self._current, arrays):
                np.copyto(dst, src)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            return
        first = self._previous is None
        good = self._current if first else self._previous
        for value, saved in zip(self._values(), good):
            np.copyto(self._array(value), saved)
        good_opt = self._opt_current if first else self._opt_previous
        if self._restores_optimizer() and good_opt is not None:
            self.optimizer.load_state_dict(good_opt)
        steps = (self.params or {}).get("steps", "?")
        self.stopped_epoch, self.stopped_step = self._epoch + 1, batch + 1
        which = ("the weights from before the update that produced it (the last whose "
                 "loss was finite)" if self._previous is not None else
                 "the initial weights (the very first batch already gave it)")
        self.message = (f"TerminateOnNaN: the loss became {loss} at epoch "
                        f"{self.stopped_epoch}, step {self.stopped_step} of {steps}; "
                        f"training stopped and {which} were restored. A learning rate "
                        f"that is too high (diverging) is the usual cause.")
        warnings.warn(self.message, RuntimeWarning, stacklevel=2)
        self.model.stop_training = True
