"""Run by test_data_sources.py in a child process: fit, evaluate and predict from a
memory-mapped array larger than the child's data-memory limit (RLIMIT_DATA).

    python _memmap_job.py PATH GIB [--steps K]

Creates a sparse float32 file of GIB GiB (4096 features a sample: no disk is written),
warms up, limits the process's data memory (heap and private mappings; a read-only
file mapping does not count) to what it uses plus 128 MiB, then trains one epoch
(shuffled), evaluates and predicts. With ``--steps K`` only K batches of each. Prints
one JSON line: the sizes, the limit, and the peak anonymous resident memory sampled
during the run (file pages read through the mapping are not counted: they are the
page cache's, not the process's allocation).
"""

import json
import re
import resource
import sys
import threading
import time

import numpy as np

import pydl
from pydl import nn
from pydl.optim import SGD

FEATURES = 4096
HEADROOM = 128 * 2**20


def _status(field):
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024


class PeakAnon(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.peak = _status("RssAnon")
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.005):
            self.peak = max(self.peak, _status("RssAnon"))


def main():
    path, gib = sys.argv[1], float(sys.argv[2])
    steps = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else None
    n = int(gib * 2**30) // (FEATURES * 4)
    np.memmap(path, np.float32, "w+", shape=(n, FEATURES)).flush()  # sparse
    x = np.memmap(path, np.float32, "r", shape=(n, FEATURES))
    y = np.zeros(n, np.int64)
    pydl.manual_seed(0)
    model = nn.Sequential(nn.Linear(FEATURES, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = SGD(model.parameters(), lr=0.01)
    kw = dict(loss="cross_entropy", optimizer=opt, batch_size=256, verbose=0)
    warm = np.zeros((512, FEATURES), np.float32)
    pydl.fit(model, warm, y[:512], **kw)
    pydl.evaluate(model, warm, y[:512], loss="cross_entropy", batch_size=256)
    pydl.predict(model, warm, batch_size=256)

    limit = _status("VmData") + HEADROOM
    resource.setrlimit(resource.RLIMIT_DATA, (limit, resource.RLIM_INFINITY))
    base = _status("RssAnon")
    sampler = PeakAnon()
    sampler.start()
    start = time.perf_counter()
    result = {"samples": n, "x_bytes": x.nbytes, "limit": limit, "headroom": HEADROOM}
    try:
        # (without --steps the call is one the code before batch-wise reading accepted)
        more = {} if steps is None else {"steps_per_epoch": steps}
        limit_steps = {} if steps is None else {"steps": steps}
        h = pydl.fit(model, x, y, seed=0, **kw, **more)
        ev = pydl.evaluate(model, x, y, loss="cross_entropy", batch_size=256, **limit_steps)
        out = pydl.predict(model, x, batch_size=256, **limit_steps)
        result.update(ok=True, loss=h.history["loss"][0], eval_loss=ev["loss"],
                      predicted=len(out), finite=bool(np.isfinite(out).all()))
    except (MemoryError, ValueError) as exc:
        result.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    sampler.done.set()
    sampler.join()
    result.update(seconds=time.perf_counter() - start, anon_base=base,
                  anon_peak=sampler.peak, anon_growth=sampler.peak - base)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
