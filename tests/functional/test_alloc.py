import numpy as np

from pydl.functional._alloc import empty, poisoned_outputs, poisoning


def test_suite_runs_with_poisoned_outputs():
    assert poisoning()
    assert np.isnan(empty((4, 3), np.float32)).all()
    assert (empty(5, np.int64) == np.iinfo(np.int64).min).all()


def test_poisoning_can_be_switched_off_locally():
    with poisoned_outputs(False):
        assert not poisoning()
        assert empty((2,), np.float64).shape == (2,)
    assert poisoning()


def test_impossible_sizes_are_value_errors_not_memory_errors():
    import pytest
    from pydl import functional as F
    huge = np.broadcast_to(np.zeros(1, np.float32), (2**40, 3))  # a view: no memory
    with pytest.raises(ValueError, match="contiguous copy of x .* more than this machine"):
        F.relu_forward(huge)
    x = np.zeros((4, 1), np.float32)
    wide = np.broadcast_to(np.zeros((1, 1), np.float32), (2**38, 1))
    with pytest.raises(ValueError, match="more than this machine"):
        F.linear_forward(x, wide)
    with pytest.raises(ValueError, match="an output of shape"):
        empty((2**20, 2**20, 2**10), np.float32)
