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
    pydl.set_num_threads(pydl.MAX_THREADS)   # accepted (no kernel runs here)
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
