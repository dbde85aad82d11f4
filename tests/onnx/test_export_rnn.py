"""pydl.onnx.export of RNN, LSTM, GRU and their cells: onnx.checker (full) and
onnxruntime equal to pydl at two batch sizes and two sequence lengths, for stacked,
bidirectional, batch_first and bias-free layers; initial states as graph inputs; an
LSTM classifier exported end to end."""

import io

import numpy as np
import pytest

import pydl
from pydl import nn

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from pydl.onnx import ExportError, export

from .export_check import TOL, session


def _flat(value, out):
    """A forward's result (nested tuples: LSTM's ``(y, (h, c))``) as a list of arrays."""
    if isinstance(value, (tuple, list)):
        for v in value:
            _flat(v, out)
    else:
        out.append(np.asarray(value.data if isinstance(value, pydl.Tensor) else value))
    return out


def _free_dims(proto):
    """Every input and output dimension symbolic: a time-major input has its batch at
    dim 1, which export leaves static; the graph itself must bake no size."""
    for v in (*proto.graph.input, *proto.graph.output):
        for i, d in enumerate(v.type.tensor_type.shape.dim):
            d.dim_param = f"{v.name}_d{i}"
    return proto


def _check(model, examples, free=True, opset=17):
    """Export with ``examples[0]``, check fully, compare every example in onnxruntime."""
    examples = [e if isinstance(e, tuple) else (e,) for e in examples]
    buf = io.BytesIO()
    first = examples[0]
    proto = export(model, first if len(first) > 1 else first[0], buf, opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    sess = session(_free_dims(proto) if free else proto)
    names = [i.name for i in sess.get_inputs()]
    for inputs in examples:
        with pydl.nn.module.eval_in_this_thread(), pydl.no_grad():
            want = _flat(model(*inputs), [])
        got = sess.run(None, dict(zip(names, inputs)))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape)
            rtol, atol = TOL[w.dtype]
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return proto


def _seq(rng, batch_first, steps, batch, features, dtype=np.float32):
    shape = (batch, steps, features) if batch_first else (steps, batch, features)
    return rng.standard_normal(shape).astype(dtype)


KINDS = [("RNN-tanh", nn.RNN, {}), ("RNN-relu", nn.RNN, {"nonlinearity": "relu"}),
         ("LSTM", nn.LSTM, {}), ("GRU", nn.GRU, {})]
# (num_layers, bidirectional, batch_first, bias)
CONFIGS = [(1, False, False, True), (2, False, False, True), (1, True, False, True),
           (2, True, True, True), (2, False, True, False), (3, True, False, False)]


@pytest.mark.parametrize("layers,bidirectional,batch_first,bias", CONFIGS,
                         ids=lambda v: str(v))
@pytest.mark.parametrize("name,cls,kwargs", KINDS, ids=[k[0] for k in KINDS])
def test_recurrent_layer(name, cls, kwargs, layers, bidirectional, batch_first, bias):
    rng = np.random.default_rng(0)
    model = cls(5, 6, num_layers=layers, bidirectional=bidirectional,
                batch_first=batch_first, bias=bias, **kwargs)
    if name == "RNN-relu":          # keep the relu recurrence away from overflow
        for p in model.parameters():
            p.data *= 0.5
    examples = [_seq(rng, batch_first, steps, batch, 5)
                for steps, batch in ((4, 3), (7, 1), (2, 6))]
    proto = _check(model, examples)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count(cls.__name__ if name[:3] != "RNN" else "RNN") == layers
    expected = "bidirectional" if bidirectional else "forward"
    for node in proto.graph.node:
        if node.op_type in ("RNN", "LSTM", "GRU"):
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            assert attrs["direction"].decode() == expected
            assert attrs["hidden_size"] == 6
            assert attrs.get("linear_before_reset", 0) == (1 if cls is nn.GRU else 0)


@pytest.mark.parametrize("opset", [13, 21])
@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU], ids=lambda c: c.__name__)
def test_other_opsets(cls, opset):
    rng = np.random.default_rng(13)
    model = cls(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    _check(model, [_seq(rng, True, 5, n, 3) for n in (2, 4)], opset=opset)


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU], ids=lambda c: c.__name__)
def test_unbatched_input(cls):
    rng = np.random.default_rng(1)
    model = cls(3, 4, num_layers=2, bidirectional=True)
    _check(model, [rng.standard_normal((5, 3)).astype(np.float32),
                   rng.standard_normal((2, 3)).astype(np.float32)])


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU], ids=lambda c: c.__name__)
def test_initial_states_are_graph_inputs(cls, batch_first):
    rng = np.random.default_rng(2)
    model = cls(3, 4, num_layers=2, bidirectional=True, batch_first=batch_first)
    examples = []
    for steps, batch in ((5, 2), (3, 4)):
        x = _seq(rng, batch_first, steps, batch, 3)
        h0 = rng.standard_normal((4, batch, 4)).astype(np.float32)
        c0 = rng.standard_normal((4, batch, 4)).astype(np.float32)
        examples.append((x, h0, c0) if cls is nn.LSTM else (x, h0))
    proto = _check(_WithStates(model), examples)
    assert len(proto.graph.input) == len(examples[0])


class _WithStates(nn.Module):
    """``forward(x, h0[, c0])`` in the layer's own form (LSTM: ``(x, (h0, c0))``)."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x, h0, c0=None):
        return self.layer(x, hx=h0 if c0 is None else (h0, c0))     # by keyword


def test_layer_as_the_model_with_states():
    """The layer itself as the exported model, its states as inputs 1 and 2."""
    rng = np.random.default_rng(3)
    model = nn.LSTM(3, 4)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    h0, c0 = (rng.standard_normal((1, 2, 4)).astype(np.float32) for _ in range(2))
    proto = export(model, (x, h0, c0), io.BytesIO())
    onnx.checker.check_model(proto, full_check=True)
    got = session(proto).run(None, {"input_0": x, "input_1": h0, "input_2": c0})
    want = _flat(model(x, (h0, c0)), [])
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-5)


CELLS = [("RNNCell-tanh", lambda **k: nn.RNNCell(5, 4, **k)),
         ("RNNCell-relu", lambda **k: nn.RNNCell(5, 4, nonlinearity="relu", **k)),
         ("LSTMCell", lambda **k: nn.LSTMCell(5, 4, **k)),
         ("GRUCell", lambda **k: nn.GRUCell(5, 4, **k))]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name,make", CELLS, ids=[c[0] for c in CELLS])
def test_cell(name, make, bias):
    rng = np.random.default_rng(4)
    model = make(bias=bias)
    _check(model, [rng.standard_normal((n, 5)).astype(np.float32) for n in (3, 1, 6)])


@pytest.mark.parametrize("name,make", CELLS, ids=[c[0] for c in CELLS])
def test_cell_with_state(name, make):
    rng = np.random.default_rng(5)
    cell = make()
    lstm = isinstance(cell, nn.LSTMCell)
    examples = []
    for n in (3, 5):
        x = rng.standard_normal((n, 5)).astype(np.float32)
        h = rng.standard_normal((n, 4)).astype(np.float32)
        examples.append((x, h, h * 0.5) if lstm else (x, h))
    _check(_WithStates(cell), examples)


@pytest.mark.parametrize("name,make", CELLS, ids=[c[0] for c in CELLS])
def test_cell_unbatched(name, make):
    rng = np.random.default_rng(6)
    cell = make()
    buf = io.BytesIO()
    x = rng.standard_normal(5).astype(np.float32)
    proto = export(cell, x, buf, dynamic_batch=False)
    onnx.checker.check_model(proto, full_check=True)
    got = session(proto).run(None, {"input": x})
    for g, w in zip(got, _flat(cell(x), []), strict=True):
        assert g.shape == w.shape == (4,)
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-5)


def test_gate_order_matters():
    """A parity check that could fail: swapping two gate blocks of the weights
    changes the ONNX output (the converter's reordering is what makes them equal)."""
    rng = np.random.default_rng(7)
    model = nn.LSTM(3, 4)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    sess = session(_free_dims(export(model, x, io.BytesIO())))
    base = sess.run(None, {"input": x})[0]
    np.testing.assert_allclose(base, model(x)[0], rtol=2e-4, atol=2e-5)
    w = model.weight_ih_l0.data
    w[:4], w[4:8] = w[4:8].copy(), w[:4].copy()      # i <-> f in PyTorch's order
    assert not np.allclose(model(x)[0], base, atol=1e-3)


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU], ids=lambda c: c.__name__)
def test_float64_model_is_valid_onnx(cls):
    """float64 layers export double weights and pass the checker (onnxruntime's CPU
    recurrent kernels are float32 only, so the run is not compared)."""
    rng = np.random.default_rng(8)
    model = cls(3, 4, num_layers=2, bidirectional=True, dtype=np.float64)
    proto = export(model, rng.standard_normal((5, 2, 3)), io.BytesIO())
    onnx.checker.check_model(proto, full_check=True)
    doubles = [t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.DOUBLE]
    assert len(doubles) == 3 * 2       # W, R and B (both directions) of each layer
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


def test_integer_input_is_refused():
    model = nn.GRU(3, 4)
    with pytest.raises(ExportError, match="float"):
        export(model, np.zeros((5, 2, 3), np.int64), io.BytesIO())


def test_wrong_number_of_state_inputs():
    """An LSTM given h_0 without c_0 (two graph inputs) is refused by name."""
    x = np.zeros((5, 2, 3), np.float32)
    h0 = np.zeros((1, 2, 4), np.float32)
    with pytest.raises(ExportError, match=r"LSTM.*\(h_0, c_0\) or the input alone, got 2"):
        export(nn.LSTM(3, 4), (x, h0), io.BytesIO())


# ------------------------------------------------------------- models with RNNs
class LSTMClassifier(nn.Module):
    """Token ids (N, T) -> Embedding -> LSTM -> the last step -> Linear logits."""

    def __init__(self, vocab=30, embed=8, hidden=16, classes=5, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, ids):
        out, _ = self.lstm(self.embed(ids))
        return self.head(out[:, -1])


def test_lstm_classifier_end_to_end():
    rng = np.random.default_rng(9)
    model = LSTMClassifier()
    proto = _check(model, [rng.integers(0, 30, (n, t)) for n, t in ((4, 7), (1, 7), (9, 3))])
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("LSTM") == 2 and "Gather" in ops


def test_lstm_classifier_from_the_final_state():
    """The digits example's model: it has an explicit backward and no converter, so its
    forward is traced through (h_n[-1] is a tensor op)."""
    from pydl.examples.digits_lstm import DigitsLSTM
    rng = np.random.default_rng(10)
    model = DigitsLSTM(hidden_size=12, num_layers=2)
    _check(model, [rng.standard_normal((n, 8, 8)).astype(np.float32) for n in (3, 1, 6)],
           free=False)


def test_char_rnn_model_with_state_outputs():
    """Embedding -> LSTM over time-major ids -> Linear, returning the final state too."""
    from pydl.examples.char_rnn import CharLSTM
    rng = np.random.default_rng(11)
    model = CharLSTM(20, embedding_dim=6, hidden_size=8, num_layers=2)
    proto = _check(model, [rng.integers(0, 20, (t, n)) for t, n in ((5, 2), (9, 3))])
    assert len(proto.graph.output) == 3        # logits, h_n, c_n


class CellLoop(nn.Module):
    """A recurrent model written as a loop over the steps of a cell, from a zero state
    sized by the batch (``np.zeros((len(x), H))``: exported as an Expand)."""

    def __init__(self, cell):
        super().__init__()
        self.cell = cell
        self.head = nn.Linear(cell.hidden_size, 3)

    def forward(self, x):                       # (N, T, I)
        lstm = isinstance(self.cell, nn.LSTMCell)
        zeros = np.zeros((x.shape[0], self.cell.hidden_size), np.float32)
        state = (pydl.tensor(zeros), pydl.tensor(zeros.copy())) if lstm else pydl.tensor(zeros)
        outs = []
        for t in range(x.shape[1]):
            state = self.cell(x[:, t], state)
            outs.append(state[0] if lstm else state)
        return self.head(pydl.stack(outs, axis=1))


@pytest.mark.parametrize("name,make", CELLS, ids=[c[0] for c in CELLS])
def test_cell_loop_from_a_zero_state(name, make):
    rng = np.random.default_rng(12)
    model = CellLoop(make())
    proto = _check(model, [rng.standard_normal((n, 4, 5)).astype(np.float32)
                           for n in (3, 1, 6)], free=False)
    assert "Expand" in {n.op_type for n in proto.graph.node}
