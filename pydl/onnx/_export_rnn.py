"""ONNX converters of the recurrent layers (RNN, LSTM, GRU) and of their cells.

Each layer of a stacked module becomes one ONNX ``RNN``/``LSTM``/``GRU`` op run over
the whole sequence (both directions in one op when ``bidirectional``), time-major as
those ops want (``layout=0``: the layout attribute is not implemented by every
runtime), so ``batch_first`` costs one Transpose at each end. Between layers the op's
``Y`` of shape (T, D, N, H) is brought back to pydl's (T, N, D * H).

Weight blocks are reordered from PyTorch's gate order to ONNX's: LSTM i, f, g, o ->
i, o, f, c; GRU r, z, n -> z, r, h with ``linear_before_reset=1`` (PyTorch's GRU
applies the reset gate after the hidden projection and its bias). The biases of one
direction are stored as ``[b_ih; b_hh]`` (ONNX's ``Wb`` then ``Rb``).

Outputs follow pydl's forward flattened depth first: ``output, h_n`` for RNN and GRU,
``output, h_n, c_n`` for LSTM; the cells give ``h'`` (LSTMCell: ``h', c'``).
Initial states passed to the forward become graph inputs; omitted, they are zero.
Dropout between layers is off (export is in evaluation mode). float64 layers give
double ops: valid ONNX, but onnxruntime's CPU recurrent kernels run float32 only.
A time-major input has its batch at dim 1, which ``dynamic_batch`` (dim 0) does not
free; the graph itself holds no batch or sequence size.
"""

import numpy as np

from .. import nn
from ._export import ExportError, register

__all__ = ["recurrent_op"]

# Positions of PyTorch's gate blocks in ONNX's order.
_GATE_ORDER = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2), "rnn": (0,)}
_OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _reorder(array, kind, hidden):
    """Gate blocks of a (G * H, ...) weight or (G * H,) bias in ONNX's order."""
    blocks = [array[g * hidden:(g + 1) * hidden] for g in _GATE_ORDER[kind]]
    return np.concatenate(blocks, axis=0)


def _direction_weights(kind, hidden, params):
    """W (D, G*H, I), R (D, G*H, H) and B (D, 2*G*H) or None, for the directions whose
    ``(w_ih, w_hh, b_ih, b_hh)`` arrays are ``params``. A bias left out (None) beside
    the other is zeros, as the functional ops take it."""
    w = np.stack([_reorder(p[0], kind, hidden) for p in params])
    r = np.stack([_reorder(p[1], kind, hidden) for p in params])
    if all(p[2] is None and p[3] is None for p in params):
        return w, r, None

    def bias(b):
        return np.zeros(len(w[0]), w.dtype) if b is None else _reorder(b, kind, hidden)
    b = np.stack([np.concatenate([bias(p[2]), bias(p[3])]) for p in params])
    return w, r, b


def _attrs(kind, hidden, nonlinearity, direction):
    attrs = {"hidden_size": hidden, "direction": direction}
    if kind == "gru":
        attrs["linear_before_reset"] = 1
    elif kind == "rnn":
        n = 2 if direction == "bidirectional" else 1
        attrs["activations"] = ["Relu" if nonlinearity == "relu" else "Tanh"] * n
    return attrs


def recurrent_op(ctx, kind, x, params, h0, c0, hidden, nonlinearity="tanh",
                 direction=None, hint="rnn"):
    """One ONNX RNN/LSTM/GRU op (``kind`` "rnn", "lstm", "gru") over time-major ``x``.

    ``params``: per direction, PyTorch's ``(w_ih, w_hh, b_ih or None, b_hh or None)``
    arrays; ``h0``/``c0``: (D, N, H) value names or None (zeros). ``direction``
    defaults to "forward" for one set of weights, "bidirectional" for two. Returns
    the names of Y (T, D, N, H), Y_h (D, N, H) and Y_c (LSTM; else None).
    """
    if direction is None:
        direction = "bidirectional" if len(params) == 2 else "forward"
    w, r, b = _direction_weights(kind, hidden, params)
    inputs = [x, ctx.initializer(w, f"{hint}_W"), ctx.initializer(r, f"{hint}_R"),
              "" if b is None else ctx.initializer(b, f"{hint}_B"), "", h0 or ""]
    if kind == "lstm":
        inputs.append(c0 or "")
    while inputs[-1] == "":          # trailing omitted inputs are left out
        inputs.pop()
    n_out = 3 if kind == "lstm" else 2
    outs = ctx.node(_OP[kind], inputs, n_out, **_attrs(kind, hidden, nonlinearity, direction))
    return outs[0], outs[1], outs[2] if kind == "lstm" else None


def _unsqueeze(ctx, x, axes):
    return ctx.node("Unsqueeze", [x, ctx.int64(axes, "axes")])[0]


def _squeeze(ctx, x, axes):
    return ctx.node("Squeeze", [x, ctx.int64(axes, "axes")])[0]


def _layer_states(ctx, state, layer, directions):
    """The (D, N, H) slice of a (L * D, N, H) initial state for one layer."""
    if state is None:
        return None
    start = ctx.int64([layer * directions], "start")
    end = ctx.int64([(layer + 1) * directions], "end")
    return ctx.node("Slice", [state, start, end, ctx.int64([0], "axes")])[0]


def _split_inputs(ctx, inputs, lstm):
    """(x, h0, c0, rank of x) from the flat input names (``forward(x)``, ``(x, h0)``,
    ``(x, h0, c0)``)."""
    want = 3 if lstm else 2
    if len(inputs) not in (1, want):
        raise ExportError(f"expected the input and {'(h_0, c_0)' if lstm else 'h_0'} or "
                          f"the input alone, got {len(inputs)} inputs")
    x = inputs[0]
    h0 = inputs[1] if len(inputs) > 1 else None
    c0 = inputs[2] if len(inputs) > 2 else None
    x_value = ctx.value(x)
    if x_value.dtype.kind != "f":
        raise ExportError(f"input must be a float array, got dtype {x_value.dtype}")
    return x, h0, c0, x_value.ndim


def _unsqueeze_each(ctx, names, axes):
    return [None if n is None else _unsqueeze(ctx, n, axes) for n in names]


def _forward_values(ctx, module, inputs, outputs, lstm):
    """Record the example arrays of ``outputs`` (the forward's result, flattened)."""
    args = [ctx.value(i) for i in inputs]
    if lstm and len(args) == 3:
        args = [args[0], (args[1], args[2])]
    result = module(*args)
    flat = []
    for item in (result if isinstance(result, tuple) else (result,)):
        flat.extend(item if isinstance(item, tuple) else (item,))
    for name, arr in zip(outputs, flat):
        ctx.set_value(name, np.asarray(arr))
    return outputs


@register(nn.RNN, nn.LSTM, nn.GRU)
def _convert_rnn(module, ctx, inputs):
    kind = module._kind
    lstm = kind == "lstm"
    x, h0_all, c0_all, rank = _split_inputs(ctx, inputs, lstm)
    batched = rank == 3
    D = module.num_directions
    if not batched:                      # (T, I) -> (T, 1, I); states (L*D, H) -> (L*D, 1, H)
        x, h0_all, c0_all = _unsqueeze_each(ctx, (x, h0_all, c0_all), [1])
    elif module.batch_first:
        x = ctx.node("Transpose", [x], perm=[1, 0, 2])[0]
    h_parts, c_parts = [], []
    for layer in range(module.num_layers):
        params = [tuple(None if p is None else p.data for p in module._weights(layer, d))
                  for d in range(D)]
        y, h, c = recurrent_op(ctx, kind, x, params, _layer_states(ctx, h0_all, layer, D),
                               _layer_states(ctx, c0_all, layer, D), module.hidden_size,
                               module.nonlinearity, hint=f"l{layer}")
        h_parts.append(h)
        c_parts.append(c)
        if D == 1:                       # Y (T, 1, N, H) -> (T, N, H)
            x = _squeeze(ctx, y, [1])
        else:                            # Y (T, 2, N, H) -> (T, N, 2, H) -> (T, N, 2H)
            y = ctx.node("Transpose", [y], perm=[0, 2, 1, 3])[0]
            x = ctx.node("Reshape", [y, ctx.int64([0, 0, -1])])[0]
    states = [h_parts] + ([c_parts] if lstm else [])
    finals = [parts[0] if len(parts) == 1 else ctx.node("Concat", parts, axis=0)[0]
              for parts in states]
    if not batched:
        x = _squeeze(ctx, x, [1])
        finals = [_squeeze(ctx, s, [1]) for s in finals]
    elif module.batch_first:
        x = ctx.node("Transpose", [x], perm=[1, 0, 2])[0]
    return _forward_values(ctx, module, inputs, [x, *finals], lstm)


@register(nn.RNNCell, nn.LSTMCell, nn.GRUCell)
def _convert_cell(module, ctx, inputs):
    """One step: the layer op over a sequence of length 1."""
    kind = module._kind
    lstm = kind == "lstm"
    x, h0, c0, rank = _split_inputs(ctx, inputs, lstm)
    # (N, I) -> (1, N, I); states (N, H) -> (1, N, H). Unbatched adds N = 1 first.
    lead = [0] if rank == 2 else [0, 1]
    x, h0, c0 = _unsqueeze_each(ctx, (x, h0, c0), lead)
    params = [tuple(None if p is None else p.data for p in
                    (module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh))]
    _, h, c = recurrent_op(ctx, kind, x, params, h0, c0, module.hidden_size,
                           getattr(module, "nonlinearity", "tanh"), hint="cell")
    outs = [_squeeze(ctx, s, lead) for s in ([h, c] if lstm else [h])]
    return _forward_values(ctx, module, inputs, outs, lstm)
