"""Run by test_atomic_step.py in a child process: Ctrl-C (SIGINT) during
``Optimizer.step`` must leave every parameter updated or none.

Prints one JSON line of counts. ``--old`` replaces the deferral with a no-op (the code
before it existed), to show that the checks fail without it.
"""

import contextlib
import json
import os
import signal
import sys
import threading
import time

import numpy as np

import pydl
from pydl import nn
from pydl.optim import SGD, Adam, Optimizer
from pydl.optim import optimizer as _optimizer

if "--old" in sys.argv:
    _optimizer.deferred_interrupt = contextlib.nullcontext


def _params(n_layers=25, seed=0):
    pydl.manual_seed(seed)
    model = nn.Sequential(*[nn.Linear(4, 4) for _ in range(n_layers)])
    params = list(model.parameters())
    rng = np.random.default_rng(seed)
    for p in params:  # every parameter changes in every step
        p.grad = rng.uniform(0.5, 1.0, p.shape).astype(p.dtype)
    return params


def _changed(before, params):
    return sum(not np.array_equal(b, p.data) for b, p in zip(before, params))


class KillingSGD(SGD):
    """Sends itself SIGINT while updating parameter ``at`` (the middle of a step)."""

    at = 20

    def _update(self, param, group, state):
        self.count = getattr(self, "count", 0) + 1
        if self.count == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        super()._update(param, group, state)


class OwnStep(Optimizer):
    """A user's optimizer that overrides ``step`` itself."""

    def __init__(self, params, lr=0.1):
        super().__init__(params, {"lr": lr})

    def _check_group(self, group):
        pass

    def step(self, closure=None):
        for i, p in enumerate(self.param_groups[0]["params"]):
            if i == 20:
                os.kill(os.getpid(), signal.SIGINT)
            p.data -= self.param_groups[0]["lr"] * p.grad


def deterministic(make):
    params = _params()
    opt = make(params)
    before = [p.data.copy() for p in params]
    interrupted = False
    try:
        opt.step()
    except KeyboardInterrupt:
        interrupted = True
    return {"interrupted": interrupted, "changed": _changed(before, params),
            "total": len(params), "handler_restored":
            signal.getsignal(signal.SIGINT) is signal.default_int_handler}


class SlowAdam(Adam):
    """Adam with a pause per parameter, so that a step takes most of the time."""

    def _update(self, param, group, state):
        time.sleep(0.0004)
        super()._update(param, group, state)


def random_timing(wanted=25, seed=1):
    """SIGINT from another thread at random moments; one signal outstanding at a time
    (the sender waits until the main thread has examined the last one)."""
    params = _params()
    opt = SlowAdam(params, lr=0.01)
    handled = threading.Event()
    stop = threading.Event()
    rng = np.random.default_rng(seed)

    def sender():
        while not stop.is_set():
            time.sleep(rng.uniform(0.0, 0.03))
            if stop.is_set():
                break
            handled.clear()
            os.kill(os.getpid(), signal.SIGINT)
            handled.wait(10)

    counts = {"interrupts": 0, "all": 0, "none": 0, "mixed": 0, "outside": 0, "steps": 0}
    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    while counts["interrupts"] < wanted:
        try:
            while counts["interrupts"] < wanted:
                before = None
                try:
                    before = [p.data.copy() for p in params]
                    opt.step()
                    counts["steps"] += 1
                except KeyboardInterrupt:
                    counts["interrupts"] += 1
                    if before is None or len(before) != len(params):
                        counts["outside"] += 1
                    else:
                        k = _changed(before, params)
                        counts["all" if k == len(params) else "none" if k == 0
                               else "mixed"] += 1
                    handled.set()
        except KeyboardInterrupt:
            counts["interrupts"] += 1
            counts["outside"] += 1
            handled.set()
    stop.set()
    handled.set()
    thread.join()
    return counts


def main():
    out = {
        "sgd": deterministic(lambda ps: KillingSGD(ps, lr=0.1, momentum=0.9)),
        "own_step": deterministic(lambda ps: OwnStep(ps)),
        "random": random_timing(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
