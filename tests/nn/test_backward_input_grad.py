"""``backward(grad_output, need_input_grad=False)``: the first layer skips the gradient
with respect to the data (as PyTorch does for an input that does not require grad);
parameter gradients stay bitwise identical and backward returns None."""

from collections import OrderedDict

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.nn.container import accepts_need_input_grad, backward_without_input_grad


class Scale(nn.Module):
    """A user module with a parameter and a backward that takes only grad_output."""

    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(np.linspace(0.5, 1.5, n).astype(np.float32))
        self.backward_calls = 0

    def forward(self, x):
        self.save_for_backward(x=x)
        return x * self.weight.data

    def backward(self, grad_output):
        self.backward_calls += 1
        x = self.saved()["x"]
        self.weight.accumulate_grad((grad_output * x).reshape(-1, x.shape[-1]).sum(0))
        return grad_output * self.weight.data


class OwnConv(nn.Conv2d):
    """A subclass that overrides backward without the keyword: called as before."""

    def backward(self, grad_output):
        return super().backward(grad_output)


def _grads(build, x, y, need_input_grad):
    model = build()
    crit = nn.CrossEntropyLoss()
    crit(model(x), y)
    returned = model.backward(crit.backward(), need_input_grad=need_input_grad)
    grads = OrderedDict((k, None if p.grad is None else p.grad.copy())
                        for k, p in model.named_parameters())
    return grads, returned, model


def _check_same(build, x, y):
    g_on, r_on, _ = _grads(build, x, y, True)
    g_off, r_off, model = _grads(build, x, y, False)
    assert r_off is None
    assert r_on is not None and r_on.shape == x.shape
    assert list(g_on) == list(g_off)
    for k in g_on:
        assert g_off[k] is not None, k
        assert g_on[k].dtype == g_off[k].dtype
        assert np.array_equal(g_on[k], g_off[k]), k       # bitwise
    return model


def _images(n=6, c=2, hw=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c, hw, hw)).astype(np.float32), rng.integers(0, 3, n)


def _cnn(first=None):
    def build():
        pydl.manual_seed(0)
        return nn.Sequential(
            first() if first else nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(),
            nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(36, 3))
    return build


def test_conv_first_identical_grads_and_none():
    x, y = _images()
    _check_same(_cnn(), x, y)


@pytest.mark.parametrize("num_threads", [1, 3])
def test_digits_cnn_identical_grads(num_threads):
    from pydl.examples.digits_cnn import build_model
    rng = np.random.default_rng(1)
    x = rng.random((32, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 10, 32)
    old = pydl.get_num_threads()
    pydl.set_num_threads(num_threads)
    try:
        def build():
            m = build_model()
            m.eval()            # no dropout: both runs see the same network
            return m
        _check_same(build, x, y)
    finally:
        pydl.set_num_threads(old)


def test_linear_first():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((7, 5)).astype(np.float32)
    y = rng.integers(0, 3, 7)

    def build():
        pydl.manual_seed(0)
        return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    _check_same(build, x, y)


def test_linear_3d_input_first():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)

    def build():
        pydl.manual_seed(0)
        return nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 2))
    grads = []
    for flag in (True, False):
        model = build()
        out = model(x)
        r = model.backward(np.ones_like(out), need_input_grad=flag)
        assert (r is None) == (not flag)
        grads.append([p.grad.copy() for p in model.parameters()])
    for a, b in zip(*grads):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("cls, nd", [(nn.Conv1d, 1), (nn.Conv3d, 3),
                                     (nn.ConvTranspose2d, 2)])
def test_other_conv_layers_first(cls, nd):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 2) + (4,) * nd).astype(np.float32)
    grads = []
    for flag in (True, False):
        pydl.manual_seed(0)
        model = nn.Sequential(cls(2, 3, 3, padding=1), nn.ReLU())
        out = model(x)
        r = model.backward(np.cos(out), need_input_grad=flag)
        assert (r is None) == (not flag)
        grads.append([p.grad.copy() for p in model.parameters()])
    for a, b in zip(*grads):
        assert np.array_equal(a, b)


def test_user_module_first():
    """A plain Module subclass whose backward takes only grad_output: called as before
    (its input gradient computed, then dropped), and the result is None."""
    x, y = _images(c=2)

    def build():
        pydl.manual_seed(0)
        return nn.Sequential(Scale(5), nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(),
                             nn.Linear(36, 3))
    model = _check_same(build, x, y)
    assert model[0].backward_calls == 1
    assert not accepts_need_input_grad(model[0])


def test_subclass_overriding_backward_without_keyword():
    x, y = _images()
    model = _check_same(_cnn(lambda: OwnConv(2, 4, 3, padding=1)), x, y)
    assert not accepts_need_input_grad(model[0])
    assert accepts_need_input_grad(nn.Conv2d(1, 1, 1))


def test_nested_sequential():
    x, y = _images()

    def build():
        pydl.manual_seed(0)
        inner = nn.Sequential(nn.Sequential(nn.Conv2d(2, 4, 3, padding=1)), nn.ReLU())
        return nn.Sequential(inner, nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Flatten(),
                             nn.Linear(36, 3))
    _check_same(build, x, y)


def test_nested_sequential_with_user_module_first():
    x, y = _images()

    def build():
        pydl.manual_seed(0)
        inner = nn.Sequential(Scale(5), nn.Conv2d(2, 4, 3, padding=1))
        return nn.Sequential(inner, nn.ReLU(), nn.Flatten(), nn.Linear(100, 3))
    _check_same(build, x, y)


def test_first_layer_skips_input_gradient(monkeypatch):
    """The flag reaches the first layer's op (and only the first layer's)."""
    import pydl.nn.conv as conv_mod
    seen = []
    real = conv_mod.conv_backward_arrays

    def spy(*args):
        seen.append(args[8])        # need_input_grad, positional
        return real(*args)
    monkeypatch.setattr(conv_mod, "conv_backward_arrays", spy)
    x, y = _images()
    _, r, _ = _grads(_cnn(), x, y, False)
    assert r is None and seen == [True, False]


def test_concat_first():
    x, y = _images()

    def build():
        pydl.manual_seed(0)
        return nn.Sequential(
            nn.Concat(nn.Conv2d(2, 2, 3, padding=1), Scale(5)), nn.ReLU(),
            nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(36, 3))
    _check_same(build, x, y)


def test_frozen_first_layer():
    """A frozen first layer has nothing to compute: no gradient, None returned."""
    x, y = _images()

    def build():
        model = _cnn()()
        for p in model[0].parameters():
            p.requires_grad = False
        return model
    g_on, r_on, _ = _grads(build, x, y, True)
    g_off, r_off, _ = _grads(build, x, y, False)
    assert r_on is not None and r_off is None
    for k in g_on:
        assert (g_on[k] is None) == (g_off[k] is None)
        if g_on[k] is not None:
            assert np.array_equal(g_on[k], g_off[k])
    assert g_off["0.weight"] is None and g_off["0.bias"] is None


def test_default_and_positional_calls_unchanged():
    x, y = _images()
    model = _cnn()()
    crit = nn.CrossEntropyLoss()
    crit(model(x), y)
    gx = model.backward(crit.backward())
    assert gx.shape == x.shape
    with pytest.raises(TypeError):
        model.backward(crit.backward(), False)      # keyword-only


def test_empty_sequential():
    model = nn.Sequential()
    g = np.ones(3, np.float32)
    assert model(g) is g
    assert model.backward(g) is g
    assert model.backward(g, need_input_grad=False) is None


def test_backward_without_input_grad_helper():
    x, y = _images()
    model = _cnn()()
    crit = nn.CrossEntropyLoss()
    crit(model(x), y)
    assert backward_without_input_grad(model, crit.backward()) is None
    assert model[0].weight.grad is not None


def test_fit_unchanged():
    """pydl.fit skips the input gradient; its training is bitwise what it was."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 2, 5, 5)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    from pydl.optim import SGD

    def train(manual):
        model = _cnn()()
        opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
        if manual:      # the same steps by hand, with the full backward
            crit = nn.CrossEntropyLoss()
            for i in range(0, 40, 8):
                model.zero_grad()
                crit(model(x[i:i + 8]), y[i:i + 8])
                model.backward(crit.backward())
                opt.step()
        else:
            pydl.fit(model, x, y, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=1,
                     batch_size=8, shuffle=False, verbose=0)
        return [p.data.copy() for p in model.parameters()]
    for a, b in zip(train(True), train(False)):
        assert np.array_equal(a, b)
