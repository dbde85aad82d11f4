"""Registrations of the recurrent family (RNN, LSTM, GRU, cells, Embedding, attention)
for the cross-cutting tests: determinism, leaks and fuzzing (see tests/_registry.py)."""

import numpy as np

import pydl
from pydl import functional as F
from pydl import nn


def _rand(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _up(rng, shape, zero):
    return np.zeros(shape, np.float32) if zero else _rand(rng, shape)


def _weights(rng, gates, n_in, hidden):
    s = 1 / np.sqrt(hidden)
    return [_rand(rng, (gates * hidden, n_in), s), _rand(rng, (gates * hidden, hidden), s),
            _rand(rng, (gates * hidden,), s), _rand(rng, (gates * hidden,), s)]


# ------------------------------------------------------------------ determinism
# Sizes with tails (97, 101, and batches that are not a multiple of the 4-row register
# block), big enough that the time loop runs threaded (rows split between threads).

T, N, I, H = 5, 37, 97, 101


def _lstm_case(reverse):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x, h0, c0 = _rand(rng, (T, N, I)), _rand(rng, (N, H)), _rand(rng, (N, H))
        w = _weights(rng, 4, I, H)
        y, h, c, cache = F.lstm_forward(x, h0, c0, *w, reverse=reverse)
        grads = F.lstm_backward(_up(rng, y.shape, zero), _up(rng, h.shape, zero),
                                _up(rng, c.shape, zero), x, h0, c0, w[0], w[1], y, cache,
                                reverse=reverse)
        return {"out": [y, h, c, cache], "grad": list(grads)}
    return run


def _gru_case(seed, zero):
    rng = np.random.default_rng(seed)
    x, h0 = _rand(rng, (T, N, I)), _rand(rng, (N, H))
    w = _weights(rng, 3, I, H)
    y, h, cache = F.gru_forward(x, h0, *w)
    grads = F.gru_backward(_up(rng, y.shape, zero), _up(rng, h.shape, zero), x, h0, w[0],
                           w[1], y, cache)
    return {"out": [y, h, cache], "grad": list(grads)}


def _rnn_case(seed, zero):
    rng = np.random.default_rng(seed)
    n, hidden = 67, 131          # one gate: more rows and units to reach the threaded path
    x, h0 = _rand(rng, (T, n, I)), _rand(rng, (n, hidden))
    w = _weights(rng, 1, I, hidden)
    y, h = F.rnn_forward(x, h0, *w, nonlinearity="relu", reverse=True)
    grads = F.rnn_backward(_up(rng, y.shape, zero), _up(rng, h.shape, zero), x, h0, w[0],
                           w[1], y, nonlinearity="relu", reverse=True)
    return {"out": [y, h], "grad": list(grads)}


def _stacked_module_case(seed, zero):
    """Two bidirectional LSTM layers with dropout between them (seeded masks)."""
    rng = np.random.default_rng(seed)
    pydl.manual_seed(seed)
    m = nn.LSTM(17, 37, num_layers=2, bidirectional=True, dropout=0.3, batch_first=True)
    x = _rand(rng, (N, T, 17))
    out, (h, c) = m(x)
    dx = m.backward(_up(rng, out.shape, zero), _up(rng, h.shape, zero),
                    _up(rng, c.shape, zero))
    return {"out": [out, h, c], "grad": [dx] + [p.grad for p in m.parameters()]}


def _embedding_case(seed, zero):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 97, (31, 41))
    w = _rand(rng, (97, 101))
    out = F.embedding_forward(idx, w)
    return [out, F.embedding_backward(_up(rng, out.shape, zero), idx, 97, padding_idx=3)]


def _sdpa_case(seed, zero):
    rng = np.random.default_rng(seed)
    q, k, v = _rand(rng, (3, 97, 33)), _rand(rng, (3, 101, 33)), _rand(rng, (3, 101, 17))
    mask = rng.random((97, 101)) > 0.2
    out, attn = F.scaled_dot_product_attention_forward(q, k, v, mask)
    grads = F.scaled_dot_product_attention_backward(_up(rng, out.shape, zero), q, k, v, attn)
    return {"out": [out, attn], "grad": list(grads)}


def _additive_case(seed, zero):
    rng = np.random.default_rng(seed)
    q, keys = _rand(rng, (13, 29)), _rand(rng, (13, 97, 31))
    wq, wk, v = _rand(rng, (101, 29), 0.2), _rand(rng, (101, 31), 0.2), _rand(rng, (101,))
    mask = rng.random((13, 97)) > 0.2
    context, alpha, cache = F.additive_attention_forward(q, keys, wq, wk, v, mask)
    grads = F.additive_attention_backward(_up(rng, context.shape, zero),
                                          _up(rng, alpha.shape, zero), q, keys, wq, wk, v,
                                          alpha, cache)
    return {"out": [context, alpha, cache], "grad": list(grads)}


DETERMINISM_CASES = {
    "lstm-5x37x97x101": _lstm_case(False),
    "lstm-reverse-5x37x97x101": _lstm_case(True),
    "gru-5x37x97x101": _gru_case,
    "rnn-relu-reverse-5x67x97x131": _rnn_case,
    "lstm-module-2layer-bidir-dropout": _stacked_module_case,
    "embedding-1271x97x101": _embedding_case,
    "sdpa-3x97x101-masked": _sdpa_case,
    "additive-attention-13x97x101": _additive_case,
}


# -------------------------------------------------------------------------- leaks

def _rnn_leak_step():
    """Every recurrent kernel once: LSTM both directions, a GRU cell, an Elman RNN."""
    pydl.manual_seed(0)
    lstm = nn.LSTM(8, 16, bidirectional=True)
    cell = nn.GRUCell(8, 16)
    rnn = nn.RNN(8, 16)
    rng = np.random.default_rng(0)
    x = _rand(rng, (5, 4, 8))

    def step():
        out, _ = lstm(x)
        lstm.backward(out)
        cell.backward(cell(x[0]))
        rnn.backward(None, rnn(x)[1])
    return step


def _attention_leak_step():
    pydl.manual_seed(0)
    emb = nn.Embedding(50, 8, padding_idx=0)
    att = nn.AdditiveAttention(8, 8, 6)
    sdpa = nn.ScaledDotProductAttention()
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 50, (4, 7))
    mask = rng.random((4, 7)) > 0.2

    def step():
        e = emb(idx)
        context, _ = att(e[:, 0], e, mask)
        _, gk = att.backward(np.ones_like(context))
        out = sdpa(e, e, e, is_causal=True)
        gq, gkk, gv = sdpa.backward(np.ones_like(out))
        emb.backward(gk + gq + gkk + gv)
    return step


LEAK_STEPS = {"rnn-lstm-gru": _rnn_leak_step,
              "embedding-attention": _attention_leak_step}


# --------------------------------------------------------------------------- fuzz
# One small valid float32 call of every public op and module forward of the family.

def _seq(rng):
    return _rand(rng, (3, 2, 4)), _rand(rng, (2, 5))


def _fuzz_layer(kind, cell=False):
    def factory(rng):
        x, h = _seq(rng)
        w = _weights(rng, {"rnn": 1, "lstm": 4, "gru": 3}[kind], 4, 5)
        fwd = getattr(F, f"{kind}_cell_forward" if cell else f"{kind}_forward")
        xx = x[0] if cell else x
        if kind == "lstm":
            return fwd, (xx, h, _rand(rng, (2, 5)), *w), {}
        return fwd, (xx, h, *w), {}
    return factory


def _fuzz_backward(kind, cell=False):
    def factory(rng):
        x, h0 = _seq(rng)
        w = _weights(rng, {"rnn": 1, "lstm": 4, "gru": 3}[kind], 4, 5)
        g, gh = _rand(rng, (3, 2, 5)), _rand(rng, (2, 5))
        if cell:
            x = x[0]
            if kind == "lstm":
                h, c, cache = F.lstm_cell_forward(x, h0, h0, *w)
                return F.lstm_cell_backward, (gh, gh, x, h0, h0, w[0], w[1], cache), {}
            if kind == "gru":
                h, cache = F.gru_cell_forward(x, h0, *w)
                return F.gru_cell_backward, (gh, x, h0, w[0], w[1], cache), {}
            h = F.rnn_cell_forward(x, h0, *w)
            return F.rnn_cell_backward, (gh, x, h0, w[0], w[1], h), {}
        if kind == "lstm":
            y, _, _, cache = F.lstm_forward(x, h0, h0, *w)
            return F.lstm_backward, (g, gh, gh, x, h0, h0, w[0], w[1], y, cache), {}
        if kind == "gru":
            y, _, cache = F.gru_forward(x, h0, *w)
            return F.gru_backward, (g, gh, x, h0, w[0], w[1], y, cache), {}
        y, _ = F.rnn_forward(x, h0, *w)
        return F.rnn_backward, (g, gh, x, h0, w[0], w[1], y), {}
    return factory


def _fuzz_module(make, *shapes, extra=()):
    def factory(rng):
        pydl.manual_seed(0)
        return make(), tuple(_rand(rng, s) for s in shapes) + tuple(extra), {}
    return factory


def _fuzz_embedding_forward(rng):
    return F.embedding_forward, (rng.integers(0, 6, (2, 3)), _rand(rng, (6, 4))), {}


def _fuzz_embedding_backward(rng):
    return F.embedding_backward, (_rand(rng, (2, 3, 4)), rng.integers(0, 6, (2, 3)), 6), {}


def _fuzz_sdpa_forward(rng):
    mask = rng.random((3, 5)) > 0.3
    return (F.scaled_dot_product_attention_forward,
            (_rand(rng, (2, 3, 4)), _rand(rng, (2, 5, 4)), _rand(rng, (2, 5, 6)), mask), {})


def _fuzz_sdpa_backward(rng):
    q, k, v = _rand(rng, (2, 3, 4)), _rand(rng, (2, 5, 4)), _rand(rng, (2, 5, 6))
    out, attn = F.scaled_dot_product_attention_forward(q, k, v)
    return F.scaled_dot_product_attention_backward, (_rand(rng, out.shape), q, k, v, attn), {}


def _additive_args(rng):
    return (_rand(rng, (2, 3)), _rand(rng, (2, 5, 4)), _rand(rng, (6, 3)), _rand(rng, (6, 4)),
            _rand(rng, (6,)))


def _fuzz_additive_forward(rng):
    return F.additive_attention_forward, (*_additive_args(rng), rng.random((2, 5)) > 0.3), {}


def _fuzz_additive_backward(rng):
    args = _additive_args(rng)
    context, alpha, cache = F.additive_attention_forward(*args)
    return (F.additive_attention_backward,
            (_rand(rng, context.shape), _rand(rng, alpha.shape), *args, alpha, cache), {})


FUZZ_CALLS = {
    **{f"{k}_forward": _fuzz_layer(k) for k in ("rnn", "lstm", "gru")},
    **{f"{k}_backward": _fuzz_backward(k) for k in ("rnn", "lstm", "gru")},
    **{f"{k}_cell_forward": _fuzz_layer(k, cell=True) for k in ("rnn", "lstm", "gru")},
    **{f"{k}_cell_backward": _fuzz_backward(k, cell=True) for k in ("rnn", "lstm", "gru")},
    "embedding_forward": _fuzz_embedding_forward,
    "embedding_backward": _fuzz_embedding_backward,
    "scaled_dot_product_attention_forward": _fuzz_sdpa_forward,
    "scaled_dot_product_attention_backward": _fuzz_sdpa_backward,
    "additive_attention_forward": _fuzz_additive_forward,
    "additive_attention_backward": _fuzz_additive_backward,
    "nn.RNN": _fuzz_module(lambda: nn.RNN(4, 5, num_layers=2), (3, 2, 4), (2, 2, 5)),
    "nn.LSTM": _fuzz_module(lambda: nn.LSTM(4, 5, bidirectional=True), (3, 2, 4)),
    "nn.GRU": _fuzz_module(lambda: nn.GRU(4, 5, batch_first=True), (2, 3, 4), (1, 2, 5)),
    "nn.RNNCell": _fuzz_module(lambda: nn.RNNCell(4, 5), (2, 4), (2, 5)),
    "nn.LSTMCell": _fuzz_module(lambda: nn.LSTMCell(4, 5), (2, 4)),
    "nn.GRUCell": _fuzz_module(lambda: nn.GRUCell(4, 5), (2, 4), (2, 5)),
    "nn.Embedding": lambda rng: (nn.Embedding(6, 4), (rng.integers(0, 6, (2, 3)),), {}),
    "nn.ScaledDotProductAttention": _fuzz_module(nn.ScaledDotProductAttention, (2, 3, 4),
                                                 (2, 5, 4), (2, 5, 6)),
    "nn.AdditiveAttention": _fuzz_module(lambda: nn.AdditiveAttention(3, 4, 6), (2, 3),
                                         (2, 5, 4)),
}
