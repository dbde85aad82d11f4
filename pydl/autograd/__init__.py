"""Define-by-run autograd over pydl's kernels: :class:`Tensor`, its ops, the tape.

``pydl.Tensor`` records each op and each module call made on it; ``loss.backward()``
walks the records in reverse and runs the same functional backward ops the explicit
path runs. Arrays stay NumPy arrays underneath (``tensor.data``).
"""

from .tensor import Tensor, tensor
from .dlpack import from_dlpack
from .ops import (abs, cat, clamp, clip, concatenate, exp, flatten, log, matmul, max,
                  maximum, mean, min, minimum, pad, permute, relu, reshape, sigmoid, split,
                  sqrt, squeeze, stack, std, sum, tanh, transpose, unsqueeze, var, where)

__all__ = ["Tensor", "tensor", "abs", "cat", "clamp", "clip", "concatenate", "exp",
           "flatten", "log", "matmul", "max", "maximum", "mean", "min", "minimum", "pad",
           "permute", "relu", "reshape", "sigmoid", "split", "sqrt", "squeeze", "stack",
           "std", "sum", "tanh", "transpose", "unsqueeze", "var", "where", "from_dlpack"]
