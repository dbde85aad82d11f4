"""Type stubs for pydl._ext.attention (generated from csrc/attention.pyx by csrc/make_stubs.py)."""

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]


def sdpa_forward(
    q: FloatArray,  # IN  (B, L, E)
    k: FloatArray,  # IN  (B, S, E)
    v: FloatArray,  # IN  (B, S, Ev)
    mask: FloatArray | None,  # IN  (1 or B, L, S) additive, or None
    scale: float,
    out: FloatArray,  # OUT (B, L, Ev)
    attn: FloatArray,  # OUT (B, L, S) softmax weights
    n_threads: int,
) -> None: ...

def sdpa_backward(
    grad_out: FloatArray,  # IN  (B, L, Ev)
    q: FloatArray,  # IN  (B, L, E)
    k: FloatArray,  # IN  (B, S, E)
    v: FloatArray,  # IN  (B, S, Ev)
    attn: FloatArray,  # IN  (B, L, S) from forward
    scale: float,
    dscores: FloatArray,  # SCRATCH (B, L, S)
    grad_q: FloatArray,  # OUT (B, L, E)
    grad_k: FloatArray,  # OUT (B, S, E)
    grad_v: FloatArray,  # OUT (B, S, Ev)
    n_threads: int,
) -> None: ...

def additive_attention_forward(
    qp: FloatArray,  # IN  (N, A) query projection W_q q
    kp: FloatArray,  # IN  (N, T, A) key projections W_k k_j
    keys: FloatArray,  # IN  (N, T, Dk)
    v: FloatArray,  # IN  (A,)
    mask: npt.NDArray[np.uint8] | None,  # IN  (N, T) nonzero = attend, or None
    alpha: FloatArray,  # OUT (N, T) attention weights
    context: FloatArray,  # OUT (N, Dk)
    cache: FloatArray,  # OUT (N, T, A) tanh(qp + kp_j)
    n_threads: int,
) -> None: ...

def additive_attention_backward(
    grad_context: FloatArray,  # IN  (N, Dk)
    grad_alpha: FloatArray | None,  # IN  (N, T) or None
    keys: FloatArray,  # IN  (N, T, Dk)
    v: FloatArray,  # IN  (A,)
    alpha: FloatArray,  # IN  (N, T) from forward
    cache: FloatArray,  # IN  (N, T, A) from forward
    grad_qp: FloatArray,  # OUT (N, A)
    grad_kp: FloatArray,  # OUT (N, T, A)
    grad_keys: FloatArray,  # OUT (N, T, Dk) the direct share alpha_j dc
    grad_v_rows: FloatArray,  # SCRATCH (N, A) per-item shares of grad_v
    grad_v: FloatArray,  # OUT (A,)
    de: FloatArray,  # SCRATCH (N, T)
    n_threads: int,
) -> None: ...
