import numpy as np
import pytest

from pydl.examples.cost_functions import main, train


def test_cross_entropy_learns_fast_where_the_quadratic_cost_stalls():
    quad, xent = train("quadratic", epochs=300), train("cross_entropy", epochs=300)
    # The starting points of the source notes: a = sigma(4) = 0.982.
    a = 1 / (1 + np.exp(-4.0))
    assert abs(quad[0] - a * a / 2) < 1e-5
    assert abs(xent[0] + np.log(1 - a)) < 1e-4
    # Cross-entropy: the biggest drop is the very first epoch; most of the cost is gone
    # within 20 epochs.
    assert np.argmax(-np.diff(xent)) == 0
    assert xent[20] < 0.25 * xent[0]
    # Quadratic: after 20 epochs, under 1% lower; its fastest fall comes much later,
    # once the neuron leaves saturation (the learning slowdown).
    assert quad[20] > 0.99 * quad[0]
    assert np.argmax(-np.diff(quad)) > 100
    assert quad[-1] < 0.1 * quad[0]  # it does learn in the end
    assert np.all(np.diff(quad) < 0) and np.all(np.diff(xent) < 0)


def test_main_returns_curves_and_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    res = main(["--epochs", "40", "--out", str(tmp_path / "c.png")])
    assert len(res["quadratic"]) == 40 and len(res["cross_entropy"]) == 40
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert "quadratic" in capsys.readouterr().out
