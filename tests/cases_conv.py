"""Convolution registrations (determinism, leaks, fuzz) and the random configurations
the conv tests share.

A configuration is a dict of keyword arguments for ``pydl.functional.conv{nd}d_*`` or
``conv_transpose{nd}d_*`` plus the shapes to draw: ``x_shape``, ``w_shape``, ``bias``.
"""

import numpy as np

from pydl import functional as F
from pydl import nn


def _kernel_geometry(rng, nd, max_kernel=3):
    kernel = tuple(int(k) for k in rng.integers(1, max_kernel + 1, nd))
    stride = tuple(int(s) for s in rng.integers(1, 3, nd))
    dilation = tuple(int(d) for d in rng.integers(1, 3, nd))
    return kernel, stride, dilation


def _channels(rng):
    """(groups, in per group, out per group), with depthwise-like groups often."""
    groups = int(rng.choice([1, 1, 2, 3]))
    cg = 1 if rng.random() < 0.3 else int(rng.integers(1, 4))
    kg = int(rng.integers(1, 4))
    return groups, cg, kg


def random_conv_config(rng, nd, batch=None):
    """A valid convolution: odd sizes, size 1, strides, dilation, groups, all paddings."""
    groups, cg, kg = _channels(rng)
    kernel, stride, dilation = _kernel_geometry(rng, nd)
    style = rng.integers(0, 4)
    if style == 0 and all(s == 1 for s in stride):
        padding = "same"
    elif style == 1:
        padding = "valid"
    elif style == 2:
        padding = int(rng.integers(0, 3))
    else:
        padding = tuple(int(p) for p in rng.integers(0, 3, nd))
    pads = {"same": (0,) * nd, "valid": (0,) * nd}.get(padding) if isinstance(padding, str) \
        else (padding if isinstance(padding, tuple) else (padding,) * nd)
    # 'same' pads the rest; otherwise the padded input must hold the dilated kernel
    low = [1 if padding == "same" else max(1, d * (k - 1) + 1 - 2 * p)
           for k, d, p in zip(kernel, dilation, pads)]
    spatial = tuple(int(rng.integers(lo, lo + (4 if nd == 3 else 7))) for lo in low)
    n = int(rng.integers(1, 4)) if batch is None else batch
    return dict(x_shape=(n, cg * groups, *spatial), w_shape=(kg * groups, cg, *kernel),
                bias=bool(rng.random() < 0.7), stride=stride, padding=padding,
                dilation=dilation, groups=groups)


def random_conv_transpose_config(rng, nd, batch=None):
    """A valid transposed convolution (output size >= 1, PyTorch's output_padding rule)."""
    groups, cg_in, cg_out = _channels(rng)
    kernel, stride, dilation = _kernel_geometry(rng, nd)
    padding = tuple(int(p) for p in rng.integers(0, 3, nd))
    output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    spatial = []
    for k, s, p, op, d in zip(kernel, stride, padding, output_padding, dilation):
        size = int(rng.integers(1, 4 if nd == 3 else 7))
        while (size - 1) * s - 2 * p + d * (k - 1) + op + 1 < 1:
            size += 1
        spatial.append(size)
    n = int(rng.integers(1, 4)) if batch is None else batch
    return dict(x_shape=(n, cg_in * groups, *spatial), w_shape=(cg_in * groups, cg_out, *kernel),
                bias=bool(rng.random() < 0.7), stride=stride, padding=padding,
                output_padding=output_padding, groups=groups, dilation=dilation)


def conv_args(config):
    """The hyper-parameters of a configuration, as keyword arguments."""
    return {k: v for k, v in config.items() if k not in ("x_shape", "w_shape", "bias")}


def draw_arrays(rng, config, dtype, out_channels):
    x = rng.standard_normal(config["x_shape"]).astype(dtype)
    w = (rng.standard_normal(config["w_shape"]) * 0.5).astype(dtype)
    b = rng.standard_normal(out_channels).astype(dtype) if config["bias"] else None
    return x, w, b


# ------------------------------------------------------------------ determinism

def _rand(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def _conv_case(nd, x_shape, w_shape, transposed=False, **kwargs):
    name = f"conv_transpose{nd}d" if transposed else f"conv{nd}d"
    forward, backward = getattr(F, name + "_forward"), getattr(F, name + "_backward")

    def run(seed, zero):
        rng = np.random.default_rng(seed)
        x, w = _rand(rng, x_shape), _rand(rng, w_shape)
        b = _rand(rng, w_shape[1] * kwargs.get("groups", 1) if transposed else w_shape[0])
        y = forward(x, w, b, **kwargs)
        g = np.zeros(y.shape, np.float32) if zero else _rand(rng, y.shape)
        return [y, *backward(g, x, w, **kwargs)]
    return run


# Batches of 19 and 37 split unevenly into the 16 weight-gradient chunks.
DETERMINISM_CASES = {
    "conv2d-3x3-19x17x13x11": _conv_case(2, (19, 17, 13, 11), (23, 17, 3, 3), padding=1),
    "conv2d-stride2-37x5x15x9": _conv_case(2, (37, 5, 15, 9), (7, 5, 3, 2), stride=2,
                                           padding=(1, 0), dilation=(1, 2)),
    "conv2d-grouped-19x12x9x9": _conv_case(2, (19, 12, 9, 9), (9, 4, 3, 3), groups=3,
                                           padding="same"),
    "conv2d-depthwise-19x13x11x10": _conv_case(2, (19, 13, 11, 10), (26, 1, 3, 3),
                                               groups=13, padding=1),
    "conv2d-1x1-21x31x7x9": _conv_case(2, (21, 31, 7, 9), (17, 31, 1, 1)),
    "conv1d-19x7x101": _conv_case(1, (19, 7, 101), (9, 7, 5), padding=2),
    "conv3d-17x3x5x6x7": _conv_case(3, (17, 3, 5, 6, 7), (4, 3, 3, 3, 2), padding=1),
    "conv_transpose2d-19x9x7x8": _conv_case(2, (19, 9, 7, 8), (9, 5, 3, 3), transposed=True,
                                            stride=2, padding=1, output_padding=1),
    "conv_transpose2d-s1-19x6x9x9": _conv_case(2, (19, 6, 9, 9), (6, 4, 3, 3),
                                               transposed=True, padding=1),
}


# ------------------------------------------------------------------------- leaks

def _conv_step():
    rng = np.random.default_rng(0)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    depthwise = nn.Conv2d(4, 4, 3, stride=2, groups=4)
    up = nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1)
    x = _rand(rng, (2, 3, 7, 7))

    def step():
        y = up(depthwise(conv(x)))
        conv.backward(depthwise.backward(up.backward(np.ones_like(y))))
    return step


LEAK_STEPS = {"conv": _conv_step}


# -------------------------------------------------------------------------- fuzz

def _fuzz_conv(nd, transposed, backward):
    name = f"conv_transpose{nd}d" if transposed else f"conv{nd}d"
    fn = getattr(F, name + ("_backward" if backward else "_forward"))
    spatial = (5, 6, 4)[:nd]

    def factory(rng):
        x = _rand(rng, (2, 4, *spatial))
        if transposed:
            w = _rand(rng, (4, 3, *(3,) * nd))
            kwargs = dict(stride=2, padding=1, output_padding=1, groups=1, dilation=1)
        else:
            w = _rand(rng, (6, 2, *(3,) * nd))
            kwargs = dict(stride=1, padding=1, dilation=1, groups=2)
        if not backward:
            return fn, (x, w, _rand(rng, w.shape[1] if transposed else w.shape[0])), kwargs
        y = getattr(F, name + "_forward")(x, w, None, **kwargs)
        return fn, (_rand(rng, y.shape), x, w), kwargs
    return factory


def _fuzz_module(cls, nd, *args, **kwargs):
    def factory(rng):
        module = cls(*args, generator=np.random.default_rng(0), **kwargs)
        return module, (_rand(rng, (2, args[0], *(6, 5, 4)[:nd])),), {}
    return factory


FUZZ_CALLS = {
    f"{name}{nd}d_{step}": _fuzz_conv(nd, name == "conv_transpose", step == "backward")
    for name in ("conv", "conv_transpose") for nd in (1, 2, 3)
    for step in ("forward", "backward")
}
FUZZ_CALLS.update({
    "Conv1d": _fuzz_module(nn.Conv1d, 1, 4, 6, 3, padding="same"),
    "Conv2d": _fuzz_module(nn.Conv2d, 2, 4, 6, 3, stride=2, padding=1, groups=2),
    "Conv3d": _fuzz_module(nn.Conv3d, 3, 2, 3, 2, dilation=2, padding=1),
    "ConvTranspose1d": _fuzz_module(nn.ConvTranspose1d, 1, 4, 2, 3, stride=2),
    "ConvTranspose2d": _fuzz_module(nn.ConvTranspose2d, 2, 4, 6, 3, stride=2, padding=1,
                                    output_padding=1, groups=2),
    "ConvTranspose3d": _fuzz_module(nn.ConvTranspose3d, 3, 2, 3, 2),
})
