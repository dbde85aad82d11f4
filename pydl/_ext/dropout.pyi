"""Type stubs for pydl._ext.dropout (generated from csrc/dropout.pyx by csrc/make_stubs.py)."""

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]

SPAN: int

def dropout_forward(
    x: FloatArray,  # IN  (n,)
    seed: int,
    threshold: int,  # drop where the element's 32-bit uniform < threshold
    scale: float,  # kept elements are multiplied by this
    out: FloatArray,  # OUT (n,); may alias x
    mask: npt.NDArray[np.uint8],  # OUT (n,) 1 keep, 0 drop
    n_threads: int,
) -> None: ...

def bernoulli_mask(
    seed: int,
    threshold: int,
    mask: npt.NDArray[np.uint8],  # OUT (n,) 1 keep, 0 drop
    n_threads: int,
) -> None: ...

def dropout_backward(
    grad_out: FloatArray,  # IN  (n,)
    mask: npt.NDArray[np.uint8],  # IN  (n,) the forward mask
    scale: float,
    grad_in: FloatArray,  # OUT (n,); may alias grad_out
    n_threads: int,
) -> None: ...

def channel_dropout_apply(
    x: FloatArray,  # IN  (N * C, S)
    mask: npt.NDArray[np.uint8],  # IN  (N * C,) 1 keep, 0 drop, per channel
    scale: float,
    out: FloatArray,  # OUT (N * C, S); may alias x
    n_threads: int,
) -> None: ...
