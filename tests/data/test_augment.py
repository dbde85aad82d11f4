import numpy as np
import pytest

from pydl.data import Augment, gaussian_noise, random_flip, random_shift


def _images(n=6, c=2, h=5, w=7, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(np.float32)


def _shift_one(img, dy, dx, fill):
    """Reference: move img (C, H, W) down by dy and right by dx."""
    c, h, w = img.shape
    out = np.full_like(img, fill)
    for i in range(h):
        for j in range(w):
            si, sj = i - dy, j - dx
            if 0 <= si < h and 0 <= sj < w:
                out[:, i, j] = img[:, si, sj]
    return out


def test_random_shift_matches_a_per_image_reference():
    x = _images()
    before = x.copy()
    out = random_shift(x, max_shift=2, fill=-1.0, generator=np.random.default_rng(4))
    # replay the same draws
    rng = np.random.default_rng(4)
    dy = rng.integers(-2, 3, size=len(x))
    dx = rng.integers(-2, 3, size=len(x))
    for k in range(len(x)):
        np.testing.assert_array_equal(out[k], _shift_one(x[k], dy[k], dx[k], -1.0))
    assert out.dtype == x.dtype
    np.testing.assert_array_equal(x, before)  # input untouched
    assert np.any(dy != 0) and np.any(dx != 0)


def test_random_shift_fraction_and_zero():
    x = _images(h=10, w=10)
    np.testing.assert_array_equal(random_shift(x, 0), x)
    out = random_shift(x, max_shift=0.2, generator=np.random.default_rng(0))  # 2 pixels
    assert out.shape == x.shape
    with pytest.raises(ValueError, match="must be < 1"):
        random_shift(x, 1.5)


def test_random_flip():
    x = _images()
    np.testing.assert_array_equal(random_flip(x, p=1.0), x[..., ::-1])
    np.testing.assert_array_equal(random_flip(x, p=0.0), x)
    out = random_flip(_images(n=200), p=0.5, generator=np.random.default_rng(0))
    flipped = np.array([np.array_equal(o, i[..., ::-1]) for o, i in zip(out, _images(n=200))])
    assert 60 < flipped.sum() < 140
    with pytest.raises(ValueError, match="p must be a probability"):
        random_flip(x, p=1.5)


def test_gaussian_noise_statistics_and_seeding():
    x = np.zeros((50, 1, 20, 20), np.float32)
    a = gaussian_noise(x, std=0.5, generator=np.random.default_rng(1))
    b = gaussian_noise(x, std=0.5, generator=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32
    assert abs(a.std() - 0.5) < 0.01 and abs(a.mean()) < 0.01
    with pytest.raises(ValueError, match="std must be a finite number >= 0"):
        gaussian_noise(x, std=-1)


def test_augment_chain_is_seeded():
    x = _images()
    a = Augment(max_shift=1, flip=0.5, noise=0.1, generator=np.random.default_rng(7))(x)
    b = Augment(max_shift=1, flip=0.5, noise=0.1, generator=np.random.default_rng(7))(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, x)
    np.testing.assert_array_equal(Augment()(x), x)


def test_needs_nchw_images():
    with pytest.raises(ValueError, match="\\(N, C, H, W\\)"):
        random_flip(np.zeros((2, 3, 4, 5, 6), np.float32))
    with pytest.raises(ValueError, match="at least 4 dimension"):
        random_shift(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="kind float"):
        gaussian_noise(np.zeros((1, 1, 2, 2), np.int64))
