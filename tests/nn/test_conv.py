"""Convolution layers: gradient checks, PyTorch parity (layers and a randomized sweep of
the functional ops), initialisation, argument checks."""

import math

import numpy as np
import pytest

import pydl
from pydl import functional as F
from pydl import nn
from pydl._ext import conv as _conv
from pydl.testing import gradcheck
from tests.cases_conv import (conv_args, draw_arrays, random_conv_config,
                              random_conv_transpose_config)

LAYERS = [
    ("Conv1d", lambda: nn.Conv1d(3, 4, 3, padding=1), (2, 3, 7)),
    ("Conv1d-same-dilated", lambda: nn.Conv1d(2, 3, 4, padding="same", dilation=2), (2, 2, 9)),
    ("Conv2d", lambda: nn.Conv2d(3, 4, 3, padding=1), (2, 3, 5, 6)),
    ("Conv2d-strided-grouped", lambda: nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0),
                                                 groups=2, bias=False), (2, 4, 7, 5)),
    ("Conv2d-depthwise", lambda: nn.Conv2d(3, 6, 3, groups=3, dilation=2, padding=2),
     (1, 3, 6, 6)),
    ("Conv2d-1x1", lambda: nn.Conv2d(5, 3, 1), (2, 5, 3, 4)),
    ("Conv2d-unbatched", lambda: nn.Conv2d(2, 3, 3), (2, 5, 5)),
    # 16 channels and >= 16 tiles: the Winograd kernels (forward, input and weight grads;
    # F(4x4)'s own weight gradient needs 32 tiles: against the NumPy reference in
    # tests/functional/test_conv.py, a gradcheck that large takes 10 s)
    ("Conv2d-winograd-2x2", lambda: nn.Conv2d(16, 17, 3, padding=1), (1, 16, 8, 7)),
    ("Conv2d-winograd-4x4", lambda: nn.Conv2d(16, 17, 3, padding=1), (1, 16, 16, 15)),
    ("ConvTranspose2d-winograd", lambda: nn.ConvTranspose2d(16, 16, 3, padding=1),
     (1, 16, 8, 8)),
    ("Conv3d", lambda: nn.Conv3d(2, 3, (2, 3, 2), stride=(1, 2, 1), padding=1), (1, 2, 3, 5, 4)),
    ("ConvTranspose1d", lambda: nn.ConvTranspose1d(3, 2, 3, stride=2, output_padding=1),
     (2, 3, 4)),
    ("ConvTranspose2d", lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1,
                                                   output_padding=1, groups=2), (2, 4, 3, 4)),
    ("ConvTranspose2d-dilated", lambda: nn.ConvTranspose2d(2, 3, 2, dilation=2, padding=1),
     (1, 2, 4, 3)),
    ("ConvTranspose3d", lambda: nn.ConvTranspose3d(2, 2, 2, stride=(2, 1, 1)), (1, 2, 2, 3, 2)),
]


@pytest.mark.parametrize("name,make,shape", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_gradcheck(name, make, shape):
    if "winograd" in name:
        m = make()
        x = np.zeros(shape, np.float32)
        spec = F.conv._conv_spec(2, x, m.weight.data, None, m.stride, m.padding, m.dilation,
                                 m.groups) if not name.startswith("ConvTranspose") else None
        if spec is not None:
            assert _conv.forward_path(spec.in5, spec.w5, spec.out5, spec.stride,
                                      spec.padding, spec.dilation, spec.groups) \
                == name[name.index("winograd"):]
    pydl.manual_seed(0)
    m = make().double()
    x = np.random.default_rng(0).standard_normal(shape)
    assert gradcheck(m, x)


def test_backward_accumulates_and_respects_requires_grad():
    m = nn.Conv2d(2, 3, 3, padding=1, generator=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((2, 2, 4, 4)).astype(np.float32)
    g = np.ones((2, 3, 4, 4), np.float32)
    m(x)
    gx = m.backward(g)
    first_w, first_b = m.weight.grad.copy(), m.bias.grad.copy()
    m(x)
    m.backward(g)
    np.testing.assert_allclose(m.weight.grad, 2 * first_w, rtol=1e-6)
    np.testing.assert_allclose(m.bias.grad, 2 * first_b, rtol=1e-6)
    assert gx.shape == x.shape
    m.zero_grad()
    m.weight.requires_grad = False
    m(x)
    m.backward(g)
    assert m.weight.grad is None and m.bias.grad is not None


@pytest.mark.parametrize("cls,args,weight_shape", [
    (nn.Conv1d, (4, 6, 3), (6, 4, 3)),
    (nn.Conv2d, (4, 6, (3, 2)), (6, 4, 3, 2)),
    (nn.Conv3d, (2, 4, 3), (4, 2, 3, 3, 3)),
    (nn.ConvTranspose2d, (4, 6, 3), (4, 6, 3, 3)),
])
def test_weight_layout_and_default_init(cls, args, weight_shape):
    groups = 2
    m = cls(*args, groups=groups, generator=np.random.default_rng(0))
    layout = list(weight_shape)
    layout[1] //= groups
    assert m.weight.shape == tuple(layout) and m.bias.shape == (args[1],)
    fan_in = m.weight.shape[1] * int(np.prod(m.weight.shape[2:]))
    bound = 1 / math.sqrt(fan_in)   # kaiming_uniform(a=sqrt(5)) and the bias share it
    assert np.abs(m.weight.data).max() <= bound and np.abs(m.bias.data).max() <= bound
    assert np.abs(m.weight.data).max() > 0.8 * bound
    again = cls(*args, groups=groups, generator=np.random.default_rng(0))
    assert np.array_equal(m.weight.data, again.weight.data)
    assert cls(*args, dtype=np.float64).weight.dtype == np.float64


def test_bad_arguments():
    with pytest.raises(ValueError, match="padding_mode='reflect' is not supported by pydl"):
        nn.Conv2d(2, 2, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(2, 2, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="in_channels = 3 must be divisible by groups = 2"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels = 3 must be divisible by groups = 2"):
        nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="groups must be >= 1"):
        nn.Conv1d(4, 4, 3, groups=0)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv2d(2, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="invalid padding string 'full'"):
        nn.Conv2d(2, 2, 3, padding="full")
    with pytest.raises(ValueError, match="ConvTranspose2d does not support padding='same'"):
        nn.ConvTranspose2d(2, 2, 3, padding="same")
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        nn.Conv2d(2, 2, 0)
    with pytest.raises(ValueError, match="kernel_size must be an int or a tuple of 3"):
        nn.Conv3d(2, 2, (3, 3))
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        nn.Conv2d(2, 2, 3, dtype=np.int32)
    m = nn.ConvTranspose2d(2, 2, 3, stride=2)
    with pytest.raises(ValueError, match="valid sizes in dimension 0 range from 7 to 8"):
        m(np.zeros((1, 2, 3, 3), np.float32), output_size=(9, 7))
    with pytest.raises(RuntimeError, match="needs a forward"):
        nn.Conv2d(2, 2, 3).backward(np.zeros((1, 2, 1, 1), np.float32))


def test_conv_transpose_output_size_picks_output_padding():
    m = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, generator=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5)).astype(np.float32)
    with pydl.no_grad():     # shape checks: calls that backward will not go through
        assert m(x).shape == (2, 2, 7, 9)
        y = m(x, output_size=(8, 10))
        assert y.shape == (2, 2, 8, 10)
    assert m(x, output_size=(2, 2, 8, 9)).shape == (2, 2, 8, 9)
    assert m.backward(np.ones((2, 2, 8, 9), np.float32)).shape == x.shape


# ---------------------------------------------------------------- PyTorch parity

@pytest.fixture
def torch():
    """PyTorch on one thread: its thread pool's wake-up dominates these tiny shapes
    (and stalls for tens of milliseconds per call on a busy machine)."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(n)


def _t(torch, a, grad=False):
    return None if a is None else torch.from_numpy(np.array(a)).requires_grad_(grad)


TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


def _check_parity(torch, name, nd, config, dtype, rng):
    transposed = name.startswith("conv_transpose")
    out_channels = config["w_shape"][1] * config["groups"] if transposed else config["w_shape"][0]
    x, w, b = draw_arrays(rng, config, dtype, out_channels)
    kwargs = conv_args(config)
    tx, tw, tb = _t(torch, x, True), _t(torch, w, True), _t(torch, b, b is not None)
    ty = getattr(torch.nn.functional, f"{name}{nd}d")(tx, tw, tb, **kwargs)
    g = rng.standard_normal(ty.shape).astype(dtype)
    ty.backward(_t(torch, g))
    y = getattr(F, f"{name}{nd}d_forward")(x, w, b, **kwargs)
    gx, gw, gb = getattr(F, f"{name}{nd}d_backward")(g, x, w, **kwargs,
                                                     need_bias_grad=b is not None)
    scale = max(1.0, float(np.abs(ty.detach().numpy()).max()))
    tol = dict(TOL[dtype], atol=TOL[dtype]["atol"] * scale)
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol, err_msg=f"{config}")
    np.testing.assert_allclose(gx, tx.grad.numpy(), **tol, err_msg=f"grad_x {config}")
    np.testing.assert_allclose(gw, tw.grad.numpy(), rtol=tol["rtol"],
                               atol=tol["atol"] * 10, err_msg=f"grad_weight {config}")
    if b is not None:
        np.testing.assert_allclose(gb, tb.grad.numpy(), rtol=tol["rtol"],
                                   atol=tol["atol"] * 10, err_msg=f"grad_bias {config}")


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("name", ["conv", "conv_transpose"])
def test_functional_parity_with_pytorch_randomized(torch, name, nd, dtype):
    rng = np.random.default_rng(300 + nd + (10 if name == "conv" else 0))
    make = random_conv_config if name == "conv" else random_conv_transpose_config
    for _ in range({1: 6, 2: 8, 3: 3}[nd]):
        _check_parity(torch, name, nd, make(rng, nd), dtype, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pydl_cls,torch_name,args,kwargs,x_shape", [
    (nn.Conv2d, "Conv2d", (3, 8, 3), dict(padding="same"), (2, 3, 9, 8)),
    (nn.Conv2d, "Conv2d", (4, 4, 3), dict(stride=2, padding=1, groups=4, bias=False),
     (3, 4, 9, 9)),
    (nn.Conv1d, "Conv1d", (4, 6, 5), dict(padding=2, dilation=2), (2, 4, 17)),
    (nn.Conv3d, "Conv3d", (2, 4, 3), dict(padding=(1, 0, 1)), (1, 2, 4, 5, 6)),
    (nn.Conv2d, "Conv2d", (32, 24, 3), dict(padding=1), (3, 32, 12, 11)),   # Winograd 2x2
    (nn.Conv2d, "Conv2d", (32, 24, 3), dict(padding=1), (2, 32, 20, 18)),   # Winograd 4x4
    (nn.ConvTranspose2d, "ConvTranspose2d", (16, 20, 3), dict(padding=2),   # Winograd
     (2, 16, 11, 12)),
    (nn.ConvTranspose2d, "ConvTranspose2d", (4, 6, 3),
     dict(stride=2, padding=1, output_padding=1, groups=2), (2, 4, 5, 4)),
    (nn.ConvTranspose1d, "ConvTranspose1d", (3, 2, 4), dict(stride=3), (2, 3, 5)),
    (nn.ConvTranspose3d, "ConvTranspose3d", (2, 2, 2), dict(stride=2), (1, 2, 2, 3, 2)),
])
def test_layer_loads_pytorch_state_dict_and_matches(torch, pydl_cls, torch_name, args,
                                                     kwargs, x_shape, dtype):
    torch.manual_seed(0)
    tm = getattr(torch.nn, torch_name)(*args, **kwargs).to(
        torch.float64 if dtype == np.float64 else torch.float32)
    pm = pydl_cls(*args, **kwargs, dtype=dtype)
    assert list(pm.state_dict()) == list(tm.state_dict())
    assert repr(pm) == repr(tm)
    pm.load_state_dict(tm.state_dict())
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    tx = _t(torch, x, True)
    ty = tm(tx)
    g = rng.standard_normal(ty.shape).astype(dtype)
    ty.backward(_t(torch, g))
    y = pm(x)
    gx = pm.backward(g)
    tol = TOL[dtype]
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol)
    np.testing.assert_allclose(gx, tx.grad.numpy(), **tol)
    np.testing.assert_allclose(pm.weight.grad, tm.weight.grad.numpy(), rtol=tol["rtol"],
                               atol=tol["atol"] * 10)
    if pm.bias is not None:
        np.testing.assert_allclose(pm.bias.grad, tm.bias.grad.numpy(), rtol=tol["rtol"],
                                   atol=tol["atol"] * 10)


def test_pytorch_init_statistics_match(torch):
    """Same bounds as PyTorch's default init: compare the spread of many weights."""
    pm = nn.Conv2d(16, 256, 3, generator=np.random.default_rng(0))
    tm = torch.nn.Conv2d(16, 256, 3)
    for name in ("weight", "bias"):
        ours = getattr(pm, name).data
        theirs = getattr(tm, name).detach().numpy()
        assert abs(np.abs(ours).max() - np.abs(theirs).max()) < 0.05 * np.abs(theirs).max()
        assert abs(ours.std() - theirs.std()) < 0.15 * theirs.std()
