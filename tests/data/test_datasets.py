import gzip
import struct
import sys

import numpy as np
import pytest

from pydl.data import load_digits, load_idx

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D,
         np.float64: 0x0E}


def _idx_bytes(a):
    a = np.asarray(a)
    header = bytes([0, 0, CODES[a.dtype.type], a.ndim])
    header += struct.pack(f">{a.ndim}I", *a.shape)
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("compress", [False, True])
def test_load_idx_round_trip(tmp_path, dtype, compress):
    a = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    if dtype == np.uint8:
        a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10
    raw = _idx_bytes(a)
    path = tmp_path / "data.idx"  # the suffix does not matter: gzip is sniffed
    path.write_bytes(gzip.compress(raw) if compress else raw)
    out = load_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, a)


def test_load_idx_mnist_like_labels_and_images(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    labels = np.array([5, 0, 4, 1, 9], np.uint8)
    (tmp_path / "images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(images)))
    (tmp_path / "labels-idx1-ubyte").write_bytes(_idx_bytes(labels))
    np.testing.assert_array_equal(load_idx(tmp_path / "images-idx3-ubyte.gz"), images)
    np.testing.assert_array_equal(load_idx(str(tmp_path / "labels-idx1-ubyte")), labels)


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[:-1], "truncated: dimensions \\(2, 3\\) of uint8 need 6 data bytes, found 5"),
    (lambda b: b + b"\0", "has trailing bytes"),
    (lambda b: b"\x01" + b[1:], "not an IDX file \\(magic number starts with 0100"),
    (lambda b: b[:2] + b"\x07" + b[3:], "unknown IDX type code 0x07"),
    (lambda b: b[:3] + b"\x00" + b[4:], "declares 0 dimensions"),
    (lambda b: b[:6], "truncated IDX header"),
    (lambda b: b[:2], "not an IDX file \\(only 2 bytes\\)"),
    (lambda b: gzip.compress(b)[:-6], "corrupt or truncated gzip data"),
])
def test_load_idx_bad_files_name_the_file(tmp_path, mutate, message):
    path = tmp_path / "bad-file.idx"
    path.write_bytes(mutate(_idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3))))
    with pytest.raises(ValueError, match=message) as info:
        load_idx(path)
    assert str(path) in str(info.value)


def test_load_digits_shapes():
    pytest.importorskip("sklearn")
    x, y = load_digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32 and x.flags.c_contiguous
    assert y.shape == (1797,) and y.dtype == np.int64 and set(y) == set(range(10))
    assert 0.0 <= x.min() and x.max() == 1.0
    flat, _ = load_digits(flatten=True, normalize=False, dtype=np.float64)
    assert flat.shape == (1797, 64) and flat.dtype == np.float64 and flat.max() == 16
    np.testing.assert_allclose(flat / 16, x.reshape(-1, 64))


def test_load_digits_without_scikit_learn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match="needs scikit-learn"):
        load_digits()
