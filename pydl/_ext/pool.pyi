"""Type stubs for pydl._ext.pool (generated from csrc/pool.pyx by csrc/make_stubs.py)."""

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]


def max_pool_forward(
    x: FloatArray,  # IN  (P, D*H*W)
    out: FloatArray,  # OUT (P, OD*OH*OW)
    indices: npt.NDArray[np.int64],  # OUT (P, OD*OH*OW) flat argmax
    D: int,
    H: int,
    W: int,
    lo_d: npt.NDArray[np.int64],
    hi_d: npt.NDArray[np.int64],
    step_d: int,
    lo_h: npt.NDArray[np.int64],
    hi_h: npt.NDArray[np.int64],
    step_h: int,
    lo_w: npt.NDArray[np.int64],
    hi_w: npt.NDArray[np.int64],
    step_w: int,
    a_w: int,
    b_w: int,
    k_w: int,
    off_w: int,
    stride_w: int,
    n_threads: int,
) -> None: ...

def max_pool_backward(
    grad_out: FloatArray,  # IN  (P, OD*OH*OW)
    indices: npt.NDArray[np.int64],  # IN  (P, OD*OH*OW)
    grad_in: FloatArray,  # OUT (P, D*H*W)
    n_threads: int,
) -> Any: ...

def max_unpool_forward(
    x: FloatArray,  # IN  (P, M)
    indices: npt.NDArray[np.int64],  # IN  (P, M)
    out: FloatArray,  # OUT (P, plane)
    n_threads: int,
) -> Any: ...

def max_unpool_backward(
    grad_out: FloatArray,  # IN  (P, plane)
    indices: npt.NDArray[np.int64],  # IN  (P, M)
    grad_in: FloatArray,  # OUT (P, M)
    n_threads: int,
) -> Any: ...

def avg_pool_forward(
    x: FloatArray,  # IN  (P, D*H*W)
    out: FloatArray,  # OUT (P, OD*OH*OW)
    D: int,
    H: int,
    W: int,
    lo_d: npt.NDArray[np.int64],
    hi_d: npt.NDArray[np.int64],
    cnt_d: npt.NDArray[np.int64],
    lo_h: npt.NDArray[np.int64],
    hi_h: npt.NDArray[np.int64],
    cnt_h: npt.NDArray[np.int64],
    lo_w: npt.NDArray[np.int64],
    hi_w: npt.NDArray[np.int64],
    cnt_w: npt.NDArray[np.int64],
    divisor_override: int,
    a_w: int,
    b_w: int,
    k_w: int,
    off_w: int,
    stride_w: int,
    n_threads: int,
) -> None: ...

def global_avg_forward(
    x: FloatArray,  # IN  (P, plane)
    out: FloatArray,  # OUT (P,)
    n_threads: int,
) -> None: ...

def global_avg_backward(
    grad_out: FloatArray,  # IN  (P,)
    grad_in: FloatArray,  # OUT (P, plane)
    n_threads: int,
) -> None: ...

def avg_pool_backward(
    grad_out: FloatArray,  # IN  (P, OD*OH*OW)
    grad_in: FloatArray,  # OUT (P, D*H*W)
    D: int,
    H: int,
    W: int,
    lo_d: npt.NDArray[np.int64],
    hi_d: npt.NDArray[np.int64],
    cnt_d: npt.NDArray[np.int64],
    lo_h: npt.NDArray[np.int64],
    hi_h: npt.NDArray[np.int64],
    cnt_h: npt.NDArray[np.int64],
    lo_w: npt.NDArray[np.int64],
    hi_w: npt.NDArray[np.int64],
    cnt_w: npt.NDArray[np.int64],
    divisor_override: int,
    a_w: int,
    b_w: int,
    k_w: int,
    off_w: int,
    stride_w: int,
    n_threads: int,
) -> None: ...

def nearest_forward(
    x: FloatArray,  # IN  (P, D*H*W)
    out: FloatArray,  # OUT (P, OD*OH*OW)
    D: int,
    H: int,
    W: int,
    src_d: npt.NDArray[np.int64],
    src_h: npt.NDArray[np.int64],
    src_w: npt.NDArray[np.int64],  # IN  source index per output index
    n_threads: int,
) -> None: ...

def nearest_backward(
    grad_out: FloatArray,  # IN  (P, OD*OH*OW)
    grad_in: FloatArray,  # OUT (P, D*H*W)
    D: int,
    H: int,
    W: int,
    src_d: npt.NDArray[np.int64],
    src_h: npt.NDArray[np.int64],
    src_w: npt.NDArray[np.int64],
    n_threads: int,
) -> None: ...

def linear_forward(
    x: FloatArray,  # IN  (P, D*H*W)
    out: FloatArray,  # OUT (P, OD*OH*OW)
    D: int,
    H: int,
    W: int,
    i0_d: npt.NDArray[np.int64],
    i1_d: npt.NDArray[np.int64],
    l0_d: FloatArray,
    l1_d: FloatArray,
    i0_h: npt.NDArray[np.int64],
    i1_h: npt.NDArray[np.int64],
    l0_h: FloatArray,
    l1_h: FloatArray,
    i0_w: npt.NDArray[np.int64],
    i1_w: npt.NDArray[np.int64],
    l0_w: FloatArray,
    l1_w: FloatArray,
    n_threads: int,
) -> None: ...

def linear_backward(
    grad_out: FloatArray,  # IN  (P, OD*OH*OW)
    grad_in: FloatArray,  # OUT (P, D*H*W)
    D: int,
    H: int,
    W: int,
    i0_d: npt.NDArray[np.int64],
    i1_d: npt.NDArray[np.int64],
    l0_d: FloatArray,
    l1_d: FloatArray,
    i0_h: npt.NDArray[np.int64],
    i1_h: npt.NDArray[np.int64],
    l0_h: FloatArray,
    l1_h: FloatArray,
    i0_w: npt.NDArray[np.int64],
    i1_w: npt.NDArray[np.int64],
    l0_w: FloatArray,
    l1_w: FloatArray,
    n_threads: int,
) -> None: ...
