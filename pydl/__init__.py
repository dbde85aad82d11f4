"""pydl: deep learning on the CPU with Cython + OpenMP kernels.

Layers and losses are in :mod:`pydl.nn`, optimizers in :mod:`pydl.optim`, validated
stateless ops in :mod:`pydl.functional` and their NumPy twins in
:mod:`pydl.reference`. A training step on the tensor path (any model as Python)::

    loss = criterion(model(pydl.tensor(x)), target)   # a pydl.Tensor
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()

or on the explicit path (chains of modules, no bookkeeping)::

    y = model(x)
    loss = criterion(y, target)       # a Python float
    model.backward(criterion.backward())
"""

from ._version import __version__
from ._threading import MAX_THREADS, get_num_threads, set_num_threads, threads
from ._grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .random import manual_seed
from .autograd import Tensor, from_dlpack, tensor
from .autograd.ops import (abs, cat, clamp, clip, concatenate, exp, flatten, log, matmul,
                           max, maximum, mean, min, minimum, pad, permute, relu, reshape,
                           sigmoid, split, sqrt, squeeze, stack, std, sum, tanh, transpose,
                           unsqueeze, var, where)
from . import autograd
from . import functional, nn, optim, reference, testing
from . import models, ops
from ._config import show_config
from . import callbacks, data, metrics, regularizers, training
from .training import evaluate, fit, predict
from .serialization import load, save
from . import model_selection
from . import averaging, ensemble
from .averaging import ExponentialMovingAverage

# Apply the default thread count (OMP_NUM_THREADS, else physical cores) to BLAS too.
_threading._num_threads_setting()

__all__ = [
    "__version__", "get_num_threads", "set_num_threads", "threads", "MAX_THREADS",
    "show_config",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "manual_seed",
    "functional", "nn", "optim", "reference", "testing",
    "data", "metrics", "regularizers", "training", "callbacks", "fit", "evaluate", "predict",
    "save", "load", "model_selection",
    "averaging", "ensemble", "ExponentialMovingAverage",
    "models", "ops",
    "autograd", "Tensor", "tensor", "abs", "cat", "clamp", "clip", "concatenate", "exp",
    "flatten", "log", "matmul", "max", "maximum", "mean", "min", "minimum", "pad",
    "permute", "relu", "reshape", "sigmoid", "split", "sqrt", "squeeze", "stack", "std",
    "sum", "tanh", "transpose", "unsqueeze", "var", "where",
    "from_dlpack",
]
