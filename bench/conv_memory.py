"""Peak extra memory of a conv2d forward + backward pass at batch 256.

    python bench/conv_memory.py [--batch 256] [--threads 2]

N=256, 64 -> 64 channels, 32x32, 3x3, padding 1, float32. Prints:

- the arrays the pass returns (y, dx, dW, db), measured with tracemalloc (NumPy
  registers its allocations there);
- the kernels' own workspace (malloc'ed, so not seen by tracemalloc), from the
  kernels' size formula ``pydl._ext.conv.workspace_elements`` at 1, 2 and 16 threads;
- the process's peak resident memory during the pass above what it held before
  (Linux: VmHWM, reset through /proc/self/clear_refs), which covers both;
- for scale, the im2col matrix of the whole batch that a naive implementation holds.
"""

import argparse
import tracemalloc

import numpy as np

import pydl
from pydl import functional as F
from pydl._ext import conv as _conv

MIB = 2**20


def _status(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak():
    """Make VmHWM restart from the current RSS (Linux >= 4.0); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def workspace_bytes(n, c, k, size, n_threads, itemsize=4):
    shape = dict(w_shape=(k, c, 1, 3, 3), stride=(1, 1, 1), padding=(0, 1, 1),
                 dilation=(1, 1, 1), groups=1, n_threads=n_threads)
    fwd, bwd = _conv.workspace_elements((n, c, 1, size, size),
                                        out_shape=(n, k, 1, size, size), **shape)
    return fwd * itemsize, bwd * itemsize


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=pydl.get_num_threads())
    args = parser.parse_args()
    n, c, k, size = args.batch, 64, 64, 32
    pydl.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, size, size), dtype=np.float32)
    w = rng.standard_normal((k, c, 3, 3), dtype=np.float32) * 0.05
    b = rng.standard_normal(k, dtype=np.float32)
    g = rng.standard_normal((n, k, size, size), dtype=np.float32)
    F.conv2d_backward(g[:2], x[:2], w, padding=1)   # load and warm up outside the window

    inputs = x.nbytes + w.nbytes + b.nbytes + g.nbytes
    can_reset = _reset_peak()
    rss_before = _status("VmRSS")
    tracemalloc.start()
    y = F.conv2d_forward(x, w, b, padding=1)
    gx, gw, gb = F.conv2d_backward(g, x, w, padding=1)
    numpy_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    hwm = _status("VmHWM")
    outputs = y.nbytes + gx.nbytes + gw.nbytes + gb.nbytes

    print(f"conv2d forward + backward: N={n}, {c} -> {k} channels, {size}x{size}, 3x3, "
          f"padding 1, float32, {args.threads} thread(s)")
    print(f"  inputs (x, weight, bias, grad_out), not counted: {inputs / MIB:8.1f} MiB")
    print(f"  returned arrays (y, dx, dW, db):                 {outputs / MIB:8.1f} MiB")
    print(f"  NumPy allocations at peak (tracemalloc):         {numpy_peak / MIB:8.1f} MiB")
    for t in sorted({1, 2, 16, args.threads}):
        fwd, bwd = workspace_bytes(n, c, k, size, t)
        print(f"  kernel workspace at {t:2d} thread(s): forward {fwd / MIB:6.2f} MiB, "
              f"backward {bwd / MIB:6.2f} MiB (same at any batch size)")
    if can_reset and rss_before is not None and hwm is not None:
        print(f"  measured peak RSS growth during the pass:        "
              f"{(hwm - rss_before) / MIB:8.1f} MiB")
    else:
        print("  (peak RSS not measurable here: needs Linux /proc/self/clear_refs)")
    im2col = n * c * 9 * size * size * 4
    print(f"  for scale, a whole-batch im2col matrix:          {im2col / MIB:8.1f} MiB")


if __name__ == "__main__":
    main()
