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
