"""fit, evaluate and predict: training and inference loops over in-memory arrays."""

import inspect
import math
import numbers
import time

import numpy as np

from .. import regularizers as _reg
from .._grad_mode import no_grad
from ..data._checks import as_array, as_generator, check_positive_int, check_same_length
from ..data.loader import DataLoader
from ..functional._validation import check_real
from ..nn import utils as _nn_utils
from ..nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from ..nn.module import Module
from .callbacks import CallbackList, _check_callbacks
from .history import History
from .progress import Progress
from .running_metrics import make_metrics

__all__ = ["fit", "evaluate", "predict"]

LOSSES = {"cross_entropy": CrossEntropyLoss, "mse": MSELoss,
          "bce_with_logits": BCEWithLogitsLoss}


# ------------------------------------------------------------------- checks
def _check_model(model):
    if not isinstance(model, Module):
        raise TypeError(f"model must be a pydl.nn.Module, got {type(model).__name__}")
    return model


def _check_loss(loss):
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; known: {sorted(LOSSES)}, or pass a "
                             f"loss module such as pydl.nn.CrossEntropyLoss()")
        return LOSSES[loss]()
    if not isinstance(loss, Module) or not callable(getattr(loss, "backward", None)):
        raise TypeError(f"loss must be a pydl.nn loss module (e.g. nn.CrossEntropyLoss()) "
                        f"or a name, got {type(loss).__name__}")
    if getattr(loss, "reduction", "mean") != "mean":
        raise ValueError(f"the training loop averages batch losses, so the loss needs "
                         f"reduction='mean', got {loss.reduction!r}")
    return loss


def _model_dtype(model):
    for p in model.parameters():
        return p.dtype
    return None


def _check_xy(x, y, model, x_name="x", y_name="y"):
    """Samples and targets, checked before any training: the same number of samples,
    non-empty, finite, and ``x`` of the model's dtype."""
    x = as_array(x, x_name, kinds="f")
    dtype = _model_dtype(model)
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{x_name} has dtype {x.dtype} but the model's parameters are "
                        f"{dtype}; convert it with {x_name}.astype(np.{dtype})")
    if y is None:
        return x, None
    y = as_array(y, y_name, kinds="biuf")
    check_same_length([x, y], [x_name, y_name])
    return x, y


def _check_verbose(verbose):
    if verbose == "auto":
        return 1
    if isinstance(verbose, numbers.Integral) and int(verbose) in (0, 1, 2):
        return int(verbose)
    raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")


def _check_optimizer(optimizer):
    if optimizer is None or not callable(getattr(optimizer, "step", None)) \
            or not hasattr(optimizer, "param_groups"):
        raise TypeError(f"optimizer must be a pydl.optim optimizer (e.g. "
                        f"SGD(model.parameters(), lr=0.1)), got {type(optimizer).__name__}")
    for group in optimizer.param_groups:
        lr = group.get("lr")
        if isinstance(lr, numbers.Real) and not math.isfinite(lr):
            raise ValueError(f"the optimizer's learning rate is {lr}; it must be finite")


def _needs_metric(scheduler):
    """True for schedulers whose ``step`` requires the monitored value
    (ReduceLROnPlateau's ``step(metrics)``)."""
    try:
        params = list(inspect.signature(scheduler.step).parameters.values())
    except (TypeError, ValueError):
        return False
    return any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               for p in params)


def _check_scheduler(scheduler, optimizer, interval):
    if scheduler is None:
        return False
    if not callable(getattr(scheduler, "step", None)):
        raise TypeError(f"scheduler must have a step() method, got {type(scheduler).__name__}")
    owner = getattr(scheduler, "optimizer", optimizer)
    if owner is not optimizer:
        raise ValueError("the scheduler was built for a different optimizer than the one "
                         "passed to fit")
    if interval not in ("epoch", "step"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {interval!r}")
    needs_metric = _needs_metric(scheduler)
    if needs_metric and interval == "step":
        raise ValueError("a scheduler that steps on a monitored value (ReduceLROnPlateau) "
                         "needs scheduler_interval='epoch'")
    return needs_metric


def _validation_arrays(x, y, model, validation_data, validation_split):
    """(x_train, y_train, x_val, y_val); Keras semantics for validation_split (the last
    samples, taken before any shuffling)."""
    split = check_real(validation_split, "validation_split", low=0.0, high=1.0)
    if split >= 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {split}")
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("validation_data must be a tuple (x_val, y_val)")
        xv, yv = _check_xy(*validation_data, model, "validation_data[0]", "validation_data[1]")
        if xv.shape[1:] != x.shape[1:]:
            raise ValueError(f"validation_data[0] has sample shape {xv.shape[1:]}, x has "
                             f"{x.shape[1:]}")
        return x, y, xv, yv
    if split == 0.0:
        return x, y, None, None
    cut = int(len(x) * (1.0 - split))
    if cut == 0 or cut == len(x):
        raise ValueError(f"validation_split={split} of {len(x)} samples leaves an empty "
                         f"{'training' if cut == 0 else 'validation'} set")
    return x[:cut], y[:cut], x[cut:], y[cut:]


def _check_clip(value, name):
    return None if value is None else check_real(value, name, low=0.0, low_open=True)


# --------------------------------------------------------------------- loops
def _batches(n, batch_size):
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def _run_eval(model, x, y, criterion, metrics, batch_size, reg_entries):
    """Loss and metrics over (x, y) in eval mode without gradients; the mode is restored."""
    was_training = model.training
    model.eval()
    for m in metrics:
        m.reset()
    total = 0.0
    try:
        with no_grad():
            for sl in _batches(len(x), batch_size):
                out = model(x[sl])
                if criterion is not None:
                    total += float(criterion(out, y[sl])) * len(out)
                for m in metrics:
                    m.update(out, y[sl])
    finally:
        model.train(was_training)
    logs = {}
    if criterion is not None:
        logs["loss"] = total / len(x) + _reg.total_penalty(reg_entries)
    for m in metrics:
        logs[m.name] = m.result()
    return logs


def fit(model, x, y, *, loss, optimizer, epochs=1, batch_size=32, shuffle=True,
        validation_data=None, validation_split=0.0, validation_batch_size=None,
        callbacks=None, scheduler=None, scheduler_interval="epoch", scheduler_monitor=None,
        metrics=None, verbose=1, clip_grad_norm=None, clip_grad_value=None, augment=None,
        initial_epoch=0, generator=None, seed=None):
    """Train ``model`` on ``(x, y)`` with mini-batch gradient descent (Keras's ``fit``).

    Each epoch draws a new permutation of the samples (``shuffle``), runs forward, the
    loss, backward, adds regularization gradients (:mod:`pydl.regularizers`), clips
    gradients, and steps the optimizer for every batch; then evaluates the validation
    data, steps the scheduler and calls the callbacks. The model is in training mode
    for the batches and in eval mode (under ``no_grad``) for validation; its mode at
    the call is restored at the end.

    Parameters
    ----------
    model : pydl.nn.Module
    x : float ndarray (N, ...)
        Of the model's dtype.
    y : ndarray (N, ...)
        Targets the loss accepts (class indices for cross-entropy).
    loss : loss module (``reduction="mean"``) or name
        ``"cross_entropy"``, ``"mse"`` or ``"bce_with_logits"``.
    optimizer : pydl.optim optimizer over the model's parameters
    epochs : int
        Index of the last epoch: trains epochs ``initial_epoch .. epochs - 1``.
    batch_size : int >= 1
    shuffle : bool
    validation_data : tuple (x_val, y_val), optional
    validation_split : float in [0, 1)
        Fraction of the samples (the last ones, before shuffling) held out for
        validation when ``validation_data`` is not given.
    validation_batch_size : int, optional
        Default ``batch_size``.
    callbacks : list of pydl.callbacks.Callback
    scheduler : learning-rate scheduler, optional
        ``scheduler.step()`` after each epoch (or each step with
        ``scheduler_interval="step"``); a scheduler whose ``step`` takes a required
        argument (``ReduceLROnPlateau``) gets the value of ``scheduler_monitor``.
    scheduler_interval : {"epoch", "step"}
    scheduler_monitor : str, optional
        Log key for ``ReduceLROnPlateau``; default ``"val_loss"`` when there is
        validation data, else ``"loss"``.
    metrics : list of str or callables, optional
        E.g. ``["accuracy"]``; see :mod:`pydl.training.running_metrics`.
    verbose : {0, 1, 2}
        1: a progress bar per epoch when stdout is a terminal; 2: one line per epoch.
    clip_grad_norm : float, optional
        Rescale gradients to this joint L2 norm at most (``clip_grad_norm_``).
    clip_grad_value : float, optional
        Clamp gradient elements to ``[-v, v]`` (applied before the norm clipping).
    augment : callable, optional
        ``augment(x_batch) -> x_batch`` for training batches (e.g.
        :class:`pydl.data.Augment`).
    initial_epoch : int
        Epoch to start from (to resume training).
    generator : numpy.random.Generator, optional
        Source of the shuffles; default a generator seeded with ``seed``, else pydl's
        generator (:func:`pydl.manual_seed`).
    seed : int, optional

    Returns
    -------
    History
        ``history.history`` maps ``loss``, each metric, ``val_*`` and ``lr`` (the rate
        used during the epoch, group 0) to per-epoch lists.
    """
    model = _check_model(model)
    criterion = _check_loss(loss)
    _check_optimizer(optimizer)
    epochs = check_positive_int(epochs, "epochs")
    initial_epoch = check_positive_int(initial_epoch, "initial_epoch", low=0)
    if initial_epoch > epochs:
        raise ValueError(f"initial_epoch ({initial_epoch}) is past epochs ({epochs})")
    batch_size = check_positive_int(batch_size, "batch_size")
    val_batch_size = (batch_size if validation_batch_size is None
                      else check_positive_int(validation_batch_size, "validation_batch_size"))
    x, y = _check_xy(x, y, model)
    x, y, x_val, y_val = _validation_arrays(x, y, model, validation_data, validation_split)
    train_metrics = make_metrics(metrics, criterion)
    val_metrics = make_metrics(metrics, criterion)
    callbacks = _check_callbacks(callbacks)
    plateau = _check_scheduler(scheduler, optimizer, scheduler_interval)
    clip_norm = _check_clip(clip_grad_norm, "clip_grad_norm")
    clip_value = _check_clip(clip_grad_value, "clip_grad_value")
    verbose = _check_verbose(verbose)
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be callable, got {type(augment).__name__}")
    rng = as_generator(seed, generator)
    reg_entries = _reg.regularized_parameters(model)

    names = ["loss"] + [m.name for m in train_metrics]
    keys = names + ([f"val_{k}" for k in names] if x_val is not None else []) + ["lr"]
    for cb in callbacks:
        cb.check_monitor(set(keys))
    if plateau:
        scheduler_monitor = scheduler_monitor or ("val_loss" if x_val is not None else "loss")
        if scheduler_monitor not in keys:
            raise ValueError(f"scheduler_monitor {scheduler_monitor!r} is not logged; "
                             f"available: {keys}")

    loader = DataLoader(x, y, batch_size=batch_size, shuffle=shuffle, generator=rng)
    params = {"epochs": epochs, "steps": len(loader), "samples": len(x),
              "batch_size": batch_size, "verbose": verbose, "metrics": keys,
              "generator": rng}
    history = History()
    cbs = CallbackList([history, *callbacks], model, optimizer, scheduler, params)
    history.params = params
    progress = Progress(verbose, epochs)
    parameters = list(model.parameters())
    was_training = model.training
    model.stop_training = False
    try:
        cbs.on_train_begin({})
        for epoch in range(initial_epoch, epochs):
            model.train()
            cbs.on_epoch_begin(epoch, {})
            lr = optimizer.param_groups[0]["lr"]
            for m in train_metrics:
                m.reset()
            progress.epoch_begin(epoch, len(x))
            loss_sum, seen = 0.0, 0
            start = time.perf_counter()

            def running_logs():
                logs = {"loss": loss_sum / max(seen, 1)}
                logs.update((m.name, m.result()) for m in train_metrics)
                return logs

            for step, idx in enumerate(loader.batch_indices()):
                xb, yb = x[idx], y[idx]
                if augment is not None:
                    xb = augment(xb)
                n = len(xb)
                cbs.on_train_batch_begin(step, {"size": n})
                model.zero_grad()
                out = model(xb)
                batch_loss = float(criterion(out, yb))
                model.backward(criterion.backward())
                if reg_entries:
                    batch_loss += _reg.total_penalty(reg_entries)
                    _reg.accumulate_gradients(reg_entries)
                if clip_value is not None:
                    _nn_utils.clip_grad_value_(parameters, clip_value)
                if clip_norm is not None:
                    _nn_utils.clip_grad_norm_(parameters, clip_norm)
                optimizer.step()
                if scheduler is not None and scheduler_interval == "step":
                    scheduler.step()
                loss_sum += batch_loss * n
                seen += n
                for m in train_metrics:
                    m.update(out, yb)
                cbs.on_train_batch_end(step, {"loss": batch_loss, "size": n})
                progress.batch_end(n, running_logs)
                if model.stop_training:
                    break
            seconds = time.perf_counter() - start
            logs = running_logs()
            if x_val is not None:
                val = _run_eval(model, x_val, y_val, criterion, val_metrics, val_batch_size,
                                reg_entries)
                logs.update((f"val_{k}", v) for k, v in val.items())
            logs["lr"] = lr
            if scheduler is not None and scheduler_interval == "epoch":
                if plateau:
                    scheduler.step(logs[scheduler_monitor])
                else:
                    scheduler.step()
            rate = seen / seconds if seconds > 0 else float("inf")
            history.samples_per_second.append(rate)
            cbs.on_epoch_end(epoch, logs)
            progress.epoch_end(epoch, logs, seconds, rate)
            if model.stop_training:
                break
        cbs.on_train_end({})
    finally:
        progress.close()
        model.train(was_training)
    return history


def evaluate(model, x, y, *, loss=None, metrics=None, batch_size=32):
    """Loss and metrics of ``model`` on ``(x, y)``, in eval mode without gradients.

    The loss is the sample-weighted mean over batches plus the regularization penalty
    (as Keras reports it). Returns a dict, e.g. ``{"loss": 0.31, "accuracy": 0.92}``.
    """
    model = _check_model(model)
    criterion = None if loss is None else _check_loss(loss)
    trackers = make_metrics(metrics, criterion)
    if criterion is None and not trackers:
        raise ValueError("evaluate needs a loss or at least one metric")
    batch_size = check_positive_int(batch_size, "batch_size")
    x, y = _check_xy(x, y, model)
    return _run_eval(model, x, y, criterion, trackers, batch_size,
                     _reg.regularized_parameters(model))


def predict(model, x, *, batch_size=32):
    """``model``'s outputs for ``x``, computed in batches in eval mode under ``no_grad``.

    Returns
    -------
    ndarray (N, ...)
        The batch outputs concatenated (a tuple of arrays for a model returning a tuple).
    """
    model = _check_model(model)
    batch_size = check_positive_int(batch_size, "batch_size")
    x, _ = _check_xy(x, None, model)
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with no_grad():
            for sl in _batches(len(x), batch_size):
                outputs.append(model(x[sl]))
    finally:
        model.train(was_training)
    if isinstance(outputs[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*outputs))
    return np.concatenate(outputs)
