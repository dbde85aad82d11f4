"""Thread scaling of the headline groups, pydl beside PyTorch, in one process.

    python bench/thread_scaling.py [--threads 1,16] [--rounds 15]

For each case and thread count, the two libraries run alternately (pydl, then
PyTorch, round after round), so that a shared machine's changing load hits both
alike; pytest-benchmark runs each group separately, minutes apart, and on a busy
machine times taken minutes apart are not comparable. Prints the median times and
each library's speedup of the largest thread count over the smallest.

Cases (float32, the shapes of bench/test_bench_conv.py and test_bench_rnn.py):
conv2d_fwd_bwd (N=32, 64 -> 64, 32x32, 3x3, padding 1) and lstm_fwd_bwd (T=50,
N=32, 128 -> 256). Needs PyTorch.
"""

import argparse
import time

import numpy as np
import torch

import pydl
from pydl import functional as F


def _conv_case(rng):
    x = rng.standard_normal((32, 64, 32, 32), dtype=np.float32)
    w = rng.standard_normal((64, 64, 3, 3), dtype=np.float32) * 0.05
    b = rng.standard_normal(64, dtype=np.float32)
    g = rng.standard_normal((32, 64, 32, 32), dtype=np.float32)
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    tg = torch.from_numpy(g)

    def run_pydl():
        F.conv2d_forward(x, w, b, padding=1)
        return F.conv2d_backward(g, x, w, padding=1)

    def run_torch():
        y = torch.nn.functional.conv2d(tx, tw, tb, padding=1)
        return torch.autograd.grad(y, (tx, tw, tb), tg)
    return run_pydl, run_torch


def _lstm_case(rng):
    steps, batch, n_in, hidden = 50, 32, 128, 256
    k = 1 / np.sqrt(hidden)
    shapes = [(4 * hidden, n_in), (4 * hidden, hidden), (4 * hidden,), (4 * hidden,)]
    w = [rng.uniform(-k, k, s).astype(np.float32) for s in shapes]
    x = rng.standard_normal((steps, batch, n_in), dtype=np.float32)
    g = rng.standard_normal((steps, batch, hidden), dtype=np.float32)
    m = torch.nn.LSTM(n_in, hidden)
    m.load_state_dict({name: torch.from_numpy(a) for name, a in zip(
        ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), w)})
    tx = torch.from_numpy(x).requires_grad_()
    tg = torch.from_numpy(g)
    params = tuple(m.parameters())

    def run_pydl():
        y, _, _, cache = F.lstm_forward(x, None, None, *w)
        return F.lstm_backward(g, None, None, x, None, None, w[0], w[1], y, cache)

    def run_torch():
        y, _ = m(tx)
        return torch.autograd.grad(y, (tx, *params), tg)
    return run_pydl, run_torch


CASES = {"conv2d_fwd_bwd": _conv_case, "lstm_fwd_bwd": _lstm_case}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2",
                        help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    counts = sorted({int(t) for t in args.threads.split(",")})
    if counts[0] < 1:
        parser.error("--threads: counts must be at least 1")
    rng = np.random.default_rng(0)
    print(f"pydl {pydl.__version__}, PyTorch {torch.__version__}; medians of "
          f"{args.rounds} alternated rounds")
    for name, make in CASES.items():
        run_pydl, run_torch = make(rng)
        times = {}
        for n in counts:                   # warm up each pool and its workspaces
            torch.set_num_threads(n)
            with pydl.threads(n):
                run_pydl()
                run_torch()
        for _ in range(args.rounds):
            for n in counts:
                torch.set_num_threads(n)
                with pydl.threads(n):
                    for lib, run in (("pydl", run_pydl), ("torch", run_torch)):
                        t0 = time.perf_counter()
                        run()
                        times.setdefault((lib, n), []).append(time.perf_counter() - t0)
        print(f"\n{name}")
        for lib in ("pydl", "torch"):
            med = {n: float(np.median(times[(lib, n)])) * 1e3 for n in counts}
            cells = ", ".join(f"{n} thread(s) {med[n]:.1f} ms" for n in counts)
            print(f"  {lib:5s}: {cells}; speedup {counts[-1]} vs {counts[0]}: "
                  f"{med[counts[0]] / med[counts[-1]]:.2f}x")


if __name__ == "__main__":
    main()
