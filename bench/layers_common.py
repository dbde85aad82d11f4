"""Shared machinery of the layer-shape suite (bench/test_bench_layers_*.py, issue 13).

Every row is one layer shape taken from a real network, benchmarked twice: pydl and
PyTorch, the two members parametrized next to each other so that they run one after the
other in the same process (the NumPy reference is left out: at these shapes it is too
slow to be a useful peer). Each row:

- checks once, before timing, that pydl and PyTorch compute the same thing
  (``np.allclose`` with a loose float32 tolerance), so a row cannot silently time the
  wrong operation;
- is named ``layers.<suite>.<shape>.<mode>`` and records ``extra_info["suite"]``
  (conv, rnn, dense, pool_bn, e2e), which ``bench/report.py`` aggregates;
- runs for about ``PYDL_BENCH_ROW_BUDGET`` seconds (default 0.3) per member through
  ``benchmark.pedantic``: at least 3 rounds, at most 200, sized from one timed call. With
  ``--benchmark-disable`` each member runs once (a smoke run).
"""

import itertools
import os
import time

import numpy as np
import pytest

from conftest import setup_bench, torch

IMPLS = ("pydl", "torch")
ROW_BUDGET = float(os.environ.get("PYDL_BENCH_ROW_BUDGET", "0.3"))
_checked = set()


def pairs(rows, modes=("fwd", "fwd_bwd")):
    """``pytest.param``s over rows x modes x (pydl, torch), the impl varying fastest so
    that a row's two members run back to back."""
    out = []
    for row, mode, impl in itertools.product(rows, modes, IMPLS):
        out.append(pytest.param(row, mode, impl, id=f"{row[0]}-{mode}-{impl}"))
    return out


def need_torch(impl):
    if torch is None:
        pytest.skip("PyTorch is not installed (the layer suite compares against it)")


def _as_list(out):
    if isinstance(out, (tuple, list)):
        return [o for o in out if o is not None]
    return [out]


def _np(a):
    if torch is not None and isinstance(a, torch.Tensor):
        return a.detach().numpy()
    return np.asarray(a)


def check_once(key, pydl_run, torch_run, rtol=2e-3, atol=2e-3):
    """Compare the outputs (arrays or tuples of arrays, in the same order) of one call of
    each member; done once per row and mode. ``atol`` is relative to the largest
    PyTorch magnitude of each output."""
    if key in _checked:
        return
    pydl_out, torch_out = pydl_run(), torch_run()
    ours, theirs = _as_list(pydl_out), _as_list(torch_out)
    assert len(ours) == len(theirs), f"{key}: {len(ours)} pydl outputs, {len(theirs)} torch"
    for i, (a, b) in enumerate(zip(ours, theirs)):
        a, b = _np(a), _np(b)
        assert a.shape == b.shape, f"{key} output {i}: shape {a.shape} vs {b.shape}"
        scale = max(1.0, float(np.abs(b).max()))
        assert np.allclose(a, b, rtol=rtol, atol=atol * scale), (
            f"{key} output {i}: max |pydl - torch| = {np.abs(a - b).max():.3g} "
            f"(scale {scale:.3g})")
    _checked.add(key)


def run_row(benchmark, suite, name, mode, impl, run, flops=None):
    """Time ``run`` as member ``impl`` of group ``layers.<suite>.<name>.<mode>``."""
    setup_bench(benchmark, f"layers.{suite}.{name}.{mode}", impl, flops=flops)
    benchmark.extra_info["suite"] = suite
    benchmark.extra_info["mode"] = mode
    if getattr(benchmark, "disabled", False):   # --benchmark-disable: one call, no sizing
        benchmark(run)
        return
    t0 = time.perf_counter()
    run()
    once = time.perf_counter() - t0
    rounds = int(max(3, min(200, ROW_BUDGET / max(once, 1e-6))))
    benchmark.pedantic(run, rounds=rounds, iterations=1,
                       warmup_rounds=1 if once < 0.05 else 0)
