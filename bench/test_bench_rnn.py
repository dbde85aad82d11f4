"""Recurrent layers: one LSTM / GRU layer over a sequence, forward and backward.

Shapes from issue 4: T=50 steps, batch 32, input 128, hidden 256, float32; a
small-hidden case (hidden 32) where per-step overhead dominates. pydl and the NumPy
reference run the functional ops; PyTorch runs ``torch.nn.LSTM`` / ``GRU`` with the
same weights and ``torch.autograd.grad`` for the input and weight gradients.
"""

import numpy as np

import pydl
from pydl import functional as F
from pydl import reference as R

from conftest import setup_bench, torch

T, N, I, H = 50, 32, 128, 256


def _weights(rng, gates, n_in, hidden):
    k = 1 / np.sqrt(hidden)
    shapes = [(gates * hidden, n_in), (gates * hidden, hidden), (gates * hidden,),
              (gates * hidden,)]
    return [rng.uniform(-k, k, s).astype(np.float32) for s in shapes]


def _torch_module(kind, n_in, hidden, weights):
    m = getattr(torch.nn, kind)(n_in, hidden)
    m.load_state_dict({name: torch.from_numpy(w) for name, w in
                       zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                           weights)})
    return m


def _flops(gates, steps, batch, n_in, hidden, backward=True):
    fwd = 2 * steps * batch * (n_in + hidden) * gates * hidden
    return 3 * fwd if backward else fwd


def _fwd_bwd(benchmark, impl, group, kind, n_in, hidden):
    """Forward over the sequence, then backward from an upstream gradient on every
    output: input and weight gradients."""
    gates = 4 if kind == "LSTM" else 3
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, N, n_in), dtype=np.float32)
    g = rng.standard_normal((T, N, hidden), dtype=np.float32)
    w = _weights(rng, gates, n_in, hidden)
    setup_bench(benchmark, group, impl, flops=_flops(gates, T, N, n_in, hidden))
    if impl == "torch":
        m = _torch_module(kind, n_in, hidden, w)
        tx = torch.from_numpy(x).requires_grad_()
        tg = torch.from_numpy(g)
        params = tuple(m.parameters())

        def run():
            y, _ = m(tx)
            return torch.autograd.grad(y, (tx, *params), tg)
    elif kind == "LSTM":
        ops = F if impl == "pydl" else R

        def run():
            y, _, _, cache = ops.lstm_forward(x, None, None, *w)
            return ops.lstm_backward(g, None, None, x, None, None, w[0], w[1], y, cache)
    else:
        ops = F if impl == "pydl" else R

        def run():
            y, _, cache = ops.gru_forward(x, None, *w)
            return ops.gru_backward(g, None, x, None, w[0], w[1], y, cache)
    benchmark(run)


def test_lstm_fwd_bwd(benchmark, impl):
    """LSTM, T=50, N=32, 128 -> 256, float32: output, then input and weight gradients."""
    _fwd_bwd(benchmark, impl, "lstm_fwd_bwd", "LSTM", I, H)


def test_lstm_small_fwd_bwd(benchmark, impl):
    """LSTM, T=50, N=32, 32 -> 32, float32: per-step overhead dominates."""
    _fwd_bwd(benchmark, impl, "lstm_small_fwd_bwd", "LSTM", 32, 32)


def test_gru_fwd_bwd(benchmark, impl):
    """GRU, T=50, N=32, 128 -> 256, float32: output, then input and weight gradients."""
    _fwd_bwd(benchmark, impl, "gru_fwd_bwd", "GRU", I, H)


def test_lstm_fwd(benchmark, impl):
    """LSTM inference, T=50, N=32, 128 -> 256, float32, without gradient bookkeeping."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, N, I), dtype=np.float32)
    w = _weights(rng, 4, I, H)
    setup_bench(benchmark, "lstm_fwd", impl, flops=_flops(4, T, N, I, H, backward=False))
    if impl == "torch":
        m = _torch_module("LSTM", I, H, w)
        tx = torch.from_numpy(x)

        def run():
            with torch.no_grad():
                return m(tx)
    else:
        ops = F if impl == "pydl" else R

        def run():
            with pydl.no_grad():
                return ops.lstm_forward(x, None, None, *w)
    benchmark(run)
