"""Malformed input, fuzzed (issue 7): every public functional op and module, called with
one argument broken at a time, either returns a correct result or raises ValueError or
TypeError. Never a crash, a hang, a MemoryError or a silently wrong answer.

Each op registers one small valid call in FUZZ_CALLS (``tests/cases_<family>.py``).
Hypothesis picks an argument and a way to break it:

- the same values in another layout (non-contiguous, Fortran order, read-only, a list):
  the result, and every array argument afterwards (in-place updates), must equal the
  valid call's, or the call raises;
- another dtype (int, bool, float16, the other float width, object, complex): the result
  must equal the valid call on the converted values, or the call raises; complex values
  (imaginary part 1) must raise unless the op passes them through unchanged in kind
  (a reshape): computing on the real part alone would be silently wrong;
- integer arrays given negative or huge values: any result or ValueError/TypeError
  (labels of a metric may be any integers; that index arguments refuse them is tested
  per op, where the valid range is known);
- 0-size, huge (a 2**40-element broadcast view), wrong ndim, NaN/inf: any result or
  ValueError/TypeError, and nothing else;
- scalars replaced by NaN, inf, negative, zero, huge, None: any result or
  ValueError/TypeError; by a string, complex number or list: must raise.

The number of calls made is printed at the end of the run (tests/conftest.py).
"""

import faulthandler
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pydl
from pydl.nn import Module

from ._registry import collect

FUZZ_CALLS = collect("FUZZ_CALLS")
EXAMPLES_PER_OP = 25
HANG_SECONDS = 120
CALLS = {"count": 0, "ops": set()}
ALLOWED = (ValueError, TypeError)


def _same_values(mutate):
    return ("same", mutate)


def _noncontiguous(a):
    if a.ndim == 0:
        return a
    wide = np.repeat(a, 2, axis=-1)
    return wide[..., ::2]


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _one_element(a, value):
    a = np.array(a, copy=True)
    if a.size:
        a.reshape(-1)[a.size // 2] = value
    return a


def _huge(a):
    shape = (2**40 // max(1, int(np.prod(a.shape[1:], dtype=np.int64))),) + a.shape[1:]
    return np.broadcast_to(np.zeros((1,) + a.shape[1:], a.dtype), shape)


def _drop_dim(a):
    return a.reshape(-1) if a.ndim >= 2 else (a[0] if a.ndim == 1 and a.size else a.reshape(()))


FLOAT_ARRAY_MUTATIONS = {
    "noncontiguous": _same_values(_noncontiguous),
    "fortran": _same_values(np.asfortranarray),
    "readonly": _same_values(_readonly),
    "list": ("list", lambda a: a.tolist()),  # the same values, possibly computed in float64
    "int64": ("dtype", lambda a: a.astype(np.int64)),
    "int32": ("dtype", lambda a: a.astype(np.int32)),
    "bool": ("dtype", lambda a: a.astype(bool)),
    "float16": ("dtype", lambda a: a.astype(np.float16)),
    "other-float": ("dtype", lambda a: a.astype(np.float64 if a.dtype == np.float32
                                                 else np.float32)),
    "object": ("dtype", lambda a: a.astype(object)),
    "complex": ("complex", lambda a: a.astype(np.complex64) + 1j),
    "empty": ("any", lambda a: a[:0] if a.ndim else a.reshape(1)[:0]),
    "huge": ("any", _huge),
    "add-dim": ("any", lambda a: a[None]),
    "drop-dim": ("any", _drop_dim),
    "nan": ("any", lambda a: _one_element(a, np.nan)),
    "inf": ("any", lambda a: _one_element(a, np.inf)),
    "none": ("any", lambda a: None),
}
INT_ARRAY_MUTATIONS = {
    "noncontiguous": _same_values(_noncontiguous),
    "readonly": _same_values(_readonly),
    "negative": ("any", lambda a: _one_element(a, -7)),
    "huge-index": ("any", lambda a: _one_element(a, 2**40)),
    "float": ("dtype", lambda a: a.astype(np.float32)),
    "complex": ("complex", lambda a: a.astype(np.complex64) + 1j),
    "empty": ("any", lambda a: a[:0] if a.ndim else a.reshape(1)[:0]),
    "add-dim": ("any", lambda a: a[None]),
    "drop-dim": ("any", _drop_dim),
}
# A boolean array is a mask: another dtype may legitimately mean something else
# (PyTorch's float attention mask is added, a bool one selects), so only "any".
BOOL_ARRAY_MUTATIONS = {
    "noncontiguous": _same_values(_noncontiguous),
    "fortran": _same_values(np.asfortranarray),
    "readonly": _same_values(_readonly),
    "int64": ("any", lambda a: a.astype(np.int64)),
    "float32": ("any", lambda a: a.astype(np.float32)),
    "object": ("any", lambda a: a.astype(object)),
    "empty": ("any", lambda a: a[:0] if a.ndim else a.reshape(1)[:0]),
    "add-dim": ("any", lambda a: a[None]),
    "drop-dim": ("any", _drop_dim),
}
SCALAR_MUTATIONS = {
    "nan": ("any", float("nan")), "inf": ("any", float("inf")), "negative": ("any", -3),
    "zero": ("any", 0), "huge": ("any", 10**12), "none": ("any", None),
    "string": ("raise", "x"), "complex": ("raise", 1j), "list": ("raise", [1.0]),
}


def _is_int_array(a):
    return isinstance(a, np.ndarray) and a.dtype.kind in "iu"


def _mutations_for(value):
    if isinstance(value, np.ndarray):
        if value.dtype == bool:
            return BOOL_ARRAY_MUTATIONS
        return INT_ARRAY_MUTATIONS if _is_int_array(value) else FLOAT_ARRAY_MUTATIONS
    if isinstance(value, (bool, np.bool_)):
        return {}  # flags: every value is valid
    if isinstance(value, (int, float, np.integer, np.floating)):
        return SCALAR_MUTATIONS
    return {}


def _flatten(value, out):
    if isinstance(value, (tuple, list)):
        for v in value:
            _flatten(v, out)
    elif isinstance(value, dict):
        for k in sorted(value):
            _flatten(value[k], out)
    elif value is None:
        out.append(None)
    elif isinstance(value, (np.ndarray, np.generic, int, float, complex)):
        out.append(np.asarray(value))
    elif isinstance(getattr(value, "history", None), dict):  # a training History
        _flatten(value.history, out)
    return out


def _effects(fn, args, kwargs, result):
    """What a call did: its result, and its array arguments afterwards (in-place ops)."""
    seen = _flatten(result, [])
    for a in list(args) + [kwargs[k] for k in sorted(kwargs)]:
        if isinstance(a, np.ndarray) or (isinstance(a, list) and a
                                         and not isinstance(a[0], str)):
            seen.append(np.asarray(a, dtype=object if isinstance(a, list) else None))
    if isinstance(fn, Module):
        _flatten(fn.state_dict(), seen)
    return seen


def _call(factory, seed, position=None, replacement=None):
    pydl.manual_seed(seed)  # modules initialised from pydl's generator: the same weights
    fn, args, kwargs = factory(np.random.default_rng(seed))
    args, kwargs = list(args), dict(kwargs)
    if position is not None:
        kind, key = position
        if kind == "arg":
            args[key] = replacement(args[key]) if callable(replacement) else replacement
        else:
            kwargs[key] = replacement(kwargs[key]) if callable(replacement) else replacement
    CALLS["count"] += 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fn(*args, **kwargs)
    return _effects(fn, args, kwargs, result)


def _assert_same(actual, expected, rtol, what):
    assert len(actual) == len(expected), f"{what}: a different number of results"
    for a, e in zip(actual, expected):
        if e is None or a is None:
            assert a is None and e is None, f"{what}: None where the valid call differs"
            continue
        a, e = np.asarray(a, dtype=np.float64), np.asarray(e, dtype=np.float64)
        assert a.shape == e.shape, f"{what}: shape {a.shape}, expected {e.shape}"
        np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol, equal_nan=True, err_msg=what)


def _positions(factory):
    _, args, kwargs = factory(np.random.default_rng(0))
    found = [(("arg", i), v) for i, v in enumerate(args)]
    found += [(("kw", k), v) for k, v in sorted(kwargs.items())]
    return [(pos, _mutations_for(v)) for pos, v in found if _mutations_for(v)]


@pytest.fixture(autouse=True, scope="module")
def _kill_on_hang():
    """A hang inside a kernel cannot be interrupted: dump every stack and exit instead."""
    faulthandler.dump_traceback_later(HANG_SECONDS * 10, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def test_every_registered_call_is_valid():
    assert len(FUZZ_CALLS) >= 20
    for name, factory in FUZZ_CALLS.items():
        _call(factory, 0)


def check_malformed_call(name, factory, position, mutations, mutation):
    """Call ``factory``'s op with one argument broken; fail unless it behaves."""
    expect, change = mutations[mutation]
    what = f"{name}: argument {position[1]!r} {mutation}"
    if name in FUZZ_CALLS:
        CALLS["ops"].add(name)
    try:
        actual = _call(factory, 1, position, change)
    except ALLOWED:
        return
    except BaseException as exc:  # noqa: BLE001 -- anything else is the failure
        raise AssertionError(f"{what} raised {type(exc).__name__}: {exc}") from exc
    assert expect != "raise", f"{what} returned a result instead of raising"
    if expect == "complex":
        assert any(a is not None and a.dtype.kind == "c" for a in actual[:1]), (
            f"{what}: returned a real result, dropping the imaginary part")
    if expect in ("same", "list"):
        _assert_same(actual, _call(factory, 1), 1e-6 if expect == "same" else 1e-4, what)
    elif expect == "dtype":
        def converted(value):
            return change(value).astype(value.dtype)
        try:
            reference = _call(factory, 1, position, converted)
        except ALLOWED:
            return  # the converted values are themselves invalid (e.g. bool 0/1 labels)
        _assert_same(actual, reference, 1e-3, what)


@pytest.mark.parametrize("name", sorted(FUZZ_CALLS))
@settings(max_examples=EXAMPLES_PER_OP, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_malformed_argument(name, data):
    factory = FUZZ_CALLS[name]
    positions = _positions(factory)
    if not positions:
        return
    position, mutations = data.draw(st.sampled_from(positions), label="argument")
    mutation = data.draw(st.sampled_from(sorted(mutations)), label="mutation")
    check_malformed_call(name, factory, position, mutations, mutation)


def _careless_scale(x, out=None):
    """What the checks must catch: casts anything, indexes blindly, updates a copy."""
    x = np.asarray(x, dtype=np.float32)
    if out is not None:
        out = np.ascontiguousarray(out)
        out[...] = 2 * x
    return 2 * x.reshape(-1)[: x.size]


@pytest.mark.parametrize("mutation, arg", [
    ("complex", 0),        # imaginary part silently dropped
    ("noncontiguous", 1),  # in-place output updated in a copy only
    ("string", "kw"),      # a nonsense scalar accepted
])
def test_the_checks_catch_careless_ops(mutation, arg):
    def factory(rng):
        x = rng.standard_normal(6).astype(np.float32)
        return _careless_scale, (x, np.zeros(6, np.float32)), {"scale": 2.0}

    def op(x, out, scale):
        return _careless_scale(x, out)
    position = ("kw", "scale") if arg == "kw" else ("arg", arg)

    def factory_with_scale(rng):
        _, args, kwargs = factory(rng)
        return op, args, kwargs
    table = SCALAR_MUTATIONS if arg == "kw" else FLOAT_ARRAY_MUTATIONS
    with pytest.raises(AssertionError):
        check_malformed_call("careless", factory_with_scale, position, table, mutation)
