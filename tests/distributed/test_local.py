"""pydl.distributed pieces that run in one process: the import guard, the hooks
DistributedDataParallel builds on, DistributedSampler, SyncBatchNorm outside
data-parallel training. (Multi-rank behaviour: test_mpi.py.)"""

import subprocess
import sys

import numpy as np
import pytest

import pydl
import pydl.distributed as dist
from pydl import nn
from pydl.data import DistributedSampler
from pydl.testing import gradcheck
from tests.helpers import child_env


# ------------------------------------------------------------ without mpi4py
def test_import_pydl_without_mpi4py_and_init_says_what_to_install():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import pydl, pydl.distributed as dist\n"
            "assert not dist.is_initialized() and dist.is_main_process()\n"
            "assert 'mpi4py' not in [m for m in sys.modules if sys.modules[m]]\n"
            "m = pydl.nn.Linear(2, 2)\n"
            "pydl.fit(m, __import__('numpy').ones((4, 2), 'f'), [0, 1, 0, 1],\n"
            "         loss='cross_entropy', optimizer=pydl.optim.SGD(m.parameters()),\n"
            "         verbose=0)\n"
            "try:\n"
            "    dist.init()\n"
            "except ImportError as exc:\n"
            "    print('MESSAGE', exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=child_env(), text=True,
                          capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert 'pip install "pydl[mpi]"' in proc.stdout and "mpiexec" in proc.stdout


def test_not_initialized_is_refused_clearly():
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="call pydl.distributed.init"):
        dist.rank()
    with pytest.raises(RuntimeError, match="not initialized"):
        dist.DistributedDataParallel(nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="not initialized"):
        dist.broadcast_parameters(nn.Linear(2, 2))
    assert dist.is_main_process()


def test_pydl_import_does_not_import_mpi4py():
    code = "import sys, pydl; print('mpi4py' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], env=child_env(), text=True,
                          capture_output=True, timeout=120, check=False)
    assert proc.stdout.strip() == "False", proc.stderr


# ------------------------------------------------------------------ hooks
def test_post_accumulate_grad_hook_explicit_and_tape():
    pydl.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    seen = []
    handles = [p.register_post_accumulate_grad_hook(lambda p, n=n: seen.append((n, p.grad.copy())))
               for n, p in model.named_parameters()]
    x = np.random.default_rng(0).standard_normal((5, 3))
    model(x)
    model.backward(np.ones((5, 2)))
    # explicit path: reverse layer order, each after its gradient is in .grad
    assert [n for n, _ in seen] == ["2.weight", "2.bias", "0.weight", "0.bias"]
    grads = {n: p.grad for n, p in model.named_parameters()}
    for n, g in seen:
        np.testing.assert_array_equal(g, grads[n])
    # tape: a module called twice gives two contributions, the hook runs after each
    seen.clear()
    model.zero_grad()
    t = pydl.tensor(x)
    (model(t).sum() + model(t * 2.0).sum()).backward()
    assert sorted(n for n, _ in seen) == sorted(2 * ["2.weight", "2.bias", "0.weight",
                                                     "0.bias"])
    for h in handles:
        h.remove()
        h.remove()                  # a second remove is a no-op
    seen.clear()
    model(x)
    model.backward(np.ones((5, 2)))
    assert seen == []
    from pydl.autograd import graph
    assert graph.post_accumulate_hooks == {}
    with pytest.raises(TypeError, match="hook must be callable"):
        model[0].weight.register_post_accumulate_grad_hook(3)


# ------------------------------------------------------ DistributedSampler
@pytest.mark.parametrize("n", [0, 1, 7, 12, 13])
@pytest.mark.parametrize("ranks", [1, 2, 3, 5])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_shards(n, ranks, drop_last):
    shards = [DistributedSampler(n, ranks, r, shuffle=True, seed=3, drop_last=drop_last)
              for r in range(ranks)]
    for s in shards:
        s.set_epoch(4)
    lists = [list(s) for s in shards]
    sizes = {len(li) for li in lists}
    assert sizes == {len(shards[0])}                    # equal shards
    every = [i for li in lists for i in li]
    if drop_last:
        assert len(set(every)) == len(every) == n - n % ranks   # disjoint
    else:
        assert set(every) == set(range(n))                     # all, padded
        assert len(every) == -(-n // ranks) * ranks


def test_sampler_reshuffles_per_epoch_from_the_seed():
    a, b = DistributedSampler(50, 2, 0, seed=1), DistributedSampler(50, 2, 0, seed=1)
    first = list(a)
    assert first == list(b) and first == list(a)       # same seed and epoch: same
    a.set_epoch(1)
    assert list(a) != first
    assert list(DistributedSampler(50, 2, 0, shuffle=False)) == list(range(0, 50, 2))
    assert len(DistributedSampler(np.zeros((9, 2)), 2, 1)) == 5   # sized dataset


def test_sampler_matches_torch_padding_rule():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchSampler
    for n in (1, 5, 10, 11):
        for ranks in (2, 3, 4):
            for r in range(ranks):
                for drop_last in (False, True):
                    ours = DistributedSampler(n, ranks, r, shuffle=False,
                                              drop_last=drop_last)
                    theirs = TorchSampler(range(n), num_replicas=ranks, rank=r,
                                          shuffle=False, drop_last=drop_last)
                    assert list(ours) == list(theirs) and len(ours) == len(theirs)
    del torch


def test_sampler_bad_arguments():
    with pytest.raises(ValueError, match=r"rank must be in \[0, num_replicas=2\)"):
        DistributedSampler(10, 2, 2)
    with pytest.raises(ValueError, match="num_replicas must be >= 1"):
        DistributedSampler(10, 0, 0)
    with pytest.raises(TypeError, match="dataset must be a number of samples"):
        DistributedSampler(object(), 1, 0)
    with pytest.raises(TypeError, match="seed must be an int"):
        DistributedSampler(10, 1, 0, seed=1.5)
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        DistributedSampler(10, 1, 0).set_epoch(-1)
    # not initialized: one replica, rank 0
    s = DistributedSampler(4)
    assert (s.num_replicas, s.rank) == (1, 0)


def test_dataloader_with_a_sampler():
    x, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    sampler = DistributedSampler(10, 3, 1, shuffle=True, seed=4)
    loader = pydl.data.DataLoader(x, y, batch_size=2, sampler=sampler)
    assert len(loader) == 2 and loader.num_samples() == 4
    got = np.concatenate([yb for _, yb in loader])
    assert got.tolist() == list(sampler)
    sampler.set_epoch(1)
    assert np.concatenate([yb for _, yb in loader]).tolist() == list(sampler)
    assert len(pydl.data.DataLoader(x, y, batch_size=3, sampler=sampler,
                                    drop_last=True)) == 1
    with pytest.raises(ValueError, match="sampler and shuffle=True exclude each other"):
        pydl.data.DataLoader(x, y, shuffle=True, sampler=sampler)
    with pytest.raises(TypeError, match="sampler must be an iterable of indices"):
        pydl.data.DataLoader(x, y, sampler=3)
    with pytest.raises(ValueError, match=r"sampler gave index 10, outside \[0, 10\)"):
        list(pydl.data.DataLoader(x, y, sampler=[1, 10]))
    # fit counts a sampler's samples, not the array's
    model = nn.Linear(2, 2).double()
    history = pydl.fit(model, pydl.data.DataLoader(x, y % 2, batch_size=2, sampler=sampler),
                       loss="cross_entropy", optimizer=pydl.optim.SGD(model.parameters()),
                       verbose=0)
    assert history.params["samples"] == 4 and history.params["steps"] == 2


# ------------------------------------------------------------ SyncBatchNorm
def test_sync_batchnorm_alone_is_batchnorm(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3, 4, 5)).astype(dtype)
    bn, sync = nn.BatchNorm2d(3, dtype=dtype), nn.SyncBatchNorm(3, dtype=dtype)
    for m in (bn, sync):
        m.weight.data[...] = [0.5, 1.0, 2.0]
    np.testing.assert_array_equal(sync(x), bn(x))
    g = rng.standard_normal(x.shape).astype(dtype)
    np.testing.assert_array_equal(sync.backward(g), bn.backward(g))
    np.testing.assert_array_equal(sync.running_var, bn.running_var)
    sync.eval()
    bn.eval()
    np.testing.assert_array_equal(sync(x), bn(x))


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 3, 2, 2, 2)])
def test_sync_batchnorm_gradcheck(shape):
    sync = nn.SyncBatchNorm(3, dtype=np.float64)
    sync.weight.data[...] = [0.5, 1.0, 2.0]
    gradcheck(sync, np.random.default_rng(1).standard_normal(shape))


def test_convert_sync_batchnorm_keeps_order_parameters_and_state():
    pydl.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3, momentum=None),
                          nn.ReLU(), nn.Sequential(nn.Flatten(), nn.BatchNorm1d(12)))
    model[1].running_mean[...] = 0.25
    model.eval()
    keys = list(model.state_dict())
    weight = model[1].weight
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4)).astype(np.float32)
    before = model(x)
    out = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert out is model and list(model.state_dict()) == keys
    assert [type(m).__name__ for m in model.modules()].count("SyncBatchNorm") == 2
    assert model[1].weight is weight and model[1].momentum is None
    assert not model[1].training
    np.testing.assert_array_equal(model(x), before)
    single = nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(4))
    assert isinstance(single, nn.SyncBatchNorm)
    with pytest.raises(TypeError, match="module must be a pydl.nn.Module"):
        nn.SyncBatchNorm.convert_sync_batchnorm("bn")


def test_sync_batchnorm_bad_input():
    sync = nn.SyncBatchNorm(3)
    with pytest.raises(ValueError, match=r"expected \(N, C, \*\) \(at least 2-D\) input, got 1-D"):
        sync(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"got input with 4 channels"):
        sync(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="process_group must be an mpi4py communicator"):
        nn.SyncBatchNorm(3, process_group="world")
    with pytest.raises(ValueError, match="num_features must be >= 0"):
        nn.SyncBatchNorm(-1)
    with pytest.raises(ValueError, match="eps must be > 0"):
        nn.SyncBatchNorm(3, eps=0)
