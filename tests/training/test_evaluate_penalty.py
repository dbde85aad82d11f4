"""evaluate reports the data loss without the regularization penalty, and the penalty
(issue 17, item 14); fit's validation logs carry the same keys."""

import numpy as np
import pytest

import pydl
from pydl import nn, regularizers
from pydl.callbacks import EarlyStopping
from pydl.optim import SGD
from pydl.regularizers import L1, L2


def _data(seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((20, 4)).astype(np.float32), rng.integers(0, 3, 20)


def _model(seed=0, reg=True):
    pydl.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    if reg:
        regularizers.apply(model[0], weight=L2(0.5))
        regularizers.apply(model[2], weight=L1(0.1), bias=L2(0.2))
    return model


def test_evaluate_reports_data_loss_and_penalty_separately():
    x, y = _data()
    model = _model()
    crit = nn.CrossEntropyLoss()
    res = pydl.evaluate(model, x, y, loss=crit, metrics=["accuracy"], batch_size=7)
    with pydl.no_grad():
        data_loss = float(crit(model(x), y))
    penalty = regularizers.penalty(model)
    assert penalty > 0.5  # large enough that mixing the two up would fail
    assert list(res) == ["loss", "data_loss", "penalty", "accuracy"]
    assert res["data_loss"] == pytest.approx(data_loss, rel=1e-6)
    assert res["penalty"] == pytest.approx(penalty, rel=1e-12)
    assert res["loss"] == pytest.approx(data_loss + penalty, rel=1e-6)  # as before (Keras)


def test_without_regularizers_the_keys_are_unchanged():
    x, y = _data()
    res = pydl.evaluate(_model(reg=False), x, y, loss="cross_entropy", metrics=["accuracy"])
    assert list(res) == ["loss", "accuracy"]
    res = pydl.evaluate(_model(), x, y, metrics=["accuracy"])  # no loss: no loss keys
    assert list(res) == ["accuracy"]


def test_a_frozen_parameter_still_adds_its_penalty():
    x, y = _data()
    model = _model()
    model[0].weight.requires_grad_(False)
    res = pydl.evaluate(model, x, y, loss="cross_entropy")
    assert res["penalty"] == pytest.approx(regularizers.penalty(model))
    assert res["penalty"] > 0.5 * float(np.sum(model[0].weight.data.astype(np.float64) ** 2))


def test_fit_validation_logs_match_evaluate():
    x, y = _data()
    model = _model()
    crit = nn.CrossEntropyLoss()
    h = pydl.fit(model, x, y, loss=crit, optimizer=SGD(model.parameters(), lr=0.1),
                 epochs=3, batch_size=8, verbose=0, seed=0, validation_data=(x[:10], y[:10]),
                 callbacks=[EarlyStopping(monitor="val_data_loss", patience=5)])
    res = pydl.evaluate(model, x[:10], y[:10], loss=crit, batch_size=8)
    for key in ("loss", "data_loss", "penalty"):
        assert len(h.history[f"val_{key}"]) == 3
        assert h.history[f"val_{key}"][-1] == pytest.approx(res[key], rel=1e-6)
    assert "data_loss" not in h.history  # training logs keep the penalized running loss
    for total, data, pen in zip(h.history["val_loss"], h.history["val_data_loss"],
                                h.history["val_penalty"]):
        assert total == pytest.approx(data + pen, rel=1e-6)


def test_monitoring_val_data_loss_needs_regularizers():
    x, y = _data()
    model = _model(reg=False)
    with pytest.raises(ValueError, match="monitor 'val_data_loss' is not logged"):
        pydl.fit(model, x, y, loss="cross_entropy", optimizer=SGD(model.parameters(), lr=0.1),
                 epochs=1, verbose=0, validation_data=(x, y),
                 callbacks=[EarlyStopping(monitor="val_data_loss")])
