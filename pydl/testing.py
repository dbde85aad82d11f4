"""Finite-difference gradient checks for modules, losses and functions (float64).

:func:`gradcheck` compares the gradients a module's ``backward`` returns (and
accumulates into its parameters) with central differences of its ``forward``. Each
checked element costs two forward passes, so check small shapes.
"""

import numpy as np

from ._grad_mode import enable_grad
from .nn.loss import _Loss
from .nn.module import Module

__all__ = ["gradcheck", "check_function_grad", "tape_gradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree."""


def _flatten(out):
    """Flatten nested tuples/lists of arrays (e.g. LSTM's ``(y, (h, c))``)."""
    if isinstance(out, (tuple, list)):
        flat = []
        for o in out:
            flat.extend(_flatten(o))
        return flat
    return [out]


def _unflatten(flat, like):
    """Rebuild the nesting of ``like`` from the flat list ``flat`` (consumed)."""
    if isinstance(like, (tuple, list)):
        return type(like)(_unflatten(flat, o) for o in like)
    return flat.pop(0)


def _select(size, max_elements, rng):
    if max_elements is None or size <= max_elements:
        return np.arange(size)
    return np.sort(rng.choice(size, max_elements, replace=False))


def _central_differences(arr, idx, objective, eps):
    """``d objective / d arr.flat[i]`` for each ``i`` in ``idx``, perturbing ``arr`` in
    place (and restoring it)."""
    num = np.empty(idx.size)
    for j, i in enumerate(idx):
        orig = arr.flat[i]
        arr.flat[i] = orig + eps
        f_plus = objective()
        arr.flat[i] = orig - eps
        f_minus = objective()
        arr.flat[i] = orig
        num[j] = (f_plus - f_minus) / (2 * eps)
    return num


def _compare(name, analytic, numeric, atol, rtol):
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    err = np.abs(analytic - numeric)
    bad = err > atol + rtol * np.abs(numeric)
    if np.any(bad):
        i = int(np.argmax(err - (atol + rtol * np.abs(numeric))))
        raise GradcheckError(
            f"gradient mismatch for {name}: {int(bad.sum())} of {bad.size} checked elements "
            f"differ; worst at checked element {i}: analytic {analytic.flat[i]:.8g}, "
            f"numeric {numeric.flat[i]:.8g} (atol={atol}, rtol={rtol})")


def check_function_grad(forward, backward, inputs, *, eps=1e-6, atol=1e-6, rtol=1e-4,
                        max_elements=None, seed=0):
    """Check ``backward`` against central differences of ``forward``.

    Parameters
    ----------
    forward : callable
        ``forward(*inputs)`` returns an array or a (nested) tuple of arrays.
    backward : callable
        ``backward(grads)`` gets upstream gradients shaped like forward's output (same
        nesting) and returns the gradient for each input, as a tuple (None for inputs
        with no gradient); a single array when there is one input.
    inputs : list of float64 ndarrays
    eps, atol, rtol : float
        Step and tolerances: ``|analytic - numeric| <= atol + rtol * |numeric|``.
    max_elements : int, optional
        Check at most this many random elements per input.
    seed : int
        For the upstream gradients and the element sample.

    Raises
    ------
    GradcheckError
    """
    rng = np.random.default_rng(seed)
    inputs = [np.array(x, dtype=np.float64) for x in inputs]
    out = forward(*inputs)
    flat_out = [np.asarray(o, dtype=np.float64) for o in _flatten(out)]
    upstream = [rng.standard_normal(o.shape) for o in flat_out]
    grads = backward(_unflatten(list(upstream), out))
    if len(inputs) == 1 and not isinstance(grads, (tuple, list)):
        grads = (grads,)

    def objective(*xs):
        return sum(float(np.sum(np.asarray(o, np.float64) * u))
                   for o, u in zip(_flatten(forward(*xs)), upstream))

    for k, (x, g) in enumerate(zip(inputs, grads)):
        if g is None:
            continue
        idx = _select(x.size, max_elements, rng)
        numeric = _central_differences(x, idx, lambda: objective(*inputs), eps)
        _compare(f"input {k}", np.asarray(g).reshape(-1)[idx], numeric, atol, rtol)
    return True


def _explicit_gradients(module, run, xs, rng, is_loss):
    """Input gradients from the module's own backward, and the upstream gradients."""
    out = run(*xs)
    flat_out = [np.asarray(o, dtype=np.float64) for o in _flatten(out)]
    upstream = [rng.standard_normal(o.shape) if o.ndim else np.float64(1.0)
                for o in flat_out]
    if is_loss:
        g_up = upstream[0] if module.reduction == "none" else 1.0
        if module.reduction != "none":
            upstream = [np.float64(1.0)]
        grads = module.backward(g_up)
    else:
        grads = module.backward(_unflatten(list(upstream), out))
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    return grads, upstream


def _backward_of_weighted_sum(outputs, upstream):
    """``backward()`` of ``sum_k sum(outputs[k] * upstream[k])`` through the tape (an
    output whose upstream is None takes no part)."""
    total = None
    for o, u in zip(outputs, upstream):
        if u is not None:
            term = (o * u).sum()
            total = term if total is None else total + term
    if total is None:
        raise GradcheckError("tape: the output does not depend on anything that requires "
                             "grad")
    total.backward()


def _tape_gradients(module, xs, originals, target, is_loss, rng):
    """Input gradients through the autograd tape, and the upstream gradients."""
    from .autograd.tensor import Tensor
    def as_tensor(x, original):
        if isinstance(original, (tuple, list)):       # (h, c): a tuple of tensors again
            return tuple(as_tensor(x[i], o) for i, o in enumerate(original))
        if isinstance(x, np.ndarray):
            return Tensor(x, requires_grad=x.dtype.kind == "f")
        return x

    def grad_of(t):
        if isinstance(t, tuple):
            parts = [grad_of(p) for p in t]
            return None if any(p is None for p in parts) else np.stack(parts)
        return t.grad if isinstance(t, Tensor) else None

    ts = [as_tensor(x, o) for x, o in zip(xs, originals)]
    out = module(*ts, target) if is_loss else module(*ts)
    flat_out = _flatten(out)
    upstream = [None if not isinstance(o, Tensor) or o.dtype.kind != "f"   # indices
                else rng.standard_normal(o.shape) if o.ndim else np.float64(1.0)
                for o in flat_out]
    _backward_of_weighted_sum(flat_out, upstream)
    grads = [grad_of(t) for t in ts]
    return grads, upstream


def gradcheck(module, *inputs, target=None, eps=1e-6, atol=1e-6, rtol=1e-4,
              check_inputs=True, check_params=True, max_elements=None, seed=0, tape=None):
    """Check a module's (or loss's) backward against central differences.

    For a layer or model: with random upstream gradients ``u`` it checks the
    gradients of ``sum(forward(*inputs) * u)`` with respect to every float input and
    every parameter that requires grad. For a loss (``input, target``): the gradient
    of the loss with respect to ``input``.

    The module should be float64 (``module.double()``) and deterministic in its
    forward pass (dropout in eval mode, or a fixed mask).

    Parameters
    ----------
    module : pydl.nn.Module
    *inputs : ndarray
        Forward inputs (float64). Integer inputs (indices) are passed through unchecked.
    target : ndarray, optional
        The target, when ``module`` is a loss.
    check_inputs, check_params : bool
    max_elements : int, optional
        Check at most this many random elements per input and per parameter.
    tape : bool or None
        True: take the analytic gradients through the autograd tape (inputs as
        :class:`pydl.Tensor`, ``backward()`` on ``sum(output * u)``); False: from the
        module's explicit ``backward``; None (default): both, each checked (the tape
        alone for a module that defines only ``forward``).

    Returns
    -------
    True, or raises :class:`GradcheckError`.
    """
    if not isinstance(module, Module):
        raise TypeError(f"gradcheck needs a pydl.nn.Module, got {type(module).__name__}")
    modes = [tape] if tape is not None else ([False, True] if module._explicit() else [True])
    for mode in modes:
        _gradcheck_once(module, inputs, target, eps, atol, rtol, check_inputs, check_params,
                        max_elements, seed, mode)
    return True


def _gradcheck_once(module, inputs, target, eps, atol, rtol, check_inputs, check_params,
                    max_elements, seed, tape):
    path = "tape" if tape else "explicit backward"
    rng = np.random.default_rng(seed)
    is_loss = isinstance(module, _Loss)
    if is_loss and target is None:
        raise ValueError("gradcheck of a loss needs target=")
    xs = [np.array(x, dtype=np.float64) if np.asarray(x).dtype.kind == "f" else x
          for x in inputs]
    params = [(n, p) for n, p in module.named_parameters() if p.requires_grad] \
        if check_params else []
    for n, p in module.named_parameters():
        if p.dtype != np.float64:
            raise ValueError(f"gradcheck needs a float64 module (parameter {n!r} is "
                             f"{p.dtype}); call module.double() first")

    def run(*args):
        return module(*args, target) if is_loss else module(*args)

    with enable_grad():
        module.zero_grad()
        module.clear_saved()     # forward passes run before the check
        if tape:
            grads, upstream = _tape_gradients(module, xs, inputs, target, is_loss, rng)
        else:
            grads, upstream = _explicit_gradients(module, run, xs, rng, is_loss)
        param_grads = {n: (None if p.grad is None else p.grad.copy()) for n, p in params}

    def objective():
        with enable_grad():
            res = run(*xs)
        return sum(float(np.sum(np.asarray(o, np.float64) * u))
                   for o, u in zip(_flatten(res), upstream) if u is not None)

    def numeric_grad(arr, idx):
        return _central_differences(arr, idx, objective, eps)

    if check_inputs:
        for k, x in enumerate(xs):
            if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
                continue
            g = grads[k] if k < len(grads) else None
            if g is None:
                raise GradcheckError(f"{path}: no gradient for input {k}")
            g = np.asarray(g)
            if g.shape != x.shape:
                raise GradcheckError(f"gradient for input {k} has shape {g.shape}, "
                                     f"input has {x.shape}")
            idx = _select(x.size, max_elements, rng)
            _compare(f"input {k} ({path})", g.reshape(-1)[idx], numeric_grad(x, idx), atol,
                     rtol)
    for name, p in params:
        g = param_grads[name]
        if g is None:
            raise GradcheckError(f"{path} left no gradient in parameter {name!r}")
        if g.shape != p.shape:
            raise GradcheckError(f"gradient of {name!r} has shape {g.shape}, "
                                 f"the parameter has {p.shape}")
        idx = _select(p.size, max_elements, rng)
        _compare(f"parameter {name!r} ({path})", g.reshape(-1)[idx],
                 numeric_grad(p.data, idx), atol, rtol)


def tape_gradcheck(fn, *inputs, eps=1e-6, atol=1e-6, rtol=1e-4, max_elements=None, seed=0):
    """Check the tape's gradients of ``fn`` (written with tensor ops) against central
    differences.

    Parameters
    ----------
    fn : callable
        ``fn(*tensors)`` returns a :class:`pydl.Tensor` or a list/tuple of them.
    *inputs : ndarray
        float64 inputs (each becomes a tensor that requires grad); other values are
        passed as they are.

    Returns
    -------
    True, or raises :class:`GradcheckError`.
    """
    from ._grad_mode import no_grad
    from .autograd.tensor import Tensor
    rng = np.random.default_rng(seed)
    xs = [np.array(x, dtype=np.float64) if isinstance(x, np.ndarray) and x.dtype.kind == "f"
          else x for x in inputs]
    ts = [Tensor(x, requires_grad=True) if isinstance(x, np.ndarray) and x.dtype.kind == "f"
          else x for x in xs]
    with enable_grad():
        out = _flatten(fn(*ts))
        upstream = [rng.standard_normal(o.shape) for o in out]
        _backward_of_weighted_sum(out, upstream)

    def objective():
        with no_grad():
            res = _flatten(fn(*[Tensor(x) if isinstance(x, np.ndarray) and x.dtype.kind == "f"
                                else x for x in xs]))
        return sum(float(np.sum(np.asarray(o, np.float64) * u)) for o, u in zip(res, upstream))

    for k, (x, t) in enumerate(zip(xs, ts)):
        if not isinstance(t, Tensor):
            continue
        if t.grad is None:
            raise GradcheckError(f"tape: no gradient for input {k}")
        idx = _select(x.size, max_elements, rng)
        _compare(f"input {k}", t.grad.reshape(-1)[idx],
                 _central_differences(x, idx, objective, eps), atol, rtol)
    return True
