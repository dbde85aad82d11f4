"""The EMA callback of fit: the average checked by hand on a tiny model, bias
correction, swaps for validation, the training trajectory untouched, buffers."""

import copy

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.callbacks import EMA, Callback
from pydl.optim import SGD


class Recorder(Callback):
    """The training weights after every batch, and what the model holds at epoch end."""

    def __init__(self):
        self.after_batch, self.at_epoch_end, self.val_loss = [], [], []

    def on_train_batch_end(self, batch, logs=None):
        self.after_batch.append([p.data.copy() for p in self.model.parameters()])

    def on_epoch_end(self, epoch, logs=None):
        self.at_epoch_end.append([p.data.copy() for p in self.model.parameters()])
        self.val_loss.append(logs.get("val_loss"))


def _data(n=12):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 3))
    return x, x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3


def _model():
    pydl.manual_seed(0)
    return nn.Linear(3, 1, dtype=np.float64)


def _fit(model, callbacks, epochs=3, **kw):
    x, y = _data()
    return pydl.fit(model, x, y, loss="mse", optimizer=SGD(model.parameters(), lr=0.05),
                    epochs=epochs, batch_size=4, shuffle=False, verbose=0,
                    callbacks=callbacks, **kw)


def _ema_by_hand(trajectory, decay, bias_correction):
    """Per step: v = decay v + (1 - decay) w from 0, v / (1 - decay**t); or a copy,
    then avg = decay avg + (1 - decay) w."""
    out, v, avg = [], None, None
    for t, ws in enumerate(trajectory, 1):
        if bias_correction:
            v = [(1 - decay) * w if v is None else decay * a + (1 - decay) * w
                 for a, w in zip(v or [None] * len(ws), ws)]
            out.append([a / (1 - decay ** t) for a in v])
        else:
            avg = [w.copy() if avg is None else decay * a + (1 - decay) * w
                   for a, w in zip(avg or [None] * len(ws), ws)]
            out.append(avg)
    return out


@pytest.mark.parametrize("bias_correction", [True, False])
def test_ema_weights_by_hand(bias_correction):
    rec = Recorder()
    model = _model()
    ema = EMA(decay=0.8, bias_correction=bias_correction)
    _fit(model, [rec, ema])
    want = _ema_by_hand(rec.after_batch, 0.8, bias_correction)
    assert ema.n_averaged == len(rec.after_batch) == 9
    for got, w in zip(model.parameters(), want[-1]):     # apply_at_end
        np.testing.assert_allclose(got.data, w, rtol=1e-12, atol=1e-15)
    for got, w in zip(ema.averaged_weights, want[-1]):
        np.testing.assert_allclose(got, w, rtol=1e-12, atol=1e-15)
    # the epoch-end callbacks after EMA saw the average of that epoch's last step
    late = Recorder()
    model2 = _model()
    _fit(model2, [EMA(decay=0.8, bias_correction=bias_correction), late])
    for epoch, ws in enumerate(late.at_epoch_end):
        for got, w in zip(ws, want[3 * epoch + 2]):
            np.testing.assert_allclose(got, w, rtol=1e-12, atol=1e-15)


def test_first_average_is_the_first_weights_with_bias_correction():
    rec = Recorder()
    model = _model()
    _fit(model, [rec, EMA(decay=0.999)], epochs=1, steps_per_epoch=1)
    for got, w in zip(model.parameters(), rec.after_batch[0]):
        np.testing.assert_allclose(got.data, w, rtol=1e-13)


def test_training_trajectory_is_unchanged():
    x, y = _data()
    plain, rec_plain = _model(), Recorder()
    _fit(plain, [rec_plain])
    averaged, rec = _model(), Recorder()
    ema = EMA(decay=0.5, apply_at_end=False)
    _fit(averaged, [rec, ema], validation_data=(x, y))
    # swapping back at each epoch start: the same training steps as without EMA
    for a, b in zip(rec.after_batch, rec_plain.after_batch):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
    for got, want in zip(averaged.parameters(), plain.parameters()):   # apply_at_end=False
        np.testing.assert_array_equal(got.data, want.data)


def _with(model, weights):
    model = copy.deepcopy(model)
    for p, w in zip(model.parameters(), weights):
        p.data[...] = w
    return model


def test_validation_loss_is_the_averaged_models():
    x, y = _data()
    model, rec = _model(), Recorder()
    ema = EMA(decay=0.5)
    late = Recorder()
    _fit(model, [rec, ema, late], validation_data=(x, y))
    want = _ema_by_hand(rec.after_batch, 0.5, True)
    for epoch in range(3):
        probe = _with(_model(), want[3 * epoch + 2])
        expected = pydl.evaluate(probe, x, y, loss="mse")["loss"]
        assert late.val_loss[epoch] == pytest.approx(expected, rel=1e-12)
        raw = pydl.evaluate(_with(_model(), rec.after_batch[3 * epoch + 2]), x, y,
                            loss="mse")["loss"]
        assert abs(raw - expected) > 1e-6      # the check can tell the two apart


def test_use_buffers_averages_running_statistics():
    pydl.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)).double()
    states = []

    class Buffers(Callback):
        def on_train_batch_end(self, batch, logs=None):
            states.append(self.model[1].running_mean.copy())

    _fit(model, [Buffers(), EMA(decay=0.7, use_buffers=True)])
    v = np.zeros(4)
    for s in states:
        v = 0.7 * v + 0.3 * s
    np.testing.assert_allclose(model[1].running_mean, v / (1 - 0.7 ** len(states)),
                               rtol=1e-12)
    assert int(model[1].num_batches_tracked) == len(states)     # counters not averaged


def test_unknown_steps_warn():
    model = _model()
    x, y = _data()
    batches = ((x[i:i + 4], y[i:i + 4]) for i in range(0, 12, 4))
    with pytest.warns(UserWarning, match="steps per epoch is unknown"):
        pydl.fit(model, batches, loss="mse", optimizer=SGD(model.parameters(), lr=0.05),
                 epochs=1, verbose=0, callbacks=[EMA(decay=0.5)])


@pytest.mark.parametrize("decay", [1.0, -0.5, "0.9", None])
def test_bad_decay(decay):
    with pytest.raises(ValueError, match="decay must be a number"):
        EMA(decay=decay)


def test_exported_names():
    assert pydl.training.EMA is EMA
