import numpy as np
import pytest

import pydl
from pydl.data import DataLoader, iterate_minibatches


def _data(n=10):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    return x, np.arange(n)


@pytest.mark.parametrize("n, b, drop_last, sizes", [
    (10, 4, False, [4, 4, 2]), (10, 4, True, [4, 4]), (10, 5, False, [5, 5]),
    (3, 10, False, [3]), (3, 10, True, []), (1, 1, False, [1]),
])
def test_batch_sizes_and_len(n, b, drop_last, sizes):
    x, y = _data(n)
    loader = DataLoader(x, y, batch_size=b, drop_last=drop_last)
    assert [len(xb) for xb, _ in loader] == sizes
    assert len(loader) == len(sizes)


def test_without_shuffle_batches_are_in_order_and_pair_x_with_y():
    x, y = _data()
    batches = list(DataLoader(x, y, batch_size=4))
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in batches]), y)
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], yb * 3)


def test_shuffle_covers_every_sample_once_and_reshuffles_each_epoch():
    x, y = _data(50)
    loader = DataLoader(x, y, batch_size=8, shuffle=True, generator=np.random.default_rng(0))
    epochs = [np.concatenate([yb for _, yb in loader]) for _ in range(3)]
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), y)
    assert not np.array_equal(epochs[0], epochs[1])
    assert not np.array_equal(epochs[1], epochs[2])
    for xb, yb in loader:  # x and y stay paired after shuffling
        np.testing.assert_array_equal(xb[:, 0], yb * 3)


def test_seeded_shuffles_are_reproducible():
    x, y = _data(30)

    def orders(gen):
        loader = DataLoader(x, y, batch_size=7, shuffle=True, generator=gen)
        return [np.concatenate([yb for _, yb in loader]) for _ in range(2)]

    a, b = orders(np.random.default_rng(3)), orders(np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(orders(5), orders(5))  # an int seed works too
    pydl.manual_seed(11)
    c = orders(None)
    pydl.manual_seed(11)
    np.testing.assert_array_equal(c, orders(None))


def test_x_only_and_iterate_minibatches():
    x, _ = _data(5)
    batches = list(DataLoader(x, batch_size=2))
    assert [b.shape for b in batches] == [(2, 3), (2, 3), (1, 3)]
    got = list(iterate_minibatches(x, None, batch_size=2, shuffle=False))
    np.testing.assert_array_equal(np.concatenate(got), x)


def test_bad_arguments():
    x, y = _data(5)
    with pytest.raises(ValueError, match="inconsistent numbers of samples: x has 5, y has 4"):
        DataLoader(x, y[:4])
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        DataLoader(x, y, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        DataLoader(x, y, batch_size=2.0)
    with pytest.raises(ValueError, match="x is empty"):
        DataLoader(x[:0], y[:0])
    with pytest.raises(TypeError, match="x must be a numpy array"):
        DataLoader("abc")
    with pytest.raises(TypeError, match="generator"):
        DataLoader(x, generator="seed")


def test_a_memmap_is_read_one_batch_at_a_time(tmp_path):
    x, y = _data(23)
    m = np.memmap(tmp_path / "x.bin", np.float32, "w+", shape=x.shape)
    m[...] = x
    m.flush()
    xm = np.memmap(tmp_path / "x.bin", np.float32, "r", shape=x.shape)
    for shuffle in (False, True):
        a = list(DataLoader(x, y, batch_size=4, shuffle=shuffle, generator=3))
        b = list(DataLoader(xm, y, batch_size=4, shuffle=shuffle, generator=3))
        for (xa, ya), (xb, yb) in zip(a, b):
            assert type(xb) is np.ndarray  # an in-memory copy of the batch's rows only
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
    # shuffled epochs draw what generator.permutation(n) draws
    order = np.concatenate(DataLoader(x, batch_size=5, shuffle=True,
                                      generator=np.random.default_rng(9)).batch_indices())
    np.testing.assert_array_equal(order, np.random.default_rng(9).permutation(23))


def test_check_finite_scans_in_chunks():
    from pydl.data._checks import check_finite
    x = np.zeros((300, 1000), np.float32)
    check_finite(x, "x")
    x[299, 999] = np.nan
    with pytest.raises(ValueError, match=r"^x contains NaN or infinity \(here\)$"):
        check_finite(x, "x", " (here)")
    with pytest.raises(ValueError, match="v contains NaN"):
        check_finite(np.array([np.inf]), "v")
    check_finite(np.array([1, 2]), "i")  # integers: nothing to check
