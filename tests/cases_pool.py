"""Registrations of the pooling family for the determinism, leak and fuzz tests
(see tests/_registry.py)."""

import numpy as np

from pydl import functional as F
from pydl import nn


def _rand(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _upstream(rng, shape, zero):
    return np.zeros(shape, np.float32) if zero else _rand(rng, shape)


# ---------------------------------------------------------------------- determinism

def _max_pool_case(nd, shape, *args):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x = _rand(rng, shape)
        y, idx = getattr(F, f"max_pool{nd}d_forward")(x, *args)
        gx = getattr(F, f"max_pool{nd}d_backward")(_upstream(rng, y.shape, zero), idx, shape)
        return {"out": [y, idx], "grad": [gx]}
    return run


def _avg_pool_case(nd, shape, *args):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x = _rand(rng, shape)
        y = getattr(F, f"avg_pool{nd}d_forward")(x, *args)
        return [y, getattr(F, f"avg_pool{nd}d_backward")(_upstream(rng, y.shape, zero), shape,
                                                         *args)]
    return run


def _adaptive_case(shape, output_size):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x = _rand(rng, shape)
        y = F.adaptive_avg_pool2d_forward(x, output_size)
        m, idx = F.adaptive_max_pool2d_forward(x, output_size)
        g = _upstream(rng, y.shape, zero)
        return {"out": [y, m, idx], "grad": [F.adaptive_avg_pool2d_backward(g, shape),
                                             F.adaptive_max_pool2d_backward(g, idx, shape)]}
    return run


def _unpool_case(shape):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        y, idx = F.max_pool2d_forward(_rand(rng, shape), 3, 1, 1)   # overlapping windows:
        out = F.max_unpool2d_forward(y, idx, 3, 1, 1)               # repeated indices
        return [out, F.max_unpool2d_backward(_upstream(rng, out.shape, zero), idx)]
    return run


def _interpolate_case(shape, **kwargs):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x = _rand(rng, shape)
        y = F.interpolate_forward(x, **kwargs)
        return [y, F.interpolate_backward(_upstream(rng, y.shape, zero), shape, **kwargs)]
    return run


# Sizes: just past the 32K elements of work that turn on threads, with tails (97, 101,
# odd spatial sizes) so the last chunk of every split is a partial one; small otherwise,
# so that the suite's heap stays compact (see the leak test's own self-check).
DETERMINISM_CASES = {
    "max_pool2d-3x3s1p1-2x101x13x15": _max_pool_case(2, (2, 101, 13, 15), 3, 1, 1),
    "max_pool2d-3x3s2-dilated-ceil-4x97x23x21": _max_pool_case(2, (4, 97, 23, 21), 3, 2, 1,
                                                               2, True),
    "max_pool1d-5s1-3x101x131": _max_pool_case(1, (3, 101, 131), 5, 1, 2),
    "max_pool3d-2-2x17x9x11x13": _max_pool_case(3, (2, 17, 9, 11, 13), 2, 1, 1, 1, True),
    "avg_pool2d-3x3s1p1-2x101x13x15": _avg_pool_case(2, (2, 101, 13, 15), 3, 1, 1, True, False),
    "avg_pool3d-2x17x9x11x13": _avg_pool_case(3, (2, 17, 9, 11, 13), 3, 1, 1),
    "adaptive_pool2d-2x101x17x19-13x15": _adaptive_case((2, 101, 17, 19), (13, 15)),
    "max_unpool2d-3x3s1-2x97x13x15": _unpool_case((2, 97, 13, 15)),
    "interpolate-nearest-1x97x11x13": _interpolate_case((1, 97, 11, 13), scale_factor=1.7),
    "interpolate-bilinear-1x97x11x13": _interpolate_case((1, 97, 11, 13), scale_factor=1.5,
                                                         mode="bilinear"),
    "interpolate-bilinear-down-1x97x23x19": _interpolate_case((1, 97, 23, 19), size=(17, 13),
                                                              mode="bilinear",
                                                              align_corners=True),
    "interpolate-trilinear-1x17x5x7x9": _interpolate_case((1, 17, 5, 7, 9), scale_factor=2,
                                                          mode="trilinear"),
}


# --------------------------------------------------------------------------- leaks

def _pooling_step():
    rng = np.random.default_rng(0)
    x = _rand(rng, (2, 4, 8, 8))   # small: Python overhead, not kernels, sets the pace
    pool = nn.MaxPool2d(2, return_indices=True)
    unpool = nn.MaxUnpool2d(2)
    # avg pool backward allocates a workspace; every op caches its window geometry
    layers = [nn.Upsample(scale_factor=2, mode="bilinear"), nn.Residual(nn.AvgPool2d(3, 1, 1))]

    def step():
        y, idx = pool(x)
        pool.backward(unpool.backward(unpool(y, idx)))
        for m in layers:
            m.backward(m(x))
    return step


LEAK_STEPS = {"pooling": _pooling_step}


# ---------------------------------------------------------------------------- fuzz

_SPATIAL = {1: (9,), 2: (9, 8), 3: (5, 6, 7)}


def _x(rng, nd):
    return _rand(rng, (2, 3) + _SPATIAL[nd])


def _pooled(rng, nd):
    x = _x(rng, nd)
    y, idx = getattr(F, f"max_pool{nd}d_forward")(x, 2)
    return x, y, idx


def _fuzz_max_pool(nd, direction):
    def factory(rng):
        x, y, idx = _pooled(rng, nd)
        if direction == "forward":
            return getattr(F, f"max_pool{nd}d_forward"), (x, 2), {"stride": 2, "padding": 1,
                                                                 "dilation": 1,
                                                                 "ceil_mode": True}
        return getattr(F, f"max_pool{nd}d_backward"), (_rand(rng, y.shape), idx, x.shape), {}
    return factory


def _fuzz_avg_pool(nd, direction):
    def factory(rng):
        x = _x(rng, nd)
        kwargs = {"stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False,
                  "divisor_override": None}
        if direction == "forward":
            return getattr(F, f"avg_pool{nd}d_forward"), (x, 3), kwargs
        y = getattr(F, f"avg_pool{nd}d_forward")(x, 3, **kwargs)
        return (getattr(F, f"avg_pool{nd}d_backward"), (_rand(rng, y.shape), x.shape, 3),
                kwargs)
    return factory


def _fuzz_adaptive(kind, nd, direction):
    def factory(rng):
        x = _x(rng, nd)
        fwd = getattr(F, f"adaptive_{kind}_pool{nd}d_forward")
        if direction == "forward":
            return fwd, (x, 4), {}
        out = fwd(x, 4)
        bwd = getattr(F, f"adaptive_{kind}_pool{nd}d_backward")
        if kind == "avg":
            return bwd, (_rand(rng, out.shape), x.shape), {}
        return bwd, (_rand(rng, out[0].shape), out[1], x.shape), {}
    return factory


def _fuzz_unpool(nd, direction):
    def factory(rng):
        x, y, idx = _pooled(rng, nd)
        if direction == "forward":
            return (getattr(F, f"max_unpool{nd}d_forward"), (y, idx, 2),
                    {"stride": 2, "padding": 0, "output_size": x.shape[2:]})
        return getattr(F, f"max_unpool{nd}d_backward"), (_rand(rng, x.shape), idx), {}
    return factory


def _fuzz_interpolate(direction, mode):
    def factory(rng):
        x = _x(rng, 2)
        kwargs = {"size": None, "scale_factor": 1.5, "mode": mode,
                  "align_corners": False if mode == "bilinear" else None,
                  "recompute_scale_factor": None}
        if direction == "forward":
            return F.interpolate_forward, (x,), kwargs
        y = F.interpolate_forward(x, **kwargs)
        return F.interpolate_backward, (_rand(rng, y.shape), x.shape), kwargs
    return factory


def _fuzz_module(make, nd, with_indices=False):
    def factory(rng):
        module = make()
        if with_indices:
            x, y, idx = _pooled(rng, nd)
            return module.forward, (y, idx), {"output_size": x.shape[2:]}
        return module.forward, (_x(rng, nd),), {}
    return factory


FUZZ_CALLS = {}
for _nd in (1, 2, 3):
    for _dir in ("forward", "backward"):
        FUZZ_CALLS[f"max_pool{_nd}d_{_dir}"] = _fuzz_max_pool(_nd, _dir)
        FUZZ_CALLS[f"avg_pool{_nd}d_{_dir}"] = _fuzz_avg_pool(_nd, _dir)
        FUZZ_CALLS[f"adaptive_avg_pool{_nd}d_{_dir}"] = _fuzz_adaptive("avg", _nd, _dir)
        FUZZ_CALLS[f"adaptive_max_pool{_nd}d_{_dir}"] = _fuzz_adaptive("max", _nd, _dir)
        FUZZ_CALLS[f"max_unpool{_nd}d_{_dir}"] = _fuzz_unpool(_nd, _dir)
    for _name, _make in [("MaxPool", lambda nd: getattr(nn, f"MaxPool{nd}d")(3, 2, 1)),
                         ("AvgPool", lambda nd: getattr(nn, f"AvgPool{nd}d")(3, 2, 1)),
                         ("AdaptiveAvgPool", lambda nd: getattr(nn, f"AdaptiveAvgPool{nd}d")(2)),
                         ("AdaptiveMaxPool", lambda nd: getattr(nn, f"AdaptiveMaxPool{nd}d")(2))]:
        FUZZ_CALLS[f"nn.{_name}{_nd}d"] = _fuzz_module(lambda m=_make, nd=_nd: m(nd), _nd)
    FUZZ_CALLS[f"nn.MaxUnpool{_nd}d"] = _fuzz_module(
        lambda nd=_nd: getattr(nn, f"MaxUnpool{nd}d")(2), _nd, with_indices=True)
for _dir in ("forward", "backward"):
    for _mode in ("nearest", "bilinear"):
        FUZZ_CALLS[f"interpolate_{_dir}-{_mode}"] = _fuzz_interpolate(_dir, _mode)
FUZZ_CALLS["nn.Upsample-bilinear"] = _fuzz_module(
    lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), 2)
FUZZ_CALLS["nn.UpsamplingNearest2d"] = _fuzz_module(lambda: nn.UpsamplingNearest2d(size=5), 2)
FUZZ_CALLS["nn.UpsamplingBilinear2d"] = _fuzz_module(
    lambda: nn.UpsamplingBilinear2d(scale_factor=1.5), 2)
FUZZ_CALLS["nn.Residual"] = _fuzz_module(lambda: nn.Residual(nn.AvgPool2d(3, 1, 1)), 2)
