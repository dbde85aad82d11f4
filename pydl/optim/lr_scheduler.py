"""Learning-rate schedules, after ``torch.optim.lr_scheduler``.

A scheduler rewrites ``group["lr"]`` of its optimizer's parameter groups each time
:meth:`LRScheduler.step` is called (once per epoch, or once per batch for warmup),
after ``optimizer.step()``. The values equal PyTorch's: each schedule uses PyTorch's
recursive ("chainable") update, in which the new rate is computed from the group's
current one, so two schedulers on one optimizer compose, and the floating-point
results match PyTorch's step for step.

Schedulers here: :class:`LambdaLR`, :class:`StepLR`, :class:`MultiStepLR`,
:class:`ExponentialLR`, :class:`CosineAnnealingLR`, :class:`LinearLR` (warmup),
:class:`SequentialLR` (e.g. warmup then cosine) and :class:`ReduceLROnPlateau`.
"""

import bisect
import copy
import math
import types
from collections import Counter

from ..functional._validation import check_int, check_real
from .optimizer import Optimizer

__all__ = ["LRScheduler", "LambdaLR", "StepLR", "MultiStepLR", "ExponentialLR",
           "CosineAnnealingLR", "LinearLR", "SequentialLR", "ReduceLROnPlateau"]


def _check_optimizer(optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a pydl.optim.Optimizer, "
                        f"got {type(optimizer).__name__}")


def _per_group(value, name, optimizer):
    """One value per parameter group: a list as long as the groups, or one for all."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{name} has {len(value)} entries but the optimizer has "
                             f"{len(optimizer.param_groups)} parameter groups")
        return list(value)
    return [value] * len(optimizer.param_groups)


class LRScheduler:
    """Base class: adjusts ``group["lr"]`` of every parameter group on each step.

    Parameters
    ----------
    optimizer : Optimizer
    last_epoch : int, default -1
        The index of the last epoch done; -1 starts a new schedule (each group's
        current ``lr`` is stored as its ``"initial_lr"``). A value >= 0 resumes a
        schedule and needs ``"initial_lr"`` in every group (from the optimizer's
        restored state dict).

    Attributes
    ----------
    base_lrs : list of float
        Each group's ``initial_lr``.
    last_epoch : int
        Number of :meth:`step` calls since the start of the schedule.

    Subclasses implement ``get_lr()`` (the rates for ``last_epoch``, computed from
    the groups' current rates) and ``_closed_form()`` (the same from ``base_lrs``
    alone, used when :meth:`step` is given an explicit epoch).
    """

    def __init__(self, optimizer, last_epoch=-1):
        _check_optimizer(optimizer)
        last_epoch = check_int(last_epoch, "last_epoch", low=-1)
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise ValueError(f"param_groups[{i}] has no 'initial_lr': resuming a "
                                 f"schedule (last_epoch={last_epoch}) needs the optimizer "
                                 f"state of the run it continues")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self):
        """The step every scheduler takes on creation (to epoch ``last_epoch + 1``)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self):
        """The rates for ``last_epoch`` (called by :meth:`step`; use
        :meth:`get_last_lr` to read the current rates)."""
        raise NotImplementedError

    def _closed_form(self):
        return self.get_lr()

    def _current(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self, epoch=None):
        """Advance the schedule by one epoch (or jump to ``epoch``) and set the rates.

        Call it after ``optimizer.step()``.
        """
        self._step_count += 1
        self._update_lr(epoch)

    def _update_lr(self, epoch=None):
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = check_int(epoch, "epoch", low=0)
            values = self._closed_form()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = self._current()

    def get_last_lr(self):
        """The rates set by the last step, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self):
        """The schedule's state (everything but the optimizer), plain Python values."""
        return {k: (copy.copy(v) if isinstance(v, (list, dict)) else v)
                for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore a state returned by :meth:`state_dict`."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
        self.__dict__.update(state_dict)

    def __repr__(self):
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr})"


class LambdaLR(LRScheduler):
    """``lr = initial_lr * lr_lambda(epoch)``.

    Parameters
    ----------
    optimizer : Optimizer
    lr_lambda : callable or list of callables
        ``epoch -> factor``; a list gives one per parameter group.
    last_epoch : int, default -1

    The functions are not part of :meth:`state_dict` (only the attributes of
    callable objects that are not plain functions, as in PyTorch).
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        _check_optimizer(optimizer)
        self.lr_lambdas = _per_group(lr_lambda, "lr_lambda", optimizer)
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"lr_lambda must be callable, got {type(fn).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self):
        state = super().state_dict()
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else dict(vars(fn))
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        saved = state.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        super().load_state_dict(state)
        for fn, attrs in zip(self.lr_lambdas, saved):
            if attrs is not None:
                vars(fn).update(attrs)


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    Parameters
    ----------
    optimizer : Optimizer
    step_size : int >= 1
    gamma : float >= 0, default 0.1
    last_epoch : int, default -1
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size = check_int(step_size, "step_size", low=1)
        self.gamma = check_real(gamma, "gamma", low=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return self._current()
        return [lr * self.gamma for lr in self._current()]

    def _closed_form(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size)
                for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the rate by ``gamma`` at each milestone epoch.

    Parameters
    ----------
    optimizer : Optimizer
    milestones : iterable of int >= 0
        Epochs at which to decay (a repeated milestone decays more than once).
    gamma : float >= 0, default 0.1
    last_epoch : int, default -1
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
            raise TypeError(f"milestones must be a list of ints, got "
                            f"{type(milestones).__name__}")
        self.milestones = Counter(check_int(m, f"milestones[{i}]", low=0)
                                  for i, m in enumerate(milestones))
        self.gamma = check_real(gamma, "gamma", low=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        count = self.milestones.get(self.last_epoch, 0)
        if not count:
            return self._current()
        return [lr * self.gamma ** count for lr in self._current()]

    def _closed_form(self):
        passed = bisect.bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch.

    Parameters
    ----------
    optimizer : Optimizer
    gamma : float >= 0
    last_epoch : int, default -1
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = check_real(gamma, "gamma", low=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._current()
        return [lr * self.gamma for lr in self._current()]

    def _closed_form(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the initial rate down to ``eta_min`` over ``T_max`` epochs:

        lr(t) = eta_min + (initial_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2

    computed recursively as PyTorch does (so that it chains with other schedulers);
    past ``T_max`` the rate rises again along the cosine (no restart).

    Parameters
    ----------
    optimizer : Optimizer
    T_max : int >= 1
        Half-period in epochs.
    eta_min : float >= 0, default 0
    last_epoch : int, default -1
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max = check_int(T_max, "T_max", low=1)
        self.eta_min = check_real(eta_min, "eta_min", low=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current()
        if self._step_count == 1 and t > 0:  # resumed at last_epoch: jump there
            return self._closed_form()
        if (t - 1 - T) % (2 * T) == 0:  # the trough: the ratio below would be 0/0
            return [lr + (base - lo) * (1 - math.cos(math.pi / T)) / 2
                    for lr, base in zip(self._current(), self.base_lrs)]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (lr - lo) + lo for lr in self._current()]

    def _closed_form(self):
        lo = self.eta_min
        return [lo + (base - lo) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the rate linearly from ``start_factor`` to ``end_factor`` times the
    initial rate over ``total_iters`` steps, then keep it (linear warmup).

    Parameters
    ----------
    optimizer : Optimizer
    start_factor : float in (0, 1], default 1/3
    end_factor : float in [0, 1], default 1
    total_iters : int >= 1, default 5
    last_epoch : int, default -1
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1):
        self.start_factor = check_real(start_factor, "start_factor", low=0.0, high=1.0,
                                       low_open=True)
        self.end_factor = check_real(end_factor, "end_factor", low=0.0, high=1.0)
        self.total_iters = check_int(total_iters, "total_iters", low=1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, s, e, n = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
        if t == 0:
            return [lr * s for lr in self._current()]
        if self._is_initial or t > n:
            return self._current()
        factor = 1.0 + (e - s) / (n * s + (t - 1) * (e - s))
        return [lr * factor for lr in self._current()]

    def _closed_form(self):
        s, e, n = self.start_factor, self.end_factor, self.total_iters
        return [base * (s + (e - s) * min(n, self.last_epoch) / n) for base in self.base_lrs]


class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after another, switching at the ``milestones`` epochs.

    The common use is a warmup then a decay::

        warmup = LinearLR(opt, start_factor=0.1, total_iters=5)
        cosine = CosineAnnealingLR(opt, T_max=95)
        sched = SequentialLR(opt, [warmup, cosine], milestones=[5])

    Each scheduler after the first starts from the initial rates at its milestone.

    Parameters
    ----------
    optimizer : Optimizer
    schedulers : list of LRScheduler
        Built on ``optimizer`` (not ReduceLROnPlateau).
    milestones : list of int
        One fewer than ``schedulers``, increasing.
    last_epoch : int, default -1
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        _check_optimizer(optimizer)
        schedulers, milestones = list(schedulers), list(milestones)
        if not schedulers:
            raise ValueError("SequentialLR needs at least one scheduler")
        for i, s in enumerate(schedulers):
            if isinstance(s, ReduceLROnPlateau) or not isinstance(s, LRScheduler):
                raise TypeError(f"schedulers[{i}] must be a scheduler other than "
                                f"ReduceLROnPlateau, got {type(s).__name__}")
            if s.optimizer is not optimizer:
                raise ValueError(f"schedulers[{i}] belongs to another optimizer")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR needs one milestone fewer than schedulers: got "
                             f"{len(schedulers)} schedulers and {len(milestones)} milestones")
        milestones = [check_int(m, f"milestones[{i}]", low=1) for i, m in enumerate(milestones)]
        if milestones != sorted(milestones):
            raise ValueError(f"milestones must be increasing, got {milestones}")
        self.optimizer = optimizer
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = check_int(last_epoch, "last_epoch", low=-1) + 1
        # Building each scheduler took its initial step; restart from the initial rates
        # with the first scheduler's initial step only.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        _undo_initial_steps(self)
        first = schedulers[bisect.bisect_right(milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self):
        """Advance one epoch: the active scheduler steps, or (at a milestone) the next
        one starts from the initial rates."""
        self.last_epoch += 1
        i = bisect.bisect_right(self._milestones, self.last_epoch)
        active = self._schedulers[i]
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            active._update_lr(0)
        else:
            active.step()
        self._last_lr = active.get_last_lr()

    def state_dict(self):
        state = super().state_dict()
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        inner = state.pop("_schedulers", None)
        if inner is None or len(inner) != len(self._schedulers):
            raise ValueError("state_dict does not hold one state per scheduler")
        super().load_state_dict(state)
        for s, st in zip(self._schedulers, inner):
            s.load_state_dict(st)


def _undo_initial_steps(scheduler):
    """Take back the initial step of every scheduler inside a SequentialLR."""
    for s in scheduler._schedulers:
        if isinstance(s, SequentialLR):
            _undo_initial_steps(s)
        else:
            s.last_epoch -= 1


class ReduceLROnPlateau(LRScheduler):
    """Divide the rate by ``1 / factor`` when a metric stops improving.

    ``step(metric)`` is called once per epoch with the monitored value (e.g. the
    validation loss). After more than ``patience`` epochs without improvement, each
    group's rate becomes ``max(lr * factor, min_lr)`` (unless that changes it by no
    more than ``eps``), then ``cooldown`` epochs pass before bad epochs count again.

    Parameters
    ----------
    optimizer : Optimizer
    mode : {"min", "max"}, default "min"
        Whether the metric should fall (a loss) or rise (an accuracy).
    factor : float in [0, 1), default 0.1
    patience : int >= 0, default 10
    threshold : float >= 0, default 1e-4
        Smallest change that counts as an improvement.
    threshold_mode : {"rel", "abs"}, default "rel"
        "rel": better than ``best * (1 -/+ threshold)``; "abs": ``best -/+ threshold``.
    cooldown : int >= 0, default 0
    min_lr : float >= 0 or list of float, default 0
        Lower bound on the rate (per group with a list).
    eps : float >= 0, default 1e-8
        Smaller rate changes are skipped.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        self.factor = check_real(factor, "factor", low=0.0, high=1.0, high_open=True)
        self.patience = check_int(patience, "patience", low=0)
        self.cooldown = check_int(cooldown, "cooldown", low=0)
        self.eps = check_real(eps, "eps", low=0.0)
        self.min_lrs = [check_real(m, "min_lr", low=0.0)
                        for m in _per_group(min_lr, "min_lr", optimizer)]
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else self.min_lrs[0]
        self._init_is_better(mode, threshold, threshold_mode)
        self.last_epoch = 0
        self._last_lr = self._current()
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def _init_is_better(self, mode, threshold, threshold_mode):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.mode = mode
        self.threshold = check_real(threshold, "threshold", low=0.0)
        self.threshold_mode = threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def is_better(self, current, best):
        """Whether ``current`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            bound = best * (1.0 - self.threshold) if self.threshold_mode == "rel" \
                else best - self.threshold
            return current < bound
        bound = best * (self.threshold + 1.0) if self.threshold_mode == "rel" \
            else best + self.threshold
        return current > bound

    def step(self, metrics, epoch=None):
        """Record this epoch's ``metrics`` (a real number) and reduce the rate if it
        has stopped improving."""
        try:
            if isinstance(metrics, (str, bytes)):
                raise TypeError
            current = float(metrics)  # also a 0-d array
        except (TypeError, ValueError):
            raise TypeError(f"metrics must be a real number, got "
                            f"{type(metrics).__name__}") from None
        self.last_epoch = self.last_epoch + 1 if epoch is None else check_int(epoch, "epoch")
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current()

    def _reduce_lr(self):
        groups = self.optimizer.param_groups
        if len(self.min_lrs) != len(groups):
            if self.default_min_lr is None:
                raise ValueError(f"the optimizer now has {len(groups)} parameter groups but "
                                 f"min_lr has {len(self.min_lrs)} entries; update min_lrs")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)
