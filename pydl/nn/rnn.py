"""Recurrent layers and cells: RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell.

Names, arguments, parameter names and layouts, gate orders and initialisation are
PyTorch's, so a PyTorch ``state_dict`` loads unchanged.

Backward
--------
Layers: ``backward(grad_output, grad_h_n=None)`` (LSTM: ``grad_output, grad_h_n=None,
grad_c_n=None``), where each gradient may be None (nothing flows from there), or one
argument shaped like the forward's result: ``(grad_output, grad_h_n)`` / LSTM
``(grad_output, (grad_h_n, grad_c_n))``. It returns the input gradient, and when the
forward was given initial states, ``(grad_input, grad_hx)`` with ``grad_hx`` shaped
like ``hx`` (LSTM: ``(grad_h0, grad_c0)``), so that gradients can flow on into the
module that produced the states (an encoder, say).

Cells: each ``forward`` (with gradients enabled) pushes what its backward needs onto
a stack and each ``backward`` pops the most recent step, so a hand-written loop runs
forward over the steps and then backward over them in reverse order. Step backward
returns ``grad_input``, or ``(grad_input, grad_hx)`` when that step was given ``hx``.
:meth:`Module.clear_saved` drops steps a loop will not backpropagate through.
"""

import math
import warnings

import numpy as np

from .. import functional as F
from .. import random as _random
from .._grad_mode import _local as _grad_local
from .._grad_mode import is_grad_enabled
from ..functional import rnn as _rnn_ops
from ..functional._validation import as_float_array, check_real
from . import init
from .linear import check_size, resolve_dtype
from .module import Module
from .parameter import Parameter

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _init_uniform(module, hidden_size, generator):
    """PyTorch's recurrent initialisation: every parameter from U(-k, k), k = 1/sqrt(H)."""
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    for p in module.parameters():
        init.uniform_(p, -bound, bound, generator=generator)


def _check_nonlinearity(nonlinearity):
    if not isinstance(nonlinearity, str) or nonlinearity not in F.rnn.NONLINEARITIES:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return nonlinearity


def _dropout_mask(shape, p, dtype):
    """Inverted dropout: kept elements scaled by 1 / (1 - p), drawn from pydl.random."""
    keep = _random.default_generator().random(shape) >= p
    return keep.astype(dtype) * dtype.type(1.0 / (1.0 - p))


def _split_grads(grad_output, extra, n_extra):
    """Accept ``backward(g, s1, s2)`` or ``backward((g, states))`` (forward's nesting)."""
    if isinstance(grad_output, (tuple, list)) and all(e is None for e in extra):
        if len(grad_output) != 2:
            raise ValueError(f"a tuple of gradients must be (grad_output, grad of the "
                             f"states), got {len(grad_output)} items")
        grad_output, states = grad_output
        if n_extra == 1:
            extra = (states,)
        elif states is None:
            extra = (None, None)
        else:
            extra = tuple(states)
            if len(extra) != 2:
                raise ValueError("the LSTM state gradient must be (grad_h_n, grad_c_n)")
    return grad_output, extra


# ------------------------------------------------------------------------ layers

class RNNBase(Module):
    """Shared machinery of :class:`RNN`, :class:`LSTM` and :class:`GRU`."""

    _kind = None

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, nonlinearity="tanh", dtype=None,
                 generator=None):
        super().__init__()
        self.input_size = check_size(input_size, "input_size")
        self.hidden_size = check_size(hidden_size, "hidden_size")
        if self.hidden_size < 1:
            raise ValueError(f"hidden_size must be >= 1, got {hidden_size}")
        self.num_layers = check_size(num_layers, "num_layers")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = check_real(dropout, "dropout", low=0.0, high=1.0)
        self.bidirectional = bool(bidirectional)
        self.nonlinearity = _check_nonlinearity(nonlinearity)
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(f"dropout={self.dropout} adds dropout after every recurrent "
                          f"layer but the last, and num_layers=1", UserWarning, stacklevel=3)
        dtype = resolve_dtype(dtype)
        gh = _GATES[self._kind] * self.hidden_size
        for layer in range(self.num_layers):
            n_in = self.input_size if layer == 0 else self.hidden_size * self.num_directions
            for suffix in self._suffixes():
                name = f"l{layer}{suffix}"
                setattr(self, f"weight_ih_{name}", Parameter(np.empty((gh, n_in), dtype)))
                setattr(self, f"weight_hh_{name}",
                        Parameter(np.empty((gh, self.hidden_size), dtype)))
                if self.bias:
                    setattr(self, f"bias_ih_{name}", Parameter(np.empty(gh, dtype)))
                    setattr(self, f"bias_hh_{name}", Parameter(np.empty(gh, dtype)))
        self.reset_parameters(generator)

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    def _suffixes(self):
        return ("", "_reverse")[:self.num_directions]

    def reset_parameters(self, generator=None):
        """Draw every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        _init_uniform(self, self.hidden_size, generator)

    def flatten_parameters(self):
        """No-op, for code written for PyTorch (parameters are always contiguous)."""

    def _weights(self, layer, direction):
        name = f"l{layer}{self._suffixes()[direction]}"
        get = self._parameters.get
        return (get(f"weight_ih_{name}"), get(f"weight_hh_{name}"),
                get(f"bias_ih_{name}"), get(f"bias_hh_{name}"))

    @property
    def _dtype(self):
        return self.weight_hh_l0.dtype

    # ----------------------------------------------------------- input checks
    def _as_time_major(self, input):
        """(T, N, I) contiguous, whatever the layout; and whether input was batched."""
        name = type(self).__name__
        x = as_float_array(input, "input", like=self.weight_hh_l0.data,
                           like_name="the module's parameters")
        if x.ndim not in (2, 3):
            layout = "(N, L, H_in)" if self.batch_first else "(L, N, H_in)"
            raise ValueError(f"{name}: input must be 2-D (L, H_in) unbatched or 3-D "
                             f"{layout} batched, got shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has shape {x.shape}; its last dimension must "
                             f"equal input_size = {self.input_size}")
        if x.ndim == 2:
            return x[:, None, :], False
        if self.batch_first:
            x = np.ascontiguousarray(x.transpose(1, 0, 2))
        return x, True

    def _check_state(self, s, name, batch, batched, input_shape):
        """One initial state: (D*L, N, H) batched, (D*L, H) unbatched; -> (D*L, N, H)."""
        if s is None:
            return None
        s = as_float_array(s, name, like=self.weight_hh_l0.data,
                           like_name="the module's parameters")
        dl = self.num_layers * self.num_directions
        expected = (dl, batch, self.hidden_size) if batched else (dl, self.hidden_size)
        if s.shape != expected:
            hint = ""
            if (batched and input_shape is not None and s.ndim == 3 and s.shape[0] == dl
                    and s.shape[2] == self.hidden_size):
                other = input_shape[1] if self.batch_first else input_shape[0]
                if s.shape[1] == other:
                    hint = (f" (its batch size matches input dimension "
                            f"{1 if self.batch_first else 0}: is the input "
                            f"{'time' if self.batch_first else 'batch'}-major? this "
                            f"module has batch_first={self.batch_first})")
            raise ValueError(f"{type(self).__name__}: {name} has shape {s.shape}, expected "
                             f"(num_layers * num_directions, {'batch, ' if batched else ''}"
                             f"hidden_size) = {expected}{hint}")
        return s if batched else s[:, None, :]

    def _split_hx(self, hx):
        """(h0, c0) for LSTM, (h0, None) otherwise."""
        return hx, None

    def _join_hx(self, h, c):
        return h

    # ------------------------------------------------------------- forward
    def forward(self, input, hx=None):
        """Run the layers over a sequence.

        Parameters
        ----------
        input : ndarray, shape (L, N, H_in), (N, L, H_in) with batch_first, or (L, H_in)
        hx : initial hidden state (N omitted when unbatched), zeros when None:
            RNN / GRU: h_0 of shape (D * num_layers, N, H);
            LSTM: a pair (h_0, c_0) of that shape.

        Returns
        -------
        output : ndarray, shape (L, N, D * H) (batch_first: (N, L, D * H))
            The last layer's hidden state at every step, both directions concatenated.
        h_n : ndarray, shape (D * num_layers, N, H) (LSTM: (h_n, c_n))
            Every layer's and direction's final state.
        """
        x, batched = self._as_time_major(input)
        steps, batch = x.shape[:2]
        h0_all, c0_all = self._split_hx(hx)
        h0_all = self._check_state(h0_all, "h_0", batch, batched, np.shape(input))
        c0_all = self._check_state(c0_all, "c_0", batch, batched, np.shape(input))
        lstm = self._kind == "lstm"
        H, D = self.hidden_size, self.num_directions
        h_n = np.empty((self.num_layers * D, batch, H), self._dtype)
        c_n = np.empty_like(h_n) if lstm else None
        layers, masks = [], []
        layer_input = x
        for layer in range(self.num_layers):
            runs, outs = [], []
            for d in range(D):
                k = layer * D + d
                h0 = None if h0_all is None else h0_all[k]
                c0 = None if c0_all is None else c0_all[k]
                w_ih, w_hh, b_ih, b_hh = (None if p is None else p.data
                                          for p in self._weights(layer, d))
                # the ops themselves (every argument is an array or None here: no
                # tape wrapper to pass)
                if lstm:
                    y, h_n[k], c_n[k], cache = _rnn_ops.lstm_forward(
                        layer_input, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=d == 1)
                elif self._kind == "gru":
                    y, h_n[k], cache = _rnn_ops.gru_forward(
                        layer_input, h0, w_ih, w_hh, b_ih, b_hh, reverse=d == 1)
                else:
                    y, h_n[k] = _rnn_ops.rnn_forward(
                        layer_input, h0, w_ih, w_hh, b_ih, b_hh,
                        nonlinearity=self.nonlinearity, reverse=d == 1)
                    cache = None
                runs.append((h0, c0, y, cache))
                outs.append(y)
            layers.append((layer_input, runs))
            out = outs[0] if D == 1 else np.concatenate(outs, axis=2)
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                mask = _dropout_mask(out.shape, self.dropout, out.dtype)
                out = out * mask
                masks.append(mask)
            else:
                masks.append(None)
            layer_input = out
        if _grad_local.enabled:      # save_for_backward, without building its arguments
            self.save_for_backward(layers=layers, masks=masks, batched=batched,
                                   input_shape=np.shape(input), hx_given=hx is not None)
        output = layer_input
        if not batched:
            output, h_n = output[:, 0], h_n[:, 0]
            c_n = None if c_n is None else c_n[:, 0]
        elif self.batch_first:
            output = np.ascontiguousarray(output.transpose(1, 0, 2))
        return output, self._join_hx(h_n, c_n)

    # ------------------------------------------------------------ backward
    def _state_grad(self, g, name, batch, batched):
        if g is None:
            return None
        return self._check_state(g, name, batch, batched, None)

    def backward(self, grad_output=None, grad_h_n=None, grad_c_n=None):
        saved = self.saved()
        lstm = self._kind == "lstm"
        if lstm:
            grad_output, (grad_h_n, grad_c_n) = _split_grads(grad_output,
                                                             (grad_h_n, grad_c_n), 2)
        elif grad_c_n is not None:
            raise TypeError(f"{type(self).__name__} has no cell state: grad_c_n must be None")
        else:
            grad_output, (grad_h_n,) = _split_grads(grad_output, (grad_h_n,), 1)
        layers, masks, batched = saved["layers"], saved["masks"], saved["batched"]
        steps, batch = layers[0][0].shape[:2]
        H, D = self.hidden_size, self.num_directions
        gy = None
        if grad_output is not None:
            out_shape = (steps, batch, D * H)
            expected = out_shape if batched else (steps, D * H)
            if self.batch_first and batched:
                expected = (batch, steps, D * H)
            g = as_float_array(grad_output, "grad_output", like=self.weight_hh_l0.data,
                               like_name="the module's parameters")
            if g.shape != expected:
                raise ValueError(f"grad_output has shape {g.shape}, expected {expected} "
                                 f"(the output's shape)")
            gy = g.reshape(out_shape) if not batched else (
                np.ascontiguousarray(g.transpose(1, 0, 2)) if self.batch_first else g)
        gh_all = self._state_grad(grad_h_n, "grad_h_n", batch, batched)
        gc_all = self._state_grad(grad_c_n, "grad_c_n", batch, batched)
        grad_h0 = np.empty((self.num_layers * D, batch, H), self._dtype)
        grad_c0 = np.empty_like(grad_h0) if lstm else None
        for layer in reversed(range(self.num_layers)):
            layer_input, runs = layers[layer]
            g_in = None
            for d in range(D):
                k = layer * D + d
                h0, c0, y, cache = runs[d]
                params = self._weights(layer, d)
                w_ih, w_hh = params[0].data, params[1].data
                need_w = params[0].requires_grad or params[1].requires_grad or (
                    self.bias and (params[2].requires_grad or params[3].requires_grad))
                gyd = None if gy is None else (gy if D == 1 else gy[:, :, d * H:(d + 1) * H])
                ghd = None if gh_all is None else gh_all[k]
                kw = dict(reverse=d == 1, has_bias=self.bias, need_weight_grad=need_w)
                if lstm:
                    gcd = None if gc_all is None else gc_all[k]
                    gx, grad_h0[k], grad_c0[k], *gw = F.lstm_backward(
                        gyd, ghd, gcd, layer_input, h0, c0, w_ih, w_hh, y, cache, **kw)
                elif self._kind == "gru":
                    gx, grad_h0[k], *gw = F.gru_backward(gyd, ghd, layer_input, h0, w_ih,
                                                         w_hh, y, cache, **kw)
                else:
                    gx, grad_h0[k], *gw = F.rnn_backward(gyd, ghd, layer_input, h0, w_ih,
                                                         w_hh, y,
                                                         nonlinearity=self.nonlinearity, **kw)
                for p, g in zip(params, gw):
                    if p is not None:
                        p.accumulate_grad(g)
                g_in = gx if g_in is None else g_in + gx
            if layer > 0 and masks[layer - 1] is not None:
                g_in *= masks[layer - 1]
            gy = g_in
        dx = gy
        if not batched:
            dx, grad_h0 = dx[:, 0], grad_h0[:, 0]
            grad_c0 = None if grad_c0 is None else grad_c0[:, 0]
        elif self.batch_first:
            dx = np.ascontiguousarray(dx.transpose(1, 0, 2))
        if saved["hx_given"]:
            return dx, self._join_hx(grad_h0, grad_c0)
        return dx

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self._kind == "rnn" and self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (``nn.RNN``).

    Parameters
    ----------
    input_size, hidden_size : int
    num_layers : int
        Stacked layers; layer k > 0 reads layer k - 1's output.
    nonlinearity : {"tanh", "relu"}
    bias : bool
    batch_first : bool
        Input and output (N, L, features) instead of (L, N, features); states are
        (D * num_layers, N, H) either way.
    dropout : float
        Dropout on every layer's output but the last, in training mode (masks from
        :func:`pydl.manual_seed`'s generator).
    bidirectional : bool
        A second direction runs from the last step to the first; outputs concatenate.
    dtype : float32 (default) or float64
    generator : numpy.random.Generator, optional

    Parameters are ``weight_ih_l{k}`` (H, H_in), ``weight_hh_l{k}`` (H, H),
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (H,), with ``_reverse`` for the second
    direction. See the module docstring for ``backward``.
    """

    _kind = "rnn"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, dtype=None,
                 generator=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, nonlinearity=nonlinearity, dtype=dtype,
                         generator=generator)


class LSTM(RNNBase):
    """Long short-term memory (``nn.LSTM``): gates i, f, g, o,
    ``c_t = f c_{t-1} + i g``, ``h_t = o tanh(c_t)``.

    Arguments as :class:`RNN` (no nonlinearity). ``forward(input, (h_0, c_0))``
    returns ``output, (h_n, c_n)``. Weights ``weight_ih_l{k}`` (4H, H_in) and
    ``weight_hh_l{k}`` (4H, H), gate blocks in the order i, f, g, o. ``proj_size``
    (LSTM with projections) is not supported.
    """

    _kind = "lstm"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, dtype=None, generator=None):
        if proj_size:
            raise NotImplementedError("LSTM with proj_size > 0 is not supported")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype=dtype, generator=generator)

    def _split_hx(self, hx):
        if hx is None:
            return None, None
        try:
            h0, c0 = hx
        except (TypeError, ValueError):
            raise TypeError("LSTM: hx must be a pair (h_0, c_0)") from None
        return h0, c0

    def _join_hx(self, h, c):
        return h, c


class GRU(RNNBase):
    """Gated recurrent unit (``nn.GRU``), PyTorch's formulation:
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) n + z h``.

    Arguments as :class:`RNN` (no nonlinearity). Weights (3H, *) with gate blocks r, z, n.
    """

    _kind = "gru"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=None, generator=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype=dtype, generator=generator)


# ------------------------------------------------------------------------- cells

class RNNCellBase(Module):
    """Shared machinery of the cells: parameters and the stack of saved steps."""

    _kind = None

    def __init__(self, input_size, hidden_size, bias=True, *, dtype=None, generator=None):
        super().__init__()
        self.input_size = check_size(input_size, "input_size")
        self.hidden_size = check_size(hidden_size, "hidden_size")
        if self.hidden_size < 1:
            raise ValueError(f"hidden_size must be >= 1, got {hidden_size}")
        self.bias = bool(bias)
        dtype = resolve_dtype(dtype)
        gh = _GATES[self._kind] * self.hidden_size
        self.weight_ih = Parameter(np.empty((gh, self.input_size), dtype))
        self.weight_hh = Parameter(np.empty((gh, self.hidden_size), dtype))
        if self.bias:
            self.bias_ih = Parameter(np.empty(gh, dtype))
            self.bias_hh = Parameter(np.empty(gh, dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        object.__setattr__(self, "_steps", [])
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None):
        """Draw every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        _init_uniform(self, self.hidden_size, generator)

    @property
    def saved_steps(self):
        """How many forward steps are waiting for their backward."""
        return len(self._steps)

    def _params(self):
        return (self.weight_ih.data, self.weight_hh.data,
                None if self.bias_ih is None else self.bias_ih.data,
                None if self.bias_hh is None else self.bias_hh.data)

    def _check_input(self, input):
        name = type(self).__name__
        x = as_float_array(input, "input", like=self.weight_hh.data,
                           like_name="the module's parameters")
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has shape {x.shape}, expected (N, input_size) "
                             f"or (input_size,) with input_size = {self.input_size}")
        return (x, True) if x.ndim == 2 else (x[None], False)

    def _check_state(self, s, name, batch, batched):
        if s is None:
            return None
        s = as_float_array(s, name, like=self.weight_hh.data,
                           like_name="the module's parameters")
        expected = (batch, self.hidden_size) if batched else (self.hidden_size,)
        if s.shape != expected:
            raise ValueError(f"{type(self).__name__}: {name} has shape {s.shape}, expected "
                             f"{expected} (batch, hidden_size)")
        return s if batched else s[None]

    def _check_grad(self, g, name, batch, batched):
        return self._check_state(g, name, batch, batched)

    # A cell keeps a stack of steps, not one cache: a recorded call takes the steps it
    # pushed, and its node pushes them back for backward to pop.
    def _tape_stash(self):
        return len(self._steps)

    def _tape_empty(self):
        return 0

    def _tape_take(self, depth):
        steps = self._steps[depth:]
        del self._steps[depth:]
        return steps

    def _tape_give(self, steps):
        depth = len(self._steps)
        self._steps.extend(steps)
        return depth

    def _tape_unstash(self, depth):
        del self._steps[depth:]

    def _push(self, **step):
        if is_grad_enabled():
            self._steps.append(step)

    def _pop(self):
        if not self._steps:
            raise RuntimeError(f"{type(self).__name__}.backward() has no forward step left "
                               f"to go back through (each forward step, run with gradients "
                               f"enabled, allows one backward)")
        return self._steps.pop()

    def _finish_backward(self, step, gx, gstate, grads):
        params = (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        for p, g in zip(params, grads):
            if p is not None:
                p.accumulate_grad(g)
        if not step["batched"]:
            gx = gx[0]
            gstate = tuple(g[0] for g in gstate) if isinstance(gstate, tuple) else gstate[0]
        return (gx, gstate) if step["hx_given"] else gx

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self._kind == "rnn" and self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        return s


class RNNCell(RNNCellBase):
    """One Elman RNN step (``nn.RNNCell``): ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    ``forward(input, hx=None)``: input (N, input_size) or (input_size,), hx (N, H) or
    (H,) (zeros when None); returns h'. ``backward(grad_h)`` goes back through the
    most recent step (see the module docstring).
    """

    _kind = "rnn"

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", dtype=None,
                 generator=None):
        self.nonlinearity = _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, dtype=dtype, generator=generator)

    def forward(self, input, hx=None):
        x, batched = self._check_input(input)
        h = self._check_state(hx, "hx", x.shape[0], batched)
        h_new = F.rnn_cell_forward(x, h, *self._params(), nonlinearity=self.nonlinearity)
        self._push(x=x, h=h, out=h_new, batched=batched, hx_given=hx is not None)
        return h_new if batched else h_new[0]

    def backward(self, grad_output):
        step = self._pop()
        g = self._check_grad(grad_output, "grad_output", step["x"].shape[0], step["batched"])
        gx, gh, *grads = F.rnn_cell_backward(
            g, step["x"], step["h"], self.weight_ih.data, self.weight_hh.data, step["out"],
            nonlinearity=self.nonlinearity, has_bias=self.bias)
        return self._finish_backward(step, gx, gh, grads)


class LSTMCell(RNNCellBase):
    """One LSTM step (``nn.LSTMCell``), gates i, f, g, o.

    ``forward(input, hx=None)`` with hx = (h, c), each (N, H) or (H,); returns (h', c').
    ``backward(grad_h, grad_c=None)`` (or one pair ``(grad_h, grad_c)``) goes back
    through the most recent step; returns grad_input, or (grad_input, (grad_h,
    grad_c)) when that step was given hx.
    """

    _kind = "lstm"

    def __init__(self, input_size, hidden_size, bias=True, dtype=None, generator=None):
        super().__init__(input_size, hidden_size, bias, dtype=dtype, generator=generator)

    def forward(self, input, hx=None):
        x, batched = self._check_input(input)
        h = c = None
        if hx is not None:
            try:
                h, c = hx
            except (TypeError, ValueError):
                raise TypeError("LSTMCell: hx must be a pair (h, c)") from None
        h = self._check_state(h, "h", x.shape[0], batched)
        c = self._check_state(c, "c", x.shape[0], batched)
        h_new, c_new, cache = F.lstm_cell_forward(x, h, c, *self._params())
        self._push(x=x, h=h, c=c, cache=cache, batched=batched, hx_given=hx is not None)
        return (h_new, c_new) if batched else (h_new[0], c_new[0])

    def backward(self, grad_h=None, grad_c=None):
        if isinstance(grad_h, (tuple, list)) and grad_c is None:
            if len(grad_h) != 2:
                raise ValueError("LSTMCell.backward: a tuple of gradients must be "
                                 "(grad_h, grad_c)")
            grad_h, grad_c = grad_h
        step = self._pop()
        batch, batched = step["x"].shape[0], step["batched"]
        gh = self._check_grad(grad_h, "grad_h", batch, batched)
        gc = self._check_grad(grad_c, "grad_c", batch, batched)
        gx, dh, dc, *grads = F.lstm_cell_backward(
            gh, gc, step["x"], step["h"], step["c"], self.weight_ih.data,
            self.weight_hh.data, step["cache"], has_bias=self.bias)
        return self._finish_backward(step, gx, (dh, dc), grads)


class GRUCell(RNNCellBase):
    """One GRU step (``nn.GRUCell``), gates r, z, n, PyTorch's formulation.

    ``forward(input, hx=None)`` returns h'; ``backward(grad_h)`` as :class:`RNNCell`.
    """

    _kind = "gru"

    def __init__(self, input_size, hidden_size, bias=True, dtype=None, generator=None):
        super().__init__(input_size, hidden_size, bias, dtype=dtype, generator=generator)

    def forward(self, input, hx=None):
        x, batched = self._check_input(input)
        h = self._check_state(hx, "hx", x.shape[0], batched)
        h_new, cache = F.gru_cell_forward(x, h, *self._params())
        self._push(x=x, h=h, cache=cache, batched=batched, hx_given=hx is not None)
        return h_new if batched else h_new[0]

    def backward(self, grad_output):
        step = self._pop()
        g = self._check_grad(grad_output, "grad_output", step["x"].shape[0], step["batched"])
        gx, gh, *grads = F.gru_cell_backward(
            g, step["x"], step["h"], self.weight_ih.data, self.weight_hh.data,
            step["cache"], has_bias=self.bias)
        return self._finish_backward(step, gx, gh, grads)
