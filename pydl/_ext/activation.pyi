"""Type stubs for pydl._ext.activation (generated from csrc/activation.pyx by csrc/make_stubs.py)."""

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]


def relu_forward(
    x: FloatArray,
    out: FloatArray,
    n_threads: int,
) -> None: ...

def relu_backward(
    grad_out: FloatArray,
    out: FloatArray,
    grad_in: FloatArray,
    n_threads: int,
) -> None: ...

def leaky_relu_forward(
    x: FloatArray,
    out: FloatArray,
    negative_slope: float,
    n_threads: int,
) -> None: ...

def leaky_relu_backward(
    grad_out: FloatArray,
    x: FloatArray,
    grad_in: FloatArray,
    negative_slope: float,
    n_threads: int,
) -> None: ...

def elu_forward(
    x: FloatArray,
    out: FloatArray,
    alpha: float,
    n_threads: int,
) -> None: ...

def elu_backward(
    grad_out: FloatArray,
    x: FloatArray,
    grad_in: FloatArray,
    alpha: float,
    n_threads: int,
) -> None: ...

def sigmoid_forward(
    x: FloatArray,
    out: FloatArray,
    n_threads: int,
) -> None: ...

def sigmoid_backward(
    grad_out: FloatArray,
    out: FloatArray,
    grad_in: FloatArray,
    n_threads: int,
) -> None: ...

def tanh_forward(
    x: FloatArray,
    out: FloatArray,
    n_threads: int,
) -> None: ...

def tanh_backward(
    grad_out: FloatArray,
    out: FloatArray,
    grad_in: FloatArray,
    n_threads: int,
) -> None: ...

def silu_forward(
    x: FloatArray,
    out: FloatArray,
    n_threads: int,
) -> None: ...

def silu_backward(
    grad_out: FloatArray,
    x: FloatArray,
    grad_in: FloatArray,
    n_threads: int,
) -> None: ...

def softmax_forward(
    x: FloatArray,
    out: FloatArray,
    n_threads: int,
) -> None: ...

def softmax_backward(
    grad_out: FloatArray,
    out: FloatArray,
    grad_in: FloatArray,
    n_threads: int,
) -> None: ...

def log_softmax_forward(
    x: FloatArray,
    out: FloatArray,
    n_threads: int,
) -> None: ...

def log_softmax_backward(
    grad_out: FloatArray,
    out: FloatArray,
    grad_in: FloatArray,
    n_threads: int,
) -> None: ...

def prelu_forward(
    x: FloatArray,  # IN  (N, C, S)
    weight: FloatArray,  # IN  (C,) or (1,) slopes
    out: FloatArray,  # OUT (N, C, S); may alias x
    n_threads: int,
) -> None: ...

def prelu_backward(
    grad_out: FloatArray,  # IN  (N, C, S)
    x: FloatArray,  # IN  (N, C, S)
    weight: FloatArray,  # IN  (C,) or (1,)
    grad_in: FloatArray | None,  # OUT (N, C, S), or None
    grad_weight: FloatArray | None,  # OUT like weight, or None
    n_threads: int,
) -> None: ...

def softplus_forward(
    x: FloatArray,
    out: FloatArray,
    beta: float,
    threshold: float,
    n_threads: int,
) -> None: ...

def softplus_backward(
    grad_out: FloatArray,
    x: FloatArray,
    grad_in: FloatArray,
    beta: float,
    threshold: float,
    n_threads: int,
) -> None: ...

def hardtanh_forward(
    x: FloatArray,
    out: FloatArray,
    min_val: float,
    max_val: float,
    n_threads: int,
) -> None: ...

def hardtanh_backward(
    grad_out: FloatArray,
    x: FloatArray,
    grad_in: FloatArray,
    min_val: float,
    max_val: float,
    n_threads: int,
) -> None: ...

def gelu_forward(
    x: FloatArray,
    out: FloatArray,
    tanh_approx: bool,
    n_threads: int,
) -> None: ...

def gelu_backward(
    grad_out: FloatArray,
    x: FloatArray,
    grad_in: FloatArray,
    tanh_approx: bool,
    n_threads: int,
) -> None: ...
