"""Layer-shape suite, recurrent layers (issue 13): LSTM and GRU at T 20-100, batch
1/8/32/128, hidden 64-1024 with an input size unlike the hidden size, plus two-layer
bidirectional stacks; forward (inference, no gradient bookkeeping) and forward+backward
(input and weight gradients, upstream gradient on every output).

One-layer rows: pydl.functional.lstm_forward / lstm_backward (gru_*); two-layer
bidirectional rows: pydl.nn.LSTM / GRU modules (forward, then backward). PyTorch runs
torch.nn.LSTM / GRU with the same weights and torch.autograd.grad.
"""

import numpy as np
import pytest

import pydl
from pydl import functional as F
from pydl import nn

from conftest import torch
from layers_common import check_once, need_torch, pairs, run_row

pytestmark = pytest.mark.layers

# kind, T, batch, input, hidden, layers (2 = two-layer bidirectional)
_SHAPES = [
    (100, 1, 32, 128, 1),     # one sequence, e.g. online inference
    (50, 8, 64, 256, 1),
    (50, 32, 128, 256, 1),
    (100, 32, 64, 64, 1),     # small hidden: per-step cost dominates
    (50, 128, 64, 256, 1),
    (20, 32, 512, 1024, 1),   # wide
    (50, 32, 64, 256, 2),
]
ROWS = ([(f"lstm_t{t}_b{n}_i{i}_h{h}" + ("_2l_bi" if nl == 2 else ""), "LSTM", t, n, i, h, nl)
         for t, n, i, h, nl in _SHAPES + [(20, 128, 300, 512, 1), (100, 8, 128, 128, 2)]]
        + [(f"gru_t{t}_b{n}_i{i}_h{h}" + ("_2l_bi" if nl == 2 else ""), "GRU", t, n, i, h, nl)
           for t, n, i, h, nl in _SHAPES])


def _weights(rng, gates, n_in, hidden):
    k = 1 / np.sqrt(hidden)
    shapes = [(gates * hidden, n_in), (gates * hidden, hidden), (gates * hidden,),
              (gates * hidden,)]
    return [rng.uniform(-k, k, s).astype(np.float32) for s in shapes]


@pytest.mark.parametrize("row,mode,impl", pairs(ROWS))
def test_layers_rnn(benchmark, row, mode, impl):
    need_torch(impl)
    name, kind, t, n, n_in, hidden, layers = row
    gates = 4 if kind == "LSTM" else 3
    rng = np.random.default_rng(0)
    x = rng.standard_normal((t, n, n_in), dtype=np.float32)
    dirs = 2 if layers == 2 else 1
    g = rng.standard_normal((t, n, dirs * hidden), dtype=np.float32)
    tx = torch.from_numpy(x).requires_grad_()
    tg = torch.from_numpy(g)
    tm = getattr(torch.nn, kind)(n_in, hidden, num_layers=layers, bidirectional=layers == 2)
    if layers == 1:
        w = _weights(rng, gates, n_in, hidden)
        tm.load_state_dict({k: torch.from_numpy(v) for k, v in zip(
            ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), w)})
        if kind == "LSTM":
            def p_fwd():
                return F.lstm_forward(x, None, None, *w)

            def p_fwd_bwd():
                y, _, _, cache = F.lstm_forward(x, None, None, *w)
                return F.lstm_backward(g, None, None, x, None, None, w[0], w[1], y, cache)
        else:
            def p_fwd():
                return F.gru_forward(x, None, *w)

            def p_fwd_bwd():
                y, _, cache = F.gru_forward(x, None, *w)
                return F.gru_backward(g, None, x, None, w[0], w[1], y, cache)
        # lstm_backward: dx, dh0, dc0, dW_ih, dW_hh, db_ih, db_hh (the None states drop out)
    else:
        pm = getattr(nn, kind)(n_in, hidden, num_layers=layers, bidirectional=True)
        tm.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in
                            pm.state_dict().items()})

        def p_fwd():
            return pm(x)

        def p_fwd_bwd():
            pm.zero_grad()
            pm(x)
            dx = pm.backward(g)
            return [dx] + [np.array(p.grad) for _, p in pm.named_parameters()]
    params = tuple(tm.parameters())

    if mode == "fwd":
        def pydl_run():
            with pydl.no_grad():
                return p_fwd()[0]

        def torch_run():
            with torch.no_grad():
                return tm(tx)[0]
        flops = 2 * t * n * (n_in + hidden) * gates * hidden * dirs * layers
    else:
        def pydl_run():
            out = p_fwd_bwd()
            return [o for o in out if o is not None and np.ndim(o) > 0 and
                    np.shape(o) != (n, hidden)]

        def torch_run():
            return torch.autograd.grad(tm(tx)[0], (tx, *params), tg)
        flops = 6 * t * n * (n_in + hidden) * gates * hidden * dirs * layers
    check_once((name, mode), pydl_run, torch_run)
    run_row(benchmark, "rnn", name, mode, impl, pydl_run if impl == "pydl" else torch_run,
            flops=flops)
