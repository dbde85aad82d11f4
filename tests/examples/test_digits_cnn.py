"""The CNN example reaches at least 98% on the held-out digits (issue 3)."""

import numpy as np
import pytest

import pydl

pytest.importorskip("sklearn")

from pydl.examples.digits_cnn import build_model, load, main  # noqa: E402


def test_split_is_stratified_and_disjoint():
    x_train, y_train, x_test, y_test = load()
    assert x_train.shape[1:] == (1, 8, 8) and len(x_train) + len(x_test) == 1797
    assert abs(len(x_test) / 1797 - 0.25) < 0.01
    assert np.all(np.abs(np.bincount(y_test) / len(y_test) - 0.1) < 0.02)
    train_rows = {r.tobytes() for r in x_train}
    assert sum(r.tobytes() in train_rows for r in x_test) < 20  # only true duplicates


def test_cnn_reaches_98_percent_on_held_out_digits(capsys):
    """The mean held-out accuracy of three seeds (split, initialization and shuffling)
    is at least 98%. One seed is not enough: training amplifies rounding, and builds
    that round differently (CI's serial build tiles BLAS calls otherwise) differ by
    several digits (seeds 0-2: 97.3 / 99.6 / 98.0% serial, 98.9 / 98.9 / 99.3% with
    OpenMP on 2 cores; 450 test digits, 0.22% each)."""
    # One thread: every kernel is bitwise the same at any thread count (test_determinism),
    # so the accuracy is too, and one thread keeps the run short on a busy machine.
    accuracies = []
    with pydl.threads(1):
        for seed in ("0", "1", "2"):
            accuracies.append(main(["--epochs", "40", "--seed", seed])["test_accuracy"])
    assert np.mean(accuracies) >= 0.98, accuracies
    assert min(accuracies) >= 0.96, accuracies   # no seed far off
    assert "test accuracy" in capsys.readouterr().out


def test_build_model_shapes():
    assert build_model()(np.zeros((3, 1, 8, 8), np.float32)).shape == (3, 10)
