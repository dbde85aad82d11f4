import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.nn.utils import clip_grad_norm_, clip_grad_value_
from pydl.optim import SGD

from ._fakes import HalvingLR, ReduceLROnPlateau


def _data(n=50, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    w = rng.standard_normal((d, k))
    return x, (x @ w).argmax(1)


def _model(seed=0, d=4, k=3):
    pydl.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, k))


def _fit(model, x, y, **kw):
    kw.setdefault("optimizer", SGD(model.parameters(), lr=0.2, momentum=0.9))
    kw.setdefault("loss", nn.CrossEntropyLoss())
    kw.setdefault("verbose", 0)
    return pydl.fit(model, x, y, **kw)


class Recorder(nn.Module):
    """Passes its input through, recording each batch and the mode it ran in."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x):
        self.calls.append((x.copy(), self.training, pydl.is_grad_enabled()))
        return x

    def backward(self, g):
        return g


def test_fit_learns_and_returns_a_history():
    x, y = _data(200)
    model = _model()
    h = _fit(model, x, y, epochs=8, metrics=["accuracy"], validation_split=0.25, seed=0)
    assert h.epoch == list(range(8))
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert all(len(v) == 8 for v in h.history.values())
    assert h.history["loss"][-1] < h.history["loss"][0] / 3
    assert h.history["val_accuracy"][-1] > 0.85
    assert h.history["lr"] == [0.2] * 8
    assert len(h.samples_per_second) == 8 and min(h.samples_per_second) > 0
    assert h.params["steps"] == 5 and h.params["samples"] == 150
    assert repr(h).startswith("History(epochs=8")


def _manual_loop(model, opt, x, y, epochs, batch_size, order_rng=None, clip_norm=None,
                 clip_value=None):
    crit = nn.CrossEntropyLoss()
    losses = []
    for _ in range(epochs):
        order = order_rng.permutation(len(x)) if order_rng is not None else np.arange(len(x))
        total = 0.0
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            model.zero_grad()
            loss = crit(model(x[idx]), y[idx])
            model.backward(crit.backward())
            if clip_value is not None:
                clip_grad_value_(model.parameters(), clip_value)
            if clip_norm is not None:
                clip_grad_norm_(model.parameters(), clip_norm)
            opt.step()
            total += loss * len(idx)
        losses.append(total / len(x))
    return losses


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("clip", [{}, {"clip_grad_norm": 0.05}, {"clip_grad_value": 0.01},
                                  {"clip_grad_norm": 0.05, "clip_grad_value": 0.01}])
def test_fit_equals_a_hand_written_loop_bitwise(shuffle, clip):
    x, y = _data(45)
    a, b = _model(), _model()
    opt_a, opt_b = SGD(a.parameters(), lr=0.3, momentum=0.9), SGD(b.parameters(), lr=0.3,
                                                                   momentum=0.9)
    h = _fit(a, x, y, optimizer=opt_a, epochs=3, batch_size=8, shuffle=shuffle,
             generator=np.random.default_rng(7), **clip)
    losses = _manual_loop(b, opt_b, x, y, 3, 8, np.random.default_rng(7) if shuffle else None,
                          clip.get("clip_grad_norm"), clip.get("clip_grad_value"))
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)
    np.testing.assert_allclose(h.history["loss"], losses, rtol=1e-12)


def test_every_epoch_is_reshuffled_and_seeds_reproduce():
    x = np.arange(20, dtype=np.float32).reshape(20, 1)
    y = np.zeros((20, 1), np.float32)

    def orders(**kw):
        rec = Recorder()
        lin = nn.Linear(1, 1)
        model = nn.Sequential(rec, lin)
        pydl.fit(model, x, y, loss=nn.MSELoss(), optimizer=SGD(lin.parameters(), lr=0.0),
                 epochs=3, batch_size=6, verbose=0, **kw)
        seen = np.concatenate([c[0][:, 0] for c in rec.calls]).astype(int)
        return seen.reshape(3, 20)

    a = orders(seed=1)
    for epoch in a:
        np.testing.assert_array_equal(np.sort(epoch), np.arange(20))
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[1], a[2])
    np.testing.assert_array_equal(orders(seed=1), a)
    assert not np.array_equal(orders(seed=2), a)
    pydl.manual_seed(3)
    c = orders()  # pydl's default generator
    pydl.manual_seed(3)
    np.testing.assert_array_equal(orders(), c)
    np.testing.assert_array_equal(orders(shuffle=False)[0], np.arange(20))


def test_train_and_eval_modes_and_validation_split_takes_the_last_samples():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.zeros((10, 1), np.float32)
    rec = Recorder()
    lin = nn.Linear(1, 1)
    model = nn.Sequential(rec, lin)
    model.eval()  # restored at the end
    augment_calls = []

    def augment(xb):
        augment_calls.append(xb.copy())
        return xb

    pydl.fit(model, x, y, loss="mse", optimizer=SGD(lin.parameters(), lr=0.0), epochs=2,
             batch_size=4, validation_split=0.3, verbose=0, seed=0, augment=augment)
    train = [c for c in rec.calls if c[1]]
    val = [c for c in rec.calls if not c[1]]
    assert all(grad for _, _, grad in train)  # training batches keep what backward needs
    assert not any(grad for _, _, grad in val)  # validation runs under no_grad
    seen_train = np.sort(np.concatenate([c[0][:, 0] for c in train[:2]]))
    np.testing.assert_array_equal(seen_train, np.arange(7))
    np.testing.assert_array_equal(np.concatenate([c[0][:, 0] for c in val]), [7, 8, 9, 7, 8, 9])
    assert len(augment_calls) == 4  # training batches only
    assert model.training is False and rec.training is False


def test_evaluate_and_predict():
    x, y = _data(37)
    model = _model()
    h = _fit(model, x, y, epochs=2, metrics=["accuracy", "f1"], validation_data=(x, y))
    out = pydl.predict(model, x, batch_size=5)
    with pydl.no_grad():
        full = model(x)
    np.testing.assert_allclose(out, full, rtol=1e-6, atol=1e-6)
    res = pydl.evaluate(model, x, y, loss=nn.CrossEntropyLoss(), metrics=["accuracy", "f1"],
                        batch_size=6)
    assert res["accuracy"] == pytest.approx(pydl.metrics.accuracy(y, out.argmax(1)))
    assert res["f1"] == pytest.approx(pydl.metrics.f1_score(y, out.argmax(1), average="macro",
                                                            zero_division=0))
    # the last epoch's validation ran on the same weights
    assert h.history["val_accuracy"][-1] == res["accuracy"]
    assert h.history["val_loss"][-1] == pytest.approx(res["loss"], rel=1e-6)
    assert pydl.evaluate(model, x, y, metrics="accuracy") == {"accuracy": res["accuracy"]}
    assert model.training


def test_binary_and_regression_metrics():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    model = _model(k=1, d=3)
    h = _fit(model, x, y, loss=nn.BCEWithLogitsLoss(), epochs=15, batch_size=16,
             metrics=["accuracy", "precision", "recall", "f1", "mse", "mae"], seed=0)
    assert h.history["accuracy"][-1] > 0.9
    logits = pydl.predict(model, x)
    pred = (logits > 0).astype(int).ravel()
    res = pydl.evaluate(model, x, y, metrics=["accuracy", "precision", "recall", "f1", "mae"],
                        loss=nn.BCEWithLogitsLoss())
    m = pydl.metrics
    assert res["accuracy"] == pytest.approx(m.accuracy(y.ravel(), pred))
    assert res["precision"] == pytest.approx(m.precision(y.ravel().astype(int), pred))
    assert res["recall"] == pytest.approx(m.recall(y.ravel().astype(int), pred))
    assert res["f1"] == pytest.approx(m.f1_score(y.ravel().astype(int), pred))
    assert res["mae"] == pytest.approx(np.abs(logits - y).mean(), rel=1e-5)

    def max_error(out, target):
        return float(np.abs(out - target).max())
    res = pydl.evaluate(model, x, y, metrics=[max_error], batch_size=64)
    assert res["max_error"] == pytest.approx(np.abs(logits - y).max(), rel=1e-5)


def test_schedulers_step_per_epoch_per_step_and_on_plateau():
    x, y = _data(30)
    model = _model()
    opt = SGD(model.parameters(), lr=0.8)
    h = _fit(model, x, y, optimizer=opt, scheduler=HalvingLR(opt, every=1), epochs=3,
             batch_size=10)
    assert h.history["lr"] == [0.8, 0.4, 0.2]  # the rate used during each epoch
    opt = SGD(model.parameters(), lr=0.8)
    sched = HalvingLR(opt, every=3)
    h = _fit(model, x, y, optimizer=opt, scheduler=sched, scheduler_interval="step", epochs=2,
             batch_size=10)
    assert sched.last_epoch == 6 and h.history["lr"] == [0.8, 0.4]
    opt = SGD(model.parameters(), lr=0.8)
    plateau = ReduceLROnPlateau(opt)
    h = _fit(model, x, y, optimizer=opt, scheduler=plateau, epochs=3, validation_data=(x, y))
    assert plateau.seen == h.history["val_loss"]
    plateau = ReduceLROnPlateau(opt)
    h = _fit(model, x, y, optimizer=opt, scheduler=plateau, scheduler_monitor="loss", epochs=2)
    assert plateau.seen == h.history["loss"]


def test_initial_epoch_continues_numbering():
    x, y = _data(20)
    h = _fit(_model(), x, y, epochs=5, initial_epoch=3)
    assert h.epoch == [3, 4]
    assert _fit(_model(), x, y, epochs=3, initial_epoch=3).epoch == []


def _weights(model):
    return [p.data.copy() for p in model.parameters()]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"y": np.zeros(49, np.int64)}, ValueError, "inconsistent numbers of samples: x has 50, "
                                                "y has 49"),
    ({"x": np.zeros((0, 4), np.float32), "y": np.zeros(0, np.int64)}, ValueError, "x is empty"),
    ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
    ({"batch_size": 2.5}, TypeError, "batch_size must be an int"),
    ({"epochs": 0}, ValueError, "epochs must be >= 1"),
    ({"initial_epoch": 5, "epochs": 2}, ValueError, "initial_epoch \\(5\\) is past epochs"),
    ({"clip_grad_norm": float("nan")}, ValueError, "clip_grad_norm must be finite"),
    ({"clip_grad_norm": 0.0}, ValueError, "clip_grad_norm must be > 0"),
    ({"clip_grad_value": float("inf")}, ValueError, "clip_grad_value must be finite"),
    ({"validation_split": 1.0}, ValueError, "validation_split must be in \\[0, 1\\)"),
    ({"validation_split": -0.1}, ValueError, "validation_split must be >= 0"),
    ({"validation_split": float("nan")}, ValueError, "validation_split must be finite"),
    ({"validation_split": 0.5, "x": np.zeros((1, 4), np.float32), "y": np.zeros(1, np.int64)},
     ValueError, "validation_split=0.5 of 1 samples leaves an empty training set"),
    ({"metrics": ["acuracy"]}, ValueError, "unknown metric 'acuracy'"),
    ({"metrics": [3]}, TypeError, "a metric must be a name or a callable"),
    ({"callbacks": [pydl.callbacks.EarlyStopping()]}, ValueError,
     "EarlyStopping: monitor 'val_loss' is not logged"),
    ({"callbacks": [pydl.callbacks.EarlyStopping("val_acc")], "validation_split": 0.2},
     ValueError, "monitor 'val_acc' is not logged; available: \\['loss', 'lr', 'val_loss'\\]"),
    ({"callbacks": [pydl.callbacks.ModelCheckpoint("x.npz", save_best_only=True,
                                                   monitor="accuracy")]},
     ValueError, "ModelCheckpoint: monitor 'accuracy' is not logged"),
    ({"callbacks": [pydl.callbacks.ModelCheckpoint("ck-{val_los}.npz")]}, ValueError,
     "cannot be formatted"),
    ({"callbacks": [object()]}, TypeError, "callbacks must be pydl.callbacks.Callback"),
    ({"x": np.full((50, 4), np.nan, np.float32)}, ValueError, "x contains NaN or infinity"),
    ({"x": np.zeros((50, 4))}, TypeError, "x has dtype float64 but the model's parameters "
                                          "are float32"),
    ({"y": np.zeros(50, complex)}, TypeError, "y must be an array of kind"),
    ({"loss": nn.CrossEntropyLoss(reduction="sum")}, ValueError, "needs reduction='mean'"),
    ({"loss": "hinge"}, ValueError, "unknown loss 'hinge'"),
    ({"optimizer": None}, TypeError, "optimizer must be a pydl.optim optimizer"),
    ({"verbose": 3}, ValueError, "verbose must be 0, 1, 2"),
    ({"validation_data": (np.zeros((5, 4), np.float32), np.zeros(4, np.int64))}, ValueError,
     "validation_data\\[0\\] has 5, validation_data\\[1\\] has 4"),
    ({"validation_data": np.zeros(3)}, TypeError, "validation_data must be a tuple"),
    ({"scheduler_interval": "batch", "scheduler": "own"}, ValueError,
     "scheduler_interval must be 'epoch' or 'step'"),
    ({"scheduler": "other"}, ValueError, "built for a different optimizer"),
    ({"scheduler": "plateau", "scheduler_monitor": "val_loss"}, ValueError,
     "scheduler_monitor 'val_loss' is not logged"),
    ({"scheduler": "plateau", "scheduler_interval": "step"}, ValueError,
     "needs scheduler_interval='epoch'"),
    ({"augment": 3}, TypeError, "augment must be callable"),
    ({"model": "net"}, TypeError, "model must be a pydl.nn.Module"),
])
def test_bad_input_is_refused_before_any_training(kwargs, error, match):
    x, y = _data(50)
    model = _model()
    before = _weights(model)
    opt = SGD(model.parameters(), lr=0.5)
    schedulers = {"own": HalvingLR(opt), "plateau": ReduceLROnPlateau(opt),
                  "other": HalvingLR(SGD(_model().parameters(), lr=0.1))}
    args = {"x": x, "y": y, "model": model, "optimizer": opt, "epochs": 2}
    args.update(kwargs)
    if isinstance(args.get("scheduler"), str):
        args["scheduler"] = schedulers[args["scheduler"]]
    with pytest.raises(error, match=match):
        pydl.fit(args.pop("model"), args.pop("x"), args.pop("y"),
                 loss=args.pop("loss", nn.CrossEntropyLoss()), verbose=args.pop("verbose", 0),
                 **args)
    for a, b in zip(before, _weights(model)):
        np.testing.assert_array_equal(a, b)
    assert not opt.state


def test_predict_and_evaluate_bad_input():
    model = _model()
    with pytest.raises(ValueError, match="x is empty"):
        pydl.predict(model, np.zeros((0, 4), np.float32))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        pydl.predict(model, np.zeros((2, 4), np.float32), batch_size=0)
    with pytest.raises(ValueError, match="needs a loss or at least one metric"):
        pydl.evaluate(model, np.zeros((2, 4), np.float32), np.zeros(2, np.int64))


def test_fit_is_bitwise_identical_at_any_thread_count():
    x, y = _data(45)
    results = []
    for n in (1, 3):
        with pydl.threads(n):
            model = _model()
            _fit(model, x, y, epochs=2, batch_size=8, seed=4, clip_grad_norm=0.5)
        results.append([p.data.copy() for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
