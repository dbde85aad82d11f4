"""pydl from many Python threads: same bits as the main thread, and a consistent
process-wide thread count when ``threads()`` blocks overlap (issue 14, items 3-4)."""

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import pydl
from pydl import nn, optim
from pydl.functional import conv2d_forward, linear_backward
from pydl._threading import _kernel_blas_libs, blas_single_threaded


def _in_thread(fn, *args):
    """Run ``fn(*args)`` in a new Python thread; return its result or raise its error."""
    box = {}

    def target():
        try:
            box["result"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - re-raised below
            box["error"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join(timeout=600)
    assert not t.is_alive(), "worker thread did not finish"
    if "error" in box:
        raise box["error"]
    return box["result"]


def _blas_threads():
    return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


@pytest.fixture(autouse=True)
def _two_threads():
    pydl.set_num_threads(2)
    yield
    pydl.set_num_threads(2)


def _linear_case():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 512)).astype(np.float32)
    w = rng.standard_normal((384, 512)).astype(np.float32)
    g = rng.standard_normal((256, 384)).astype(np.float32)
    return g, x, w


def test_linear_backward_same_bits_in_a_worker_thread():
    # threadpoolctl lets only the first thread that set the OpenBLAS limit change it:
    # in a worker, BLAS stayed at 2 threads inside the OpenMP region and grad_x
    # differed from the main thread's by up to 3.4e-5.
    g, x, w = _linear_case()
    main = linear_backward(g, x, w)
    worker = _in_thread(linear_backward, g, x, w)
    for a, b in zip(main, worker):
        assert np.array_equal(a, b)


def test_many_threads_at_once_same_bits():
    g, x, w = _linear_case()
    main = linear_backward(g, x, w)
    xc = np.random.default_rng(1).standard_normal((4, 8, 20, 20)).astype(np.float32)
    wc = np.random.default_rng(2).standard_normal((16, 8, 3, 3)).astype(np.float32)
    main_conv = conv2d_forward(xc, wc)
    results, errors = [], []
    start = threading.Barrier(4)

    def work():
        try:
            start.wait()
            for _ in range(3):
                results.append((linear_backward(g, x, w), conv2d_forward(xc, wc)))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=600)
    assert not errors and len(results) == 12
    for lin, conv in results:
        assert all(np.array_equal(a, b) for a, b in zip(main, lin))
        assert np.array_equal(main_conv, conv)
    # every hold ended: BLAS back at the process-wide count
    assert set(_blas_threads().values()) == {2}


def _fit_weights():
    pydl.manual_seed(0)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((96, 300)).astype(np.float32)
    y = rng.integers(0, 4, 96)
    model = nn.Sequential(nn.Linear(300, 256), nn.ReLU(), nn.Linear(256, 4))
    pydl.fit(model, x, y, loss=nn.CrossEntropyLoss(),
             optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=2, batch_size=32,
             verbose=0, seed=0)
    return {k: v.copy() for k, v in model.state_dict().items()}


def test_fit_same_weights_in_a_worker_thread():
    main = _fit_weights()
    worker = _in_thread(_fit_weights)
    assert main.keys() == worker.keys()
    for k in main:
        assert np.array_equal(main[k], worker[k]), k


def test_set_num_threads_from_a_worker_sets_blas_for_the_process():
    # threadpoolctl silently ignored a limit set from a non-controlling thread
    _in_thread(pydl.set_num_threads, 1)
    assert pydl.get_num_threads() == 1
    assert set(_blas_threads().values()) == {1}
    _in_thread(pydl.set_num_threads, 2)
    assert set(_blas_threads().values()) == {2}


def test_blas_hold_is_shared_by_overlapping_kernels():
    # Thread A's kernel ends while thread B's still runs: BLAS must stay at one thread
    # until B's ends too (the old per-block restore re-threaded it under B).
    libs = [lc for lc, _ in _kernel_blas_libs()]
    a_in, b_in, a_out, b_checked = (threading.Event() for _ in range(4))
    seen = {}

    def a():
        with blas_single_threaded(2):
            a_in.set()
            b_in.wait(60)
        a_out.set()

    def b():
        a_in.wait(60)
        with blas_single_threaded(2):
            b_in.set()
            a_out.wait(60)
            seen["during"] = {lc.get_num_threads() for lc in libs}
        b_checked.set()

    ts = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    assert b_checked.is_set()
    assert seen["during"] == {1}
    assert {lc.get_num_threads() for lc in libs} == {2}


def test_set_num_threads_while_a_kernel_holds_blas():
    libs = [lc for lc, _ in _kernel_blas_libs()]
    with blas_single_threaded(2):
        _in_thread(pydl.set_num_threads, 3)
        assert {lc.get_num_threads() for lc in libs} == {1}   # still held
        assert pydl.get_num_threads() == 3
    assert {lc.get_num_threads() for lc in libs} == {3}       # applied at the end


@pytest.mark.parametrize("order", ["first_opened_closes_first", "last_opened_closes_first"])
def test_overlapping_threads_blocks_from_two_threads(order):
    # A opens threads(3), B opens threads(4); they close in either order. The count is
    # the newest open block's, and the value from before both when the last closes
    # (the old code left 3 behind when A closed first).
    pydl.set_num_threads(2)
    a_open, b_open, first_closed = (threading.Event() for _ in range(3))
    seen = {}

    def a():
        with pydl.threads(3):
            a_open.set()
            b_open.wait(60)
            if order == "last_opened_closes_first":
                first_closed.wait(60)
        if order == "first_opened_closes_first":
            seen["after_first"] = pydl.get_num_threads()
            first_closed.set()

    def b():
        a_open.wait(60)
        with pydl.threads(4):
            seen["both_open"] = pydl.get_num_threads()
            b_open.set()
            if order == "first_opened_closes_first":
                first_closed.wait(60)
        if order == "last_opened_closes_first":
            seen["after_first"] = pydl.get_num_threads()
            first_closed.set()

    ts = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    assert seen["both_open"] == 4
    assert seen["after_first"] == (4 if order == "first_opened_closes_first" else 3)
    assert pydl.get_num_threads() == 2
    assert set(_blas_threads().values()) == {2}


def test_nested_threads_and_set_inside_a_block():
    pydl.set_num_threads(2)
    with pydl.threads(1):
        with pydl.threads(3):
            assert pydl.get_num_threads() == 3
            pydl.set_num_threads(4)       # lasts until this block closes
            assert pydl.get_num_threads() == 4
        assert pydl.get_num_threads() == 1
    assert pydl.get_num_threads() == 2


def test_threads_blocks_from_many_threads_end_consistent():
    pydl.set_num_threads(2)
    start = threading.Barrier(6)

    def work(i):
        start.wait()
        for _ in range(50):
            with pydl.threads(1 + i % 4):
                pass

    ts = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    assert pydl.get_num_threads() == 2
    assert set(_blas_threads().values()) == {2}
