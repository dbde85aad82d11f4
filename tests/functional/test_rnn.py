"""Recurrent kernels (RNN, LSTM, GRU and their cells) against the NumPy reference."""

import numpy as np
import pytest

import pydl
from pydl import functional as F
from pydl import reference as R
from tests.helpers import as64, assert_close, randn

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
# (T, N, I, H): odd sizes, a single step, a single sample, H below and above the
# 16-column panels of the recurrent GEMM, N below and above its 4-row blocks, I = 0.
SHAPES = [(1, 1, 1, 1), (4, 3, 5, 7), (3, 5, 2, 17), (2, 9, 0, 3), (5, 6, 33, 40)]


def _problem(kind, shape, dtype, rng, bias=True, states=True):
    T, N, I, H = shape
    G = GATES[kind]
    scale = 1 / np.sqrt(H)
    p = dict(x=randn(rng, (T, N, I), dtype),
             h0=randn(rng, (N, H), dtype) if states else None,
             c0=randn(rng, (N, H), dtype) if states and kind == "lstm" else None,
             weight_ih=randn(rng, (G * H, I), dtype, 2 * scale),
             weight_hh=randn(rng, (G * H, H), dtype, 2 * scale),
             bias_ih=randn(rng, (G * H,), dtype) if bias else None,
             bias_hh=randn(rng, (G * H,), dtype) if bias else None,
             grad_y=randn(rng, (T, N, H), dtype), grad_h_n=randn(rng, (N, H), dtype),
             grad_c_n=randn(rng, (N, H), dtype))
    return p


def _forward(ops, kind, p, **kw):
    """(outputs, cache or None) of one layer."""
    w = (p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])
    if kind == "lstm":
        y, h, c, cache = ops.lstm_forward(p["x"], p["h0"], p["c0"], *w, **kw)
        return (y, h, c), cache
    if kind == "gru":
        y, h, cache = ops.gru_forward(p["x"], p["h0"], *w, **kw)
        return (y, h), cache
    return ops.rnn_forward(p["x"], p["h0"], *w, **kw), None


def _backward(ops, kind, p, y, cache, **kw):
    w = (p["weight_ih"], p["weight_hh"])
    if kind == "lstm":
        return ops.lstm_backward(p["grad_y"], p["grad_h_n"], p["grad_c_n"], p["x"], p["h0"],
                                 p["c0"], *w, y, cache, **kw)
    if kind == "gru":
        return ops.gru_backward(p["grad_y"], p["grad_h_n"], p["x"], p["h0"], *w, y, cache,
                                **kw)
    return ops.rnn_backward(p["grad_y"], p["grad_h_n"], p["x"], p["h0"], *w, y, **kw)


def _as64(p):
    return {k: None if v is None else np.asarray(v, np.float64) for k, v in p.items()}


CASES = [("rnn", {}), ("rnn", {"nonlinearity": "relu"}), ("lstm", {}), ("gru", {})]


@pytest.mark.parametrize("kind,extra", CASES, ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_layer_matches_reference(kind, extra, shape, reverse, dtype, rng):
    p = _problem(kind, shape, dtype, rng, bias=shape[0] != 2, states=shape[1] != 3)
    outs, cache = _forward(F, kind, p, reverse=reverse, **extra)
    routs, rcache = _forward(R, kind, _as64(p), reverse=reverse, **extra)
    for got, want in zip(outs, routs):
        assert got.dtype == dtype
        assert_close(got, want, dtype)
    if cache is not None:
        assert_close(cache, rcache, dtype)
    grads = _backward(F, kind, p, outs[0], cache, reverse=reverse,
                      has_bias=p["bias_ih"] is not None, **extra)
    rgrads = _backward(R, kind, _as64(p), routs[0], rcache, reverse=reverse,
                       has_bias=p["bias_ih"] is not None, **extra)
    assert len(grads) == len(rgrads)
    for got, want in zip(grads, rgrads):
        if want is None:
            assert got is None
        else:
            assert got.dtype == dtype and got.shape == want.shape
            assert_close(got, want, dtype)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_empty_batch(kind, rng):
    p = _problem(kind, (3, 0, 4, 5), np.float32, rng)
    outs, cache = _forward(F, kind, p)
    assert outs[0].shape == (3, 0, 5) and outs[1].shape == (0, 5)
    grads = _backward(F, kind, p, outs[0], cache)
    assert grads[0].shape == (3, 0, 4)
    for g in grads[-4:]:   # weights and biases: nothing to sum
        assert not np.any(g)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_backward_skips_unrequested(kind, rng):
    p = _problem(kind, (3, 2, 4, 5), np.float32, rng)
    outs, cache = _forward(F, kind, p)
    grads = _backward(F, kind, p, outs[0], cache, need_input_grad=False,
                      need_weight_grad=False)
    assert grads[0] is None and all(g is None for g in grads[-4:])
    full = _backward(F, kind, p, outs[0], cache)
    for got, want in zip(grads[1:-4], full[1:-4]):   # state gradients are always there
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_missing_gradients_mean_zeros(kind, rng):
    p = _problem(kind, (3, 2, 4, 5), np.float64, rng)
    outs, cache = _forward(F, kind, p)
    given = _backward(F, kind, dict(p, grad_y=np.zeros_like(p["grad_y"]),
                                    grad_h_n=np.zeros_like(p["grad_h_n"]),
                                    grad_c_n=np.zeros_like(p["grad_c_n"])), outs[0], cache)
    missing = _backward(F, kind, dict(p, grad_y=None, grad_h_n=None, grad_c_n=None),
                        outs[0], cache)
    for a, b in zip(given, missing):
        np.testing.assert_array_equal(a, b)
        assert not np.any(a)


def test_cells_match_reference(dtype, rng):
    N, I, H = 5, 3, 18
    x, h, c = randn(rng, (N, I), dtype), randn(rng, (N, H), dtype), randn(rng, (N, H), dtype)
    g_h, g_c = randn(rng, (N, H), dtype), randn(rng, (N, H), dtype)
    for kind in ("rnn", "lstm", "gru"):
        G = GATES[kind]
        w = [randn(rng, (G * H, I), dtype, 0.3), randn(rng, (G * H, H), dtype, 0.3),
             randn(rng, (G * H,), dtype), randn(rng, (G * H,), dtype)]
        w64 = as64(*w)
        if kind == "rnn":
            out = F.rnn_cell_forward(x, h, *w, nonlinearity="relu")
            ref = R.rnn_cell_forward(*as64(x, h), *w64, nonlinearity="relu")
            assert_close(out, ref, dtype)
            got = F.rnn_cell_backward(g_h, x, h, w[0], w[1], out, nonlinearity="relu")
            want = R.rnn_cell_backward(*as64(g_h, x, h), w64[0], w64[1], ref,
                                       nonlinearity="relu")
        elif kind == "lstm":
            h1, c1, cache = F.lstm_cell_forward(x, h, c, *w)
            rh, rc, rcache = R.lstm_cell_forward(*as64(x, h, c), *w64)
            assert_close(h1, rh, dtype)
            assert_close(c1, rc, dtype)
            got = F.lstm_cell_backward(g_h, g_c, x, h, c, w[0], w[1], cache)
            want = R.lstm_cell_backward(*as64(g_h, g_c, x, h, c), w64[0], w64[1], rcache)
        else:
            h1, cache = F.gru_cell_forward(x, None, *w)
            rh, rcache = R.gru_cell_forward(as64(x)[0], None, *w64)
            assert_close(h1, rh, dtype)
            got = F.gru_cell_backward(g_h, x, None, w[0], w[1], cache)
            want = R.gru_cell_backward(*as64(g_h, x), None, w64[0], w64[1], rcache)
        assert got[0].shape == (N, I)
        for a, b in zip(got, want):
            assert_close(a, b, dtype)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_bitwise_same_at_any_thread_count(kind):
    rng = np.random.default_rng(5)
    # large enough that the time loop runs threaded, rows split between threads (and N
    # not a multiple of the 4-row register block)
    p = _problem(kind, (10, 21, 9, 230), np.float32, rng)
    results = []
    for n in (1, 2, 3, 8):
        with pydl.threads(n):
            outs, cache = _forward(F, kind, p)
            results.append([*outs, *_backward(F, kind, p, outs[0], cache)])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert a.tobytes() == b.tobytes()


def test_float32_gates_saturate_without_nan(rng):
    """Huge pre-activations: sigmoid and tanh saturate at their limits, no inf/NaN."""
    p = _problem("lstm", (3, 2, 4, 5), np.float32, rng)
    p["x"] = p["x"] * np.float32(1e4)
    outs, cache = _forward(F, "lstm", p)
    assert np.all(np.isfinite(outs[0])) and np.all(np.abs(outs[0]) <= 1)
    grads = _backward(F, "lstm", p, outs[0], cache)
    assert all(np.all(np.isfinite(g)) for g in grads)


class TestValidation:
    def _lstm(self, rng, **change):
        p = _problem("lstm", (3, 2, 4, 5), np.float32, rng)
        p.update(change)
        return p

    def test_weights(self, rng):
        p = self._lstm(rng)
        with pytest.raises(ValueError, match=r"weight_hh has shape \(20, 4\), expected"):
            F.lstm_forward(p["x"], None, None, p["weight_ih"], p["weight_hh"][:, :4])
        with pytest.raises(ValueError, match=r"weight_ih has shape \(19, 4\), expected \(20"):
            F.lstm_forward(p["x"], None, None, p["weight_ih"][:19], p["weight_hh"])
        with pytest.raises(ValueError, match=r"bias_hh has shape \(5,\), expected \(20,\)"):
            F.lstm_forward(p["x"], None, None, p["weight_ih"], p["weight_hh"], None,
                           p["bias_hh"][:5])
        with pytest.raises(ValueError, match="weight_hh has shape .* hidden_size >= 1"):
            F.gru_forward(p["x"], None, np.zeros((0, 4), np.float32),
                          np.zeros((0, 0), np.float32))
        with pytest.raises(TypeError, match="weight_ih has dtype float64 but weight_hh"):
            F.lstm_forward(p["x"], None, None, p["weight_ih"].astype(np.float64),
                           p["weight_hh"])

    def test_input(self, rng):
        p = self._lstm(rng)
        w = (p["weight_ih"], p["weight_hh"])
        with pytest.raises(ValueError, match=r"x has shape \(3, 2, 6\): its last dimension "
                                             r"must equal input_size = 4"):
            F.lstm_forward(np.zeros((3, 2, 6), np.float32), None, None, *w)
        with pytest.raises(ValueError, match="x must be 3-D"):
            F.lstm_forward(np.zeros((3, 4), np.float32), None, None, *w)
        with pytest.raises(ValueError, match="0 time steps"):
            F.lstm_forward(np.zeros((0, 2, 4), np.float32), None, None, *w)
        with pytest.raises(TypeError, match="x has dtype float64 but weight_hh has dtype "
                                            "float32"):
            F.lstm_forward(np.zeros((3, 2, 4)), None, None, *w)
        with pytest.raises(TypeError, match="x must be a float32 or float64"):
            F.lstm_forward(np.zeros((3, 2, 4), np.int32), None, None, *w)

    def test_states(self, rng):
        p = self._lstm(rng)
        w = (p["weight_ih"], p["weight_hh"])
        with pytest.raises(ValueError, match=r"h0 has shape \(3, 5\), expected \(batch, "
                                             r"hidden_size\) = \(2, 5\)"):
            F.lstm_forward(p["x"], np.zeros((3, 5), np.float32), None, *w)
        with pytest.raises(ValueError, match=r"c0 has shape \(2, 4\)"):
            F.lstm_forward(p["x"], None, np.zeros((2, 4), np.float32), *w)
        with pytest.raises(ValueError, match="h0 must be 2-D"):
            F.rnn_forward(p["x"], np.zeros((1, 2, 5), np.float32),
                          p["weight_ih"][:5], p["weight_hh"][:5])

    def test_nonlinearity(self, rng):
        p = _problem("rnn", (2, 2, 3, 4), np.float32, rng)
        with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
            F.rnn_forward(p["x"], None, p["weight_ih"], p["weight_hh"], nonlinearity="gelu")

    def test_backward_arguments(self, rng):
        p = self._lstm(rng)
        (y, _, _), cache = _forward(F, "lstm", p)
        w = (p["weight_ih"], p["weight_hh"])
        with pytest.raises(ValueError, match=r"cache has shape \(3, 2, 20\), expected "
                                             r"\(3, 2, 25\)"):
            F.lstm_backward(None, None, None, p["x"], None, None, *w, y, cache[:, :, :20])
        with pytest.raises(ValueError, match=r"grad_y has shape \(2, 2, 5\), expected"):
            F.lstm_backward(y[:2], None, None, p["x"], None, None, *w, y, cache)
        with pytest.raises(ValueError, match=r"grad_c_n has shape \(2, 3\)"):
            F.lstm_backward(None, None, np.zeros((2, 3), np.float32), p["x"], None, None,
                            *w, y, cache)
        with pytest.raises(TypeError, match="y is required"):
            F.lstm_backward(None, None, None, p["x"], None, None, *w, None, cache)
        with pytest.raises(TypeError, match="cache is required"):
            F.lstm_backward(None, None, None, p["x"], None, None, *w, y, None)


def test_kept_workspace_is_reused_and_released():
    """The recurrent kernels keep their packed weights between calls: a pass on blocks
    full of another layer's data gives the bits of a pass on fresh blocks, and
    release_workspace frees the idle blocks."""
    from pydl import nn
    from pydl._ext import rnn as _rnn
    rng = np.random.default_rng(5)
    pydl.manual_seed(5)
    lstm, other = nn.LSTM(6, 20), nn.GRU(9, 40)
    x = rng.standard_normal((7, 3, 6)).astype(np.float32)

    def run():
        lstm.zero_grad()
        y, _ = lstm(x)
        dx = lstm.backward(np.ones_like(y))
        return [y, dx] + [p.grad.copy() for p in lstm.parameters()]

    _rnn.release_workspace()
    fresh = run()
    assert _rnn.release_workspace() > 0
    assert _rnn.release_workspace() == 0
    y, _ = other(rng.standard_normal((5, 4, 9)).astype(np.float32) * 1e30)
    other.backward(y)
    reused = run()
    for a, b in zip(fresh, reused, strict=True):
        assert np.array_equal(a, b)
