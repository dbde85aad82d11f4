"""RNN, LSTM, GRU layers and cells: gradient checks, behaviour and bad input."""

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.testing import gradcheck


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _make(kind, *args, **kw):
    pydl.manual_seed(0)
    if kind == "RNN-relu":
        return nn.RNN(*args, nonlinearity="relu", dtype=np.float64, **kw)
    return getattr(nn, kind)(*args, dtype=np.float64, **kw)


LAYER_CASES = [
    ("RNN", dict()),
    ("RNN-relu", dict(num_layers=2)),
    ("LSTM", dict()),
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("LSTM", dict(batch_first=True, bias=False)),
    ("GRU", dict()),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True)),
]


@pytest.mark.parametrize("kind,kw", LAYER_CASES,
                         ids=[f"{k}-{'-'.join(map(str, v.values()))}" for k, v in LAYER_CASES])
def test_layer_gradcheck(kind, kw):
    m = _make(kind, 3, 4, **kw)
    shape = (2, 3, 3) if kw.get("batch_first") else (3, 2, 3)
    assert gradcheck(m, _x(shape), max_elements=12)


class _WithStates(nn.Module):
    """forward(x, h0[, c0]) -> (output, h_n[, c_n]): initial states as plain inputs,
    so that gradcheck checks their gradients too."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x, h0, c0=None):
        hx = h0 if c0 is None else (h0, c0)
        out, hn = self.layer(x, hx)
        return (out, *hn) if c0 is not None else (out, hn)

    def backward(self, grads):
        grads = list(grads)
        if len(grads) == 3:
            gx, (gh, gc) = self.layer.backward(grads[0], grads[1], grads[2])
            return gx, gh, gc
        return self.layer.backward(grads[0], grads[1])


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_initial_state_gradcheck(kind):
    m = _WithStates(_make(kind, 3, 4, num_layers=2, bidirectional=True))
    states = [_x((4, 2, 4), 1)] + ([_x((4, 2, 4), 2)] if kind == "LSTM" else [])
    assert gradcheck(m, _x((3, 2, 3)), *states, max_elements=10)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_unbatched_input_gradcheck(kind):
    m = _WithStates(_make(kind, 3, 4, bidirectional=True))
    states = [_x((2, 4), 1)] + ([_x((2, 4), 2)] if kind == "LSTM" else [])
    out = m(_x((5, 3)), *states)
    assert out[0].shape == (5, 8) and out[1].shape == (2, 4)
    assert gradcheck(m, _x((5, 3)), *states, max_elements=10)


def test_sequence_of_length_one_gradcheck():
    assert gradcheck(_make("LSTM", 3, 4, num_layers=2), _x((1, 2, 3)), max_elements=20)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_gradcheck(kind):
    m = _make(kind, 3, 5)
    assert gradcheck(m, _x((4, 3)), max_elements=30)
    h = _x((4, 5), 1)
    hx = (h, _x((4, 5), 2)) if kind == "LSTMCell" else h
    assert gradcheck(m, _x((4, 3)), hx, max_elements=30)   # (x, hx) -> (dx, dhx)
    assert gradcheck(m, _x((3,)), max_elements=10)         # unbatched


class _CellLoop(nn.Module):
    """A hand-written loop over an LSTMCell: h_t for every t, backward in reverse."""

    def __init__(self, cell):
        super().__init__()
        self.cell = cell

    def forward(self, x):
        h = c = np.zeros((x.shape[1], self.cell.hidden_size))
        out = []
        for t in range(x.shape[0]):
            h, c = self.cell(x[t], (h, c))
            out.append(h)
        return np.stack(out)

    def backward(self, grad):
        dh = dc = np.zeros(grad.shape[1:])
        dx = []
        for t in reversed(range(grad.shape[0])):
            gx, (dh, dc) = self.cell.backward(grad[t] + dh, dc)
            dx.append(gx)
        return np.stack(dx[::-1])


def test_hand_written_cell_loop_matches_layer_and_gradcheck():
    cell = _make("LSTMCell", 3, 4)
    loop = _CellLoop(cell)
    assert gradcheck(loop, _x((4, 2, 3)), max_elements=20)
    layer = _make("LSTM", 3, 4)
    layer.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    x, g = _x((4, 2, 3)), _x((4, 2, 4), 3)
    out, _ = layer(x)
    np.testing.assert_allclose(loop(x), out, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loop.backward(g), layer.backward(g), rtol=1e-12, atol=1e-14)


def test_dropout_between_layers():
    m = _make("GRU", 3, 4, num_layers=3, dropout=0.5)
    x = _x((5, 2, 3))
    m.eval()
    ref, _ = m(x)
    np.testing.assert_array_equal(m(x)[0], ref)          # eval: no dropout
    m.train()
    pydl.manual_seed(1)
    a, _ = m(x)
    pydl.manual_seed(1)
    b, _ = m(x)
    np.testing.assert_array_equal(a, b)                  # masks come from pydl.random
    assert not np.allclose(a, ref)

    class Seeded(nn.Module):                             # the same masks at every call
        def __init__(self):
            super().__init__()
            self.m = m

        def forward(self, x):
            pydl.manual_seed(3)
            return self.m(x)

        def backward(self, g):
            return self.m.backward(g)

    assert gradcheck(Seeded(), x, max_elements=20)


def test_dropout_warns_for_one_layer():
    with pytest.warns(UserWarning, match="num_layers=1"):
        nn.LSTM(3, 4, dropout=0.2)


def test_parameters_names_shapes_and_init():
    pydl.manual_seed(0)
    m = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    names = [n for n, _ in m.named_parameters()]
    assert names[:8] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                         "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
                         "bias_hh_l0_reverse"]
    assert m.weight_ih_l1.shape == (20, 10) and m.weight_hh_l1_reverse.shape == (20, 5)
    for p in m.parameters():
        assert p.dtype == np.float32
        assert np.all(np.abs(p.data) <= 1 / np.sqrt(5))
    assert len(list(nn.GRU(3, 5, bias=False).parameters())) == 2
    assert repr(nn.GRU(3, 5, num_layers=2, batch_first=True)) == \
        "GRU(3, 5, num_layers=2, batch_first=True)"
    assert repr(nn.RNNCell(3, 5, nonlinearity="relu")) == "RNNCell(3, 5, nonlinearity='relu')"


def test_no_grad_keeps_nothing():
    m = nn.LSTM(3, 4)
    cell = nn.GRUCell(3, 4)
    x = np.ones((2, 1, 3), np.float32)
    with pydl.no_grad():
        m(x)
        cell(x[0])
    with pytest.raises(RuntimeError, match="needs a forward"):
        m.backward(np.ones((2, 1, 4), np.float32))
    with pytest.raises(RuntimeError, match="no forward step left"):
        cell.backward(np.ones((1, 4), np.float32))
    cell(x[0])
    cell(x[1])
    assert cell.saved_steps == 2
    cell.clear_saved()
    assert cell.saved_steps == 0


def test_backward_forms():
    """backward(g, gh, gc) and backward((g, (gh, gc))) agree; None means zeros."""
    m = _make("LSTM", 3, 4)
    x = _x((3, 2, 3))
    out, (h, c) = m(x)
    g, gh, gc = _x(out.shape, 1), _x(h.shape, 2), _x(c.shape, 3)
    a = m.backward(g, gh, gc)
    b = m.backward((g, (gh, gc)))
    np.testing.assert_array_equal(a, b)
    zero = m.backward(np.zeros_like(out), None, None)
    np.testing.assert_array_equal(zero, m.backward(None))
    assert not np.any(zero)


class TestBadInput:
    def test_wrong_input_size(self):
        m = nn.LSTM(10, 4)
        with pytest.raises(ValueError, match=r"input has shape \(5, 2, 20\); its last "
                                             r"dimension must equal input_size = 10"):
            m(np.zeros((5, 2, 20), np.float32))
        with pytest.raises(ValueError, match="input must be 2-D .* or 3-D"):
            m(np.zeros((5, 2, 1, 10), np.float32))
        with pytest.raises(TypeError, match="input has dtype float64 but the module's "
                                            "parameters"):
            m(np.zeros((5, 2, 10)))
        with pytest.raises(ValueError, match=r"LSTMCell: input has shape \(2, 3\), "
                                             r"expected \(N, input_size\)"):
            nn.LSTMCell(4, 5)(np.zeros((2, 3), np.float32))

    def test_mismatched_initial_states(self):
        m = nn.GRU(3, 4, num_layers=2)
        x = np.zeros((5, 2, 3), np.float32)
        with pytest.raises(ValueError, match=r"h_0 has shape \(1, 2, 4\), expected "
                                             r"\(num_layers \* num_directions, batch, "
                                             r"hidden_size\) = \(2, 2, 4\)"):
            m(x, np.zeros((1, 2, 4), np.float32))
        lstm = nn.LSTM(3, 4)
        with pytest.raises(ValueError, match=r"c_0 has shape \(1, 2, 5\)"):
            lstm(x, (np.zeros((1, 2, 4), np.float32), np.zeros((1, 2, 5), np.float32)))
        with pytest.raises(TypeError, match=r"hx must be a pair \(h_0, c_0\)"):
            lstm(x, np.zeros((1, 2, 4), np.float32))
        with pytest.raises(ValueError, match=r"h_0 has shape \(1, 2, 4\), expected .*"
                                             r"\(1, 4\)"):
            lstm(x[:, 0], (np.zeros((1, 2, 4), np.float32),) * 2)   # unbatched input
        with pytest.raises(ValueError, match=r"hx has shape \(3, 4\), expected \(2, 4\)"):
            nn.RNNCell(3, 4)(x[0], np.zeros((3, 4), np.float32))

    def test_batch_first_confusion_is_named(self):
        m = nn.LSTM(3, 4)                              # time-major
        x = np.zeros((7, 5, 3), np.float32)            # meant as batch 7, 5 steps
        h0 = np.zeros((1, 7, 4), np.float32)
        with pytest.raises(ValueError, match="matches input dimension 0: is the input "
                                             "batch-major.*batch_first=False"):
            m(x, (h0, h0))
        bf = nn.GRU(3, 4, batch_first=True)
        with pytest.raises(ValueError, match="matches input dimension 1: is the input "
                                             "time-major.*batch_first=True"):
            bf(x, np.zeros((1, 5, 4), np.float32))

    def test_bad_constructor_arguments(self):
        with pytest.raises(ValueError, match="hidden_size must be >= 1"):
            nn.LSTM(3, 0)
        with pytest.raises(ValueError, match="num_layers must be >= 1"):
            nn.GRU(3, 4, num_layers=0)
        with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
            nn.RNN(3, 4, nonlinearity="sigmoid")
        with pytest.raises(ValueError, match="dropout must be <= 1.0"):
            nn.RNN(3, 4, num_layers=2, dropout=1.5)
        with pytest.raises(NotImplementedError, match="proj_size"):
            nn.LSTM(3, 4, proj_size=2)

    def test_bad_backward_arguments(self):
        m = nn.RNN(3, 4)
        m(np.zeros((5, 2, 3), np.float32))
        with pytest.raises(ValueError, match=r"grad_output has shape \(5, 2, 3\), expected "
                                             r"\(5, 2, 4\)"):
            m.backward(np.zeros((5, 2, 3), np.float32))
        with pytest.raises(TypeError, match="has no cell state"):
            m.backward(None, None, np.zeros((1, 2, 4), np.float32))
        with pytest.raises(ValueError, match=r"grad_h_n has shape \(2, 2, 4\)"):
            m.backward(None, np.zeros((2, 2, 4), np.float32))
