"""PyTorch parity of GroupNorm and InstanceNorm1d/2d/3d: PyTorch's state_dict loads
unchanged; outputs, input and parameter gradients and running statistics match over
several training steps and in eval mode; skipped without torch."""

import numpy as np
import pytest

from pydl import functional as F
from pydl import nn

torch = pytest.importorskip("torch")

from tests.test_torch_parity_norm import (
    TOL,
    _compare_state,
    _randomize,
    _step,
    _t,
    _torch_dtype,
)


def _run(pm, tm, shape, dtype, steps=4):
    pm.load_state_dict(tm.state_dict())        # PyTorch tensors load unchanged
    rng = np.random.default_rng(0)
    for step in range(steps):
        x = (rng.standard_normal(shape) * (1 + step) + step).astype(dtype)
        tm.zero_grad()
        pm.zero_grad()
        _step(pm, tm, x, rng.standard_normal(shape).astype(dtype), dtype)
        _compare_state(pm, tm, dtype)
    tm.eval()
    pm.eval()
    tm.zero_grad()
    pm.zero_grad()
    x = rng.standard_normal(shape).astype(dtype)
    _step(pm, tm, x, rng.standard_normal(shape).astype(dtype), dtype)
    _compare_state(pm, tm, dtype)


GROUP_NORMS = [
    (2, 6, {}, (4, 6, 5)),
    (1, 5, {}, (3, 5, 4, 3)),
    (5, 5, {}, (3, 5, 4, 3)),
    (4, 8, {"eps": 1e-3}, (2, 8, 3, 2, 2)),
    (3, 6, {}, (7, 6)),
    (2, 4, {"affine": False}, (3, 4, 9)),
    (2, 4, {"bias": False}, (3, 4, 9)),
    (32, 64, {}, (2, 64, 7, 7)),
]


@pytest.mark.parametrize("groups, channels, kwargs, shape", GROUP_NORMS, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_group_norm_matches_pytorch(groups, channels, kwargs, shape, dtype):
    tm = torch.nn.GroupNorm(groups, channels, **kwargs).to(_torch_dtype(dtype))
    _randomize(tm)
    _run(nn.GroupNorm(groups, channels, dtype=dtype, **kwargs), tm, shape, dtype)


INSTANCE_NORMS = [
    ("1d", {}, (4, 5, 7)),
    ("1d", {"affine": True}, (5, 7)),
    ("2d", {"affine": True, "track_running_stats": True}, (4, 5, 6, 7)),
    ("2d", {"track_running_stats": True, "momentum": 0.5, "eps": 1e-3}, (5, 3, 3)),
    ("2d", {"track_running_stats": True, "momentum": None}, (2, 5, 3, 3)),
    ("3d", {"affine": True, "track_running_stats": True}, (2, 5, 3, 4, 2)),
    ("3d", {"affine": True, "bias": False}, (2, 5, 3, 2, 2)),
]


@pytest.mark.parametrize("kind, kwargs, shape", INSTANCE_NORMS, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_instance_norm_matches_pytorch_over_training_steps_and_eval(kind, kwargs, shape,
                                                                   dtype):
    tm = getattr(torch.nn, f"InstanceNorm{kind}")(5, **kwargs).to(_torch_dtype(dtype))
    _randomize(tm)
    pm = getattr(nn, f"InstanceNorm{kind}")(5, dtype=dtype, **kwargs)
    _run(pm, tm, shape, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_functional_forms_match_pytorch(dtype):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((3, 6, 4, 5)) * 2 + 1).astype(dtype)
    w, b = (rng.standard_normal(6).astype(dtype) for _ in range(2))
    y, _, _ = F.group_norm_forward(x, 3, w, b, eps=1e-3)
    ty = torch.nn.functional.group_norm(_t(x), 3, _t(w), _t(b), eps=1e-3)
    np.testing.assert_allclose(y, ty.numpy(), **TOL[dtype])
    rm, rv = np.zeros(6, dtype), np.ones(6, dtype)
    trm, trv = _t(rm), _t(rv)
    y, _, _ = F.instance_norm_forward(x, w, b, rm, rv, momentum=0.2)
    ty = torch.nn.functional.instance_norm(_t(x), trm, trv, _t(w), _t(b), momentum=0.2)
    np.testing.assert_allclose(y, ty.numpy(), **TOL[dtype])
    np.testing.assert_allclose(rm, trm.numpy(), **TOL[dtype])
    np.testing.assert_allclose(rv, trv.numpy(), **TOL[dtype])
