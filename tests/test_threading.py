import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import pydl


def _blas_threads():
    return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def test_set_get_and_context():
    pydl.set_num_threads(1)
    assert pydl.get_num_threads() == 1
    assert set(_blas_threads().values()) == {1}
    with pydl.threads(3) as n:
        assert n == 3 and pydl.get_num_threads() == 3
        assert set(_blas_threads().values()) == {3}
    assert pydl.get_num_threads() == 1


def test_context_restores_after_error():
    pydl.set_num_threads(2)
    with pytest.raises(KeyError):
        with pydl.threads(1):
            raise KeyError
    assert pydl.get_num_threads() == 2


def test_validation():
    with pytest.raises(ValueError, match="n_threads must be >= 1"):
        pydl.set_num_threads(0)
    with pytest.raises(TypeError, match="n_threads must be an int"):
        pydl.set_num_threads(2.0)
    with pytest.raises(TypeError, match="n_threads must be an int"):
        pydl.set_num_threads(True)
    pydl.set_num_threads(np.int64(2))
    assert pydl.get_num_threads() == 2


def test_blas_is_single_threaded_inside_kernels_and_restored():
    from pydl._threading import _kernel_blas_libs, blas_single_threaded
    pydl.set_num_threads(2)
    kernel_libs = _kernel_blas_libs()
    assert kernel_libs
    with blas_single_threaded(2):
        assert {lc.get_num_threads() for lc in kernel_libs} == {1}
    assert set(_blas_threads().values()) == {2}


@pytest.mark.parametrize("env,expected", [("3", 3), ("1", 1), ("4,2", 4)])
def test_default_follows_omp_num_threads(env, expected):
    code = "import pydl; print(pydl.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": env}, check=True)
    assert int(out.stdout) == expected


def test_default_without_env_is_physical_cores():
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    code = "import pydl; print(pydl.get_num_threads(), pydl._threading.physical_cpu_count())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    n, phys = map(int, out.stdout.split())
    assert n == phys >= 1


def test_show_config():
    cfg = pydl.show_config(print_out=False)
    assert cfg["version"] == pydl.__version__
    assert isinstance(cfg["openmp"], bool)
    assert cfg["num_threads"] == pydl.get_num_threads()
    assert cfg["blas"] and all("threading_layer" in b for b in cfg["blas"])
