"""NumPy twin of pydl.functional.rnn: a Python loop over time steps, textbook formulas.

Caches have the functional ops' layouts: LSTM (T, N, 5H) = [i f g o | c],
GRU (T, N, 4H) = [r z n | W_hn h + b_hn].
"""

import numpy as np

__all__ = [
    "rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward",
    "gru_forward", "gru_backward",
    "rnn_cell_forward", "rnn_cell_backward", "lstm_cell_forward", "lstm_cell_backward",
    "gru_cell_forward", "gru_cell_backward",
]


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _steps(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


def _zeros_if_none(a, shape, dtype):
    return np.zeros(shape, dtype) if a is None else a


def _bias(b, size, dtype):
    return np.zeros(size, dtype) if b is None else b


def _prev(states, t, reverse, first):
    """The state before step t in processing order (``first`` before the first step)."""
    tp = t + 1 if reverse else t - 1
    return first if tp < 0 or tp >= len(states) else states[tp]


def _weight_grads(dg, x, h_prev, gx_needed, gw_needed, weight_ih):
    """Sums over steps and rows: dx = dg @ W_ih, dW_ih = dg^T x, dW_hh = dg^T h_prev."""
    T, N = x.shape[:2]
    dg2 = dg.reshape(T * N, -1)
    gx = (dg2 @ weight_ih).reshape(x.shape) if gx_needed else None
    gw_ih = dg2.T @ x.reshape(T * N, -1) if gw_needed else None
    gw_hh = dg2.T @ h_prev.reshape(T * N, -1) if gw_needed else None
    return gx, gw_ih, gw_hh


# --------------------------------------------------------------------------- RNN

def rnn_forward(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, *,
                nonlinearity="tanh", reverse=False):
    T, N, _ = x.shape
    H = weight_hh.shape[1]
    act = np.tanh if nonlinearity == "tanh" else (lambda v: np.maximum(v, 0))
    b = _bias(bias_ih, H, x.dtype) + _bias(bias_hh, H, x.dtype)
    h = _zeros_if_none(h0, (N, H), x.dtype)
    y = np.empty((T, N, H), x.dtype)
    for t in _steps(T, reverse):
        h = act(x[t] @ weight_ih.T + h @ weight_hh.T + b)
        y[t] = h
    return y, h.copy()


def rnn_backward(grad_y, grad_h_n, x, h0, weight_ih, weight_hh, y, *, nonlinearity="tanh",
                 reverse=False, has_bias=True, need_input_grad=True, need_weight_grad=True):
    T, N, _ = x.shape
    H = weight_hh.shape[1]
    h0 = _zeros_if_none(h0, (N, H), x.dtype)
    grad_y = _zeros_if_none(grad_y, y.shape, x.dtype)
    dh = _zeros_if_none(grad_h_n, (N, H), x.dtype).copy()
    dpre = np.empty_like(y)
    h_prev = np.empty_like(y)
    for t in reversed(list(_steps(T, reverse))):
        d = grad_y[t] + dh
        dpre[t] = d * (1 - y[t] ** 2) if nonlinearity == "tanh" else d * (y[t] > 0)
        dh = dpre[t] @ weight_hh
        h_prev[t] = _prev(y, t, reverse, h0)
    gx, gw_ih, gw_hh = _weight_grads(dpre, x, h_prev, need_input_grad, need_weight_grad,
                                     weight_ih)
    gb = dpre.sum(axis=(0, 1)) if has_bias and need_weight_grad else None
    return gx, dh, gw_ih, gw_hh, gb, None if gb is None else gb.copy()


# -------------------------------------------------------------------------- LSTM

def lstm_forward(x, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, *,
                 reverse=False):
    T, N, _ = x.shape
    H = weight_hh.shape[1]
    b = _bias(bias_ih, 4 * H, x.dtype) + _bias(bias_hh, 4 * H, x.dtype)
    h = _zeros_if_none(h0, (N, H), x.dtype)
    c = _zeros_if_none(c0, (N, H), x.dtype)
    y = np.empty((T, N, H), x.dtype)
    cache = np.empty((T, N, 5 * H), x.dtype)
    for t in _steps(T, reverse):
        z = x[t] @ weight_ih.T + h @ weight_hh.T + b
        i, f, g, o = (_sigmoid(z[:, :H]), _sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]),
                      _sigmoid(z[:, 3 * H:]))
        c = f * c + i * g
        h = o * np.tanh(c)
        y[t] = h
        cache[t] = np.concatenate([i, f, g, o, c], axis=1)
    return y, h.copy(), c.copy(), cache


def lstm_backward(grad_y, grad_h_n, grad_c_n, x, h0, c0, weight_ih, weight_hh, y, cache, *,
                  reverse=False, has_bias=True, need_input_grad=True, need_weight_grad=True):
    T, N, _ = x.shape
    H = weight_hh.shape[1]
    h0 = _zeros_if_none(h0, (N, H), x.dtype)
    c0 = _zeros_if_none(c0, (N, H), x.dtype)
    grad_y = _zeros_if_none(grad_y, (T, N, H), x.dtype)
    dh = _zeros_if_none(grad_h_n, (N, H), x.dtype).copy()
    dc = _zeros_if_none(grad_c_n, (N, H), x.dtype).copy()
    cells = cache[:, :, 4 * H:]
    dg = np.empty((T, N, 4 * H), x.dtype)
    h_prev = np.empty((T, N, H), x.dtype)
    for t in reversed(list(_steps(T, reverse))):
        i, f, g, o, c = (cache[t, :, k * H:(k + 1) * H] for k in range(5))
        c_prev = _prev(cells, t, reverse, c0)
        tc = np.tanh(c)
        d_h = grad_y[t] + dh
        dc = dc + d_h * o * (1 - tc ** 2)
        dg[t] = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                                dc * i * (1 - g ** 2), d_h * tc * o * (1 - o)], axis=1)
        dc = dc * f
        dh = dg[t] @ weight_hh
        h_prev[t] = _prev(y, t, reverse, h0) if T > 1 else h0
    gx, gw_ih, gw_hh = _weight_grads(dg, x, h_prev, need_input_grad, need_weight_grad,
                                     weight_ih)
    gb = dg.sum(axis=(0, 1)) if has_bias and need_weight_grad else None
    return gx, dh, dc, gw_ih, gw_hh, gb, None if gb is None else gb.copy()


# --------------------------------------------------------------------------- GRU

def gru_forward(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, *, reverse=False):
    T, N, _ = x.shape
    H = weight_hh.shape[1]
    b_ih = _bias(bias_ih, 3 * H, x.dtype)
    b_hh = _bias(bias_hh, 3 * H, x.dtype)
    h = _zeros_if_none(h0, (N, H), x.dtype)
    y = np.empty((T, N, H), x.dtype)
    cache = np.empty((T, N, 4 * H), x.dtype)
    for t in _steps(T, reverse):
        gi = x[t] @ weight_ih.T + b_ih
        gh = h @ weight_hh.T + b_hh
        r = _sigmoid(gi[:, :H] + gh[:, :H])
        z = _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        hn = gh[:, 2 * H:]
        n = np.tanh(gi[:, 2 * H:] + r * hn)
        h = (1 - z) * n + z * h
        y[t] = h
        cache[t] = np.concatenate([r, z, n, hn], axis=1)
    return y, h.copy(), cache


def gru_backward(grad_y, grad_h_n, x, h0, weight_ih, weight_hh, y, cache, *, reverse=False,
                 has_bias=True, need_input_grad=True, need_weight_grad=True):
    T, N, _ = x.shape
    H = weight_hh.shape[1]
    h0 = _zeros_if_none(h0, (N, H), x.dtype)
    grad_y = _zeros_if_none(grad_y, (T, N, H), x.dtype)
    dh = _zeros_if_none(grad_h_n, (N, H), x.dtype).copy()
    dgx = np.empty((T, N, 3 * H), x.dtype)   # input-side pre-activation gradients
    dgh = np.empty((T, N, 3 * H), x.dtype)   # hidden-side
    h_prev = np.empty((T, N, H), x.dtype)
    for t in reversed(list(_steps(T, reverse))):
        r, z, n, hn = (cache[t, :, k * H:(k + 1) * H] for k in range(4))
        hp = _prev(y, t, reverse, h0) if T > 1 else h0
        d_h = grad_y[t] + dh
        dn = d_h * (1 - z) * (1 - n ** 2)
        dr = dn * hn * r * (1 - r)
        dz = d_h * (hp - n) * z * (1 - z)
        dgx[t] = np.concatenate([dr, dz, dn], axis=1)
        dgh[t] = np.concatenate([dr, dz, dn * r], axis=1)
        dh = d_h * z + dgh[t] @ weight_hh
        h_prev[t] = hp
    gx, gw_ih, _ = _weight_grads(dgx, x, h_prev, need_input_grad, need_weight_grad,
                                 weight_ih)
    _, _, gw_hh = _weight_grads(dgh, x, h_prev, False, need_weight_grad, weight_ih)
    want_b = has_bias and need_weight_grad
    gb_ih = dgx.sum(axis=(0, 1)) if want_b else None
    gb_hh = dgh.sum(axis=(0, 1)) if want_b else None
    return gx, dh, gw_ih, gw_hh, gb_ih, gb_hh


# ------------------------------------------------------------------------- cells

def rnn_cell_forward(x, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None, *,
                     nonlinearity="tanh"):
    return rnn_forward(x[None], hx, weight_ih, weight_hh, bias_ih, bias_hh,
                       nonlinearity=nonlinearity)[0][0]


def rnn_cell_backward(grad_h, x, hx, weight_ih, weight_hh, h, *, nonlinearity="tanh",
                      has_bias=True, need_input_grad=True, need_weight_grad=True):
    gx, *rest = rnn_backward(None, grad_h, x[None], hx, weight_ih, weight_hh, h[None],
                             nonlinearity=nonlinearity, has_bias=has_bias,
                             need_input_grad=need_input_grad,
                             need_weight_grad=need_weight_grad)
    return (None if gx is None else gx[0]), *rest


def lstm_cell_forward(x, hx, cx, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    y, _, c, cache = lstm_forward(x[None], hx, cx, weight_ih, weight_hh, bias_ih, bias_hh)
    return y[0], c, cache[0]


def lstm_cell_backward(grad_h, grad_c, x, hx, cx, weight_ih, weight_hh, cache, *,
                       has_bias=True, need_input_grad=True, need_weight_grad=True):
    gx, *rest = lstm_backward(None, grad_h, grad_c, x[None], hx, cx, weight_ih, weight_hh,
                              None, cache[None], has_bias=has_bias,
                              need_input_grad=need_input_grad,
                              need_weight_grad=need_weight_grad)
    return (None if gx is None else gx[0]), *rest


def gru_cell_forward(x, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    y, _, cache = gru_forward(x[None], hx, weight_ih, weight_hh, bias_ih, bias_hh)
    return y[0], cache[0]


def gru_cell_backward(grad_h, x, hx, weight_ih, weight_hh, cache, *, has_bias=True,
                      need_input_grad=True, need_weight_grad=True):
    gx, *rest = gru_backward(None, grad_h, x[None], hx, weight_ih, weight_hh, None,
                             cache[None], has_bias=has_bias,
                             need_input_grad=need_input_grad,
                             need_weight_grad=need_weight_grad)
    return (None if gx is None else gx[0]), *rest
