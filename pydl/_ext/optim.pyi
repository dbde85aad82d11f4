"""Type stubs for pydl._ext.optim (generated from csrc/optim.pyx by csrc/make_stubs.py)."""

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]


def sgd_step(
    param: FloatArray,  # IN/OUT (n,)
    grad: FloatArray,  # IN     (n,)
    momentum_buffer: FloatArray | None,  # IN/OUT (n,) or None when momentum == 0
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    maximize: bool,
    first_step: bool,
    n_threads: int,
) -> None: ...
