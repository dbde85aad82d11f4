"""Fused optimizer updates: one pass over a parameter, its gradient and its state.

Each kernel updates ``param`` (and its state buffers) in place, elementwise, with no
temporaries. Formulas follow torch.optim so that step-by-step parity holds.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt, sqrtf

from _parallel cimport threads_for


def sgd_step(floating[::1] param,              # IN/OUT (n,)
             const floating[::1] grad,         # IN     (n,)
             floating[::1] momentum_buffer,    # IN/OUT (n,) or None when momentum == 0
             double lr, double momentum, double dampening, double weight_decay,
             bint nesterov, bint maximize, bint first_step, int n_threads):
    """One SGD step, as torch.optim.SGD:

        g = -grad if maximize else grad
        g = g + weight_decay * param
        if momentum:  buf = g on the first step, else momentum * buf + (1 - dampening) * g
                      g = g + momentum * buf if nesterov else buf
        param = param - lr * g
    """
    cdef Py_ssize_t i, n = param.shape[0]
    cdef bint has_buf = momentum_buffer is not None and momentum != 0
    cdef floating g, b
    cdef floating f_lr = <floating>lr, f_mom = <floating>momentum
    cdef floating f_damp = <floating>(1.0 - dampening), f_wd = <floating>weight_decay
    cdef floating sign = -1 if maximize else 1
    with nogil:
        for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
            g = sign * grad[i]
            if f_wd != 0:
                g = g + f_wd * param[i]
            if has_buf:
                if first_step:
                    b = g
                else:
                    b = f_mom * momentum_buffer[i] + f_damp * g
                momentum_buffer[i] = b
                if nesterov:
                    g = g + f_mom * b
                else:
                    g = b
            param[i] = param[i] - f_lr * g


# The kernels below follow torch.optim's single-tensor paths operation by operation, in
# the working precision of the parameter (float32 arithmetic for float32 parameters,
# with every scalar rounded to float32 first, as PyTorch's CPU kernels do), so that a
# float32 step agrees with PyTorch's to float32 rounding. Scalars that depend only on
# the step count (bias corrections, decayed learning rates) are computed in double
# beforehand, as PyTorch computes them in Python.

cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline floating _lerp(floating a, floating b, floating w, floating one_minus_w,
                           bint small_w) noexcept nogil:
    """a + w * (b - a), in PyTorch's two forms (exact at w == 1 for the large one).

    Both forms are computed and one is selected so that the loop stays branch-free.
    """
    cdef floating d = b - a
    cdef floating lo = a + w * d
    cdef floating hi = b - d * one_minus_w
    return lo if small_w else hi


def adam_step(floating[::1] param,              # IN/OUT (n,)
              const floating[::1] grad,         # IN     (n,)
              floating[::1] exp_avg,            # IN/OUT (n,)
              floating[::1] exp_avg_sq,         # IN/OUT (n,)
              floating[::1] max_exp_avg_sq,     # IN/OUT (n,), or None unless amsgrad
              double lr, double beta1, double beta2, double eps, double weight_decay,
              bint decoupled_weight_decay, bint amsgrad, bint maximize, double step,
              int n_threads):
    """One Adam / AdamW step (``step`` is the count after this step, >= 1):

        g = -grad if maximize else grad
        param *= 1 - lr * wd                  (decoupled, AdamW)  or  g += wd * param
        exp_avg = lerp(exp_avg, g, 1 - beta1)
        exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * g * g
        v = max(max_exp_avg_sq, exp_avg_sq) (amsgrad, stored)  or  exp_avg_sq
        param += -lr / (1 - beta1**step) * exp_avg / (sqrt(v) / sqrt(1 - beta2**step) + eps)
    """
    cdef Py_ssize_t i, n = param.shape[0]
    cdef double bias_correction1 = 1.0 - beta1 ** step
    cdef double bias_correction2 = 1.0 - beta2 ** step
    cdef floating f_sign = -1 if maximize else 1
    cdef bint coupled = weight_decay != 0 and not decoupled_weight_decay
    cdef floating f_wd = <floating>(weight_decay if coupled else 0.0)
    cdef floating f_decay = <floating>(1.0 - lr * weight_decay
                                       if decoupled_weight_decay else 1.0)
    cdef floating f_w1 = <floating>(1.0 - beta1)
    cdef floating f_w1c = 1 - f_w1
    cdef bint small_w1 = (f_w1 if f_w1 >= 0 else -f_w1) < 0.5
    cdef floating f_b2 = <floating>beta2, f_c2 = <floating>(1.0 - beta2)
    cdef floating f_bc2_sqrt = <floating>(bias_correction2 ** 0.5)
    cdef floating f_eps = <floating>eps
    cdef floating f_neg_step = <floating>(-(lr / bias_correction1))
    cdef floating g, p, m, v, vmax
    with nogil:
        for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
            p = param[i] * f_decay
            g = f_sign * grad[i]
            g = g + f_wd * p if coupled else g
            m = _lerp(exp_avg[i], g, f_w1, f_w1c, small_w1)
            v = exp_avg_sq[i] * f_b2
            v = v + (f_c2 * g) * g
            exp_avg[i] = m
            exp_avg_sq[i] = v
            if amsgrad:  # loop-invariant: gcc unswitches the loop
                vmax = max_exp_avg_sq[i]
                v = vmax if vmax > v else v
                max_exp_avg_sq[i] = v
            param[i] = p + (f_neg_step * m) / (_sqrt(v) / f_bc2_sqrt + f_eps)


def adagrad_step(floating[::1] param,           # IN/OUT (n,)
                 const floating[::1] grad,      # IN     (n,)
                 floating[::1] state_sum,       # IN/OUT (n,)
                 double lr, double lr_decay, double weight_decay, double eps,
                 bint maximize, double step, int n_threads):
    """One Adagrad step (``step`` is the count after this step, >= 1):

        g = -grad if maximize else grad;  g += wd * param
        sum += g * g
        param += -lr / (1 + (step - 1) * lr_decay) * g / (sqrt(sum) + eps)
    """
    cdef Py_ssize_t i, n = param.shape[0]
    cdef floating f_sign = -1 if maximize else 1
    cdef bint has_wd = weight_decay != 0
    cdef floating f_wd = <floating>weight_decay, f_eps = <floating>eps
    cdef floating f_neg_clr = <floating>(-(lr / (1.0 + (step - 1.0) * lr_decay)))
    cdef floating g, p, s
    with nogil:
        for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
            p = param[i]
            g = f_sign * grad[i]
            g = g + f_wd * p if has_wd else g
            s = state_sum[i] + g * g
            state_sum[i] = s
            param[i] = p + (f_neg_clr * g) / (_sqrt(s) + f_eps)


cdef inline void _rmsprop_element(
        Py_ssize_t i, floating* param, const floating* grad, floating* square_avg,
        floating* grad_avg, floating* momentum_buffer, floating sign, floating wd,
        floating alpha, floating c, floating one_minus_c, bint small_c, floating eps,
        floating mom, floating neg_lr, bint has_wd, bint centered,
        bint has_momentum) noexcept nogil:
    # Called from loops specialised on the last three flags (constants there), so the
    # compiler drops the unused arms and vectorizes each loop.
    cdef floating p = param[i]
    cdef floating g = sign * grad[i]
    cdef floating s, a, avg, b
    g = g + wd * p if has_wd else g
    s = square_avg[i] * alpha
    s = s + (c * g) * g
    square_avg[i] = s
    if centered:
        a = _lerp(grad_avg[i], g, c, one_minus_c, small_c)
        grad_avg[i] = a
        s = s - a * a
    avg = _sqrt(s) + eps
    if has_momentum:
        b = momentum_buffer[i] * mom + g / avg
        momentum_buffer[i] = b
        param[i] = p + neg_lr * b
    else:
        param[i] = p + (neg_lr * g) / avg


def rmsprop_step(floating[::1] param,           # IN/OUT (n,)
                 const floating[::1] grad,      # IN     (n,)
                 floating[::1] square_avg,      # IN/OUT (n,)
                 floating[::1] grad_avg,        # IN/OUT (n,), or None unless centered
                 floating[::1] momentum_buffer,  # IN/OUT (n,), or None unless momentum > 0
                 double lr, double alpha, double eps, double weight_decay,
                 double momentum, bint centered, bint maximize, int n_threads):
    """One RMSprop step:

        g = -grad if maximize else grad;  g += wd * param
        square_avg = square_avg * alpha + (1 - alpha) * g * g
        centered:  grad_avg = lerp(grad_avg, g, 1 - alpha)
                   avg = sqrt(square_avg - grad_avg * grad_avg) + eps
        else:      avg = sqrt(square_avg) + eps
        momentum:  buf = buf * momentum + g / avg;  param += -lr * buf
        else:      param += -lr * g / avg
    """
    cdef Py_ssize_t i, n = param.shape[0]
    cdef floating sign = -1 if maximize else 1
    cdef bint has_wd = weight_decay != 0
    cdef floating wd = <floating>weight_decay, f_eps = <floating>eps
    cdef floating f_alpha = <floating>alpha, c = <floating>(1.0 - alpha)
    cdef floating cc = 1 - c
    cdef bint small_c = (c if c >= 0 else -c) < 0.5
    cdef floating mom = <floating>momentum, neg_lr = <floating>(-lr)
    cdef floating* p = &param[0] if n else NULL
    cdef const floating* g = &grad[0] if n else NULL
    cdef floating* sq = &square_avg[0] if n else NULL
    cdef floating* ga = &grad_avg[0] if centered and n else NULL
    cdef floating* buf = &momentum_buffer[0] if momentum > 0 and n else NULL
    cdef int nt = threads_for(n, n_threads)
    with nogil:
        if centered and momentum > 0:
            for i in prange(n, num_threads=nt, schedule='static'):
                _rmsprop_element(i, p, g, sq, ga, buf, sign, wd, f_alpha, c, cc, small_c,
                                 f_eps, mom, neg_lr, has_wd, True, True)
        elif centered:
            for i in prange(n, num_threads=nt, schedule='static'):
                _rmsprop_element(i, p, g, sq, ga, buf, sign, wd, f_alpha, c, cc, small_c,
                                 f_eps, mom, neg_lr, has_wd, True, False)
        elif momentum > 0:
            for i in prange(n, num_threads=nt, schedule='static'):
                _rmsprop_element(i, p, g, sq, ga, buf, sign, wd, f_alpha, c, cc, small_c,
                                 f_eps, mom, neg_lr, has_wd, False, True)
        else:
            for i in prange(n, num_threads=nt, schedule='static'):
                _rmsprop_element(i, p, g, sq, ga, buf, sign, wd, f_alpha, c, cc, small_c,
                                 f_eps, mom, neg_lr, has_wd, False, False)
