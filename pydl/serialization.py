"""Checkpoints: ``pydl.save`` / ``pydl.load`` of a whole training state in one .npz.

One file holds the model's state_dict, the optimizer's and scheduler's state, the epoch,
a random generator's state and any extra metadata. Arrays are stored as .npy entries;
everything else (nested dicts, lists, numbers, strings) as JSON in a uint8 array named
``__meta__``, with each array replaced by a reference to its entry. Loading uses
``np.load(allow_pickle=False)``, so an untrusted checkpoint cannot run code.

Saving is atomic: the checkpoint is written to a temporary file in the same directory,
flushed and fsynced, then renamed over the target with ``os.replace`` (and the
directory fsynced). A process killed during a save leaves the previous checkpoint
intact (at worst a stray ``.<name>.*.tmp`` file next to it).
"""

import io
import json
import numbers
import os
import tempfile
import zipfile
import zlib

import numpy as np

from . import random as _random
from ._version import __version__
from .nn.module import Module

__all__ = ["save", "load", "CheckpointError"]

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


def _decode(value, arrays, path):
    if isinstance(value, list):
        return [_decode(v, arrays, path) for v in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        name = value["__array__"]
        if name not in arrays:
            raise CheckpointError(f"{path}: metadata refers to a missing array {name!r}")
        return arrays[name]
    if "__float__" in value:
        return float(value["__float__"])
    if "__tuple__" in value:
        return tuple(_decode(v, arrays, path) for v in value["__tuple__"])
    if "__dict__" in value:
        return {_hashable(_decode(k, arrays, path)): _decode(v, arrays, path)
                for k, v in value["__dict__"]}
    raise CheckpointError(f"{path}: unexpected metadata entry {sorted(value)}")


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
    target.state = state


# --------------------------------------------------------------------- save
def _atomic_write(path, write):
    """Call ``write(file)`` on a temporary file, then move it over ``path`` atomically."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
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
         extra=None):
    """Write a checkpoint to ``path`` atomically (one .npz, no pickle).

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
    """
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
    arrays = dict(enc.arrays)
    arrays[_META] = np.frombuffer(blob, dtype=np.uint8)
    _atomic_write(path, lambda f: np.savez(f, **arrays))


# --------------------------------------------------------------------- load
def _read(path):
    """All arrays of the checkpoint and its decoded metadata; CheckpointError if bad."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file") from None
    try:
        npz = np.load(io.BytesIO(raw), allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{path}: not a pydl checkpoint (a single .npy array, "
                                  f"not an .npz archive)")
        with npz:
            arrays = {name: npz[name] for name in npz.files}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError, KeyError) as exc:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint "
                              f"({type(exc).__name__}: {exc})") from None
    blob = arrays.pop(_META, None)
    if blob is None or blob.dtype != np.uint8 or blob.ndim != 1:
        raise CheckpointError(f"{path}: not a pydl checkpoint (no {_META} entry)")
    try:
        meta = json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: corrupt checkpoint metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a pydl checkpoint (format "
                              f"{meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {meta['format_version']} "
                              f"is newer than this pydl reads ({FORMAT_VERSION})")
    return arrays, meta


def load(path, model=None, optimizer=None, scheduler=None, rng=None):
    """Read a checkpoint written by :func:`save`, restoring into the objects given.

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
        ``pydl_version``; None for what was not saved.

    Raises
    ------
    FileNotFoundError
        No such file.
    CheckpointError (a ValueError)
        A corrupt, truncated or foreign file; the message names the file.
    """
    path = os.fspath(path)
    arrays, meta = _read(path)
    try:
        model_state = None
        if "model" in meta:
            model_state = {name[len("model/"):]: arrays[name] for name in meta["model"]}
        result = {
            "model": model_state,
            "optimizer": _decode(meta.get("optimizer"), arrays, path),
            "scheduler": _decode(meta.get("scheduler"), arrays, path),
            "epoch": meta.get("epoch"),
            "rng_state": _decode(meta.get("rng"), arrays, path),
            "extra": _decode(meta.get("extra"), arrays, path),
            "pydl_version": meta.get("pydl_version"),
        }
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{path}: inconsistent checkpoint ({exc})") from None
    for name, obj in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is None:
            continue
        if result[name] is None:
            raise ValueError(f"{path}: the checkpoint holds no {name} state to restore")
        obj.load_state_dict(result[name])
    if rng is not None:
        _restore_rng(rng, result["rng_state"], path)
    return result

