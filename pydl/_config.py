"""show_config(): what this pydl build is and what it runs on."""

import platform
import sys

import numpy as np
import scipy

from ._ext import _build_info
from ._threading import _blas_controller, get_num_threads, physical_cpu_count
from ._version import __version__

__all__ = ["show_config"]


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def show_config(print_out=True):
    """Print and return pydl's build and runtime configuration.

    Returns
    -------
    dict
        ``version``, ``openmp`` (were the kernels compiled with OpenMP),
        ``num_threads`` (threads in use), ``physical_cores``, ``cpu``, ``blas`` (a
        list of the loaded BLAS libraries with their threading layer, from
        threadpoolctl), and the Python, NumPy and SciPy versions.
    """
    blas = [
        {k: info.get(k) for k in ("internal_api", "version", "threading_layer",
                                  "architecture", "num_threads", "filepath")}
        for info in _blas_controller().info()
    ]
    config = {
        "version": __version__,
        "openmp": _build_info.openmp_enabled(),
        "num_threads": get_num_threads(),
        "physical_cores": physical_cpu_count(),
        "openmp_procs": _build_info.num_procs(),
        "cpu": _cpu_name(),
        "blas": blas,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }
    if print_out:
        print(f"pydl {config['version']}")
        print(f"  OpenMP kernels : {'on' if config['openmp'] else 'off (serial build)'}")
        print(f"  threads        : {config['num_threads']} "
              f"(physical cores {config['physical_cores']})")
        print(f"  CPU            : {config['cpu']}")
        for b in blas:
            print(f"  BLAS           : {b['internal_api']} {b['version']} "
                  f"({b['threading_layer']}, {b['architecture']}) {b['filepath']}")
        print(f"  Python {config['python']}, NumPy {config['numpy']}, SciPy {config['scipy']}")
    return config
