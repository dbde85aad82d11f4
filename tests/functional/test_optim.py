"""Fused optimizer kernels (adam_step, adagrad_step, rmsprop_step) vs the NumPy twins."""

import numpy as np
import pytest

import pydl
from pydl import functional as F
from pydl import reference as R
from tests.helpers import assert_close, randn

SHAPES = [(7,), (33, 65), (32_771,), (1,), (0,), ()]  # 32,771: just past the parallel threshold


def _run(op, shape, dtype, rng, buffers, steps=4, **kw):
    """Run ``steps`` updates through the kernel and through the float64 reference.

    ``buffers`` names the state arrays in argument order (None: an unused slot); they
    start as zeros. Returns the kernel's and the reference's arrays (param first).
    """
    ours = [np.array(randn(rng, shape, dtype))]  # 0-d stays an array
    ours += [None if b is None else np.zeros(shape, dtype) for b in buffers]
    ref = [None if a is None else a.astype(np.float64) for a in ours]
    for step in range(1, steps + 1):
        g = randn(rng, shape, dtype)
        extra = {"step": step} if op in ("adam_step", "adagrad_step") else {}
        getattr(F, op)(ours[0], g, *ours[1:], **extra, **kw)
        getattr(R, op)(ref[0], g.astype(np.float64), *ref[1:], **extra, **kw)
    return [a for a in ours if a is not None], [a for a in ref if a is not None]


ADAM = [
    {},
    dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1),
    dict(lr=0.01, amsgrad=True, maximize=True),
    dict(lr=0.02, weight_decay=0.05, decoupled_weight_decay=True, amsgrad=True),
    dict(lr=0.01, betas=(0.0, 0.5)),   # lerp weight 1: PyTorch's large-weight form
]


@pytest.mark.parametrize("cfg", ADAM, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_adam_step_matches_reference(cfg, shape, dtype, rng):
    buffers = ["exp_avg", "exp_avg_sq"] + (["max"] if cfg.get("amsgrad") else [])
    ours, ref = _run("adam_step", shape, dtype, rng, buffers, **cfg)
    for a, b in zip(ours, ref):
        assert_close(a, b, dtype)


ADAGRAD = [{}, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, eps=1e-6, maximize=True)]


@pytest.mark.parametrize("cfg", ADAGRAD, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_adagrad_step_matches_reference(cfg, shape, dtype, rng):
    ours, ref = _run("adagrad_step", shape, dtype, rng, ["sum"], **cfg)
    for a, b in zip(ours, ref):
        assert_close(a, b, dtype)


RMSPROP = [
    ({}, ["square_avg"]),
    (dict(centered=True, weight_decay=0.1), ["square_avg", "grad_avg"]),
    (dict(momentum=0.9, maximize=True, alpha=0.9), ["square_avg", None, "buf"]),
    (dict(centered=True, momentum=0.5, alpha=0.3, eps=1e-4), ["square_avg", "grad_avg", "buf"]),
]


@pytest.mark.parametrize("cfg,buffers", RMSPROP, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_rmsprop_step_matches_reference(cfg, buffers, shape, dtype, rng):
    ours, ref = _run("rmsprop_step", shape, dtype, rng, buffers, **cfg)
    for a, b in zip(ours, ref):
        assert_close(a, b, dtype)


def test_kernels_identical_at_any_thread_count(rng):
    n = 100_003
    grads = [randn(rng, (n,), np.float32) for _ in range(3)]
    results = []
    for threads in (1, 2, 3):
        p = np.linspace(-1, 1, n, dtype=np.float32)
        st = [np.zeros(n, np.float32) for _ in range(6)]
        with pydl.threads(threads):
            for step, g in enumerate(grads, 1):
                F.adam_step(p, g, st[0], st[1], st[2], step=step, amsgrad=True,
                            weight_decay=0.1)
                F.adagrad_step(p, g, st[3], step=step, lr_decay=0.1)
                F.rmsprop_step(p, g, st[4], st[5], None, centered=True)
        results.append(np.concatenate([p, *st]))
    assert all(np.array_equal(results[0], r) for r in results[1:])


def test_maximize_is_descent_on_the_negated_gradient(rng):
    p1 = randn(rng, (50,), np.float32)
    p2 = p1.copy()
    g = randn(rng, (50,), np.float32)
    s1 = [np.zeros(50, np.float32) for _ in range(2)]
    s2 = [np.zeros(50, np.float32) for _ in range(2)]
    F.adam_step(p1, g, *s1, step=1, maximize=True)
    F.adam_step(p2, -g, *s2, step=1)
    np.testing.assert_array_equal(p1, p2)


def _adam_args():
    return [np.zeros(4, np.float32) for _ in range(5)]


class TestValidation:
    def test_in_place_arrays(self):
        p, g, m, v, vmax = _adam_args()
        ro = np.zeros(4, np.float32)
        ro.setflags(write=False)
        with pytest.raises(ValueError, match="exp_avg is read-only"):
            F.adam_step(p, g, ro, v, step=1)
        with pytest.raises(ValueError, match="exp_avg_sq must be C-contiguous"):
            F.adam_step(p, g, m, np.zeros(8, np.float32)[::2], step=1)
        with pytest.raises(TypeError, match="exp_avg has dtype float64 but param"):
            F.adam_step(p, g, np.zeros(4), v, step=1)
        with pytest.raises(ValueError, match="exp_avg_sq has shape"):
            F.adam_step(p, g, m, np.zeros(5, np.float32), step=1)
        with pytest.raises(ValueError, match="max_exp_avg_sq is required when amsgrad"):
            F.adam_step(p, g, m, v, step=1, amsgrad=True)
        with pytest.raises(ValueError, match="state_sum is read-only"):
            F.adagrad_step(p, g, ro, step=1)
        with pytest.raises(ValueError, match="grad_avg is required when centered"):
            F.rmsprop_step(p, g, m, centered=True)
        with pytest.raises(ValueError, match="momentum_buffer is required when momentum"):
            F.rmsprop_step(p, g, m, momentum=0.9)
        with pytest.raises(TypeError, match="square_avg must be a numpy array"):
            F.rmsprop_step(p, g, [0.0] * 4)
        with pytest.raises(TypeError, match="grad must be a float32 or float64 array"):
            F.adagrad_step(p, np.zeros(4, np.int64), m, step=1)

    def test_overlapping_buffers_are_refused(self):
        p, g, m, v, _ = _adam_args()
        with pytest.raises(ValueError, match="exp_avg_sq shares memory with exp_avg"):
            F.adam_step(p, g, m, m, step=1)
        with pytest.raises(ValueError, match="param shares memory with grad"):
            F.adam_step(p, p, m, v, step=1)
        buf = np.zeros(8, np.float32)
        with pytest.raises(ValueError, match="state_sum shares memory with param"):
            F.adagrad_step(buf[:4], g, buf[2:6], step=1)

    def test_hyper_parameters(self):
        p, g, m, v, _ = _adam_args()
        with pytest.raises(ValueError, match="lr must be >= 0"):
            F.adam_step(p, g, m, v, step=1, lr=-1.0)
        with pytest.raises(ValueError, match="lr must be finite"):
            F.adagrad_step(p, g, m, step=1, lr=float("nan"))
        with pytest.raises(ValueError, match=r"betas\[1\] must be < 1"):
            F.adam_step(p, g, m, v, step=1, betas=(0.9, 1.0))
        with pytest.raises(ValueError, match=r"betas\[0\] must be >= 0"):
            F.adam_step(p, g, m, v, step=1, betas=(-0.1, 0.9))
        with pytest.raises(TypeError, match="betas must be a pair"):
            F.adam_step(p, g, m, v, step=1, betas=0.9)
        with pytest.raises(ValueError, match="eps must be >= 0"):
            F.rmsprop_step(p, g, m, eps=-1e-8)
        with pytest.raises(ValueError, match="step must be >= 1"):
            F.adam_step(p, g, m, v, step=0)
        with pytest.raises(ValueError, match="step must be a whole number"):
            F.adagrad_step(p, g, m, step=1.5)
        with pytest.raises(TypeError, match="step must be a real number"):
            F.adagrad_step(p, g, m, step="1")
        with pytest.raises(ValueError, match="lr_decay must be >= 0"):
            F.adagrad_step(p, g, m, step=1, lr_decay=-0.1)
        with pytest.raises(ValueError, match="alpha must be >= 0"):
            F.rmsprop_step(p, g, m, alpha=-0.5)
        with pytest.raises(ValueError, match="momentum must be >= 0"):
            F.rmsprop_step(p, g, m, v, momentum=-0.5)
        with pytest.raises(ValueError, match="weight_decay must be finite"):
            F.adam_step(p, g, m, v, step=1, weight_decay=float("inf"))
