"""Registrations of the normalization, dropout and extra activation ops (batch norm,
layer norm, local response norm, dropout, PReLU, softplus, hardtanh, GELU) for the
cross-cutting tests; see tests/_registry.py for the format."""

import numpy as np

import pydl
from pydl import functional as F
from pydl import nn


def _f32(rng, *shape, scale=1.0, shift=0.0):
    return (rng.standard_normal(shape) * scale + shift).astype(np.float32)


def _upstream(rng, shape, zero):
    return np.zeros(shape, np.float32) if zero else _f32(rng, *shape)


# ------------------------------------------------------------------- determinism

def _batch_norm_case(shape, training):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        c = shape[1]
        x = _f32(rng, *shape, scale=2.0, shift=3.0)
        w, b = _f32(rng, c), _f32(rng, c)
        rm, rv = _f32(rng, c), (rng.random(c) + 0.5).astype(np.float32)
        y, mean, invstd = F.batch_norm_forward(x, w, b, rm, rv, training=training,
                                               momentum=0.1)
        grads = F.batch_norm_backward(_upstream(rng, shape, zero), x, w, mean, invstd,
                                      training=training)
        return {"out": [y, mean, invstd, rm, rv], "grad": list(grads)}
    return run


def _layer_norm_case(rows, d):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x = _f32(rng, rows, d, scale=2.0, shift=1.0)
        w, b = _f32(rng, d), _f32(rng, d)
        y, mean, rstd = F.layer_norm_forward(x, d, w, b)
        grads = F.layer_norm_backward(_upstream(rng, x.shape, zero), x, d, w, mean, rstd)
        return {"out": [y, mean, rstd], "grad": list(grads)}
    return run


def _lrn_case(shape, size):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x = _f32(rng, *shape, scale=3.0)
        y, denom = F.local_response_norm_forward(x, size, 1e-2, 0.75, 2.0)
        g = F.local_response_norm_backward(_upstream(rng, shape, zero), x, y, denom, size,
                                           1e-2, 0.75, 2.0)
        return {"out": [y, denom], "grad": [g]}
    return run


def _dropout_case(n, p):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x = _f32(rng, n)
        y, mask = F.dropout_forward(x, p, generator=np.random.default_rng(seed))
        return {"out": [y, mask], "grad": [F.dropout_backward(_upstream(rng, (n,), zero),
                                                              mask, p)]}
    return run


def _channel_dropout_case(shape, p):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x = _f32(rng, *shape)
        y, mask = F.channel_dropout_forward(x, p, generator=np.random.default_rng(seed))
        g = F.channel_dropout_backward(_upstream(rng, shape, zero), mask, p)
        return {"out": [y, mask], "grad": [g]}
    return run


def _prelu_case(shape, per_channel):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x = _f32(rng, *shape)
        w = _f32(rng, shape[1] if per_channel else 1, scale=0.3)
        y = F.prelu_forward(x, w)
        return [y, *F.prelu_backward(_upstream(rng, shape, zero), x, w)]
    return run


def _input_saving_case(name, n, hyper):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x = _f32(rng, n, scale=4.0)
        y = getattr(F, name + "_forward")(x, *hyper)
        return [y, getattr(F, name + "_backward")(_upstream(rng, (n,), zero), x, *hyper)]
    return run


DETERMINISM_CASES = {
    "batch_norm2d-train-7x97x11x13": _batch_norm_case((7, 97, 11, 13), True),
    "batch_norm2d-eval-7x97x11x13": _batch_norm_case((7, 97, 11, 13), False),
    "batch_norm1d-train-1001x101": _batch_norm_case((1001, 101), True),
    "batch_norm1d-train-97x3x301": _batch_norm_case((97, 3, 301), True),
    "layer_norm-301x257": _layer_norm_case(301, 257),
    "layer_norm-4001x7": _layer_norm_case(4001, 7),
    "local_response_norm-5x13x97x11": _lrn_case((5, 13, 97, 11), 5),
    "dropout-100003": _dropout_case(100_003, 0.3),
    "channel_dropout-7x101x97": _channel_dropout_case((7, 101, 97), 0.5),
    "prelu-channels-9x101x97": _prelu_case((9, 101, 97), True),
    "prelu-shared-9x101x97": _prelu_case((9, 101, 97), False),
    "prelu-channels-1001x97": _prelu_case((1001, 97), True),
    "softplus-100003": _input_saving_case("softplus", 100_003, (2.0, 5.0)),
    "hardtanh-100003": _input_saving_case("hardtanh", 100_003, (-1.5, 2.0)),
    "gelu-100003": _input_saving_case("gelu", 100_003, ("none",)),
    "gelu-tanh-100003": _input_saving_case("gelu", 100_003, ("tanh",)),
}


# ------------------------------------------------------------------------- leaks

def _norm_step():
    pydl.manual_seed(0)
    layers = [nn.BatchNorm1d(16), nn.LayerNorm(16), nn.PReLU(16), nn.GELU(),
              nn.Softplus(), nn.Hardtanh(), nn.Dropout(0.3)]
    x = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
    return _chain_step(layers, x)


def _norm2d_step():
    pydl.manual_seed(0)
    layers = [nn.BatchNorm2d(4), nn.LocalResponseNorm(3), nn.Dropout2d(0.5),
              nn.GELU("tanh"), nn.PReLU()]
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 5)).astype(np.float32)
    return _chain_step(layers, x)


def _chain_step(layers, x):
    model = nn.Sequential(*layers)
    g = np.ones_like(x)

    def step():
        model(x)
        model.backward(g)
        model.zero_grad()
    return step


LEAK_STEPS = {"norm-1d": _norm_step, "norm-2d": _norm2d_step}


# -------------------------------------------------------------------------- fuzz

def _bn_forward(rng):
    return (F.batch_norm_forward, (_f32(rng, 4, 3, 5), _f32(rng, 3), _f32(rng, 3),
                                   np.zeros(3, np.float32), np.ones(3, np.float32)),
            {"training": True, "momentum": 0.1, "eps": 1e-5})


def _bn_forward_eval(rng):
    return (F.batch_norm_forward, (_f32(rng, 4, 3), _f32(rng, 3), _f32(rng, 3),
                                   _f32(rng, 3), np.ones(3, np.float32)),
            {"training": False})


def _bn_backward(rng):
    x, w = _f32(rng, 4, 3, 5), _f32(rng, 3)
    _, mean, invstd = F.batch_norm_forward(x, w)
    return F.batch_norm_backward, (_f32(rng, 4, 3, 5), x, w, mean, invstd), {}


def _ln_forward(rng):
    return (F.layer_norm_forward, (_f32(rng, 4, 2, 6), (2, 6), _f32(rng, 2, 6),
                                   _f32(rng, 2, 6)), {"eps": 1e-5})


def _ln_backward(rng):
    x, w = _f32(rng, 4, 6), _f32(rng, 6)
    _, mean, rstd = F.layer_norm_forward(x, 6, w)
    return F.layer_norm_backward, (_f32(rng, 4, 6), x, 6, w, mean, rstd), {}


def _lrn_forward(rng):
    return (F.local_response_norm_forward, (_f32(rng, 2, 6, 3), 3),
            {"alpha": 1e-2, "beta": 0.75, "k": 1.0})


def _lrn_backward(rng):
    x = _f32(rng, 2, 6, 3)
    y, denom = F.local_response_norm_forward(x, 3, 1e-2)
    return (F.local_response_norm_backward, (_f32(rng, 2, 6, 3), x, y, denom, 3),
            {"alpha": 1e-2})


def _dropout_forward(rng):
    return (F.dropout_forward, (_f32(rng, 4, 9), 0.3),
            {"generator": np.random.default_rng(1)})


def _dropout_backward(rng):
    _, mask = F.dropout_forward(_f32(rng, 4, 9), 0.3, generator=np.random.default_rng(1))
    return F.dropout_backward, (_f32(rng, 4, 9), mask, 0.3), {}


def _channel_dropout_forward(rng):
    return (F.channel_dropout_forward, (_f32(rng, 3, 4, 5), 0.5),
            {"generator": np.random.default_rng(1)})


def _channel_dropout_backward(rng):
    _, mask = F.channel_dropout_forward(_f32(rng, 3, 4, 5), 0.5,
                                        generator=np.random.default_rng(1))
    return F.channel_dropout_backward, (_f32(rng, 3, 4, 5), mask, 0.5), {}


def _prelu_forward(rng):
    return F.prelu_forward, (_f32(rng, 4, 3, 5), _f32(rng, 3)), {}


def _prelu_backward(rng):
    return F.prelu_backward, (_f32(rng, 4, 3, 5), _f32(rng, 4, 3, 5), _f32(rng, 3)), {}


def _elementwise(name, *hyper):
    def forward(rng):
        return getattr(F, name + "_forward"), (_f32(rng, 4, 9, scale=3.0), *hyper), {}

    def backward(rng):
        return (getattr(F, name + "_backward"),
                (_f32(rng, 4, 9), _f32(rng, 4, 9, scale=3.0), *hyper), {})
    return {name + "_forward": forward, name + "_backward": backward}


def _module(make, *shape):
    def factory(rng):
        return make(), (_f32(rng, *shape),), {}
    return factory


FUZZ_CALLS = {
    "batch_norm_forward": _bn_forward,
    "batch_norm_forward-eval": _bn_forward_eval,
    "batch_norm_backward": _bn_backward,
    "layer_norm_forward": _ln_forward,
    "layer_norm_backward": _ln_backward,
    "local_response_norm_forward": _lrn_forward,
    "local_response_norm_backward": _lrn_backward,
    "dropout_forward": _dropout_forward,
    "dropout_backward": _dropout_backward,
    "channel_dropout_forward": _channel_dropout_forward,
    "channel_dropout_backward": _channel_dropout_backward,
    "prelu_forward": _prelu_forward,
    "prelu_backward": _prelu_backward,
    **_elementwise("softplus", 2.0, 10.0),
    **_elementwise("hardtanh", -1.0, 2.0),
    **_elementwise("gelu", "tanh"),
    "nn.BatchNorm1d": _module(lambda: nn.BatchNorm1d(3), 4, 3),
    "nn.BatchNorm2d": _module(lambda: nn.BatchNorm2d(3, momentum=None), 2, 3, 4, 5),
    "nn.BatchNorm3d": _module(lambda: nn.BatchNorm3d(2), 2, 2, 3, 2, 2),
    "nn.LayerNorm": _module(lambda: nn.LayerNorm((3, 4)), 2, 3, 4),
    "nn.LocalResponseNorm": _module(lambda: nn.LocalResponseNorm(3), 2, 5, 4),
    "nn.Dropout": _module(lambda: nn.Dropout(0.4, generator=np.random.default_rng(2)), 4, 9),
    "nn.Dropout1d": _module(lambda: nn.Dropout1d(generator=np.random.default_rng(2)), 4, 3, 5),
    "nn.Dropout2d": _module(lambda: nn.Dropout2d(generator=np.random.default_rng(2)),
                            2, 3, 4, 5),
    "nn.Dropout3d": _module(lambda: nn.Dropout3d(generator=np.random.default_rng(2)),
                            2, 3, 2, 2, 2),
    "nn.PReLU": _module(lambda: nn.PReLU(3), 4, 3, 5),
    "nn.Softplus": _module(nn.Softplus, 4, 9),
    "nn.Hardtanh": _module(nn.Hardtanh, 4, 9),
    "nn.GELU": _module(nn.GELU, 4, 9),
}
