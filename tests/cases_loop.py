"""Registrations of the training loop, data utilities and metrics (see tests/_registry.py).

No DETERMINISM_CASES: this family adds no kernels (fit's bitwise reproducibility is
tested in tests/training and by the resume test in tests/test_serialization.py).
"""

import numpy as np

import pydl
from pydl import data, metrics, nn
from pydl.optim import SGD


def _tiny_problem(rng, n=24, d=5, k=3):
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    return x, y


def _tiny_model(d=5, k=3):
    pydl.manual_seed(0)
    return nn.Sequential(nn.Linear(d, 8), nn.Tanh(), nn.Linear(8, k))


def _loop_step():
    """Alternately one epoch of pydl.fit (a shuffled batch, a metric, clipping) and a
    predict + evaluate, on 8 samples: the loop's own overhead, not the layers'."""
    x, y = _tiny_problem(np.random.default_rng(0), n=8)
    pydl.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 3))
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss = nn.CrossEntropyLoss()
    gen = np.random.default_rng(1)
    count = [0]

    def step():
        count[0] += 1
        if count[0] % 2:
            pydl.fit(model, x, y, loss=loss, optimizer=opt, batch_size=8,
                     metrics=["accuracy"], clip_grad_norm=1.0, verbose=0, generator=gen)
        else:
            pydl.predict(model, x)
            pydl.evaluate(model, x, y, loss=loss, metrics=["f1"])
    return step


LEAK_STEPS = {"loop.fit_evaluate_predict": _loop_step}


def _fit(rng):
    x, y = _tiny_problem(rng)
    model = _tiny_model()
    return pydl.fit, (model, x, y), {
        "loss": nn.CrossEntropyLoss(), "optimizer": SGD(model.parameters(), lr=0.01),
        "batch_size": 8, "verbose": 0, "metrics": ["accuracy"], "clip_grad_norm": 1.0}


def _evaluate(rng):
    x, y = _tiny_problem(rng)
    return pydl.evaluate, (_tiny_model(), x, y), {"loss": nn.CrossEntropyLoss(),
                                                  "metrics": ["accuracy"], "batch_size": 7}


def _predict(rng):
    x, _ = _tiny_problem(rng)
    return pydl.predict, (_tiny_model(), x), {"batch_size": 7}


def _labels(rng, n=30, k=4):
    return rng.integers(0, k, n), rng.integers(0, k, n)


def _metric(fn, **kwargs):
    def factory(rng):
        return fn, _labels(rng), dict(kwargs)
    return factory


def _scaler(cls, **kwargs):
    def factory(rng):
        x = (rng.standard_normal((12, 3)) * 5 + 1).astype(np.float32)
        return cls(**kwargs).fit_transform, (x,), {}
    return factory


def _images(rng):
    return rng.random((3, 2, 6, 5)).astype(np.float32)


FUZZ_CALLS = {
    "loop.fit": _fit,
    "loop.evaluate": _evaluate,
    "loop.predict": _predict,
    "metrics.accuracy": _metric(metrics.accuracy),
    "metrics.zero_one_loss": _metric(metrics.zero_one_loss),
    "metrics.precision": _metric(metrics.precision, average="macro", zero_division=0),
    "metrics.recall": _metric(metrics.recall, average="weighted", zero_division=0),
    "metrics.f1_score": _metric(metrics.f1_score, average="micro"),
    "metrics.confusion_matrix": _metric(metrics.confusion_matrix),
    "data.StandardScaler": _scaler(data.StandardScaler),
    "data.MinMaxScaler": _scaler(data.MinMaxScaler, feature_range=(-1, 1)),
    "data.MeanNormalizer": _scaler(data.MeanNormalizer),
    "data.DecimalScaler": _scaler(data.DecimalScaler),
    "data.LogTransformer": _scaler(data.LogTransformer, offset=100.0),
    "data.Binarizer": _scaler(data.Binarizer, threshold=0.5),
    "data.one_hot": lambda rng: (data.one_hot, (rng.integers(0, 5, 9), 5), {}),
    "data.train_test_split": lambda rng: (
        data.train_test_split, _tiny_problem(rng), {"test_size": 0.25, "seed": 0}),
    "data.random_shift": lambda rng: (data.random_shift, (_images(rng), 2),
                                      {"generator": np.random.default_rng(0)}),
    "data.random_flip": lambda rng: (data.random_flip, (_images(rng), 0.5),
                                     {"generator": np.random.default_rng(0)}),
    "data.gaussian_noise": lambda rng: (data.gaussian_noise, (_images(rng), 0.1),
                                        {"generator": np.random.default_rng(0)}),
}
