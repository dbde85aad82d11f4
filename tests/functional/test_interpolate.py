"""Resampling kernels against their NumPy twin, the adjoint property and bad input."""

import numpy as np
import pytest

from pydl import functional as F
from pydl import reference as R
from tests.helpers import as64, assert_close, randn

LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _random_case(rng, nd):
    spatial = tuple(int(v) for v in rng.integers(1, 9, nd))
    mode = str(rng.choice(["nearest", "nearest-exact", "area", LINEAR[nd]]))
    kwargs = {}
    if rng.integers(2):
        kwargs["size"] = tuple(int(v) for v in rng.integers(1, 12, nd))
    else:
        kwargs["scale_factor"] = float(rng.choice([1.0, 2.0, 3.0, 1.5, 2.0000001, 1.7, 4.0]))
        kwargs["recompute_scale_factor"] = bool(rng.integers(2))
    if mode == LINEAR[nd]:
        kwargs["align_corners"] = bool(rng.integers(2))
    return spatial, mode, kwargs


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_interpolate_matches_reference(nd, dtype):
    rng = np.random.default_rng(nd)
    for _ in range(16):
        spatial, mode, kwargs = _random_case(rng, nd)
        x = randn(rng, (2, 3) + spatial, dtype)
        y = F.interpolate_forward(x, mode=mode, **kwargs)
        ry = R.interpolate_forward(x, mode=mode, **kwargs)
        assert y.dtype == dtype and y.shape == ry.shape
        if mode.startswith("nearest"):
            np.testing.assert_array_equal(y, ry)      # a copy of input values
        else:
            assert_close(y, ry, dtype)
        g = randn(rng, y.shape, dtype)
        gx = F.interpolate_backward(g, x.shape, mode=mode, **kwargs)
        assert_close(gx, R.interpolate_backward(*as64(g), x.shape, mode=mode, **kwargs), dtype)


@pytest.mark.parametrize("mode,nd", [("nearest", 2), ("nearest", 1), ("nearest-exact", 3),
                                     ("bilinear", 2), ("linear", 1), ("trilinear", 3),
                                     ("area", 2)])
def test_backward_is_the_adjoint_of_forward(mode, nd):
    """<interp(x), g> == <x, interp_backward(g)> for any x and g."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3) + (5, 4, 3)[:nd])
    for kwargs in ({"scale_factor": 2.0}, {"size": (7, 3, 2)[:nd]}, {"scale_factor": 0.6}):
        if mode in LINEAR.values():
            kwargs["align_corners"] = True
        y = F.interpolate_forward(x, mode=mode, **kwargs)
        g = rng.standard_normal(y.shape)
        gx = F.interpolate_backward(g, x.shape, mode=mode, **kwargs)
        np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, gx), rtol=1e-12)


def test_nearest_2d_shortcuts_follow_pytorch():
    """PyTorch's 2-D nearest copies when out == in and halves when out == 2 * in, even
    with a scale factor a hair off; 1-D and 3-D use the formula (checked in the torch
    parity tests too)."""
    x = np.arange(4.0).reshape(1, 1, 1, 4)
    y = F.interpolate_forward(x, scale_factor=(1.0, 2.0000001))
    np.testing.assert_array_equal(y[0, 0, 0], [0, 0, 1, 1, 2, 2, 3, 3])
    y = F.interpolate_forward(x.reshape(1, 1, 4), scale_factor=2.0000001)
    np.testing.assert_array_equal(y[0, 0], [0, 0, 0, 1, 1, 2, 2, 3])


def test_align_corners_keeps_corners():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 3, 4))
    y = F.interpolate_forward(x, size=(7, 9), mode="bilinear", align_corners=True)
    np.testing.assert_allclose(y[..., [0, -1], :][..., [0, -1]], x[..., [0, -1], :][..., [0, -1]],
                               rtol=1e-12)


def test_area_mode_is_adaptive_average_pooling(dtype):
    x = randn(np.random.default_rng(0), (2, 3, 9, 7), dtype)
    np.testing.assert_array_equal(F.interpolate_forward(x, size=(4, 3), mode="area"),
                                  F.adaptive_avg_pool2d_forward(x, (4, 3)))


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(scale_factor=2, mode="bicubic"), ValueError, "mode must be one of"),
    (dict(size=4, scale_factor=2), ValueError, "exactly one of size and scale_factor"),
    (dict(), ValueError, "exactly one of size and scale_factor"),
    (dict(scale_factor=2, align_corners=True), ValueError, "align_corners can only"),
    (dict(scale_factor=2, mode="bilinear", align_corners=1), TypeError, "must be a bool"),
    (dict(scale_factor=2, mode="linear"), ValueError, "needs 3-D input"),
    (dict(scale_factor=2, mode="trilinear"), ValueError, "needs 5-D input"),
    (dict(size=(4, 4, 4)), ValueError, "sequence of 2"),
    (dict(size=0), ValueError, "size must be >= 1"),
    (dict(size=2.5), TypeError, "size must be an int"),
    (dict(scale_factor=0.1), ValueError, "every output size must be >= 1"),
    (dict(scale_factor=-2.0), ValueError, "scale_factor must be > 0"),
    (dict(scale_factor=float("nan")), ValueError, "scale_factor must be finite"),
    (dict(scale_factor="2"), TypeError, "scale_factor must be a real number"),
    (dict(size=4, recompute_scale_factor=True), ValueError, "not meaningful"),
    (dict(scale_factor=2, recompute_scale_factor="yes"), TypeError, "must be a bool"),
])
def test_bad_arguments_raise(kwargs, exc, match):
    x = np.zeros((1, 2, 4, 4), np.float32)
    with pytest.raises(exc, match=match):
        F.interpolate_forward(x, **kwargs)


def test_bad_arrays_raise():
    x = np.zeros((1, 2, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"must be \(N, C, L\), \(N, C, H, W\)"):
        F.interpolate_forward(x[0, 0], scale_factor=2)
    with pytest.raises(ValueError, match="spatial axes must be non-empty"):
        F.interpolate_forward(np.zeros((1, 2, 0, 4)), scale_factor=2)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.interpolate_forward(x.astype(int), scale_factor=2)
    with pytest.raises(ValueError, match=r"expected \(1, 2, 8, 8\)"):
        F.interpolate_backward(np.zeros((1, 2, 8, 7)), x.shape, scale_factor=2)
    with pytest.raises(ValueError, match="input_shape must be a shape"):
        F.interpolate_backward(np.zeros((1, 2, 8, 8)), (1, 2, 4), scale_factor=2)
    with pytest.raises(ValueError, match="empty spatial axis"):
        F.interpolate_backward(np.zeros((1, 2, 8, 8)), (1, 2, 0, 4), scale_factor=2)
