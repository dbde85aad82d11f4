"""Bitwise determinism of every kernel family (issue 7).

For each case, outputs and gradients must be bitwise identical at 1, 2, 3 and 8
threads and across repeated runs; backward run twice gives the same bits; a zero
upstream gradient gives exact zeros. Sizes include tails such as 97 and 101, so the
last chunk of every split is a partial one.

A case is a function ``run(rng_seed, zero_grad) -> list of arrays``: it builds its
inputs from the seed, runs forward and backward, and returns everything computed.
Each kernel family registers its cases in CASES.
"""

import numpy as np
import pytest

import pydl
from pydl import functional as F

from ._registry import collect, split_case_result

THREADS = (1, 2, 3, 8)


def _rand(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _upstream(rng, shape, zero):
    return np.zeros(shape, np.float32) if zero else _rand(rng, shape)


def dense_case(n, k, m):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x, w, b = _rand(rng, (n, k)), _rand(rng, (m, k)), _rand(rng, (m,))
        y = F.linear_forward(x, w, b)
        return [y, *F.linear_backward(_upstream(rng, y.shape, zero), x, w)]
    return run


def elementwise_case(name, n, saved="out", hyper=()):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x = _rand(rng, (n,), 3.0)
        y = getattr(F, name + "_forward")(x, *hyper)
        s = y if saved == "out" else x
        return [y, getattr(F, name + "_backward")(_upstream(rng, (n,), zero), s, *hyper)]
    return run


def rowwise_case(name, rows, cols):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x = _rand(rng, (rows, cols), 3.0)
        y = getattr(F, name + "_forward")(x, 1)
        return [y, getattr(F, name + "_backward")(_upstream(rng, y.shape, zero), y, 1)]
    return run


def cross_entropy_case(n, c):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        z = _rand(rng, (n, c), 3.0)
        t = rng.integers(0, c, n)
        w = (rng.random(c) + 0.5).astype(np.float32)
        loss, g = F.softmax_cross_entropy_forward(z, t, w, label_smoothing=0.1)
        return [np.float64(loss), F.softmax_cross_entropy_backward(g, 0.0 if zero else 1.3)]
    return run


def elementwise_loss_case(name, n):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x, y = _rand(rng, (n,), 3.0), rng.random(n).astype(np.float32)
        loss, g = getattr(F, name + "_forward")(x, y)
        return [np.float64(loss), getattr(F, name + "_backward")(g, 0.0 if zero else 0.7)]
    return run


def sgd_case(n):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        p = _rand(rng, (n,))
        buf = np.empty_like(p)
        for step in range(3):
            F.sgd_step(p, _upstream(rng, (n,), zero), buf, lr=0.1, momentum=0.9,
                       nesterov=True, weight_decay=0.0 if zero else 0.01,
                       first_step=step == 0)
        return [p, buf]
    return run


CASES = {
    "linear-97x101x103": dense_case(97, 101, 103),
    "linear-301x257x513": dense_case(301, 257, 513),
    "relu-100003": elementwise_case("relu", 100_003),
    "leaky_relu-70001": elementwise_case("leaky_relu", 70_001, "x", (0.1,)),
    "elu-70001": elementwise_case("elu", 70_001, "x"),
    "sigmoid-100003": elementwise_case("sigmoid", 100_003),
    "tanh-100003": elementwise_case("tanh", 100_003),
    "silu-100003": elementwise_case("silu", 100_003, "x"),
    "softmax-97x101": rowwise_case("softmax", 97, 101),
    "log_softmax-1001x97": rowwise_case("log_softmax", 1001, 97),
    "cross_entropy-1001x101": cross_entropy_case(1001, 101),
    "bce_with_logits-100003": elementwise_loss_case("binary_cross_entropy_with_logits",
                                                    100_003),
    "mse-100003": elementwise_loss_case("mse_loss", 100_003),
    "sgd-100003": sgd_case(100_003),
}
CASES.update(collect("DETERMINISM_CASES"))
NO_UPSTREAM_GRADIENT = {"sgd-100003"}


def _same(a, b):
    a, b = split_case_result(a)[0], split_case_result(b)[0]
    return len(a) == len(b) and all(
        np.asarray(x).shape == np.asarray(y).shape
        and np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
        and np.asarray(x).tobytes() == np.asarray(y).tobytes()
        for x, y in zip(a, b))


@pytest.mark.parametrize("name", sorted(CASES))
def test_bitwise_identical_across_thread_counts_and_runs(name):
    run = CASES[name]
    with pydl.threads(1):
        reference = run(7, False)
        assert _same(reference, run(7, False)), "a repeated run differs"
    for n in THREADS[1:]:
        with pydl.threads(n):
            assert _same(reference, run(7, False)), f"{n} threads differ from 1 thread"
            assert _same(reference, run(7, False)), f"a repeated run at {n} threads differs"


@pytest.mark.parametrize("name", sorted(CASES))
def test_zero_upstream_gradient_gives_exact_zeros(name):
    if name in NO_UPSTREAM_GRADIENT:
        pytest.skip("an optimizer step has no upstream gradient")
    _, grads = split_case_result(CASES[name](11, True))
    for g in grads:
        if g is not None and np.ndim(g):
            assert not np.any(g), "a zero upstream gradient produced a non-zero gradient"
