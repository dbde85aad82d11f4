"""Optimizer: parameter groups, per-parameter state, state_dict (after torch.optim)."""

import copy
import functools
import numbers
import signal
import threading

try:  # CPython's C module under signal: the same calls without the enum wrapping
    import _signal as _raw_signal
except ImportError:  # pragma: no cover
    _raw_signal = signal

import numpy as np

from ..nn.parameter import Parameter

__all__ = ["Optimizer", "deferred_interrupt"]

_defer_local = threading.local()
_SIGINT = int(signal.SIGINT)


class deferred_interrupt:
    """Hold back Ctrl-C (SIGINT) for the block: it takes effect when the block ends.

    In the main thread a temporary SIGINT handler records the signal; at the end of the
    block the previous handler is put back and, if a signal came, called with it (the
    default one raises ``KeyboardInterrupt``). Then an update such as
    ``Optimizer.step`` is applied whole or not at all. Nested blocks defer to the
    outermost. Elsewhere (other threads, where Python runs no signal handler, or where
    SIGINT is not handled from Python) the block runs as is.

    A class over the raw ``_signal`` calls: every optimizer step enters one, and the
    generator-based context with ``signal``'s enum conversions cost ~25 us a step.
    """

    __slots__ = ("_previous", "_received")

    def __enter__(self):
        self._previous = None
        if getattr(_defer_local, "active", False) \
                or threading.current_thread() is not threading.main_thread():
            return self
        try:
            previous = _raw_signal.getsignal(_SIGINT)
        except (AttributeError, ValueError):  # no SIGINT on this platform
            return self
        if previous is None:  # a handler installed outside Python: leave it alone
            return self
        received = self._received = []
        try:
            _raw_signal.signal(_SIGINT, lambda signum, frame: received.append(frame))
        except ValueError:  # not the main interpreter
            return self
        self._previous = previous
        _defer_local.active = True
        return self

    def __exit__(self, *exc):
        previous = self._previous
        if previous is None:
            return False
        self._previous = None
        _defer_local.active = False
        _raw_signal.signal(_SIGINT, previous)
        if self._received:
            _deliver(previous, self._received[0])
        return False


def _deliver(handler, frame):
    """Act on a held-back SIGINT as ``handler`` would have."""
    if callable(handler):
        handler(signal.SIGINT, frame)
    elif handler == signal.SIG_DFL:
        # the default action would have ended the process; stop as Python would
        raise KeyboardInterrupt
    # SIG_IGN: nothing


def _atomic_step(step):
    """Wrap an optimizer's ``step`` so that Ctrl-C waits for the step to end."""
    if getattr(step, "_pydl_atomic", False):
        return step

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        with deferred_interrupt():
            result = step(self, *args, **kwargs)
            self._mark_updated()
            return result

    wrapper._pydl_atomic = True
    return wrapper


class Optimizer:
    """Base class: holds parameter groups and per-parameter state.

    Parameters
    ----------
    params : iterable of Parameter, or of dicts
        Parameters to optimise, or parameter groups: dicts with a ``"params"`` entry
        and per-group hyper-parameters that override ``defaults``.
    defaults : dict
        Default hyper-parameters for every group.

    Subclasses implement ``_check_group(group)`` (validate hyper-parameters) and
    ``_update(param, group, state)`` (one fused kernel call per parameter).

    ``step`` is applied whole or not at all with respect to Ctrl-C: a SIGINT that
    arrives during a step raises ``KeyboardInterrupt`` once every parameter has been
    updated (:func:`deferred_interrupt`). A subclass that overrides ``step`` gets the
    same, its ``step`` is wrapped when the class is created.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _atomic_step(cls.__dict__["step"])

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        if isinstance(params, Parameter):
            raise TypeError("params must be an iterable of Parameters or of dicts, "
                            "not a single Parameter (wrap it in a list)")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group of parameters with its own hyper-parameters."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        params = [params] if isinstance(params, Parameter) else list(params or [])
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer can only optimize pydl.nn.Parameter objects, "
                                f"got {type(p).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group):
        raise NotImplementedError

    def _update(self, param, group, state):
        raise NotImplementedError

    def _mark_updated(self):
        """Count an in-place update of every parameter with a gradient (what a step
        updates), so that a graph recorded before the step refuses to backpropagate
        through the old values."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p._bump_version()

    def zero_grad(self, set_to_none=True):
        """Clear the gradients of every parameter this optimizer holds."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self, closure=None):
        """Update every parameter that has a gradient.

        ``closure``, if given, is called first (it should run forward and backward and
        return the loss) and its result is returned. Ctrl-C during the step takes
        effect at its end.
        """
        loss = closure() if closure is not None else None
        with deferred_interrupt():
            for group in self.param_groups:
                self._step_group(group)
        return loss

    step._pydl_atomic = True  # the updates are deferred_interrupt()'s; the closure is not

    def _step_group(self, group):
        """Update the group's parameters that have a gradient, in order: ``_update``
        each, then count the in-place change. A subclass may do the same with less
        per-parameter work (SGD does), if ``_update`` is its own."""
        state = self.state
        for p in group["params"]:
            if p.grad is None:
                continue
            self._update(p, group, state.setdefault(p, {}))
            p._bump_version()

    def state_dict(self):
        """Hyper-parameters and state, with parameters named by their index (PyTorch's
        layout): ``{"state": {i: {...}}, "param_groups": [{..., "params": [i, ...]}]}``.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state saved by :meth:`state_dict`."""
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if groups is None or "state" not in state_dict:
            raise ValueError("optimizer state_dict must have 'state' and 'param_groups'")
        if len(groups) != len(self.param_groups):
            raise ValueError(f"loaded state_dict has {len(groups)} parameter groups, this "
                             f"optimizer has {len(self.param_groups)}")
        for saved, group in zip(groups, self.param_groups):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"a loaded parameter group has {len(saved['params'])} "
                                 f"parameters, this optimizer's has {len(group['params'])}")
        by_index = {}
        for saved, group in zip(groups, self.param_groups):
            for i, p in zip(saved["params"], group["params"]):
                by_index[int(i)] = p
        new_state = {}
        for i, entries in state_dict["state"].items():
            p = by_index.get(int(i))
            if p is None:
                raise ValueError(f"state for parameter index {i} has no parameter")
            restored = {}
            for key, value in entries.items():
                if key == "step":
                    restored[key] = _as_step(value, i)
                elif isinstance(value, np.ndarray) and value.shape == p.shape:
                    restored[key] = np.array(value, dtype=p.dtype, order="C")
                elif isinstance(value, np.ndarray) and value.ndim > 0:
                    raise ValueError(f"state {key!r} of parameter {i} has shape {value.shape}, "
                                     f"the parameter has {p.shape}")
                else:
                    restored[key] = value.item() if isinstance(value, np.ndarray) else value
            new_state[p] = restored
        new_groups = []
        for saved, group in zip(groups, self.param_groups):
            g = {k: v for k, v in saved.items() if k != "params"}
            g = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in g.items()}
            for key, value in self.defaults.items():
                g.setdefault(key, value)
            g["params"] = group["params"]
            self._check_group(g)
            new_groups.append(g)
        self.param_groups = new_groups
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(k for k in group if k != "params"):
                lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)


def check_hyper(group, name, *, low=None, high=None, low_open=False, high_open=False):
    """Validate ``group[name]`` as a finite real within bounds (ValueError/TypeError)."""
    value = group[name]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"invalid {name}: {value} (must be finite)")
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"invalid {name}: {value} (must be {'>' if low_open else '>='} {low})")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"invalid {name}: {value} (must be {'<' if high_open else '<='} {high})")
    group[name] = v


def check_betas(group):
    """Validate ``group["betas"]``: a pair of reals, each in [0, 1)."""
    betas = group["betas"]
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    pair = {"betas[0]": betas[0], "betas[1]": betas[1]}
    for name in pair:
        check_hyper(pair, name, low=0.0, high=1.0, high_open=True)
    group["betas"] = (pair["betas[0]"], pair["betas[1]"])


def _as_step(value, index):
    """A step count from a state dict (PyTorch keeps it as a 0-d float tensor)."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not np.isfinite(value) or value < 0 or value != int(value):
        raise ValueError(f"state 'step' of parameter {index} must be a whole number >= 0, "
                         f"got {value!r}")
    return int(value)
