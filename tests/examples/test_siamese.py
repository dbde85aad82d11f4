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
    with pytest.raises(ValueError, match="views must be"):
        siamese.run(steps=1, views="crop", verbose=False)


def test_earlier_shifted_views_still_train():
    res = siamese.run(steps=3, batch=16, views="shift", label_weight=0.2,
                      n_eval_pairs=100, verbose=False)
    assert np.isfinite(res["final_loss"])


def test_augment_warps_within_range_and_is_the_identity_at_zero():
    x, _ = siamese.load_digits()
    x = x[:40]
    rng = np.random.default_rng(0)
    same = siamese.augment(x, rng, degrees=0, log_scale=0, shear=0, shift=0,
                           log_gamma=0, noise=0)
    np.testing.assert_array_equal(same, x)
    views = siamese.augment(x, rng)
    assert views.shape == x.shape and views.dtype == x.dtype
    assert views.min() >= 0 and views.max() <= 1
    assert not np.allclose(views, x)
    # a warp keeps most of the ink where it was: views correlate with their own image
    flat, vflat = x.reshape(40, -1), views.reshape(40, -1)
    corr = np.corrcoef(flat, vflat)[:40, 40:]
    assert np.mean(np.diag(corr)) > np.mean(corr) + 0.2


def test_same_digit_pairs_are_two_different_images():
    y = np.repeat(np.arange(3), 4)
    i, j, same = siamese.sample_pairs(y, 400, np.random.default_rng(0))
    assert same.mean() == 0.5
    assert np.all(i[same == 1] != j[same == 1])
    assert np.all((y[i] == y[j]) == (same == 1))
