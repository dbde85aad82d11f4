"""Loss kernels: each computes the loss and its gradient in one fused pass.

Row losses (cross-entropy on indices or probabilities, NLL, multi-margin) work on one
sample per row; elementwise losses (MSE, L1, smooth L1, Huber, BCE, BCE with logits,
sigmoid focal, hinge, KL) share one chunked driver, `_elementwise_run`.

Reductions are split so results do not depend on the thread count: per-row losses or
per-chunk partial sums over fixed chunks of CHUNK elements are written out, and
pydl.functional adds them up in order.
"""

from cython cimport floating
from cython.parallel cimport prange, parallel
from libc.math cimport log, logf, log1p, log1pf, pow, powf, fabs, fabsf
from libc.stdint cimport int64_t
from libc.stdlib cimport free

from _scratch cimport scratch as _scratch

from _openmp cimport omp_get_thread_num

from _parallel cimport threads_for
from _vmath cimport (vexp, row_max, row_exp_sum, row_shift_dot,
                    row_sum, vlog1p_unit)

# Elements per partial sum of the elementwise losses. Fixed, so the sum's rounding
# never depends on how many threads computed the parts.
CHUNK = 8192
cdef Py_ssize_t _CHUNK = CHUNK


def softmax_cross_entropy_forward(
        const floating[:, ::1] logits,     # IN  (N, C)
        const int64_t[::1] target,         # IN  (N,) class indices or ignore_index
        const floating[::1] weight,        # IN  (C,) class weights, or None
        int64_t ignore_index,
        double label_smoothing,
        double grad_scale,                 # multiplies grad_logits (1 / denominator for mean)
        floating[::1] loss,                # OUT (N,) per-sample loss (0 where ignored)
        floating[:, ::1] grad_logits,      # OUT (N, C) d loss / d logits, or None
        int n_threads):
    """Cross-entropy of softmax(logits) against class indices, with its gradient.

    Per sample i with target t (w = weight, 1 when None; eps = label_smoothing):
        loss_i = (1 - eps) * w[t] * (lse - z[t]) + eps / C * sum_c w[c] * (lse - z[c])
               (computed as (m - z) + log(sum(exp(z - m))), m = max(z), for precision)
        grad   = grad_scale * ((1-eps) w[t] + eps/C sum_c w[c]) * softmax(z)
                 - grad_scale * ((1-eps) w[t] onehot(t) + eps/C w)
    where lse = log(sum(exp(z))). Ignored samples get loss 0 and gradient 0.
    """
    cdef Py_ssize_t n = logits.shape[0], c = logits.shape[1], i, j
    cdef bint has_w = weight is not None
    cdef bint want_grad = grad_logits is not None
    cdef floating eps = <floating>label_smoothing
    cdef floating scale = <floating>grad_scale
    cdef floating m, s, log_s, w_t, w_sum, smooth, coef_p, coef_t, inv_c, p
    cdef floating* rowbuf
    cdef floating* own_row
    cdef floating* scratch = NULL
    cdef int64_t t
    cdef int nt = threads_for(n * c, n_threads)
    if n == 0 or c == 0:
        return
    inv_c = <floating>(1.0 / c)
    w_sum = <floating>c
    if has_w:
        w_sum = 0
        for j in range(c):
            w_sum = w_sum + weight[j]
    if not want_grad:
        # exp(z - max) needs somewhere to go when there is no gradient row to use
        scratch = <floating*>_scratch(nt * c, sizeof(floating))
    try:
        with nogil, parallel(num_threads=nt):
            own_row = scratch + <Py_ssize_t>omp_get_thread_num() * c if scratch != NULL else NULL
            for i in prange(n, schedule='static'):
                t = target[i]
                if t == ignore_index:
                    loss[i] = 0
                    if want_grad:
                        for j in range(c):
                            grad_logits[i, j] = 0
                    continue
                rowbuf = &grad_logits[i, 0] if want_grad else own_row
                w_t = weight[t] if has_w else 1
                m = row_max(&logits[i, 0], c)
                s = row_exp_sum(&logits[i, 0], rowbuf, c, m)
                log_s = <floating>log(s)
                # (m - z) before adding log(s): exact cancellation for large logits
                loss[i] = (1 - eps) * w_t * ((m - logits[i, t]) + log_s)
                if eps != 0:
                    smooth = row_shift_dot(&logits[i, 0], &weight[0] if has_w else NULL, c, m)
                    loss[i] = loss[i] + eps * inv_c * (smooth + w_sum * log_s)
                if want_grad:
                    coef_p = scale * ((1 - eps) * w_t + eps * inv_c * w_sum) / s
                    coef_t = scale * (1 - eps) * w_t
                    if eps != 0 and has_w:
                        p = scale * eps * inv_c
                        for j in range(c):
                            rowbuf[j] = coef_p * rowbuf[j] - p * weight[j]
                    elif eps != 0:
                        p = scale * eps * inv_c
                        for j in range(c):
                            rowbuf[j] = coef_p * rowbuf[j] - p
                    else:
                        for j in range(c):
                            rowbuf[j] = coef_p * rowbuf[j]
                    rowbuf[t] = rowbuf[t] - coef_t
    finally:
        free(scratch)


def scale_rows(const floating[:, ::1] grad, const floating[::1] row_scale,
               floating[:, ::1] out, int n_threads):
    """out[i, :] = grad[i, :] * row_scale[i] (backward of a reduction='none' loss)."""
    cdef Py_ssize_t rows = grad.shape[0], cols = grad.shape[1], i, j
    cdef floating s
    with nogil:
        for i in prange(rows, num_threads=threads_for(rows * cols, n_threads),
                        schedule='static'):
            s = row_scale[i]
            for j in range(cols):
                out[i, j] = grad[i, j] * s


# ------------------------------------------------------------------ elementwise losses
# One driver runs every elementwise loss below over fixed chunks of CHUNK elements
# (partial sums in chunk order: identical bits at any thread count). The loss kind is
# chosen once per chunk, so each per-kind loop stays branch-free and vectorizable.

cdef enum:
    _K_PIECEWISE = 0   # L1, smooth L1, Huber: quadratic below a threshold, linear above
    _K_BCE = 1         # binary cross-entropy on probabilities
    _K_FOCAL = 2       # sigmoid focal loss on logits
    _K_HINGE = 3       # max(0, margin - y x): hinge and (margin 0) perceptron
    _K_KL = 4          # pointwise Kullback-Leibler divergence
    _K_MSE = 5         # squared error
    _K_BCE_LOGITS = 6  # binary cross-entropy on logits, with pos_weight


cdef inline floating _flog(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating _flog1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating _exp_neg_abs(floating x) noexcept nogil:
    """exp(-|x|), in (0, 1]: with it sigmoid(x) = 1/(1+e) or e/(1+e) by sign, and
    softplus(-x) = log1p(e) + max(-x, 0). One exp serves all three."""
    if floating is float:
        return vexp(-fabsf(x))
    else:
        return vexp(-fabs(x))


cdef inline floating _fpow(floating x, floating y) noexcept nogil:
    if floating is float:
        return powf(x, y)
    else:
        return pow(x, y)


cdef void _piecewise_chunk(const floating* x, const floating* y, double thresh, double quad,
                           double slope, double offset, floating scale, floating* l,
                           floating* g, Py_ssize_t n) noexcept nogil:
    """|d| < thresh: quad d^2 (grad 2 quad d); else slope |d| - offset (grad slope sign d)."""
    cdef Py_ssize_t i
    cdef floating d, a, lin, sq, t = <floating>thresh, c2 = <floating>quad
    cdef floating c1 = <floating>slope, c0 = <floating>offset
    cdef floating g_quad = scale * 2 * c2, g_lin = scale * c1
    for i in range(n):
        d = x[i] - y[i]
        a = fabs(d)
        sq = c2 * d * d
        lin = c1 * a - c0
        l[i] = sq if a < t else lin
    if g != NULL:
        for i in range(n):
            d = x[i] - y[i]
            a = fabs(d)
            sq = g_quad * d
            lin = g_lin * ((d > 0) - (d < 0))
            g[i] = sq if a < t else lin


cdef void _mse_chunk(const floating* x, const floating* y, floating scale, floating* l,
                     floating* g, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating d, two_scale = 2 * scale
    for i in range(n):
        d = x[i] - y[i]
        l[i] = d * d
    if g != NULL:
        for i in range(n):
            g[i] = two_scale * (x[i] - y[i])


cdef inline floating _bce_logits_elem(floating x, floating y, floating w, floating pw,
                                      floating scale, floating* g) noexcept nogil:
    """l = w [(1 - y) x + (1 + (pw - 1) y) softplus(-x)] (returned),
    dl/dx = w [sigmoid(x) (1 + (pw - 1) y) - pw y] (into g); softplus computed stably."""
    cdef floating c = 1 + (pw - 1) * y
    cdef floating e = _exp_neg_abs(x)
    cdef floating inv = 1 / (1 + e)
    cdef floating sig = inv if x >= 0 else e * inv
    cdef floating sp = vlog1p_unit(e) + (-x if x < 0 else 0)
    g[0] = scale * w * (sig * c - pw * y)
    return w * ((1 - y) * x + c * sp)


cdef void _bce_logits_chunk(const floating* x, const floating* y, const floating* w,
                            const floating* pw, floating scale, floating* l, floating* g,
                            Py_ssize_t n) noexcept nogil:
    # w and pw always point to data (ones when absent) and the grad test is outside the
    # loops: loads must be unconditional for the loops to vectorize
    cdef Py_ssize_t i
    cdef floating unused
    if g != NULL:
        for i in range(n):
            l[i] = _bce_logits_elem(x[i], y[i], w[i], pw[i], scale, &g[i])
    else:
        for i in range(n):
            l[i] = _bce_logits_elem(x[i], y[i], w[i], pw[i], scale, &unused)


cdef void _bce_chunk(const floating* x, const floating* y, const floating* w, floating scale,
                     floating* l, floating* g, Py_ssize_t n) noexcept nogil:
    """PyTorch's binary_cross_entropy: logs clamped at -100, gradient denominator at 1e-12."""
    cdef Py_ssize_t i
    cdef floating p, t, wi, lp, lq, den
    for i in range(n):
        p = x[i]
        t = y[i]
        wi = w[i] if w != NULL else 1
        lp = max(_flog(p), <floating>-100)
        lq = max(_flog1p(-p), <floating>-100)
        l[i] = wi * ((t - 1) * lq - t * lp)
        if g != NULL:
            # PyTorch's floor is the float32 value of 1e-12, also for float64
            den = max((1 - p) * p, <floating>(<float>1e-12))
            g[i] = scale * wi * (p - t) / den


cdef inline floating _focal_elem(floating x, floating t, floating a, floating gm,
                                 bint use_alpha, bint square, floating scale,
                                 floating* g) noexcept nogil:
    """torchvision's sigmoid_focal_loss, l = alpha_t (1 - p_t)^gamma BCE(x, y) (returned)
    and dl/dx (into g). q = 1 - p_t = s (1 - y) + (1 - s) y with 1 - s = sigmoid(-x),
    exact also where s rounds to 1."""
    cdef floating e = _exp_neg_abs(x)
    cdef floating inv = 1 / (1 + e)
    cdef floating s = inv if x >= 0 else e * inv
    cdef floating sn = e * inv if x >= 0 else inv
    cdef floating ce = (1 - t) * x + vlog1p_unit(e) + (-x if x < 0 else 0)
    cdef floating q = s * (1 - t) + sn * t
    cdef floating mod = q * q if square else _fpow(q, gm)
    cdef floating at = a * t + (1 - a) * (1 - t) if use_alpha else 1
    # d/dx: (s - y) q^gamma + gamma ce q^(gamma-1) dq/dx, dq/dx = (1 - 2y) s (1 - s);
    # q = 0 only where s (1 - s) = 0, so that term is then 0
    cdef floating r = mod / q if q > 0 else 0
    g[0] = scale * at * ((s - t) * mod + gm * ce * r * (1 - 2 * t) * s * sn)
    return at * ce * mod


cdef void _focal_chunk(const floating* x, const floating* y, double alpha, double gamma,
                       floating scale, floating* l, floating* g, Py_ssize_t n) noexcept nogil:
    # one loop per (gamma == 2, gradient wanted): gamma = 2 needs no pow call, so its
    # loops vectorize
    cdef Py_ssize_t i
    cdef floating unused, a = <floating>alpha, gm = <floating>gamma
    cdef bint use_alpha = alpha >= 0
    if gamma == 2 and g != NULL:
        for i in range(n):
            l[i] = _focal_elem(x[i], y[i], a, gm, use_alpha, True, scale, &g[i])
    elif gamma == 2:
        for i in range(n):
            l[i] = _focal_elem(x[i], y[i], a, gm, use_alpha, True, scale, &unused)
    elif g != NULL:
        for i in range(n):
            l[i] = _focal_elem(x[i], y[i], a, gm, use_alpha, False, scale, &g[i])
    else:
        for i in range(n):
            l[i] = _focal_elem(x[i], y[i], a, gm, use_alpha, False, scale, &unused)


cdef void _hinge_chunk(const floating* x, const floating* y, double margin, floating scale,
                       floating* l, floating* g, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating z, t, m = <floating>margin
    for i in range(n):
        z = m - y[i] * x[i]
        l[i] = z if z > 0 else 0
    if g != NULL:
        for i in range(n):
            t = y[i]
            z = m - t * x[i]
            g[i] = -scale * t if z > 0 else 0


cdef void _kl_chunk(const floating* x, const floating* y, bint log_target, floating scale,
                    floating* l, floating* g, Py_ssize_t n) noexcept nogil:
    """target * (log target - input) (0 where target == 0), or for log targets
    exp(target) * (target - input)."""
    cdef Py_ssize_t i
    cdef floating t, e, ylogy
    for i in range(n):
        t = y[i]
        if log_target:
            e = vexp(t)
            l[i] = e * (t - x[i])
        else:
            e = t
            ylogy = t * _flog(t) if t != 0 else 0
            l[i] = ylogy - t * x[i]
        if g != NULL:
            g[i] = -scale * e


cdef int _elementwise_run(int kind, const floating* x, const floating* y, const floating* w,
                          const floating* w2, Py_ssize_t n, double p0, double p1, double p2,
                          double p3, double grad_scale, floating* loss, double* partials,
                          floating* grad, int n_threads) except -1:
    """Run loss `kind` over n elements in chunks: per-element loss into `loss` (or a
    thread-local buffer when NULL), chunk sums into `partials`, gradient (scaled by
    grad_scale) into `grad` unless NULL. w, w2: optional per-element weights."""
    cdef Py_ssize_t n_chunks = (n + _CHUNK - 1) // _CHUNK, ch, i0, m
    cdef floating scale = <floating>grad_scale
    cdef floating* lbuf
    cdef floating* own_buf
    cdef floating* scratch = NULL
    cdef floating* ones = NULL
    cdef Py_ssize_t i
    cdef int nt = threads_for(n, n_threads)
    if n == 0:
        return 0
    if kind == _K_BCE_LOGITS and (w == NULL or w2 == NULL):
        # absent weights read as ones, so that the loops' loads are unconditional
        ones = <floating*>_scratch(_CHUNK, sizeof(floating))
        for i in range(_CHUNK):
            ones[i] = 1
    if loss == NULL:
        scratch = <floating*>_scratch(nt * _CHUNK, sizeof(floating))
    try:
        with nogil, parallel(num_threads=nt):
            own_buf = scratch + <Py_ssize_t>omp_get_thread_num() * _CHUNK if scratch != NULL else NULL
            for ch in prange(n_chunks, schedule='static'):
                i0 = ch * _CHUNK
                m = min(_CHUNK, n - i0)
                lbuf = loss + i0 if loss != NULL else own_buf
                if kind == _K_MSE:
                    _mse_chunk(x + i0, y + i0, scale, lbuf, grad + i0 if grad != NULL else NULL, m)
                elif kind == _K_BCE_LOGITS:
                    _bce_logits_chunk(x + i0, y + i0, w + i0 if w != NULL else ones,
                                      w2 + i0 if w2 != NULL else ones, scale, lbuf,
                                      grad + i0 if grad != NULL else NULL, m)
                elif kind == _K_PIECEWISE:
                    _piecewise_chunk(x + i0, y + i0, p0, p1, p2, p3, scale, lbuf,
                                     grad + i0 if grad != NULL else NULL, m)
                elif kind == _K_BCE:
                    _bce_chunk(x + i0, y + i0, w + i0 if w != NULL else NULL, scale, lbuf,
                               grad + i0 if grad != NULL else NULL, m)
                elif kind == _K_FOCAL:
                    _focal_chunk(x + i0, y + i0, p0, p1, scale, lbuf,
                                 grad + i0 if grad != NULL else NULL, m)
                elif kind == _K_HINGE:
                    _hinge_chunk(x + i0, y + i0, p0, scale, lbuf,
                                 grad + i0 if grad != NULL else NULL, m)
                else:
                    _kl_chunk(x + i0, y + i0, p0 != 0, scale, lbuf,
                              grad + i0 if grad != NULL else NULL, m)
                partials[ch] = row_sum(lbuf, m)
    finally:
        free(scratch)
        free(ones)
    return 0


cdef inline floating* _ptr(floating[::1] a) noexcept:
    """Data pointer of an optional 1-D output (NULL for None or empty)."""
    return &a[0] if a is not None and a.shape[0] > 0 else NULL


cdef inline const floating* _cptr(const floating[::1] a) noexcept:
    return &a[0] if a is not None and a.shape[0] > 0 else NULL


def mse_loss_forward(
        const floating[::1] input,        # IN  (n,)
        const floating[::1] target,       # IN  (n,)
        double grad_scale,
        floating[::1] loss,               # OUT (n,) per element, or None
        double[::1] partial_sums,         # OUT (ceil(n / CHUNK),) sums of loss per chunk
        floating[::1] grad_input,         # OUT (n,) or None: grad_scale * 2 (input - target)
        int n_threads):
    """l = (input - target)**2 per element, with partial sums and gradient."""
    _elementwise_run(_K_MSE, _cptr(input), _cptr(target), <const floating*>NULL,
                     <const floating*>NULL, input.shape[0], 0, 0, 0, 0, grad_scale,
                     _ptr(loss), &partial_sums[0] if partial_sums.shape[0] else NULL,
                     _ptr(grad_input), n_threads)


def binary_cross_entropy_with_logits_forward(
        const floating[::1] logits,       # IN  (n,)
        const floating[::1] target,       # IN  (n,) in [0, 1]
        const floating[::1] weight,       # IN  (n,) or None
        const floating[::1] pos_weight,   # IN  (n,) or None
        double grad_scale,
        floating[::1] loss,               # OUT (n,) per element, or None
        double[::1] partial_sums,         # OUT (ceil(n / CHUNK),) sums of loss per chunk
        floating[::1] grad_logits,        # OUT (n,) or None
        int n_threads):
    """l = w * [(1 - y) x + (1 + (pw - 1) y) softplus(-x)],
    dl/dx = w * [sigmoid(x) (1 + (pw - 1) y) - pw y], softplus computed stably."""
    _elementwise_run(_K_BCE_LOGITS, _cptr(logits), _cptr(target), _cptr(weight),
                     _cptr(pos_weight), logits.shape[0], 0, 0, 0, 0, grad_scale,
                     _ptr(loss), &partial_sums[0] if partial_sums.shape[0] else NULL,
                     _ptr(grad_logits), n_threads)


cdef _piecewise(const floating[::1] input, const floating[::1] target, double threshold,
                double quad, double slope, double offset, double grad_scale,
                floating[::1] loss, double[::1] partial_sums, floating[::1] grad_input,
                int n_threads):
    _elementwise_run(_K_PIECEWISE, _cptr(input), _cptr(target), <const floating*>NULL,
                     <const floating*>NULL, input.shape[0], threshold, quad, slope, offset,
                     grad_scale, _ptr(loss), &partial_sums[0] if partial_sums.shape[0] else NULL,
                     _ptr(grad_input), n_threads)


# L1, smooth L1 and Huber share one loop on d = input - target:
#   l = quad d^2 where |d| < threshold, else slope |d| - offset,
# with gradient 2 quad d, or slope sign(d) (sign(0) = 0, as PyTorch).

def l1_loss_forward(
        const floating[::1] input,        # IN  (n,)
        const floating[::1] target,       # IN  (n,)
        double grad_scale,
        floating[::1] loss,               # OUT (n,) per element, or None
        double[::1] partial_sums,         # OUT (ceil(n / CHUNK),)
        floating[::1] grad_input,         # OUT (n,) or None
        int n_threads):
    """l = |d|, dl/dd = sign(d)."""
    _piecewise(input, target, 0.0, 0.0, 1.0, 0.0, grad_scale, loss, partial_sums, grad_input,
               n_threads)


def smooth_l1_loss_forward(
        const floating[::1] input,        # IN  (n,)
        const floating[::1] target,       # IN  (n,)
        double beta,                      # > 0 (beta = 0 is l1_loss_forward)
        double grad_scale,
        floating[::1] loss,               # OUT (n,) per element, or None
        double[::1] partial_sums,         # OUT (ceil(n / CHUNK),)
        floating[::1] grad_input,         # OUT (n,) or None
        int n_threads):
    """l = d^2 / (2 beta) where |d| < beta, else |d| - beta / 2."""
    _piecewise(input, target, beta, 0.5 / beta, 1.0, 0.5 * beta, grad_scale, loss,
               partial_sums, grad_input, n_threads)


def huber_loss_forward(
        const floating[::1] input,        # IN  (n,)
        const floating[::1] target,       # IN  (n,)
        double delta,                     # > 0
        double grad_scale,
        floating[::1] loss,               # OUT (n,) per element, or None
        double[::1] partial_sums,         # OUT (ceil(n / CHUNK),)
        floating[::1] grad_input,         # OUT (n,) or None
        int n_threads):
    """l = d^2 / 2 where |d| < delta, else delta (|d| - delta / 2)."""
    _piecewise(input, target, delta, 0.5, delta, 0.5 * delta * delta, grad_scale, loss,
               partial_sums, grad_input, n_threads)


def binary_cross_entropy_forward(
        const floating[::1] input,        # IN  (n,) probabilities in [0, 1]
        const floating[::1] target,       # IN  (n,)
        const floating[::1] weight,       # IN  (n,) or None
        double grad_scale,
        floating[::1] loss,               # OUT (n,) or None
        double[::1] partial_sums,         # OUT (ceil(n / CHUNK),)
        floating[::1] grad_input,         # OUT (n,) or None
        int n_threads):
    """l = -w [y max(log x, -100) + (1 - y) max(log(1 - x), -100)],
    dl/dx = w (x - y) / max(x (1 - x), 1e-12), as PyTorch."""
    _elementwise_run(_K_BCE, _cptr(input), _cptr(target), _cptr(weight),
                     <const floating*>NULL, input.shape[0],
                     0, 0, 0, 0, grad_scale, _ptr(loss),
                     &partial_sums[0] if partial_sums.shape[0] else NULL, _ptr(grad_input),
                     n_threads)


def sigmoid_focal_loss_forward(
        const floating[::1] logits,       # IN  (n,)
        const floating[::1] target,       # IN  (n,) in [0, 1]
        double alpha,                     # < 0: no alpha weighting
        double gamma,
        double grad_scale,
        floating[::1] loss,               # OUT (n,) or None
        double[::1] partial_sums,         # OUT (ceil(n / CHUNK),)
        floating[::1] grad_logits,        # OUT (n,) or None
        int n_threads):
    """l = alpha_t (1 - p_t)^gamma BCEWithLogits(x, y), p_t = p y + (1 - p)(1 - y),
    alpha_t = alpha y + (1 - alpha)(1 - y); with its gradient."""
    _elementwise_run(_K_FOCAL, _cptr(logits), _cptr(target), <const floating*>NULL,
                     <const floating*>NULL, logits.shape[0], alpha, gamma, 0, 0, grad_scale, _ptr(loss),
                     &partial_sums[0] if partial_sums.shape[0] else NULL, _ptr(grad_logits),
                     n_threads)


def hinge_loss_forward(
        const floating[::1] input,        # IN  (n,) scores
        const floating[::1] target,       # IN  (n,) labels -1 or +1
        double margin,
        double grad_scale,
        floating[::1] loss,               # OUT (n,) or None
        double[::1] partial_sums,         # OUT (ceil(n / CHUNK),)
        floating[::1] grad_input,         # OUT (n,) or None
        int n_threads):
    """l = max(0, margin - y x), dl/dx = -y where margin - y x > 0 (0 at the kink)."""
    _elementwise_run(_K_HINGE, _cptr(input), _cptr(target), <const floating*>NULL,
                     <const floating*>NULL, input.shape[0], margin, 0, 0, 0, grad_scale, _ptr(loss),
                     &partial_sums[0] if partial_sums.shape[0] else NULL, _ptr(grad_input),
                     n_threads)


def kl_div_forward(
        const floating[::1] input,        # IN  (n,) log-probabilities
        const floating[::1] target,       # IN  (n,) probabilities (or log-probabilities)
        bint log_target,
        double grad_scale,
        floating[::1] loss,               # OUT (n,) or None
        double[::1] partial_sums,         # OUT (ceil(n / CHUNK),)
        floating[::1] grad_input,         # OUT (n,) or None: -target (or -exp(target))
        int n_threads):
    """l = xlogy(y, y) - y x, or exp(y) (y - x) for log targets (PyTorch's kl_div)."""
    _elementwise_run(_K_KL, _cptr(input), _cptr(target), <const floating*>NULL,
                     <const floating*>NULL, input.shape[0], 1.0 if log_target else 0.0, 0, 0, 0, grad_scale,
                     _ptr(loss), &partial_sums[0] if partial_sums.shape[0] else NULL,
                     _ptr(grad_input), n_threads)


# --------------------------------------------------------------------- row losses
# One row per sample, rows in parallel; each row's loss is written out and summed by
# pydl.functional in a fixed order.

def softmax_cross_entropy_soft_forward(
        const floating[:, ::1] logits,     # IN  (N, C)
        const floating[:, ::1] target,     # IN  (N, C) class probabilities
        const floating[::1] weight,        # IN  (C,) or None
        double label_smoothing,
        double grad_scale,
        floating[::1] loss,                # OUT (N,)
        floating[:, ::1] grad_logits,      # OUT (N, C) or None
        int n_threads):
    """Cross-entropy against class probabilities y (soft labels), as PyTorch:
    y' = (1 - eps) y + eps / C,  loss_i = -sum_c w_c y'_c log softmax(z)_c,
    grad = grad_scale * (sum_c w_c y'_c) softmax(z) - grad_scale * w * y'."""
    cdef Py_ssize_t n = logits.shape[0], c = logits.shape[1], i, j
    cdef bint has_w = weight is not None, want_grad = grad_logits is not None
    cdef floating eps = <floating>label_smoothing, scale = <floating>grad_scale
    cdef floating m, s, log_s, yj, wy, total_w, acc, coef, inv_c
    cdef floating* rowbuf
    cdef floating* own_row
    cdef floating* scratch = NULL
    cdef int nt = threads_for(n * c, n_threads)
    if n == 0 or c == 0:
        return
    inv_c = <floating>(1.0 / c)
    if not want_grad:
        scratch = <floating*>_scratch(nt * c, sizeof(floating))
    try:
        with nogil, parallel(num_threads=nt):
            own_row = scratch + <Py_ssize_t>omp_get_thread_num() * c if scratch != NULL else NULL
            for i in prange(n, schedule='static'):
                rowbuf = &grad_logits[i, 0] if want_grad else own_row
                m = row_max(&logits[i, 0], c)
                s = row_exp_sum(&logits[i, 0], rowbuf, c, m)
                log_s = <floating>log(s)
                total_w = 0
                acc = 0
                for j in range(c):
                    yj = (1 - eps) * target[i, j] + eps * inv_c
                    wy = yj * weight[j] if has_w else yj
                    total_w = total_w + wy
                    acc = acc + wy * (m - logits[i, j])
                loss[i] = acc + total_w * log_s
                if want_grad:
                    coef = scale * total_w / s
                    for j in range(c):
                        yj = (1 - eps) * target[i, j] + eps * inv_c
                        wy = yj * weight[j] if has_w else yj
                        rowbuf[j] = coef * rowbuf[j] - scale * wy
    finally:
        free(scratch)


def nll_loss_forward(
        const floating[:, ::1] input,      # IN  (N, C) log-probabilities
        const int64_t[::1] target,         # IN  (N,) class indices or ignore_index
        const floating[::1] weight,        # IN  (C,) or None
        int64_t ignore_index,
        double grad_scale,
        floating[::1] loss,                # OUT (N,) -w[t] input[i, t] (0 where ignored)
        floating[:, ::1] grad_input,       # OUT (N, C) or None: -grad_scale w[t] at t
        int n_threads):
    cdef Py_ssize_t n = input.shape[0], c = input.shape[1], i, j
    cdef bint has_w = weight is not None, want_grad = grad_input is not None
    cdef floating scale = <floating>grad_scale, w_t
    cdef int64_t t
    with nogil:
        for i in prange(n, num_threads=threads_for(n * c, n_threads), schedule='static'):
            t = target[i]
            if want_grad:
                for j in range(c):
                    grad_input[i, j] = 0
            if t == ignore_index:
                loss[i] = 0
                continue
            w_t = weight[t] if has_w else 1
            loss[i] = -w_t * input[i, t]
            if want_grad:
                grad_input[i, t] = -scale * w_t


def multi_margin_loss_forward(
        const floating[:, ::1] input,      # IN  (N, C) scores
        const int64_t[::1] target,         # IN  (N,) class indices
        const floating[::1] weight,        # IN  (C,) or None
        int p,                             # 1 or 2
        double margin,
        double grad_scale,
        floating[::1] loss,                # OUT (N,)
        floating[:, ::1] grad_input,       # OUT (N, C) or None
        int n_threads):
    """PyTorch's multi_margin_loss: per sample with target t,
    loss = w[t] / C * sum_{j != t} max(0, margin - x[t] + x[j])^p,
    grad[j] = grad_scale w[t] / C * p z_j^(p-1) for z_j > 0, grad[t] = -sum_j grad[j]."""
    cdef Py_ssize_t n = input.shape[0], c = input.shape[1], i, j
    cdef bint has_w = weight is not None, want_grad = grad_input is not None
    cdef floating mg = <floating>margin, z, h, acc, gsum, w_t, x_t, inv_c, gs
    cdef int64_t t
    if c == 0:
        return
    inv_c = <floating>(1.0 / c)
    with nogil:
        for i in prange(n, num_threads=threads_for(n * c, n_threads), schedule='static'):
            t = target[i]
            x_t = input[i, t]
            w_t = weight[t] if has_w else 1
            gs = <floating>grad_scale * w_t * inv_c
            acc = 0
            gsum = 0
            for j in range(c):
                z = mg - x_t + input[i, j]
                h = 0
                if j != t and z > 0:
                    acc = acc + (z if p == 1 else z * z)
                    h = gs if p == 1 else 2 * gs * z
                    gsum = gsum + h
                if want_grad:
                    grad_input[i, j] = h
            loss[i] = acc * w_t * inv_c
            if want_grad:
                grad_input[i, t] = -gsum
