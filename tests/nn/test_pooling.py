"""Pooling, upsampling and Residual modules: gradient checks, behaviour, bad arguments."""

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.testing import gradcheck


def _distinct(shape, seed=0):
    """float64 values 0.1 apart in random order: no max-pool ties, finite differences
    never change an argmax."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape) * 0.1 - n * 0.05


MODULES = [
    ("MaxPool1d", lambda: nn.MaxPool1d(3, 2, 1), (2, 3, 9)),
    ("MaxPool1d-dilated-ceil", lambda: nn.MaxPool1d(2, 2, 1, dilation=2, ceil_mode=True),
     (2, 2, 8)),
    ("MaxPool2d", lambda: nn.MaxPool2d(2), (2, 3, 6, 5)),
    ("MaxPool2d-padded", lambda: nn.MaxPool2d((3, 2), (2, 1), (1, 1)), (2, 2, 7, 5)),
    ("MaxPool2d-unbatched", lambda: nn.MaxPool2d(2, 1), (3, 4, 4)),
    ("MaxPool2d-indices", lambda: nn.MaxPool2d(2, return_indices=True), (1, 2, 4, 6)),
    ("MaxPool3d", lambda: nn.MaxPool3d(2, 1, 1, ceil_mode=True), (1, 2, 3, 4, 3)),
    ("AvgPool1d", lambda: nn.AvgPool1d(3, 2, 1, count_include_pad=False), (2, 3, 8)),
    ("AvgPool2d", lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True), (2, 2, 6, 7)),
    ("AvgPool2d-divisor", lambda: nn.AvgPool2d(2, 1, divisor_override=3), (1, 2, 4, 4)),
    ("AvgPool3d", lambda: nn.AvgPool3d((2, 3, 2), 1, (1, 1, 0)), (1, 2, 3, 4, 3)),
    ("AdaptiveAvgPool1d", lambda: nn.AdaptiveAvgPool1d(4), (2, 3, 7)),
    ("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d((3, None)), (2, 2, 7, 5)),
    ("AdaptiveAvgPool2d-global", lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 4, 5)),
    ("AdaptiveAvgPool3d", lambda: nn.AdaptiveAvgPool3d(2), (1, 2, 3, 5, 4)),
    ("AdaptiveMaxPool1d", lambda: nn.AdaptiveMaxPool1d(3), (2, 3, 8)),
    ("AdaptiveMaxPool2d", lambda: nn.AdaptiveMaxPool2d((2, 3), return_indices=True),
     (2, 2, 5, 7)),
    ("AdaptiveMaxPool3d", lambda: nn.AdaptiveMaxPool3d(2), (1, 2, 3, 4, 5)),
    ("Upsample-nearest", lambda: nn.Upsample(scale_factor=2), (2, 2, 3, 4)),
    ("Upsample-nearest-1d", lambda: nn.Upsample(size=7), (2, 2, 3)),
    ("Upsample-nearest-exact-3d", lambda: nn.Upsample(scale_factor=1.5, mode="nearest-exact"),
     (1, 2, 2, 3, 2)),
    ("Upsample-bilinear", lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (2, 2, 3, 4)),
    ("Upsample-bilinear-corners", lambda: nn.Upsample(size=(5, 3), mode="bilinear",
                                                      align_corners=True), (1, 2, 3, 4)),
    ("Upsample-linear", lambda: nn.Upsample(scale_factor=2.5, mode="linear"), (2, 2, 5)),
    ("Upsample-trilinear", lambda: nn.Upsample(scale_factor=(2, 1.5, 0.5), mode="trilinear"),
     (1, 2, 2, 3, 4)),
    ("Upsample-area", lambda: nn.Upsample(size=(2, 3), mode="area"), (1, 2, 5, 7)),
    ("UpsamplingNearest2d", lambda: nn.UpsamplingNearest2d(scale_factor=3), (1, 2, 2, 3)),
    ("UpsamplingBilinear2d", lambda: nn.UpsamplingBilinear2d(size=(4, 5)), (1, 2, 3, 3)),
    ("Residual-identity", lambda: nn.Residual(nn.Sequential(nn.Linear(4, 6), nn.Tanh(),
                                                            nn.Linear(6, 4))), (3, 4)),
    ("Residual-shortcut", lambda: nn.Residual(nn.Sequential(nn.Linear(4, 6), nn.Tanh()),
                                              nn.Linear(4, 6, bias=False)), (3, 4)),
    ("Residual-nested", lambda: nn.Sequential(nn.Residual(nn.Linear(3, 3)), nn.Tanh(),
                                              nn.Residual(nn.Linear(3, 3))), (2, 3)),
]


@pytest.mark.parametrize("name,make,shape", MODULES, ids=[m[0] for m in MODULES])
def test_module_gradcheck(name, make, shape):
    pydl.manual_seed(0)
    assert gradcheck(make().double(), _distinct(shape))


def test_max_unpool_gradcheck():
    x = _distinct((2, 3, 6, 4))
    _, idx = nn.MaxPool2d(2, return_indices=True)(x)
    unpool = nn.MaxUnpool2d(2)
    assert gradcheck(unpool, _distinct((2, 3, 3, 2), 1), idx)
    out = unpool(_distinct((2, 3, 3, 2), 1), idx, output_size=(2, 3, 7, 5))
    assert out.shape == (2, 3, 7, 5)


def test_maxpool_return_indices_feed_maxunpool():
    x = _distinct((2, 3, 6, 6))
    y, idx = nn.MaxPool2d(2, return_indices=True)(x)
    assert idx.dtype == np.int64 and idx.shape == y.shape
    restored = nn.MaxUnpool2d(2)(y, idx)
    assert restored.shape == x.shape
    np.testing.assert_array_equal(restored[restored != 0], x[restored != 0])
    assert np.count_nonzero(restored) == y.size


def test_residual_registers_branches_and_splits_gradient():
    pydl.manual_seed(0)
    block, shortcut = nn.Linear(4, 5), nn.Linear(4, 5, bias=False)
    res = nn.Residual(block, shortcut)
    assert list(res.state_dict()) == ["block.weight", "block.bias", "shortcut.weight"]
    assert len(list(res.parameters())) == 3
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    g = np.ones((3, 5), np.float32)
    with pydl.no_grad():
        np.testing.assert_allclose(res(x), block(x) + shortcut(x), rtol=1e-6)
    res(x)
    dx = res.backward(g)
    np.testing.assert_allclose(dx, g @ block.weight.data + g @ shortcut.weight.data, rtol=1e-5)
    np.testing.assert_allclose(block.bias.grad, g.sum(0))
    identity = nn.Residual(nn.Identity())
    np.testing.assert_array_equal(identity(x), 2 * x)
    np.testing.assert_array_equal(identity.backward(x), 2 * x)
    assert list(identity.state_dict()) == []


def test_residual_bad_arguments():
    with pytest.raises(TypeError, match="block must be a pydl.nn.Module"):
        nn.Residual(lambda x: x)
    with pytest.raises(TypeError, match="shortcut must be a pydl.nn.Module or None"):
        nn.Residual(nn.Identity(), shortcut="id")
    with pytest.raises(ValueError, match="give a shortcut"):
        nn.Residual(nn.Linear(3, 4))(np.zeros((2, 3), np.float32))


def test_modules_check_arguments_when_built():
    with pytest.raises(ValueError, match="at most half"):
        nn.MaxPool2d(2, padding=2)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        nn.AvgPool2d(2, stride=0)
    with pytest.raises(TypeError, match="return_indices must be a bool"):
        nn.MaxPool1d(2, return_indices="yes")
    with pytest.raises(ValueError, match="divisor_override must not be 0"):
        nn.AvgPool2d(2, divisor_override=0)
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        nn.MaxUnpool2d(0)
    with pytest.raises(ValueError, match="mode must be one of"):
        nn.Upsample(scale_factor=2, mode="cubic")
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        nn.Upsample()


def test_backward_needs_forward():
    with pytest.raises(RuntimeError, match="needs a forward"):
        nn.MaxPool2d(2).backward(np.zeros((1, 1, 1, 1)))
    m = nn.AvgPool2d(2)
    with pydl.no_grad():
        m(np.zeros((1, 1, 2, 2)))
    with pytest.raises(RuntimeError, match="needs a forward"):
        m.backward(np.zeros((1, 1, 1, 1)))


def test_reprs_follow_pytorch():
    assert repr(nn.MaxPool2d(2)) == ("MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, "
                                     "ceil_mode=False)")
    assert repr(nn.AvgPool2d(3, 1)) == "AvgPool2d(kernel_size=3, stride=1, padding=0)"
    assert repr(nn.AdaptiveAvgPool2d((1, 1))) == "AdaptiveAvgPool2d(output_size=(1, 1))"
    assert repr(nn.Upsample(scale_factor=2.0, mode="bilinear")) == \
        "Upsample(scale_factor=2.0, mode='bilinear')"
