import numpy as np
import pytest

import pydl

pytest.importorskip("sklearn")


def test_digits_example_trains_reports_and_plots(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    from pydl.examples.digits import main
    monkeypatch.chdir(tmp_path)
    with pydl.threads(1):  # bitwise the same result at any thread count, and quick
        res = main(["--epochs", "6"])
    assert res["test_accuracy"] > 0.93  # 94.7% measured (the full 20 epochs: 97.1%)
    assert res["epochs"] == 6 and res["samples_per_s"] > 0 and res["wall_time_s"] > 0
    png = tmp_path / "digits_learning_curve.png"  # the default: in the current directory
    assert res["plot"] == "digits_learning_curve.png" and png.read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert "test accuracy" in out and "samples/s" in out and "learning curves written" in out


def test_build_model_takes_images():
    from pydl.examples.digits import build_model
    assert build_model()(np.zeros((2, 1, 8, 8), np.float32)).shape == (2, 10)
