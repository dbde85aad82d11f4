import numpy as np
import pytest

import pydl
from pydl import nn, regularizers
from pydl.optim import SGD
from pydl.regularizers import L1, L1L2, L2


def _model(seed=0):
    pydl.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))


@pytest.mark.parametrize("reg, value", [
    (L1(0.1), lambda w: 0.1 * np.abs(w).sum()),
    (L2(0.2), lambda w: 0.2 * (w ** 2).sum()),
    (L1L2(0.1, 0.3), lambda w: 0.1 * np.abs(w).sum() + 0.3 * (w ** 2).sum()),
])
def test_penalty_and_gradient(reg, value):
    w = np.random.default_rng(0).standard_normal((5, 3))
    assert reg(w) == pytest.approx(value(w), rel=1e-12)
    eps = 1e-6
    numeric = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        d = np.zeros_like(w)
        d[i] = eps
        numeric[i] = (reg(w + d) - reg(w - d)) / (2 * eps)
    np.testing.assert_allclose(reg.gradient(w), numeric, rtol=1e-6, atol=1e-8)
    assert reg.gradient(w.astype(np.float32)).dtype == np.float32


def test_keras_defaults_and_repr():
    assert L1().l1 == 0.01 and L2().l2 == 0.01
    assert L1L2().l1 == 0.0 and L1L2().l2 == 0.0
    assert repr(L2(0.5)) == "L2(l2=0.5)"


def test_apply_collects_penalties_over_the_model():
    model = _model()
    regularizers.apply(model[0], weight=L2(0.01))
    regularizers.apply(model[2], weight=L1(0.001), bias=L2(0.1))
    names = [name for name, _, _ in regularizers.regularized_parameters(model)]
    assert names == ["0.weight", "2.weight", "2.bias"]
    expected = (0.01 * (model[0].weight.data.astype(np.float64) ** 2).sum()
                + 0.001 * np.abs(model[2].weight.data.astype(np.float64)).sum()
                + 0.1 * (model[2].bias.data.astype(np.float64) ** 2).sum())
    assert regularizers.penalty(model) == pytest.approx(expected, rel=1e-12)
    regularizers.apply(model[2], bias=None)
    assert list(model[2].regularizers) == ["weight"]


def test_add_gradients_adds_to_existing_and_missing_grads():
    model = _model()
    regularizers.apply(model[0], weight=L2(0.5), bias=L1(0.25))
    w, b = model[0].weight, model[0].bias
    w.grad = np.ones_like(w.data)
    regularizers.add_gradients(model)
    np.testing.assert_allclose(w.grad, 1 + 2 * 0.5 * w.data, rtol=1e-6)
    np.testing.assert_allclose(b.grad, 0.25 * np.sign(b.data))
    frozen = _model()
    frozen[0].weight.requires_grad = False
    regularizers.apply(frozen[0], weight=L2(0.5))
    regularizers.add_gradients(frozen)
    assert frozen[0].weight.grad is None
    assert regularizers.penalty(frozen) > 0


def test_l2_in_fit_equals_sgd_weight_decay():
    """L2(wd / 2) on every parameter gives the same updates as SGD(weight_decay=wd)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    wd = 0.1
    a, b = _model(), _model()
    for layer in (a[0], a[2]):
        regularizers.apply(layer, weight=L2(wd / 2), bias=L2(wd / 2))
    ha = pydl.fit(a, x, y, loss=nn.CrossEntropyLoss(), optimizer=SGD(a.parameters(), lr=0.3),
                  epochs=3, batch_size=8, verbose=0, seed=1)
    hb = pydl.fit(b, x, y, loss=nn.CrossEntropyLoss(),
                  optimizer=SGD(b.parameters(), lr=0.3, weight_decay=wd),
                  epochs=3, batch_size=8, verbose=0, seed=1)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_allclose(pa.data, pb.data, rtol=1e-5, atol=1e-6, err_msg=name)
    # the reported loss includes the penalty, so it is above the data loss alone
    assert all(la > lb for la, lb in zip(ha.history["loss"], hb.history["loss"]))


def test_reported_losses_include_the_penalty():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 4)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    model = _model()
    regularizers.apply(model[0], weight=L2(1.0))
    crit = nn.CrossEntropyLoss()
    plain = pydl.evaluate(model, x, y, loss=crit)["loss"]
    pen = regularizers.penalty(model)
    with pydl.no_grad():
        data_loss = crit(model(x), y)
    assert plain == pytest.approx(data_loss + pen, rel=1e-6)
    h = pydl.fit(model, x, y, loss=crit, optimizer=SGD(model.parameters(), lr=0.0),
                 epochs=1, batch_size=16, verbose=0, validation_data=(x, y))
    assert h.history["loss"][0] == pytest.approx(data_loss + pen, rel=1e-6)
    assert h.history["val_loss"][0] == pytest.approx(data_loss + pen, rel=1e-6)


def test_bad_arguments():
    model = _model()
    with pytest.raises(ValueError, match="Linear has no parameter 'kernel'"):
        regularizers.apply(model[0], kernel=L2())
    with pytest.raises(TypeError, match="must be a pydl.regularizers.Regularizer"):
        regularizers.apply(model[0], weight=0.01)
    with pytest.raises(ValueError, match="l2 must be a finite number >= 0"):
        L2(float("nan"))
    with pytest.raises(ValueError, match="l1 must be a finite number >= 0"):
        L1(-1)
    with pytest.raises(TypeError, match="must be a pydl.nn.Module"):
        regularizers.apply("layer", weight=L2())
    object.__setattr__(model[0], "regularizers", {"kernel": L2()})
    with pytest.raises(ValueError, match="not a parameter of the module"):
        regularizers.penalty(model)
