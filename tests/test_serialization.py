import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.optim import SGD
from pydl.serialization import CheckpointError

from .helpers import child_env
from .training import _resume_job
from .training._fakes import HalvingLR

ROOT = Path(__file__).resolve().parents[1]


def _trained(seed=0):
    pydl.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = np.random.default_rng(seed).standard_normal((8, 3)).astype(np.float32)
    pydl.fit(model, x, np.arange(8) % 2, loss=nn.CrossEntropyLoss(), optimizer=opt,
             epochs=2, batch_size=4, verbose=0, seed=seed)
    return model, opt


def test_round_trip_of_everything(tmp_path):
    model, opt = _trained()
    sched = HalvingLR(opt, every=3)
    sched.step()
    gen = np.random.default_rng(42)
    gen.random(5)
    extra = {"note": "best", "scores": [0.5, float("nan"), float("inf")], 3: (1, "x"),
             "nested": {"arr": np.arange(4, dtype=np.int16), "none": None, "flag": True},
             "big": 2 ** 70, "f": 0.1 + 0.2}
    path = tmp_path / "ckpt.npz"
    pydl.save(path, model=model, optimizer=opt, scheduler=sched, epoch=7, rng=gen, extra=extra)

    model2, opt2 = _trained(seed=1)
    sched2 = HalvingLR(opt2, every=1)
    gen2 = np.random.default_rng(0)
    state = pydl.load(path, model=model2, optimizer=opt2, scheduler=sched2, rng=gen2)
    for (k, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for i in s1["state"]:
        np.testing.assert_array_equal(s1["state"][i]["momentum_buffer"],
                                      s2["state"][i]["momentum_buffer"])
    assert sched2.state_dict() == sched.state_dict()
    assert gen2.random() == gen.random()
    assert state["epoch"] == 7 and state["pydl_version"] == pydl.__version__
    got = state["extra"]
    assert got["note"] == "best" and got[3] == (1, "x") and got["big"] == 2 ** 70
    assert got["f"] == 0.1 + 0.2  # every bit
    assert got["scores"][0] == 0.5 and np.isnan(got["scores"][1]) and got["scores"][2] == np.inf
    np.testing.assert_array_equal(got["nested"]["arr"], np.arange(4, dtype=np.int16))
    assert got["nested"]["arr"].dtype == np.int16
    assert got["nested"]["none"] is None and got["nested"]["flag"] is True


def test_load_without_targets_returns_the_state(tmp_path):
    model, opt = _trained()
    pydl.save(tmp_path / "c", model=model)  # no suffix is added
    assert os.listdir(tmp_path) == ["c"]
    state = pydl.load(tmp_path / "c")
    assert list(state["model"]) == list(model.state_dict())
    assert state["optimizer"] is None and state["epoch"] is None and state["rng_state"] is None
    with pytest.raises(ValueError, match="holds no optimizer state"):
        pydl.load(tmp_path / "c", optimizer=opt)
    with pytest.raises(ValueError, match="holds no random generator state"):
        pydl.load(tmp_path / "c", rng=np.random.default_rng())


def test_pydl_random_state_round_trips(tmp_path):
    pydl.manual_seed(5)
    pydl.random.default_generator().random(3)
    pydl.save(tmp_path / "r.npz", rng=pydl.random)
    expected = pydl.random.default_generator().random(4)
    pydl.manual_seed(99)
    pydl.load(tmp_path / "r.npz", rng=pydl.random)
    np.testing.assert_array_equal(pydl.random.default_generator().random(4), expected)
    # the saved state also restores into a Generator of the same kind
    gen = np.random.default_rng()
    pydl.load(tmp_path / "r.npz", rng=gen)
    np.testing.assert_array_equal(gen.random(4), expected)
    mt = np.random.Generator(np.random.MT19937(1))
    with pytest.raises(ValueError, match="state is for PCG64.*uses MT19937"):
        pydl.load(tmp_path / "r.npz", rng=mt)
    pydl.save(tmp_path / "mt.npz", rng=mt)  # array-valued states work too
    expected = mt.random(3)
    mt2 = np.random.Generator(np.random.MT19937(2))
    pydl.load(tmp_path / "mt.npz", rng=mt2)
    np.testing.assert_array_equal(mt2.random(3), expected)


def _write_npz(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage", "no_meta",
                                    "bad_json", "foreign", "npy", "pickle"])
def test_corrupt_files_raise_a_clear_error_naming_the_file(tmp_path, damage):
    model, _ = _trained()
    path = tmp_path / "model.ckpt"
    pydl.save(path, model=model)
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":  # inside the first weight's data: the CRC catches it
        data = bytearray(raw)
        data[raw.index(b"\x93NUMPY") + 140] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "garbage":
        path.write_bytes(os.urandom(300))
    elif damage == "no_meta":
        _write_npz(path, w=np.zeros(3))
    elif damage == "bad_json":
        _write_npz(path, __meta__=np.frombuffer(b"{not json", np.uint8))
    elif damage == "foreign":
        _write_npz(path, __meta__=np.frombuffer(json.dumps({"format": "x"}).encode(), np.uint8))
    elif damage == "npy":
        np.save(open(path, "wb"), np.zeros(3))
    elif damage == "pickle":  # an object array: loading it would unpickle
        _write_npz(path, __meta__=np.frombuffer(b"{}", np.uint8), obj=np.array([{}], object))
    with pytest.raises(CheckpointError) as info:
        pydl.load(path, model=model)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        pydl.load("/nonexistent/dir/ckpt.npz")


def test_unsupported_values_are_refused_before_writing(tmp_path):
    path = tmp_path / "c.npz"
    with pytest.raises(TypeError, match="cannot save extra\\['fn'\\]: values of type function"):
        pydl.save(path, extra={"fn": lambda: 0})
    with pytest.raises(TypeError, match="dtype object"):
        pydl.save(path, extra={"a": np.array([None])})
    with pytest.raises(TypeError, match="model must be a pydl.nn.Module"):
        pydl.save(path, model={"w": 1})
    with pytest.raises(TypeError, match="epoch must be an int"):
        pydl.save(path, epoch=1.5)
    assert not path.exists() and not list(tmp_path.iterdir())


def test_a_failed_save_keeps_the_old_checkpoint_and_leaves_no_temp_file(tmp_path, monkeypatch):
    model, _ = _trained()
    path = tmp_path / "c.npz"
    pydl.save(path, model=model, epoch=1)

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        pydl.save(path, model=model, epoch=2)
    monkeypatch.undo()
    assert pydl.load(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["c.npz"]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_during_save_leaves_the_previous_checkpoint_loadable(tmp_path):
    """A child saves an 8 MB model in a loop; SIGKILL it in the middle of a save.

    The child's fsync sleeps first, so the kill is sure to land after the temporary
    file is written and before it is renamed over the checkpoint."""
    path = tmp_path / "big.npz"
    child = subprocess.Popen([sys.executable, "-m", "tests.training._save_loop", str(path), "1"],
                             cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, text=True)
    try:
        done = 0
        for line in child.stdout:
            kind, i = line.split()
            if kind == "done":
                done = int(i)
            elif done >= 2:  # "begin" of the third save
                time.sleep(0.05)
                break
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert done == 2
    state = pydl.load(path)
    assert state["epoch"] == 2  # the previous checkpoint, whole
    np.testing.assert_array_equal(state["model"]["weight"], np.full(2_000_000, 2, np.float32))
    np.testing.assert_array_equal(state["model"]["bias"], np.full(10, 2, np.float32))
    # the interrupted save left only its temporary file behind
    assert sorted(p.name.endswith(".tmp") for p in tmp_path.iterdir()) == [False, True]


def test_resume_in_a_fresh_process_is_bitwise_identical(tmp_path):
    """N epochs straight vs k epochs, checkpoint, N-k epochs in a new process."""
    n, k = 5, 2
    model, opt, sched, x, y = _resume_job.build()
    _resume_job.train(model, opt, sched, x, y, np.random.default_rng(123), 0, n)
    straight = model.state_dict()

    model, opt, sched, x, y = _resume_job.build()
    ckpt = tmp_path / "epoch-{epoch}.npz"
    _resume_job.train(model, opt, sched, x, y, np.random.default_rng(123), 0, k,
                      callbacks=[pydl.callbacks.ModelCheckpoint(ckpt)])
    assert opt.param_groups[0]["lr"] == 0.1  # the schedule has moved: resuming must keep it
    out = tmp_path / "resumed.npz"
    subprocess.run([sys.executable, "-m", "tests.training._resume_job",
                    str(tmp_path / f"epoch-{k}.npz"), str(out), str(n)],
                   cwd=ROOT, env=child_env(), check=True, timeout=120)
    with np.load(out) as resumed:
        assert sorted(resumed.files) == sorted(straight)
        for key, value in straight.items():
            np.testing.assert_array_equal(resumed[key], value, err_msg=key)
            assert not np.array_equal(value, model.state_dict()[key])  # training went on


def test_checkpoints_are_plain_npz(tmp_path):
    model, _ = _trained()
    pydl.save(tmp_path / "c.npz", model=model, extra={"a": 1})
    with zipfile.ZipFile(tmp_path / "c.npz") as z:
        names = sorted(z.namelist())
    assert names == ["__meta__.npy", "model/0.bias.npy", "model/0.weight.npy",
                     "model/2.bias.npy", "model/2.weight.npy"]
    with np.load(tmp_path / "c.npz", allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["model/0.weight"], model[0].weight.data)
        meta = json.loads(npz["__meta__"].tobytes())
    assert meta["format"] == "pydl-checkpoint" and meta["extra"] == {"__dict__": [["a", 1]]}
