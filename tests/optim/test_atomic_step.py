"""Ctrl-C during Optimizer.step: the step is applied whole, then KeyboardInterrupt."""

import json
import os
import signal
import subprocess
import sys
import threading

import numpy as np

import pydl
from pydl import nn
from pydl.optim import SGD, Optimizer, deferred_interrupt

from ..helpers import child_env

JOB = os.path.join(os.path.dirname(__file__), "_interrupt_job.py")


def _run_job():
    done = subprocess.run([sys.executable, JOB], capture_output=True, text=True, timeout=300,
                          env=child_env(OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_sigint_during_step_updates_every_parameter_or_none():
    out = _run_job()
    # SIGINT sent while the 20th of 50 parameters is updated: built-in SGD (base-class
    # step) and a user's optimizer that overrides step; all 50 updated, then the
    # interrupt, then the default handler is back
    for case in ("sgd", "own_step"):
        assert out[case] == {"interrupted": True, "changed": 50, "total": 50,
                             "handler_restored": True}, case
    # SIGINT at random moments from another thread, 25 times during Adam steps
    r = out["random"]
    assert r["interrupts"] == 25 and r["mixed"] == 0, r
    assert r["all"] >= 20, r  # most land inside a step (it takes most of the time)


def test_held_back_signal_goes_to_the_previous_python_handler():
    seen = []

    def handler(signum, frame):
        seen.append(signum)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        with deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            assert seen == []
        assert seen == [signal.SIGINT]
        assert signal.getsignal(signal.SIGINT) is handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_step_in_another_thread_and_step_wrapping():
    pydl.manual_seed(0)
    lin = nn.Linear(3, 2)
    for p in lin.parameters():
        p.grad = np.ones_like(p.data)
    before = [p.data.copy() for p in lin.parameters()]
    errors = []

    def work():
        try:
            SGD(lin.parameters(), lr=0.5).step()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert not errors
    for b, p in zip(before, lin.parameters()):
        np.testing.assert_array_equal(p.data, b - 0.5)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    class Mine(Optimizer):
        def __init__(self, params):
            super().__init__(params, {})

        def _check_group(self, group):
            pass

        def step(self, closure=None):
            """My step."""
            return 7

    assert Mine.step.__doc__ == "My step." and Mine.step.__name__ == "step"
    assert getattr(Mine.step, "_pydl_atomic", False)
    assert Mine(lin.parameters()).step() == 7
