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

def adam_step(
    param: FloatArray,  # IN/OUT (n,)
    grad: FloatArray,  # IN     (n,)
    exp_avg: FloatArray,  # IN/OUT (n,)
    exp_avg_sq: FloatArray,  # IN/OUT (n,)
    max_exp_avg_sq: FloatArray | None,  # IN/OUT (n,), or None unless amsgrad
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
    amsgrad: bool,
    maximize: bool,
    step: float,
    n_threads: int,
) -> None: ...

def adagrad_step(
    param: FloatArray,  # IN/OUT (n,)
    grad: FloatArray,  # IN     (n,)
    state_sum: FloatArray,  # IN/OUT (n,)
    lr: float,
    lr_decay: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
    step: float,
    n_threads: int,
) -> None: ...

def rmsprop_step(
    param: FloatArray,  # IN/OUT (n,)
    grad: FloatArray,  # IN     (n,)
    square_avg: FloatArray,  # IN/OUT (n,)
    grad_avg: FloatArray | None,  # IN/OUT (n,), or None unless centered
    momentum_buffer: FloatArray | None,  # IN/OUT (n,), or None unless momentum > 0
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    maximize: bool,
    n_threads: int,
) -> None: ...
