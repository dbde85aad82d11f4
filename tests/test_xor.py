"""The first real job: XOR is out of reach for one layer, easy for one hidden layer."""

import numpy as np
import pytest

from pydl.examples.xor import main, mlp, perceptron, train


@pytest.mark.parametrize("seed", range(5))
def test_perceptron_cannot_pass_75_percent(seed):
    acc, loss = train(perceptron(seed))
    assert acc <= 0.75
    # the best any linear model can do on XOR is predicting 0.5 everywhere: loss log 2
    assert loss >= np.log(2) - 1e-6


@pytest.mark.parametrize("seed", range(5))
def test_mlp_with_4_hidden_units_reaches_100_percent(seed):
    acc, loss = train(mlp(seed, hidden=4))
    assert acc == 1.0
    assert loss < 0.01


def test_example_script_runs(capsys):
    main(["--epochs", "1500"])
    out = capsys.readouterr().out
    assert "single-layer perceptron" in out and "accuracy  100%" in out
