"""The process group: which MPI communicator pydl trains over, this process's rank.

Nothing here imports mpi4py until :func:`init` is called, so ``import pydl`` and the
training loop's checks (``is_initialized``, ``is_main_process``) work without it.
"""

import sys
import time
import traceback

from ._require import require_mpi

__all__ = [
    "barrier",
    "destroy",
    "get_comm",
    "init",
    "is_initialized",
    "is_main_process",
    "rank",
    "world_size",
]

# comm: pydl's duplicate of the user's communicator (gradients, logs); norm_comm a
# second one for SyncBatchNorm, whose blocking collectives run while gradient buckets
# are in flight: on its own communicator their relative order cannot matter.
_state = {"comm": None, "norm_comm": None, "MPI": None, "hook": None,
          "previous_hook": None}


def init(comm=None, *, abort_on_exception=True):
    """Join data-parallel training: every rank of ``mpiexec -n R`` calls this first.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        The ranks to train over; default ``MPI.COMM_WORLD``. pydl works on its own
        duplicate, so its messages never mix with the caller's.
    abort_on_exception : bool
        Install a ``sys.excepthook`` that prints the failing rank's traceback and calls
        ``MPI_Abort``, which ends every rank at once. Without it, an exception on one
        rank leaves the others waiting forever in their next collective. The hook
        sees uncaught exceptions of the main thread only: ``sys.exit(1)`` (SystemExit
        never reaches ``sys.excepthook``) or an exception caught and swallowed on one
        rank still leaves the others waiting. To abort on any unsuccessful exit,
        launch with ``mpiexec -n R python -m mpi4py script.py`` (mpi4py's runner
        calls ``MPI_Abort`` for a non-zero exit status).

    Returns
    -------
    int
        This process's rank. Calling ``init`` again returns it and changes nothing.

    Raises
    ------
    ImportError
        mpi4py is not installed (the message says what to install).
    """
    MPI = require_mpi()
    if _state["comm"] is not None:
        return _state["comm"].Get_rank()
    if comm is None:
        comm = MPI.COMM_WORLD
    if not isinstance(comm, MPI.Intracomm):
        raise TypeError(f"comm must be an mpi4py.MPI.Intracomm (e.g. MPI.COMM_WORLD), "
                        f"got {type(comm).__name__}")
    _state["MPI"] = MPI
    _state["comm"] = comm.Dup()
    _state["norm_comm"] = comm.Dup()
    if abort_on_exception and _state["hook"] is None:
        _state["previous_hook"] = sys.excepthook
        _state["hook"] = _abort_on_exception
        sys.excepthook = _abort_on_exception
    return _state["comm"].Get_rank()


def destroy():
    """Leave the process group (free pydl's communicator, put the excepthook back)."""
    comm = _state["comm"]
    if comm is None:
        return
    if sys.excepthook is _state["hook"] and _state["previous_hook"] is not None:
        sys.excepthook = _state["previous_hook"]
    norm_comm = _state["norm_comm"]
    _state.update(comm=None, norm_comm=None, hook=None, previous_hook=None)
    comm.Free()
    norm_comm.Free()


def _abort_on_exception(exc_type, exc, tb):
    comm = _state["comm"]
    who = "" if comm is None else f"rank {comm.Get_rank()} of {comm.Get_size()}: "
    lines = traceback.format_exception(exc_type, exc, tb)
    sys.stderr.write(f"pydl.distributed: {who}uncaught exception, aborting every rank\n"
                     + "".join(lines))
    sys.stderr.flush()
    if comm is None or comm.Get_size() == 1:
        (_state["previous_hook"] or sys.__excepthook__)(exc_type, exc, tb)
        return
    # The launcher forwards our stderr through a pipe, and MPI_Abort tears it down:
    # give it a moment to read the traceback first (seen lost otherwise, now and then).
    time.sleep(0.5)
    _state["MPI"].COMM_WORLD.Abort(1)


def is_initialized():
    """True after :func:`init` (and before :func:`destroy`)."""
    return _state["comm"] is not None


def get_comm():
    """pydl's communicator (a duplicate of the one given to :func:`init`)."""
    comm = _state["comm"]
    if comm is None:
        raise RuntimeError("pydl.distributed is not initialized: call "
                           "pydl.distributed.init() first (in every rank)")
    return comm


def rank():
    """This process's rank, 0 .. world_size() - 1."""
    return get_comm().Get_rank()


def world_size():
    """The number of ranks training together."""
    return get_comm().Get_size()


def is_main_process():
    """True on rank 0, and in a process that is not running data-parallel: the one
    that prints, plots and writes checkpoints."""
    comm = _state["comm"]
    return comm is None or comm.Get_rank() == 0


def barrier():
    """Wait until every rank has reached this call."""
    get_comm().Barrier()


def active_comm():
    """pydl's communicator when more than one rank trains, else None (single process:
    nothing to communicate)."""
    comm = _state["comm"]
    return comm if comm is not None and comm.Get_size() > 1 else None
