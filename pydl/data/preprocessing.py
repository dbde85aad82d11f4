"""Feature scaling fitted on training data and applied unchanged to test data.

scikit-learn's interface: ``fit(x)`` learns per-feature statistics over axis 0 (the
samples), ``transform(x)`` applies them, ``fit_transform`` does both,
``inverse_transform`` undoes the scaling. Features are every axis after the first, so
images ``(N, C, H, W)`` are scaled per pixel. Statistics are computed in float64; a
float32 input gives a float32 output, integers give float64.
"""

import math
import numbers

import numpy as np

from ._checks import as_array

__all__ = ["NotFittedError", "StandardScaler", "MinMaxScaler", "MeanNormalizer",
           "DecimalScaler", "LogTransformer", "Binarizer"]


class NotFittedError(ValueError, AttributeError):
    """A transformer was used before ``fit`` (scikit-learn's exception of that name)."""


def _as_features(x, name="x"):
    x = as_array(x, name, min_ndim=2)
    if x.shape[1:] and 0 in x.shape[1:]:
        raise ValueError(f"{name} has no features (shape {x.shape})")
    return x


def _out_dtype(x):
    return x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)


def _safe_scale(scale):
    """Constant features (zero spread) are left unscaled, as in scikit-learn."""
    scale = np.array(scale, dtype=np.float64)
    scale[scale < 10 * np.finfo(np.float64).eps] = 1.0
    return scale


class _Transformer:
    """Base: shape bookkeeping and fit_transform; subclasses define ``_fit``,
    ``_transform`` and (when meaningful) ``_inverse``, all in float64."""

    _stats = ()

    def fit(self, x, y=None):
        """Learn the statistics from ``x`` of shape (N, ...); returns self."""
        x = _as_features(x)
        self.n_features_in_ = int(np.prod(x.shape[1:]))
        self.feature_shape_ = x.shape[1:]
        self.n_samples_seen_ = x.shape[0]
        self._fit(x.astype(np.float64, copy=False))
        return self

    def _checked(self, x):
        if not hasattr(self, "feature_shape_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit "
                                 f"on the training data first")
        x = _as_features(x)
        if x.shape[1:] != self.feature_shape_:
            raise ValueError(f"x has feature shape {x.shape[1:]}, but "
                             f"{type(self).__name__} was fitted on {self.feature_shape_}")
        return x

    def transform(self, x):
        """Apply the fitted scaling to ``x`` (same feature shape as in fit)."""
        x = self._checked(x)
        return self._transform(x.astype(np.float64, copy=False)).astype(_out_dtype(x))

    def fit_transform(self, x, y=None):
        return self.fit(x).transform(x)

    def inverse_transform(self, x):
        """Map scaled values back to the original units."""
        x = self._checked(x)
        return self._inverse(x.astype(np.float64, copy=False)).astype(_out_dtype(x))

    def _inverse(self, x):
        raise NotImplementedError(f"{type(self).__name__} cannot be inverted")

    def __repr__(self):
        return f"{type(self).__name__}({self._params()})"

    def _params(self):
        return ""


class StandardScaler(_Transformer):
    """Z-score: ``(x - mean_) / scale_`` with the population standard deviation.

    Attributes after fit: ``mean_``, ``var_``, ``scale_`` (std; 1 for constant features),
    ``n_samples_seen_``.
    """

    def __init__(self, with_mean=True, with_std=True):
        self.with_mean = bool(with_mean)
        self.with_std = bool(with_std)

    def _fit(self, x):
        self.mean_ = x.mean(axis=0)
        self.var_ = x.var(axis=0)
        self.scale_ = _safe_scale(np.sqrt(self.var_))

    def _transform(self, x):
        if self.with_mean:
            x = x - self.mean_
        return x / self.scale_ if self.with_std else x

    def _inverse(self, x):
        if self.with_std:
            x = x * self.scale_
        return x + self.mean_ if self.with_mean else x

    def _params(self):
        return f"with_mean={self.with_mean}, with_std={self.with_std}"


class MinMaxScaler(_Transformer):
    """Rescale each feature linearly so the training range maps to ``feature_range``.

    ``x * scale_ + min_`` with ``scale_ = (hi - lo) / (data_max_ - data_min_)``; a
    constant feature maps to ``lo``. ``clip`` clamps transformed test data to the range.
    """

    def __init__(self, feature_range=(0.0, 1.0), clip=False):
        try:
            lo, hi = feature_range
        except (TypeError, ValueError):
            raise TypeError(f"feature_range must be a pair (min, max), "
                            f"got {feature_range!r}") from None
        for v in (lo, hi):
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise ValueError(f"feature_range must hold two finite numbers, "
                                 f"got {feature_range!r}")
        if lo >= hi:
            raise ValueError(f"feature_range min must be below max, got {feature_range!r}")
        self.feature_range = (float(lo), float(hi))
        self.clip = bool(clip)

    def _fit(self, x):
        lo, hi = self.feature_range
        self.data_min_ = x.min(axis=0)
        self.data_max_ = x.max(axis=0)
        self.data_range_ = self.data_max_ - self.data_min_
        self.scale_ = (hi - lo) / _safe_scale(self.data_range_)
        self.min_ = lo - self.data_min_ * self.scale_

    def _transform(self, x):
        x = x * self.scale_ + self.min_
        return np.clip(x, *self.feature_range) if self.clip else x

    def _inverse(self, x):
        return (x - self.min_) / self.scale_

    def _params(self):
        return f"feature_range={self.feature_range}, clip={self.clip}"


class MeanNormalizer(_Transformer):
    """Mean normalisation: ``(x - mean_) / (max - min)``, values within about [-1, 1]."""

    def _fit(self, x):
        self.mean_ = x.mean(axis=0)
        self.scale_ = _safe_scale(x.max(axis=0) - x.min(axis=0))

    def _transform(self, x):
        return (x - self.mean_) / self.scale_

    def _inverse(self, x):
        return x * self.scale_ + self.mean_


class DecimalScaler(_Transformer):
    """Decimal scaling: ``x / 10**j`` per feature, ``j`` the smallest integer with
    ``max|x| / 10**j < 1`` on the training data (``exponent_``; 0 for all-zero features).
    """

    def _fit(self, x):
        peak = np.abs(x).max(axis=0)
        j = np.zeros(peak.shape, dtype=np.int64)
        nonzero = peak > 0
        j[nonzero] = np.floor(np.log10(peak[nonzero])).astype(np.int64) + 1
        # log10 rounding near exact powers of ten: make max|x| / 10**j < 1 exact.
        j += (peak / 10.0 ** j >= 1)
        self.exponent_ = j
        self.scale_ = 10.0 ** j

    def _transform(self, x):
        return x / self.scale_

    def _inverse(self, x):
        return x * self.scale_


class LogTransformer(_Transformer):
    """``log(x + offset)`` elementwise (``log1p`` for the default offset 1), for
    skewed non-negative features such as counts. Nothing is learned; ``fit`` only
    records the feature shape. Values must satisfy ``x + offset > 0``.
    """

    def __init__(self, offset=1.0):
        if isinstance(offset, bool) or not isinstance(offset, numbers.Real) \
                or not math.isfinite(offset):
            raise ValueError(f"offset must be a finite number, got {offset!r}")
        self.offset = float(offset)

    def _fit(self, x):
        self._check_domain(x)

    def _check_domain(self, x):
        if x.size and (x + self.offset).min() <= 0:
            raise ValueError(f"log transform needs x + offset > 0, but x has minimum "
                             f"{x.min()} with offset={self.offset}")

    def _transform(self, x):
        self._check_domain(x)
        return np.log1p(x) if self.offset == 1.0 else np.log(x + self.offset)

    def _inverse(self, x):
        return np.expm1(x) if self.offset == 1.0 else np.exp(x) - self.offset

    def _params(self):
        return f"offset={self.offset}"


class Binarizer(_Transformer):
    """1 where ``x > threshold``, else 0 (scikit-learn's ``Binarizer``; no inverse)."""

    def __init__(self, threshold=0.0):
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) \
                or math.isnan(threshold):
            raise ValueError(f"threshold must be a number, got {threshold!r}")
        self.threshold = float(threshold)

    def _fit(self, x):
        pass

    def _transform(self, x):
        return (x > self.threshold).astype(np.float64)

    def _params(self):
        return f"threshold={self.threshold}"
