"""fit / evaluate / predict from memory-mapped arrays and iterables of batches, read one
batch at a time (issue 14, item 10), and drop_last with BatchNorm (item 5)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.data import DataLoader
from pydl.optim import SGD

from ..helpers import child_env

JOB = os.path.join(os.path.dirname(__file__), "_memmap_job.py")


def _data(n=45, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x, (x @ rng.standard_normal((d, k))).argmax(1)


def _model(seed=0, bn=False):
    pydl.manual_seed(seed)
    layers = [nn.Linear(4, 16)] + ([nn.BatchNorm1d(16)] if bn else []) + [nn.Tanh(),
                                                                         nn.Linear(16, 3)]
    return nn.Sequential(*layers)


def _fit(model, x, y=None, **kw):
    kw.setdefault("optimizer", SGD(model.parameters(), lr=0.2, momentum=0.9))
    kw.setdefault("loss", "cross_entropy")
    kw.setdefault("verbose", 0)
    return pydl.fit(model, x, y, **kw)


def _weights(model):
    return [p.data.copy() for p in model.parameters()]


def _assert_same(a, b):
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa, pb)


def _memmap(tmp_path, a, name="x.bin"):
    m = np.memmap(tmp_path / name, a.dtype, "w+", shape=a.shape)
    m[...] = a
    m.flush()
    return np.memmap(tmp_path / name, a.dtype, "r", shape=a.shape)


# ---------------------------------------------------------------- memory maps
@pytest.mark.parametrize("shuffle", [False, True])
def test_memmap_gives_the_in_memory_results_bitwise(tmp_path, shuffle):
    x, y = _data(45)
    xm, ym = _memmap(tmp_path, x), _memmap(tmp_path, y, "y.bin")
    runs = []
    for xs, ys in ((x, y), (xm, ym)):
        model = _model()
        h = _fit(model, xs, ys, epochs=2, batch_size=8, shuffle=shuffle, seed=3,
                 validation_data=(xs[:20], ys[:20]), metrics=["accuracy"])
        runs.append((_weights(model), h.history,
                     pydl.predict(model, xs, batch_size=7),
                     pydl.evaluate(model, xs, ys, loss="cross_entropy", batch_size=6)))
    (wa, ha, pa, ea), (wb, hb, pb, eb) = runs
    _assert_same(wa, wb)
    assert ha == hb and ea == eb
    np.testing.assert_array_equal(pa, pb)
    assert type(pb) is np.ndarray


def test_a_memmap_is_checked_batch_by_batch(tmp_path):
    x, y = _data(40)
    x[25] = np.nan  # in the fourth batch of 8
    xm = _memmap(tmp_path, x)
    model = _model()
    with pytest.raises(ValueError, match=r"x contains NaN or infinity \(batch 3\)"):
        _fit(model, xm, y, batch_size=8, shuffle=False)
    with pytest.raises(ValueError, match=r"x contains NaN or infinity \(batch 5\)"):
        pydl.predict(model, xm, batch_size=5)
    # an in-memory array is still refused whole, before any update
    before = _weights(model)
    with pytest.raises(ValueError, match=r"x contains NaN or infinity$"):
        _fit(model, x, y, batch_size=8)
    _assert_same(before, _weights(model))


def _job(tmp_path, gib, *args):
    done = subprocess.run([sys.executable, JOB, str(tmp_path / "big.bin"), str(gib), *args],
                          capture_output=True, text=True, timeout=600, env=child_env(OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if out.get("skip"):
        pytest.skip(out["skip"])
    return out


# The memory bounds are glibc malloc's: under the sanitizer stage (the ASan runtime in
# LD_PRELOAD) freed batches wait in ASan's quarantine (256 MiB) and the child's
# RLIMIT_DATA headroom runs out.
memory_bounds = pytest.mark.skipif(
    not sys.platform.startswith("linux") or "asan" in os.environ.get("LD_PRELOAD", ""),
    reason="needs Linux (RLIMIT_DATA, /proc) and glibc's malloc, not a sanitizer's")


@memory_bounds
def test_fit_evaluate_predict_a_memmap_larger_than_the_memory_limit(tmp_path):
    # 1 GiB memmap; the child may allocate 128 MiB more than after warm-up. Before
    # batch-wise reading, the finiteness scan alone asked for 256 MiB (MemoryError).
    out = _job(tmp_path, 1)
    assert out["ok"], out
    assert out["x_bytes"] > out["limit"] > out["headroom"]
    assert out["predicted"] == out["samples"] and out["finite"]
    # anonymous memory grew by a few batches' worth (measured: 4.5 MiB), not by x's size
    assert out["anon_growth"] < 64 * 2**20, out


@memory_bounds
def test_a_few_steps_on_a_memmap_larger_than_the_machines_memory(tmp_path):
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    gib = ram / 2**30 + 1  # a sparse file: no disk written
    # before: "x (shape ...) would need 25.0 GiB, more than this machine's 23.5 GiB"
    out = _job(tmp_path, f"{gib:.3f}", "--steps", "3")
    assert out["ok"], out
    assert out["predicted"] == 3 * 256 and out["x_bytes"] > ram
    assert out["anon_growth"] < 64 * 2**20, out


# ---------------------------------------------------------- iterables of batches
def test_a_dataloader_gives_the_array_results_bitwise():
    x, y = _data(45)
    a, b = _model(), _model()
    ha = _fit(a, x, y, epochs=3, batch_size=8, generator=np.random.default_rng(7))
    loader = DataLoader(x, y, batch_size=8, shuffle=True, generator=np.random.default_rng(7))
    hb = _fit(b, loader, epochs=3, validation_data=DataLoader(x, y, batch_size=16))
    _assert_same(_weights(a), _weights(b))
    assert ha.history["loss"] == hb.history["loss"]
    assert hb.params["steps"] == 6 and hb.params["samples"] == 45
    assert len(hb.history["val_loss"]) == 3
    np.testing.assert_array_equal(pydl.predict(a, x, batch_size=8),
                                  pydl.predict(b, DataLoader(x, batch_size=8)))
    np.testing.assert_array_equal(pydl.predict(a, x, batch_size=8),
                                  pydl.predict(b, DataLoader(x, y, batch_size=8)))
    assert pydl.evaluate(a, x, y, loss="cross_entropy", batch_size=9) == \
        pydl.evaluate(b, DataLoader(x, y, batch_size=9), loss="cross_entropy")


def test_a_generator_with_steps_per_epoch():
    x, y = _data(48)

    def endless():
        while True:
            for i in range(0, 48, 8):
                yield x[i:i + 8], y[i:i + 8]

    a, b = _model(), _model()
    _fit(a, x, y, epochs=2, batch_size=8, shuffle=False)
    h = _fit(b, endless(), epochs=2, steps_per_epoch=6)
    _assert_same(_weights(a), _weights(b))
    assert h.params["steps"] == 6 and h.params["samples"] is None
    out = pydl.predict(b, (xb for xb, _ in endless()), steps=3)
    np.testing.assert_array_equal(out, pydl.predict(b, x[:24], batch_size=8))
    # with arrays, steps_per_epoch takes the first batches of each epoch
    c = _model()
    _fit(c, x, y, epochs=2, batch_size=8, shuffle=False, steps_per_epoch=2)
    d = _model()
    _fit(d, np.concatenate([x[:16]] * 2), np.concatenate([y[:16]] * 2), batch_size=8,
         shuffle=False)
    _assert_same(_weights(c), _weights(d))


def test_a_generator_used_up_and_bad_batches_are_refused():
    x, y = _data(16)
    model = _model()
    gen = ((x[i:i + 8], y[i:i + 8]) for i in range(0, 16, 8))
    with pytest.raises(ValueError, match="x yielded no batches; a generator is used up "
                                         "after one pass"):
        _fit(model, gen, epochs=2)
    with pytest.raises(ValueError, match="y must be None when x is an iterable"):
        _fit(model, DataLoader(x, y, batch_size=4), y)
    with pytest.raises(ValueError, match="validation_split needs x and y as arrays"):
        _fit(model, DataLoader(x, y, batch_size=4), validation_split=0.5)
    bad = x.copy()
    bad[9] = np.inf
    before = _weights(model)
    with pytest.raises(ValueError, match=r"x contains NaN or infinity \(batch 1\)"):
        _fit(model, iter([(x[:8], y[:8]), (bad[8:], y[8:])]))
    assert not all(np.array_equal(a, b) for a, b in zip(before, _weights(model)))
    with pytest.raises(TypeError, match="x batch 0 x has dtype float64 but the model's"):
        _fit(model, iter([(x[:8].astype(np.float64), y[:8])]))
    with pytest.raises(TypeError, match=r"x must yield \(x_batch, y_batch\) pairs, batch 0 "
                                        "is a ndarray"):
        _fit(model, iter([x[:8]]))
    with pytest.raises(ValueError, match="inconsistent numbers of samples: x batch 0 x has 8"):
        pydl.evaluate(model, iter([(x[:8], y[:7])]), metrics=["accuracy"])
    with pytest.raises(ValueError, match="steps_per_epoch must be >= 1"):
        _fit(model, x, y, steps_per_epoch=0)


# ------------------------------------------------------------ item 5: drop_last
@pytest.mark.parametrize("kwargs, detail", [
    ({"batch_size": 8}, "33 samples in batches of 8 leave a last batch of 1"),
    ({"batch_size": 1}, "batch_size=1 makes every batch one sample"),
    ({"batch_size": 32, "validation_split": 0.03}, "33 samples in batches of 32"),
])
def test_a_one_sample_batch_with_batchnorm_is_refused_before_any_update(kwargs, detail):
    x, y = _data(35 if "validation_split" in kwargs else 33)  # 35 * 0.97 -> 33
    model = _model(bn=True)
    opt = SGD(model.parameters(), lr=0.2, momentum=0.9)
    before = _weights(model)
    stats = model[1].running_mean.copy()
    with pytest.raises(ValueError, match="one sample would reach BatchNorm1d '1' .*" + detail +
                                         ".*pass drop_last=True to fit"):
        _fit(model, x, y, optimizer=opt, **kwargs)
    _assert_same(before, _weights(model))
    np.testing.assert_array_equal(stats, model[1].running_mean)
    assert not opt.state


def test_drop_last_trains_on_full_batches_only():
    x, y = _data(33)
    a, b = _model(bn=True), _model(bn=True)
    h = _fit(a, x, y, epochs=2, batch_size=8, drop_last=True, shuffle=False)
    _fit(b, x[:32], y[:32], epochs=2, batch_size=8, shuffle=False)
    _assert_same(_weights(a), _weights(b))
    assert h.params["steps"] == 4 and h.params["samples"] == 33
    # without BatchNorm a last batch of one is fine; a DataLoader or generator that
    # yields one is refused too (before any update for a DataLoader)
    _fit(_model(), x, y, batch_size=8)
    model = _model(bn=True)
    before = _weights(model)
    with pytest.raises(ValueError, match="33 samples in batches of 8 leave a last batch "
                                         "of 1: pass drop_last=True"):
        _fit(model, DataLoader(x, y, batch_size=8))
    _assert_same(before, _weights(model))
    _fit(model, DataLoader(x, y, batch_size=8, drop_last=True))
    with pytest.raises(ValueError, match="batch 1 has one sample: pass drop_last=True"):
        _fit(model, iter([(x[:8], y[:8]), (x[8:9], y[8:9])]))
    # steps_per_epoch that stops before the short batch
    _fit(_model(bn=True), x, y, batch_size=8, steps_per_epoch=4)


# ------------------------------------------------- item 2: inference from threads
def _bn_dropout_model():
    pydl.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(32, 3))
    x, y = _data(64)
    _fit(model, x, y, epochs=2, batch_size=16, seed=0)  # running statistics away from 0/1
    model.zero_grad()
    return model


def test_predict_and_evaluate_from_many_threads_equal_one_thread_and_write_nothing():
    import threading
    model = _bn_dropout_model()
    model.train()
    x, y = _data(200, seed=5)
    state = {k: v.copy() for k, v in model.state_dict().items()}
    expected = pydl.predict(model, x, batch_size=4)
    expected_eval = pydl.evaluate(model, x, y, loss="cross_entropy", metrics=["accuracy"],
                                  batch_size=4)
    assert all(m.training for m in model.modules())
    results, errors = [], []

    def work(k):
        try:
            for _ in range(4):
                if k % 2:
                    results.append(("p", pydl.predict(model, x, batch_size=4)))
                else:
                    results.append(("e", pydl.evaluate(model, x, y, loss="cross_entropy",
                                                       metrics=["accuracy"], batch_size=4)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 16
    for kind, r in results:
        if kind == "p":
            np.testing.assert_array_equal(r, expected)
        else:
            assert r == expected_eval
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, state[k], err_msg=k)
    assert all(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
