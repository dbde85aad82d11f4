import numpy as np
import pytest

from pydl.data import (Binarizer, DecimalScaler, LogTransformer, MeanNormalizer, MinMaxScaler,
                       NotFittedError, StandardScaler)


@pytest.fixture
def train_test():
    rng = np.random.default_rng(0)
    train = (rng.standard_normal((40, 5)) * [1, 10, 0.1, 3, 1] + [0, 5, -2, 100, 0])
    train[:, 4] = 7.0  # a constant feature
    test = rng.standard_normal((9, 5)) * 4
    return train, test


def _sklearn_pair(name, **kwargs):
    pre = pytest.importorskip("sklearn.preprocessing")
    ours = {"StandardScaler": StandardScaler, "MinMaxScaler": MinMaxScaler,
            "Binarizer": Binarizer}[name](**kwargs)
    return ours, getattr(pre, name)(**kwargs)


@pytest.mark.parametrize("name, kwargs", [
    ("StandardScaler", {}), ("StandardScaler", {"with_mean": False}),
    ("StandardScaler", {"with_std": False}), ("MinMaxScaler", {}),
    ("MinMaxScaler", {"feature_range": (-1, 3)}), ("MinMaxScaler", {"clip": True}),
    ("Binarizer", {"threshold": 0.5}),
])
def test_matches_scikit_learn_fit_on_train_applied_to_test(name, kwargs, train_test):
    train, test = train_test
    ours, theirs = _sklearn_pair(name, **kwargs)
    np.testing.assert_allclose(ours.fit_transform(train), theirs.fit_transform(train),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.transform(test), theirs.transform(test), rtol=1e-12,
                               atol=1e-12)
    if name != "Binarizer":
        back = ours.inverse_transform(ours.transform(test))
        np.testing.assert_allclose(back, theirs.inverse_transform(theirs.transform(test)),
                                   rtol=1e-12, atol=1e-12)


def test_standard_scaler_statistics_and_float32(train_test):
    train, _ = train_test
    s = StandardScaler().fit(train)
    np.testing.assert_allclose(s.mean_, train.mean(0))
    np.testing.assert_allclose(s.scale_[:4], train.std(0)[:4])
    assert s.scale_[4] == 1.0  # a constant feature is not divided by zero
    z = s.transform(train)
    np.testing.assert_allclose(z[:, :4].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(z[:, :4].std(0), 1, atol=1e-12)
    out = StandardScaler().fit_transform(train.astype(np.float32))
    assert out.dtype == np.float32
    assert StandardScaler().fit_transform(np.arange(6).reshape(3, 2)).dtype == np.float64


def test_images_are_scaled_per_pixel():
    x = np.random.default_rng(1).random((10, 1, 4, 4)).astype(np.float32)
    out = MinMaxScaler().fit_transform(x)
    assert out.shape == x.shape
    np.testing.assert_allclose(out.min(0), 0, atol=1e-6)
    np.testing.assert_allclose(out.max(0), 1, atol=1e-6)


def test_mean_normalizer(train_test):
    train, test = train_test
    m = MeanNormalizer().fit(train)
    spread = train.max(0) - train.min(0)
    expected = (test[:, :4] - train[:, :4].mean(0)) / spread[:4]
    np.testing.assert_allclose(m.transform(test)[:, :4], expected)
    out = m.transform(train)
    assert np.all(np.abs(out) <= 1)
    np.testing.assert_allclose(m.inverse_transform(m.transform(test)), test)


def test_decimal_scaler_exponents():
    x = np.array([[999.0, 100.0, 0.05, 0.0, -12.0],
                  [-5.0, 3.0, 0.01, 0.0, 1.0]])
    d = DecimalScaler().fit(x)
    np.testing.assert_array_equal(d.exponent_, [3, 3, -1, 0, 2])
    out = d.transform(x)
    assert np.all(np.abs(out) < 1)
    np.testing.assert_allclose(out[0], [0.999, 0.1, 0.5, 0.0, -0.12])
    np.testing.assert_allclose(d.inverse_transform(out), x)


def test_log_transformer():
    x = np.array([[0.0, 9.0], [99.0, 0.5]])
    t = LogTransformer()
    np.testing.assert_allclose(t.fit_transform(x), np.log1p(x))
    np.testing.assert_allclose(t.inverse_transform(t.transform(x)), x)
    t2 = LogTransformer(offset=0.0).fit(x + 1)
    np.testing.assert_allclose(t2.transform(x + 1), np.log(x + 1))
    with pytest.raises(ValueError, match="needs x \\+ offset > 0"):
        t.transform(np.array([[-1.0, 0.0]]))


def test_binarizer_has_no_inverse():
    b = Binarizer(threshold=1.0).fit(np.zeros((2, 2)))
    np.testing.assert_array_equal(b.transform(np.array([[0.5, 1.0], [1.5, 3]])),
                                  [[0, 0], [1, 1]])
    with pytest.raises(NotImplementedError, match="Binarizer cannot be inverted"):
        b.inverse_transform(np.zeros((1, 2)))


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler, MeanNormalizer, DecimalScaler,
                                 LogTransformer, Binarizer])
def test_bad_input(cls):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        cls().transform(np.ones((2, 3)))
    fitted = cls().fit(np.ones((4, 3)))
    with pytest.raises(ValueError, match="feature shape \\(2,\\), but .* fitted on \\(3,\\)"):
        fitted.transform(np.ones((4, 2)))
    with pytest.raises(ValueError, match="contains NaN"):
        cls().fit(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="at least 2 dimension"):
        cls().fit(np.ones(5))
    with pytest.raises(ValueError, match="x is empty"):
        cls().fit(np.ones((0, 3)))
    with pytest.raises(TypeError, match="x must be an array of kind"):
        cls().fit(np.ones((2, 2), dtype=complex))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="min must be below max"):
        MinMaxScaler(feature_range=(1, 0))
    with pytest.raises(TypeError, match="feature_range must be a pair"):
        MinMaxScaler(feature_range=3)
    with pytest.raises(ValueError, match="threshold must be a number"):
        Binarizer(float("nan"))
