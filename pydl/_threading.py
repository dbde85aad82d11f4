"""Thread control: one thread count for pydl's OpenMP kernels and for BLAS.

pydl runs every parallel loop on its own OpenMP threads and calls BLAS from inside
them, one single-threaded GEMM per output tile. BLAS's own thread pool therefore has
to be held at one thread while a kernel runs (:func:`blas_single_threaded`); otherwise
BLAS threads and OpenMP threads would spin on the same cores at once.

The thread count a user sets also caps the BLAS libraries for code outside pydl (the
NumPy reference, the user's own NumPy), so that "use n threads" means n threads.
"""

import contextlib
import os
import threading

from threadpoolctl import ThreadpoolController

__all__ = ["get_num_threads", "set_num_threads", "threads", "physical_cpu_count"]

_lock = threading.Lock()
_state = {"n_threads": None, "controller": None}


def _cgroup_cpu_limit():
    """CPUs allowed by a cgroup v2 quota (containers), or None when unlimited."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota == "max":
            return None
        return max(1, int(int(quota) / int(period)))
    except (OSError, ValueError):
        return None


def physical_cpu_count():
    """Number of physical cores this process may run on.

    Counts distinct (package, core) pairs among the CPUs in the process's affinity
    mask, so hyper-threads do not double the count; capped by a cgroup CPU quota.
    Falls back to the logical CPU count where the topology cannot be read.
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = list(range(os.cpu_count() or 1))
    cores = set()
    try:
        for cpu in cpus:
            base = f"/sys/devices/system/cpu/cpu{cpu}/topology/"
            with open(base + "physical_package_id") as f:
                package = f.read().strip()
            with open(base + "core_id") as f:
                core = f.read().strip()
            cores.add((package, core))
        n = len(cores)
    except OSError:
        n = len(cpus)
    limit = _cgroup_cpu_limit()
    if limit is not None:
        n = min(n, limit)
    return max(1, n)


def _default_num_threads():
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env:
        try:
            n = int(env)
            if n >= 1:
                return n
        except ValueError:
            pass
    return physical_cpu_count()


def _blas_controller():
    """threadpoolctl's view of the BLAS libraries loaded now (created once)."""
    if _state["controller"] is None:
        # Import the BLAS pydl calls first, so that the controller sees it.
        import scipy.linalg.cython_blas  # noqa: F401

        _state["controller"] = ThreadpoolController().select(user_api="blas")
        _state["kernel_libs"] = None
    return _state["controller"]


def _validate_n_threads(n):
    if isinstance(n, bool) or not isinstance(n, int):
        try:
            import numpy as np

            if isinstance(n, np.integer):
                n = int(n)
            else:
                raise TypeError
        except TypeError:
            raise TypeError(f"n_threads must be an int >= 1, got {type(n).__name__}") from None
    if n < 1:
        raise ValueError(f"n_threads must be >= 1, got {n}")
    return n


def get_num_threads():
    """Number of threads pydl's kernels use (OpenMP) and BLAS is capped at.

    Default: ``OMP_NUM_THREADS`` when set, else the number of physical cores.
    """
    if _state["n_threads"] is None:
        set_num_threads(_default_num_threads())
    return _state["n_threads"]


def set_num_threads(n):
    """Set the number of threads for pydl's kernels and for the BLAS libraries.

    Parameters
    ----------
    n : int
        Threads to use, ``n >= 1``. More threads than cores is allowed (results do not
        depend on it) but rarely faster.
    """
    n = _validate_n_threads(n)
    with _lock:
        _state["n_threads"] = n
        # A limit applied without a ``with`` block stays in force.
        _blas_controller().limit(limits=n)


@contextlib.contextmanager
def threads(n):
    """Context manager: run the block with ``n`` threads, then restore the count.

    Examples
    --------
    >>> import pydl
    >>> with pydl.threads(1):
    ...     pass  # single-threaded here
    """
    n = _validate_n_threads(n)
    previous = get_num_threads()
    set_num_threads(n)
    try:
        yield n
    finally:
        set_num_threads(previous)


def _kernel_blas_libs():
    """The BLAS libraries pydl's kernels call: the one(s) scipy.linalg.cython_blas uses.

    scipy and NumPy wheels each bundle their own OpenBLAS; only scipy's is called from
    inside OpenMP regions, so only it needs switching. Where no library path names
    scipy (one BLAS shared by both, e.g. a system or conda build), all are switched.
    """
    if _state.get("kernel_libs") is None:
        libs = _blas_controller().lib_controllers
        # wheels: site-packages/scipy.libs/ (NumPy's copy, in numpy.libs/, is also
        # named libscipy_openblas*, so the directory is what tells them apart)
        scipy_libs = [lc for lc in libs
                      if os.path.basename(os.path.dirname(lc.filepath)).startswith("scipy")]
        _state["kernel_libs"] = scipy_libs or list(libs)
    return _state["kernel_libs"]


class _BlasOneThread:
    """Hold the kernels' BLAS at one thread for a block, then put back what it had.

    A direct set/get on the cached library controllers costs a few microseconds;
    threadpoolctl's ``limit()`` re-inspects every loaded library and cost 60-180 us per
    call, paid by every op: 20 ops of a small CNN's training step spent milliseconds in it.
    """

    __slots__ = ("_saved",)

    def __enter__(self):
        self._saved = []
        for lc in _kernel_blas_libs():
            n = lc.get_num_threads()
            if n != 1:
                lc.set_num_threads(1)
                self._saved.append((lc, n))
        return self

    def __exit__(self, *exc):
        for lc, n in self._saved:
            lc.set_num_threads(n)
        return False


def blas_single_threaded(n_threads):
    """Context that holds BLAS at one thread while an OpenMP kernel calls it.

    With ``n_threads == 1`` nothing needs changing and a no-op context is returned,
    which keeps small single-threaded calls free of any overhead.
    """
    if n_threads <= 1:
        return contextlib.nullcontext()
    return _BlasOneThread()
