"""Recurrent layers, one layer and one direction per call: Elman RNN, LSTM and GRU.

Each ``*_forward`` runs the whole sequence in one kernel call (the time loop is in
Cython); ``*_backward`` runs backward through time and returns every gradient. The
``*_cell_*`` ops are one time step of the same computation, for hand-written loops.

Shapes (time-major): x (T, N, I); states h0 / c0 (N, H); y (T, N, H). Weights as
PyTorch: ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), biases (G*H,), with G = 1
(RNN), 4 (LSTM gates i, f, g, o) or 3 (GRU gates r, z, n). ``reverse=True`` runs the
steps from last to first (the second direction of a bidirectional layer).

The forward ops return a ``cache`` the backward op reads (LSTM: (T, N, 5H) gate
activations and cell states; GRU: (T, N, 4H) gate activations and W_hn h + b_hn;
RNN: none, the output suffices). :mod:`pydl.reference` writes the same caches.
"""

import numpy as np

from .._ext import rnn as _rnn
from .._threading import blas_single_threaded, get_num_threads
from ._alloc import empty
from ._validation import as_float_array, check_blas_dims

__all__ = [
    "rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward",
    "gru_forward", "gru_backward",
    "rnn_cell_forward", "rnn_cell_backward", "lstm_cell_forward", "lstm_cell_backward",
    "gru_cell_forward", "gru_cell_backward",
]

NONLINEARITIES = ("tanh", "relu")


# ------------------------------------------------------------------------ checks

def _check_weights(weight_ih, weight_hh, bias_ih, bias_hh, gates):
    """Return (weight_ih, weight_hh, bias_ih, bias_hh, H, I), checked."""
    weight_hh = as_float_array(weight_hh, "weight_hh", ndim=2)
    gh, hidden = weight_hh.shape
    if hidden < 1 or gh != gates * hidden:
        raise ValueError(f"weight_hh has shape {weight_hh.shape}, expected ({gates} * "
                         f"hidden_size, hidden_size) with hidden_size >= 1")
    weight_ih = as_float_array(weight_ih, "weight_ih", ndim=2, like=weight_hh,
                               like_name="weight_hh")
    if weight_ih.shape[0] != gh:
        raise ValueError(f"weight_ih has shape {weight_ih.shape}, expected ({gh}, "
                         f"input_size): {gates} * hidden_size rows like weight_hh")
    biases = []
    for b, name in ((bias_ih, "bias_ih"), (bias_hh, "bias_hh")):
        if b is not None:
            b = as_float_array(b, name, ndim=1, like=weight_hh, like_name="weight_hh")
            if b.shape[0] != gh:
                raise ValueError(f"{name} has shape {b.shape}, expected ({gh},) = "
                                 f"({gates} * hidden_size,)")
        biases.append(b)
    return weight_ih, weight_hh, biases[0], biases[1], hidden, weight_ih.shape[1]


def _check_sequence(x, hidden, n_in, like):
    x = as_float_array(x, "x", ndim=3, like=like, like_name="weight_hh")
    steps, batch, features = x.shape
    if features != n_in:
        raise ValueError(f"x has shape {x.shape}: its last dimension must equal "
                         f"input_size = {n_in} (weight_ih.shape[1])")
    if steps == 0:
        raise ValueError("x has 0 time steps; a sequence needs at least one")
    check_blas_dims("rnn", steps * batch, n_in, 4 * hidden)
    return x


def _check_state(s, name, batch, hidden, like):
    """An (N, H) state; None means zeros."""
    if s is None:
        return np.zeros((batch, hidden), like.dtype)
    s = as_float_array(s, name, ndim=2, like=like, like_name="weight_hh")
    if s.shape != (batch, hidden):
        raise ValueError(f"{name} has shape {s.shape}, expected (batch, hidden_size) = "
                         f"{(batch, hidden)}")
    return s


def _check_like(a, name, shape, like):
    """An array that must have exactly ``shape``; None means zeros (a gradient nobody
    sent)."""
    if a is None:
        return np.zeros(shape, like.dtype)
    a = as_float_array(a, name, ndim=len(shape), like=like, like_name="weight_hh")
    if a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}, expected {shape}")
    return a


def _check_forward_results(y, cache, seq_shape, cache_width, like):
    """The forward's output and cache as backward needs them. One step (T = 1) reads
    no y (its previous hidden state is h0), so y may then be None."""
    if cache_width:
        if cache is None:
            raise TypeError("cache is required (the forward's cache), got None")
        cache = _check_like(cache, "cache", (*seq_shape[:2], cache_width), like)
    if y is None:
        if seq_shape[0] != 1 or not cache_width:
            raise TypeError("y is required (the forward output), got None")
        return np.zeros(seq_shape, like.dtype), cache
    return _check_like(y, "y", seq_shape, like), cache


def _check_nonlinearity(nonlinearity):
    if not isinstance(nonlinearity, str) or nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return nonlinearity == "relu"


def _grad_outputs(x, weight_ih, weight_hh, has_bias, need_input_grad, need_weight_grad):
    dtype = weight_hh.dtype
    gx = empty(x.shape, dtype) if need_input_grad else None
    gw_ih = empty(weight_ih.shape, dtype) if need_weight_grad else None
    gw_hh = empty(weight_hh.shape, dtype) if need_weight_grad else None
    gb = empty((weight_hh.shape[0],), dtype) if has_bias and need_weight_grad else None
    return gx, gw_ih, gw_hh, gb


# Below SMALL_CALL_MACS multiply-adds (~100 us of work on one core) a call runs on one
# thread: threads could save tens of microseconds at best, while every parallel region
# can cost a scheduler time slice on oversubscribed cores (measured: a small LSTM
# training step 25x slower at 2 threads than at 1 on a loaded 2-core machine). BLAS
# must still be held at one thread then, as it would thread GEMMs of more than 2^18
# multiply-adds itself; below TINY_CALL_MACS no GEMM is that large, and the BLAS limit
# (tens of microseconds per call) is skipped. Results are the same bits either way.
TINY_CALL_MACS = 1 << 18
SMALL_CALL_MACS = 1 << 23


def _run(kernel, x, hidden, gates, *args):
    steps, batch, n_in = x.shape
    macs = steps * batch * gates * hidden * (n_in + hidden)
    if macs < TINY_CALL_MACS:
        kernel(*args, 1)
        return
    n_threads = get_num_threads()
    with blas_single_threaded(n_threads):
        kernel(*args, 1 if macs < SMALL_CALL_MACS else n_threads)


# --------------------------------------------------------------------------- RNN

def rnn_forward(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, *,
                nonlinearity="tanh", reverse=False):
    """One Elman RNN layer over a sequence: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1}
    W_hh^T + b_hh)``.

    Parameters
    ----------
    x : ndarray, shape (T, N, I)
    h0 : ndarray, shape (N, H), or None for zeros
    weight_ih : ndarray, shape (H, I)
    weight_hh : ndarray, shape (H, H)
    bias_ih, bias_hh : ndarray, shape (H,), optional
    nonlinearity : {"tanh", "relu"}
    reverse : bool
        Run from the last step to the first.

    Returns
    -------
    y : ndarray, shape (T, N, H)
        The hidden state at every step.
    h_n : ndarray, shape (N, H)
        The last hidden state (``y[-1]``, or ``y[0]`` when ``reverse``).
    """
    relu = _check_nonlinearity(nonlinearity)
    weight_ih, weight_hh, bias_ih, bias_hh, hidden, n_in = _check_weights(
        weight_ih, weight_hh, bias_ih, bias_hh, 1)
    x = _check_sequence(x, hidden, n_in, weight_hh)
    h0 = _check_state(h0, "h0", x.shape[1], hidden, weight_hh)
    y = empty((*x.shape[:2], hidden), weight_hh.dtype)
    h_n = empty(h0.shape, weight_hh.dtype)
    _run(_rnn.rnn_forward, x, hidden, 1, x, h0, weight_ih, weight_hh, bias_ih, bias_hh,
         bool(reverse), relu, y, h_n)
    return y, h_n


def rnn_backward(grad_y, grad_h_n, x, h0, weight_ih, weight_hh, y, *, nonlinearity="tanh",
                 reverse=False, has_bias=True, need_input_grad=True, need_weight_grad=True):
    """Backward through time of :func:`rnn_forward`.

    Parameters
    ----------
    grad_y : ndarray, shape (T, N, H), or None
        Gradient with respect to the output at every step (None: zeros).
    grad_h_n : ndarray, shape (N, H), or None
        Gradient with respect to the final state (None: zeros).
    x, h0, weight_ih, weight_hh : the forward arguments (h0 None for zeros)
    y : ndarray, shape (T, N, H)
        The forward output.
    has_bias : bool
        Return bias gradients (they are equal for ``bias_ih`` and ``bias_hh``).
    need_input_grad, need_weight_grad : bool
        Skip gradients nobody needs (None is returned in their place).

    Returns
    -------
    grad_x : (T, N, I) or None
    grad_h0 : (N, H)
    grad_weight_ih : (H, I) or None
    grad_weight_hh : (H, H) or None
    grad_bias_ih, grad_bias_hh : (H,) or None
    """
    relu = _check_nonlinearity(nonlinearity)
    weight_ih, weight_hh, _, _, hidden, n_in = _check_weights(weight_ih, weight_hh,
                                                               None, None, 1)
    x = _check_sequence(x, hidden, n_in, weight_hh)
    h0 = _check_state(h0, "h0", x.shape[1], hidden, weight_hh)
    seq_shape = (*x.shape[:2], hidden)
    y, _ = _check_forward_results(y, None, seq_shape, 0, weight_hh)
    grad_y = _check_like(grad_y, "grad_y", seq_shape, weight_hh)
    grad_h_n = _check_like(grad_h_n, "grad_h_n", h0.shape, weight_hh)
    gx, gw_ih, gw_hh, gb = _grad_outputs(x, weight_ih, weight_hh, has_bias,
                                         need_input_grad, need_weight_grad)
    grad_h0 = empty(h0.shape, weight_hh.dtype)
    dpre = empty(seq_shape, weight_hh.dtype)
    _run(_rnn.rnn_backward, x, hidden, 1, grad_y, grad_h_n, x, h0, weight_ih, weight_hh,
         y, bool(reverse), relu, dpre, gx, grad_h0, gw_ih, gw_hh, gb)
    return gx, grad_h0, gw_ih, gw_hh, gb, _copy(gb)


def _copy(a):
    return None if a is None else a.copy()


# -------------------------------------------------------------------------- LSTM

def lstm_forward(x, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, *,
                 reverse=False):
    """One LSTM layer over a sequence (PyTorch's formulas and gate order i, f, g, o).

    ``i, f, o = sigmoid(.)``, ``g = tanh(.)`` of ``x_t W_ih^T + b_ih + h_{t-1} W_hh^T
    + b_hh``; ``c_t = f c_{t-1} + i g``; ``h_t = o tanh(c_t)``.

    Parameters
    ----------
    x : ndarray, shape (T, N, I)
    h0, c0 : ndarray, shape (N, H), or None for zeros
    weight_ih : ndarray, shape (4H, I)
    weight_hh : ndarray, shape (4H, H)
    bias_ih, bias_hh : ndarray, shape (4H,), optional
    reverse : bool

    Returns
    -------
    y : ndarray, shape (T, N, H)
    h_n, c_n : ndarray, shape (N, H)
        The final hidden and cell states.
    cache : ndarray, shape (T, N, 5H)
        Gate activations and cell states, for :func:`lstm_backward`.
    """
    weight_ih, weight_hh, bias_ih, bias_hh, hidden, n_in = _check_weights(
        weight_ih, weight_hh, bias_ih, bias_hh, 4)
    x = _check_sequence(x, hidden, n_in, weight_hh)
    h0 = _check_state(h0, "h0", x.shape[1], hidden, weight_hh)
    c0 = _check_state(c0, "c0", x.shape[1], hidden, weight_hh)
    dtype = weight_hh.dtype
    y = empty((*x.shape[:2], hidden), dtype)
    h_n, c_n = empty(h0.shape, dtype), empty(h0.shape, dtype)
    cache = empty((*x.shape[:2], 5 * hidden), dtype)
    _run(_rnn.lstm_forward, x, hidden, 4, x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh,
         bool(reverse), y, h_n, c_n, cache)
    return y, h_n, c_n, cache


def lstm_backward(grad_y, grad_h_n, grad_c_n, x, h0, c0, weight_ih, weight_hh, y, cache, *,
                  reverse=False, has_bias=True, need_input_grad=True, need_weight_grad=True):
    """Backward through time of :func:`lstm_forward`.

    Parameters
    ----------
    grad_y : ndarray, shape (T, N, H), or None (zeros)
    grad_h_n, grad_c_n : ndarray, shape (N, H), or None (zeros)
    x, h0, c0, weight_ih, weight_hh : the forward arguments
    y, cache : the forward's output and cache
    has_bias, need_input_grad, need_weight_grad : bool
        As in :func:`rnn_backward`.

    Returns
    -------
    grad_x : (T, N, I) or None
    grad_h0, grad_c0 : (N, H)
    grad_weight_ih : (4H, I) or None
    grad_weight_hh : (4H, H) or None
    grad_bias_ih, grad_bias_hh : (4H,) or None (equal values)
    """
    weight_ih, weight_hh, _, _, hidden, n_in = _check_weights(weight_ih, weight_hh,
                                                               None, None, 4)
    x = _check_sequence(x, hidden, n_in, weight_hh)
    h0 = _check_state(h0, "h0", x.shape[1], hidden, weight_hh)
    c0 = _check_state(c0, "c0", x.shape[1], hidden, weight_hh)
    seq_shape = (*x.shape[:2], hidden)
    y, cache = _check_forward_results(y, cache, seq_shape, 5 * hidden, weight_hh)
    grad_y = _check_like(grad_y, "grad_y", seq_shape, weight_hh)
    grad_h_n = _check_like(grad_h_n, "grad_h_n", h0.shape, weight_hh)
    grad_c_n = _check_like(grad_c_n, "grad_c_n", h0.shape, weight_hh)
    gx, gw_ih, gw_hh, gb = _grad_outputs(x, weight_ih, weight_hh, has_bias,
                                         need_input_grad, need_weight_grad)
    dtype = weight_hh.dtype
    grad_h0, grad_c0 = empty(h0.shape, dtype), empty(h0.shape, dtype)
    dgates = empty((*seq_shape[:2], 4 * hidden), dtype)
    _run(_rnn.lstm_backward, x, hidden, 4, grad_y, grad_h_n, grad_c_n, x, h0, c0,
         weight_ih, weight_hh, y, cache, bool(reverse), dgates, gx, grad_h0, grad_c0, gw_ih,
         gw_hh, gb)
    return gx, grad_h0, grad_c0, gw_ih, gw_hh, gb, _copy(gb)


# --------------------------------------------------------------------------- GRU

def gru_forward(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, *, reverse=False):
    """One GRU layer over a sequence (PyTorch's formulas and gate order r, z, n).

    ``r, z = sigmoid(x_t W_i^T + b_i + h_{t-1} W_h^T + b_h)`` (per gate),
    ``n = tanh(x_t W_in^T + b_in + r * (h_{t-1} W_hn^T + b_hn))``,
    ``h_t = (1 - z) n + z h_{t-1}``.

    Parameters
    ----------
    x : ndarray, shape (T, N, I)
    h0 : ndarray, shape (N, H), or None for zeros
    weight_ih : ndarray, shape (3H, I)
    weight_hh : ndarray, shape (3H, H)
    bias_ih, bias_hh : ndarray, shape (3H,), optional
    reverse : bool

    Returns
    -------
    y : ndarray, shape (T, N, H)
    h_n : ndarray, shape (N, H)
    cache : ndarray, shape (T, N, 4H)
        r, z, n and ``h W_hn^T + b_hn`` per step, for :func:`gru_backward`.
    """
    weight_ih, weight_hh, bias_ih, bias_hh, hidden, n_in = _check_weights(
        weight_ih, weight_hh, bias_ih, bias_hh, 3)
    x = _check_sequence(x, hidden, n_in, weight_hh)
    h0 = _check_state(h0, "h0", x.shape[1], hidden, weight_hh)
    dtype = weight_hh.dtype
    y = empty((*x.shape[:2], hidden), dtype)
    h_n = empty(h0.shape, dtype)
    cache = empty((*x.shape[:2], 4 * hidden), dtype)
    _run(_rnn.gru_forward, x, hidden, 3, x, h0, weight_ih, weight_hh, bias_ih, bias_hh,
         bool(reverse), y, h_n, cache)
    return y, h_n, cache


def gru_backward(grad_y, grad_h_n, x, h0, weight_ih, weight_hh, y, cache, *, reverse=False,
                 has_bias=True, need_input_grad=True, need_weight_grad=True):
    """Backward through time of :func:`gru_forward`.

    Parameters and returns as :func:`rnn_backward` (weights (3H, *), biases (3H,));
    ``cache`` is the forward's. The two bias gradients differ in their n block.
    """
    weight_ih, weight_hh, _, _, hidden, n_in = _check_weights(weight_ih, weight_hh,
                                                               None, None, 3)
    x = _check_sequence(x, hidden, n_in, weight_hh)
    h0 = _check_state(h0, "h0", x.shape[1], hidden, weight_hh)
    seq_shape = (*x.shape[:2], hidden)
    y, cache = _check_forward_results(y, cache, seq_shape, 4 * hidden, weight_hh)
    grad_y = _check_like(grad_y, "grad_y", seq_shape, weight_hh)
    grad_h_n = _check_like(grad_h_n, "grad_h_n", h0.shape, weight_hh)
    gx, gw_ih, gw_hh, gb_ih = _grad_outputs(x, weight_ih, weight_hh, has_bias,
                                            need_input_grad, need_weight_grad)
    dtype = weight_hh.dtype
    gb_hh = empty(gb_ih.shape, dtype) if gb_ih is not None else None
    grad_h0 = empty(h0.shape, dtype)
    dgates = empty((*seq_shape[:2], 4 * hidden), dtype)
    _run(_rnn.gru_backward, x, hidden, 3, grad_y, grad_h_n, x, h0, weight_ih, weight_hh, y,
         cache, bool(reverse), dgates, gx, grad_h0, gw_ih, gw_hh, gb_ih, gb_hh)
    return gx, grad_h0, gw_ih, gw_hh, gb_ih, gb_hh


# ------------------------------------------------------------------------- cells
# One time step: the sequence kernels with T = 1 (x (N, I) becomes (1, N, I)).

def _step_input(x, name="x"):
    x = as_float_array(x, name, ndim=2)
    return x[None]


def rnn_cell_forward(x, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None, *,
                     nonlinearity="tanh"):
    """One step of :func:`rnn_forward`: x (N, I), hx (N, H) or None -> h (N, H)."""
    y, _ = rnn_forward(_step_input(x), hx, weight_ih, weight_hh, bias_ih, bias_hh,
                       nonlinearity=nonlinearity)
    return y[0]


def rnn_cell_backward(grad_h, x, hx, weight_ih, weight_hh, h, *, nonlinearity="tanh",
                      has_bias=True, need_input_grad=True, need_weight_grad=True):
    """Gradients of :func:`rnn_cell_forward` given ``grad_h`` (N, H) and its output
    ``h``. Returns (grad_x, grad_hx, grad_weight_ih, grad_weight_hh, grad_bias_ih,
    grad_bias_hh) as :func:`rnn_backward`, with grad_x (N, I)."""
    h = as_float_array(h, "h", ndim=2)
    gx, gh, *rest = rnn_backward(None, grad_h, _step_input(x), hx, weight_ih, weight_hh,
                                 h[None], nonlinearity=nonlinearity, has_bias=has_bias,
                                 need_input_grad=need_input_grad,
                                 need_weight_grad=need_weight_grad)
    return (None if gx is None else gx[0]), gh, *rest


def lstm_cell_forward(x, hx, cx, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One step of :func:`lstm_forward`: x (N, I), hx and cx (N, H) or None.

    Returns
    -------
    h, c : ndarray, shape (N, H)
    cache : ndarray, shape (N, 5H), for :func:`lstm_cell_backward`
    """
    y, _, c, cache = lstm_forward(_step_input(x), hx, cx, weight_ih, weight_hh, bias_ih,
                                  bias_hh)
    return y[0], c, cache[0]


def lstm_cell_backward(grad_h, grad_c, x, hx, cx, weight_ih, weight_hh, cache, *,
                       has_bias=True, need_input_grad=True, need_weight_grad=True):
    """Gradients of :func:`lstm_cell_forward`; ``grad_h`` / ``grad_c`` (N, H) or None.

    Returns (grad_x, grad_hx, grad_cx, grad_weight_ih, grad_weight_hh, grad_bias_ih,
    grad_bias_hh) as :func:`lstm_backward`, with grad_x (N, I).
    """
    cache = as_float_array(cache, "cache", ndim=2)
    gx, *rest = lstm_backward(None, grad_h, grad_c, _step_input(x), hx, cx, weight_ih,
                              weight_hh, None, cache[None], has_bias=has_bias,
                              need_input_grad=need_input_grad,
                              need_weight_grad=need_weight_grad)
    return (None if gx is None else gx[0]), *rest


def gru_cell_forward(x, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One step of :func:`gru_forward`: x (N, I), hx (N, H) or None.

    Returns
    -------
    h : ndarray, shape (N, H)
    cache : ndarray, shape (N, 4H), for :func:`gru_cell_backward`
    """
    y, _, cache = gru_forward(_step_input(x), hx, weight_ih, weight_hh, bias_ih, bias_hh)
    return y[0], cache[0]


def gru_cell_backward(grad_h, x, hx, weight_ih, weight_hh, cache, *, has_bias=True,
                      need_input_grad=True, need_weight_grad=True):
    """Gradients of :func:`gru_cell_forward` given ``grad_h`` (N, H).

    Returns (grad_x, grad_hx, grad_weight_ih, grad_weight_hh, grad_bias_ih,
    grad_bias_hh) as :func:`gru_backward`, with grad_x (N, I).
    """
    cache = as_float_array(cache, "cache", ndim=2)
    gx, *rest = gru_backward(None, grad_h, _step_input(x), hx, weight_ih, weight_hh, None,
                             cache[None],
                             has_bias=has_bias, need_input_grad=need_input_grad,
                             need_weight_grad=need_weight_grad)
    return (None if gx is None else gx[0]), *rest
