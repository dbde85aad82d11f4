"""The loss modules' API: PyTorch's names and defaults, construction-time checks,
backward's return values, float32 in float32 out, no_grad."""

import warnings

import numpy as np
import pytest

import pydl
from pydl import nn


def test_defaults_match_pytorch():
    assert nn.SmoothL1Loss().beta == 1.0 and nn.HuberLoss().delta == 1.0
    m = nn.MultiMarginLoss()
    assert (m.p, m.margin, m.weight, m.reduction) == (1, 1.0, None, "mean")
    t = nn.TripletMarginLoss()
    assert (t.margin, t.p, t.eps, t.swap, t.reduction) == (1.0, 2.0, 1e-6, False, "mean")
    assert nn.CosineEmbeddingLoss().margin == 0.0
    k = nn.KLDivLoss()
    assert (k.reduction, k.log_target) == ("mean", False)
    assert (nn.NLLLoss().ignore_index, nn.NLLLoss().weight) == (-100, None)
    b = nn.BinaryFocalLoss()
    assert (b.alpha, b.gamma, b.reduction) == (0.25, 2.0, "mean")
    f = nn.FocalLoss()
    assert (f.alpha, f.gamma, f.ignore_index) == (None, 2.0, -100)
    assert nn.HingeLoss().margin == 1.0


@pytest.mark.parametrize("make,match,exc", [
    (lambda: nn.HuberLoss(delta=0.0), "delta must be > 0", ValueError),
    (lambda: nn.HuberLoss(delta=-1.0), "delta must be > 0", ValueError),
    (lambda: nn.SmoothL1Loss(beta=-1.0), "beta must be >= 0", ValueError),
    (lambda: nn.MultiMarginLoss(p=3), "p must be 1 or 2", ValueError),
    (lambda: nn.TripletMarginLoss(margin=0.0), "margin must be > 0", ValueError),
    (lambda: nn.TripletMarginLoss(p=-2.0), "p must be > 0", ValueError),
    (lambda: nn.TripletMarginLoss(swap=1), "swap must be a bool", TypeError),
    (lambda: nn.HingeLoss(margin=-0.5), "margin must be >= 0", ValueError),
    (lambda: nn.BinaryFocalLoss(gamma=-1.0), "gamma must be >= 0", ValueError),
    (lambda: nn.FocalLoss(alpha="x"), "alpha must be a numeric array", TypeError),
    (lambda: nn.KLDivLoss(reduction="avg"), "reduction must be one of", ValueError),
    (lambda: nn.L1Loss(reduction="batchmean"), "reduction must be one of", ValueError),
    (lambda: nn.NLLLoss(weight=np.array([1.0, np.nan])), "weight must be finite", ValueError),
    (lambda: nn.CosineEmbeddingLoss(margin=float("nan")), "margin must be finite", ValueError),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bad_construction(make, match, exc):
    with pytest.raises(exc, match=match):
        make()


def test_float32_in_float32_out_and_backward_shapes():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    y = rng.standard_normal((6, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 6)
    w = np.array([1.0, 2.0, 0.5, 1.0])          # float64 weights serve float32 inputs
    for crit, inputs in [(nn.NLLLoss(weight=w), (x, labels)), (nn.FocalLoss(alpha=w), (x, labels)),
                         (nn.MultiMarginLoss(weight=w), (x, labels)), (nn.L1Loss(), (x, y)),
                         (nn.CrossEntropyLoss(weight=w), (x, np.abs(y)))]:
        loss = crit(*inputs)
        assert isinstance(loss, float)
        g = crit.backward()
        assert g.dtype == np.float32 and g.shape == x.shape
    crit = nn.TripletMarginLoss(reduction="none")
    loss = crit(x, y, x * 0.5)
    assert loss.shape == (6,) and loss.dtype == np.float32
    grads = crit.backward(np.ones(6, np.float32))
    assert len(grads) == 3 and all(g.shape == x.shape and g.dtype == np.float32 for g in grads)
    crit = nn.CosineEmbeddingLoss()
    crit(x, y, np.ones(6))
    g1, g2 = crit.backward(2.0)
    assert g1.shape == g2.shape == x.shape


def test_backward_scales_by_upstream():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    crit = nn.HuberLoss(delta=0.5)
    crit(x, y)
    g1 = crit.backward()
    np.testing.assert_allclose(crit.backward(3.0), 3 * g1, rtol=1e-15)
    crit = nn.HuberLoss(delta=0.5, reduction="none")
    crit(x, y)
    up = rng.standard_normal((5, 3))
    np.testing.assert_allclose(crit.backward(up), up * g1 * 15, rtol=1e-13)


def test_no_grad_forward_keeps_nothing():
    crit = nn.BinaryFocalLoss()
    x = np.zeros((2, 2), np.float32)
    with pydl.no_grad():
        loss = crit(x, np.ones((2, 2), np.float32))
    np.testing.assert_allclose(loss, 0.25 * 0.25 * np.log(2), rtol=1e-6)
    with pytest.raises(RuntimeError):
        crit.backward()


def test_kl_div_module_batchmean_and_warning():
    x = np.log(np.full((2, 4), 0.25))
    t = np.full((2, 4), 0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nn.KLDivLoss(reduction="batchmean")(x, t) == 0
    with pytest.warns(UserWarning, match="batchmean"):
        nn.KLDivLoss()(x, t)


def test_weights_are_buffers_in_state_dict():
    w = np.array([1.0, 2.0, 3.0])
    assert list(nn.NLLLoss(weight=w).state_dict()) == ["weight"]
    assert list(nn.BCELoss(weight=w).state_dict()) == ["weight"]
    assert list(nn.MultiMarginLoss(weight=w).state_dict()) == ["weight"]
    assert list(nn.FocalLoss(alpha=w).state_dict()) == ["alpha"]
    assert nn.FocalLoss(alpha=0.5).alpha == 0.5
    assert "delta=0.5" in repr(nn.HuberLoss(delta=0.5))
    assert "swap=True" in repr(nn.TripletMarginLoss(swap=True))
