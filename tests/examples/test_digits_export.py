"""``python -m pydl.examples.digits --export PATH``: the trained model as ONNX, served by
onnxruntime with pydl's test accuracy."""

import numpy as np
import pytest

import pydl

pytest.importorskip("sklearn")
onnx = pytest.importorskip("onnx")


def test_digits_example_exports_the_trained_model(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from pydl.examples.digits import load_data, main
    path = str(tmp_path / "digits.onnx")
    with pydl.threads(1):
        res = main(["--epochs", "3", "--no-plot", "--verbose", "0", "--export", path])
    assert res["onnx"] == path
    onnx.checker.check_model(onnx.load(path), full_check=True)
    # the README's serving lines, on the file just written
    _, x_test, _, y_test = load_data()
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    pred = session.run(None, {"input": x_test.astype(np.float32)})[0].argmax(1)
    assert np.mean(pred == y_test) == res["onnx_test_accuracy"]
    # one sample may flip on a near tie between float summation orders; none did so far
    assert abs(res["onnx_test_accuracy"] - res["test_accuracy"]) <= 1 / len(y_test)
    assert res["test_accuracy"] > 0.5   # trained (chance: 0.1)


def test_digits_example_does_not_export_by_default(tmp_path, monkeypatch):
    from pydl.examples.digits import main
    monkeypatch.chdir(tmp_path)
    with pydl.threads(1):
        res = main(["--epochs", "1", "--no-plot", "--verbose", "0"])
    assert res["onnx"] is None and res["onnx_test_accuracy"] is None
    assert not list(tmp_path.iterdir())
