"""Type stubs for pydl._ext.conv (generated from csrc/conv.pyx by csrc/make_stubs.py)."""

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]

TILE_ELEMENTS: int
SHIFTED_MIN_CHANNELS: int
SLAB_ELEMENTS: int
DIRECT_PHASES_MAX: int
MAX_CHUNKS: int
PARTIAL_BUDGET: Any
CHUNK_MIN_MACS: int
WINOGRAD_MIN_CHANNELS: int
WINOGRAD_MIN_TILES: int
WINOGRAD_PACKED_MIN_TILES: int
WINOGRAD4_MIN_TILES: int
WINOGRAD4_WEIGHT_MIN_TILES: int
WINOGRAD_ELEMENTS: int
WINOGRAD_MIN_BLOCK: int
WINOGRAD_WEIGHT_ELEMENTS: int
WINOGRAD_WEIGHT_MAX_TILES: int
BLAS_INT_MAX: Any
WORK_MAX: Any

def release_workspace() -> Any: ...

def workspace_elements(
    in_shape: tuple,
    w_shape: tuple,
    out_shape: tuple,
    stride: tuple,
    padding: tuple,
    dilation: tuple,
    groups: int,
    n_threads: int,
) -> Any: ...

def forward_path(
    in_shape: tuple,
    w_shape: tuple,
    out_shape: tuple,
    stride: tuple,
    padding: tuple,
    dilation: tuple,
    groups: int,
) -> Any: ...

def conv_forward(
    x: FloatArray,  # IN  (N, C, D, H, W)
    weight: FloatArray,  # IN  (K, C/groups, kD, kH, kW)
    bias: FloatArray | None,  # IN  (K,) or None
    out: FloatArray,  # OUT (N, K, oD, oH, oW)
    stride: tuple,
    padding: tuple,
    dilation: tuple,
    groups: int,
    n_threads: int,
) -> None: ...

def conv_backward(
    grad_out: FloatArray,  # IN  (N, K, oD, oH, oW)
    x: FloatArray,  # IN  (N, C, D, H, W)
    weight: FloatArray,  # IN  (K, C/groups, kD, kH, kW)
    grad_x: FloatArray | None,  # OUT like x, or None
    grad_weight: FloatArray | None,  # OUT like weight, or None
    grad_bias: FloatArray | None,  # OUT (K,), or None
    stride: tuple,
    padding: tuple,
    dilation: tuple,
    groups: int,
    n_threads: int,
) -> None: ...

def conv_transpose_forward(
    x: FloatArray,  # IN  (N, C_in, D, H, W)
    weight: FloatArray,  # IN  (C_in, C_out/groups, kD, kH, kW)
    bias: FloatArray | None,  # IN  (C_out,) or None
    out: FloatArray,  # OUT (N, C_out, oD, oH, oW)
    stride: tuple,
    padding: tuple,
    dilation: tuple,
    groups: int,
    n_threads: int,
) -> None: ...

def conv_transpose_backward(
    grad_out: FloatArray,  # IN  (N, C_out, oD, oH, oW)
    x: FloatArray,  # IN  (N, C_in, D, H, W)
    weight: FloatArray,  # IN  (C_in, C_out/groups, k...)
    grad_x: FloatArray | None,  # OUT like x, or None
    grad_weight: FloatArray | None,  # OUT like weight, or None
    grad_bias: FloatArray | None,  # OUT (C_out,), or None
    stride: tuple,
    padding: tuple,
    dilation: tuple,
    groups: int,
    n_threads: int,
) -> None: ...

conv1d_forward = conv_forward
conv2d_forward = conv_forward
conv3d_forward = conv_forward

conv1d_backward = conv_backward
conv2d_backward = conv_backward
conv3d_backward = conv_backward

conv_transpose1d_forward = conv_transpose_forward
conv_transpose2d_forward = conv_transpose_forward

conv_transpose3d_forward = conv_transpose_forward

conv_transpose1d_backward = conv_transpose_backward
conv_transpose2d_backward = conv_transpose_backward

conv_transpose3d_backward = conv_transpose_backward
