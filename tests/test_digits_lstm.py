"""Real result: an LSTM reading 8x8 digit images row by row reaches >= 95% test accuracy."""

import pytest

pytest.importorskip("sklearn")

from pydl.examples.digits_lstm import load_digits_sequences, main  # noqa: E402


def test_split_is_stratified_and_disjoint():
    (x_train, y_train), (x_test, y_test) = load_digits_sequences()
    assert x_train.shape[1:] == (8, 8) and len(x_train) + len(x_test) == 1797
    assert x_train.min() >= 0 and x_train.max() <= 1
    for c in range(10):       # every class in both parts, about a quarter held out
        share = (y_test == c).sum() / ((y_test == c).sum() + (y_train == c).sum())
        assert 0.2 < share < 0.3


def test_lstm_reaches_95_percent_on_held_out_digits(capsys):
    accuracy = main(["--epochs", "12"])
    assert accuracy >= 0.95
    assert "test accuracy" in capsys.readouterr().out
