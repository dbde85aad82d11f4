"""What the extension build was compiled with (read by pydl.show_config)."""

from _openmp cimport PYDL_HAVE_OPENMP, omp_get_num_procs


def openmp_enabled():
    """True when the kernels were compiled with OpenMP (else they run on one thread)."""
    return bool(PYDL_HAVE_OPENMP)


def num_procs():
    """Processors OpenMP sees; the GEMM tiling is sized by this (1 without OpenMP)."""
    return omp_get_num_procs()


cdef extern from "_vmath.h":
    int pydl_cpu_capability() nogil


def cpu_capability():
    """The SIMD copy of the dispatched kernels this process runs (csrc/_vmath.h).

    ``"avx512"`` (x86-64-v4), ``"avx2"`` (x86-64-v3, AVX2 + FMA) or ``"default"`` (the
    baseline), chosen when the modules load: the CPU's best, capped by the environment
    variable ``PYDL_CPU_CAPABILITY``. ``None`` where the build has a single copy (no
    runtime dispatch: clang, macOS, Windows, non-x86 machines).
    """
    return {4: "avx512", 3: "avx2", 0: "default"}.get(pydl_cpu_capability())
