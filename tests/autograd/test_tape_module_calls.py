"""A module call recorded on the tape: the node takes the call's cache out of the
modules and lends it back for backward, leaving the explicit path's state as it
was, also when forward raises; a subtree with its own kind of state (RNN cells)
goes through its tape hooks; structure changes reach the next call."""

import numpy as np
import pytest

import pydl
from pydl import nn


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _grads(module):
    return [None if p.grad is None else p.grad.copy() for p in module.parameters()]


@pytest.mark.parametrize("make", [
    lambda: nn.Linear(4, 3, dtype=np.float64),
    lambda: nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double(),
], ids=["layer", "sequential"])
def test_a_tape_call_between_an_explicit_forward_and_its_backward(make):
    m = make()
    x1, x2, g = _x(2, 4), _x(2, 4, seed=1), _x(2, 3, seed=2)
    m(x1)
    expected_dx = m.backward(g)
    expected = _grads(m)
    m.zero_grad()

    m(x1)                                       # explicit forward...
    y = m(pydl.tensor(x2, requires_grad=True))  # ...a recorded call in between...
    dx = m.backward(g)                          # ...the explicit backward is for x1
    np.testing.assert_array_equal(dx, expected_dx)
    for a, b in zip(_grads(m), expected):
        np.testing.assert_array_equal(a, b)

    m.zero_grad()
    m(x1)                                       # and the node's backward, run while
    (y * pydl.tensor(g)).sum().backward()       # the explicit path holds x1's cache,
    m.zero_grad()                               # leaves that cache in place
    np.testing.assert_array_equal(m.backward(g), expected_dx)


def test_a_forward_that_raises_on_the_tape_leaves_the_state_as_it_was():
    class Failing(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3, dtype=np.float64)
            self.fail = False

        def forward(self, x):
            y = self.lin(x)
            self.save_for_backward(y=y)
            if self.fail:
                raise ValueError("boom")
            return y

        def backward(self, grad_output):
            self.saved()
            return self.lin.backward(grad_output)

    for m in (Failing(), nn.Sequential(Failing())):
        inner = m if isinstance(m, Failing) else m[0]
        x, g = _x(2, 4), _x(2, 3, seed=2)
        m(x)
        states = [(d.get("_saved"), d.get("_calls")) for d in
                  (mod.__dict__ for mod in m.modules())]
        inner.fail = True
        with pytest.raises(ValueError, match="boom"):
            m(pydl.tensor(_x(2, 4, seed=1), requires_grad=True))
        inner.fail = False
        assert [(d.get("_saved"), d.get("_calls")) for d in
                (mod.__dict__ for mod in m.modules())] == states
        m.backward(g)               # the explicit call before it still goes back


def test_a_layer_that_raises_in_forward_on_the_tape_keeps_its_state():
    lin = nn.Linear(4, 3, dtype=np.float64)
    lin(_x(2, 4))
    saved, calls = lin.__dict__["_saved"], lin.__dict__["_calls"]
    with pytest.raises(ValueError):
        lin(pydl.tensor(_x(2, 5), requires_grad=True))    # wrong width
    assert lin.__dict__["_saved"] is saved and lin.__dict__["_calls"] == calls


def test_a_module_with_its_own_tape_hooks_inside_a_container():
    """An LSTMCell keeps a stack of steps: a container holding one moves the steps
    through the cell's hooks, the other members' caches directly."""

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.LSTMCell(3, 4).double()
            self.out = nn.Linear(4, 2, dtype=np.float64)

        def forward(self, x):
            h, _ = self.cell(x)
            return self.out(h)

        def backward(self, grad_output):
            gh = self.out.backward(grad_output)
            gx = self.cell.backward((gh, None))
            return gx[0] if isinstance(gx, tuple) else gx

    m = Head()
    assert m._tape_info()[4] is False and m.out._tape_info()[4] is True
    x, g = _x(2, 3), _x(2, 2, seed=2)
    m(x)
    dx = m.backward(g)
    expected = _grads(m)
    m.zero_grad()
    xt = pydl.tensor(x, requires_grad=True)
    y1, y2 = m(xt), m(xt)                     # two nodes, each with its own steps
    assert m.cell._steps == []
    ((y1 + y2) * pydl.tensor(g)).sum().backward()
    np.testing.assert_allclose(xt.grad, 2 * dx, rtol=1e-12)
    for a, b in zip(_grads(m), expected):
        np.testing.assert_allclose(a, 2 * b, rtol=1e-12)


def test_a_replaced_submodule_is_seen_by_the_next_recorded_call():
    seq = nn.Sequential(nn.Linear(4, 3), nn.Tanh()).double()
    x = pydl.tensor(_x(2, 4), requires_grad=True)
    seq(x).sum().backward()
    seq.add_module("1", nn.Sigmoid())
    x.grad = None
    seq(x).sum().backward()
    ref = nn.Sequential(seq[0], nn.Sigmoid())
    xr = pydl.tensor(x.data, requires_grad=True)
    ref(xr).sum().backward()
    np.testing.assert_array_equal(x.grad, xr.grad)


def test_a_layer_called_twice_on_the_tape_adds_both_calls():
    lin = nn.Linear(4, 3, dtype=np.float64)
    a, b = _x(2, 4), _x(2, 4, seed=1)
    g = np.ones((2, 3))
    lin(a)
    lin.backward(g)
    lin(b)
    lin.backward(g)
    expected = _grads(lin)
    lin.zero_grad()
    (lin(pydl.tensor(a)) + lin(pydl.tensor(b))).sum().backward()
    for got, want in zip(_grads(lin), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert lin.__dict__["_calls"] == 0        # the explicit path saw no call


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("crit, target", [
    (nn.CrossEntropyLoss(), np.array([0, 2, 1])),
    (nn.MSELoss(), np.zeros((3, 3))),
    (nn.MSELoss(reduction="none"), np.zeros((3, 3))),
], ids=["cross-entropy", "mse", "mse-none"])
def test_a_loss_called_on_a_tensor_and_a_target_array(crit, target, dtype):
    x = _x(3, 3).astype(dtype)
    if target.dtype.kind == "f":
        target = target.astype(dtype)
    out = crit(x, target)
    g = np.ones(np.shape(out), dtype)
    expected = crit.backward(g[()] if np.ndim(out) == 0 else g)
    xt = pydl.tensor(x, requires_grad=True)
    loss = crit(xt, target)
    assert isinstance(loss, pydl.Tensor) and loss.dtype == dtype
    assert loss.shape == np.shape(out) and loss.grad_fn.inputs == (xt,)
    np.testing.assert_array_equal(loss.data, np.asarray(out, dtype))
    loss.backward(None if loss.ndim == 0 else g)
    np.testing.assert_array_equal(xt.grad, expected)
    with pydl.no_grad():
        assert crit(xt, target).grad_fn is None


@pytest.mark.parametrize("value, expected", [
    (0.5, np.float32), (np.float64(0.5), np.float32), (np.float32(0.5), np.float32),
    (np.float16(0.5), np.float16), (np.array(0.5, np.float64), np.float64),
], ids=["float", "np.float64", "np.float32", "np.float16", "0-d float64"])
def test_the_type_of_a_scalar_a_module_returns_on_the_tape(value, expected):
    """A Python float (np.float64 is one) takes the input's float type; a NumPy
    scalar or array keeps its own; a float16 result is no float tensor: no node."""

    class Scalar(nn.Module):
        def forward(self, x, target):
            self.save_for_backward(shape=x.shape)
            return value

        def backward(self, grad_output):
            return np.full(self.saved()["shape"], float(grad_output), np.float32)

    x = pydl.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    out = Scalar()(x, np.zeros(2))
    assert out.dtype == expected and out.ndim == 0
    if expected == np.float16:
        assert out.grad_fn is None
    else:
        out.backward()
        np.testing.assert_array_equal(x.grad, np.ones((2, 3)))


def test_a_tensor_argument_the_explicit_backward_does_not_cover_is_an_error():
    """loss(array, tensor): the loss's explicit backward returns its first argument's
    gradient only; the target tensor's gradient must not silently stay None."""
    rng = np.random.default_rng(5)
    x = rng.random((4, 3)).astype(np.float32)
    t = pydl.tensor(rng.random((4, 3)).astype(np.float32), requires_grad=True)
    loss = nn.MSELoss()(x, t)
    with pytest.raises(RuntimeError, match="MSELoss's explicit backward returns no "
                                           "gradient for a tensor argument"):
        loss.backward()
    # detached (or as an array) it is a constant target, as documented
    out = pydl.tensor(x, requires_grad=True)
    nn.MSELoss()(out, t.detach()).backward()
    np.testing.assert_allclose(out.grad, 2 * (x - t.data) / x.size, rtol=1e-6)
