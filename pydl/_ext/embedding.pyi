"""Type stubs for pydl._ext.embedding (generated from csrc/embedding.pyx by csrc/make_stubs.py)."""

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]


def embedding_forward(
    indices: npt.NDArray[np.int64],  # IN  (n,) in [0, V), validated
    weight: FloatArray,  # IN  (V, D)
    out: FloatArray,  # OUT (n, D)
    n_threads: int,
) -> None: ...

def embedding_backward(
    grad_out: FloatArray,  # IN  (n, D)
    indices: npt.NDArray[np.int64],  # IN  (n,) in [0, V), validated
    padding_idx: int,  # a row that gets no gradient, or -1
    grad_weight: FloatArray,  # OUT (V, D)
    n_threads: int,
) -> None: ...
