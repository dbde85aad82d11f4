"""Registrations of the style-transfer ops (Gram matrix, content and style losses) for
the cross-cutting tests; see tests/_registry.py for the format."""

import numpy as np

from pydl import functional as F
from pydl import nn

from .cases_norm import _f32, _module, _upstream


def _gram_case(shape):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x = _f32(rng, *shape)
        g = F.gram_matrix_forward(x)
        return [g, F.gram_matrix_backward(_upstream(rng, g.shape, zero), x)]
    return run


def _style_case(shape):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x = _f32(rng, *shape)
        target = F.gram_matrix_forward(_f32(rng, 1, *shape[1:]))[0]
        loss, grad = F.style_loss_forward(x, target)
        return [np.float64(loss), F.style_loss_backward(grad, 0.0 if zero else 1.5)]
    return run


DETERMINISM_CASES = {
    "gram_matrix-3x97x33x31": _gram_case((3, 97, 33, 31)),
    "style_loss-2x64x45x41": _style_case((2, 64, 45, 41)),
}


def _gram_forward(rng):
    return F.gram_matrix_forward, (_f32(rng, 2, 3, 4, 5),), {"normalize": True}


def _gram_backward(rng):
    return F.gram_matrix_backward, (_f32(rng, 2, 3, 3), _f32(rng, 2, 3, 4, 5)), {}


def _style_forward(rng):
    return (F.style_loss_forward, (_f32(rng, 2, 3, 4, 5), _f32(rng, 3, 3)),
            {"reduction": "mean", "normalize": True})


def _content_forward(rng):
    return (F.content_loss_forward, (_f32(rng, 2, 3, 4, 5), _f32(rng, 2, 3, 4, 5)),
            {"reduction": "sum"})


def _loss_module(make, *shape):
    def factory(rng):
        return make(rng), (_f32(rng, *shape),), {}
    return factory


FUZZ_CALLS = {
    "gram_matrix_forward": _gram_forward,
    "gram_matrix_backward": _gram_backward,
    "style_loss_forward": _style_forward,
    "content_loss_forward": _content_forward,
    "nn.GramMatrix": _module(nn.GramMatrix, 2, 3, 4, 5),
    "nn.StyleLoss": _loss_module(lambda rng: nn.StyleLoss(_f32(rng, 1, 3, 4, 5)), 2, 3, 4, 5),
    "nn.ContentLoss": _loss_module(lambda rng: nn.ContentLoss(_f32(rng, 2, 3, 4, 5)),
                                   2, 3, 4, 5),
}
