"""Thread control: one thread count for pydl's OpenMP kernels and for BLAS.

pydl runs every parallel loop on its own OpenMP threads and calls BLAS from inside
them, one single-threaded GEMM per output tile. BLAS's own thread pool therefore has
to be held at one thread while a kernel runs (:func:`blas_single_threaded`); otherwise
BLAS threads and OpenMP threads would spin on the same cores at once.

The thread count a user sets also caps the BLAS libraries for code outside pydl (the
NumPy reference, the user's own NumPy), so that "use n threads" means n threads.

Everything here is process-wide: one count for every Python thread (BLAS libraries
and OpenMP runtimes keep one setting per process, so a per-thread count could not be
honoured by them). Kernels give the same bits whichever Python thread calls them.

Processes: before ``fork`` pydl releases the OpenMP threads of the forking thread
(``omp_pause_resource_all``), so a forked child runs multi-threaded kernels as usual.
An OpenMP runtime without that call (GNU libgomp before GCC 9) cannot do this; then
the forking thread of the child runs pydl's kernels on one thread, with a one-time
``RuntimeWarning``, instead of hanging in libgomp's dead thread pool.
"""

import contextlib
import ctypes
import os
import threading
import warnings

from threadpoolctl import ThreadpoolController

__all__ = ["get_num_threads", "set_num_threads", "threads", "physical_cpu_count",
           "MAX_THREADS"]

#: Largest thread count :func:`set_num_threads` accepts. Thread creation fails (and
#: libgomp then ends the process) long before 40000 threads; 1024, or four per logical
#: CPU on bigger machines, leaves room for oversubscription experiments.
MAX_THREADS = max(1024, 4 * (os.cpu_count() or 1))

# One re-entrant lock for the count, the open ``threads()`` blocks and the BLAS hold.
_lock = threading.RLock()
_state = {
    "n_threads": None,      # the process-wide count (None until first asked)
    "controller": None,     # threadpoolctl's view of the BLAS libraries
    "kernel_libs": None,    # the BLAS libraries the kernels call, with their setters
    "omp_idents": set(),    # Python threads that may own an OpenMP thread pool
    "fork_stale": None,     # in a forked child: ident of the thread whose pool is dead
    "fork_parent_threads": None,
    "fork_warned": False,
}
# Open ``threads()`` blocks, oldest first: [token, value it replaced, thread ident].
_blocks = []
# The kernels' BLAS hold, shared by every Python thread running a kernel: held at one
# thread while ``count`` > 0; ``saved`` is what to put back when the last one ends.
_hold = {"count": 0, "saved": {}}


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
        except ValueError:
            n = 0
        if n > MAX_THREADS:
            warnings.warn(f"OMP_NUM_THREADS={n} is above pydl.MAX_THREADS; pydl uses "
                          f"{MAX_THREADS} threads", RuntimeWarning, stacklevel=3)
            return MAX_THREADS
        if n >= 1:
            return n
    return physical_cpu_count()


def _blas_controller():
    """threadpoolctl's view of the BLAS libraries loaded now (created once)."""
    if _state["controller"] is None:
        # Import the BLAS pydl calls first, so that the controller sees it.
        import scipy.linalg.cython_blas  # noqa: F401

        _state["controller"] = ThreadpoolController().select(user_api="blas")
        _state["kernel_libs"] = None
    return _state["controller"]


_SETTERS = {}


def _blas_setter(lc):
    """A function ``f(n)`` that sets library ``lc``'s thread count for the process.

    threadpoolctl lets only the first Python thread that set an OpenBLAS (pthreads)
    limit change it again; from any other thread ``set_num_threads`` silently does
    nothing. Kernels called from a worker thread then ran BLAS multi-threaded inside
    their OpenMP regions and gave different bits (issue 14). OpenBLAS's own setter is
    process-wide and callable from any thread, so pydl calls it directly.
    """
    key = id(lc)
    setter = _SETTERS.get(key)
    if setter is None:
        setter = lc.set_num_threads
        if (getattr(lc, "internal_api", None) == "openblas"
                and getattr(lc, "threading_layer", None) != "openmp"):
            for prefix in ("", "scipy_"):
                for suffix in ("", "64_", "_64"):
                    try:
                        fn = getattr(lc.dynlib, f"{prefix}openblas_set_num_threads{suffix}")
                    except AttributeError:
                        continue
                    fn.argtypes = [ctypes.c_int]
                    fn.restype = None
                    setter = fn
                    break
                else:
                    continue
                break
        _SETTERS[key] = setter
    return setter


def _per_thread(lc):
    """True where the library's limit is per calling thread (OpenBLAS on OpenMP)."""
    return getattr(lc, "threading_layer", None) == "openmp"


def _validate_n_threads(n):
    if isinstance(n, bool) or not isinstance(n, int):
        try:
            import numpy as np

            if isinstance(n, np.integer) and not isinstance(n, np.bool_):
                n = int(n)
            else:
                raise TypeError
        except TypeError:
            raise TypeError(f"n_threads must be an int >= 1, got {type(n).__name__}") from None
    if n < 1:
        raise ValueError(f"n_threads must be >= 1, got {n}")
    if n > MAX_THREADS:
        raise ValueError(f"n_threads must be between 1 and {MAX_THREADS} (pydl.MAX_THREADS), "
                         f"got {n}")
    return n


def _fork_serial_warning():
    _state["fork_warned"] = True
    warnings.warn(
        f"pydl: this process was forked from one whose OpenMP runtime could not release "
        f"its threads before fork (no omp_pause_resource_all: libgomp older than GCC 9), "
        f"so this thread runs pydl's kernels on 1 thread instead of "
        f"{_state['fork_parent_threads']} (more would hang in the dead thread pool). "
        f"Use the 'spawn' or 'forkserver' start method to keep threads in child "
        f"processes.", RuntimeWarning, stacklevel=3)


def get_num_threads():
    """Number of threads pydl's kernels use (OpenMP) and BLAS is capped at.

    The count is process-wide: the same for every Python thread.
    Default: ``OMP_NUM_THREADS`` when set, else the number of physical cores.

    In a process forked after the forking thread had run multi-threaded kernels, where
    the OpenMP runtime could not release its threads before fork (see the module
    docstring), this returns 1 in that thread and warns once.
    """
    n = _state["n_threads"]
    if n is None:
        set_num_threads(_default_num_threads())
        n = _state["n_threads"]
    if n > 1:
        ident = threading.get_ident()
        if _state["fork_stale"] == ident:
            if not _state["fork_warned"]:
                _fork_serial_warning()
            return 1
        # This thread may now start an OpenMP thread pool (what fork has to know).
        idents = _state["omp_idents"]
        if ident not in idents:
            if len(idents) >= 256:   # forget threads that have ended
                idents &= {t.ident for t in threading.enumerate()}
            idents.add(ident)
    return n


def _apply(n):
    """Make ``n`` the count and the BLAS limit (``_lock`` held)."""
    _state["n_threads"] = n
    kernel = {id(lc) for lc, _ in _kernel_blas_libs()}
    for lc in _blas_controller().lib_controllers:
        if _hold["count"] > 0 and id(lc) in kernel and not _per_thread(lc):
            # A kernel is running on another Python thread with BLAS held at one
            # thread: the new limit takes effect when the last kernel ends.
            _hold["saved"][id(lc)] = (_blas_setter(lc), n)
        else:
            _blas_setter(lc)(n)


def set_num_threads(n):
    """Set the number of threads for pydl's kernels and for the BLAS libraries.

    The setting is process-wide: it applies to kernels called from every Python
    thread, and it caps the BLAS libraries (NumPy's and SciPy's) for the whole process.

    Parameters
    ----------
    n : int
        Threads to use, ``1 <= n <= pydl.MAX_THREADS`` (``max(1024, 4 * cpu_count)``).
        More threads than cores is allowed (results do not depend on it) but rarely
        faster.

    Raises
    ------
    TypeError
        ``n`` is not an int (``bool`` is refused too).
    ValueError
        ``n`` is outside ``[1, MAX_THREADS]``.
    """
    n = _validate_n_threads(n)
    with _lock:
        _apply(n)


@contextlib.contextmanager
def threads(n):
    """Context manager: run the block with ``n`` threads, then restore the count.

    The count is process-wide (see :func:`set_num_threads`): while the block runs,
    kernels called from other Python threads use ``n`` threads too. Blocks may
    overlap across Python threads and close in any order: the count is always that of
    the newest block still open, and when the last one closes it is back to the value
    from before the first (a ``set_num_threads`` inside a block lasts until the block
    closes).

    Examples
    --------
    >>> import pydl
    >>> with pydl.threads(1):
    ...     pass  # single-threaded here
    """
    n = _validate_n_threads(n)
    token = object()
    with _lock:
        entry = [token, _num_threads_setting(), threading.get_ident()]
        _blocks.append(entry)
        _apply(n)
    try:
        yield n
    finally:
        with _lock:
            _close_block(token)


def _num_threads_setting():
    """The process-wide count, without the forked-child adjustment of get_num_threads."""
    if _state["n_threads"] is None:
        set_num_threads(_default_num_threads())
    return _state["n_threads"]


def _close_block(token):
    """Remove a ``threads()`` block (``_lock`` held), restoring what it replaced."""
    for i, entry in enumerate(_blocks):
        if entry[0] is token:
            break
    else:
        return
    del _blocks[i]
    if i == len(_blocks):
        # The newest block: put back the value it replaced.
        _apply(entry[1])
    else:
        # An older block closes first: the block opened after it now restores the
        # value this one replaced, and the count stays that of the newest block.
        _blocks[i][1] = entry[1]


def _kernel_blas_libs():
    """The BLAS libraries pydl's kernels call, as (controller, setter) pairs.

    These are the one(s) scipy.linalg.cython_blas uses. scipy and NumPy wheels each
    bundle their own OpenBLAS; only scipy's is called from inside OpenMP regions, so
    only it needs switching. Where no library path names scipy (one BLAS shared by
    both, e.g. a system or conda build), all are switched.
    """
    if _state.get("kernel_libs") is None:
        libs = _blas_controller().lib_controllers
        # wheels: site-packages/scipy.libs/ (NumPy's copy, in numpy.libs/, is also
        # named libscipy_openblas*, so the directory is what tells them apart)
        scipy_libs = [lc for lc in libs
                      if os.path.basename(os.path.dirname(lc.filepath)).startswith("scipy")]
        _state["kernel_libs"] = [(lc, _blas_setter(lc)) for lc in (scipy_libs or list(libs))]
    return _state["kernel_libs"]


class _BlasOneThread:
    """Hold the kernels' BLAS at one thread for a block, then put back what it had.

    A direct set/get on the cached library controllers costs a few microseconds;
    threadpoolctl's ``limit()`` re-inspects every loaded library and cost 60-180 us per
    call, paid by every op: 20 ops of a small CNN's training step spent milliseconds in it.

    The limit of a pthreads OpenBLAS is process-wide, so the hold is shared by all
    Python threads running kernels at once: the first sets one thread, the last puts
    the old count back (one thread's exit must not re-thread BLAS under another's
    running kernel). An OpenMP-threaded BLAS keeps a limit per calling thread, so each
    block sets and restores its own.
    """

    __slots__ = ("_local",)

    def __enter__(self):
        libs = _kernel_blas_libs()
        self._local = []
        with _lock:
            if _hold["count"] == 0:
                saved = {}
                for lc, setter in libs:
                    if _per_thread(lc):
                        continue
                    n = lc.get_num_threads()
                    if n != 1:
                        setter(1)
                        saved[id(lc)] = (setter, n)
                _hold["saved"] = saved
            _hold["count"] += 1
        for lc, setter in libs:
            if _per_thread(lc):
                n = lc.get_num_threads()
                if n != 1:
                    setter(1)
                    self._local.append((setter, n))
        return self

    def __exit__(self, *exc):
        for setter, n in self._local:
            setter(n)
        with _lock:
            _hold["count"] -= 1
            if _hold["count"] == 0:
                for setter, n in _hold["saved"].values():
                    setter(n)
                _hold["saved"] = {}
        return False


def blas_single_threaded(n_threads):
    """Context that holds BLAS at one thread while an OpenMP kernel calls it.

    With ``n_threads == 1`` nothing needs changing and a no-op context is returned,
    which keeps small single-threaded calls free of any overhead. (Except in the
    thread of a forked child left serial while the process-wide count is higher:
    there BLAS is held too, so that the bits stay those of any other thread count.)
    """
    if n_threads <= 1 and (_state["n_threads"] or 1) <= 1:
        return contextlib.nullcontext()
    return _BlasOneThread()


# --- fork ------------------------------------------------------------------------------

_OMP = {"pause": None, "resolved": False}
# Tests set this to False to exercise the fallback for runtimes without the pause call.
_PAUSE_BEFORE_FORK = True


def _openmp_built():
    """Whether pydl's kernels were built with OpenMP (cached)."""
    if "built" not in _OMP:
        try:
            from ._ext import _build_info
            _OMP["built"] = bool(_build_info.openmp_enabled())
        except ImportError:
            _OMP["built"] = False
    return _OMP["built"]


def _omp_pause_function():
    """``omp_pause_resource_all`` of the OpenMP runtime pydl's kernels use, or None.

    Looked up through the extension's own handle, so that it is the runtime the
    kernels are linked to (a wheel's bundled libgomp, not another package's copy).
    """
    if not _OMP["resolved"]:
        _OMP["resolved"] = True
        try:
            from ._ext import _build_info

            if _build_info.openmp_enabled():
                fn = ctypes.CDLL(_build_info.__file__).omp_pause_resource_all
                fn.argtypes = [ctypes.c_int]
                fn.restype = ctypes.c_int
                _OMP["pause"] = fn
        except (ImportError, OSError, AttributeError):
            _OMP["pause"] = None
    return _OMP["pause"]


def _kernel_openmp_path():
    """Path of the OpenMP runtime pydl's kernels are linked to, or None."""
    try:
        from ._ext import _build_info

        if not _build_info.openmp_enabled():
            return None
        fn = ctypes.CDLL(_build_info.__file__).omp_get_num_procs

        class _DlInfo(ctypes.Structure):
            _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                        ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]

        info = _DlInfo()
        if ctypes.CDLL(None).dladdr(ctypes.cast(fn, ctypes.c_void_p), ctypes.byref(info)):
            return os.path.realpath(info.dli_fname.decode())
    except (ImportError, OSError, AttributeError):
        pass
    return None


def _before_fork():
    """In the parent, just before fork: release this thread's OpenMP thread pool.

    libgomp's worker threads do not survive fork, but the pool that lists them does:
    the child's first parallel region waits for them forever. Pausing the runtime
    (OpenMP 5.0, ``omp_pause_soft``) joins them here; the child starts with no pool
    and builds a fresh one, and so does the parent on its next kernel.
    """
    _state["_paused"] = False
    ident = threading.get_ident()
    if ident not in _state["omp_idents"] or not _openmp_built():
        # This thread never ran a multi-threaded kernel, or the build has no OpenMP
        # (no thread pool to lose): the child keeps the count.
        _state["_paused"] = True
        return
    pause = _omp_pause_function() if _PAUSE_BEFORE_FORK else None
    if pause is not None:
        try:
            _state["_paused"] = pause(1) == 0   # 1: omp_pause_soft
        except Exception:  # pragma: no cover - a foreign runtime
            _state["_paused"] = False
    if _state["_paused"]:
        _state["omp_idents"].discard(ident)


def _after_fork_in_child():
    """In the child: fresh locks, forget other threads, go serial if the pool is dead."""
    global _lock
    _lock = threading.RLock()   # another thread may have held it at fork
    ident = threading.get_ident()
    # Only the forking thread lives on: drop the others' threads() blocks as if closed.
    for entry in [e for e in _blocks if e[2] != ident]:
        _close_block(entry[0])
    if _hold["count"] > 0:   # another thread was inside a kernel at fork
        for setter, n in _hold["saved"].values():
            setter(n)
        _hold["count"] = 0
        _hold["saved"] = {}
    _state["omp_idents"] = {ident} & _state["omp_idents"]
    if _state["fork_stale"] != ident:
        _state["fork_stale"] = None
    if not _state.get("_paused", True):
        # This thread's pool (threads that are gone) could not be released: it stays
        # serial for good, in this process and in any it forks in turn.
        if _state["fork_stale"] != ident:
            _state["fork_parent_threads"] = _state["n_threads"]
        _state["fork_stale"] = ident
        _state["fork_warned"] = False


def _after_fork_in_parent():
    _state.pop("_paused", None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child,
                        after_in_parent=_after_fork_in_parent)
