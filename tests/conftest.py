import numpy as np
import pytest

import pydl
from pydl.functional._alloc import poisoned_outputs


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _restore_threads():
    """Tests may change the thread count; put it back after each."""
    n = pydl.get_num_threads()
    yield
    pydl.set_num_threads(n)


@pytest.fixture(autouse=True, scope="session")
def _poison_kernel_outputs():
    """Every kernel output starts as NaN (integers: their minimum) in the test suite,
    so an element a kernel forgets to write fails the comparison with the reference."""
    with poisoned_outputs():
        yield


def pytest_terminal_summary(terminalreporter):
    """Say how many malformed calls the fuzz test made (issue 7 asks for the count)."""
    import sys
    fuzz = sys.modules.get("tests.test_fuzz")
    if fuzz is not None and fuzz.CALLS["count"]:
        terminalreporter.write_line(
            f"fuzz: {fuzz.CALLS['count']} calls ({len(fuzz.CALLS['ops'])} ops and modules "
            f"given malformed arguments, each beside its valid call)")
