"""The Siamese example: a short run trains, verifies held-out digits above chance and
writes the embedding plot."""

import numpy as np
import pytest

pytest.importorskip("sklearn")

from pydl.examples import siamese  # noqa: E402


def test_short_run_learns_and_verifies_unseen_digits(tmp_path):
    res = siamese.run(steps=60, batch=64, n_eval_pairs=600, verbose=False)
    first = siamese.run(steps=1, batch=64, n_eval_pairs=600, verbose=False)
    assert res["final_loss"] < first["final_loss"]
    assert res["val_verification_accuracy"] > 0.7
    assert res["verification_accuracy"] > 0.6          # chance is 0.5
    assert res["one_shot_accuracy"] > 0.4               # chance is 1/3
    assert res["embeddings"].shape == (len(res["labels"]), 512)
    np.testing.assert_allclose(np.linalg.norm(res["embeddings"], axis=1), 1, rtol=1e-5)
    pytest.importorskip("matplotlib")
    png = siamese.plot_embedding(res["encoder"], tmp_path / "emb.png")
    assert png.stat().st_size > 10_000


def test_pairwise_contrastive_loss_runs_through_the_shared_encoder():
    res = siamese.run(steps=5, batch=16, loss="pairwise", n_eval_pairs=100, verbose=False)
    assert np.isfinite(res["final_loss"])
    with pytest.raises(ValueError, match="loss must be"):
        siamese.run(steps=1, loss="triplet", verbose=False)
