"""Registrations of the optimizer family (Adam, AdamW, Adagrad, RMSprop, schedules)
for the cross-cutting tests; see tests/_registry.py for the format."""

import numpy as np

from pydl import functional as F
from pydl import nn, optim
from pydl.nn import Parameter
from pydl.optim import lr_scheduler

N = 100_003  # above the parallel threshold, with a tail


def _f32(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _optimizer_case(cls, **hyper):
    """Three steps of ``cls`` on two parameters (one split over threads); the
    parameters and every state array come back."""
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        params = [Parameter(_f32(rng, N)), Parameter(_f32(rng, 97, 101))]
        opt = cls([{"params": params[:1]}, {"params": params[1:], "lr": 0.003}], **hyper)
        for _ in range(3):
            for p in params:
                p.grad = np.zeros_like(p.data) if zero else _f32(rng, *p.shape)
            opt.step()
        state = [v for p in params for _, v in sorted(opt.state[p].items())
                 if isinstance(v, np.ndarray)]
        return {"out": [p.data for p in params] + state, "grad": []}
    return run


DETERMINISM_CASES = {
    "Adam-amsgrad-wd": _optimizer_case(optim.Adam, lr=0.01, amsgrad=True, weight_decay=0.1),
    "AdamW": _optimizer_case(optim.AdamW, lr=0.01, maximize=True),
    "Adagrad": _optimizer_case(optim.Adagrad, lr=0.1, lr_decay=0.01, weight_decay=0.01),
    "RMSprop-centered-momentum": _optimizer_case(optim.RMSprop, centered=True, momentum=0.9),
    "RMSprop": _optimizer_case(optim.RMSprop, weight_decay=0.01),
}


def _adam_training_step():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(16, 32, generator=rng), nn.ReLU(),
                          nn.Linear(32, 4, generator=rng))
    crit = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=50)
    x = _f32(rng, 8, 16)
    t = rng.integers(0, 4, 8)

    def step():
        crit(model(x), t)
        model.backward(crit.backward())
        opt.step()
        opt.zero_grad()
        sched.step()
    return step


def _rmsprop_adagrad_step():
    rng = np.random.default_rng(1)
    params = [Parameter(_f32(rng, 64, 64)), Parameter(_f32(rng, 64))]
    opts = [optim.RMSprop(params, centered=True, momentum=0.9), optim.Adagrad(params),
            optim.AdamW(params)]
    grads = [_f32(rng, 64, 64), _f32(rng, 64)]

    def step():
        for opt in opts:
            for p, g in zip(params, grads):
                p.grad = g.copy()
            opt.step()
    return step


LEAK_STEPS = {"mlp+adam+cosine": _adam_training_step,
              "rmsprop+adagrad+adamw": _rmsprop_adagrad_step}


def _adam(rng):
    return (F.adam_step, (_f32(rng, 5, 7), _f32(rng, 5, 7), _f32(rng, 5, 7),
                          np.abs(_f32(rng, 5, 7)), np.abs(_f32(rng, 5, 7))),
            {"step": 3, "lr": 0.01, "betas": (0.9, 0.99), "eps": 1e-8,
             "weight_decay": 0.01, "amsgrad": True})


def _adagrad(rng):
    return (F.adagrad_step, (_f32(rng, 5, 7), _f32(rng, 5, 7), np.abs(_f32(rng, 5, 7))),
            {"step": 2, "lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01, "eps": 1e-10})


def _rmsprop(rng):
    return (F.rmsprop_step, (_f32(rng, 5, 7), _f32(rng, 5, 7), np.abs(_f32(rng, 5, 7)),
                             _f32(rng, 5, 7, scale=0.1), _f32(rng, 5, 7)),
            {"lr": 0.01, "alpha": 0.9, "eps": 1e-8, "weight_decay": 0.01, "momentum": 0.9,
             "centered": True})


def _construction(cls, **hyper):
    """Build the optimizer with the (fuzzed) hyper-parameters and take one step."""
    def factory(rng):
        params = [Parameter(_f32(rng, 5, 7)), Parameter(_f32(rng, 7))]
        grads = [_f32(rng, 5, 7), _f32(rng, 7)]

        def construct_and_step(**kw):
            opt = cls(params, **kw)
            for p, g in zip(params, grads):
                p.grad = g
            opt.step()
            return [p.data for p in params]
        return construct_and_step, (), hyper
    return factory


def _initialiser(fn, **kw):
    def factory(rng):
        return fn, (np.zeros((6, 4, 3), np.float32),), {"generator": rng, **kw}
    return factory


FUZZ_CALLS = {
    "adam_step": _adam,
    "adagrad_step": _adagrad,
    "rmsprop_step": _rmsprop,
    "optim.Adam": _construction(optim.Adam, lr=0.01, eps=1e-8, weight_decay=0.01,
                                amsgrad=True),
    "optim.AdamW": _construction(optim.AdamW, lr=0.01, weight_decay=0.1),
    "optim.Adagrad": _construction(optim.Adagrad, lr=0.1, lr_decay=0.01,
                                   initial_accumulator_value=0.1, eps=1e-10),
    "optim.RMSprop": _construction(optim.RMSprop, lr=0.01, alpha=0.9, momentum=0.5,
                                   centered=True),
    "optim.SGD": _construction(optim.SGD, lr=0.1, momentum=0.9, dampening=0.1),
    "nn.init.xavier_uniform_": _initialiser(nn.init.xavier_uniform_, gain=1.5),
    "nn.init.kaiming_normal_": _initialiser(nn.init.kaiming_normal_, a=0.1),
    "nn.init.normal_": _initialiser(nn.init.normal_, mean=0.5, std=2.0),
}
