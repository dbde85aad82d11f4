"""Registrations of the foundation ops (dense, activations, losses, SGD) for the
cross-cutting tests; see tests/_registry.py for the format."""

import numpy as np

from pydl import functional as F
from pydl import nn


def _f32(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _linear(rng):
    return F.linear_forward, (_f32(rng, 5, 7), _f32(rng, 3, 7), _f32(rng, 3)), {}


def _linear_backward(rng):
    return F.linear_backward, (_f32(rng, 5, 3), _f32(rng, 5, 7), _f32(rng, 3, 7)), {}


def _elementwise(name, saved="out", hyper=()):
    def forward(rng):
        return getattr(F, name + "_forward"), (_f32(rng, 4, 9), *hyper), {}

    def backward(rng):
        x = _f32(rng, 4, 9)
        s = getattr(F, name + "_forward")(x) if saved == "out" else x
        return getattr(F, name + "_backward"), (_f32(rng, 4, 9), s, *hyper), {}
    return {name + "_forward": forward, name + "_backward": backward}


def _rowwise(name):
    def forward(rng):
        return getattr(F, name + "_forward"), (_f32(rng, 4, 9),), {"dim": 1}

    def backward(rng):
        y = getattr(F, name + "_forward")(_f32(rng, 4, 9), 1)
        return getattr(F, name + "_backward"), (_f32(rng, 4, 9), y), {"dim": 1}
    return {name + "_forward": forward, name + "_backward": backward}


def _cross_entropy(rng):
    return (F.softmax_cross_entropy_forward, (_f32(rng, 6, 5), rng.integers(0, 5, 6)),
            {"weight": (rng.random(5) + 0.5).astype(np.float32), "label_smoothing": 0.1})


def _cross_entropy_backward(rng):
    _, g = F.softmax_cross_entropy_forward(_f32(rng, 6, 5), rng.integers(0, 5, 6))
    return F.softmax_cross_entropy_backward, (g, 0.5), {}


def _bce(rng):
    return (F.binary_cross_entropy_with_logits_forward,
            (_f32(rng, 6, 5), rng.random((6, 5)).astype(np.float32)),
            {"pos_weight": (rng.random(5) + 0.5).astype(np.float32)})


def _mse(rng):
    return F.mse_loss_forward, (_f32(rng, 6, 5), _f32(rng, 6, 5)), {"reduction": "sum"}


def _sgd(rng):
    return (F.sgd_step, (_f32(rng, 10), _f32(rng, 10), _f32(rng, 10)),
            {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01})


def _module(make, *shape):
    def factory(rng):
        return make(), (_f32(rng, *shape),), {}
    return factory


def _seeded_linear():
    return nn.Linear(7, 3, generator=np.random.default_rng(0))


def _loss_module(make, target):
    def factory(rng):
        return make(), (_f32(rng, 6, 5), target(rng)), {}
    return factory


FUZZ_CALLS = {
    "linear_forward": _linear,
    "linear_backward": _linear_backward,
    **_elementwise("relu"),
    **_elementwise("leaky_relu", "x", (0.1,)),
    **_elementwise("elu", "x", (1.0,)),
    **_elementwise("sigmoid"),
    **_elementwise("tanh"),
    **_elementwise("silu", "x"),
    **_rowwise("softmax"),
    **_rowwise("log_softmax"),
    "softmax_cross_entropy_forward": _cross_entropy,
    "softmax_cross_entropy_backward": _cross_entropy_backward,
    "binary_cross_entropy_with_logits_forward": _bce,
    "mse_loss_forward": _mse,
    "sgd_step": _sgd,
    "nn.Linear": _module(_seeded_linear, 5, 7),
    "nn.ReLU": _module(nn.ReLU, 4, 9),
    "nn.Softmax": _module(lambda: nn.Softmax(dim=1), 4, 9),
    "nn.Flatten": _module(nn.Flatten, 2, 3, 4),
    "nn.BCEWithLogitsLoss": _loss_module(nn.BCEWithLogitsLoss,
                                         lambda r: r.random((6, 5)).astype(np.float32)),
    "nn.MSELoss": _loss_module(nn.MSELoss, lambda r: _f32(r, 6, 5)),
}
