"""Data-parallel training under ``mpiexec``: each test is one launch that runs many
checks (tests/distributed/_mpi_job.py); ranks run one OpenMP thread each."""

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import pydl
from tests.helpers import child_env

pytest.importorskip("mpi4py", reason="pydl.distributed needs mpi4py (pydl[mpi])")


def _mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.access(here, os.X_OK) else shutil.which("mpiexec")


MPIEXEC = _mpiexec()
if MPIEXEC is None:
    pytest.skip("no mpiexec on PATH or beside the Python executable (pip install mpich)",
                allow_module_level=True)
# Under the sanitizer stage (ASan runtime preloaded, PYTHONMALLOC=malloc) every rank
# runs several times slower; the launches work there too (checked), given time.
SLOW = 3 if "asan" in os.environ.get("LD_PRELOAD", "") else 1


def launch(ranks, scenario, out, timeout=120):
    """Run the scenario on ``ranks`` processes; (returncode, output, seconds)."""
    env = child_env(OMP_NUM_THREADS="1")
    start = time.perf_counter()
    proc = subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, "-m",
                           "tests.distributed._mpi_job", scenario, str(out)],
                          env=env, capture_output=True, text=True, timeout=timeout * SLOW,
                          check=False,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                              os.path.abspath(__file__)))))
    return proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - start


def _passed(rc, output, ranks, scenario):
    assert rc == 0, output[-6000:]
    for r in range(ranks):
        assert f"rank {r} of {ranks}: {scenario} passed" in output, output[-3000:]


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory):
    """The 2-rank launch: DDP vs one process (SGD, Adam, SyncBatchNorm, the tape,
    buckets, overlap), deterministic mode, allreduce_gradients, no_sync, the
    refusal of different models, SyncBatchNorm's gradcheck, and fit."""
    out = tmp_path_factory.mktemp("ddp2")
    rc, output, _ = launch(2, "core", out)
    _passed(rc, output, 2, "core")
    return out, output


def test_two_ranks_match_one_process(two_rank_run):
    out, output = two_rank_run
    assert (out / "ckpt-1.npz").exists() and (out / "log.csv").exists()
    assert not (out / "never.png").exists()
    # rank 0 alone prints the epoch lines, and the callbacks' messages
    assert output.count("Epoch 1/8") == 1
    assert output.count(": early stopping") == 1, output[-3000:]


def test_fit_matches_one_process(two_rank_run):
    """fit on 2 ranks (global batch 12 = 2 x 6) gives the weights, logs, LR decisions
    and early-stopping epoch of fit in one process."""
    from tests.distributed._mpi_job import RTOL, fit_setup, run_fit
    out, _ = two_rank_run
    got = np.load(out / "fit.npz")
    model, optimizer, scheduler, x, y, val = fit_setup()
    early = pydl.callbacks.EarlyStopping(monitor="val_loss", patience=2, min_delta=1e-3)
    history = run_fit(model, optimizer, scheduler, x, y, val, 8, callbacks=[early])
    assert int(got["epochs"]) == len(history.epoch)
    for k, v in model.state_dict().items():
        np.testing.assert_allclose(got[f"w:{k}"], v, rtol=RTOL, atol=1e-14, err_msg=k)
    assert {"f1", "val_f1", "accuracy", "val_loss"} <= set(history.history)
    for k, v in history.history.items():   # F1 from the ranks' summed counts
        np.testing.assert_allclose(got[f"h:{k}"], v, rtol=1e-9, err_msg=k)
    assert len(set(history.history["lr"])) > 1      # ReduceLROnPlateau acted
    assert 0 < early.stopped_epoch < 7               # and EarlyStopping


def test_two_rank_checkpoint_resumes_in_one_process(two_rank_run):
    """The 2-rank run's epoch-2 checkpoint, resumed without MPI, ends where the
    uninterrupted 2-rank run ended (the 3-rank resume: the next test)."""
    from tests.distributed._mpi_job import RTOL, fit_setup, run_fit
    out, _ = two_rank_run
    model, optimizer, scheduler, x, y, val = fit_setup(seed=99)
    generator = np.random.default_rng()
    state = pydl.load(out / "resume-2.npz", model, optimizer, scheduler, rng=generator)
    assert state["epoch"] == 2
    run_fit(model, optimizer, scheduler, x, y, val, 4, initial_epoch=2,
            generator=generator)
    expected = np.load(out / "uninterrupted.npz")
    for k, v in model.state_dict().items():
        np.testing.assert_allclose(v, expected[k], rtol=RTOL, atol=1e-14, err_msg=k)


def test_three_ranks_oversubscribed(two_rank_run):
    """3 ranks on a 2-core machine: DDP vs one process, deterministic mode, and
    resuming the 2-rank run's checkpoint on 3 ranks gives the uninterrupted run."""
    out, _ = two_rank_run
    rc, output, _ = launch(3, "three", out)
    _passed(rc, output, 3, "three")


def test_exception_on_one_rank_ends_all(tmp_path):
    rc, output, _ = launch(2, "fault", tmp_path, timeout=90)
    tail = output[-4000:]
    assert rc != 0, tail
    assert "rank 1 of 2: uncaught exception, aborting every rank" in output, tail
    assert "RuntimeError: deliberate failure on rank 1" in output, tail
    assert "on_train_batch_end" in output, tail     # the failing rank's traceback
    assert "fault passed" not in output, tail
    # 50 epochs were asked for: ending at the failure (epoch 2), not timing out
    assert pydl.load(tmp_path / "fault-1.npz")["epoch"] == 1


@pytest.mark.parametrize("victim", [0, 1])
def test_killed_rank_leaves_last_checkpoint_whole(tmp_path, victim):
    """SIGKILL of rank 1 mid-batch, or of rank 0 mid-write of the next checkpoint."""
    rc, output, _ = launch(2, f"kill{victim}", tmp_path, timeout=90)
    assert rc != 0, output[-3000:]
    from tests.distributed._mpi_job import fit_setup
    model, optimizer, scheduler, *_ = fit_setup(seed=5)
    state = pydl.load(tmp_path / "last.npz", model, optimizer, scheduler)
    assert state["epoch"] == 2
