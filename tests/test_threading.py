import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import pydl

from .helpers import child_env


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
    with pytest.raises(TypeError, match="n_threads must be an int"):
        pydl.set_num_threads(np.bool_(True))
    pydl.set_num_threads(np.int64(2))
    assert pydl.get_num_threads() == 2


@pytest.mark.parametrize("n", [pydl.MAX_THREADS + 1, 40000, 2**63])
def test_too_many_threads_is_refused(n):
    # 40000 used to reach libgomp, which failed to create the threads and ended the
    # process; now it stops here, naming the argument and the range.
    pydl.set_num_threads(2)
    with pytest.raises(ValueError, match=r"n_threads must be between 1 and \d+"):
        pydl.set_num_threads(n)
    with pytest.raises(ValueError, match=r"n_threads must be between 1 and \d+"):
        with pydl.threads(n):
            pass
    assert pydl.get_num_threads() == 2


def test_max_threads_bound():
    assert pydl.MAX_THREADS == max(1024, 4 * (os.cpu_count() or 1))
    pydl.set_num_threads(pydl.MAX_THREADS)   # accepted (no pydl kernel runs; BLAS may
    #                                          start idle threads up to its own cap)
    assert pydl.get_num_threads() == pydl.MAX_THREADS
    pydl.set_num_threads(2)


def test_40000_threads_does_not_kill_the_process():
    code = ("import pydl, numpy as np\n"
            "try:\n    pydl.set_num_threads(40000)\nexcept ValueError:\n    print('refused')\n"
            "from pydl.functional import relu_forward\n"
            "relu_forward(np.ones(1 << 20, np.float32)); print('alive')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["refused", "alive"]


def test_blas_is_single_threaded_inside_kernels_and_restored():
    from pydl._threading import _kernel_blas_libs, blas_single_threaded
    pydl.set_num_threads(2)
    kernel_libs = _kernel_blas_libs()
    assert kernel_libs
    with blas_single_threaded(2):
        assert {lc.get_num_threads() for lc, _ in kernel_libs} == {1}
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


def test_show_config_lists_openmp_runtimes():
    cfg = pydl.show_config(print_out=False)
    runtimes = cfg["openmp_runtimes"]
    if cfg["openmp"]:
        assert [r["pydl"] for r in runtimes].count(True) == 1
        assert all(os.path.exists(r["filepath"]) for r in runtimes)


def test_show_config_warns_about_several_openmp_runtimes(tmp_path):
    # A wheel bundles its own libgomp; with PyTorch's loaded too there are two runtimes
    # whose spinning threads slow each other down. A copy of pydl's runtime under
    # another name stands in for the second one.
    cfg = pydl.show_config(print_out=False)
    mine = [r["filepath"] for r in cfg["openmp_runtimes"] if r["pydl"]]
    if not mine:
        pytest.skip("serial build: no OpenMP runtime")
    copy = tmp_path / "libgomp-copy.so.1"
    copy.write_bytes(open(mine[0], "rb").read())
    code = ("import ctypes, sys, warnings, pydl\n"
            f"ctypes.CDLL({str(copy)!r})\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    cfg = pydl.show_config(print_out=False)\n"
            "print(len(cfg['openmp_runtimes']), sum(r['pydl'] for r in cfg['openmp_runtimes']))\n"
            "print([str(x.message) for x in w if x.category is RuntimeWarning])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    counts, warned = out.stdout.splitlines()
    assert counts == "2 1"
    assert "2 OpenMP runtimes are loaded" in warned and "OMP_WAIT_POLICY=PASSIVE" in warned


def test_omp_num_threads_above_the_bound_is_capped_with_a_warning():
    code = ("import warnings\nwarnings.simplefilter('always')\nimport pydl\n"
            "print(pydl.get_num_threads() == pydl.MAX_THREADS)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env=child_env(OMP_NUM_THREADS="100000"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True"]
    assert "OMP_NUM_THREADS=100000 is above pydl.MAX_THREADS" in out.stderr
