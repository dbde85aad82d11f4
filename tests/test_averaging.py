"""pydl.averaging: ExponentialMovingAverage (bias correction by hand), AveragedModel and
update_bn against torch.optim.swa_utils on the same parameter sequence."""

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.averaging import (
    AveragedModel,
    ExponentialMovingAverage,
    get_ema_avg_fn,
    get_ema_multi_avg_fn,
    get_swa_avg_fn,
    update_bn,
)


# ----------------------------------------------------------- ExponentialMovingAverage
def test_ema_of_numbers_by_hand():
    ema = ExponentialMovingAverage(0.9)
    assert ema.value is None and ema.count == 0
    assert ema.update(10.0) == 10.0              # (0.1 * 10) / (1 - 0.9)
    assert ema.update(20.0) == pytest.approx((0.9 * 1.0 + 0.1 * 20) / (1 - 0.81), rel=1e-15)
    raw = ExponentialMovingAverage(0.9, bias_correction=False)
    raw.update(10.0)
    assert raw.update(20.0) == pytest.approx(0.9 * 1.0 + 2.0, rel=1e-15)   # v_2, biased


@pytest.mark.parametrize("decay", [0.0, 0.5, 0.9, 0.999])
def test_bias_correction_is_exact(decay):
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((40, 3))
    ema = ExponentialMovingAverage(decay)
    v = np.zeros(3)
    for t, x in enumerate(xs, 1):
        v = decay * v + (1 - decay) * x
        got = ema.update(x)
        np.testing.assert_allclose(got, v / (1 - decay ** t), rtol=1e-12, atol=1e-14)
        # the corrected average is the normalised weighted mean of the values so far
        w = (1 - decay) * decay ** np.arange(t - 1, -1, -1)
        np.testing.assert_allclose(got, (w[:, None] * xs[:t]).sum(0) / w.sum(), rtol=1e-10)
    assert ema.count == 40


def test_ema_of_a_constant_is_the_constant_from_the_first_step():
    ema = ExponentialMovingAverage(0.99)
    for _ in range(5):
        assert ema.update(3.0) == pytest.approx(3.0, rel=1e-14)


def test_ema_state_dict_roundtrip_and_reset():
    a = ExponentialMovingAverage(0.8)
    for x in (1.0, 4.0, 2.0):
        a.update(x)
    b = ExponentialMovingAverage(0.1, bias_correction=False)
    b.load_state_dict(a.state_dict())
    assert b.value == a.value and b.update(5.0) == a.update(5.0)
    a.reset()
    assert a.value is None and a.count == 0


@pytest.mark.parametrize("make, error, match", [
    (lambda: ExponentialMovingAverage(1.0), ValueError, r"decay must be a number in \[0, 1\)"),
    (lambda: ExponentialMovingAverage(-0.1), ValueError, "decay"),
    (lambda: ExponentialMovingAverage("0.9"), ValueError, "decay"),
    (lambda: ExponentialMovingAverage(0.9).update("a"), TypeError, "x must be a real"),
    (lambda: [e.update(x) for e in [ExponentialMovingAverage()] for x in (np.ones(2), np.ones(3))],
     ValueError, "shape of the earlier values"),
    (lambda: get_ema_multi_avg_fn(decay=2), ValueError, "decay"),
    (lambda: AveragedModel("model"), TypeError, "model must be a pydl.nn.Module"),
    (lambda: AveragedModel(nn.Linear(2, 2), avg_fn=3), TypeError, "avg_fn must be callable"),
    (lambda: AveragedModel(nn.Linear(2, 2)).update_parameters(nn.Linear(2, 3)), ValueError,
     "same number and shapes"),
    (lambda: update_bn([], "model"), TypeError, "model must be a pydl.nn.Module"),
])
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ----------------------------------------------------------- AveragedModel vs torch
def _pair(torch):
    pydl.manual_seed(0)
    ours = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6),
                                 torch.nn.ReLU(), torch.nn.Linear(6, 3))
    theirs.load_state_dict({k: torch.from_numpy(np.array(v))
                            for k, v in ours.state_dict().items()})
    return ours, theirs


def _step(torch, ours, theirs, rng):
    """The same new weights and running statistics in both models."""
    x = rng.standard_normal((8, 4)).astype(np.float32)
    ours.train()
    theirs.train()
    ours(x)
    with torch.no_grad():
        theirs(torch.from_numpy(x))
        for (_, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
            p.data += rng.standard_normal(p.shape).astype(np.float32) * 0.1
            q.copy_(torch.from_numpy(p.data))


@pytest.mark.parametrize("how", ["swa", "ema-multi", "ema-avg", "swa-avg"])
@pytest.mark.parametrize("use_buffers", [False, True])
def test_averaged_model_matches_torch(how, use_buffers):
    torch = pytest.importorskip("torch")
    from torch.optim import swa_utils as tsu
    ours, theirs = _pair(torch)
    kw, tkw = {}, {}
    if how == "ema-multi":
        kw["multi_avg_fn"], tkw["multi_avg_fn"] = (get_ema_multi_avg_fn(0.8),
                                                   tsu.get_ema_multi_avg_fn(0.8))
    elif how == "ema-avg":
        kw["avg_fn"], tkw["avg_fn"] = get_ema_avg_fn(0.8), tsu.get_ema_avg_fn(0.8)
    elif how == "swa-avg":
        kw["avg_fn"], tkw["avg_fn"] = get_swa_avg_fn(), tsu.get_swa_avg_fn()
    avg = AveragedModel(ours, use_buffers=use_buffers, **kw)
    tavg = tsu.AveragedModel(theirs, use_buffers=use_buffers, **tkw)
    rng = np.random.default_rng(1)
    for _ in range(6):
        _step(torch, ours, theirs, rng)
        avg.update_parameters(ours)
        tavg.update_parameters(theirs)
    want = tavg.state_dict()
    got = avg.state_dict()
    assert list(got) == list(want)
    for k, v in want.items():
        if k.endswith("num_batches_tracked") and use_buffers:
            continue    # torch averages the counter too; pydl copies it
        np.testing.assert_allclose(got[k], v.numpy(), rtol=1e-6, atol=1e-7, err_msg=k)
    assert int(avg.n_averaged) == 6
    x = rng.standard_normal((5, 4)).astype(np.float32)
    avg.eval()
    tavg.eval()
    with torch.no_grad():
        np.testing.assert_allclose(avg(x), tavg(torch.from_numpy(x)).numpy(), rtol=1e-5,
                                   atol=1e-6)


def test_swa_is_the_plain_mean_and_the_copy_is_independent():
    model = nn.Linear(3, 2, dtype=np.float64)
    avg = AveragedModel(model)
    seen = []
    for i in range(5):
        model.weight.data[...] = i * 1.5 + np.arange(6).reshape(2, 3)
        seen.append(model.weight.data.copy())
        avg.update_parameters(model)
    np.testing.assert_allclose(avg.module.weight.data, np.mean(seen, axis=0), rtol=1e-14)
    assert avg.module.weight is not model.weight
    np.testing.assert_array_equal(model.weight.data, seen[-1])


def test_averaged_model_gradcheck():
    pydl.manual_seed(0)
    avg = AveragedModel(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double())
    pydl.testing.gradcheck(avg, np.random.default_rng(0).standard_normal((3, 3)))


def test_update_bn_matches_torch():
    torch = pytest.importorskip("torch")
    from torch.optim import swa_utils as tsu
    ours, theirs = _pair(torch)
    rng = np.random.default_rng(2)
    batches = [rng.standard_normal((n, 4)).astype(np.float32) for n in (5, 8, 3)]
    ours.eval()
    update_bn([(b, None) for b in batches], ours)
    tsu.update_bn([torch.from_numpy(b) for b in batches], theirs)
    assert not ours.training
    bn, tbn = ours[1], theirs[1]
    np.testing.assert_allclose(bn.running_mean, tbn.running_mean.numpy(), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(bn.running_var, tbn.running_var.numpy(), rtol=1e-5)
    assert bn.momentum == 0.1 and int(bn.num_batches_tracked) == 3


def test_optim_swa_utils_names():
    from pydl.optim import swa_utils
    assert swa_utils.AveragedModel is AveragedModel and swa_utils.update_bn is update_bn
    assert pydl.ExponentialMovingAverage is ExponentialMovingAverage
