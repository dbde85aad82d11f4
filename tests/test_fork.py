"""pydl in child processes: fork, forkserver, spawn, os.fork, ProcessPoolExecutor
(issue 14, item 1).

The parent runs kernels at 2 threads first, so libgomp's thread pool and OpenBLAS's
threads are alive when it forks. Before the fix, a forked child hung forever in its
first multi-threaded kernel (libgomp's pool lists threads that fork did not copy).
Each case runs in a subprocess with a timeout, so a hang fails instead of hanging CI.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from .helpers import child_env

SCRIPT = textwrap.dedent('''
    import json, os, pickle, sys, threading, warnings
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np
    import scipy.linalg.blas as sblas

    import pydl
    from pydl.functional import conv2d_forward, linear_backward, linear_forward


    def data():
        rng = np.random.default_rng(0)
        x = rng.standard_normal((8, 16, 24, 24)).astype(np.float32)
        w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
        a = rng.standard_normal((256, 512)).astype(np.float32)
        b = rng.standard_normal((384, 512)).astype(np.float32)
        g = rng.standard_normal((256, 384)).astype(np.float32)
        return x, w, a, b, g


    def compute():
        x, w, a, b, g = data()
        return [conv2d_forward(x, w), linear_forward(a, b), linear_backward(g, a, b)[2],
                a @ b.T, sblas.sgemm(1.0, a, b, trans_b=True)]


    def work(_=None):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            arrays = compute()
            n = pydl.get_num_threads()
        msgs = [str(c.message) for c in caught if issubclass(c.category, RuntimeWarning)]
        return arrays, n, msgs


    def after_set_threads(_=None):
        # In a child left serial, setting threads again must not hang either: the
        # forking thread stays serial, a new thread gets the threads.
        pydl.set_num_threads(2)
        arrays, n, msgs = work()
        box = {}
        t = threading.Thread(target=lambda: box.setdefault("r", work()))
        t.start()
        t.join()
        return arrays, n, msgs, box["r"][1]


    if __name__ == "__main__":
        method, variant = sys.argv[1], sys.argv[2]
        if variant == "nopause":   # an OpenMP runtime without omp_pause_resource_all
            pydl._threading._PAUSE_BEFORE_FORK = False
        pydl.set_num_threads(2)
        ref, _, _ = work()         # the parent's pools are alive from here on
        if variant == "set_again":
            pydl._threading._PAUSE_BEFORE_FORK = False
        fn = after_set_threads if variant == "set_again" else work
        if method == "os.fork":
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                with os.fdopen(w, "wb") as f:
                    pickle.dump(fn(), f)
                os._exit(0)
            os.close(w)
            with os.fdopen(r, "rb") as f:
                results = [pickle.load(f)]
            os.waitpid(pid, 0)
        elif method == "pool":
            # forks by default on Linux up to Python 3.13; say so for later ones
            with ProcessPoolExecutor(2, mp_context=mp.get_context("fork")) as ex:
                results = list(ex.map(fn, range(4)))
        else:
            with mp.get_context(method).Pool(2) as p:
                results = p.map(fn, range(4))
        again, _, _ = work()       # the parent still works, same bits
        same = [all(np.array_equal(a, b) for a, b in zip(ref, res[0])) for res in results]
        same.append(all(np.array_equal(a, b) for a, b in zip(ref, again)))
        print(json.dumps({"same": same, "threads": [res[1] for res in results],
                          "warnings": [res[2] for res in results],
                          "extra": [list(res[3:]) for res in results]}))
''')

TIMEOUT = 300


def _count_in_child(_):
    import warnings
    import pydl
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # a fallback warning would fail here
        return pydl.get_num_threads()


def _run(tmp_path, method, variant):
    script = tmp_path / "fork_case.py"
    script.write_text(SCRIPT)
    # A session of its own, so that a hung child (forked, not a subprocess of ours) is
    # killed with the rest of its process group instead of being left behind.
    proc = subprocess.Popen([sys.executable, str(script), method, variant],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, start_new_session=True, env=child_env())
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{method} ({variant}): a child process hung (killed after {TIMEOUT} s)")
    finally:
        try:   # children still alive after the script ended (they should not be)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn", "os.fork", "pool"])
def test_children_run_multi_threaded_kernels(tmp_path, method):
    res = _run(tmp_path, method, "default")
    assert all(res["same"]), res
    # the forking thread's OpenMP threads were released before fork: children keep
    # the parent's 2 threads and nothing to warn about
    assert res["threads"] == [2] * len(res["threads"])
    assert res["warnings"] == [[]] * len(res["warnings"])


def _openmp_built():
    from pydl._ext import _build_info
    return _build_info.openmp_enabled()


needs_openmp = pytest.mark.skipif(not _openmp_built(),
                                  reason="a build without OpenMP has no thread pool to lose")


@needs_openmp
@pytest.mark.parametrize("method", ["fork", "os.fork", "pool"])
def test_without_pause_forked_children_run_serial_and_warn_once(tmp_path, method):
    # libgomp before GCC 9 has no omp_pause_resource_all: the child cannot restart
    # the forking thread's pool, so that thread runs serial, with one warning.
    res = _run(tmp_path, method, "nopause")
    assert all(res["same"]), res    # bitwise the same at 1 thread
    assert res["threads"] == [1] * len(res["threads"])
    for msgs in res["warnings"]:
        # a pool worker runs several tasks: the first one warns, the rest do not
        assert len(msgs) <= 1
        assert all("forked" in m and "1 thread instead of 2" in m for m in msgs)
    assert sum(len(m) for m in res["warnings"]) >= 1


@needs_openmp
def test_without_pause_setting_threads_again_in_the_child_does_not_hang(tmp_path):
    res = _run(tmp_path, "os.fork", "set_again")
    assert all(res["same"]), res
    # the forking thread stays serial (its pool is dead); a new thread gets 2 threads
    assert res["threads"] == [1]
    assert res["extra"] == [[2]]


def test_children_of_a_serial_build_keep_the_count(tmp_path, monkeypatch):
    """Without OpenMP there is no pool to lose: no serial fallback, no warning."""
    import multiprocessing as mp
    import pydl
    import pydl._threading as th
    # What a PYDL_NO_OPENMP build looks like from here: no runtime, no pause function.
    monkeypatch.setitem(th._OMP, "built", False)
    monkeypatch.setitem(th._OMP, "resolved", True)
    monkeypatch.setitem(th._OMP, "pause", None)
    with pydl.threads(2):
        pydl.get_num_threads()             # this thread now counts as a kernel thread
        with mp.get_context("fork").Pool(1) as p:
            n, = p.map(_count_in_child, [0])
    assert n == 2
