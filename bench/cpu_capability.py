"""What each copy of the SIMD-dispatched kernels buys: the same ops timed under every
PYDL_CPU_CAPABILITY this CPU has (one subprocess per copy, medians), float32.

    OMP_NUM_THREADS=1 python bench/cpu_capability.py

Prints a Markdown table: median time per copy and the speed-up of each copy over the
baseline ("default").
"""

import json
import os
import subprocess
import sys
import textwrap

CAPS = ("default", "avx2", "avx512")

_CASES = r"""
import json, time
import numpy as np
import pydl
from pydl import nn

rng = np.random.default_rng(0)


def median_time(fn, repeat=15):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def fwd_bwd(module, *shape):
    x = rng.standard_normal(shape).astype(np.float32)
    y = module(x)
    y = y[0] if isinstance(y, tuple) else y
    g = rng.standard_normal(y.shape).astype(np.float32)
    module.backward(g)  # a module's explicit backward pairs with its last forward

    def run():
        module(x)
        module.backward(g)
    return run


cases = {
    "sigmoid fwd+bwd (64, 4096)": fwd_bwd(nn.Sigmoid(), 64, 4096),
    "log_softmax fwd+bwd (256, 1000)": fwd_bwd(nn.LogSoftmax(dim=1), 256, 1000),
    "conv 3x3 32->32, 32x32, batch 16": fwd_bwd(nn.Conv2d(32, 32, 3, padding=1), 16, 32, 32, 32),
    "depthwise 3x3, 64 ch, 32x32, batch 16": fwd_bwd(nn.Conv2d(64, 64, 3, padding=1, groups=64),
                                                      16, 64, 32, 32),
    "linear 1024->1024, batch 1": fwd_bwd(nn.Linear(1024, 1024), 1, 1024),
    "LSTM 128->256, T 20, batch 32": fwd_bwd(nn.LSTM(128, 256, batch_first=True), 32, 20, 128),
    "BatchNorm2d 64 ch, 16x16, batch 64": fwd_bwd(nn.BatchNorm2d(64), 64, 64, 16, 16),
    "LayerNorm 768, 512 rows": fwd_bwd(nn.LayerNorm(768), 512, 768),
}
print(json.dumps({"capability": pydl.show_config(print_out=False)["cpu_capability"],
                  "threads": pydl.get_num_threads(),
                  "cpu": pydl.show_config(print_out=False)["cpu"],
                  "times": {k: median_time(v) for k, v in cases.items()}}))
"""


def _run(cap):
    env = dict(os.environ, PYDL_CPU_CAPABILITY=cap)
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(_CASES)], env=env,
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"PYDL_CPU_CAPABILITY={cap}: the timing run failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    runs = {}
    for cap in CAPS:
        r = _run(cap)
        if r["capability"] != cap:  # the CPU lacks it (or no dispatch in this build)
            break
        runs[cap] = r
    if not runs:
        sys.exit("this build has no runtime SIMD dispatch")
    first = next(iter(runs.values()))
    print(f"CPU: {first['cpu']}; {first['threads']} thread(s); copies: {', '.join(runs)}\n")
    print("| op | " + " | ".join(runs) + " | " +
          " | ".join(f"{c} vs default" for c in list(runs)[1:]) + " |")
    print("|---|" + "---:|" * (2 * len(runs) - 1))
    for op, base in runs["default"]["times"].items():
        times = [runs[c]["times"][op] for c in runs]
        ratios = [f"{base / t:.2f}x" for t in times[1:]]
        print(f"| {op} | " + " | ".join(f"{t * 1e3:.3f} ms" for t in times) + " | " +
              " | ".join(ratios) + " |")


if __name__ == "__main__":
    main()
