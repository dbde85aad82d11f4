import numpy as np
import pytest

from pydl.data import train_test_split


@pytest.mark.parametrize("n, test_size, train_size", [
    (10, None, None), (10, 0.25, None), (7, 0.3, None), (100, 0.33, None), (10, 3, None),
    (10, None, 0.6), (10, None, 4), (10, 0.2, 0.5), (97, 0.5, None),
])
def test_sizes_match_scikit_learn(n, test_size, train_size):
    sk = pytest.importorskip("sklearn.model_selection")
    x = np.arange(n)
    ours = train_test_split(x, test_size=test_size, train_size=train_size, seed=0)
    theirs = sk.train_test_split(x, test_size=test_size, train_size=train_size, random_state=0)
    assert [len(a) for a in ours] == [len(a) for a in theirs]


def test_parts_are_disjoint_cover_and_keep_rows_paired():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, seed=1)
    assert len(x_te) == 5 and len(x_tr) == 15
    np.testing.assert_array_equal(np.sort(np.concatenate([y_tr, y_te])), y)
    np.testing.assert_array_equal(x_tr[:, 0], y_tr * 2)
    np.testing.assert_array_equal(x_te[:, 0], y_te * 2)
    again = train_test_split(x, y, test_size=0.25, seed=1)
    np.testing.assert_array_equal(again[3], y_te)
    other = train_test_split(x, y, test_size=0.25, seed=2)
    assert not np.array_equal(other[3], y_te)


def test_without_shuffle_the_test_set_is_the_tail():
    y = np.arange(10)
    y_tr, y_te = train_test_split(y, test_size=0.3, shuffle=False)
    np.testing.assert_array_equal(y_tr, np.arange(7))
    np.testing.assert_array_equal(y_te, [7, 8, 9])


@pytest.mark.parametrize("seed", range(4))
def test_stratify_keeps_class_proportions(seed):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2, 3], [50, 30, 15, 5])
    rng.shuffle(y)
    y_tr, y_te = train_test_split(y, test_size=0.2, stratify=y, seed=seed)
    assert len(y_te) == 20 and len(y_tr) == 80
    np.testing.assert_array_equal(np.bincount(y_te), [10, 6, 3, 1])
    np.testing.assert_array_equal(np.bincount(y_tr), [40, 24, 12, 4])


def test_stratify_rounds_within_one_of_the_exact_share():
    y = np.repeat(np.arange(7), [9, 8, 7, 6, 5, 4, 3])
    y_tr, y_te = train_test_split(y, test_size=0.3, stratify=y, seed=0)
    assert len(y_te) == 13
    exact = np.bincount(y) * 13 / len(y)
    assert np.all(np.abs(np.bincount(y_te, minlength=7) - exact) < 1)
    np.testing.assert_array_equal(np.bincount(y_te, minlength=7) + np.bincount(y_tr), np.bincount(y))


def test_bad_arguments():
    y = np.arange(10)
    with pytest.raises(ValueError, match="test_size=1.5 must be in"):
        train_test_split(y, test_size=1.5)
    with pytest.raises(ValueError, match="test_size=nan"):
        train_test_split(y, test_size=float("nan"))
    with pytest.raises(ValueError, match="test_size=10 must be between 1 and 9"):
        train_test_split(y, test_size=10)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        train_test_split(y, y[:5])
    with pytest.raises(ValueError, match="needs at least one array"):
        train_test_split()
    with pytest.raises(ValueError, match="arrays\\[0\\] is empty"):
        train_test_split(y[:0])
    with pytest.raises(ValueError, match="only 1 member"):
        train_test_split(y, stratify=np.array([0] * 9 + [1]))
    with pytest.raises(ValueError, match="needs shuffle=True"):
        train_test_split(y, stratify=y % 2, shuffle=False)
    with pytest.raises(ValueError, match="more than the 10 available"):
        train_test_split(y, test_size=0.5, train_size=0.8)
