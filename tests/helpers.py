"""Shared test helpers: tolerances per dtype, comparisons against the reference."""

import os
from pathlib import Path

import numpy as np

import pydl

ROOT = Path(__file__).resolve().parents[1]

# float32 kernels are compared with the reference run in float64 on the same inputs;
# a GEMM over k terms carries about sqrt(k) * 2^-24 relative error.
TOL = {np.dtype(np.float32): (1e-4, 1e-5), np.dtype(np.float64): (1e-10, 1e-12)}


def assert_close(actual, expected, dtype=None, rtol=None, atol=None, scale=None):
    """Compare with dtype-based tolerances; atol is relative to the data's scale."""
    actual = np.asarray(actual)
    expected = np.asarray(expected, dtype=np.float64)
    dt = np.dtype(dtype if dtype is not None else actual.dtype)
    r, a = TOL[dt]
    rtol = r if rtol is None else rtol
    atol = a if atol is None else atol
    if scale is None:
        scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    np.testing.assert_allclose(actual.astype(np.float64), expected, rtol=rtol,
                               atol=atol * scale)


def as64(*arrays):
    return [None if a is None else np.asarray(a, dtype=np.float64) for a in arrays]


def randn(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def child_env(**extra):
    """Environment for a child Python process: it imports the pydl this process
    imported (the CI stages build pydl elsewhere than the editable install the venv
    points to) and the tests package; ``extra`` variables on top."""
    env = dict(os.environ, **extra)
    pydl_home = str(Path(pydl.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([pydl_home, str(ROOT), env.get("PYTHONPATH", "")])
    return env
