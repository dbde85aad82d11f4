"""Registrations of the augmentations for the determinism and fuzz tests
(see tests/_registry.py): each call draws from a generator seeded afresh, so repeated
calls are comparable."""

import numpy as np

from pydl import data

_CALLS = {
    "random_rotation": (data.random_rotation, {"degrees": 25.0, "order": 1,
                                               "mode": "reflect", "cval": 0.0}),
    "random_scale": (data.random_scale, {"scale": (0.8, 1.25), "mode": "constant",
                                         "cval": 0.5}),
    "random_resized_crop": (data.random_resized_crop, {"size": (7, 9),
                                                       "scale": (0.3, 1.0)}),
    "elastic_distortion": (data.elastic_distortion, {"alpha": 5.0, "sigma": 2.0}),
    "random_erasing": (data.random_erasing, {"p": 0.8, "value": 0.5}),
    "cutout": (data.cutout, {"size": 4, "p": 0.9, "value": 0.0}),
    "color_jitter": (data.color_jitter, {"brightness": 0.3, "contrast": 0.3,
                                         "saturation": 0.3, "hue": 0.1}),
}


def _seeded(fn):
    def call(x, **kwargs):
        return fn(x, generator=np.random.default_rng(5), **kwargs)
    call.__name__ = fn.__name__
    return call


def _images(rng, shape=(5, 3, 13, 11)):
    return rng.random(shape).astype(np.float32)


def _determinism(fn, kwargs):
    def run(seed, zero):
        x = _images(np.random.default_rng(seed), (9, 3, 29, 31))
        return {"out": [_seeded(fn)(x, **kwargs)], "grad": []}
    return run


def _fuzz(fn, kwargs):
    def factory(rng):
        return _seeded(fn), (_images(rng),), dict(kwargs)
    return factory


DETERMINISM_CASES = {f"augment_{k}": _determinism(*v) for k, v in _CALLS.items()}
FUZZ_CALLS = {f"augment_{k}": _fuzz(*v) for k, v in _CALLS.items()}
