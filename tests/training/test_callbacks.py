import csv
import io
import math

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.callbacks import (Callback, CSVLogger, EarlyStopping, LearningRateScheduler,
                            ModelCheckpoint, TerminateOnNaN)
from pydl.optim import SGD


def _setup(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = rng.integers(0, 3, n)
    pydl.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    return model, x, y


def _fit(model, x, y, callbacks, epochs=10, lr=0.1, **kw):
    kw.setdefault("validation_data", (x, y))
    return pydl.fit(model, x, y, loss=nn.CrossEntropyLoss(),
                    optimizer=SGD(model.parameters(), lr=lr), epochs=epochs, batch_size=10,
                    callbacks=callbacks, verbose=0, seed=0, **kw)


class Inject(Callback):
    """Overwrites a logged value with scripted ones (callbacks after it see them)."""

    def __init__(self, key, values):
        self.key, self.values = key, values

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class Snapshots(Callback):
    """The model's weights at the end of every epoch."""

    def __init__(self):
        self.states = []

    def on_epoch_end(self, epoch, logs=None):
        self.states.append(self.model.state_dict())


def _assert_state_equal(a, b):
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("values, patience, min_delta, stop_epoch, best_epoch", [
    ([5, 4, 3, 3.5, 3.2, 3.1, 1, 1, 1, 1], 2, 0.0, 4, 2),
    ([5, 4, 3, 3.5, 3.2, 2.9, 3, 3, 3, 3], 3, 0.0, 8, 5),
    ([5, 4.95, 4.9, 4.85, 4.8, 1, 1, 1, 1, 1], 2, 0.1, 2, 0),
    ([5, 6, 7, 8, 9, 9, 9, 9, 9, 9], 0, 0.0, 1, 0),
])
def test_early_stopping_keras_semantics(values, patience, min_delta, stop_epoch, best_epoch):
    model, x, y = _setup()
    snaps = Snapshots()
    es = EarlyStopping(monitor="val_loss", patience=patience, min_delta=min_delta,
                       restore_best_weights=True)
    h = _fit(model, x, y, [Inject("val_loss", values), snaps, es])
    assert h.epoch == list(range(stop_epoch + 1))
    assert es.stopped_epoch == stop_epoch and es.best_epoch == best_epoch
    assert es.best == values[best_epoch]
    _assert_state_equal(model.state_dict(), snaps.states[best_epoch])


def test_early_stopping_max_mode_baseline_and_no_restore():
    model, x, y = _setup()
    snaps = Snapshots()
    acc = [0.5, 0.6, 0.7, 0.65, 0.7, 0.6, 0.9, 0.9, 0.9, 0.9]
    es = EarlyStopping(monitor="val_accuracy", patience=2)  # auto: higher is better
    h = _fit(model, x, y, [Inject("val_accuracy", acc), snaps, es], metrics=["accuracy"])
    assert es.stopped_epoch == 4 and len(h.epoch) == 5
    _assert_state_equal(model.state_dict(), snaps.states[-1])  # no restore asked for
    model, x, y = _setup()
    es = EarlyStopping(monitor="val_loss", patience=3, baseline=1.0)
    h = _fit(model, x, y, [Inject("val_loss", [5, 4, 3, 2, 1.5, 1, 1, 1, 1, 1]), es])
    # As in Keras: improving epochs that miss the baseline do not reset the wait, and the
    # first epoch without improvement (6) then stops at once.
    assert es.stopped_epoch == 6
    with pytest.raises(ValueError, match="mode must be"):
        EarlyStopping(mode="up")
    with pytest.raises(ValueError, match="patience must be an int >= 0"):
        EarlyStopping(patience=-1)


def test_model_checkpoint_every_epoch_and_best_only(tmp_path):
    model, x, y = _setup()
    snaps = Snapshots()
    values = [3.0, 2.0, 2.5, 1.0, 1.5]
    ck_all = ModelCheckpoint(tmp_path / "all-{epoch:02d}-{loss:.2f}.npz")
    ck_best = ModelCheckpoint(tmp_path / "best.npz", monitor="val_loss", save_best_only=True)
    saved = []

    class Watch(Callback):
        def on_epoch_end(self, epoch, logs=None):
            saved.append(pydl.load(tmp_path / "best.npz")["epoch"])

    _fit(model, x, y, [Inject("val_loss", values), snaps, ck_all, ck_best, Watch()], epochs=5)
    assert saved == [1, 2, 2, 4, 4]  # rewritten only when val_loss improved
    files = sorted(p.name for p in tmp_path.glob("all-*.npz"))
    assert len(files) == 5 and files[0].startswith("all-01-")
    state = pydl.load(tmp_path / "best.npz")
    _assert_state_equal(state["model"], snaps.states[3])
    assert state["extra"]["logs"]["val_loss"] == 1.0
    assert state["optimizer"] is not None and state["rng_state"] is not None
    assert state["extra"]["pydl_random_state"]["bit_generator"] == "PCG64"
    fresh, _, _ = _setup(seed=5)
    pydl.load(tmp_path / "best.npz", model=fresh)
    _assert_state_equal(fresh.state_dict(), snaps.states[3])
    light = ModelCheckpoint(tmp_path / "w.npz", save_weights_only=True)
    _fit(model, x, y, [light], epochs=1)
    assert pydl.load(tmp_path / "w.npz")["optimizer"] is None


def test_learning_rate_scheduler():
    model, x, y = _setup()
    h = _fit(model, x, y, [LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)],
             epochs=4, lr=0.4)
    assert h.history["lr"] == [0.4, 0.2, 0.1, 0.05]
    h = _fit(model, x, y, [LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))], epochs=3)
    assert h.history["lr"] == pytest.approx([0.01, 0.02, 0.03])
    with pytest.raises(ValueError, match="schedule returned nan for epoch 0"):
        _fit(model, x, y, [LearningRateScheduler(lambda epoch: float("nan"))], epochs=1)
    with pytest.raises(TypeError, match="schedule must be callable"):
        LearningRateScheduler(0.1)


def test_csv_logger(tmp_path):
    model, x, y = _setup()
    path = tmp_path / "log.csv"
    h = _fit(model, x, y, [CSVLogger(path)], epochs=3, metrics=["accuracy"])
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "accuracy", "loss", "lr", "val_accuracy", "val_loss"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2]
    for r, loss in zip(rows[1:], h.history["loss"]):
        assert float(r[2]) == loss
    _fit(model, x, y, [CSVLogger(path, append=True)], epochs=2, metrics=["accuracy"])
    rows = list(csv.reader(open(path)))
    assert len(rows) == 6 and rows[0][0] == "epoch" and rows[4][0] == "0"
    _fit(model, x, y, [CSVLogger(path, separator=";")], epochs=1)
    assert open(path).readline().strip() == "epoch;loss;lr;val_loss"


class StepWeights(Callback):
    """The weights at the start of every step (before its update)."""

    def __init__(self):
        self.before = []

    def on_batch_begin(self, batch, logs=None):
        self.before.append(self.model.state_dict())


def test_terminate_on_nan_stops_and_restores_the_last_good_weights():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((64, 4)) * 10).astype(np.float32)
    y = rng.standard_normal((64, 2)).astype(np.float32)
    pydl.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Linear(16, 2))
    steps = StepWeights()
    stop = TerminateOnNaN()
    with pytest.warns(RuntimeWarning, match="TerminateOnNaN: the loss became (nan|inf) at "
                                            "epoch 1, step (\\d+) of 8") as record:
        h = pydl.fit(model, x, y, loss=nn.MSELoss(), optimizer=SGD(model.parameters(), lr=1.0),
                     epochs=5, batch_size=8, callbacks=[steps, stop], verbose=0, seed=0)
    assert "learning rate" in str(record[0].message)
    k = stop.stopped_step  # 1-based step whose loss was not finite
    assert stop.stopped_epoch == 1 and 2 <= k <= 8
    assert len(steps.before) == k  # training stopped right there
    assert h.epoch == [0] and not math.isfinite(h.history["loss"][0])
    # restored: the weights step k-1 started from, the last whose loss was finite
    _assert_state_equal(model.state_dict(), steps.before[k - 2])
    assert all(np.isfinite(v).all() for v in model.state_dict().values())
    with pydl.no_grad():
        assert np.isfinite(nn.MSELoss()(model(x[:8]), y[:8]))


def test_terminate_on_nan_restores_the_optimizer_state_so_training_can_go_on():
    """A weight corrupted (inf) at the start of step 4: weights and momentum from
    before step 3's update come back, so training can go on (a NaN left in a
    momentum buffer would poison every later update)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = rng.standard_normal((64, 2)).astype(np.float32)
    pydl.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Linear(16, 2))
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)

    class StepOptState(Callback):
        def __init__(self):
            self.before = []

        def on_batch_begin(self, batch, logs=None):
            self.before.append(opt.state_dict())

    class Corrupt(Callback):
        def on_batch_begin(self, batch, logs=None):
            if batch == 3:
                model[0].weight.data[0, 0] = np.inf

    states = StepOptState()
    stop = TerminateOnNaN()
    with pytest.warns(RuntimeWarning, match="TerminateOnNaN: the loss became (nan|inf) at "
                                            "epoch 1, step 4 of 8"):
        pydl.fit(model, x, y, loss=nn.MSELoss(), optimizer=opt, epochs=3, batch_size=8,
                 shuffle=False, callbacks=[states, stop, Corrupt()], verbose=0)
    restored, want = opt.state_dict(), states.before[2]   # before step 3's update
    assert want["state"] and restored["state"].keys() == want["state"].keys()
    for i, entry in want["state"].items():
        for key, value in entry.items():
            assert np.array_equal(restored["state"][i][key], value), (i, key)
    h = pydl.fit(model, x, y, loss=nn.MSELoss(), optimizer=opt, epochs=3, batch_size=8,
                 shuffle=False, verbose=0)
    assert all(math.isfinite(v) for v in h.history["loss"])
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_terminate_on_nan_accepts_an_optimizer_without_state_dict():
    """fit accepts any object with step() and param_groups; TerminateOnNaN then
    restores the weights only."""
    x = np.full((4, 2), 1e30, np.float32)
    y = np.zeros((4, 1), np.float32)
    pydl.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 1))
    initial = model.state_dict()
    inner = SGD(model.parameters(), lr=0.1)

    class Bare:
        param_groups = inner.param_groups

        def step(self):
            inner.step()

        def zero_grad(self):
            inner.zero_grad()

    with pytest.warns(RuntimeWarning, match="TerminateOnNaN"):
        pydl.fit(model, x, y, loss="mse", optimizer=Bare(), epochs=2, batch_size=4,
                 callbacks=[TerminateOnNaN()], verbose=0)
    _assert_state_equal(model.state_dict(), initial)


def test_csv_logger_bad_path_fails_before_training(tmp_path):
    model, x, y = _setup(n=20)
    epochs = []

    class Count(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            epochs.append(epoch)

    with pytest.raises(OSError):
        _fit(model, x, y, [CSVLogger(tmp_path / "missing" / "log.csv", append=True),
                           Count()], epochs=2)
    assert epochs == []


def test_csv_logger_keeps_rows_and_no_open_file_when_training_raises(tmp_path):
    path = tmp_path / "log.csv"
    model, x, y = _setup(n=20)

    class Boom(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise RuntimeError("boom")

    logger = CSVLogger(path)
    with pytest.raises(RuntimeError, match="boom"):
        _fit(model, x, y, [logger, Boom()], epochs=4)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("epoch,") and [ln.split(",")[0] for ln in lines[1:]] == \
        ["0", "1"]
    assert not any(isinstance(v, io.IOBase) for v in vars(logger).values())


def test_terminate_on_nan_at_the_first_step_keeps_the_initial_weights():
    x = np.full((4, 2), 1e30, np.float32)
    y = np.zeros((4, 1), np.float32)
    pydl.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 1))
    initial = model.state_dict()
    stop = TerminateOnNaN()
    with pytest.warns(RuntimeWarning, match="epoch 1, step 1 of 1.*the initial weights"):
        pydl.fit(model, x, y, loss="mse", optimizer=SGD(model.parameters(), lr=0.1), epochs=3,
                 batch_size=4, callbacks=[stop], verbose=0)
    _assert_state_equal(model.state_dict(), initial)


def test_custom_callback_sees_every_hook_in_order():
    model, x, y = _setup(n=20)
    events = []

    class Log(Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")
            assert self.params["epochs"] == 2 and self.params["steps"] == 2
            assert self.optimizer is not None and self.model is model

        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"epoch_begin {epoch}")

        def on_batch_begin(self, batch, logs=None):
            events.append(f"batch_begin {batch}")

        def on_batch_end(self, batch, logs=None):
            events.append(f"batch_end {batch} {logs['size']}")

        def on_epoch_end(self, epoch, logs=None):
            events.append(f"epoch_end {epoch} {sorted(logs)}")

        def on_train_end(self, logs=None):
            events.append("train_end")

    _fit(model, x, y, [Log()], epochs=2, validation_data=None)
    assert events == ["train_begin", "epoch_begin 0", "batch_begin 0", "batch_end 0 10",
                      "batch_begin 1", "batch_end 1 10", "epoch_end 0 ['loss', 'lr']",
                      "epoch_begin 1", "batch_begin 0", "batch_end 0 10", "batch_begin 1",
                      "batch_end 1 10", "epoch_end 1 ['loss', 'lr']", "train_end"]


def test_stop_training_from_a_batch_hook():
    model, x, y = _setup(n=40)

    class StopAt(Callback):
        def on_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    h = _fit(model, x, y, [StopAt()], epochs=5)
    assert h.epoch == [0]
