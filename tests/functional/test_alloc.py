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
