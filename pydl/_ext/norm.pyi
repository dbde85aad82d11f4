"""Type stubs for pydl._ext.norm (generated from csrc/norm.pyx by csrc/make_stubs.py)."""

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]


def batch_norm_forward(
    x: FloatArray,  # IN  (N, C, S)
    weight: FloatArray,  # IN  (C,) gamma
    bias: FloatArray,  # IN  (C,) beta
    running_mean: FloatArray | None,  # IN/OUT (C,) updated when training, or None
    running_var: FloatArray | None,  # IN/OUT (C,) updated when training, or None
    momentum: float,
    mean: npt.NDArray[np.float64],  # OUT (C,) batch mean (training); IN otherwise
    invstd: npt.NDArray[np.float64],  # OUT (C,) 1/sqrt(var + eps) (training); IN otherwise
    eps: float,
    training: bool,
    out: FloatArray,  # OUT (N, C, S); may alias x
    n_threads: int,
) -> None: ...

def batch_norm_backward(
    grad_out: FloatArray,  # IN  (N, C, S)
    x: FloatArray,  # IN  (N, C, S) the forward input
    weight: FloatArray,  # IN  (C,) gamma
    mean: npt.NDArray[np.float64],  # IN  (C,) the mean forward used
    invstd: npt.NDArray[np.float64],  # IN  (C,) the 1/sqrt(var + eps) forward used
    training: bool,  # forward used batch statistics
    grad_in: FloatArray | None,  # OUT (N, C, S), or None
    grad_weight: FloatArray | None,  # OUT (C,), or None
    grad_bias: FloatArray | None,  # OUT (C,), or None
    n_threads: int,
) -> None: ...

def layer_norm_forward(
    x: FloatArray,  # IN  (rows, D)
    weight: FloatArray,  # IN  (D,)
    bias: FloatArray,  # IN  (D,)
    eps: float,
    out: FloatArray,  # OUT (rows, D)
    mean: npt.NDArray[np.float64],  # OUT (rows,)
    rstd: npt.NDArray[np.float64],  # OUT (rows,) 1/sqrt(var + eps), var biased
    n_threads: int,
) -> None: ...

def layer_norm_backward(
    grad_out: FloatArray,  # IN  (rows, D)
    x: FloatArray,  # IN  (rows, D)
    weight: FloatArray,  # IN  (D,)
    mean: npt.NDArray[np.float64],  # IN  (rows,)
    rstd: npt.NDArray[np.float64],  # IN  (rows,)
    grad_in: FloatArray | None,  # OUT (rows, D), or None
    grad_weight: FloatArray | None,  # OUT (D,), or None: sum over rows of g * xhat
    grad_bias: FloatArray | None,  # OUT (D,), or None: sum over rows of g
    n_threads: int,
) -> None: ...

def local_response_norm_forward(
    x: FloatArray,  # IN  (N, C, S)
    size: int,
    alpha: float,
    beta: float,
    k: float,
    out: FloatArray,  # OUT (N, C, S)
    denom: FloatArray,  # OUT (N, C, S) k + alpha/size * window sum of x**2
    n_threads: int,
) -> None: ...

def local_response_norm_backward(
    grad_out: FloatArray,  # IN  (N, C, S)
    x: FloatArray,  # IN  (N, C, S)
    out: FloatArray,  # IN  (N, C, S) forward output
    denom: FloatArray,  # IN  (N, C, S) forward denominators
    size: int,
    alpha: float,
    beta: float,
    grad_in: FloatArray,  # OUT (N, C, S)
    n_threads: int,
) -> None: ...
