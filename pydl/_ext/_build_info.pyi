"""Type stubs for pydl._ext._build_info (generated from csrc/_build_info.pyx by csrc/make_stubs.py)."""

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]


def openmp_enabled() -> Any: ...

def num_procs() -> Any: ...

def cpu_capability() -> Any: ...
