"""show_config(): what this pydl build is and what it runs on."""

import os
import platform
import sys
import warnings

import numpy as np
import scipy

from ._ext import _build_info
from ._threading import (_blas_controller, _kernel_openmp_path, get_num_threads,
                         physical_cpu_count)
from ._version import __version__

__all__ = ["show_config"]

#: Values of the environment variable PYDL_CPU_CAPABILITY, lowest first (PyTorch's
#: ATEN_CPU_CAPABILITY names).
CPU_CAPABILITIES = ("default", "avx2", "avx512")


def _check_cpu_capability(got, want):
    """Warn when the environment variable PYDL_CPU_CAPABILITY (``want``, None when
    unset) asked for something other than the copy the kernels run (``got``: a name
    of CPU_CAPABILITIES, or None in a build without runtime dispatch)."""
    if not want:
        return
    if want not in CPU_CAPABILITIES:
        warnings.warn(f"PYDL_CPU_CAPABILITY={want!r} is not one of {CPU_CAPABILITIES}; "
                      f"ignored: running the {got or 'only'} kernels", RuntimeWarning,
                      stacklevel=4)
    elif got is None:
        if want != "default":  # the one copy is the baseline
            warnings.warn(f"PYDL_CPU_CAPABILITY={want!r} is ignored: this build has one "
                          "copy of each kernel (no runtime dispatch on this compiler or "
                          "platform)", RuntimeWarning, stacklevel=4)
    elif CPU_CAPABILITIES.index(want) > CPU_CAPABILITIES.index(got):
        warnings.warn(f"PYDL_CPU_CAPABILITY={want!r}: this CPU does not have it; running "
                      f"the {got!r} kernels", RuntimeWarning, stacklevel=4)


def _read_cpu_capability():
    """The SIMD copy of the dispatched kernels this process runs.

    The kernel modules bind their dispatched functions when they load (csrc/_vmath.h),
    from the same variable and the same CPU test as _build_info, which is asked here,
    at import, so that a later change of os.environ is not mistaken for the kernels'.
    """
    got = _build_info.cpu_capability()
    _check_cpu_capability(got, os.environ.get("PYDL_CPU_CAPABILITY"))
    return got


CPU_CAPABILITY = _read_cpu_capability()


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _openmp_runtimes():
    """Every OpenMP runtime loaded in the process (threadpoolctl), pydl's marked."""
    from threadpoolctl import ThreadpoolController

    mine = _kernel_openmp_path()
    runtimes = []
    for lc in ThreadpoolController().select(user_api="openmp").lib_controllers:
        info = lc.info()
        path = info.get("filepath")
        runtimes.append({
            "internal_api": info.get("internal_api"),
            "version": info.get("version"),
            "num_threads": info.get("num_threads"),
            "filepath": path,
            "pydl": mine is not None and path is not None and os.path.realpath(path) == mine,
        })
    return runtimes


_SEVERAL_RUNTIMES = (
    "{n} OpenMP runtimes are loaded in this process ({paths}). Each keeps its own "
    "threads, which spin for a while after every parallel region: when pydl and "
    "another library (PyTorch) alternate parallel calls, they spin against each other "
    "(measured about 4x slower on 2 cores). Set OMP_WAIT_POLICY=PASSIVE in the "
    "environment before starting Python, or install pydl from source so that it "
    "shares one libgomp with the other library (see the README, 'Threads, processes "
    "and safety').")


def show_config(print_out=True):
    """Print and return pydl's build and runtime configuration.

    Returns
    -------
    dict
        ``version``, ``openmp`` (were the kernels compiled with OpenMP),
        ``num_threads`` (threads in use), ``physical_cores``, ``cpu``,
        ``cpu_capability`` (the SIMD copy of the dispatched kernels in use:
        ``"avx512"``, ``"avx2"`` or ``"default"``, capped by the environment variable
        ``PYDL_CPU_CAPABILITY``; ``None`` in a build without runtime dispatch), ``blas`` (a
        list of the loaded BLAS libraries with their threading layer, from
        threadpoolctl), ``openmp_runtimes`` (every OpenMP runtime loaded in the
        process, each with ``pydl: True`` where pydl's kernels use it), and the Python,
        NumPy and SciPy versions.

    Warns (``RuntimeWarning``) when more than one OpenMP runtime is loaded: their
    threads spin against each other (see the README).
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
        "cpu_capability": CPU_CAPABILITY,
        "blas": blas,
        "openmp_runtimes": _openmp_runtimes(),
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
        print(f"  SIMD kernels   : {config['cpu_capability'] or 'one copy (no dispatch)'}")
        for b in blas:
            print(f"  BLAS           : {b['internal_api']} {b['version']} "
                  f"({b['threading_layer']}, {b['architecture']}) {b['filepath']}")
        for r in config["openmp_runtimes"]:
            used = " (pydl's kernels)" if r["pydl"] else ""
            print(f"  OpenMP runtime : {r['internal_api']} {r['filepath']}{used}")
        print(f"  Python {config['python']}, NumPy {config['numpy']}, SciPy {config['scipy']}")
    runtimes = config["openmp_runtimes"]
    if len(runtimes) > 1:
        warnings.warn(_SEVERAL_RUNTIMES.format(
            n=len(runtimes), paths=", ".join(str(r["filepath"]) for r in runtimes)),
            RuntimeWarning, stacklevel=2)
    return config
