"""Registrations of the loss family (issue 6) and the box ops for the cross-cutting
determinism, leak and fuzz tests (see tests/_registry.py)."""

import warnings

import numpy as np

from pydl import functional as F
from pydl import nn, ops


def _rand(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _signs(rng, shape):
    return np.where(rng.random(shape) > 0.5, 1.0, -1.0).astype(np.float32)


def _probs(rng, shape):
    e = np.exp(_rand(rng, shape))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


# Inputs of each loss op: make(rng, n, rows, cols) -> (positional args, keyword args).
# Determinism sizes have tails (100003 elements: 12 chunks of 8192 and a partial one;
# 1001 rows of 101 classes); fuzz sizes are small.
BIG, SMALL = (100_003, 1001, 101), (7, 5, 6)


def _pair(r, n, scale=2.0):
    return _rand(r, n, scale), _rand(r, n, scale)


ELEMENTWISE = {
    "l1_loss": lambda r, n, rows, cols: (_pair(r, n), {}),
    "smooth_l1_loss": lambda r, n, rows, cols: (_pair(r, n), {"beta": 0.5}),
    "huber_loss": lambda r, n, rows, cols: (_pair(r, n), {"delta": 0.8}),
    "binary_cross_entropy": lambda r, n, rows, cols: (
        (r.random(n).astype(np.float32), r.random(n).astype(np.float32)), {}),
    "sigmoid_focal_loss": lambda r, n, rows, cols: (
        (_rand(r, n, 3), (r.random(n) > 0.8).astype(np.float32)), {"reduction": "mean"}),
    "hinge_loss": lambda r, n, rows, cols: ((_rand(r, n, 2), _signs(r, n)), {"margin": 0.5}),
    "perceptron_loss": lambda r, n, rows, cols: ((_rand(r, n, 2), _signs(r, n)), {}),
    "kl_div": lambda r, n, rows, cols: ((_rand(r, (rows, cols)), _probs(r, (rows, cols))),
                                        {"reduction": "batchmean"}),
}

ROWWISE = {
    "nll_loss": lambda r, n, rows, cols: (
        (_rand(r, (rows, cols)), r.integers(0, cols, rows)),
        {"weight": r.random(cols).astype(np.float32) + 0.5}),
    "softmax_cross_entropy": lambda r, n, rows, cols: (
        (_rand(r, (rows, cols), 3), _probs(r, (rows, cols))), {"label_smoothing": 0.1}),
    "multi_margin_loss": lambda r, n, rows, cols: (
        (_rand(r, (rows, cols)), r.integers(0, cols, rows)),
        {"p": 2, "weight": r.random(cols).astype(np.float32)}),
    "softmax_focal_loss": lambda r, n, rows, cols: (
        (_rand(r, (rows, cols), 2), r.integers(0, cols, rows)),
        {"alpha": r.random(cols).astype(np.float32)}),
    "triplet_margin_loss": lambda r, n, rows, cols: (
        (_rand(r, (rows, cols)), _rand(r, (rows, cols)), _rand(r, (rows, cols))),
        {"swap": True, "margin": 3.0}),
    "cosine_embedding_loss": lambda r, n, rows, cols: (
        (_rand(r, (rows, cols)), _rand(r, (rows, cols)), _signs(r, rows)), {"margin": 0.1}),
}


def _loss_case(name, make, reduction=None):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        args, kw = make(rng, *BIG)
        if reduction is not None:
            kw = dict(kw, reduction=reduction)
        red = kw.get("reduction", "mean")
        loss, grad = getattr(F, name + "_forward")(*args, **kw)
        if red == "none":
            up = np.zeros_like(loss) if zero else _rand(rng, loss.shape)
        else:
            up = 0.0 if zero else 0.7
        back = getattr(F, name + "_backward")(grad, up, red)
        grads = list(back) if isinstance(back, tuple) else [back]
        return {"out": [np.asarray(loss, np.float64)], "grad": grads}
    return run


def _box_case(seed, zero):
    rng = np.random.default_rng(seed)
    xy = rng.random((2001, 2)) * 100
    boxes = np.concatenate([xy, xy + rng.random((2001, 2)) * 20], 1).astype(np.float32)
    scores = rng.random(2001).astype(np.float32)
    return {"out": [ops.box_iou(boxes[:301], boxes[:297]), ops.nms(boxes, scores, 0.4)],
            "grad": []}


DETERMINISM_CASES = {f"{name}-issue6": _loss_case(name, make)
                     for name, make in {**ELEMENTWISE, **ROWWISE}.items()}
DETERMINISM_CASES.update({
    "huber_loss-none-issue6": _loss_case("huber_loss", ELEMENTWISE["huber_loss"], "none"),
    "nll_loss-none-issue6": _loss_case("nll_loss", ROWWISE["nll_loss"], "none"),
    "triplet_margin_loss-none-issue6": _loss_case("triplet_margin_loss",
                                                  ROWWISE["triplet_margin_loss"], "none"),
    "box_iou+nms-2001": _box_case,
})


# --------------------------------------------------------------------------- leaks
def _small_inputs(rng):
    x = _rand(rng, (16, 10))
    return {
        "x": x, "y": _rand(rng, (16, 10)), "p": rng.random((16, 10)).astype(np.float32),
        "probs": _probs(rng, (16, 10)), "labels": rng.integers(0, 10, 16),
        "signs": _signs(rng, (16, 10)), "pair_signs": _signs(rng, 16),
        "binary": (rng.random((16, 10)) > 0.5).astype(np.float32),
    }


def _module_calls(d):
    """(module, inputs) for every loss module of the family, on small float32 data."""
    w = np.linspace(0.5, 1.5, 10).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [
            (nn.CrossEntropyLoss(weight=w, label_smoothing=0.1), (d["x"], d["probs"])),
            (nn.NLLLoss(weight=w, reduction="none"), (d["x"], d["labels"])),
            (nn.BCELoss(weight=w), (d["p"], d["binary"])),
            (nn.KLDivLoss(reduction="batchmean"), (d["x"], d["probs"])),
            (nn.L1Loss(), (d["x"], d["y"])),
            (nn.SmoothL1Loss(beta=0.5), (d["x"], d["y"])),
            (nn.HuberLoss(delta=0.5, reduction="sum"), (d["x"], d["y"])),
            (nn.HingeLoss(), (d["x"], d["signs"])),
            (nn.PerceptronLoss(), (d["x"], d["signs"])),
            (nn.BinaryFocalLoss(), (d["x"], d["binary"])),
            (nn.FocalLoss(alpha=w), (d["x"], d["labels"])),
            (nn.MultiMarginLoss(p=2, weight=w), (d["x"], d["labels"])),
            (nn.TripletMarginLoss(swap=True), (d["x"], d["y"], d["p"])),
            (nn.CosineEmbeddingLoss(margin=0.2), (d["x"], d["y"], d["pair_signs"])),
        ]


def _loss_modules_step(part):
    def factory():
        calls = _module_calls(_small_inputs(np.random.default_rng(0)))[part]

        def step():
            for crit, inputs in calls:
                out = crit(*inputs)
                crit.backward(np.ones_like(out) if np.ndim(out) else 1.0)
        return step
    return factory


def _boxes_step():
    rng = np.random.default_rng(0)
    xy = rng.random((64, 2)) * 50
    boxes = np.concatenate([xy, xy + rng.random((64, 2)) * 20], 1).astype(np.float32)
    scores = rng.random(64).astype(np.float32)

    def step():
        ops.box_iou(boxes, boxes)
        ops.nms(boxes, scores, 0.5)
    return step


# two families, so that a step stays near 1 ms
LEAK_STEPS = {"losses-issue6-classification": _loss_modules_step(slice(0, 4)),
              "losses-issue6-regression+margin": _loss_modules_step(slice(4, 10)),
              "losses-issue6-focal+embedding": _loss_modules_step(slice(10, None)),
              "boxes": _boxes_step}


# ---------------------------------------------------------------------------- fuzz
def _forward_call(name, make):
    def factory(rng):
        args, kw = make(rng, *SMALL)
        return getattr(F, name + "_forward"), args, kw
    return factory


def _backward_call(name, make):
    def factory(rng):
        args, kw = make(rng, *SMALL)
        red = kw.get("reduction", "mean")
        _, grad = getattr(F, name + "_forward")(*args, **kw)
        return getattr(F, name + "_backward"), (grad, 0.5), {"reduction": red}
    return factory


def _module_call(k):
    def factory(rng):
        crit, inputs = _module_calls(_small_inputs(rng))[k]
        return crit, inputs, {}
    return factory


def _box_inputs(rng):
    xy = rng.random((9, 2)) * 10
    return np.concatenate([xy, xy + rng.random((9, 2)) * 5], 1).astype(np.float32)


FUZZ_CALLS = {}
for _name, _make in {**ELEMENTWISE, **ROWWISE}.items():
    FUZZ_CALLS[f"F.{_name}_forward"] = _forward_call(_name, _make)
    FUZZ_CALLS[f"F.{_name}_backward"] = _backward_call(_name, _make)
FUZZ_CALLS.update({
    f"nn.{type(crit).__name__}": _module_call(k)
    for k, (crit, _) in enumerate(_module_calls(_small_inputs(np.random.default_rng(0))))})
FUZZ_CALLS.update({
    "ops.box_iou": lambda r: (ops.box_iou, (_box_inputs(r), _box_inputs(r)[:4]), {}),
    "ops.box_area": lambda r: (ops.box_area, (_box_inputs(r),), {}),
    "ops.nms": lambda r: (ops.nms, (_box_inputs(r), r.random(9).astype(np.float32), 0.5), {}),
    "ops.batched_nms": lambda r: (ops.batched_nms, (_box_inputs(r),
                                                    r.random(9).astype(np.float32),
                                                    r.integers(0, 3, 9), 0.5), {}),
})
