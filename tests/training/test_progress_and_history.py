import io
import sys

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.optim import SGD
from pydl.training.history import History


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def _run(verbose, epochs=2, **kw):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 3)).astype(np.float32)
    y = rng.integers(0, 2, 30)
    pydl.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2))
    return pydl.fit(model, x, y, loss="cross_entropy", optimizer=SGD(model.parameters(), lr=0.1),
                    epochs=epochs, batch_size=8, metrics=["accuracy"], verbose=verbose, seed=0,
                    **kw)


def test_verbose_1_is_quiet_when_stdout_is_not_a_terminal(capsys):
    _run(1)
    _run(0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_verbose_2_prints_one_line_per_epoch(capsys):
    _run(2, epochs=3, validation_split=0.2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("Epoch 1/3 - ") and "samples/s" in lines[0]
    for key in ("loss: ", "accuracy: ", "val_loss: ", "val_accuracy: ", "lr: 0.1"):
        assert key in lines[2]


def test_a_terminal_gets_a_tqdm_bar(monkeypatch):
    pytest.importorskip("tqdm")
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", term)
    _run(1)
    out = term.getvalue()
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "sample/s" in out and "loss=" in out and "accuracy=" in out
    assert "30/30" in out


def test_without_tqdm_a_terminal_gets_lines(monkeypatch):
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", term)
    monkeypatch.setitem(sys.modules, "tqdm", None)
    _run(1)
    lines = term.getvalue().strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("Epoch 2/2 - ")


def test_history_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    h = _run(0, epochs=3, validation_split=0.2)
    path = h.plot(tmp_path / "curves.png", title="test")
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(ValueError, match="'f1' is not in the history"):
        h.plot(tmp_path / "x.png", metrics=["f1"])
    with pytest.raises(ValueError, match="the history is empty"):
        History().plot(tmp_path / "y.png")


def test_history_plot_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    h = _run(0, epochs=1)
    with pytest.raises(ImportError, match="History.plot needs matplotlib"):
        h.plot(tmp_path / "x.png")
