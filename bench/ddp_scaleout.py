"""Scale-out on paper: predicted step time and efficiency of data-parallel training at
8, 64 and 256 nodes over 25 Gb/s Ethernet, for ResNet-20 and the char-LSTM.

    python bench/ddp_scaleout.py [--threads 2] [--alpha-loop-us 5.6]
                                 [--wire-alpha-us 10] [--gbit 25]

Inputs. Per node, measured here in this process: the step time and the backward
time of one node's batch (ResNet-20: 32 images of 3x32x32; char-LSTM: 32 windows of
64 characters, 128 hidden units, a 100-symbol vocabulary), float32, ``--threads``
threads, and the gradient size. Per message: the latency ``alpha`` = the measured
loopback MPI_Allreduce latency (software, ``--alpha-loop-us``, from
bench/ddp_scaling.py) + the wire latency of one hop (``--wire-alpha-us``, 10 us is
typical of TCP over 25 GbE); the time per byte ``beta`` = 8 / (``--gbit`` x 1e9).

Model. A ring allreduce of n bytes over p nodes costs 2 (p - 1) alpha + 2 (p - 1) / p
n beta. With k equal buckets, bucket i (backward order) is ready at i / k of the
backward; buckets go out one after another, so bucket i ends at
max(end of i - 1, ready_i) + c with c the cost of one bucket. What is exposed is the
last bucket's end minus the backward's end (all of it without overlap: k = 1, or
overlap off). Efficiency = step / (step + exposed). "best k" tries 1-16 buckets.
Readiness is taken as uniform over the backward: right for ResNet-20's chain of
layers, optimistic for the char-LSTM, whose LSTM weights (most of its gradient) are
final only near the end of its backward.
"""

import argparse
import time

import numpy as np

import pydl
from pydl import nn
from pydl.optim import SGD


def measure(name, threads, steps=4):
    """(step seconds, backward seconds, gradient bytes) of one node's batch."""
    pydl.set_num_threads(threads)
    rng = np.random.default_rng(0)
    loss = nn.CrossEntropyLoss()
    if name == "resnet20":
        pydl.manual_seed(0)
        model = pydl.models.ResNet("basic", layers=(3, 3, 3))
        x = rng.standard_normal((32, 3, 32, 32)).astype(np.float32)
        y = rng.integers(0, 10, 32)

        def fwd():
            return loss(model(x), y), lambda: model.backward(loss.backward())
    else:
        from pydl.examples.char_rnn import CharLSTM
        pydl.manual_seed(0)
        model = CharLSTM(100)
        x = rng.integers(0, 100, (64, 32))
        y = rng.integers(0, 100, (64, 32)).reshape(-1)

        def fwd():
            logits, _ = model(x)
            value = loss(logits.reshape(-1, 100), y)
            return value, lambda: model.backward(loss.backward().reshape(logits.shape))
    opt = SGD(model.parameters(), lr=0.01, momentum=0.9)
    step_t, back_t = [], []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        model.zero_grad()
        _, backward = fwd()
        t1 = time.perf_counter()
        backward()
        t2 = time.perf_counter()
        opt.step()
        if i:
            step_t.append(time.perf_counter() - t0)
            back_t.append(t2 - t1)
    grad_bytes = sum(p.data.nbytes for p in model.parameters())
    return float(np.median(step_t)), float(np.median(back_t)), grad_bytes


def ring(nbytes, p, alpha, beta):
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * nbytes * beta


def exposed(nbytes, p, k, backward, alpha, beta):
    """Communication left after the backward ends, k equal buckets, in order."""
    c = ring(nbytes / k, p, alpha, beta)
    end = 0.0
    for i in range(1, k + 1):
        end = max(end, i / k * backward) + c
    return end - backward


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--alpha-loop-us", type=float, default=5.6)
    parser.add_argument("--wire-alpha-us", type=float, default=10.0)
    parser.add_argument("--gbit", type=float, default=25.0)
    args = parser.parse_args()
    alpha = (args.alpha_loop_us + args.wire_alpha_us) * 1e-6
    beta = 8 / (args.gbit * 1e9)
    print(f"alpha {alpha * 1e6:.1f} us, beta {beta * 1e9:.2f} ns/B "
          f"({args.gbit:g} Gb/s), {args.threads} thread(s) per node")
    for name in ("resnet20", "charlstm"):
        step, back, nbytes = measure(name, args.threads)
        print(f"\n{name}: step {step * 1e3:.1f} ms, backward {back * 1e3:.1f} ms, "
              f"gradients {nbytes / 2**20:.2f} MiB")
        print("   p | one bucket, no overlap | best k (buckets), overlap | "
              "90% needs step >= (k=1)")
        for p in (8, 64, 256):
            t1 = exposed(nbytes, p, 1, back, alpha, beta)
            best = min(range(1, 17), key=lambda k: exposed(nbytes, p, k, back, alpha, beta))
            tb = exposed(nbytes, p, best, back, alpha, beta)
            print(f"{p:4d} | comm {t1 * 1e3:6.2f} ms, eff {step / (step + t1):6.1%} | "
                  f"k={best:2d} ({nbytes / best / 2**20:.3f} MiB): exposed "
                  f"{tb * 1e3:5.2f} ms, eff {step / (step + tb):6.1%} | "
                  f"{9 * t1 * 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
