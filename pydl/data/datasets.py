"""Datasets: scikit-learn's digits, and MNIST-format IDX files."""

import gzip
import os
import zlib

import numpy as np

__all__ = ["load_digits", "load_idx"]


def load_digits(flatten=False, normalize=True, dtype=np.float32):
    """The 1,797 8x8 handwritten digits bundled with scikit-learn (no download).

    Parameters
    ----------
    flatten : bool
        Return images as (N, 64) rows instead of (N, 1, 8, 8).
    normalize : bool
        Divide the 0..16 grey levels by 16, into [0, 1].
    dtype : float dtype

    Returns
    -------
    x : ndarray (N, 1, 8, 8) or (N, 64)
    y : int64 ndarray (N,), labels 0..9
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError:
        raise ImportError("pydl.data.load_digits needs scikit-learn, which ships the "
                          "digits data: pip install scikit-learn") from None
    bunch = _sk_load_digits()
    x = bunch.data.astype(dtype)
    if normalize:
        x /= 16
    if not flatten:
        x = x.reshape(-1, 1, 8, 8)
    return np.ascontiguousarray(x), bunch.target.astype(np.int64)


# IDX type codes (third byte of the magic number) and their big-endian dtypes.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":  # gzip, whatever the file is called
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    return raw


def load_idx(path):
    """Read an IDX file (the format of the MNIST files), raw or gzip-compressed.

    The header is two zero bytes, a type code (0x08 unsigned byte, 0x09 signed byte,
    0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, then
    each dimension as a big-endian uint32; the data follow, big-endian, row-major.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ndarray
        In native byte order, with the dimensions from the header, e.g. uint8
        (60000, 28, 28) for ``train-images-idx3-ubyte``.

    Raises
    ------
    ValueError
        Naming the file, for a bad magic number, an unknown type code, or data that are
        shorter or longer than the dimensions say (a truncated download).
    """
    path = os.fspath(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: not an IDX file (only {len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (magic number starts with "
                         f"{raw[:2].hex()}, expected 0000)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x} "
                         f"(known: {', '.join(f'0x{c:02x}' for c in _IDX_TYPES)})")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header (expected {ndim} dimensions, "
                         f"file has {len(raw)} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[code])
    expected = int(np.prod(dims, dtype=object)) * dtype.itemsize
    actual = len(raw) - header
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise ValueError(f"{path}: IDX file {what}: dimensions {dims} of {dtype.name} need "
                         f"{expected} data bytes, found {actual}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))
