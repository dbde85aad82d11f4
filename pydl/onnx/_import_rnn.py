"""ONNX LSTM, GRU and RNN nodes as pydl's one-layer LSTM, GRU and RNN.

ONNX orders the gate blocks i, o, f, c (LSTM) and z, r, h (GRU); pydl, as PyTorch,
orders them i, f, g, o and r, z, n. ONNX packs both biases in ``B`` (W_b then R_b)
per direction. A reverse-only node runs the forward layer over the time-reversed
sequence. Outputs are ONNX's: Y (T, D, N, H), Y_h and Y_c (D, N, H), or batch-major
with ``layout=1``.
"""

import numpy as np

from .. import nn
from ..autograd import ops as T
from ..nn.parameter import Parameter
from ._import_context import Unsupported, converter
from ._import_graph import as_float_like, runtime
from ._import_ops import _is_t

# pydl's gate blocks, as indices of ONNX's blocks
_ORDER = {"LSTM": (0, 2, 3, 1), "GRU": (1, 0, 2), "RNN": (0,)}
_DEFAULT_ACTIVATIONS = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"]}
_LAYERS = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}


def _reorder(w, op, hidden):
    """Gate blocks of ``w`` (gates * hidden along axis 0) in pydl's order."""
    blocks = [w[i * hidden:(i + 1) * hidden] for i in _ORDER[op]]
    return Parameter(np.ascontiguousarray(np.concatenate(blocks, axis=0)))


def _check_attributes(node, a, op, n_dir):
    acts = [s.lower() for s in a.get("activations", [])]
    if op == "RNN":
        acts = acts or ["tanh"] * n_dir
        if len(set(acts)) != 1 or acts[0] not in ("tanh", "relu"):
            raise Unsupported(f"activations {a['activations']} (pydl's RNN takes Tanh or "
                              f"Relu, the same in both directions)")
        nonlinearity = acts[0]
    else:
        nonlinearity = None
        if acts and acts != _DEFAULT_ACTIVATIONS[op] * n_dir:
            raise Unsupported(f"activations {a['activations']} (pydl's {op} uses the "
                              f"defaults {_DEFAULT_ACTIVATIONS[op]})")
    if a.get("clip") is not None:
        raise Unsupported("the clip attribute")
    if a.get("input_forget", 0):
        raise Unsupported("input_forget=1")
    if op == "GRU" and not a.get("linear_before_reset", 0):
        raise Unsupported("linear_before_reset=0: pydl's GRU (as PyTorch's) applies the "
                          "reset gate after the hidden projection, which ONNX calls "
                          "linear_before_reset=1")
    return nonlinearity


@converter("LSTM", "GRU", "RNN")
def _convert_rnn(node, ctx):
    op = node.op_type
    a = ctx.attrs(node)
    direction = a.get("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise Unsupported(f"direction={direction!r}")
    n_dir = 2 if direction == "bidirectional" else 1
    nonlinearity = _check_attributes(node, a, op, n_dir)
    seq_len = None
    if ctx.input(node, 4):
        lens = ctx.static.get(node.input[4])
        if lens is None or len(np.unique(lens)) != 1:
            raise Unsupported("sequence_lens (sequences of different lengths)")
        seq_len = int(lens.reshape(-1)[0])      # one length for all: checked per call
    if op == "LSTM" and ctx.input(node, 7):
        raise Unsupported("peephole weights (input P)")
    w, r, b = (ctx.initializer(node, i) for i in (1, 2, 3))
    if w is None or r is None or (ctx.input(node, 3) and b is None):
        raise Unsupported("weights computed at run time; pydl imports W, R and B as "
                          "initializers")
    hidden = a.get("hidden_size", r.shape[-1])
    gates = len(_ORDER[op])
    want = {"W": (n_dir, gates * hidden, w.shape[-1]), "R": (n_dir, gates * hidden, hidden),
            "B": (n_dir, 2 * gates * hidden)}
    for key, value in (("W", w), ("R", r), ("B", b)):
        if value is not None and value.shape != want[key]:
            raise Unsupported(f"its {key} has shape {value.shape}; hidden_size={hidden} and "
                              f"direction={direction!r} need {want[key]}")
    layout = a.get("layout", 0)
    kwargs = {"nonlinearity": nonlinearity} if op == "RNN" else {}
    layer = _LAYERS[op](w.shape[2], hidden, bias=b is not None, batch_first=bool(layout),
                        bidirectional=n_dir == 2, **kwargs)
    for d, suffix in enumerate(("", "_reverse")[:n_dir]):
        ctx.set_weight(layer, f"weight_ih_l0{suffix}", _reorder(w[d], op, hidden))
        ctx.set_weight(layer, f"weight_hh_l0{suffix}", _reorder(r[d], op, hidden))
        if b is not None:
            ctx.set_weight(layer, f"bias_ih_l0{suffix}", _reorder(b[d, :gates * hidden], op, hidden))
            ctx.set_weight(layer, f"bias_hh_l0{suffix}", _reorder(b[d, gates * hidden:], op, hidden))
    states = [ctx.input(node, 5)] + ([ctx.input(node, 6)] if op == "LSTM" else [])
    attrs = {"lstm": op == "LSTM", "reverse": direction == "reverse", "layout": layout,
             "hidden": hidden, "n_dir": n_dir, "seq_len": seq_len}
    outputs = list(node.output) + [""] * (3 - len(node.output))
    ctx.emit("rnn", [node.input[0], *states], outputs[:3 if op == "LSTM" else 2], attrs,
             module=layer, node=node)


def _flip_time(x, layout):
    axis = 1 if layout else 0
    key = (slice(None),) * axis + (slice(None, None, -1),)
    return T.getitem(x, key) if _is_t(x) else x[key]


@runtime("rnn")
def _rnn(module, attrs, x, h0=None, c0=None):
    layout, lstm = attrs["layout"], attrs["lstm"]
    steps = np.shape(x.data if _is_t(x) else x)[1 if layout else 0]
    if attrs.get("seq_len") is not None and attrs["seq_len"] != steps:
        raise ValueError(f"the ONNX recurrent node's sequence_lens is {attrs['seq_len']} "
                         f"for every sequence, but the input has {steps} steps; pydl "
                         f"runs whole sequences only")
    if attrs["reverse"]:
        x = _flip_time(x, layout)
    states = []
    for s in (h0, c0) if lstm else (h0,):
        if s is not None:
            s = as_float_like(s, x)
            if layout:        # (N, D, H) -> (D, N, H), pydl's layout
                s = T.permute(s, (1, 0, 2)) if _is_t(s) else np.ascontiguousarray(
                    s.transpose(1, 0, 2))
        states.append(s)
    if all(s is None for s in states):
        y, hn = module(x)
    else:
        y, hn = module(x, tuple(states) if lstm else states[0])
    hn = hn if lstm else (hn,)
    if attrs["reverse"]:
        y = _flip_time(y, layout)
    shape = y.shape
    # (T, N, D*H) -> ONNX's (T, D, N, H); batch-first (N, T, D*H) -> (N, T, D, H)
    y = T.reshape(y, (shape[0], shape[1], attrs["n_dir"], attrs["hidden"]))
    if not layout:
        y = T.permute(y, (0, 2, 1, 3))
    else:
        hn = tuple(T.permute(h, (1, 0, 2)) for h in hn)
    return (y, *hn)
