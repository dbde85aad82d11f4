"""What the extension build was compiled with (read by pydl.show_config)."""

from _openmp cimport PYDL_HAVE_OPENMP, omp_get_num_procs


def openmp_enabled():
    """True when the kernels were compiled with OpenMP (else they run on one thread)."""
    return bool(PYDL_HAVE_OPENMP)


def num_procs():
    """Processors OpenMP sees; the GEMM tiling is sized by this (1 without OpenMP)."""
    return omp_get_num_procs()
