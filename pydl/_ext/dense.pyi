"""Type stubs for pydl._ext.dense (generated from csrc/dense.pyx by csrc/make_stubs.py)."""

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]


def linear_forward(
    x: FloatArray,  # IN  (N, in_features)
    weight: FloatArray,  # IN  (out_features, in_features)
    bias: FloatArray | None,  # IN  (out_features,) or None
    out: FloatArray,  # OUT (N, out_features)
    n_threads: int,
) -> None: ...

def linear_backward(
    grad_out: FloatArray,  # IN  (N, out_features)
    x: FloatArray,  # IN  (N, in_features)
    weight: FloatArray,  # IN  (out_features, in_features)
    grad_x: FloatArray | None,  # OUT (N, in_features) or None
    grad_weight: FloatArray | None,  # OUT (out_features, in_features) or None
    grad_bias: FloatArray | None,  # OUT (out_features,) or None
    n_threads: int,
) -> None: ...
