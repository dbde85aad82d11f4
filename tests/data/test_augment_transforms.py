"""Rotation, scaling, resized crops, elastic distortion, erasing, cutout and color
jitter: checked against scipy.ndimage (same interpolation order and boundary mode) or
colorsys and formulas by hand, with the random draws replayed; determinism at any
thread count; composition; bad arguments."""

import colorsys
import warnings

import numpy as np
import pytest

import pydl
from pydl import data
from pydl.data import color, geometric
from pydl.data._augment_args import random_boxes
from pydl.data._warp import gaussian_blur, sample

ndi = pytest.importorskip("scipy.ndimage")

# pydl mode -> scipy.ndimage mode
SCIPY_MODE = {"constant": "grid-constant", "nearest": "nearest", "reflect": "reflect",
              "mirror": "mirror", "wrap": "grid-wrap"}


def _images(n=3, c=2, h=9, w=11, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(dtype)


def _per_channel(fn, x):
    """Apply a 2-D scipy function to every (image, channel) plane: the reference."""
    return np.array([[fn(k, plane) for plane in img] for k, img in enumerate(x)])


# ----------------------------------------------------------------- resampling core
@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("mode", sorted(SCIPY_MODE))
def test_sample_matches_map_coordinates(order, mode):
    x = _images()
    rng = np.random.default_rng(1)
    rows, cols = rng.uniform(-12, 20, (2, 3, 6, 5))
    out = sample(x, rows, cols, order, mode, cval=0.7)
    want = _per_channel(lambda k, p: ndi.map_coordinates(
        p, [rows[k], cols[k]], order=order, mode=SCIPY_MODE[mode], cval=0.7), x)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sigma", [0.5, 1.5, 4.0, 30.0])   # 30: kernel wider than image
def test_gaussian_blur_matches_gaussian_filter(sigma):
    a = np.random.default_rng(2).random((2, 2, 7, 10))
    want = ndi.gaussian_filter(a, (0, 0, sigma, sigma), mode="reflect")
    np.testing.assert_allclose(gaussian_blur(a, sigma), want, rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------- geometric
@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("mode", sorted(SCIPY_MODE))
def test_random_rotation_matches_scipy_rotate(order, mode):
    x = _images()
    out = data.random_rotation(x, 40, order=order, mode=mode, cval=0.25,
                               generator=np.random.default_rng(3))
    angle = np.random.default_rng(3).uniform(-40, 40, len(x))
    want = np.array([ndi.rotate(img, angle[k], axes=(1, 2), reshape=False, order=order,
                                mode=SCIPY_MODE[mode], cval=0.25)
                     for k, img in enumerate(x)])
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-10)


def test_rotation_by_90_degrees_turns_counter_clockwise():
    x = _images(1, 1, 5, 5)
    out = data.random_rotation(x, (90, 90), order=0)
    np.testing.assert_allclose(out[0, 0], np.rot90(x[0, 0]), atol=1e-12)


@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_random_scale_matches_affine_transform(mode):
    x = _images()
    out = data.random_scale(x, (0.6, 1.5), mode=mode, cval=-1.0,
                            generator=np.random.default_rng(4))
    s = np.random.default_rng(4).uniform(0.6, 1.5, len(x))
    c = np.array([4.0, 5.0])
    want = _per_channel(lambda k, p: ndi.affine_transform(
        p, [1 / s[k], 1 / s[k]], offset=c - c / s[k], order=1, mode=SCIPY_MODE[mode],
        cval=-1.0), x)
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-10)


# bilinear only: a rational zoom puts nearest-neighbour samples exactly half-way, where
# the last bit of the coordinate decides the pixel
@pytest.mark.parametrize("order", [1])
def test_resized_crop_of_the_whole_image_is_scipy_zoom(order):
    x = _images(2, 2, 8, 12)
    # one possible box: the whole image (area 1, aspect 12/8)
    out = data.random_resized_crop(x, (12, 18), scale=(1, 1), ratio=(1.5, 1.5), order=order,
                                   generator=np.random.default_rng(5))
    want = ndi.zoom(x, (1, 1, 1.5, 1.5), order=order, mode="nearest", grid_mode=True)
    assert out.shape == want.shape == (2, 2, 12, 18)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


def test_random_resized_crop_boxes_replayed():
    x = _images(6, 3, 20, 16)
    out = data.random_resized_crop(x, 10, scale=(0.2, 0.7), generator=np.random.default_rng(6))
    top, left, bh, bw, ok = random_boxes(np.random.default_rng(6), 6, 20, 16, (0.2, 0.7),
                                         (3 / 4, 4 / 3))
    assert ok.all() and (top + bh <= 20).all() and (left + bw <= 16).all()
    area = bh * bw / (20 * 16)
    assert (area > 0.15).all() and (area < 0.8).all() and len(set(bh.tolist())) > 1
    want = _per_channel(lambda k, p: ndi.affine_transform(
        p, [bh[k] / 10, bw[k] / 10], offset=[top[k] + 0.5 * bh[k] / 10 - 0.5,
                                             left[k] + 0.5 * bw[k] / 10 - 0.5],
        output_shape=(10, 10), order=1, mode="nearest"), x)
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-10)


def test_random_resized_crop_falls_back_to_the_central_crop():
    x = _images(2, 1, 10, 10)
    # no box of aspect 4 and area <= 10% ... fits: centre crop of the nearest aspect (4)
    out = data.random_resized_crop(x, (2, 10), scale=(0.9, 1.0), ratio=(4, 4), order=0)
    centre = x[:, :, 4:6 + 1, :]    # h = round(10 / 4) = 2 (rows 4, 5) -> 2x10 identity
    np.testing.assert_array_equal(out, centre[:, :, :2])


@pytest.mark.parametrize("mode", ["constant", "nearest", "reflect"])
def test_elastic_distortion_matches_simard_with_scipy(mode):
    x = _images(2, 3, 12, 10)
    out = data.elastic_distortion(x, alpha=6.0, sigma=2.0, mode=mode, cval=0.5,
                                  generator=np.random.default_rng(7))
    u = np.random.default_rng(7).uniform(-1, 1, (2, 2, 12, 10))
    ii, jj = np.meshgrid(np.arange(12.0), np.arange(10.0), indexing="ij")

    def ref(k, plane):
        dy = ndi.gaussian_filter(u[k, 0], 2.0, mode="reflect") * 6.0
        dx = ndi.gaussian_filter(u[k, 1], 2.0, mode="reflect") * 6.0
        return ndi.map_coordinates(plane, [ii + dy, jj + dx], order=1,
                                   mode=SCIPY_MODE[mode], cval=0.5)
    np.testing.assert_allclose(out, _per_channel(ref, x), rtol=1e-10, atol=1e-10)
    assert not np.allclose(out, x)


def test_zero_strength_transforms_are_identities():
    x = _images(dtype=np.float32)
    np.testing.assert_array_equal(data.random_rotation(x, 0), x)
    np.testing.assert_array_equal(data.random_scale(x, (1, 1)), x)
    np.testing.assert_array_equal(data.elastic_distortion(x, alpha=0.0), x)
    np.testing.assert_array_equal(data.random_erasing(x, p=0.0), x)
    np.testing.assert_array_equal(data.cutout(x, 3, p=0.0), x)


# ----------------------------------------------------------------- erasing
def test_random_erasing_replayed():
    x = _images(8, 3, 16, 16, dtype=np.float32)
    out = data.random_erasing(x, p=0.5, value=-2.0, generator=np.random.default_rng(8))
    rng = np.random.default_rng(8)
    apply = rng.random(8) < 0.5
    top, left, bh, bw, ok = random_boxes(rng, 8, 16, 16, (0.02, 0.33), (0.3, 3.3),
                                         erasing=True)
    assert 0 < apply.sum() < 8
    for k in range(8):
        want = x[k].copy()
        if apply[k] and ok[k]:
            want[:, top[k]:top[k] + bh[k], left[k]:left[k] + bw[k]] = -2.0
        np.testing.assert_array_equal(out[k], want)


def test_random_erasing_boxes_as_torchvision():
    # torchvision's RandomErasing: h = round(sqrt(area * ratio)), w = round(sqrt(area /
    # ratio)), kept only when h < H and w < W (RandomResizedCrop's aspect is w / h)
    x = np.ones((3, 1, 30, 30))
    out = data.random_erasing(x, p=1.0, scale=(0.1, 0.1), ratio=(3, 3),
                              generator=np.random.default_rng(1))
    for k in range(3):
        rows, cols = np.nonzero(out[k, 0] == 0)
        assert np.ptp(rows) + 1 == 16 and np.ptp(cols) + 1 == 5    # sqrt(270), sqrt(30)
    whole = data.random_erasing(x, p=1.0, scale=(1, 1), ratio=(1, 1))
    np.testing.assert_array_equal(whole, x)       # a box the image's size never fits


def test_random_erasing_random_value_is_noise_in_the_box():
    x = np.zeros((4, 3, 12, 12), np.float32)
    out = data.random_erasing(x, p=1.0, value="random", generator=np.random.default_rng(9))
    erased = out != 0
    assert erased.any(axis=(1, 2, 3)).all()
    assert (erased.all(axis=1) == erased.any(axis=1)).all()    # all channels, one box
    assert abs(out[erased].std() - 1) < 0.3


def test_cutout_squares_clipped_at_the_border():
    x = np.ones((200, 1, 9, 9), np.float32)
    out = data.cutout(x, 4, generator=np.random.default_rng(10))
    rng = np.random.default_rng(10)
    rng.random(200)
    cy, cx = rng.integers(0, 9, 200), rng.integers(0, 9, 200)
    for k in range(200):
        want = np.ones((9, 9), np.float32)
        want[max(cy[k] - 2, 0):cy[k] + 2, max(cx[k] - 2, 0):cx[k] + 2] = 0
        np.testing.assert_array_equal(out[k, 0], want)
    holes = (out == 0).sum(axis=(1, 2, 3))
    assert holes.max() == 16 and holes.min() < 16      # whole and clipped squares


# ----------------------------------------------------------------- color
def _rgb(n=4, h=5, w=6, seed=11):
    return np.random.default_rng(seed).random((n, 3, h, w))


def test_brightness_contrast_saturation_by_hand():
    x = _rgb()
    f = np.array([0.5, 1.0, 1.3, 2.0])
    gray = 0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    np.testing.assert_allclose(color.adjust_brightness(x, f),
                               np.clip(x * f[:, None, None, None], 0, 1), rtol=1e-14)
    mean = gray.mean(axis=(1, 2))[:, None, None, None]
    fb = f[:, None, None, None]
    np.testing.assert_allclose(color.adjust_contrast(x, f),
                               np.clip(fb * x + (1 - fb) * mean, 0, 1), rtol=1e-14)
    np.testing.assert_allclose(color.adjust_saturation(x, f),
                               np.clip(fb * x + (1 - fb) * gray[:, None], 0, 1), rtol=1e-14)
    np.testing.assert_allclose(color.adjust_saturation(x, 0.0),
                               np.repeat(gray[:, None], 3, axis=1), rtol=1e-14)


def test_hsv_and_hue_against_colorsys():
    x = _rgb(3, 4, 4)
    x[0, :, 0, 0] = 0.4                       # a gray pixel (hue undefined: 0)
    hsv = color.rgb_to_hsv(x)
    shift = np.array([0.1, -0.35, 0.5])
    out = color.adjust_hue(x, shift)
    for n in range(3):
        for i in range(4):
            for j in range(4):
                h, s, v = colorsys.rgb_to_hsv(*x[n, :, i, j])
                np.testing.assert_allclose(hsv[n, :, i, j], (h, s, v), atol=1e-12)
                want = colorsys.hsv_to_rgb((h + shift[n]) % 1.0, s, v)
                np.testing.assert_allclose(out[n, :, i, j], want, atol=1e-12)
    np.testing.assert_allclose(color.hsv_to_rgb(hsv), x, atol=1e-12)
    np.testing.assert_allclose(color.adjust_hue(x, 0.0), x, atol=1e-12)


def test_color_jitter_replayed():
    x = _rgb(5).astype(np.float32)
    out = data.color_jitter(x, brightness=0.4, contrast=(0.5, 1.5), saturation=0.3, hue=0.1,
                            generator=np.random.default_rng(12))
    rng = np.random.default_rng(12)
    fb, fc = rng.uniform(0.6, 1.4, 5), rng.uniform(0.5, 1.5, 5)
    fs, fh = rng.uniform(0.7, 1.3, 5), rng.uniform(-0.1, 0.1, 5)
    want = color.adjust_hue(color.adjust_saturation(color.adjust_contrast(
        color.adjust_brightness(x.astype(np.float64), fb), fc), fs), fh).astype(np.float32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, want)
    only_brightness = data.color_jitter(_images(2, 1), brightness=0.5)   # any channels
    assert only_brightness.shape == (2, 1, 9, 11)


# ----------------------------------------------------------------- all of them
CASES = {
    "rotation": lambda x, g: data.random_rotation(x, 30, generator=g),
    "scale": lambda x, g: data.random_scale(x, (0.8, 1.2), mode="reflect", generator=g),
    "resized_crop": lambda x, g: data.random_resized_crop(x, (12, 10), generator=g),
    "elastic": lambda x, g: data.elastic_distortion(x, 8.0, 3.0, generator=g),
    "erasing": lambda x, g: data.random_erasing(x, p=0.7, value="random", generator=g),
    "cutout": lambda x, g: data.cutout(x, 5, p=0.8, generator=g),
    "color_jitter": lambda x, g: data.color_jitter(x, 0.3, 0.3, 0.3, 0.2, generator=g),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_result_at_any_thread_count_and_seed(name):
    x = _images(5, 3, 16, 14, dtype=np.float32)
    before = x.copy()
    runs = []
    for n in (1, 2, 3):
        with pydl.threads(n):
            runs.append(CASES[name](x, np.random.default_rng(13)))
    for r in runs[1:]:
        np.testing.assert_array_equal(r, runs[0])
    assert runs[0].dtype == np.float32
    np.testing.assert_array_equal(x, before)                       # input untouched
    other = CASES[name](x, np.random.default_rng(14))
    assert not np.array_equal(other, runs[0])
    pydl.manual_seed(3)
    a = CASES[name](x, None)
    pydl.manual_seed(3)
    np.testing.assert_array_equal(CASES[name](x, None), a)        # pydl's generator


@pytest.mark.parametrize("name", sorted(CASES))
def test_empty_batch(name):
    x = np.zeros((0, 3, 16, 14), np.float32)
    assert CASES[name](x, np.random.default_rng(0)).shape[0] == 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_images_without_pixels(name):
    x = np.zeros((2, 3, 0, 14), np.float32)
    if name == "resized_crop":      # nothing to resample from
        with pytest.raises(ValueError, match="at least 1x1 pixels"):
            CASES[name](x, np.random.default_rng(0))
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no mean-of-empty-slice warning
        assert CASES[name](x, np.random.default_rng(0)).shape == x.shape


def test_images_get_their_own_parameters():
    x = np.repeat(_images(1, 3, 16, 16), 6, axis=0)
    for name, fn in CASES.items():
        out = fn(x, np.random.default_rng(15))
        assert len({out[k].tobytes() for k in range(6)}) > 1, name


def test_compose_with_one_generator():
    x = _images(4, 3, 16, 16, dtype=np.float32)
    chain = data.Compose([data.RandomResizedCrop(12, scale=(0.5, 1.0)), data.RandomFlip(),
                          data.RandomRotation(10),
                          data.Compose([data.ColorJitter(0.2, 0.2, 0.2, 0.05)]),
                          lambda b: b * 2, data.RandomErasing(p=1.0)],
                         generator=np.random.default_rng(16))
    out = chain(x)
    g = np.random.default_rng(16)
    want = data.random_resized_crop(x, 12, scale=(0.5, 1.0), generator=g)
    want = data.random_flip(want, generator=g)
    want = data.random_rotation(want, 10, generator=g)
    want = data.color_jitter(want, 0.2, 0.2, 0.2, 0.05, generator=g)
    want = data.random_erasing(want * 2, p=1.0, generator=g)
    np.testing.assert_array_equal(out, want)
    # the transform's own generator when the chain has none
    t = data.RandomRotation(20, generator=np.random.default_rng(17))
    np.testing.assert_array_equal(
        data.Compose([t])(x), data.random_rotation(x, 20, generator=np.random.default_rng(17)))
    assert "RandomRotation(degrees=20" in repr(t)


def test_compose_in_fit():
    rng = np.random.default_rng(0)
    x = rng.random((16, 3, 8, 8)).astype(np.float32)
    y = rng.integers(0, 2, 16)
    pydl.manual_seed(0)
    model = pydl.nn.Sequential(pydl.nn.Flatten(), pydl.nn.Linear(192, 2))
    aug = data.Compose([data.RandomScale((0.9, 1.1)), data.Cutout(2)],
                       generator=np.random.default_rng(1))
    hist = pydl.fit(model, x, y, loss="cross_entropy", epochs=2, batch_size=8,
                    optimizer=pydl.optim.SGD(model.parameters(), lr=0.1), augment=aug,
                    verbose=0)
    assert np.isfinite(hist.history["loss"]).all()


@pytest.mark.parametrize("call, error, match", [
    (lambda: data.random_rotation(np.zeros((2, 3, 4)), 10), ValueError, "at least 4 dim"),
    (lambda: data.random_rotation(np.zeros((2, 3, 4, 4, 1)), 10), ValueError,
     r"\(N, C, H, W\)"),
    (lambda: data.random_rotation(np.zeros((1, 1, 4, 4), int), 10), TypeError, "x must be"),
    (lambda: data.random_rotation(_images(), "a"), ValueError, "degrees"),
    (lambda: data.random_rotation(_images(), (10, 5)), ValueError, "min <= max"),
    (lambda: data.random_rotation(_images(), 10, order=3), ValueError, "order must be 0"),
    (lambda: data.random_rotation(_images(), 10, mode="edge"), ValueError, "mode must be"),
    (lambda: data.random_rotation(_images(), 10, cval=float("nan")), ValueError, "cval"),
    (lambda: data.random_scale(_images(), (0.0, 1.0)), ValueError, r"scale\[0\] must be >"),
    (lambda: data.random_scale(_images(), 1.1), ValueError, "scale must be a pair"),
    (lambda: data.random_resized_crop(_images(), 0), ValueError, "size must be an int"),
    (lambda: data.random_resized_crop(_images(), 4, scale=(0.5, 1.5)), ValueError,
     r"scale\[1\] must be <= 1"),
    (lambda: data.random_resized_crop(_images(), 4, ratio=(-1, 2)), ValueError, "ratio"),
    (lambda: data.random_resized_crop(_images(), 10**7), ValueError, "GiB"),
    (lambda: data.elastic_distortion(_images(), alpha=-1), ValueError, "alpha must be >="),
    (lambda: data.elastic_distortion(_images(), sigma=0), ValueError, "sigma must be >"),
    (lambda: data.elastic_distortion(_images(), sigma=1e12), ValueError, "at most 1e6"),
    (lambda: data.random_erasing(_images(), p=2), ValueError, "p must be <= 1"),
    (lambda: data.random_erasing(_images(), value="noise"), ValueError, "'random'"),
    (lambda: data.random_erasing(_images(), value=None), ValueError, "value must be"),
    (lambda: data.cutout(_images(), 0), ValueError, "size must be an int >= 1"),
    (lambda: data.cutout(_images(), 2.5), ValueError, "size must be an int >= 1"),
    (lambda: data.color_jitter(_images(), saturation=0.5), ValueError, "RGB images"),
    (lambda: data.color_jitter(_rgb(), hue=0.7), ValueError, "hue must be <= 0.5"),
    (lambda: data.color_jitter(_rgb(), brightness=-0.1), ValueError, "brightness must be >="),
    (lambda: data.color_jitter(_rgb(), value_range=(1, 0)), ValueError, "min <= max"),
    (lambda: color.adjust_hue(_rgb() - 2, 0.1), ValueError, "values >= 0"),
    (lambda: color.adjust_brightness(_rgb(), [1.0, 2.0]), ValueError, "one per image"),
    (lambda: data.RandomRotation(10, mode="edge"), ValueError, "mode must be"),
    (lambda: data.ColorJitter(hue=1.0), ValueError, "hue"),
    (lambda: data.Cutout(-1), ValueError, "size"),
    (lambda: data.Compose(data.RandomFlip()), TypeError, "sequence of callables"),
    (lambda: data.Compose([data.RandomFlip(), 3]), TypeError, r"transforms\[1\]"),
    (lambda: data.random_rotation(_images(), 10, generator=1), TypeError, "generator"),
])
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_geometric_module_lists_its_functions():
    assert set(geometric.__all__) <= set(data.__all__)
