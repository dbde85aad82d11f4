"""fit, evaluate and predict: training and inference loops over arrays (in memory or
memory-mapped) and iterables of batches, read one batch at a time."""

import collections.abc
import inspect
import math
from contextlib import nullcontext
import numbers
import time

import numpy as np

from .. import regularizers as _reg
from .._grad_mode import no_grad
from ..autograd.tensor import Tensor
from ..data._checks import (as_array, as_generator, check_finite, check_positive_int,
                           check_same_length, is_memory_mapped)
from ..data.loader import DataLoader, batch_indices, random_access, take_rows
from ..functional._alloc import check_fits_in_memory
from ..functional._validation import check_real
from ..nn import utils as _nn_utils
from ..nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from ..nn.batchnorm import _BatchNorm
from ..nn.container import backward_without_input_grad
from ..nn.module import Module, eval_in_this_thread
from . import data_parallel as _dp
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


def _check_x(x, model, name):
    """Samples as an array (in memory or memory-mapped), checked by their metadata only:
    a float dtype equal to the model's, at least one sample. Values are checked as the
    batches are read (:class:`_ArraySource`)."""
    x = as_array(x, name, kinds="f", finite=False, check_memory=False)
    dtype = _model_dtype(model)
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but the model's parameters are "
                        f"{dtype}; convert it with {name}.astype(np.{dtype})")
    return x


def _check_y(y, name):
    return as_array(y, name, kinds="biuf", finite=False, check_memory=False)


def _is_batch_iterable(data):
    """A source of batches rather than an array: a DataLoader, a generator or any other
    iterable that is not an array, a list or a tuple (those are array-like)."""
    if isinstance(data, DataLoader):
        return True
    if isinstance(data, (np.ndarray, np.generic, list, tuple, str, bytes, dict)) \
            or hasattr(data, "__array__") or hasattr(data, "__array_interface__"):
        return False  # array-like (a DataFrame iterates over its columns: not batches)
    return hasattr(data, "__iter__") or hasattr(data, "__next__")


def _count_batches(n, batch_size, drop_last=False, steps=None):
    count = n // batch_size if drop_last else -(-n // batch_size)
    return count if steps is None else min(count, steps)


def _batch_sizes(n, batch_size, drop_last=False, steps=None):
    """The distinct sizes of the batches one epoch over ``n`` samples will have."""
    count = _count_batches(n, batch_size, drop_last, steps)
    full = n // batch_size
    sizes = {batch_size} if min(count, full) > 0 else set()
    if count > full:  # the last, partial batch is reached
        sizes.add(n % batch_size)
    return sizes


class _ArraySource:
    """Samples and targets in arrays, read one batch at a time.

    Nothing of ``x`` is copied or scanned in full up front beyond what is already in
    memory: an in-memory array is checked for NaN/infinity before training, in bounded
    chunks; a memory-mapped one (``np.memmap``, possibly larger than memory) batch by
    batch as it is read, each batch an in-memory copy of its rows only.
    """

    def __init__(self, x, y, model, x_name="x", y_name="y", need_y=True):
        self.x = _check_x(x, model, x_name)
        self.y = None
        self.names = (x_name, y_name)
        if need_y:
            self.y = _check_y(y, y_name)
            check_same_length([self.x, self.y], [x_name, y_name])
        self.mapped = is_memory_mapped(self.x) or (self.y is not None
                                                    and is_memory_mapped(self.y))
        if not self.mapped:
            # Not memory-mapped, so meant to be in memory: refuse what cannot be (a
            # broadcast view of a huge shape would be read element by element).
            for a, name in ((self.x, x_name), (self.y, y_name)):
                if a is not None:
                    check_fits_in_memory(a.size * a.dtype.itemsize, f"{name} (shape {a.shape})")
                    check_finite(a, name)

    def n_samples(self):
        return len(self.x)

    def split(self, cut):
        """The first ``cut`` samples and the rest (views: nothing is read)."""
        return self.rows(slice(None, cut)), self.rows(slice(cut, None))

    def rows(self, sl):
        """The samples ``x[sl]`` (a view: nothing is read)."""
        part = object.__new__(_ArraySource)
        part.x = self.x[sl]
        part.y = None if self.y is None else self.y[sl]
        part.names, part.mapped = self.names, self.mapped
        return part

    def steps(self, batch_size, drop_last=False, steps=None):
        return _count_batches(len(self.x), batch_size, drop_last, steps)

    def batch_sizes(self, batch_size, drop_last=False, steps=None):
        return _batch_sizes(len(self.x), batch_size, drop_last, steps)

    def epoch(self, batch_size, *, shuffle=False, generator=None, drop_last=False,
              steps=None, resume=False, comm=None):
        """Yield ``(x_batch, y_batch)`` (``y_batch`` None without targets); with
        ``comm`` (data-parallel fit) this rank's share of each global batch."""
        x_name, y_name = self.names
        if comm is None:
            indices = batch_indices(len(self.x), batch_size, shuffle, generator, drop_last)
        else:
            indices = _dp.rank_batches(len(self.x), batch_size, comm, shuffle=shuffle,
                                       generator=generator, drop_last=drop_last)
        advice = random_access(self.x, self.y) if shuffle and self.mapped else nullcontext()
        with advice:
            for step, idx in enumerate(indices[:steps]):
                xb = take_rows(self.x, idx)
                yb = None if self.y is None else take_rows(self.y, idx)
                if self.mapped:
                    where = f" (batch {step})"
                    check_finite(xb, x_name, where)
                    if yb is not None:
                        check_finite(yb, y_name, where)
                yield xb, yb


class _IterableSource:
    """Batches from an iterable: a ``DataLoader`` or any re-iterable (iterated anew each
    epoch), or a one-shot iterator such as a generator (consumed across epochs). Each
    batch is checked as it is read: dtype, shape, matching lengths, finite values."""

    def __init__(self, data, model, name="x", need_y=True):
        self.data = data
        self.name = name
        self.need_y = need_y
        self.dtype = _model_dtype(model)
        # An iterator (a generator) is consumed across epochs; another iterable (a
        # DataLoader) is iterated anew each epoch. No iter() call here: a loader's
        # __iter__ may draw its shuffle or start workers.
        self.one_shot = isinstance(data, collections.abc.Iterator) or not hasattr(
            data, "__iter__")
        self._iterator = None

    def n_samples(self):
        """Samples per pass when known (a DataLoader), else None."""
        if isinstance(self.data, DataLoader):
            n, b = self.data.num_samples(), self.data.batch_size
            return n - n % b if self.data.drop_last else n
        return None

    def steps(self, batch_size=None, drop_last=False, steps=None):
        if steps is not None:
            return steps
        try:
            return len(self.data)
        except TypeError:
            return None

    def batch_sizes(self, batch_size=None, drop_last=False, steps=None):
        """The batch sizes known before reading (a DataLoader's), else an empty set."""
        if not isinstance(self.data, DataLoader):
            return set()
        loader = self.data
        return _batch_sizes(loader.num_samples(), loader.batch_size, loader.drop_last, steps)

    def _check_batch(self, item, step):
        where = f" (batch {step})"
        if self.need_y:
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise TypeError(f"{self.name} must yield (x_batch, y_batch) pairs, batch "
                                f"{step} is a {type(item).__name__}")
            xb, yb = item
        else:
            xb = item[0] if isinstance(item, (tuple, list)) and item else item
            yb = None
        name = f"{self.name} batch {step}"
        xb = as_array(xb, f"{name} x", kinds="f", finite=False, check_memory=False)
        if self.dtype is not None and xb.dtype != self.dtype:
            raise TypeError(f"{name} x has dtype {xb.dtype} but the model's parameters are "
                            f"{self.dtype}; convert the batches with .astype(np.{self.dtype})")
        check_finite(xb, f"{self.name}", where)
        if yb is not None:
            yb = as_array(yb, f"{name} y", kinds="biuf", finite=False, check_memory=False)
            check_same_length([xb, yb], [f"{name} x", f"{name} y"])
            check_finite(yb, f"{self.name} targets", where)
        return xb, yb

    def epoch(self, batch_size=None, *, shuffle=False, generator=None, drop_last=False,
              steps=None, resume=False, comm=None):
        """Yield checked ``(x_batch, y_batch)``; ``steps`` batches at most. With
        ``resume`` (fit's training batches) and ``steps``, a re-iterable goes on where
        the last epoch stopped and starts a new pass when it runs out. Under
        data-parallel fit (``comm``) each rank's iterable is its own shard."""
        if self.one_shot:
            it = self.data
        elif steps is None or not resume:
            it = iter(self.data)
        else:
            if self._iterator is None:
                self._iterator = iter(self.data)
            it = self._iterator
        count, restarted = 0, False
        while steps is None or count < steps:
            try:
                item = next(it)
            except StopIteration:
                if self.one_shot or steps is None or restarted:
                    break
                self._iterator = it = iter(self.data)
                restarted = True
                continue
            restarted = False
            yield self._check_batch(item, count)
            count += 1
        if count == 0:
            raise ValueError(f"{self.name} yielded no batches; a generator is used up after "
                             f"one pass: pass an iterable that can be iterated anew each "
                             f"epoch (a pydl.data.DataLoader), or an endless generator with "
                             f"steps_per_epoch (steps for evaluate/predict)")


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


def _validation_sources(train, model, validation_data, validation_split):
    """(train, val) sources; Keras semantics for validation_split (the last samples,
    taken before any shuffling)."""
    split = check_real(validation_split, "validation_split", low=0.0, high=1.0)
    if split >= 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {split}")
    if validation_data is not None:
        if _is_batch_iterable(validation_data):
            return train, _IterableSource(validation_data, model, "validation_data")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("validation_data must be a tuple (x_val, y_val) or an iterable "
                            "of (x_batch, y_batch) pairs (e.g. a pydl.data.DataLoader)")
        val = _ArraySource(*validation_data, model, "validation_data[0]",
                           "validation_data[1]")
        if isinstance(train, _ArraySource) and val.x.shape[1:] != train.x.shape[1:]:
            raise ValueError(f"validation_data[0] has sample shape {val.x.shape[1:]}, x has "
                             f"{train.x.shape[1:]}")
        return train, val
    if split == 0.0:
        return train, None
    if not isinstance(train, _ArraySource):
        raise ValueError("validation_split needs x and y as arrays; with an iterable of "
                         "batches pass validation_data instead")
    n = train.n_samples()
    cut = int(n * (1.0 - split))
    if cut == 0 or cut == n:
        raise ValueError(f"validation_split={split} of {n} samples leaves an empty "
                         f"{'training' if cut == 0 else 'validation'} set")
    return train.split(cut)


def _source(x, y, model, need_y):
    """An :class:`_ArraySource` for arrays, an :class:`_IterableSource` for batches."""
    if _is_batch_iterable(x):
        if y is not None:
            raise ValueError("y must be None when x is an iterable of batches (it yields "
                             "the targets with the samples, as (x_batch, y_batch) pairs)")
        return _IterableSource(x, model, "x", need_y=need_y)
    return _ArraySource(x, y, model, need_y=need_y)


def _batchnorms(model):
    return [f"{type(m).__name__} {name!r}" if name else type(m).__name__
            for name, m in model.named_modules() if isinstance(m, _BatchNorm)]


def _one_sample_error(batchnorms, detail):
    return ValueError(
        f"a training batch of one sample would reach {batchnorms[0]} (batch norm needs "
        f"more than one value per channel when training); {detail}: pass drop_last=True "
        f"to fit to drop the short last batch, or choose a batch_size that leaves no "
        f"single sample over")


def _check_one_sample_batches(model, source, batch_size, drop_last, steps):
    """Refuse, before any update, an epoch that would give a BatchNorm a one-sample
    batch (which fails in the middle of training, after the first batches' updates)."""
    batchnorms = _batchnorms(model)
    if not batchnorms or 1 not in source.batch_sizes(batch_size, drop_last, steps):
        return batchnorms
    if isinstance(source, _ArraySource):
        n, b = source.n_samples(), batch_size
    else:
        n, b = source.data.num_samples(), source.data.batch_size
    detail = (f"batch_size={b} makes every batch one sample" if b == 1 else
              f"{n} samples in batches of {b} leave a last batch of 1")
    raise _one_sample_error(batchnorms, detail)


def _check_clip(value, name):
    return None if value is None else check_real(value, name, low=0.0, low_open=True)


def _check_steps(steps, name):
    return None if steps is None else check_positive_int(steps, name)


# --------------------------------------------------------------------- loops
def _as_array(out):
    """A model's output as an ndarray (a forward-only model returns a Tensor)."""
    return out.data if isinstance(out, Tensor) else out


def _train_step(model, criterion, optimizer, xb, yb, *, parameters, reg_entries=(),
                clip_value=None, clip_norm=None):
    """One optimization step on one batch: zero the gradients, forward, loss, backward,
    regularization gradients, gradient clipping, ``optimizer.step()``.

    Returns ``(outputs, batch_loss)``, the loss a float with the penalties included.
    """
    model.zero_grad()
    if model._explicit():
        out = model(xb)
        batch_loss = float(criterion(out, yb))
        # the input gradient is never used here: skipped where the model can
        backward_without_input_grad(model, criterion.backward())
    else:
        # A model that defines only forward: the autograd tape differentiates it.
        out = model(Tensor(xb))
        loss = criterion(out, yb)
        loss.backward()
        out, batch_loss = out.data, float(loss.item())
    if reg_entries:
        batch_loss += _reg.total_penalty(reg_entries)
        _reg.accumulate_gradients(reg_entries)
    if clip_value is not None:
        _nn_utils.clip_grad_value_(parameters, clip_value)
    if clip_norm is not None:
        _nn_utils.clip_grad_norm_(parameters, clip_norm)
    optimizer.step()
    return out, batch_loss


def _run_eval(model, source, criterion, metrics, batch_size, reg_entries, steps=None):
    """Loss and metrics over a source, in eval mode without gradients.

    Eval mode is this thread's view only (``eval_in_this_thread``): no module's
    ``training`` flag is written, so other threads using the model see no change.
    """
    for m in metrics:
        m.reset()
    total, seen = 0.0, 0
    with eval_in_this_thread(), no_grad():
        for xb, yb in source.epoch(batch_size, steps=steps):
            out = _as_array(model(xb))
            if criterion is not None:
                total += float(criterion(out, yb)) * len(out)
            seen += len(out)
            for m in metrics:
                m.update(out, yb)
    logs = {}
    if criterion is not None:
        penalty = _reg.total_penalty(reg_entries)
        logs["loss"] = total / seen + penalty
        if reg_entries:  # the data loss alone, as a test cost is, and the penalty
            logs["data_loss"], logs["penalty"] = total / seen, penalty
    for m in metrics:
        logs[m.name] = m.result()
    return logs


def fit(model, x, y=None, *, loss, optimizer, epochs=1, batch_size=32, shuffle=True,
        drop_last=False, steps_per_epoch=None, validation_data=None, validation_split=0.0,
        validation_batch_size=None, validation_steps=None, callbacks=None, scheduler=None,
        scheduler_interval="epoch", scheduler_monitor=None, metrics=None, verbose=1,
        clip_grad_norm=None, clip_grad_value=None, augment=None, initial_epoch=0,
        generator=None, seed=None):
    """Train ``model`` on ``(x, y)`` with mini-batch gradient descent (Keras's ``fit``).

    Each epoch draws a new permutation of the samples (``shuffle``), runs forward, the
    loss, backward, adds regularization gradients (:mod:`pydl.regularizers`), clips
    gradients, and steps the optimizer for every batch; then evaluates the validation
    data, steps the scheduler and calls the callbacks. The model is in training mode
    for the batches and in eval mode (under ``no_grad``) for validation, eval mode
    being this thread's view only (no ``training`` flag is written for it); its mode
    at the call is restored at the end. The per-batch work is :func:`_train_step`.

    Batches are read one at a time, so ``x`` may be a memory-mapped array
    (``np.memmap``) larger than memory, or an iterable of ``(x_batch, y_batch)``
    pairs (a :class:`pydl.data.DataLoader`, a generator): memory stays bounded by
    the batch. An in-memory array is checked for NaN/infinity before training; a
    memory-mapped array or an iterable batch by batch as it is read (an error then
    comes after the earlier batches' updates, and names the batch).

    Parameters
    ----------
    model : pydl.nn.Module
    x : float ndarray (N, ...), np.memmap, or iterable of (x_batch, y_batch)
        Of the model's dtype. A re-iterable (``DataLoader``) is iterated anew each
        epoch; a one-shot iterator (a generator) is consumed across epochs, so give
        an endless one with ``steps_per_epoch``. ``shuffle``, ``batch_size`` and
        ``drop_last`` apply to arrays only (a ``DataLoader`` has its own).
    y : ndarray (N, ...), or None when ``x`` yields the targets
        Targets the loss accepts (class indices for cross-entropy).
    loss : loss module (``reduction="mean"``) or name
        ``"cross_entropy"``, ``"mse"`` or ``"bce_with_logits"``.
    optimizer : pydl.optim optimizer over the model's parameters
    epochs : int
        Index of the last epoch: trains epochs ``initial_epoch .. epochs - 1``.
    batch_size : int >= 1
    shuffle : bool
    drop_last : bool
        Drop the last batch of an epoch when it is smaller than ``batch_size`` (as
        ``DataLoader(drop_last=True)``). With a BatchNorm in the model, a one-sample
        batch is refused before any update, with an error that suggests this.
    steps_per_epoch : int, optional
        Batches per epoch; default one pass over ``x``. With arrays, the first
        ``steps_per_epoch`` batches of each epoch's order.
    validation_data : tuple (x_val, y_val) or iterable of batches, optional
    validation_split : float in [0, 1)
        Fraction of the samples (the last ones, before shuffling) held out for
        validation when ``validation_data`` is not given.
    validation_batch_size : int, optional
        Default ``batch_size``.
    validation_steps : int, optional
        Validation batches per epoch; default all.
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
        used during the epoch, group 0) to per-epoch lists. With regularizers,
        ``val_*`` includes ``val_data_loss`` and ``val_penalty`` (see :func:`evaluate`);
        the training ``loss`` is the running mean of the penalized batch losses.
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
    drop_last = bool(drop_last)
    steps_per_epoch = _check_steps(steps_per_epoch, "steps_per_epoch")
    validation_steps = _check_steps(validation_steps, "validation_steps")
    train, val = _validation_sources(_source(x, y, model, need_y=True), model,
                                     validation_data, validation_split)
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
    comm = _dp.active_comm()    # data-parallel when pydl.distributed has several ranks
    if comm is not None:
        train, val, verbose = _data_parallel_sources(train, val, batch_size, drop_last,
                                                     steps_per_epoch, verbose, comm)

    names = ["loss"] + [m.name for m in train_metrics]
    val_names = names + (["data_loss", "penalty"] if reg_entries else [])  # _run_eval's
    keys = names + ([f"val_{k}" for k in val_names] if val is not None else []) + ["lr"]
    for cb in callbacks:
        cb.check_monitor(set(keys))
    if plateau:
        scheduler_monitor = scheduler_monitor or ("val_loss" if val is not None else "loss")
        if scheduler_monitor not in keys:
            raise ValueError(f"scheduler_monitor {scheduler_monitor!r} is not logged; "
                             f"available: {keys}")
    batchnorms = _check_one_sample_batches(model, train, batch_size, drop_last,
                                           steps_per_epoch)

    steps = train.steps(batch_size, drop_last, steps_per_epoch)
    samples = train.n_samples()  # per epoch; None when unknown (a generator)
    if steps_per_epoch is not None and samples is not None:
        samples = (min(samples, steps * batch_size) if isinstance(train, _ArraySource)
                   else None)
    params = {"epochs": epochs, "steps": steps, "samples": samples,
              "batch_size": batch_size, "verbose": verbose, "metrics": keys,
              "generator": rng}
    history = History()
    cbs = CallbackList([history, *callbacks], model, optimizer, scheduler, params)
    history.params = params
    progress = Progress(verbose, epochs)
    parameters = list(model.parameters())
    train_model = model if comm is None else _dp.wrap_model(model)
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
            progress.epoch_begin(epoch, samples)
            loss_sum, seen = 0.0, 0
            start = time.perf_counter()

            def running_logs():
                logs = {"loss": loss_sum / max(seen, 1)}
                logs.update((m.name, m.result()) for m in train_metrics)
                return logs

            batches = train.epoch(batch_size, shuffle=shuffle, generator=rng,
                                  drop_last=drop_last, steps=steps_per_epoch, resume=True,
                                  comm=comm)
            for step, (xb, yb) in enumerate(batches):
                if augment is not None:
                    xb = augment(xb)
                n = len(xb)
                if n == 1 and batchnorms and comm is None:
                    raise _one_sample_error(batchnorms, f"batch {step} has one sample")
                cbs.on_train_batch_begin(step, {"size": n})
                out, batch_loss = _train_step(train_model, criterion, optimizer, xb, yb,
                                              parameters=parameters,
                                              reg_entries=reg_entries,
                                              clip_value=clip_value, clip_norm=clip_norm)
                if scheduler is not None and scheduler_interval == "step":
                    scheduler.step()
                loss_sum += batch_loss * n
                seen += n
                for m in train_metrics:
                    m.update(out, yb)
                cbs.on_train_batch_end(step, {"loss": batch_loss, "size": n})
                progress.batch_end(n if comm is None else n * comm.Get_size(), running_logs)
                if comm is not None:   # a callback on one rank stops every rank
                    model.stop_training = _dp.any_rank(model.stop_training, comm)
                if model.stop_training:
                    break
            seconds = time.perf_counter() - start
            logs = running_logs()
            if comm is not None:
                logs = _dp.average_logs(logs, seen)
                logs.update(_dp.merged_counts(train_metrics, comm))
                seen *= comm.Get_size()
            if val is not None:
                val_logs = _run_eval(model, val, criterion, val_metrics, val_batch_size,
                                     reg_entries, validation_steps)
                if comm is not None:
                    val_logs = _dp.average_logs(val_logs, val.n_samples() or 1)
                    val_logs.update(_dp.merged_counts(val_metrics, comm))
                logs.update((f"val_{k}", v) for k, v in val_logs.items())
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
            if comm is not None:
                model.stop_training = _dp.any_rank(model.stop_training, comm)
            if model.stop_training:
                break
        cbs.on_train_end({})
    finally:
        progress.close()
        model.train(was_training)
        if train_model is not model:
            # the wrapper fit made: its gradient hooks must not outlive this call (left
            # to the garbage collector, a later fit's backward would run this stale
            # wrapper's collectives on the ranks that had not collected it yet)
            train_model.remove_hooks()
    return history


def _data_parallel_sources(train, val, batch_size, drop_last, steps_per_epoch, verbose,
                           comm):
    """fit's sources under data parallelism: arrays are sharded per global batch
    (training) or split once (validation); iterables are each rank's own and must
    give every rank the same number of steps. Only rank 0 reports progress."""
    _dp.check_global_batch(batch_size, comm)
    if not isinstance(train, _ArraySource):
        steps = train.steps(batch_size, drop_last, steps_per_epoch)
        everyone = comm.allgather(steps)
        if steps is None or len(set(everyone)) > 1:
            raise ValueError(f"data-parallel fit over an iterable of batches needs the same "
                             f"known number of steps on every rank (steps per rank: "
                             f"{everyone}); pass steps_per_epoch, or arrays (then fit "
                             f"shards them)")
    # a set smaller than the ranks stays whole on each (a rank with no rows would
    # divide by zero samples)
    if isinstance(val, _ArraySource) and val.n_samples() >= comm.Get_size():
        val = val.rows(_dp.shard_rows(val.n_samples(), comm))
    return train, val, verbose if comm.Get_rank() == 0 else 0


def evaluate(model, x, y=None, *, loss=None, metrics=None, batch_size=32, steps=None):
    """Loss and metrics of ``model`` on ``(x, y)``, in eval mode without gradients.

    ``x`` may be an array, a memory-mapped array or an iterable of ``(x_batch,
    y_batch)`` pairs (then ``y`` is None), read one batch at a time; ``steps`` limits
    the number of batches. Eval mode is the calling thread's view only (no module's
    ``training`` flag is written), so threads may evaluate one model at once.

    The loss is the sample-weighted mean over batches plus the regularization penalty
    (as Keras reports it). Returns a dict, e.g. ``{"loss": 0.31, "accuracy": 0.92}``;
    for a model with regularizers (:mod:`pydl.regularizers`) it also holds
    ``data_loss``, the loss without the penalty (the cost to compare across models
    and training-set sizes), and ``penalty``, so ``loss = data_loss + penalty``.
    fit's validation logs hold the same keys with a ``val_`` prefix.
    """
    model = _check_model(model)
    criterion = None if loss is None else _check_loss(loss)
    trackers = make_metrics(metrics, criterion)
    if criterion is None and not trackers:
        raise ValueError("evaluate needs a loss or at least one metric")
    batch_size = check_positive_int(batch_size, "batch_size")
    steps = _check_steps(steps, "steps")
    source = _source(x, y, model, need_y=True)
    return _run_eval(model, source, criterion, trackers, batch_size,
                     _reg.regularized_parameters(model), steps)


def predict(model, x, *, batch_size=32, steps=None):
    """``model``'s outputs for ``x``, computed in batches in eval mode under ``no_grad``.

    ``x`` may be an array, a memory-mapped array (read one batch at a time) or an
    iterable of batches (``x_batch`` or ``(x_batch, ...)`` items, e.g. a
    ``DataLoader``); ``steps`` limits the number of batches. Eval mode is the calling
    thread's view only and nothing is written to the model, so threads may predict
    with one model at once and get the single-threaded result bitwise.

    Returns
    -------
    ndarray (N, ...)
        The batch outputs in order (a tuple of arrays for a model returning a tuple).
    """
    model = _check_model(model)
    batch_size = check_positive_int(batch_size, "batch_size")
    steps = _check_steps(steps, "steps")
    source = _source(x, None, model, need_y=False)
    total = source.n_samples()  # None when unknown (a generator)
    if steps is not None:
        total = (min(total, steps * batch_size) if isinstance(source, _ArraySource)
                 else None)
    outputs, result, filled = [], None, 0
    with eval_in_this_thread(), no_grad():
        for xb, _ in source.epoch(batch_size, steps=steps):
            out = _as_array(model(xb))
            if result is None and not outputs and total is not None \
                    and isinstance(out, np.ndarray):
                # one output array, filled batch by batch: no list and concatenation
                # holding the outputs twice
                check_fits_in_memory(total * out[:1].nbytes,
                                     f"the outputs (shape {(total,) + out.shape[1:]})")
                result = np.empty((total,) + out.shape[1:], out.dtype)
            if result is not None:
                if not isinstance(out, np.ndarray) or out.shape[1:] != result.shape[1:] \
                        or filled + len(out) > len(result):
                    raise ValueError(f"the model's output for a batch has shape "
                                     f"{np.shape(out)}, the earlier batches' "
                                     f"{(None,) + result.shape[1:]}, or more rows than "
                                     f"the {len(result)} samples")
                result[filled:filled + len(out)] = out
                filled += len(out)
            else:
                outputs.append(out)
    if result is not None:
        return result if filled == len(result) else result[:filled].copy()
    if isinstance(outputs[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*outputs))
    return np.concatenate(outputs)
