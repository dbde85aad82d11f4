"""The one place that imports the optional mpi4py package, with an error that says
what to install."""


def require_mpi():
    """Return ``mpi4py.MPI``, or raise ImportError naming the extra to install."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(
            'pydl.distributed needs mpi4py (>= 4.1) and an MPI runtime: '
            'pip install "pydl[mpi]" mpich (or use the cluster\'s MPI with mpi4py built '
            'against it), then launch with mpiexec -n <ranks> python script.py') from exc
    return MPI
