"""Type stubs for pydl._ext.loss (generated from csrc/loss.pyx by csrc/make_stubs.py)."""

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]

CHUNK: int

def softmax_cross_entropy_forward(
    logits: FloatArray,  # IN  (N, C)
    target: npt.NDArray[np.int64],  # IN  (N,) class indices or ignore_index
    weight: FloatArray | None,  # IN  (C,) class weights, or None
    ignore_index: int,
    label_smoothing: float,
    grad_scale: float,  # multiplies grad_logits (1 / denominator for mean)
    loss: FloatArray,  # OUT (N,) per-sample loss (0 where ignored)
    grad_logits: FloatArray | None,  # OUT (N, C) d loss / d logits, or None
    n_threads: int,
) -> None: ...

def scale_rows(
    grad: FloatArray,
    row_scale: FloatArray,
    out: FloatArray,
    n_threads: int,
) -> None: ...

def mse_loss_forward(
    input: FloatArray,  # IN  (n,)
    target: FloatArray,  # IN  (n,)
    grad_scale: float,
    loss: FloatArray | None,  # OUT (n,) per element, or None
    partial_sums: npt.NDArray[np.float64],  # OUT (ceil(n / CHUNK),) sums of loss per chunk
    grad_input: FloatArray | None,  # OUT (n,) or None: grad_scale * 2 (input - target)
    n_threads: int,
) -> None: ...

def binary_cross_entropy_with_logits_forward(
    logits: FloatArray,  # IN  (n,)
    target: FloatArray,  # IN  (n,) in [0, 1]
    weight: FloatArray | None,  # IN  (n,) or None
    pos_weight: FloatArray | None,  # IN  (n,) or None
    grad_scale: float,
    loss: FloatArray | None,  # OUT (n,) per element, or None
    partial_sums: npt.NDArray[np.float64],  # OUT (ceil(n / CHUNK),) sums of loss per chunk
    grad_logits: FloatArray | None,  # OUT (n,) or None
    n_threads: int,
) -> None: ...

def l1_loss_forward(
    input: FloatArray,  # IN  (n,)
    target: FloatArray,  # IN  (n,)
    grad_scale: float,
    loss: FloatArray | None,  # OUT (n,) per element, or None
    partial_sums: npt.NDArray[np.float64],  # OUT (ceil(n / CHUNK),)
    grad_input: FloatArray | None,  # OUT (n,) or None
    n_threads: int,
) -> None: ...

def smooth_l1_loss_forward(
    input: FloatArray,  # IN  (n,)
    target: FloatArray,  # IN  (n,)
    beta: float,  # > 0 (beta = 0 is l1_loss_forward)
    grad_scale: float,
    loss: FloatArray | None,  # OUT (n,) per element, or None
    partial_sums: npt.NDArray[np.float64],  # OUT (ceil(n / CHUNK),)
    grad_input: FloatArray | None,  # OUT (n,) or None
    n_threads: int,
) -> None: ...

def huber_loss_forward(
    input: FloatArray,  # IN  (n,)
    target: FloatArray,  # IN  (n,)
    delta: float,  # > 0
    grad_scale: float,
    loss: FloatArray | None,  # OUT (n,) per element, or None
    partial_sums: npt.NDArray[np.float64],  # OUT (ceil(n / CHUNK),)
    grad_input: FloatArray | None,  # OUT (n,) or None
    n_threads: int,
) -> None: ...

def binary_cross_entropy_forward(
    input: FloatArray,  # IN  (n,) probabilities in [0, 1]
    target: FloatArray,  # IN  (n,)
    weight: FloatArray | None,  # IN  (n,) or None
    grad_scale: float,
    loss: FloatArray | None,  # OUT (n,) or None
    partial_sums: npt.NDArray[np.float64],  # OUT (ceil(n / CHUNK),)
    grad_input: FloatArray | None,  # OUT (n,) or None
    n_threads: int,
) -> None: ...

def sigmoid_focal_loss_forward(
    logits: FloatArray,  # IN  (n,)
    target: FloatArray,  # IN  (n,) in [0, 1]
    alpha: float,  # < 0: no alpha weighting
    gamma: float,
    grad_scale: float,
    loss: FloatArray | None,  # OUT (n,) or None
    partial_sums: npt.NDArray[np.float64],  # OUT (ceil(n / CHUNK),)
    grad_logits: FloatArray | None,  # OUT (n,) or None
    n_threads: int,
) -> None: ...

def hinge_loss_forward(
    input: FloatArray,  # IN  (n,) scores
    target: FloatArray,  # IN  (n,) labels -1 or +1
    margin: float,
    grad_scale: float,
    loss: FloatArray | None,  # OUT (n,) or None
    partial_sums: npt.NDArray[np.float64],  # OUT (ceil(n / CHUNK),)
    grad_input: FloatArray | None,  # OUT (n,) or None
    n_threads: int,
) -> None: ...

def kl_div_forward(
    input: FloatArray,  # IN  (n,) log-probabilities
    target: FloatArray,  # IN  (n,) probabilities (or log-probabilities)
    log_target: bool,
    grad_scale: float,
    loss: FloatArray | None,  # OUT (n,) or None
    partial_sums: npt.NDArray[np.float64],  # OUT (ceil(n / CHUNK),)
    grad_input: FloatArray | None,  # OUT (n,) or None: -target (or -exp(target))
    n_threads: int,
) -> None: ...

def softmax_cross_entropy_soft_forward(
    logits: FloatArray,  # IN  (N, C)
    target: FloatArray,  # IN  (N, C) class probabilities
    weight: FloatArray | None,  # IN  (C,) or None
    label_smoothing: float,
    grad_scale: float,
    loss: FloatArray,  # OUT (N,)
    grad_logits: FloatArray | None,  # OUT (N, C) or None
    n_threads: int,
) -> None: ...

def nll_loss_forward(
    input: FloatArray,  # IN  (N, C) log-probabilities
    target: npt.NDArray[np.int64],  # IN  (N,) class indices or ignore_index
    weight: FloatArray | None,  # IN  (C,) or None
    ignore_index: int,
    grad_scale: float,
    loss: FloatArray,  # OUT (N,) -w[t] input[i, t] (0 where ignored)
    grad_input: FloatArray | None,  # OUT (N, C) or None: -grad_scale w[t] at t
    n_threads: int,
) -> None: ...

def multi_margin_loss_forward(
    input: FloatArray,  # IN  (N, C) scores
    target: npt.NDArray[np.int64],  # IN  (N,) class indices
    weight: FloatArray | None,  # IN  (C,) or None
    p: int,  # 1 or 2
    margin: float,
    grad_scale: float,
    loss: FloatArray,  # OUT (N,)
    grad_input: FloatArray | None,  # OUT (N, C) or None
    n_threads: int,
) -> None: ...
