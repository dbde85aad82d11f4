"""learning_curve: training and validation loss against training-set size (issue 17,
item 13), with small real models."""

import itertools
import warnings

import numpy as np
import pytest

import pydl
from pydl import nn, regularizers
from pydl.model_selection import LearningCurve, learning_curve
from pydl.optim import Adam


def _data(n=240, seed=0):
    """A noisy 3-class problem a small MLP overfits on few samples."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((6, 3))
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = np.argmax(x @ w + 0.8 * rng.standard_normal((n, 3)), axis=1)
    return x, y


def _build_and_fit(x, y, l2=0.0):
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 3))
    if l2:
        regularizers.apply(model[0], weight=regularizers.L2(l2))
    pydl.fit(model, x, y, loss="cross_entropy", optimizer=Adam(model.parameters(), lr=1e-2),
             epochs=25, batch_size=16, verbose=0, seed=0)
    return model


def test_each_point_is_the_model_fitted_on_that_many_samples():
    x, y = _data()
    val = (x[180:], y[180:])
    curve = learning_curve(_build_and_fit, x[:180], y[:180], loss="cross_entropy",
                           train_sizes=[8, 30, 180], validation_data=val, shuffle=False)
    np.testing.assert_array_equal(curve.train_sizes, [8, 30, 180])
    for i, n in enumerate(curve.train_sizes):
        pydl.manual_seed(0)
        model = _build_and_fit(x[:n], y[:n])
        assert curve.train_loss[i] == pydl.evaluate(model, x[:n], y[:n],
                                                    loss="cross_entropy")["loss"]
        assert curve.val_loss[i] == pydl.evaluate(model, *val, loss="cross_entropy")["loss"]
    # few samples: memorized, and far off on new data; more data closes the gap
    assert curve.train_loss[0] < 0.1 and curve.val_loss[0] > 1.0
    assert curve.val_loss[-1] < 0.8 * curve.val_loss[0]
    assert curve.gap[-1] < curve.gap[0]
    np.testing.assert_array_equal(curve.gap, curve.val_loss - curve.train_loss)


def test_subsets_are_nested_and_held_out_data_is_never_trained_on():
    x, y = _data(100)
    x[:, 0] = np.arange(100)  # a row id
    seen = []

    def build_and_fit(xt, yt):
        seen.append(xt[:, 0].astype(int))
        return nn.Linear(6, 3)

    curve = learning_curve(build_and_fit, x, y, loss="cross_entropy",
                           train_sizes=(0.1, 0.5, 1.0), validation_split=0.2, seed=3)
    np.testing.assert_array_equal(curve.train_sizes, [8, 40, 80])
    assert [len(s) for s in seen] == [8, 40, 80]
    for small, big in itertools.pairwise(seen):
        np.testing.assert_array_equal(big[:len(small)], small)
    assert len(set(seen[-1])) == 80
    assert not np.array_equal(seen[-1], np.arange(80))  # shuffled
    again = []
    learning_curve(lambda xt, yt: again.append(xt[:, 0].astype(int)) or nn.Linear(6, 3),
                   x, y, loss="cross_entropy", train_sizes=(0.1, 0.5, 1.0), seed=3)
    for a, b in zip(seen, again):
        np.testing.assert_array_equal(a, b)


def test_the_curve_is_reproducible():
    x, y = _data(120)
    kw = {"loss": "cross_entropy", "train_sizes": [10, 40, 96], "metrics": ["accuracy"]}
    a, b = learning_curve(_build_and_fit, x, y, **kw), learning_curve(_build_and_fit, x, y, **kw)
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    np.testing.assert_array_equal(a.val_loss, b.val_loss)
    assert sorted(a.metrics) == ["train_accuracy", "val_accuracy"]
    for key, values in a.metrics.items():
        np.testing.assert_array_equal(values, b.metrics[key])
        assert values.shape == (3,) and np.all((values >= 0) & (values <= 1))
    assert a.metrics["train_accuracy"][0] == 1.0


def test_the_penalty_is_left_out_of_both_curves():
    x, y = _data(120)
    fits = []

    def build_and_fit(xt, yt):
        fits.append(_build_and_fit(xt, yt, l2=0.05))
        return fits[-1]

    curve = learning_curve(build_and_fit, x[:100], y[:100], loss="cross_entropy",
                           train_sizes=[20, 100], validation_data=(x[100:], y[100:]),
                           shuffle=False)
    for i, model in enumerate(fits):
        n = curve.train_sizes[i]
        res = pydl.evaluate(model, x[:n], y[:n], loss="cross_entropy")
        assert res["penalty"] > 0.05
        assert curve.train_loss[i] == res["data_loss"] < res["loss"]


def test_table_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    curve = LearningCurve([5, 20], [0.1, 0.3], [1.2, 0.6],
                          {"train_accuracy": [1.0, 0.9], "val_accuracy": [0.5, 0.7]})
    lines = curve.table().splitlines()
    assert lines[0].split() == ["train", "size", "train", "loss", "val", "loss", "gap",
                                "train_accuracy", "val_accuracy"]
    assert lines[2].split() == ["5", "0.1", "1.2", "1.1", "1", "0.5"]
    assert len(lines) == 4
    path = curve.plot(tmp_path / "curve.png", log_x=True)
    assert path == str(tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_repeated_sizes_warn_and_are_fitted_once():
    x, y = _data(50)
    calls = []
    with pytest.warns(RuntimeWarning, match="train_sizes repeat"):
        curve = learning_curve(lambda xt, yt: calls.append(len(xt)) or nn.Linear(6, 3),
                               x, y, loss="cross_entropy", train_sizes=[1, 5, 5])
    assert calls == [1, 5]
    np.testing.assert_array_equal(curve.train_sizes, [1, 5])


def test_bad_input():
    x, y = _data(50)
    ok = lambda xt, yt: nn.Linear(6, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TypeError, match="build_and_fit must be callable"):
            learning_curve("fit", x, y, loss="cross_entropy")
        with pytest.raises(TypeError, match="must return the fitted pydl.nn.Module, got tuple"):
            learning_curve(lambda xt, yt: (nn.Linear(6, 3), None), x, y, loss="cross_entropy")
        with pytest.raises(ValueError, match=r"fractions of the 40 training samples, in \(0, 1\]"):
            learning_curve(ok, x, y, loss="cross_entropy", train_sizes=[0.0, 0.5])
        with pytest.raises(ValueError, match=r"must be in \[1, 40\]"):
            learning_curve(ok, x, y, loss="cross_entropy", train_sizes=[5, 41])
        with pytest.raises(ValueError, match="non-empty 1-D list"):
            learning_curve(ok, x, y, loss="cross_entropy", train_sizes=[])
        with pytest.raises(ValueError, match=r"validation_split must be a number in \(0, 1\)"):
            learning_curve(ok, x, y, loss="cross_entropy", validation_split=1.5)
        with pytest.raises(TypeError, match="validation_data must be a pair"):
            learning_curve(ok, x, y, loss="cross_entropy", validation_data=x)
        with pytest.raises(ValueError, match="inconsistent numbers of samples"):
            learning_curve(ok, x, y[:-1], loss="cross_entropy")
        with pytest.raises(ValueError, match="seed must be >= 0"):
            learning_curve(ok, x, y, loss="cross_entropy", seed=-1)
        with pytest.raises(ValueError, match="batch_size must be >= 1"):
            learning_curve(ok, x, y, loss="cross_entropy", batch_size=0)


def test_the_callers_random_stream_is_left_alone():
    x, y = _data(50)
    pydl.manual_seed(123)
    want = pydl.random.default_generator().random(3)
    pydl.manual_seed(123)
    learning_curve(lambda xt, yt: nn.Linear(6, 3), x, y, loss="cross_entropy",
                   train_sizes=[5, 10])
    np.testing.assert_array_equal(pydl.random.default_generator().random(3), want)
