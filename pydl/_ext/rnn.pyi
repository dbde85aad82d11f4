"""Type stubs for pydl._ext.rnn (generated from csrc/rnn.pyx by csrc/make_stubs.py)."""

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]


def release_workspace() -> Any: ...

def lstm_forward(
    x: FloatArray,  # IN  (T, N, I)
    h0: FloatArray,  # IN  (N, H)
    c0: FloatArray,  # IN  (N, H)
    weight_ih: FloatArray,  # IN  (4H, I)
    weight_hh: FloatArray,  # IN  (4H, H)
    bias_ih: FloatArray | None,  # IN  (4H,) or None
    bias_hh: FloatArray | None,  # IN  (4H,) or None
    reverse: bool,
    y: FloatArray,  # OUT (T, N, H)
    h_n: FloatArray,  # OUT (N, H)
    c_n: FloatArray,  # OUT (N, H)
    cache: FloatArray,  # OUT (T, N, 5H)
    n_threads: int,
) -> None: ...

def gru_forward(
    x: FloatArray,  # IN  (T, N, I)
    h0: FloatArray,  # IN  (N, H)
    weight_ih: FloatArray,  # IN  (3H, I)
    weight_hh: FloatArray,  # IN  (3H, H)
    bias_ih: FloatArray | None,  # IN  (3H,) or None
    bias_hh: FloatArray | None,  # IN  (3H,) or None
    reverse: bool,
    y: FloatArray,  # OUT (T, N, H)
    h_n: FloatArray,  # OUT (N, H)
    cache: FloatArray,  # OUT (T, N, 4H)
    n_threads: int,
) -> None: ...

def rnn_forward(
    x: FloatArray,  # IN  (T, N, I)
    h0: FloatArray,  # IN  (N, H)
    weight_ih: FloatArray,  # IN  (H, I)
    weight_hh: FloatArray,  # IN  (H, H)
    bias_ih: FloatArray | None,  # IN  (H,) or None
    bias_hh: FloatArray | None,  # IN  (H,) or None
    reverse: bool,
    relu: bool,
    y: FloatArray,  # OUT (T, N, H)
    h_n: FloatArray,  # OUT (N, H)
    n_threads: int,
) -> None: ...

def lstm_backward(
    grad_y: FloatArray,  # IN  (T, N, H)
    grad_h_n: FloatArray,  # IN  (N, H)
    grad_c_n: FloatArray,  # IN  (N, H)
    x: FloatArray,  # IN  (T, N, I)
    h0: FloatArray,  # IN  (N, H)
    c0: FloatArray,  # IN  (N, H)
    weight_ih: FloatArray,  # IN  (4H, I)
    weight_hh: FloatArray,  # IN  (4H, H)
    y: FloatArray,  # IN  (T, N, H) forward output
    cache: FloatArray,  # IN  (T, N, 5H) from forward
    reverse: bool,
    dgates: FloatArray,  # SCRATCH (T, N, 4H)
    grad_x: FloatArray | None,  # OUT (T, N, I) or None
    grad_h0: FloatArray,  # OUT (N, H)
    grad_c0: FloatArray,  # OUT (N, H)
    grad_weight_ih: FloatArray | None,  # OUT (4H, I) or None
    grad_weight_hh: FloatArray | None,  # OUT (4H, H) or None
    grad_bias: FloatArray | None,  # OUT (4H,) or None: d bias_ih = d bias_hh
    n_threads: int,
) -> None: ...

def gru_backward(
    grad_y: FloatArray,  # IN  (T, N, H)
    grad_h_n: FloatArray,  # IN  (N, H)
    x: FloatArray,  # IN  (T, N, I)
    h0: FloatArray,  # IN  (N, H)
    weight_ih: FloatArray,  # IN  (3H, I)
    weight_hh: FloatArray,  # IN  (3H, H)
    y: FloatArray,  # IN  (T, N, H)
    cache: FloatArray,  # IN  (T, N, 4H)
    reverse: bool,
    dgates: FloatArray,  # SCRATCH (T, N, 4H): [dr dz dn*r | dn]
    grad_x: FloatArray | None,  # OUT (T, N, I) or None
    grad_h0: FloatArray,  # OUT (N, H)
    grad_weight_ih: FloatArray | None,  # OUT (3H, I) or None
    grad_weight_hh: FloatArray | None,  # OUT (3H, H) or None
    grad_bias_ih: FloatArray | None,  # OUT (3H,) or None
    grad_bias_hh: FloatArray | None,  # OUT (3H,) or None
    n_threads: int,
) -> None: ...

def rnn_backward(
    grad_y: FloatArray,  # IN  (T, N, H)
    grad_h_n: FloatArray,  # IN  (N, H)
    x: FloatArray,  # IN  (T, N, I)
    h0: FloatArray,  # IN  (N, H)
    weight_ih: FloatArray,  # IN  (H, I)
    weight_hh: FloatArray,  # IN  (H, H)
    y: FloatArray,  # IN  (T, N, H)
    reverse: bool,
    relu: bool,
    dpre: FloatArray,  # SCRATCH (T, N, H)
    grad_x: FloatArray | None,  # OUT (T, N, I) or None
    grad_h0: FloatArray,  # OUT (N, H)
    grad_weight_ih: FloatArray | None,  # OUT (H, I) or None
    grad_weight_hh: FloatArray | None,  # OUT (H, H) or None
    grad_bias: FloatArray | None,  # OUT (H,) or None: d bias_ih = d bias_hh
    n_threads: int,
) -> None: ...
