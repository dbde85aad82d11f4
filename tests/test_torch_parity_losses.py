"""Loss parity with PyTorch (CPU): values and input gradients, over reductions, weights,
ignore_index, pos_weight and label smoothing; skipped without torch. torchvision's
sigmoid_focal_loss (not installed) is written out in torch from its source formula."""

import warnings

import numpy as np
import pytest

from pydl import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

REDUCTIONS = ["mean", "sum", "none"]
W5 = [0.2, 1.0, 2.0, 0.7, 1.3]


def _tensor(a, grad=False):
    x = torch.from_numpy(np.array(a))
    return x.requires_grad_(grad) if x.is_floating_point() else x


def _torch_kwargs(kw, dtype):
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    return {k: (torch.tensor(v, dtype=tdt) if isinstance(v, list) else v) for k, v in kw.items()}


def _compare(ours, theirs, inputs, n_grad, up, dtype):
    """Run pydl module ``ours`` and torch callable ``theirs`` on ``inputs`` (the first
    ``n_grad`` differentiable); compare loss and gradients."""
    tin = [_tensor(a, i < n_grad) for i, a in enumerate(inputs)]
    tl = theirs(*tin)
    tl.backward(_tensor(up) if tl.ndim else torch.tensor(float(up), dtype=tl.dtype))
    loss = ours(*inputs)
    grads = ours.backward(up if tl.ndim else float(up))
    grads = grads if isinstance(grads, tuple) else (grads,)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(loss, tl.detach().numpy(), **tol)
    assert len(grads) == n_grad
    for g, tx in zip(grads, tin[:n_grad]):
        assert g.dtype == dtype and g.shape == tuple(tx.shape)
        np.testing.assert_allclose(g, tx.grad.numpy(), **tol)


def _upstream(rng, shape, reduction, dtype):
    return rng.standard_normal(shape).astype(dtype) if reduction == "none" else 1.3


# ----------------------------------------------------------------- classification
@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none"},
                                {"weight": W5, "label_smoothing": 0.2},
                                {"weight": W5, "reduction": "none", "label_smoothing": 0.1},
                                {"weight": W5, "reduction": "sum"}], ids=str)
@pytest.mark.parametrize("kdim", [False, True])
def test_cross_entropy_probability_targets(kw, kdim):
    rng = np.random.default_rng(0)
    shape = (6, 5, 3) if kdim else (12, 5)
    x = rng.standard_normal(shape) * 3
    e = np.exp(rng.standard_normal(shape))
    y = e / e.sum(axis=1, keepdims=True)
    red = kw.get("reduction", "mean")
    up = _upstream(rng, (shape[0], *shape[2:]), red, np.float64)
    _compare(nn.CrossEntropyLoss(**kw),
             torch.nn.CrossEntropyLoss(**_torch_kwargs(kw, np.float64)), [x, y], 1, up,
             np.float64)


@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"weight": W5},
                                {"ignore_index": 2},
                                {"weight": W5, "ignore_index": 0, "reduction": "none"},
                                {"weight": W5, "reduction": "sum", "ignore_index": 4}], ids=str)
@pytest.mark.parametrize("shape", [(12, 5), (6, 5, 3), (5,)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nll(kw, shape, dtype):
    rng = np.random.default_rng(1)
    x = np.log(rng.dirichlet(np.ones(5), size=int(np.prod(shape)) // 5)).reshape(
        shape[0], *shape[2:], 5) if len(shape) > 1 else np.log(rng.dirichlet(np.ones(5)))
    if len(shape) > 2:
        x = np.moveaxis(x, -1, 1)
    x = np.ascontiguousarray(x, dtype)
    target = rng.integers(0, 5, (shape[0], *shape[2:]) if len(shape) > 1 else ())
    red = kw.get("reduction", "mean")
    up = _upstream(rng, target.shape, red, dtype)
    _compare(nn.NLLLoss(**kw), torch.nn.NLLLoss(**_torch_kwargs(kw, dtype)), [x, target], 1,
             up, dtype)


@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none"},
                                {"weight": [1.0, 3.0, 0.5]},
                                {"weight": [1.0, 3.0, 0.5], "reduction": "none"}], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce(kw, dtype):
    rng = np.random.default_rng(2)
    x = rng.random((8, 3)).astype(dtype)
    x[0] = [0.0, 1.0, 1e-8]                 # the -100 clamp of the log
    y = rng.random((8, 3)).astype(dtype)
    y[0] = [1.0, 0.0, 1.0]
    red = kw.get("reduction", "mean")
    _compare(nn.BCELoss(**kw), torch.nn.BCELoss(**_torch_kwargs(kw, dtype)), [x, y], 1,
             _upstream(rng, x.shape, red, dtype), dtype)


@pytest.mark.parametrize("kw", [{"pos_weight": [2.0, 0.5, 1.0], "reduction": "none"},
                                {"weight": [1.0, 3.0, 0.5], "pos_weight": [2.0, 0.5, 1.0],
                                 "reduction": "sum"}], ids=str)
def test_bce_with_logits_weights_and_extremes(kw):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 3)) * 5
    x[0] = [1e4, -1e4, 0.0]
    y = rng.random((8, 3))
    red = kw.get("reduction", "mean")
    _compare(nn.BCEWithLogitsLoss(**kw),
             torch.nn.BCEWithLogitsLoss(**_torch_kwargs(kw, np.float64)), [x, y], 1,
             _upstream(rng, x.shape, red, np.float64), np.float64)


@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    rng = np.random.default_rng(4)
    x = np.log(rng.dirichlet(np.ones(6), size=5))
    y = rng.dirichlet(np.ones(6), size=5)
    y[0, :2] = 0                                          # 0 log 0
    if log_target:
        y = np.log(y + 0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                   # both warn for "mean"
        _compare(nn.KLDivLoss(reduction, log_target),
                 torch.nn.KLDivLoss(reduction=reduction, log_target=log_target), [x, y], 1,
                 _upstream(rng, x.shape, reduction, np.float64), np.float64)


@pytest.mark.parametrize("p,margin,weighted", [(1, 1.0, False), (2, 1.0, True),
                                               (1, 0.5, True), (2, -0.2, False)], ids=str)
@pytest.mark.parametrize("one_d", [False, True])
def test_multi_margin(p, margin, weighted, one_d):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(5 if one_d else (9, 5))
    t = np.asarray(rng.integers(0, 5, () if one_d else 9))
    for reduction in REDUCTIONS:
        kw = dict(p=p, margin=margin, reduction=reduction)
        if weighted:
            kw["weight"] = W5
        _compare(nn.MultiMarginLoss(**kw),
                 torch.nn.MultiMarginLoss(**_torch_kwargs(kw, np.float64)), [x, t], 1,
                 _upstream(rng, t.shape, reduction, np.float64), np.float64)


def _torchvision_sigmoid_focal_loss(inputs, targets, alpha, gamma, reduction):
    """torchvision.ops.sigmoid_focal_loss, transcribed."""
    p = torch.sigmoid(inputs)
    ce_loss = TF.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (-1.0, 2.0), (0.75, 0.5), (0.25, 0.0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_focal_is_torchvisions(alpha, gamma, dtype):
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((10, 4)) * 3).astype(dtype)
    y = (rng.random((10, 4)) > 0.6).astype(dtype)
    for reduction in REDUCTIONS:
        _compare(nn.BinaryFocalLoss(alpha, gamma, reduction),
                 lambda a, b: _torchvision_sigmoid_focal_loss(a, b, alpha, gamma, reduction),
                 [x, y], 1, _upstream(rng, x.shape, reduction, dtype), dtype)


@pytest.mark.parametrize("alpha,gamma,ignore", [(None, 2.0, False), (W5, 2.0, True),
                                                (0.5, 0.7, False)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_focal_matches_torch_formula(alpha, gamma, ignore, reduction):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((10, 5)) * 2
    t = rng.integers(0, 5, 10)
    if ignore:
        t[::4] = -100

    def theirs(z, target):
        logp = torch.log_softmax(z, dim=1)
        valid = target != -100
        safe = torch.where(valid, target, 0)
        lp_t = logp.gather(1, safe[:, None])[:, 0]
        a = (torch.ones(5, dtype=z.dtype) if alpha is None else
             torch.full((5,), alpha, dtype=z.dtype) if isinstance(alpha, float)
             else torch.tensor(alpha, dtype=z.dtype))[safe]
        loss = -a * (1 - lp_t.exp()) ** gamma * lp_t * valid
        return {"none": loss, "sum": loss.sum(), "mean": loss.sum() / valid.sum()}[reduction]

    _compare(nn.FocalLoss(alpha=alpha, gamma=gamma, reduction=reduction), theirs, [x, t], 1,
             _upstream(rng, t.shape, reduction, np.float64), np.float64)


@pytest.mark.parametrize("margin", [1.0, 0.3])
def test_hinge_and_perceptron_match_torch_clamp(margin):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((7, 3)) * 2
    y = np.where(rng.random((7, 3)) > 0.5, 1.0, -1.0)
    for reduction in REDUCTIONS:
        red = {"none": lambda v: v, "mean": torch.mean, "sum": torch.sum}[reduction]
        up = _upstream(rng, x.shape, reduction, np.float64)
        _compare(nn.HingeLoss(margin, reduction),
                 lambda a, b: red(torch.clamp(margin - a * b, min=0)), [x, y], 1, up, np.float64)
        _compare(nn.PerceptronLoss(reduction), lambda a, b: red(torch.clamp(-a * b, min=0)),
                 [x, y], 1, up, np.float64)


# ---------------------------------------------------------------------- regression
@pytest.mark.parametrize("ours,theirs", [
    (lambda r: nn.L1Loss(r), lambda r: torch.nn.L1Loss(reduction=r)),
    (lambda r: nn.MSELoss(r), lambda r: torch.nn.MSELoss(reduction=r)),
    (lambda r: nn.SmoothL1Loss(r), lambda r: torch.nn.SmoothL1Loss(reduction=r)),
    (lambda r: nn.SmoothL1Loss(r, beta=0.4), lambda r: torch.nn.SmoothL1Loss(reduction=r, beta=0.4)),
    (lambda r: nn.SmoothL1Loss(r, beta=0.0), lambda r: torch.nn.SmoothL1Loss(reduction=r, beta=0.0)),
    (lambda r: nn.HuberLoss(r), lambda r: torch.nn.HuberLoss(reduction=r)),
    (lambda r: nn.HuberLoss(r, delta=0.3), lambda r: torch.nn.HuberLoss(reduction=r, delta=0.3)),
    (lambda r: nn.HuberLoss(r, delta=2.5), lambda r: torch.nn.HuberLoss(reduction=r, delta=2.5)),
], ids=["L1", "MSE", "SmoothL1", "SmoothL1-0.4", "SmoothL1-0", "Huber", "Huber-0.3",
        "Huber-2.5"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_regression(ours, theirs, dtype):
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((9, 4)) * 2).astype(dtype)
    y = (rng.standard_normal((9, 4)) * 2).astype(dtype)
    y[0, :2] = x[0, :2]                                    # d = 0: sign(0) = 0
    for reduction in REDUCTIONS:
        _compare(ours(reduction), theirs(reduction), [x, y], 1,
                 _upstream(rng, x.shape, reduction, dtype), dtype)


# ----------------------------------------------------------------------- embedding
@pytest.mark.parametrize("kw", [{}, {"margin": 2.0, "p": 1.0}, {"p": 3.0, "swap": True},
                                {"swap": True, "eps": 0.0, "margin": 0.5},
                                {"eps": 0.1, "margin": 1.5}], ids=str)
@pytest.mark.parametrize("one_d", [False, True])
def test_triplet_margin(kw, one_d):
    rng = np.random.default_rng(10)
    shape = (6,) if one_d else (11, 6)
    a = rng.standard_normal(shape)
    p = a + rng.standard_normal(shape) * 0.7
    n = a + rng.standard_normal(shape)
    for reduction in REDUCTIONS:
        _compare(nn.TripletMarginLoss(**kw, reduction=reduction),
                 torch.nn.TripletMarginLoss(**kw, reduction=reduction), [a, p, n], 3,
                 _upstream(rng, shape[:-1], reduction, np.float64), np.float64)


@pytest.mark.parametrize("margin", [0.0, 0.2, -0.3])
@pytest.mark.parametrize("one_d", [False, True])
def test_cosine_embedding(margin, one_d):
    rng = np.random.default_rng(11)
    shape = (6,) if one_d else (11, 6)
    x1, x2 = rng.standard_normal(shape), rng.standard_normal(shape)
    y = np.asarray(np.where(rng.random(shape[:-1]) > 0.5, 1, -1))
    for reduction in REDUCTIONS:
        _compare(nn.CosineEmbeddingLoss(margin, reduction),
                 torch.nn.CosineEmbeddingLoss(margin, reduction=reduction), [x1, x2, y], 2,
                 _upstream(rng, shape[:-1], reduction, np.float64), np.float64)
