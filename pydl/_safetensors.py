"""The safetensors file format, read and written with NumPy alone.

A file is ``u64 little-endian N``, then ``N`` bytes of a UTF-8 JSON object (padded with
spaces), then one byte buffer::

    {"__metadata__": {str: str},
     name: {"dtype": "F32", "shape": [d0, d1], "data_offsets": [begin, end]}, ...}

Offsets are relative to the buffer; tensors are C-ordered, little-endian and tile the
buffer exactly (no gap, no overlap, nothing after the last one).

The reader treats the file as untrusted: the header's length, its nesting, each entry's
form, dtype and shape, and the tiling of the buffer are all checked before any tensor
is allocated, so nothing is ever allocated beyond the file's own size because a header
says so. Faults raise :class:`SafetensorsError` (a ValueError) with a message that does
not name the file; :mod:`pydl.serialization` adds the name.
"""

import json
import math
import struct

import numpy as np

from ._json_limits import json_depth

__all__ = ["MAX_HEADER_BYTES", "SafetensorsError", "SafetensorsReader", "dtype_code",
           "looks_like_safetensors", "write"]

# The reference implementation's own limit on the JSON header.
MAX_HEADER_BYTES = 100_000_000
_MAX_NDIM = 64  # NumPy's limit
_MAX_BYTES = np.iinfo(np.intp).max  # NumPy's limit on an array's size in bytes
_HEADER_DEPTH = 3  # {name: {"shape": [...]}}: a valid header nests no deeper
_METADATA = "__metadata__"

# Little-endian NumPy dtype of each code pydl reads and writes.
_DTYPES = {
    "BOOL": np.dtype("|b1"), "U8": np.dtype("|u1"), "I8": np.dtype("|i1"),
    "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"), "U64": np.dtype("<u8"), "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8"),
    "C64": np.dtype("<c8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in _DTYPES.items()}
# bfloat16 has no NumPy dtype: it is read as its uint16 bits and widened to float32,
# which holds every bfloat16 value exactly.
_BF16 = "BF16"
# Codes of the format that pydl cannot represent (8-, 6- and 4-bit floats).
_UNSUPPORTED = ("F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4")


class SafetensorsError(ValueError):
    """A file is not a well-formed safetensors file."""


def looks_like_safetensors(head):
    """Whether ``head``, a file's first 9 bytes, starts a safetensors file: a length,
    then the JSON object's opening brace."""
    return len(head) == 9 and head[8:9] == b"{"


def dtype_code(dtype, name):
    """The safetensors code of ``dtype`` (TypeError naming ``name`` if it has none)."""
    dtype = np.dtype(dtype)
    code = _CODES.get(dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"cannot save {name} as safetensors: dtype {dtype} has no "
                        f"safetensors code (supported: {', '.join(map(str, _CODES))})")
    return code


# -------------------------------------------------------------------- write
def write(f, tensors, metadata=None):
    """Write ``tensors`` (name -> ndarray, in the header in that order) and the string
    ``metadata`` to the binary file ``f``.

    The data are laid out widest dtype first, so every tensor starts at a multiple of
    its item size (the header is padded to 8 bytes), as the reference writer does:
    readers that map the file can view each tensor in place.
    """
    header = {}
    if metadata:
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(f"safetensors metadata maps str to str, got "
                                f"{type(key).__name__} -> {type(value).__name__} for {key!r}")
        header[_METADATA] = dict(metadata)
    arrays = []
    for name, value in tensors.items():
        if not isinstance(name, str) or name == _METADATA:
            raise ValueError(f"a safetensors tensor name must be a str other than "
                             f"{_METADATA!r}, got {name!r}")
        arr = np.asarray(value)
        arrays.append((name, arr, dtype_code(arr.dtype, name)))
    order = sorted(range(len(arrays)), key=lambda i: -arrays[i][1].dtype.itemsize)
    spans, offset = {}, 0
    for i in order:
        spans[i] = (offset, offset + arrays[i][1].nbytes)
        offset += arrays[i][1].nbytes
    for i, (name, arr, code) in enumerate(arrays):
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": list(spans[i])}
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    if len(blob) > MAX_HEADER_BYTES:
        raise ValueError(f"cannot save: the safetensors header takes {len(blob)} bytes, "
                         f"more than the {MAX_HEADER_BYTES} a reader accepts")
    f.write(struct.pack("<Q", len(blob)))
    f.write(blob)
    for i in order:
        arr = arrays[i][1]
        if arr.size:
            little = np.ascontiguousarray(arr, dtype=_DTYPES[arrays[i][2]])
            f.write(little.reshape(-1).view(np.uint8).data)


# --------------------------------------------------------------------- read
def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise SafetensorsError(f"the header holds the key {key!r} twice")
        out[key] = value
    return out


def _no_constants(name):
    raise SafetensorsError(f"the header holds {name}, which is not valid JSON")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


class SafetensorsReader:
    """The checked header of an open safetensors file; tensors read on demand.

    Parameters
    ----------
    f : binary file
        Open for reading, seekable.
    size : int
        The file's size in bytes.

    Attributes
    ----------
    metadata : dict of str to str
        The header's ``__metadata__`` ({} when absent).
    names : list of str
        The tensors, in the header's order.
    """

    def __init__(self, f, size):
        self.f = f
        if size < 8:
            raise SafetensorsError(f"a file of {size} bytes is too short to hold a "
                                   f"safetensors header length")
        f.seek(0)
        (length,) = struct.unpack("<Q", self._read(8))
        if length > MAX_HEADER_BYTES:
            raise SafetensorsError(f"the header declares {length} bytes, more than the "
                                   f"{MAX_HEADER_BYTES} allowed")
        if length > size - 8:
            raise SafetensorsError(f"the header declares {length} bytes, past the end of "
                                   f"the {size}-byte file")
        self.start = 8 + length
        raw = self._read(length)
        if not raw.startswith(b"{"):
            raise SafetensorsError("the header is not a JSON object (it must start with '{')")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SafetensorsError(f"the header is not UTF-8 ({exc})") from None
        if json_depth(text, _HEADER_DEPTH) > _HEADER_DEPTH:
            raise SafetensorsError(f"the header is nested more than {_HEADER_DEPTH} "
                                   f"levels deep")
        try:
            header = json.loads(text, object_pairs_hook=_no_duplicates,
                                parse_constant=_no_constants)
        except SafetensorsError:
            raise
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
            raise SafetensorsError(f"the header is not valid JSON ({exc})") from None
        if not isinstance(header, dict):
            raise SafetensorsError(f"the header is a JSON {type(header).__name__}, "
                                   f"not an object")
        self.metadata = self._check_metadata(header.pop(_METADATA, None))
        self.entries = {name: self._check_entry(name, entry)
                        for name, entry in header.items()}
        self.names = list(self.entries)
        self._check_tiling(size - self.start)

    def _read(self, n):
        data = self.f.read(n)
        if len(data) != n:
            raise SafetensorsError(f"the file ends early: {len(data)} of {n} bytes read")
        return data

    @staticmethod
    def _check_metadata(metadata):
        if metadata is None:
            return {}
        if not isinstance(metadata, dict) or not all(
                isinstance(v, str) for v in metadata.values()):
            raise SafetensorsError(f"{_METADATA} must map strings to strings")
        return metadata

    @staticmethod
    def _check_entry(name, entry):
        """``(dtype code, shape, begin, end)`` of a header entry, each part checked."""
        where = f"tensor {name!r}"
        if not isinstance(entry, dict):
            raise SafetensorsError(f"{where}: the entry must be an object, got "
                                   f"{type(entry).__name__}")
        missing = [k for k in ("dtype", "shape", "data_offsets") if k not in entry]
        if missing:
            raise SafetensorsError(f"{where}: the entry has no {', '.join(missing)}")
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if code in _UNSUPPORTED:
            raise SafetensorsError(f"{where}: dtype {code} is not supported by pydl "
                                   f"(NumPy has no such type)")
        if code not in _DTYPES and code != _BF16:
            raise SafetensorsError(f"{where}: unknown dtype {code!r}")
        if (not isinstance(shape, list) or not all(_is_int(d) for d in shape)
                or len(shape) > _MAX_NDIM):
            raise SafetensorsError(f"{where}: the shape must be a list of at most "
                                   f"{_MAX_NDIM} ints, got {shape!r}"[:200])
        if any(d < 0 for d in shape):
            raise SafetensorsError(f"{where}: negative dimension in shape {shape}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(_is_int(o) for o in offsets)):
            raise SafetensorsError(f"{where}: data_offsets must be [begin, end], two ints, "
                                   f"got {offsets!r}"[:200])
        begin, end = offsets
        if begin < 0 or end < begin:
            raise SafetensorsError(f"{where}: data_offsets {offsets} are not "
                                   f"0 <= begin <= end")
        itemsize = 2 if code == _BF16 else _DTYPES[code].itemsize
        # NumPy refuses a shape whose nonzero dimensions multiply past its index type
        # even when another dimension is 0 (an empty tensor of shape [0, 2**62, 2**62])
        if math.prod(d for d in shape if d) * itemsize > _MAX_BYTES:
            raise SafetensorsError(f"{where}: shape {shape} is too large for an array")
        nbytes = math.prod(shape) * itemsize
        if nbytes != end - begin:
            raise SafetensorsError(f"{where}: shape {shape} of {code} takes {nbytes} "
                                   f"bytes, but data_offsets {offsets} hold {end - begin}")
        return code, tuple(shape), begin, end

    def _check_tiling(self, buffer):
        """The tensors must cover the ``buffer`` bytes exactly, one after another."""
        expected = 0
        for name, (_, _, begin, end) in sorted(self.entries.items(),
                                               key=lambda item: item[1][2:]):
            if begin < expected:
                raise SafetensorsError(f"tensor {name!r} at bytes [{begin}, {end}) overlaps "
                                       f"the tensor before it (which ends at {expected})")
            if begin > expected:
                raise SafetensorsError(f"tensor {name!r} starts at byte {begin}, leaving a "
                                       f"gap after byte {expected}")
            expected = end
        if expected > buffer:
            raise SafetensorsError(f"the tensors need {expected} bytes of data, the file "
                                   f"holds {buffer} after its header")
        if expected < buffer:
            raise SafetensorsError(f"{buffer - expected} bytes follow the last tensor "
                                   f"(the data should end at byte {expected})")

    def array(self, name):
        """The tensor ``name`` as a new native-endian ndarray (bfloat16 as float32)."""
        code, shape, begin, end = self.entries[name]
        flat = np.empty((end - begin) // (2 if code == _BF16 else _DTYPES[code].itemsize),
                        np.dtype("<u2") if code == _BF16 else _DTYPES[code])
        self.f.seek(self.start + begin)
        view = memoryview(flat.view(np.uint8))
        done = 0
        while done < len(view):
            n = self.f.readinto(view[done:])
            if not n:
                raise SafetensorsError(f"tensor {name!r}: the file ends early")
            done += n
        if code == _BF16:
            flat = (flat.astype(np.uint32) << 16).view(np.float32)
        elif not flat.dtype.isnative:
            flat = flat.astype(flat.dtype.newbyteorder("="))
        return flat.reshape(shape)
