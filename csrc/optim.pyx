"""Fused optimizer updates: one pass over a parameter, its gradient and its state.

Each kernel updates ``param`` (and its state buffers) in place, elementwise, with no
temporaries. Formulas follow torch.optim so that step-by-step parity holds.
"""

from cython cimport floating
from cython.parallel cimport prange

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
