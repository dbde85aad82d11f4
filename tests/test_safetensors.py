"""pydl.save(format="safetensors") / pydl.load of safetensors files (issue 16, item 4).

The reader and writer are pydl's own (NumPy only); the safetensors package and PyTorch
are oracles here. Malformed files get the CheckpointError contract of the .npz format.
"""

import json
import struct
import tracemalloc

import numpy as np
import pytest

import pydl
from pydl import _safetensors, nn
from pydl.serialization import CheckpointError

from .test_serialization import _trained

DTYPES = [np.bool_, np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32,
          np.uint64, np.int64, np.float16, np.float32, np.float64, np.complex64]


def _arrays(rng):
    out = {}
    for i, dt in enumerate(DTYPES):
        shape = [(), (0, 3), (5,), (2, 3, 1)][i % 4]
        values = rng.standard_normal(shape) * 50
        if dt is np.complex64:
            values = values + 1j * rng.standard_normal(shape)
        out[f"t{i}.{np.dtype(dt).name}"] = np.asarray(values).astype(dt)
    return out


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("name, fmt", [("c.safetensors", None), ("c.ckpt", "safetensors")])
def test_round_trip_of_everything(tmp_path, name, fmt):
    model, opt = _trained()
    gen = np.random.default_rng(42)
    extra = {"note": "best", "scores": [0.5, float("nan")], 3: (1, "x"),
             "arr": np.arange(4, dtype=np.int16)}
    path = tmp_path / name
    pydl.save(path, model=model, optimizer=opt, epoch=7, rng=gen, extra=extra, format=fmt)
    assert path.read_bytes()[8:9] == b"{"  # safetensors, whatever the suffix

    model2, opt2 = _trained(seed=1)
    gen2 = np.random.default_rng(0)
    state = pydl.load(path, model=model2, optimizer=opt2, rng=gen2)
    assert list(state["model"]) == list(model.state_dict())
    for (key, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=key)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for i in s1["state"]:
        np.testing.assert_array_equal(s1["state"][i]["momentum_buffer"],
                                      s2["state"][i]["momentum_buffer"])
    assert gen2.random() == gen.random()
    assert state["epoch"] == 7 and state["pydl_version"] == pydl.__version__
    got = state["extra"]
    assert got["note"] == "best" and got[3] == (1, "x") and np.isnan(got["scores"][1])
    assert got["arr"].dtype == np.int16
    np.testing.assert_array_equal(got["arr"], np.arange(4))
    assert state["metadata"] == {"format": "pt"}


def test_the_format_is_told_by_content_not_by_name(tmp_path):
    model, _ = _trained()
    pydl.save(tmp_path / "a.npz", model=model, epoch=1, format="safetensors")
    pydl.save(tmp_path / "b.safetensors", model=model, epoch=2, format="npz")
    assert (tmp_path / "b.safetensors").read_bytes()[:2] == b"PK"
    assert pydl.load(tmp_path / "a.npz")["epoch"] == 1
    assert pydl.load(tmp_path / "b.safetensors")["epoch"] == 2
    assert pydl.load(tmp_path / "b.safetensors")["metadata"] is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_round_trips(tmp_path, dtype):
    arr = np.asarray(np.random.default_rng(0).standard_normal((3, 2)) * 20).astype(dtype)
    path = tmp_path / "d.safetensors"
    with open(path, "wb") as f:
        _safetensors.write(f, {"x": arr, "s": arr[0, 0], "e": arr[:0]})
    with open(path, "rb") as f:
        reader = _safetensors.SafetensorsReader(f, path.stat().st_size)
        for name, want in (("x", arr), ("s", arr[0, 0]), ("e", arr[:0])):
            got = reader.array(name)
            assert got.dtype == arr.dtype and got.shape == np.shape(want)
            np.testing.assert_array_equal(got, want)


def test_big_endian_and_strided_arrays_are_written_little_endian(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    big = np.arange(12, dtype=">f8").reshape(3, 4)[:, ::2]
    path = tmp_path / "b.safetensors"
    with open(path, "wb") as f:
        _safetensors.write(f, {"big": big})
    np.testing.assert_array_equal(st.load_file(path)["big"], big)


def test_data_are_aligned_widest_first(tmp_path):
    path = tmp_path / "a.safetensors"
    tensors = {"b": np.ones(3, np.int8), "a": np.ones(3, np.float64), "c": np.ones(1, np.int32)}
    with open(path, "wb") as f:
        _safetensors.write(f, tensors)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert list(header) == ["b", "a", "c"]  # the header keeps the order given
    for name, arr in tensors.items():
        assert header[name]["data_offsets"][0] % arr.dtype.itemsize == 0


# --------------------------------------------------------------------- interop
def test_a_pytorch_state_dict_loads_into_the_matching_pydl_module(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                             torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(64, 5))
    tm(torch.randn(4, 3, 6, 6))  # move the running statistics
    tm.eval()
    st.save_file(tm.state_dict(), tmp_path / "torch.safetensors")
    pm = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                       nn.Linear(64, 5))
    state = pydl.load(tmp_path / "torch.safetensors", model=pm)
    assert set(state["model"]) == set(tm.state_dict())
    assert state["optimizer"] is None and state["epoch"] is None
    assert state["pydl_version"] is None and state["metadata"] == {}
    pm.eval()
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(pm(x), tm(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(pm[1].running_var, tm[1].running_var.numpy())


def test_a_pydl_file_is_read_by_the_safetensors_package(tmp_path):
    torch = pytest.importorskip("torch")
    st_np = pytest.importorskip("safetensors.numpy")
    st_torch = pytest.importorskip("safetensors.torch")
    from safetensors import safe_open
    model, opt = _trained()
    path = tmp_path / "w.safetensors"
    pydl.save(path, model=model, metadata={"author": "me"})
    loaded = st_np.load_file(path)
    assert list(loaded) != [] and set(loaded) == set(model.state_dict())
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded[key], value)
    with safe_open(path, framework="np") as f:
        assert f.metadata()["author"] == "me" and f.metadata()["format"] == "pt"
        assert json.loads(f.metadata()["pydl"])["format"] == "pydl-checkpoint"
    tm = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    tm.load_state_dict(st_torch.load_file(path))
    x = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(tm(torch.from_numpy(x)).detach().numpy(), model(x),
                               rtol=1e-6, atol=1e-6)
    # the training state rides along under pydl's own prefix
    pydl.save(path, model=model, optimizer=opt, epoch=3)
    names = set(st_np.load_file(path))
    assert set(model.state_dict()) < names
    assert all(n.startswith("__pydl__/arr/") for n in names - set(model.state_dict()))
    assert pydl.load(path)["metadata"] == {"format": "pt"}


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_matches_the_safetensors_package(tmp_path, dtype):
    st = pytest.importorskip("safetensors.numpy")
    arrays = {k: v for k, v in _arrays(np.random.default_rng(3)).items()}
    arrays = {"x": np.asarray(np.arange(6).reshape(2, 3)).astype(dtype), **arrays}
    theirs = tmp_path / "theirs.safetensors"
    st.save_file(arrays, theirs)
    state = pydl.load(theirs)["model"]
    for key, value in arrays.items():
        assert state[key].dtype == value.dtype and state[key].shape == value.shape
        np.testing.assert_array_equal(state[key], value)
    ours = tmp_path / "ours.safetensors"
    with open(ours, "wb") as f:
        _safetensors.write(f, arrays)
    back = st.load_file(ours)
    for key, value in arrays.items():
        assert back[key].dtype == value.dtype
        np.testing.assert_array_equal(back[key], value)


def test_bfloat16_is_widened_to_float32_and_float8_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    w = torch.randn(3, 4).to(torch.bfloat16)
    st.save_file({"w": w}, tmp_path / "bf.safetensors")
    got = pydl.load(tmp_path / "bf.safetensors")["model"]["w"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, w.float().numpy())
    st.save_file({"w": torch.zeros(3).to(torch.float8_e4m3fn)}, tmp_path / "f8.safetensors")
    with pytest.raises(CheckpointError, match="dtype F8_E4M3 is not supported"):
        pydl.load(tmp_path / "f8.safetensors")


# ----------------------------------------------------------------- bad arguments
def test_save_refuses_what_safetensors_cannot_hold(tmp_path):
    path = tmp_path / "c.safetensors"
    with pytest.raises(ValueError, match="format must be 'npz' or 'safetensors'"):
        pydl.save(path, epoch=1, format="pickle")
    with pytest.raises(ValueError, match="metadata= is written by format='safetensors'"):
        pydl.save(tmp_path / "c.npz", epoch=1, metadata={"a": "b"})
    with pytest.raises(TypeError, match="metadata maps str to str"):
        pydl.save(path, epoch=1, metadata={"a": 1})
    with pytest.raises(TypeError, match="metadata must be a dict"):
        pydl.save(path, epoch=1, metadata=[("a", "b")])
    with pytest.raises(ValueError, match="metadata key 'pydl' is pydl's own"):
        pydl.save(path, epoch=1, metadata={"pydl": "x"})
    with pytest.raises(TypeError, match="dtype complex128 has no safetensors code"):
        pydl.save(path, extra={"z": np.zeros(2, np.complex128)})
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------ crafted files
def _file(header, data=b"", length=None, raw_header=None):
    blob = raw_header if raw_header is not None else json.dumps(header).encode()
    n = len(blob) if length is None else length
    return struct.pack("<Q", n) + blob + data


def _entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


GOOD = {"a": _entry(), "b": _entry(offsets=(8, 16))}
CRAFTED = {
    "header length beyond the file": (_file(GOOD, bytes(16), length=10 ** 6),
                                      "declares 1000000 bytes, past the end"),
    "huge header": (_file(GOOD, bytes(16), length=2 ** 63), "more than the 100000000 allowed"),
    "short file": (b"\x05\x00\x00", "too short"),
    "not an object": (_file(None, raw_header=b"[1, 2]"), "not a JSON object"),
    "bad json": (_file(None, raw_header=b"{not json}"), "not valid JSON"),
    "not utf-8": (_file(None, raw_header=b'{"\xff": 1}'), "not UTF-8"),
    "nan": (_file(None, raw_header=b'{"a": NaN}'), "NaN, which is not valid JSON"),
    "deep": (_file(None, raw_header=b'{"a": [[[[1]]]]}'), "nested more than 3"),
    # an open string of escaped quotes: the depth scan once rescanned the rest at each
    # quote (quadratic: hours for this megabyte)
    "open string": (_file(None, raw_header=b'{"' + b'\\"' * 500_000), "not valid JSON"),
    "duplicate tensor": (_file(None, bytes(16), raw_header=(
        b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},'
        b' "a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}')),
        "holds the key 'a' twice"),
    "duplicate field": (_file(None, bytes(8), raw_header=(
        b'{"a": {"dtype": "F32", "dtype": "F64", "shape": [2], "data_offsets": [0, 8]}}')),
        "holds the key 'dtype' twice"),
    "overlap": (_file({"a": _entry(), "b": _entry(offsets=(4, 12))}, bytes(16)),
                "overlaps the tensor before it"),
    "gap": (_file({"a": _entry(), "b": _entry(offsets=(12, 20))}, bytes(20)),
            "leaving a gap after byte 8"),
    "out of range": (_file({"a": _entry(), "b": _entry(offsets=(8, 16))}, bytes(12)),
                     "need 16 bytes of data, the file holds 12"),
    "end before begin": (_file({"a": _entry(offsets=(8, 0))}, bytes(8)),
                         "are not 0 <= begin <= end"),
    "negative offset": (_file({"a": _entry(offsets=(-8, 0))}, bytes(8)),
                        "are not 0 <= begin <= end"),
    "trailing garbage": (_file(GOOD, bytes(20)), "4 bytes follow the last tensor"),
    "unsupported dtype": (_file({"a": _entry("F8_E5M2", offsets=(0, 2))}, bytes(2)),
                          "dtype F8_E5M2 is not supported"),
    "unknown dtype": (_file({"a": _entry("Q7")}, bytes(8)), "unknown dtype 'Q7'"),
    "size mismatch": (_file({"a": _entry(shape=(3,))}, bytes(8)),
                      r"shape \[3\] of F32 takes 12 bytes, but data_offsets \[0, 8\] hold 8"),
    "negative dim": (_file({"a": _entry(shape=(-2, -1), offsets=(0, 8))}, bytes(8)),
                     "negative dimension"),
    "empty but huge": (_file({"a": _entry(shape=(0, 2 ** 62, 2 ** 62), offsets=(0, 0))}),
                       "too large for an array"),
    "bool dim": (_file({"a": _entry(shape=(True,), offsets=(0, 4))}, bytes(4)),
                 "list of at most 64 ints"),
    "too many dims": (_file({"a": _entry(shape=(1,) * 65, offsets=(0, 4))}, bytes(4)),
                      "list of at most 64 ints"),
    "two offsets": (_file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}),
                    "data_offsets must be"),
    "missing fields": (_file({"a": {"dtype": "F32"}}), "has no shape, data_offsets"),
    "entry not an object": (_file({"a": [1]}), "the entry must be an object"),
    "metadata not strings": (_file({"__metadata__": {"k": 1}}), "must map strings"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_files_are_refused_naming_the_file(tmp_path, case):
    raw, match = CRAFTED[case]
    path = tmp_path / "x.safetensors"
    path.write_bytes(raw)
    with pytest.raises(CheckpointError, match=match) as info:
        pydl.load(path)
    assert str(path) in str(info.value)


def test_bytes_paths_work_too(tmp_path):
    path = bytes(tmp_path / "w.safetensors")
    pydl.save(path, epoch=4)
    assert pydl.load(path)["epoch"] == 4
    pydl.save(bytes(tmp_path / "c.npz"), epoch=5)  # the .npz path too
    assert pydl.load(tmp_path / "c.npz")["epoch"] == 5
    with open(path, "wb") as f:
        f.write(b"garbage")
    with pytest.raises(CheckpointError, match="too short"):
        pydl.load(path)


def test_the_good_crafted_file_loads(tmp_path):
    path = tmp_path / "x.bin"  # and a name that says nothing
    path.write_bytes(_file(GOOD, np.arange(4, dtype="<f4").tobytes()))
    state = pydl.load(path)["model"]
    np.testing.assert_array_equal(state["b"], [2, 3])


def test_a_declared_4_tib_tensor_allocates_nothing(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(_file({"a": _entry("F64", (2 ** 39,), (0, 2 ** 42))}, bytes(64)))
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match="need 4398046511104 bytes"):
            pydl.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 ** 20


META = '{"format": "pydl-checkpoint", "format_version": 1}'


def test_a_tensor_named_many_times_is_read_once(tmp_path):
    # as the .npz reader: 200 references to one 1 MiB tensor must not cost 200 MiB
    n = 1 << 18
    refs = [[f"k{i}", {"__array__": "arr/0"}] for i in range(200)]
    text = META[:-1] + ', "extra": ' + json.dumps({"__dict__": refs}) + "}"
    path = tmp_path / "x.safetensors"
    path.write_bytes(_file({"__metadata__": {"pydl": text},
                            "__pydl__/arr/0": _entry(shape=(n,), offsets=(0, 4 * n))},
                           bytes(4 * n)))
    tracemalloc.start()
    try:
        extra = pydl.load(path)["extra"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(extra) == 200 and extra["k0"].shape == (n,)
    assert peak < 8 * 4 * n


def test_checkpoint_metadata_in_the_header_is_checked(tmp_path):
    path = tmp_path / "x.safetensors"
    for text, match in [("{bad", "corrupt checkpoint metadata"),
                        ('{"format": "other"}', "not a pydl checkpoint"),
                        (META[:-1] + ', "model": ["model/w"]}', "missing tensor 'w'"),
                        (META[:-1] + ', "epoch": "7"}', "'epoch' must be an int")]:
        path.write_bytes(_file({"__metadata__": {"pydl": text}}))
        with pytest.raises(CheckpointError, match=match):
            pydl.load(path)


def test_damaged_files_load_or_raise_checkpoint_error(tmp_path):
    """Seeded fuzz: flip, cut and splice bytes of a real checkpoint."""
    model, opt = _trained()
    good = tmp_path / "good.safetensors"
    pydl.save(good, model=model, optimizer=opt, epoch=1, extra={"a": [1, 2]})
    raw = good.read_bytes()
    rng = np.random.default_rng(0)
    path = tmp_path / "bad.safetensors"
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(300):
        data = bytearray(raw)
        kind = rng.integers(3)
        if kind == 0:  # flip bytes, mostly in the header
            for i in rng.integers(0, min(len(data), 400), rng.integers(1, 4)):
                data[i] = rng.integers(256)
        elif kind == 1:
            data = data[:rng.integers(len(data))]
        else:
            at = rng.integers(len(data))
            data[at:at] = rng.bytes(rng.integers(1, 9))
        path.write_bytes(bytes(data))
        try:
            pydl.load(path)
            outcomes["loaded"] += 1
        except CheckpointError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 200


def test_model_checkpoint_callback_writes_safetensors_by_suffix(tmp_path):
    model, opt = _trained()
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    pydl.fit(model, x, np.arange(8) % 2, loss=nn.CrossEntropyLoss(), optimizer=opt,
             epochs=1, batch_size=4, verbose=0, seed=0,
             callbacks=[pydl.callbacks.ModelCheckpoint(tmp_path / "e{epoch}.safetensors")])
    path = tmp_path / "e1.safetensors"
    assert path.read_bytes()[8:9] == b"{"
    np.testing.assert_array_equal(pydl.load(path)["model"]["0.weight"], model[0].weight.data)
