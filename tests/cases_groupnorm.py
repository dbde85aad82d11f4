"""Registrations of group norm and instance norm for the cross-cutting tests; see
tests/_registry.py for the format."""

import numpy as np

import pydl
from pydl import functional as F
from pydl import nn

from .cases_norm import _f32, _module, _upstream

# ------------------------------------------------------------------- determinism

def _group_norm_case(shape, groups):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        c = shape[1]
        x = _f32(rng, *shape, scale=2.0, shift=3.0)
        w, b = _f32(rng, c), _f32(rng, c)
        y, mean, rstd = F.group_norm_forward(x, groups, w, b)
        grads = F.group_norm_backward(_upstream(rng, shape, zero), x, groups, w, mean, rstd)
        return {"out": [y, mean, rstd], "grad": list(grads)}
    return run


def _instance_norm_case(shape, use_input_stats):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        c = shape[1]
        x = _f32(rng, *shape, scale=2.0, shift=3.0)
        w, b = _f32(rng, c), _f32(rng, c)
        rm, rv = _f32(rng, c), (rng.random(c) + 0.5).astype(np.float32)
        y, mean, rstd = F.instance_norm_forward(x, w, b, rm, rv,
                                                use_input_stats=use_input_stats)
        grads = F.instance_norm_backward(_upstream(rng, shape, zero), x, w, mean, rstd,
                                         use_input_stats=use_input_stats)
        return {"out": [y, mean, rstd, rm, rv], "grad": list(grads)}
    return run


DETERMINISM_CASES = {
    "group_norm-7x96x11x13-g32": _group_norm_case((7, 96, 11, 13), 32),
    "group_norm-3x101x97-g1": _group_norm_case((3, 101, 97), 1),
    "group_norm-1001x24-g8": _group_norm_case((1001, 24), 8),
    "instance_norm2d-train-5x97x11x13": _instance_norm_case((5, 97, 11, 13), True),
    "instance_norm2d-eval-5x97x11x13": _instance_norm_case((5, 97, 11, 13), False),
    "instance_norm1d-train-33x7x301": _instance_norm_case((33, 7, 301), True),
}


# ------------------------------------------------------------------------- leaks

def _group_norm_step():
    pydl.manual_seed(0)
    model = nn.Sequential(nn.GroupNorm(2, 4), nn.InstanceNorm2d(4, affine=True,
                                                                  track_running_stats=True))
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 5)).astype(np.float32)
    g = np.ones_like(x)

    def step():
        model(x)
        model.backward(g)
        model.zero_grad()
    return step


LEAK_STEPS = {"group-norm": _group_norm_step}


# -------------------------------------------------------------------------- fuzz

def _gn_forward(rng):
    return (F.group_norm_forward, (_f32(rng, 4, 6, 5), 3, _f32(rng, 6), _f32(rng, 6)),
            {"eps": 1e-5})


def _gn_backward(rng):
    x, w = _f32(rng, 4, 6, 5), _f32(rng, 6)
    _, mean, rstd = F.group_norm_forward(x, 3, w)
    return F.group_norm_backward, (_f32(rng, 4, 6, 5), x, 3, w, mean, rstd), {}


def _in_forward(rng):
    return (F.instance_norm_forward, (_f32(rng, 4, 3, 5), _f32(rng, 3), _f32(rng, 3),
                                      np.zeros(3, np.float32), np.ones(3, np.float32)),
            {"use_input_stats": True, "momentum": 0.1, "eps": 1e-5})


def _in_forward_eval(rng):
    return (F.instance_norm_forward, (_f32(rng, 4, 3, 5), _f32(rng, 3), _f32(rng, 3),
                                      _f32(rng, 3), np.ones(3, np.float32)),
            {"use_input_stats": False})


def _in_backward(rng):
    x, w = _f32(rng, 4, 3, 5), _f32(rng, 3)
    _, mean, rstd = F.instance_norm_forward(x, w)
    return F.instance_norm_backward, (_f32(rng, 4, 3, 5), x, w, mean, rstd), {}


FUZZ_CALLS = {
    "group_norm_forward": _gn_forward,
    "group_norm_backward": _gn_backward,
    "instance_norm_forward": _in_forward,
    "instance_norm_forward-eval": _in_forward_eval,
    "instance_norm_backward": _in_backward,
    "nn.GroupNorm": _module(lambda: nn.GroupNorm(2, 4), 3, 4, 5),
    "nn.InstanceNorm1d": _module(lambda: nn.InstanceNorm1d(3, affine=True), 4, 3, 5),
    "nn.InstanceNorm2d": _module(lambda: nn.InstanceNorm2d(3, track_running_stats=True),
                                 2, 3, 4, 5),
    "nn.InstanceNorm3d": _module(lambda: nn.InstanceNorm3d(2, affine=True), 2, 2, 3, 2, 2),
}
