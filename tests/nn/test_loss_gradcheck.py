"""Every loss module added for issue 6 passes a float64 finite-difference gradient check
(inputs random, so away from the kinks of hinge-type losses with probability ~1)."""

import numpy as np
import pytest

from pydl import functional as F
from pydl import nn
from pydl.testing import check_function_grad, gradcheck


def _x(shape, seed=0, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def _probs(shape, axis=1, seed=3):
    e = np.exp(_x(shape, seed))
    return e / e.sum(axis=axis, keepdims=True)


def _signs(shape, seed=4):
    return np.where(np.random.default_rng(seed).random(shape) > 0.5, 1.0, -1.0)


def _labels(c, shape, seed=5):
    return np.random.default_rng(seed).integers(0, c, shape)


W4 = np.array([0.5, 1.0, 2.0, 1.5])

LOSSES = [
    ("CrossEntropy-soft-weighted-smoothed",
     lambda: nn.CrossEntropyLoss(weight=W4, label_smoothing=0.2), (5, 4), lambda: _probs((5, 4))),
    ("CrossEntropy-soft-kdim-none", lambda: nn.CrossEntropyLoss(reduction="none"), (2, 4, 3),
     lambda: _probs((2, 4, 3))),
    ("NLL-weighted-ignore", lambda: nn.NLLLoss(weight=W4, ignore_index=2), (6, 4),
     lambda: _labels(4, 6)),
    ("NLL-kdim-none", lambda: nn.NLLLoss(reduction="none"), (2, 4, 3), lambda: _labels(4, (2, 3))),
    ("BCE", lambda: nn.BCELoss(), (4, 3), lambda: np.random.default_rng(1).random((4, 3))),
    ("BCE-weighted-sum", lambda: nn.BCELoss(weight=np.array([1.0, 2.0, 0.5]), reduction="sum"),
     (4, 3), lambda: (np.random.default_rng(1).random((4, 3)) > 0.5).astype(float)),
    ("KLDiv-batchmean", lambda: nn.KLDivLoss(reduction="batchmean"), (3, 4),
     lambda: _probs((3, 4))),
    ("KLDiv-log-target-none", lambda: nn.KLDivLoss(reduction="none", log_target=True), (3, 4),
     lambda: np.log(_probs((3, 4)))),
    ("L1", lambda: nn.L1Loss(), (4, 3), lambda: _x((4, 3), 1)),
    ("SmoothL1", lambda: nn.SmoothL1Loss(beta=0.8), (5, 3), lambda: _x((5, 3), 1)),
    ("SmoothL1-beta0-none", lambda: nn.SmoothL1Loss(beta=0.0, reduction="none"), (5,),
     lambda: _x((5,), 1)),
    ("Huber", lambda: nn.HuberLoss(delta=0.7, reduction="sum"), (5, 3), lambda: _x((5, 3), 1)),
    ("Hinge", lambda: nn.HingeLoss(margin=0.5), (4, 3), lambda: _signs((4, 3))),
    ("Perceptron-none", lambda: nn.PerceptronLoss(reduction="none"), (7,), lambda: _signs((7,))),
    ("BinaryFocal", lambda: nn.BinaryFocalLoss(), (4, 3),
     lambda: (np.random.default_rng(1).random((4, 3)) > 0.5).astype(float)),
    ("BinaryFocal-soft-gamma0.5-none",
     lambda: nn.BinaryFocalLoss(alpha=-1, gamma=0.5, reduction="none"), (6,),
     lambda: np.random.default_rng(1).random(6)),
    ("Focal-alpha-ignore", lambda: nn.FocalLoss(alpha=W4, gamma=2.0, ignore_index=1), (6, 4),
     lambda: _labels(4, 6)),
    ("Focal-kdim-none", lambda: nn.FocalLoss(gamma=1.5, reduction="none"), (2, 4, 3),
     lambda: _labels(4, (2, 3))),
    ("MultiMargin-p1", lambda: nn.MultiMarginLoss(), (5, 4), lambda: _labels(4, 5)),
    ("MultiMargin-p2-weighted-none",
     lambda: nn.MultiMarginLoss(p=2, margin=0.7, weight=W4, reduction="none"), (5, 4),
     lambda: _labels(4, 5)),
]


@pytest.mark.parametrize("name,make,shape,target", LOSSES, ids=[c[0] for c in LOSSES])
def test_loss_gradcheck(name, make, shape, target):
    x = _x(shape, scale=2.0)
    if name.startswith("BCE"):
        x = 0.05 + 0.9 * np.random.default_rng(2).random(shape)
    if name.startswith("KLDiv"):
        x = np.log(_probs(shape, seed=6))
    assert gradcheck(make(), x, target=target())


@pytest.mark.parametrize("kw", [dict(), dict(p=1.0, margin=2.0, reduction="sum"),
                                dict(p=3.0, swap=True, margin=3.0, reduction="none"),
                                dict(swap=True, eps=0.0, margin=2.0)], ids=str)
def test_triplet_gradcheck(kw):
    a, p, n = _x((5, 3), 1), _x((5, 3), 2), _x((5, 3), 3)
    crit = nn.TripletMarginLoss(**kw)
    assert gradcheck(crit, a, p, target=n)           # anchor and positive, through the module
    red = kw.get("reduction", "mean")

    def fwd(a, p, n):
        return np.asarray(F.triplet_margin_loss_forward(
            a, p, n, **{k: v for k, v in kw.items() if k != "reduction"}, reduction=red)[0])

    def bwd(g):
        _, grads = F.triplet_margin_loss_forward(
            a, p, n, **{k: v for k, v in kw.items() if k != "reduction"}, reduction=red)
        return F.triplet_margin_loss_backward(grads, g, red)

    assert check_function_grad(fwd, bwd, [a, p, n])  # all three inputs
    assert np.array_equal(crit(a, p, n), fwd(a, p, n))


@pytest.mark.parametrize("margin,reduction", [(0.0, "mean"), (-0.3, "none"), (0.2, "sum")])
def test_cosine_embedding_gradcheck(margin, reduction):
    x1, x2 = _x((6, 4), 1), _x((6, 4), 2)
    y = _signs(6)
    assert gradcheck(nn.CosineEmbeddingLoss(margin=margin, reduction=reduction), x1, x2,
                     target=y)
    assert gradcheck(nn.CosineEmbeddingLoss(margin=margin), x1[0], x2[0], target=np.array(-1))
