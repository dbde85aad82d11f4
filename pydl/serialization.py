"""Checkpoints: ``pydl.save`` / ``pydl.load`` of a whole training state in one .npz
(or one safetensors file: see :func:`save` for its layout and :mod:`pydl._safetensors`
for the checks its reader makes, which give the same CheckpointError contract).

One file holds the model's state_dict, the optimizer's and scheduler's state, the epoch,
a random generator's state and any extra metadata. Arrays are stored as .npy entries;
everything else (nested dicts, lists, numbers, strings) as JSON in a uint8 array named
``__meta__``, with each array replaced by a reference to its entry.

Loading treats the file as untrusted. No pickle is ever read, so a checkpoint cannot
run code, and a malformed file of any kind raises :class:`CheckpointError` naming the
file and the fault, never MemoryError, RecursionError or a hang:

- only a regular file is read (a FIFO, a device or a directory is refused at once);
- the zip's central directory is size-checked before it is parsed, and a member is
  decoded only when the metadata refers to it;
- a member's .npy header (numeric dtypes only) must agree with the zip's declared
  sizes, which must fit the file (deflate: at most 1032:1), before any allocation;
- arrays are decompressed a few MiB at a time into preallocated arrays, so loading
  needs the arrays' size plus a constant (1.01x for a 1 GiB checkpoint);
- the metadata is limited to ``MAX_META_BYTES`` and ``MAX_META_DEPTH`` levels of JSON
  nesting, and each field's type is checked.

Saving is atomic: the checkpoint is written to a temporary file in the same directory,
flushed and fsynced, then renamed over the target with ``os.replace`` (and the
directory fsynced). A process killed during a save leaves the previous checkpoint
intact (at worst a stray ``.<name>.*.tmp`` file next to it). A symlink is followed (its
target is replaced, the link kept); a new file gets the umask's permissions (0644
under 022) and an existing one keeps its mode.
"""

import json
import math
import numbers
import os
import stat
import struct
import zipfile
import zlib

import numpy as np

from . import _safetensors
from . import random as _random
from ._json_limits import json_depth as _json_depth
from ._version import __version__
from .nn.module import Module

__all__ = ["CheckpointError", "load", "save"]

FORMAT = "pydl-checkpoint"
FORMAT_VERSION = 1
_META = "__meta__"


class CheckpointError(ValueError):
    """A checkpoint file is corrupt, truncated, or not a pydl checkpoint."""


# ------------------------------------------------------------------ encoding
class _Encoder:
    """Turn nested Python/NumPy values into JSON-able data plus a dict of arrays."""

    def __init__(self):
        self.arrays = {}

    def add_array(self, name, value):
        value = np.asarray(value)
        if value.dtype.kind not in "biufc":
            raise TypeError(f"cannot save {name}: arrays of dtype {value.dtype} are not "
                            f"supported (only numeric arrays can be loaded without pickle)")
        self.arrays[name] = value
        return {"__array__": name}

    def encode(self, value, where):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, np.ndarray):  # 0-d too: keeps its dtype
            return self.add_array(f"arr/{len(self.arrays)}", value)
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            return {"__float__": repr(float(value))}  # keeps nan/inf and every bit
        if isinstance(value, dict):
            items = [[self.encode(k, where), self.encode(v, f"{where}[{k!r}]")]
                     for k, v in value.items()]
            return {"__dict__": items}
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        raise TypeError(f"cannot save {where}: values of type {type(value).__name__} are not "
                        f"supported (use numbers, strings, lists, dicts and arrays)")


def _decode(value, archive, path, depth=0):
    """Undo :meth:`_Encoder.encode`, checking the form of each entry; arrays come
    from ``archive`` (decoded only when referenced)."""
    if depth > MAX_META_DEPTH:  # _read_meta checked this already; belt and braces
        raise CheckpointError(f"{path}: metadata nested more than {MAX_META_DEPTH} deep")
    if isinstance(value, list):
        return [_decode(v, archive, path, depth + 1) for v in value]
    if not isinstance(value, dict):
        return value  # None, bool, int, str (and a bare float, which save never writes)
    if len(value) != 1:
        raise CheckpointError(f"{path}: unexpected metadata entry {sorted(value)[:5]}")
    (tag, body), = value.items()
    if tag == "__array__":
        return archive.array(body)
    if tag == "__float__":
        if not isinstance(body, str) or len(body) > 64:
            raise CheckpointError(f"{path}: a __float__ entry must be a short string, "
                                  f"got {_describe(body)}")
        try:
            return float(body)
        except ValueError:
            raise CheckpointError(f"{path}: bad __float__ entry {body!r}") from None
    if tag == "__tuple__":
        if not isinstance(body, list):
            raise CheckpointError(f"{path}: a __tuple__ entry must be a list, "
                                  f"got {_describe(body)}")
        return tuple(_decode(v, archive, path, depth + 1) for v in body)
    if tag == "__dict__":
        if not isinstance(body, list):
            raise CheckpointError(f"{path}: a __dict__ entry must be a list of pairs, "
                                  f"got {_describe(body)}")
        out = {}
        for pair in body:
            if not isinstance(pair, list) or len(pair) != 2:
                raise CheckpointError(f"{path}: a __dict__ item must be a [key, value] "
                                      f"pair, got {_describe(pair)}")
            key = _hashable(_decode(pair[0], archive, path, depth + 1))
            try:
                hash(key)
            except TypeError:
                raise CheckpointError(f"{path}: a dict key of type {type(key).__name__} "
                                      f"cannot be a key") from None
            out[key] = _decode(pair[1], archive, path, depth + 1)
        return out
    raise CheckpointError(f"{path}: unexpected metadata entry {[tag]}")


def _hashable(key):
    return key.item() if isinstance(key, np.ndarray) and key.ndim == 0 else key


# ---------------------------------------------------------------------- rng
def _rng_state(rng):
    """The bit-generator state of ``rng`` (a Generator, BitGenerator, pydl.random,
    or a state dict already)."""
    if rng is None:
        return None
    if rng is _random or rng is _random.default_generator:
        return _random.get_state()
    if isinstance(rng, np.random.Generator):
        return rng.bit_generator.state
    if isinstance(rng, np.random.BitGenerator):
        return rng.state
    if isinstance(rng, dict) and "bit_generator" in rng:
        return rng
    raise TypeError(f"rng must be a numpy.random.Generator, pydl.random or a generator "
                    f"state dict, got {type(rng).__name__}")


def _restore_rng(rng, state, path):
    if state is None:
        raise ValueError(f"{path}: the checkpoint holds no random generator state to restore")
    if rng is _random or rng is _random.default_generator:
        target = _random.default_generator().bit_generator
    elif isinstance(rng, np.random.Generator):
        target = rng.bit_generator
    elif isinstance(rng, np.random.BitGenerator):
        target = rng
    else:
        raise TypeError(f"rng must be a numpy.random.Generator or pydl.random, "
                        f"got {type(rng).__name__}")
    if state.get("bit_generator") != type(target).__name__:
        raise ValueError(f"{path}: the saved generator state is for "
                         f"{state.get('bit_generator')}, the generator given uses "
                         f"{type(target).__name__}")
    try:
        target.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise CheckpointError(f"{path}: the saved {state['bit_generator']} state is "
                              f"malformed ({type(exc).__name__}: {exc})") from None


# --------------------------------------------------------------------- save
def _atomic_write(path, write):
    """Call ``write(file)`` on a temporary file, then move it over ``path`` atomically.

    A symlink is followed: its target is replaced (the link stays a link). A new file
    gets the permissions ``open()`` would give it (0666 less the umask, e.g. 0644); an
    existing one keeps its mode."""
    path = os.path.realpath(os.fsdecode(path))  # str: a bytes path works too
    directory, base = os.path.split(path)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
             | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0))
    for _ in range(100):
        tmp = os.path.join(directory, f".{base}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)  # the kernel applies the umask
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"no free temporary name for {path} in {directory}")
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def save(path, *, model=None, optimizer=None, scheduler=None, epoch=None, rng=None,
         extra=None, format=None, metadata=None):
    """Write a checkpoint to ``path`` atomically (.npz or safetensors, no pickle).

    Parameters
    ----------
    path : str or os.PathLike
        The file to (re)write; the name is used as given (no suffix is added).
    model : pydl.nn.Module, optional
        Its ``state_dict()`` is saved.
    optimizer, scheduler : objects with ``state_dict()``, optional
    epoch : int, optional
        E.g. the number of epochs completed.
    rng : numpy.random.Generator, pydl.random, or a generator state dict, optional
        Its state is saved so shuffling and dropout resume where they stopped; pass
        the ``pydl.random`` module for pydl's default generator.
    extra : dict, optional
        Any other metadata: numbers, strings, lists, dicts and numeric arrays.
    format : {"npz", "safetensors"}, optional
        Default: "safetensors" when ``path`` ends in ``.safetensors``, else "npz".
    metadata : dict of str to str, optional
        safetensors only: written into the header's ``__metadata__``, where any
        safetensors reader sees it (``"format": "pt"`` is written unless given).

    Notes
    -----
    A safetensors file holds tensors and a map of strings. pydl writes the model's
    state_dict as tensors under their own names (``"0.weight"``), so a file saved
    with only ``model=`` is an ordinary weights file:
    ``model.load_state_dict(safetensors.torch.load_file(path))`` loads it into the
    PyTorch twin. Everything else (optimizer and scheduler state, epoch, generator
    state, ``extra``) is kept as in the .npz format: its arrays become tensors named
    ``__pydl__/arr/<i>`` and the rest is JSON in the ``__metadata__`` entry
    ``"pydl"``. Those tensors are then in the file for every reader too, so save the
    training state separately from weights meant to be shared.
    """
    if format is None:
        format = "safetensors" if os.fsdecode(path).endswith(".safetensors") else "npz"
    if format not in ("npz", "safetensors"):
        raise ValueError(f"format must be 'npz' or 'safetensors', got {format!r}")
    if metadata is not None and format != "safetensors":
        raise ValueError("metadata= is written by format='safetensors' only; "
                         "use extra= for an .npz checkpoint")
    enc = _Encoder()
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "pydl_version": __version__}
    if model is not None:
        if not isinstance(model, Module):
            raise TypeError(f"model must be a pydl.nn.Module, got {type(model).__name__}")
        meta["model"] = [enc.add_array(f"model/{k}", v)["__array__"]
                         for k, v in model.state_dict().items()]
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is not None:
            if not callable(getattr(obj, "state_dict", None)):
                raise TypeError(f"{name} must have a state_dict() method, "
                                f"got {type(obj).__name__}")
            meta[name] = enc.encode(obj.state_dict(), f"{name}.state_dict()")
    if epoch is not None:
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral):
            raise TypeError(f"epoch must be an int, got {type(epoch).__name__}")
        meta["epoch"] = int(epoch)
    if rng is not None:
        meta["rng"] = enc.encode(_rng_state(rng), "rng state")
    if extra is not None:
        if not isinstance(extra, dict):
            raise TypeError(f"extra must be a dict, got {type(extra).__name__}")
        meta["extra"] = enc.encode(extra, "extra")
    blob = json.dumps(meta, allow_nan=False).encode("utf-8")
    if len(blob) > MAX_META_BYTES:
        raise ValueError(f"cannot save: the metadata takes {len(blob)} bytes of JSON, more "
                         f"than the {MAX_META_BYTES} a checkpoint may hold (store large "
                         f"data as numpy arrays)")
    if _json_depth(blob.decode("utf-8"), MAX_META_DEPTH) > MAX_META_DEPTH:
        raise ValueError(f"cannot save: the metadata is nested more than {MAX_META_DEPTH} "
                         f"levels deep as JSON (each dict takes 3, each list or tuple 1-2)")
    if format == "safetensors":
        tensors, strings = _safetensors_layout(enc.arrays, blob, metadata)
        _atomic_write(path, lambda f: _safetensors.write(f, tensors, strings))
        return
    arrays = dict(enc.arrays)
    arrays[_META] = np.frombuffer(blob, dtype=np.uint8)
    _atomic_write(path, lambda f: np.savez(f, **arrays))


# The safetensors layout: model tensors under their state_dict keys, other arrays
# under this prefix, the checkpoint's JSON metadata in __metadata__[_ST_META].
_ST_PREFIX = "__pydl__/"
_ST_META = "pydl"


def _safetensors_name(name):
    """Where the array the metadata calls ``name`` is stored in a safetensors file."""
    return name[len("model/"):] if name.startswith("model/") else _ST_PREFIX + name


def _safetensors_layout(arrays, blob, metadata):
    """The tensors and string metadata of a safetensors checkpoint."""
    strings = {"format": "pt"}
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise TypeError(f"metadata must be a dict of str to str, "
                            f"got {type(metadata).__name__}")
        if _ST_META in metadata:
            raise ValueError(f"metadata key {_ST_META!r} is pydl's own; choose another")
        strings.update(metadata)
    strings[_ST_META] = blob.decode("utf-8")
    tensors = {}
    for name, value in arrays.items():
        key = _safetensors_name(name)
        if name.startswith("model/") and (key.startswith(_ST_PREFIX)
                                          or key == "__metadata__"):
            raise ValueError(f"cannot save the model as safetensors: its state_dict key "
                             f"{key!r} collides with a name pydl's layout reserves")
        tensors[key] = value
    return tensors, strings


# --------------------------------------------------------------------- load
# Limits on what a checkpoint may declare. A file outside them is refused before
# anything is allocated for it; pydl.save refuses to write one.
MAX_META_BYTES = 64 * 2 ** 20   # the JSON metadata
MAX_META_DEPTH = 128            # nesting of JSON arrays and objects in it
MAX_MEMBERS = 1 << 18           # entries in the zip's central directory
_MAX_CENTRAL_DIR = 64 * 2 ** 20
_DEFLATE_MAX_RATIO = 1032       # deflate expands at most ~1032:1
_READ_CHUNK = 4 * 2 ** 20       # bytes decompressed at a time: the whole overhead
_ECD_ENTRIES, _ECD_SIZE = 4, 5  # entry count, directory size in zipfile._EndRecData's list
# What reading an untrusted archive can raise; any of these means a malformed file.
_MALFORMED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError,
              IndexError, TypeError, OverflowError, struct.error, NotImplementedError,
              RuntimeError, SyntaxError)


def _open_regular(path):
    """``path`` opened for reading if it is a regular file (symlinks followed), with
    its size; never blocks on a FIFO nor reads a device."""
    flags = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
             | getattr(os, "O_BINARY", 0))
    try:
        fd = os.open(path, flags)
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else
                    "a FIFO" if stat.S_ISFIFO(st.st_mode) else
                    "a socket" if stat.S_ISSOCK(st.st_mode) else
                    "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                    else "not a regular file")
            raise CheckpointError(f"{path}: is {kind}, not a checkpoint file "
                                  f"(only regular files are read)")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), st.st_size
    except BaseException:
        os.close(fd)
        raise


class _Archive:
    """The members of a checkpoint's zip, decoded one by one on demand.

    Only the central directory is read up front (its size and entry count checked
    first). An array member is decoded when asked for: its .npy header is checked
    against the zip's declared sizes, then the data is decompressed
    ``_READ_CHUNK`` bytes at a time straight into a preallocated array, so the
    memory used is the arrays returned plus a constant."""

    metadata = None  # safetensors' string map; an .npz has none

    def __init__(self, f, size, path):
        self.path, self.size, self.cache = path, size, {}
        try:
            # zipfile's own reader of the end record (private, but there since 2.x);
            # without it the limits below are skipped, not the load
            end_record = getattr(zipfile, "_EndRecData", None)
            end = end_record(f) if end_record else [0] * 10
            if end is None:
                raise CheckpointError(f"{path}: not a pydl checkpoint (not a zip archive)")
            if end[_ECD_ENTRIES] > MAX_MEMBERS:
                raise CheckpointError(f"{path}: the zip declares "
                                      f"{end[_ECD_ENTRIES]} members, more "
                                      f"than the {MAX_MEMBERS} a checkpoint may have")
            if end[_ECD_SIZE] > min(_MAX_CENTRAL_DIR, size):
                raise CheckpointError(f"{path}: the zip's central directory declares "
                                      f"{end[_ECD_SIZE]} bytes in a file of {size}")
            f.seek(0)
            self.zip = zipfile.ZipFile(f)
            self.members = {}
            for info in self.zip.infolist():
                if info.filename in self.members:
                    raise CheckpointError(f"{path}: the zip holds {info.filename!r} twice")
                self.members[info.filename] = info
        except CheckpointError:
            raise
        except _MALFORMED as exc:
            raise CheckpointError(f"{path}: corrupt or truncated checkpoint, not a readable "
                                  f"zip archive ({type(exc).__name__}: {exc})") from None

    def __contains__(self, name):
        return name + ".npy" in self.members

    def read_meta(self):
        return _read_meta(self, self.path)

    def array(self, name, max_bytes=None):
        """The array stored under ``name`` (decoded once, then cached)."""
        if not isinstance(name, str):
            raise CheckpointError(f"{self.path}: an array reference must be a string, "
                                  f"got {type(name).__name__}")
        if name not in self.cache:
            if name not in self:
                raise CheckpointError(f"{self.path}: metadata refers to a missing array "
                                      f"{name!r}")
            try:
                self.cache[name] = self._decode(name, self.members[name + ".npy"], max_bytes)
            except CheckpointError:
                raise
            except _MALFORMED as exc:
                raise CheckpointError(f"{self.path}: corrupt or truncated array {name!r} "
                                      f"({type(exc).__name__}: {exc})") from None
        return self.cache[name]

    def _decode(self, name, info, max_bytes):
        where = f"{self.path}: array {name!r}"
        if info.flag_bits & 0x1:
            raise CheckpointError(f"{where} is encrypted")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.compress_size != info.file_size:
                raise CheckpointError(f"{where} is stored uncompressed, yet declares "
                                      f"{info.file_size} bytes in {info.compress_size}")
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            if info.file_size > info.compress_size * _DEFLATE_MAX_RATIO + 1024:
                raise CheckpointError(f"{where} declares {info.file_size} bytes deflated "
                                      f"into {info.compress_size}, more than deflate can "
                                      f"expand")
        else:
            raise CheckpointError(f"{where} uses zip compression method "
                                  f"{info.compress_type} (only stored and deflated are read)")
        if info.header_offset + 30 + info.compress_size > self.size:
            raise CheckpointError(f"{where} declares {info.compress_size} bytes at offset "
                                  f"{info.header_offset}, past the end of the "
                                  f"{self.size}-byte file")
        if max_bytes is not None and info.file_size > max_bytes + 4096:
            raise CheckpointError(f"{where} declares {info.file_size} bytes, more than "
                                  f"the {max_bytes} allowed")
        with self.zip.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise CheckpointError(f"{where}: unsupported .npy format version {version}")
            if (dtype.kind not in "biufc" or dtype.hasobject or dtype.fields is not None
                    or dtype.subdtype is not None):
                raise CheckpointError(f"{where} has dtype {dtype}; only numeric arrays are "
                                      f"read (no pickle, no structured dtypes)")
            if any(d < 0 for d in shape):
                raise CheckpointError(f"{where} declares a negative shape {shape}")
            count = math.prod(shape)
            nbytes = count * dtype.itemsize
            data_size = info.file_size - member.tell()
            if nbytes != data_size:
                raise CheckpointError(f"{where} declares shape {shape} of {dtype} "
                                      f"({nbytes} bytes) but its member holds {data_size} "
                                      f"bytes of data")
            flat = np.empty(count, dtype)
            view = memoryview(flat.view(np.uint8))
            done = 0
            while done < nbytes:
                chunk = member.read(min(_READ_CHUNK, nbytes - done))
                if not chunk:
                    raise EOFError("the member ends early")
                view[done:done + len(chunk)] = chunk
                done += len(chunk)
            if member.read(1):  # also makes sure the CRC was checked
                raise CheckpointError(f"{where} holds data past its declared size")
        if fortran:
            return flat.reshape(shape[::-1]).T
        return flat.reshape(shape)

    def close(self):
        self.zip.close()


def _read_meta(archive, path):
    """The checkpoint's metadata, checked: a dict with a known format and version."""
    if _META not in archive:
        raise CheckpointError(f"{path}: not a pydl checkpoint (no {_META} entry)")
    blob = archive.array(_META, max_bytes=MAX_META_BYTES)
    if blob.dtype != np.uint8 or blob.ndim != 1:
        raise CheckpointError(f"{path}: not a pydl checkpoint ({_META} is {blob.dtype} of "
                              f"shape {blob.shape}, not bytes)")
    if blob.size > MAX_META_BYTES:
        raise CheckpointError(f"{path}: metadata of {blob.size} bytes, more than the "
                              f"{MAX_META_BYTES} allowed")
    try:
        text = blob.tobytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{path}: corrupt checkpoint metadata ({exc})") from None
    return _parse_meta(text, path)


def _parse_meta(text, path):
    """The checkpoint's JSON metadata ``text``, parsed and checked."""
    if _json_depth(text, MAX_META_DEPTH) > MAX_META_DEPTH:
        raise CheckpointError(f"{path}: corrupt checkpoint metadata (nested more than "
                              f"{MAX_META_DEPTH} levels deep)")

    def no_constants(name):
        raise ValueError(f"{name} is not valid JSON")
    try:
        meta = json.loads(text, parse_constant=no_constants)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"{path}: corrupt checkpoint metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a pydl checkpoint (format "
                              f"{meta.get('format') if isinstance(meta, dict) else None!r})")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path}: metadata field 'format_version' must be a "
                              f"positive int, got {_describe(version)}")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {version} "
                              f"is newer than this pydl reads ({FORMAT_VERSION})")
    return meta


class _SafetensorsArchive:
    """A safetensors file seen as a checkpoint: the same metadata and array names as
    the .npz format (see :func:`_safetensors_layout`), or, for a file pydl did not
    write, every tensor as the model's state_dict."""

    def __init__(self, f, size, path):
        self.path, self.cache = path, {}
        try:
            self.reader = _safetensors.SafetensorsReader(f, size)
        except _safetensors.SafetensorsError as exc:
            raise CheckpointError(f"{path}: not a valid safetensors file: {exc}") from None
        except (OSError, struct.error) as exc:
            raise CheckpointError(f"{path}: corrupt or truncated safetensors file "
                                  f"({type(exc).__name__}: {exc})") from None
        self.metadata = dict(self.reader.metadata)
        self.text = self.metadata.pop(_ST_META, None)

    def read_meta(self):
        if self.text is None:  # a plain weights file, e.g. from safetensors.torch
            return {"format": FORMAT, "format_version": FORMAT_VERSION,
                    "model": [f"model/{name}" for name in self.reader.names]}
        if len(self.text) > MAX_META_BYTES:
            raise CheckpointError(f"{self.path}: metadata of {len(self.text)} characters, "
                                  f"more than the {MAX_META_BYTES} allowed")
        return _parse_meta(self.text, self.path)

    def array(self, name):
        if not isinstance(name, str):
            raise CheckpointError(f"{self.path}: an array reference must be a string, "
                                  f"got {type(name).__name__}")
        key = _safetensors_name(name)
        if key not in self.reader.entries:
            raise CheckpointError(f"{self.path}: metadata refers to a missing tensor {key!r}")
        if key in self.cache:   # read once: metadata naming it again costs no memory
            return self.cache[key]
        try:
            self.cache[key] = self.reader.array(key)
            return self.cache[key]
        except _safetensors.SafetensorsError as exc:
            raise CheckpointError(f"{self.path}: {exc}") from None
        except OSError as exc:
            raise CheckpointError(f"{self.path}: tensor {key!r} could not be read "
                                  f"({type(exc).__name__}: {exc})") from None

    def close(self):
        pass


def _open_archive(f, size, path):
    """The checkpoint in ``f``, by its content: a zip is an .npz checkpoint, a length
    followed by a JSON object is safetensors; failing both, the suffix decides which
    format's error the file gets."""
    head = f.read(9)
    f.seek(0)
    if not head.startswith(b"PK") and (_safetensors.looks_like_safetensors(head)
                                       or os.fsdecode(path).endswith(".safetensors")):
        return _SafetensorsArchive(f, size, path)
    return _Archive(f, size, path)


def _describe(value):
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _field(meta, key, types, path, what):
    """``meta[key]`` (None if absent), which must be of one of ``types`` (a tuple)."""
    value = meta.get(key)
    if value is not None and (not isinstance(value, types)
                              or isinstance(value, bool) and bool not in types):
        raise CheckpointError(f"{path}: metadata field {key!r} must be {what}, "
                              f"got {_describe(value)}")
    return value


def _model_state(meta, archive, path):
    names = _field(meta, "model", list, path, "a list of array names")
    if names is None:
        return None
    state = {}
    for name in names:
        if not isinstance(name, str) or not name.startswith("model/"):
            raise CheckpointError(f"{path}: metadata field 'model' must list names "
                                  f"'model/<key>', got {_describe(name)}")
        key = name[len("model/"):]
        if key in state:
            raise CheckpointError(f"{path}: metadata field 'model' lists {name!r} twice")
        state[key] = archive.array(name)
    return state


def load(path, model=None, optimizer=None, scheduler=None, rng=None):
    """Read a checkpoint written by :func:`save`, restoring into the objects given.

    The format is told by the content, whatever the name: an .npz checkpoint, or a
    safetensors file (pydl's own, or any other: e.g. a PyTorch state_dict saved with
    ``safetensors.torch.save_file``, whose tensors become the ``model`` state; bfloat16
    tensors are widened to float32, 8-bit float types are refused).

    Parameters
    ----------
    path : str or os.PathLike
    model : pydl.nn.Module, optional
        Receives the saved weights (``load_state_dict``, strict).
    optimizer, scheduler : optional
        Receive their saved state (``load_state_dict``).
    rng : numpy.random.Generator or pydl.random, optional
        Receives the saved generator state.

    Returns
    -------
    dict
        ``model`` (the state_dict), ``optimizer``, ``scheduler`` (their state dicts),
        ``epoch``, ``rng_state`` (a bit-generator state dict, e.g. for
        ``np.random.default_rng().bit_generator.state = ...``), ``extra``,
        ``pydl_version``; None for what was not saved. ``metadata``: a safetensors
        file's ``__metadata__`` strings (less pydl's own entry); None for an .npz.

    Raises
    ------
    FileNotFoundError
        No such file.
    CheckpointError (a ValueError)
        A corrupt, truncated, crafted or foreign file, or not a regular file (a
        directory, FIFO or device); the message names the file and what is wrong.
    ValueError
        A restore target given for state the checkpoint does not hold, or a model
        whose parameters do not match (``load_state_dict``).
    """
    path = os.fspath(path)
    f, size = _open_regular(path)
    with f:
        archive = _open_archive(f, size, path)
        try:
            meta = archive.read_meta()
            result = {
                "model": _model_state(meta, archive, path),
                "optimizer": _decode(meta.get("optimizer"), archive, path),
                "scheduler": _decode(meta.get("scheduler"), archive, path),
                "epoch": _field(meta, "epoch", (int,), path, "an int"),
                "rng_state": _decode(meta.get("rng"), archive, path),
                "extra": _decode(meta.get("extra"), archive, path),
                "pydl_version": _field(meta, "pydl_version", (str,), path, "a string"),
                "metadata": archive.metadata,
            }
        finally:
            archive.close()
    state = result["rng_state"]
    if state is not None and not (isinstance(state, dict)
                                  and isinstance(state.get("bit_generator"), str)):
        raise CheckpointError(f"{path}: metadata field 'rng' must be a bit-generator state "
                              f"(a dict with a 'bit_generator' name), got {_describe(state)}")
    if result["extra"] is not None and not isinstance(result["extra"], dict):
        raise CheckpointError(f"{path}: metadata field 'extra' must be a dict, "
                              f"got {_describe(result['extra'])}")
    for name, obj in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is None:
            continue
        if result[name] is None:
            raise ValueError(f"{path}: the checkpoint holds no {name} state to restore")
        obj.load_state_dict(result[name])
    if rng is not None:
        _restore_rng(rng, result["rng_state"], path)
    return result
