"""Initialisers fill a weight in place with a bounded scratch buffer (issue 14, item 9).

Measured in a child process with tracemalloc (NumPy reports its array allocations to
it), so the figure is the peak of this construction alone, not of the test session.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pydl
from pydl.nn import init

MIB = 2 ** 20


def _child_peak(code):
    """Run ``code`` in a fresh interpreter; it sets ``nbytes`` and does the work
    between tracemalloc.start() and the measure. Returns (peak, nbytes)."""
    pydl_home = str(Path(pydl.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([pydl_home, env.get("PYTHONPATH", "")])
    script = ("import tracemalloc, numpy as np, pydl\nfrom pydl import nn\n"
              "from pydl.nn import init\ntracemalloc.start()\n" + code +
              "\nprint(tracemalloc.get_traced_memory()[1], nbytes)\n")
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                         capture_output=True, text=True, timeout=300).stdout
    peak, nbytes = map(int, out.split())
    return peak, nbytes


def test_building_a_float32_linear_peaks_near_its_weight():
    # 4096 x 8192 float32 = 128 MiB; before: float64 draws then a copy, 3x (384 MiB)
    peak, nbytes = _child_peak("m = nn.Linear(8192, 4096, bias=False)\n"
                               "nbytes = m.weight.data.nbytes")
    assert nbytes == 128 * MIB
    assert peak <= 1.1 * nbytes, f"peak {peak / MIB:.0f} MiB for a {nbytes / MIB:.0f} MiB weight"


@pytest.mark.parametrize("fn", ["uniform_", "normal_"])
def test_in_place_initialisers_need_only_a_bounded_scratch_buffer(fn):
    peak, nbytes = _child_peak(f"w = np.zeros((64, 2 ** 20), np.float32)\n"
                               f"init.{fn}(w)\nnbytes = w.nbytes")
    # the weight itself (allocated inside the measure) + a chunk of float64 draws
    assert peak <= 1.1 * nbytes, f"peak {peak / MIB:.0f} MiB for a {nbytes / MIB:.0f} MiB weight"


@pytest.mark.parametrize("fn", [init.uniform_, init.normal_, init.kaiming_uniform_,
                                init.xavier_normal_], ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chunked_draws_are_the_stream_of_one_whole_draw(fn, dtype, monkeypatch):
    """Chunking is invisible: the same values as one draw of the whole shape, for
    contiguous weights and for strided views."""
    monkeypatch.setattr(init, "_CHUNK", 7)
    shape = (5, 4, 3)
    whole = np.zeros(shape, dtype)
    with monkeypatch.context() as m:
        m.setattr(init, "_CHUNK", 1 << 20)
        fn(whole, generator=np.random.default_rng(9))
    chunked = np.zeros(shape, dtype)
    fn(chunked, generator=np.random.default_rng(9))
    assert chunked.tobytes() == whole.tobytes()
    base = np.zeros((5, 4, 6), dtype)
    view = base[:, :, ::2]  # not contiguous: written through .flat in C order
    fn(view, generator=np.random.default_rng(9))
    assert view.tobytes() == whole.tobytes()
    assert np.all(base[:, :, 1::2] == 0)


def test_uniform_reference_values_are_unchanged():
    """The stream is the one a single float64 draw gives (checkpoints and seeded
    runs made before the change initialise the same)."""
    w = np.zeros((3, 1000), np.float32)
    init.uniform_(w, -2.0, 3.0, generator=np.random.default_rng(1))
    expected = np.random.default_rng(1).uniform(-2.0, 3.0, size=(3, 1000)).astype(np.float32)
    assert w.tobytes() == expected.tobytes()
    w64 = np.zeros((3, 1000))
    init.normal_(w64, 0.5, 2.0, generator=np.random.default_rng(1))
    assert w64.tobytes() == np.random.default_rng(1).normal(0.5, 2.0, (3, 1000)).tobytes()
