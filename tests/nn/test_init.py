"""pydl.nn.init: fans, gains, the spread of each initialiser, seeded reproducibility."""

import math

import numpy as np
import pytest

import pydl
from pydl.nn import Parameter, init

SHAPE = (400, 300)        # fan_in 300, fan_out 400: 120,000 draws
CONV = (64, 16, 5, 5)     # fan_in 400, fan_out 1600


def test_fans_include_the_receptive_field():
    assert init.calculate_fan_in_and_fan_out((5, 3)) == (3, 5)
    assert init.calculate_fan_in_and_fan_out(np.zeros(CONV)) == (400, 1600)
    assert init._calculate_fan_in_and_fan_out(Parameter(np.zeros((8, 2, 3)))) == (6, 24)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.calculate_fan_in_and_fan_out(np.zeros(4))


def test_gains_match_torch():
    torch = pytest.importorskip("torch")
    for name, param in [("linear", None), ("conv2d", None), ("sigmoid", None),
                        ("tanh", None), ("relu", None), ("leaky_relu", None),
                        ("leaky_relu", 0.2), ("selu", None)]:
        assert init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


# (initialiser, kwargs, shape, expected mean, expected std)
SPREADS = [
    (init.uniform_, dict(a=-2.0, b=4.0), SHAPE, 1.0, 6 / math.sqrt(12)),
    (init.normal_, dict(mean=0.5, std=2.0), SHAPE, 0.5, 2.0),
    (init.small_normal_, {}, SHAPE, 0.0, 0.01),
    (init.xavier_uniform_, {}, SHAPE, 0.0, math.sqrt(2 / 700)),
    (init.xavier_normal_, dict(gain=2.0), SHAPE, 0.0, 2 * math.sqrt(2 / 700)),
    (init.kaiming_uniform_, dict(nonlinearity="relu"), SHAPE, 0.0, math.sqrt(2 / 300)),
    (init.kaiming_uniform_, dict(a=math.sqrt(5)), SHAPE, 0.0, math.sqrt(1 / 900)),
    (init.kaiming_normal_, dict(mode="fan_out", nonlinearity="relu"), CONV, 0.0,
     math.sqrt(2 / 1600)),
    (init.kaiming_normal_, dict(a=0.1), CONV, 0.0, math.sqrt(2 / 1.01 / 400)),
    (init.lecun_uniform_, {}, CONV, 0.0, math.sqrt(1 / 400)),
    (init.lecun_normal_, {}, SHAPE, 0.0, math.sqrt(1 / 300)),
]


@pytest.mark.parametrize("fn,kw,shape,mean,std", SPREADS,
                         ids=[f"{s[0].__name__}-{s[1]}" for s in SPREADS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_spread(fn, kw, shape, mean, std, dtype):
    w = np.zeros(shape, dtype)
    assert fn(w, generator=np.random.default_rng(0), **kw) is w
    # 25,600+ draws: the sample std is within 2.5% of the truth (5 sigma)
    assert abs(w.std() - std) < 0.025 * std
    assert abs(w.mean() - mean) < 0.02 * std
    if fn.__name__.endswith("uniform_"):
        bound = mean + std * math.sqrt(3)
        assert w.max() <= bound * (1 + 1e-6) and w.max() > 0.99 * bound


def test_uniform_bounds_match_torch():
    """Same distributions as torch.nn.init: the uniform bounds agree exactly."""
    torch = pytest.importorskip("torch")
    for fn, kw in [("xavier_uniform_", dict(gain=1.5)),
                   ("kaiming_uniform_", dict(a=math.sqrt(5))),
                   ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="tanh"))]:
        ours = getattr(init, fn)(np.zeros(CONV), **kw)
        theirs = getattr(torch.nn.init, fn)(torch.zeros(CONV, dtype=torch.float64), **kw)
        # the largest of 25,600 uniform draws lies within 0.1% of the bound
        np.testing.assert_allclose(np.abs(ours).max(), np.abs(theirs.numpy()).max(),
                                   rtol=1e-3)


ALL = [init.uniform_, init.normal_, init.small_normal_, init.xavier_uniform_,
       init.xavier_normal_, init.kaiming_uniform_, init.kaiming_normal_,
       init.lecun_uniform_, init.lecun_normal_]


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
def test_seeded_reproducibility(fn):
    a, b, c = (np.zeros((7, 5, 3), np.float32) for _ in range(3))
    fn(a, generator=np.random.default_rng(42))
    fn(b, generator=np.random.default_rng(42))
    assert a.tobytes() == b.tobytes()
    pydl.manual_seed(42)
    fn(c)
    assert c.tobytes() == a.tobytes()
    fn(c)   # the default generator moved on
    assert c.tobytes() != a.tobytes()
    d = Parameter(np.zeros((7, 5, 3)))   # float64: the same draws, unrounded
    fn(d, generator=np.random.default_rng(42))
    np.testing.assert_array_equal(d.data.astype(np.float32), a)


def test_constants_and_views():
    w = np.full((4, 6), np.nan, np.float32)
    assert np.all(init.zeros_(w) == 0) and np.all(init.ones_(w) == 1)
    assert np.all(init.constant_(Parameter(w), 2.5).data == 2.5)
    init.normal_(w[:, ::2], generator=np.random.default_rng(0))  # a strided view
    assert np.all(w[:, 1::2] == 2.5) and np.all(w[:, ::2] != 2.5)
    empty = np.zeros((0, 5), np.float32)
    init.kaiming_normal_(empty)
    init.xavier_uniform_(empty)


def test_bad_input():
    w = np.zeros((3, 4), np.float32)
    ro = w.copy()
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="tensor is read-only"):
        init.normal_(ro)
    with pytest.raises(TypeError, match="tensor must be a Parameter or a float ndarray"):
        init.zeros_(np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="tensor must be a Parameter or a float ndarray"):
        init.uniform_([0.0, 1.0])
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_uniform_(w, mode="fan_avg")
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_normal_(np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="std must be >= 0"):
        init.normal_(w, std=-1.0)
    with pytest.raises(ValueError, match="uniform_ needs a <= b"):
        init.uniform_(w, 1.0, 0.0)
    with pytest.raises(ValueError, match="val must be finite"):
        init.constant_(w, float("nan"))
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator"):
        init.normal_(w, generator=42)
    with pytest.raises(ValueError, match="negative_slope"):
        init.kaiming_normal_(w, a="0.1")
