"""Pooling, unpooling and resampling against PyTorch (CPU), forward and gradient, over
randomized sweeps of configurations; skipped without torch."""

import numpy as np
import pytest

from pydl import functional as F
from pydl import nn
from tests.functional.test_pool import _random_pool_config

torch = pytest.importorskip("torch")
TF = torch.nn.functional


@pytest.fixture(autouse=True, scope="module")
def _torch_single_threaded():
    """Thousands of tiny torch calls: its thread pool's start-up per call dominated
    (7 ms a call on the loaded CI machine, 0.5 ms with one thread)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def _torch_fwd_grad(fn, x, rng):
    """Run a torch op under autograd; returns (outputs, upstream g, grad wrt x)."""
    tx = torch.from_numpy(x).requires_grad_()
    out = fn(tx)
    first = out[0] if isinstance(out, tuple) else out
    g = rng.standard_normal(tuple(first.shape)).astype(x.dtype)
    (gx,) = torch.autograd.grad(first, tx, torch.from_numpy(g))
    outs = tuple(o.detach().numpy() for o in out) if isinstance(out, tuple) else \
        first.detach().numpy()
    return outs, g, gx.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_pool_sweep(nd, dtype):
    rng = np.random.default_rng(nd)
    checked = 0
    while checked < 25:
        spatial, k, s, p, d, ceil = _random_pool_config(rng, nd)
        # small integers: many ties, which must resolve as PyTorch's do
        x = rng.integers(-3, 4, (2, 3) + spatial).astype(dtype)
        op = getattr(TF, f"max_pool{nd}d")
        try:
            _, ti = op(torch.from_numpy(x), k, s, p, d, ceil_mode=ceil, return_indices=True)
        except RuntimeError:
            continue
        if ti.numel() and (ti.min() < 0 or ti.max() >= np.prod(spatial)):
            # a window wholly in the padding: PyTorch returns -inf and a bogus index (its
            # backward then aborts the process); pydl refuses the configuration
            with pytest.raises(ValueError, match="entirely in the padding"):
                getattr(F, f"max_pool{nd}d_forward")(x, k, s, p, d, ceil)
            continue
        (ty, ti), g, tgx = _torch_fwd_grad(
            lambda t: op(t, k, s, p, d, ceil_mode=ceil, return_indices=True), x, rng)
        y, idx = getattr(F, f"max_pool{nd}d_forward")(x, k, s, p, d, ceil)
        np.testing.assert_array_equal(y, ty)
        np.testing.assert_array_equal(idx, ti)
        gx = getattr(F, f"max_pool{nd}d_backward")(g, idx, x.shape)
        np.testing.assert_allclose(gx, tgx, **_tol(dtype))
        checked += 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_avg_pool_sweep(nd, dtype):
    rng = np.random.default_rng(10 + nd)
    checked = 0
    while checked < 25:
        spatial, k, s, p, _, ceil = _random_pool_config(rng, nd, dilation=False)
        include = bool(rng.integers(2))
        div = None if nd == 1 or rng.integers(2) else int(rng.integers(1, 5))
        x = rng.standard_normal((2, 3) + spatial).astype(dtype)
        extra = {} if nd == 1 else {"divisor_override": div}
        try:
            ty, g, tgx = _torch_fwd_grad(
                lambda t: getattr(TF, f"avg_pool{nd}d")(t, k, s, p, ceil, include, **extra),
                x, rng)
        except RuntimeError:
            continue   # e.g. avg_pool3d refuses a kernel larger than the unpadded input
        args = (k, s, p, ceil, include, div)
        np.testing.assert_allclose(getattr(F, f"avg_pool{nd}d_forward")(x, *args), ty,
                                   **_tol(dtype))
        np.testing.assert_allclose(getattr(F, f"avg_pool{nd}d_backward")(g, x.shape, *args),
                                   tgx, **_tol(dtype))
        checked += 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_adaptive_pool_sweep(nd, dtype):
    rng = np.random.default_rng(20 + nd)
    for _ in range(10):
        spatial = tuple(int(v) for v in rng.integers(1, 12, nd))
        outs = tuple(int(v) for v in rng.integers(1, 8, nd))
        x = rng.integers(-3, 4, (2, 3) + spatial).astype(dtype)
        ty, g, tgx = _torch_fwd_grad(lambda t: getattr(TF, f"adaptive_avg_pool{nd}d")(t, outs),
                                     x, rng)
        np.testing.assert_allclose(getattr(F, f"adaptive_avg_pool{nd}d_forward")(x, outs), ty,
                                   **_tol(dtype))
        np.testing.assert_allclose(getattr(F, f"adaptive_avg_pool{nd}d_backward")(g, x.shape),
                                   tgx, **_tol(dtype))
        (tm, ti), g, tgx = _torch_fwd_grad(
            lambda t: getattr(TF, f"adaptive_max_pool{nd}d")(t, outs, return_indices=True),
            x, rng)
        m, idx = getattr(F, f"adaptive_max_pool{nd}d_forward")(x, outs)
        np.testing.assert_array_equal(m, tm)
        np.testing.assert_array_equal(idx, ti)
        np.testing.assert_allclose(getattr(F, f"adaptive_max_pool{nd}d_backward")(
            g, idx, x.shape), tgx, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_unpool_sweep(nd, dtype):
    rng = np.random.default_rng(30 + nd)
    for _ in range(8):
        spatial = tuple(int(v) for v in rng.integers(2, 9, nd))
        k = tuple(int(v) for v in rng.integers(1, 3, nd))
        s = tuple(int(v) for v in rng.integers(1, 3, nd))
        x = rng.standard_normal((2, 3) + spatial).astype(dtype)
        y, idx = getattr(F, f"max_pool{nd}d_forward")(x, k, s)
        ty, g, tgx = _torch_fwd_grad(
            lambda t: getattr(TF, f"max_unpool{nd}d")(t, torch.from_numpy(idx), k, s,
                                                      output_size=spatial), y, rng)
        np.testing.assert_array_equal(
            getattr(F, f"max_unpool{nd}d_forward")(y, idx, k, s, 0, spatial), ty)
        np.testing.assert_array_equal(getattr(F, f"max_unpool{nd}d_backward")(g, idx), tgx)


LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _torch_nearest_grad_is_adjoint(nd, mode, spatial, kwargs, out_shape):
    """PyTorch's 1-D and 3-D nearest backward shortcuts out == in and out == 2 * in
    although its forward does not: there its gradient is not the forward's adjoint
    (pydl's is), so those gradients are not compared."""
    if mode != "nearest" or nd == 2 or "scale_factor" not in kwargs or \
            kwargs.get("recompute_scale_factor"):
        return True
    return not any(o in (i, 2 * i) for i, o in zip(spatial, out_shape[2:]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_interpolate_sweep(nd, dtype):
    rng = np.random.default_rng(40 + nd)
    checked = 0
    while checked < 30:
        spatial = tuple(int(v) for v in rng.integers(1, 10, nd))
        mode = str(rng.choice(["nearest", "nearest-exact", "area", LINEAR[nd], LINEAR[nd]]))
        kwargs = {}
        if rng.integers(2):
            kwargs["size"] = tuple(int(v) for v in rng.integers(1, 14, nd))
        else:
            kwargs["scale_factor"] = float(rng.choice([0.5, 0.7, 1.0, 1.0000001, 1.5, 2.0,
                                                       2.0000001, 2.5, 3.0, 1 / 3]))
            kwargs["recompute_scale_factor"] = bool(rng.integers(2))
        if mode == LINEAR[nd]:
            kwargs["align_corners"] = bool(rng.integers(2))
        x = rng.standard_normal((2, 3) + spatial).astype(dtype)
        try:
            ty, g, tgx = _torch_fwd_grad(lambda t: TF.interpolate(t, mode=mode, **kwargs), x, rng)
        except RuntimeError:
            ty = np.zeros(0)
        if ty.size == 0:   # an output size of 0: refused (PyTorch refuses or returns empty)
            with pytest.raises(ValueError, match="must be >= 1"):
                F.interpolate_forward(x, mode=mode, **kwargs)
            continue
        y = F.interpolate_forward(x, mode=mode, **kwargs)
        if mode.startswith("nearest"):
            np.testing.assert_array_equal(y, ty)
        else:
            np.testing.assert_allclose(y, ty, **_tol(dtype))
        if _torch_nearest_grad_is_adjoint(nd, mode, spatial, kwargs, ty.shape):
            np.testing.assert_allclose(F.interpolate_backward(g, x.shape, mode=mode, **kwargs),
                                       tgx, **_tol(dtype))
        checked += 1


MODULE_PAIRS = [
    (lambda: nn.MaxPool2d(3, 2, 1, ceil_mode=True), lambda: torch.nn.MaxPool2d(3, 2, 1,
                                                                               ceil_mode=True)),
    (lambda: nn.AvgPool2d(3, 2, 1, count_include_pad=False),
     lambda: torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False)),
    (lambda: nn.AdaptiveAvgPool2d(1), lambda: torch.nn.AdaptiveAvgPool2d(1)),
    (lambda: nn.AdaptiveMaxPool2d((2, 3)), lambda: torch.nn.AdaptiveMaxPool2d((2, 3))),
    (lambda: nn.Upsample(scale_factor=2, mode="bilinear"),
     lambda: torch.nn.Upsample(scale_factor=2, mode="bilinear")),
    (lambda: nn.UpsamplingBilinear2d(scale_factor=2),
     lambda: torch.nn.UpsamplingBilinear2d(scale_factor=2)),
    (lambda: nn.UpsamplingNearest2d(size=(9, 4)), lambda: torch.nn.UpsamplingNearest2d((9, 4))),
]


@pytest.mark.parametrize("ours,theirs", MODULE_PAIRS,
                         ids=lambda f: type(f()).__name__)
def test_modules_match_pytorch(ours, theirs):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_()
    ty = theirs()(tx)
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.from_numpy(g))
    m = ours()
    np.testing.assert_allclose(m(x), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.backward(g), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert repr(m) == repr(theirs())


def test_residual_of_linear_matches_pytorch():
    torch.manual_seed(0)
    tb, ts = torch.nn.Linear(5, 4), torch.nn.Linear(5, 4, bias=False)
    res = nn.Residual(nn.Linear(5, 4), nn.Linear(5, 4, bias=False))
    res.load_state_dict({"block.weight": tb.weight, "block.bias": tb.bias,
                         "shortcut.weight": ts.weight})
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_()
    ty = tb(tx) + ts(tx)
    g = np.ones((3, 4), np.float32)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(res(x), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.backward(g), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.block.weight.grad, tb.weight.grad.numpy(), rtol=1e-5)
    np.testing.assert_allclose(res.shortcut.weight.grad, ts.weight.grad.numpy(), rtol=1e-5)


REPRS = ["MaxPool1d(3, 2, 1)", "MaxPool2d((3, 2), dilation=2, ceil_mode=True)", "MaxPool3d(2)",
         "AvgPool1d(3, padding=1)", "AvgPool2d(3, 2, 1, count_include_pad=False)",
         "AvgPool3d((1, 2, 2))", "AdaptiveAvgPool1d(4)", "AdaptiveAvgPool2d((None, 3))",
         "AdaptiveAvgPool3d(1)", "AdaptiveMaxPool1d(2)", "AdaptiveMaxPool2d((2, 3))",
         "AdaptiveMaxPool3d(1)", "MaxUnpool1d(2)", "MaxUnpool2d(3, 2, 1)", "MaxUnpool3d(2)",
         "Upsample(scale_factor=2)", "Upsample(size=(5, 7), mode='bilinear')",
         "UpsamplingNearest2d(scale_factor=3)", "UpsamplingBilinear2d(size=4)"]


@pytest.mark.parametrize("ctor", REPRS)
def test_module_reprs_match_pytorch(ctor):
    assert repr(eval("nn." + ctor)) == repr(eval("torch.nn." + ctor))
