import numpy as np
import pytest

from pydl.data import one_hot


def test_one_hot_matches_identity_rows():
    labels = np.array([2, 0, 1, 2])
    out = one_hot(labels)
    assert out.dtype == np.float32 and out.shape == (4, 3)
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[labels])
    np.testing.assert_array_equal(one_hot(labels, 5).argmax(-1), labels)


def test_one_hot_keeps_the_label_shape():
    labels = np.array([[0, 1], [3, 2]])
    out = one_hot(labels, num_classes=4, dtype=np.int64)
    assert out.shape == (2, 2, 4) and out.dtype == np.int64
    np.testing.assert_array_equal(out.argmax(-1), labels)
    assert one_hot(np.zeros(0, np.int64), 3).shape == (0, 3)


def test_one_hot_bad_labels():
    with pytest.raises(ValueError, match="outside \\[0, 3\\)"):
        one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="labels must be >= 0"):
        one_hot(np.array([-1, 0]))
    with pytest.raises(TypeError, match="labels must be an array of kind"):
        one_hot(np.array([0.5]))
    with pytest.raises(ValueError, match="num_classes is needed"):
        one_hot(np.zeros(0, np.int64))
