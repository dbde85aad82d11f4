"""Random sweeps of the geometry-heavy layers (pooling, transposed convolution,
Upsample): exported files equal pydl in onnxruntime for every valid configuration.
These sweeps found the ceil_mode, output_padding and Resize cases the converters
spell specially."""

import numpy as np
import pytest

from pydl import nn

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from .export_check import check_export


def _valid(model, x):
    """The configuration is one pydl accepts for this input."""
    try:
        model(x)
    except (ValueError, TypeError):
        return False
    return True


def _pool_cases(count, seed=0):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        nd = int(rng.integers(1, 3))
        k, s = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        p, d = int(rng.integers(0, k // 2 + 1)), int(rng.integers(1, 3))
        ceil, size = bool(rng.integers(0, 2)), int(rng.integers(1, 12))
        kind = ("max", "avg", "avg_exclude_pad", "avg_divisor")[int(rng.integers(0, 4))]
        if kind == "max":
            model = (nn.MaxPool1d, nn.MaxPool2d)[nd - 1](k, s, p, dilation=d, ceil_mode=ceil)
        else:
            extra = {"divisor_override": 3} if kind == "avg_divisor" and nd == 2 else {}
            model = (nn.AvgPool1d, nn.AvgPool2d)[nd - 1](
                k, s, p, ceil_mode=ceil, count_include_pad=kind != "avg_exclude_pad", **extra)
        x = rng.standard_normal((1, 3) + (size,) * nd).astype(np.float32)
        if _valid(model, x):
            cases.append((model, x, rng.standard_normal((3, 3) + (size,) * nd)
                          .astype(np.float32)))
    return cases


def _conv_transpose_cases(count, seed=1):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        nd, g = int(rng.integers(1, 4)), int(rng.integers(1, 3))
        c_in, c_out = 2 * g, int(rng.choice([2 * g, 4]))
        k, s, d = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(1, 4))
        p, op = int(rng.integers(0, 3)), int(rng.integers(0, max(s, d)))
        size = int(rng.integers(3, 8))
        cls = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[nd - 1]
        try:
            model = cls(c_in, c_out, k, s, p, output_padding=op, groups=g, dilation=d,
                        bias=bool(rng.integers(0, 2)))
        except ValueError:
            continue
        x = rng.standard_normal((1, c_in) + (size,) * nd).astype(np.float32)
        if _valid(model, x):
            cases.append((model, x, rng.standard_normal((3, c_in) + (size,) * nd)
                          .astype(np.float32)))
    return cases


def _upsample_cases():
    rng = np.random.default_rng(2)
    cases = []
    for mode, nd in (("nearest", 2), ("nearest-exact", 2), ("linear", 1), ("bilinear", 2),
                     ("trilinear", 3), ("nearest", 1)):
        for factor in (0.4, 0.7, 1.1, 1.5, 2, 2.5, 3):
            for size in (3, 9):
                for kwargs in ({"scale_factor": factor}, {"size": int(size * factor)}):
                    model = nn.Upsample(mode=mode, **kwargs)
                    shape = (2, size, size + 2, 3)[:nd + 1]
                    x = rng.standard_normal((1, *shape)).astype(np.float32)
                    if _valid(model, x):
                        cases.append((model, x, rng.standard_normal((3, *shape))
                                      .astype(np.float32)))
    return cases


@pytest.mark.parametrize("model,x,x3", _pool_cases(120), ids=lambda v: repr(v)
                         if isinstance(v, nn.Module) else "")
def test_pooling_sweep(model, x, x3):
    check_export(model, [x, x3])


@pytest.mark.parametrize("model,x,x3", _conv_transpose_cases(60), ids=lambda v: repr(v)
                         if isinstance(v, nn.Module) else "")
def test_conv_transpose_sweep(model, x, x3):
    check_export(model, [x, x3])


@pytest.mark.parametrize("model,x,x3", _upsample_cases(), ids=lambda v: repr(v)
                         if isinstance(v, nn.Module) else "")
def test_upsample_sweep(model, x, x3):
    check_export(model, [x, x3])
