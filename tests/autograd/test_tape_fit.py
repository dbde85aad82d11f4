"""pydl.fit, evaluate and predict train and run a model that defines only forward."""

import numpy as np

import pydl
from pydl import nn


class TwoTower(nn.Module):
    """A forward-only model: two branches on halves of the input, joined by tensor ops."""

    def __init__(self):
        super().__init__()
        self.left = nn.Sequential(nn.Linear(2, 8), nn.Tanh())
        self.right = nn.Linear(2, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        h = self.left(x[:, :2]) * self.right(x[:, 2:]).sigmoid()
        return self.head(h + self.left(x[:, 2:]))      # left called twice


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 2] > 0).astype(np.int64) + (x[:, 1] > 1).astype(np.int64)
    return x, y


def test_fit_evaluate_predict_a_forward_only_model():
    pydl.manual_seed(0)
    model = TwoTower()
    assert not model._explicit()
    x, y = _data()
    crit = nn.CrossEntropyLoss()
    before = pydl.evaluate(model, x, y, loss=crit)["loss"]
    hist = pydl.fit(model, x, y, loss=crit, optimizer=pydl.optim.Adam(model.parameters(), lr=0.02),
                    epochs=40, batch_size=32, metrics=["accuracy"], verbose=0, seed=0)
    after = pydl.evaluate(model, x, y, loss=crit, metrics=["accuracy"])
    assert after["loss"] < 0.5 * before
    assert after["accuracy"] > 0.85
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    pred = pydl.predict(model, x)
    assert type(pred) is np.ndarray and pred.shape == (240, 3)
    with pydl.no_grad():
        np.testing.assert_allclose(pred, model(x).data, rtol=1e-6)


def test_fit_through_the_tape_equals_the_explicit_path():
    """The same Sequential trained as is (explicit) and wrapped in a forward-only
    module (tape): the same weights."""
    x, y = _data(96, seed=1)

    def train(wrap):
        pydl.manual_seed(3)
        seq = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double()

        class Wrapped(nn.Module):
            def __init__(self):
                super().__init__()
                self.seq = seq

            def forward(self, x):
                return self.seq(x)

        model = Wrapped() if wrap else seq
        pydl.fit(model, x.astype(np.float64), y, loss=nn.CrossEntropyLoss(),
                 optimizer=pydl.optim.SGD(seq.parameters(), lr=0.1, momentum=0.9),
                 epochs=3, batch_size=16, verbose=0, seed=0)
        return seq.state_dict()

    a, b = train(False), train(True)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=1e-14, err_msg=k)
