"""Inference, pydl beside ONNX Runtime on the same weights (issue 16's speed target).

    python bench/onnx_inference.py [--threads 1,2] [--rounds 15] [--min-time 0.05]
    OMP_WAIT_POLICY=passive python bench/onnx_inference.py    # threads sleep, not spin

Each model is exported with ``pydl.onnx.export`` and the file is loaded into an
onnxruntime ``InferenceSession`` (CPUExecutionProvider, ``intra_op_num_threads`` =
the thread count, one inter-op thread); pydl runs the same model in eval mode under
``pydl.no_grad()`` and ``pydl.threads(n)``. The two run alternately, round after round,
so that a shared machine's changing load hits both alike; each round times a loop of
calls lasting at least ``--min-time`` seconds. Reported: the median time per call;
batch 1 as latency (ms), batch 64 as throughput (samples/s).

Models (float32): the digits CNN of ``pydl.examples.digits`` (N, 1, 8, 8); ResNet-20
(``pydl.models.ResNet(layers=(3, 3, 3))``, CIFAR-sized (N, 3, 32, 32)); an LSTM
classifier (LSTM 32 -> 128 over 32 steps, batch first, a Linear on the last hidden
state; exported by tracing its forward). Target: pydl within 1.2x of onnxruntime's
latency at batch 1 and at least its throughput at batch 64.

Idle threads spin by default in both libraries (GNU OpenMP for pydl, ONNX Runtime's own
pool). ``OMP_WAIT_POLICY=passive`` in the environment makes pydl's sleep and, here,
also turns ONNX Runtime's spinning off (``session.intra_op.allow_spinning = 0``), so
the two wait alike on a machine with more runnable threads than cores.
"""

import argparse
import io
import os
import platform
import time

import numpy as np

import pydl
from pydl import models, nn
from pydl.onnx import export


class LSTMClassifier(nn.Module):
    """A sequence classifier: LSTM over (N, T, features), Linear on the last state."""

    def __init__(self, features=32, hidden=128, classes=10):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)
        return self.head(h_n[-1])


def _digits_cnn():
    from pydl.examples.digits import build_model
    return build_model(0), (1, 8, 8)


def _resnet20():
    pydl.manual_seed(0)
    return models.ResNet(layers=(3, 3, 3)), (3, 32, 32)


def _lstm():
    pydl.manual_seed(0)
    return LSTMClassifier(), (32, 32)


MODELS = {"digits CNN": _digits_cnn, "ResNet-20": _resnet20, "LSTM classifier": _lstm}
BATCHES = (1, 64)


def _per_call(fn, min_time):
    """Seconds per call of ``fn``, over a loop lasting at least ``min_time``."""
    fn()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / n


def _passive():
    return os.environ.get("OMP_WAIT_POLICY", "").lower() == "passive"


def _session(data, threads):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if _passive():
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def measure(name, threads, rounds, min_time, rng):
    """{batch: (pydl seconds per call, onnxruntime seconds per call)}."""
    model, shape = MODELS[name]()
    model.eval()
    buf = io.BytesIO()
    export(model, rng.standard_normal((2, *shape)).astype(np.float32), buf)
    result = {}
    for batch in BATCHES:
        x = rng.standard_normal((batch, *shape)).astype(np.float32)
        sess = _session(buf.getvalue(), threads)
        feed = {sess.get_inputs()[0].name: x}
        with pydl.no_grad(), pydl.threads(threads):
            ours = model(x)
            theirs = sess.run(None, feed)[0]
            np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)   # same model
            times = {"pydl": [], "onnxruntime": []}
            members = {"pydl": lambda x=x: model(x),
                       "onnxruntime": lambda s=sess, f=feed: s.run(None, f)}
            for _ in range(rounds):
                for member, fn in members.items():
                    times[member].append(_per_call(fn, min_time))
        result[batch] = (float(np.median(times["pydl"])), float(np.median(times["onnxruntime"])))
    return result


def _cpu():
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return platform.processor() or "unknown CPU"
    model = next((ln.split(":", 1)[1].strip() for ln in info.splitlines()
                  if ln.startswith("model name")), "unknown CPU")
    flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines()
                  if ln.startswith("flags")), [])
    isa = [f for f in ("avx512f", "avx2", "fma") if f in flags]
    return f"{model} ({', '.join(isa) or 'no AVX'})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2",
                        help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--min-time", type=float, default=0.05,
                        help="seconds each timed loop lasts at least (default 0.05)")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated subset of: {', '.join(MODELS)}")
    args = parser.parse_args(argv)
    counts = sorted({int(t) for t in args.threads.split(",")})
    names = [m.strip() for m in args.models.split(",")]
    unknown = [m for m in names if m not in MODELS]
    if unknown or counts[0] < 1 or args.rounds < 1:
        parser.error(f"unknown models {unknown}" if unknown else
                     "--threads and --rounds must be at least 1")
    import onnxruntime as ort
    print(f"{_cpu()}; pydl {pydl.__version__}, onnxruntime {ort.__version__}, "
          f"numpy {np.__version__}; {args.rounds} rounds, median; idle threads "
          f"{'sleep (OMP_WAIT_POLICY=passive)' if _passive() else 'spin (the default)'}")
    print()
    print("| model | threads | batch 1 latency pydl / ORT (ms) | ratio | "
          "batch 64 throughput pydl / ORT (samples/s) | ratio | target met |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for name in names:
        for n in counts:
            res = measure(name, n, args.rounds, args.min_time, rng)
            p1, o1 = res[1]
            p64, o64 = res[64]
            lat = p1 / o1
            thr = o64 / p64        # pydl's throughput over onnxruntime's
            met = "yes" if lat <= 1.2 and thr >= 1.0 else "no"
            print(f"| {name} | {n} | {p1 * 1e3:.3f} / {o1 * 1e3:.3f} | {lat:.2f}x | "
                  f"{64 / p64:,.0f} / {64 / o64:,.0f} | {thr:.2f}x | {met} |", flush=True)


if __name__ == "__main__":
    main()
