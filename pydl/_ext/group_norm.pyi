"""Type stubs for pydl._ext.group_norm (generated from csrc/group_norm.pyx by csrc/make_stubs.py)."""

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]


def group_norm_forward(
    x: FloatArray,  # IN  (N, C, S)
    num_groups: int,  # G >= 1, dividing C
    weight: FloatArray,  # IN  (C,) gamma
    bias: FloatArray,  # IN  (C,) beta
    eps: float,
    use_input_stats: bool,
    out: FloatArray,  # OUT (N, C, S)
    mean: npt.NDArray[np.float64],  # OUT (N, G) group means; IN when not use_input_stats
    rstd: npt.NDArray[np.float64],  # OUT (N, G) 1/sqrt(var + eps), var biased; IN likewise
    n_threads: int,
) -> None: ...

def group_norm_backward(
    grad_out: FloatArray,  # IN  (N, C, S)
    x: FloatArray,  # IN  (N, C, S) the forward input
    num_groups: int,  # G >= 1, dividing C
    weight: FloatArray,  # IN  (C,) gamma
    mean: npt.NDArray[np.float64],  # IN  (N, G) the means forward used
    rstd: npt.NDArray[np.float64],  # IN  (N, G) the rstd forward used
    use_input_stats: bool,  # forward computed the statistics from x
    grad_in: FloatArray | None,  # OUT (N, C, S), or None
    grad_weight: FloatArray | None,  # OUT (C,), or None
    grad_bias: FloatArray | None,  # OUT (C,), or None
    n_threads: int,
) -> None: ...
