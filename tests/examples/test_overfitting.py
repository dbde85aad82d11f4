import pytest

pytest.importorskip("sklearn")


def test_l2_narrows_the_train_test_gap(capsys):
    from pydl.examples.overfitting import main
    res = main([])
    none, l2 = res["none"], res["l2"]
    assert none["train_accuracy"] == 1.0 and none["accuracy_gap"] > 0.05  # it overfits
    assert l2["accuracy_gap"] < none["accuracy_gap"]
    assert l2["loss_gap"] < 0.8 * none["loss_gap"]
    assert l2["test_accuracy"] >= none["test_accuracy"]
    out = capsys.readouterr().out
    assert "L2(0.01)" in out and "none" in out
