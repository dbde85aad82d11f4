"""Checks run inside ``mpiexec -n R python -m tests.distributed._mpi_job SCENARIO DIR``.

Each scenario runs several checks in one launch (launching is the slow part) and
asserts on every rank; an AssertionError on any rank aborts them all (pydl's
excepthook), so the launcher sees a non-zero exit and the failing rank's traceback.
The single-process references are computed inside each rank, from the same seeds,
on the whole global batch. ``fit_setup`` is shared with the pytest side.
"""

import os
import signal
import sys

import numpy as np

import pydl
import pydl.distributed as dist
from pydl import nn
from pydl.optim import SGD, Adam

RTOL = 1e-10
STEPS = 20
BATCH = 12          # global batch: divisible by 2 and by 3 ranks


# ------------------------------------------------------------------ models
def mlp(seed=0):
    pydl.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 8), nn.ReLU(),
                         nn.Linear(8, 3)).double()


def cnn_bn(seed=0):
    # no bias before a BatchNorm: its true gradient is 0, and Adam would amplify the
    # rounding noise that stands in for it
    pydl.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 4, 3, bias=False), nn.BatchNorm2d(4), nn.Tanh(), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 3)).double()


class TapeNet(nn.Module):
    """Forward only (tensor ops): trained through the autograd tape."""

    def __init__(self, seed=0):
        super().__init__()
        pydl.manual_seed(seed)
        self.a = nn.Linear(5, 12).double()
        self.b = nn.Linear(12, 3).double()
        self.scale = nn.Parameter(np.full(12, 0.5))

    def forward(self, x):
        h = self.a(x).tanh() * self.scale
        return self.b(h) + self.b(h * 0.5)      # self.b used twice: two contributions


def data(kind, seed=1):
    rng = np.random.default_rng(seed)
    shape = (BATCH, 5) if kind != "cnn" else (BATCH, 2, 6, 6)
    return rng.standard_normal(shape), rng.integers(0, 3, BATCH)


def one_step(model, loss_fn, x, y, tape):
    model.zero_grad()
    if tape:
        loss = loss_fn(model(pydl.tensor(x)), y)
        loss.backward()
    else:
        loss_fn(model(x), y)
        model.backward(loss_fn.backward())


def train(model, opt_cls, kind, shard, tape=False, steps=STEPS, **opt_kwargs):
    """``steps`` steps on a fixed batch (re-drawn each step from a seeded stream)."""
    opt = opt_cls(model.parameters(), **opt_kwargs)
    loss_fn = nn.CrossEntropyLoss()
    for step in range(steps):
        x, y = data(kind, seed=100 + step)
        one_step(model, loss_fn, x[shard], y[shard], tape)
        opt.step()
    return model


def flat(model):
    m = model.module if isinstance(model, dist.DistributedDataParallel) else model
    return {k: v for k, v in m.state_dict().items()}


def assert_same_as(reference, model, what):
    ref, got = flat(reference), flat(model)
    assert ref.keys() == got.keys(), what
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=RTOL, atol=1e-14,
                                   err_msg=f"{what}: {k}")


def assert_equal_on_all_ranks(obj, what):
    everyone = dist.get_comm().allgather(obj)
    for r, theirs in enumerate(everyone):
        if isinstance(obj, dict):
            assert theirs.keys() == obj.keys(), what
            for k in obj:
                assert np.array_equal(theirs[k], obj[k]), f"{what}: {k} differs on rank {r}"
        else:
            assert theirs == obj, f"{what}: rank {r} has {theirs!r}, this rank {obj!r}"


# -------------------------------------------------------------- scenarios
def check_api():
    r = dist.init()
    assert dist.is_initialized() and dist.init() == r == dist.rank()
    assert dist.world_size() == int(os.environ.get("PMI_SIZE", dist.world_size()))
    dist.barrier()
    # parameters differ per rank until broadcast (and a BatchNorm's buffers too)
    model = cnn_bn(seed=10 + r)
    model[1].running_mean[...] = r
    dist.broadcast_parameters(model)
    assert_equal_on_all_ranks(flat(model), "broadcast_parameters")
    assert_same_as(cnn_bn(seed=10), model.train(), "broadcast_parameters from rank 0")
    return r


def check_correctness(r, R):
    shard = slice(r, None, R)       # this rank's share of every global batch
    for opt_cls, kwargs in ((SGD, {"lr": 0.1, "momentum": 0.9}), (Adam, {"lr": 0.01})):
        for cap in (25, 1e-4):      # one bucket; one bucket per parameter
            ref = train(mlp(), opt_cls, "mlp", slice(None), **kwargs)
            ddp = dist.DistributedDataParallel(mlp(), bucket_cap_mb=cap)
            train(ddp, opt_cls, "mlp", shard, **kwargs)
            assert_same_as(ref, ddp, f"MLP {opt_cls.__name__} bucket_cap_mb={cap}")
            if cap < 1:
                assert len(ddp.buckets) == 6
                # after the first step, the buckets start during backward
                assert ddp.buckets_overlapped == len(ddp.buckets), ddp.buckets_overlapped
    # BatchNorm -> SyncBatchNorm: global statistics give the single-process result
    ref = train(cnn_bn(), SGD, "cnn", slice(None), lr=0.05, momentum=0.9)
    model = nn.SyncBatchNorm.convert_sync_batchnorm(cnn_bn())
    assert isinstance(model[1], nn.SyncBatchNorm) and isinstance(model[4], nn.SyncBatchNorm)
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=1e-3)
    train(ddp, SGD, "cnn", shard, lr=0.05, momentum=0.9)
    assert_same_as(ref, ddp, "CNN with SyncBatchNorm, SGD")
    ref = train(cnn_bn(), Adam, "cnn", slice(None), lr=0.01)
    ddp = dist.DistributedDataParallel(nn.SyncBatchNorm.convert_sync_batchnorm(cnn_bn()))
    train(ddp, Adam, "cnn", shard, lr=0.01)
    assert_same_as(ref, ddp, "CNN with SyncBatchNorm, Adam")
    # SyncBatchNorm on the tape (its backward's Allgather among the buckets' reductions)
    ref = train(cnn_bn(), SGD, "cnn", slice(None), tape=True, steps=5, lr=0.05)
    ddp = dist.DistributedDataParallel(nn.SyncBatchNorm.convert_sync_batchnorm(cnn_bn()),
                                       bucket_cap_mb=1e-3)
    train(ddp, SGD, "cnn", shard, tape=True, steps=5, lr=0.05)
    assert_same_as(ref, ddp, "CNN with SyncBatchNorm on the tape")
    # the tensor path (a forward-only model, a layer used twice)
    ref = train(TapeNet(), Adam, "mlp", slice(None), tape=True, lr=0.01)
    ddp = dist.DistributedDataParallel(TapeNet(), bucket_cap_mb=1e-4)
    train(ddp, Adam, "mlp", shard, tape=True, lr=0.01)
    assert_same_as(ref, ddp, "tape path, Adam")
    assert ddp.buckets_overlapped == len(ddp.buckets)
    # overlap=False: the same numbers, nothing started during backward
    ddp = dist.DistributedDataParallel(TapeNet(), overlap=False)
    train(ddp, Adam, "mlp", shard, tape=True, lr=0.01)
    assert_same_as(ref, ddp, "tape path, overlap=False")
    assert ddp.buckets_overlapped == 0


def check_deterministic(r, R):
    """Bitwise the same across bucket sizes and repeated runs."""
    shard = slice(r, None, R)
    results = []
    for cap in (25, 1e-4, 2e-3, 25):
        ddp = dist.DistributedDataParallel(mlp(), bucket_cap_mb=cap, deterministic=True)
        results.append(flat(train(ddp, Adam, "mlp", shard, lr=0.01)))
    for other in results[1:]:
        for k in results[0]:
            assert np.array_equal(other[k], results[0][k]), f"deterministic: {k}"
    assert_equal_on_all_ranks(results[0], "deterministic weights")
    ref = train(mlp(), Adam, "mlp", slice(None), lr=0.01)
    ddp = dist.DistributedDataParallel(mlp(), deterministic=True)
    assert_same_as(ref, train(ddp, Adam, "mlp", shard, lr=0.01), "deterministic")


def check_tools(r, R):
    shard = slice(r, None, R)
    loss_fn = nn.CrossEntropyLoss()
    # allreduce_gradients: a hand-written loop without the wrapper
    ref, model = mlp(), mlp()
    x, y = data("mlp")
    one_step(ref, loss_fn, x, y, tape=False)
    one_step(model, loss_fn, x[shard], y[shard], tape=False)
    model[4].bias.grad = None if r == 0 else model[4].bias.grad   # missing on rank 0
    dist.allreduce_gradients(model, deterministic=True)
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        if name == "4.bias":
            continue
        np.testing.assert_allclose(p.grad, q.grad, rtol=RTOL, err_msg=name)
    # no_sync: micro-batches accumulate locally, the next backward averages the sum
    ref, ddp = mlp(), dist.DistributedDataParallel(mlp(), bucket_cap_mb=1e-4)
    ref.zero_grad()
    ddp.zero_grad()
    for step in range(3):
        x, y = data("mlp", seed=200 + step)
        loss_fn(ref(x), y)
        ref.backward(loss_fn.backward())
        if step < 2:
            with ddp.no_sync():
                loss_fn(ddp(x[shard]), y[shard])
                ddp.backward(loss_fn.backward())
        else:
            loss_fn(ddp(x[shard]), y[shard])
            ddp.backward(loss_fn.backward())
    for p, q in zip(ddp.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad, q.grad, rtol=RTOL)
    # a frozen parameter is left alone; one no rank used keeps grad None
    model = mlp()
    model[0].weight.requires_grad = False
    ddp = dist.DistributedDataParallel(model)
    x, y = data("mlp")
    one_step(ddp, loss_fn, x[shard], y[shard], tape=False)
    assert model[0].weight.grad is None and model[0].bias.grad is not None
    # a trainable parameter no rank uses keeps grad None; from the second step on its
    # bucket counts as ready from the start, and the buckets after it still start
    # during backward (overlap) with the right averages
    class Spare(nn.Module):
        def __init__(self):
            super().__init__()
            pydl.manual_seed(0)
            self.a, self.spare = nn.Linear(5, 3).double(), nn.Linear(5, 3).double()

        def forward(self, x):
            return self.a(x)

    ref, model = Spare(), Spare()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=1e-4)
    for step in range(3):
        x, y = data("mlp", seed=300 + step)
        one_step(ref, loss_fn, x, y, tape=True)
        one_step(ddp, loss_fn, x[shard], y[shard], tape=True)
        assert model.spare.weight.grad is None and model.spare.bias.grad is None
        for p, q in ((model.a.weight, ref.a.weight), (model.a.bias, ref.a.bias)):
            np.testing.assert_allclose(p.grad, q.grad, rtol=RTOL)
    assert ddp.buckets_overlapped == len(ddp.buckets) == 4, ddp.buckets_overlapped
    # a graph that grows after the first step: refused rather than averaged short
    class Growing(nn.Module):
        def __init__(self):
            super().__init__()
            pydl.manual_seed(0)
            self.a, self.b = nn.Linear(5, 4).double(), nn.Linear(4, 3).double()
            self.twice = False

        def forward(self, x):
            h = self.a(x)
            out = self.b(h)
            return out + self.b(h * 2.0) if self.twice else out

    model = Growing()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=1e-4)
    x, y = data("mlp")
    one_step(ddp, loss_fn, x[shard], y[shard], tape=True)
    model.twice = True
    try:
        one_step(ddp, loss_fn, x[shard], y[shard], tape=True)
    except RuntimeError as exc:
        assert "more gradient contributions" in str(exc) and "overlap=False" in str(exc)
    else:
        raise AssertionError("a gradient contribution after its bucket started was missed")
    ddp = dist.DistributedDataParallel(Growing(), overlap=False)
    one_step(ddp, loss_fn, x[shard], y[shard], tape=True)
    ddp.module.twice = True
    one_step(ddp, loss_fn, x[shard], y[shard], tape=True)    # overlap=False: fine
    # the wrapper itself through gradcheck (explicit and tape): with the same input on
    # every rank the averaged gradients are the local ones, in lockstep
    ddp = dist.DistributedDataParallel(mlp(), bucket_cap_mb=1e-4)
    pydl.testing.gradcheck(ddp, data("mlp")[0][:4])
    # broadcast_buffers: rank 0's buffers (both dtypes) at the start of each training
    # forward (momentum 0 keeps the running mean as it was broadcast)
    for flag in (True, False):
        model = nn.Sequential(nn.Linear(5, 3), nn.BatchNorm1d(3, momentum=0.0)).double()
        ddp = dist.DistributedDataParallel(model, broadcast_buffers=flag)
        model[1].running_mean[...] = r
        model[1].num_batches_tracked[...] = 10 * r
        ddp(data("mlp")[0][shard])
        assert np.all(model[1].running_mean == (0 if flag else r))
        assert int(model[1].num_batches_tracked) == (1 if flag else 10 * r + 1)
    # SyncBatchNorm in float32 and float64, 2-D to 5-D: this rank's rows of what
    # BatchNorm computes on the whole batch (outputs, input and parameter gradients,
    # running statistics)
    for dtype, tol in ((np.float32, 2e-5), (np.float64, 1e-12)):
        for shape in ((12, 3), (12, 3, 5), (12, 3, 4, 2), (12, 3, 2, 2, 3)):
            rng = np.random.default_rng(len(shape))
            x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
            g = rng.standard_normal(shape).astype(dtype)
            bn = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d,
                  5: nn.BatchNorm3d}[len(shape)](3, dtype=dtype)
            sync = nn.SyncBatchNorm(3, dtype=dtype)
            for m in (bn, sync):
                m.weight.data[...] = [0.5, 1.5, -2.0]
                m.bias.data[...] = [0.1, 0.2, 0.3]
            np.testing.assert_allclose(sync(x[shard]), bn(x)[shard], rtol=tol, atol=tol)
            np.testing.assert_allclose(sync.backward(g[shard]), bn.backward(g)[shard],
                                       rtol=tol, atol=tol)
            for name in ("running_mean", "running_var"):
                np.testing.assert_allclose(getattr(sync, name), getattr(bn, name),
                                           rtol=tol, atol=tol)
            for p in ("weight", "bias"):       # the shares add up to the whole
                total = dist.sum_in_rank_order(getattr(sync, p).grad)
                np.testing.assert_allclose(total, getattr(bn, p).grad, rtol=tol,
                                           atol=tol * 10)
    # SyncBatchNorm's own backward, on a one-rank group: central differences
    from mpi4py import MPI
    # evaluation never synchronizes, as torch.nn.SyncBatchNorm: without running
    # statistics each rank normalizes with its own batch, and the ranks may evaluate
    # different numbers of batches (here r + 1; a collective would wait forever)
    x = data("cnn")[0]
    sync = nn.SyncBatchNorm(2, track_running_stats=False, dtype=np.float64).eval()
    local = nn.BatchNorm2d(2, track_running_stats=False, dtype=np.float64).eval()
    for _ in range(r + 1):
        np.testing.assert_allclose(sync(x[shard]), local(x[shard]), rtol=1e-12, atol=1e-12)
    try:        # a wrong dtype is refused before the collective
        nn.SyncBatchNorm(2, process_group=MPI.COMM_SELF)(x)
    except TypeError as exc:
        assert "expected x of dtype float32, got float64" in str(exc), exc
    else:
        raise AssertionError("float64 input to a float32 SyncBatchNorm was not refused")
    for shape in ((7, 3), (5, 3, 4, 2)):
        bn = nn.SyncBatchNorm(3, process_group=MPI.COMM_SELF, dtype=np.float64)
        bn.weight.data[...] = np.linspace(0.5, 1.5, 3)
        bn.bias.data[...] = 0.1
        pydl.testing.gradcheck(bn, np.random.default_rng(3).standard_normal(shape))
    # different parameters on different ranks: refused at wrap time, on every rank
    try:
        dist.DistributedDataParallel(nn.Linear(4, 5 + r).double())
    except ValueError as exc:
        assert "same model on every rank" in str(exc) and "shape (5, 4)" in str(exc), exc
    else:
        raise AssertionError("different parameter shapes were not refused")
    # buffers too (they are broadcast with the parameters: MPI failed on the lengths)
    try:
        dist.DistributedDataParallel(nn.BatchNorm1d(3 + r, affine=False).double())
    except ValueError as exc:
        assert "same model on every rank" in str(exc) and \
            "buffer 'running_mean' is (shape (3,)" in str(exc), exc
    else:
        raise AssertionError("different buffer shapes were not refused")
    for call, error, match in (
            (lambda: dist.DistributedDataParallel(nn.Linear(4, 5), bucket_cap_mb=0),
             ValueError, "bucket_cap_mb must be a finite number > 0"),
            (lambda: dist.DistributedDataParallel("model"), TypeError,
             "module must be a pydl.nn.Module"),
            (lambda: dist.DistributedDataParallel(dist.DistributedDataParallel(
                nn.Linear(2, 2))), TypeError, "already a DistributedDataParallel"),
            (lambda: dist.broadcast_parameters(nn.Linear(2, 2), root=R), ValueError,
             "root must be a rank in"),
            (lambda: dist.broadcast_parameters([1]), TypeError, "model must be a pydl")):
        try:
            call()
        except error as exc:
            assert match in str(exc), exc
        else:
            raise AssertionError(f"not refused: {match}")


# ---------------------------------------------------------------- fit
def fit_setup(seed=0):
    """Model, optimizer, scheduler, data and callbacks of the fit checks."""
    pydl.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 16, bias=False), nn.BatchNorm1d(16), nn.Tanh(),
                          nn.Linear(16, 3)).double()
    model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    optimizer = SGD(model.parameters(), lr=0.2, momentum=0.9)
    scheduler = pydl.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0)
    rng = np.random.default_rng(7)
    w = rng.standard_normal((6, 3))
    x, xv = rng.standard_normal((48, 6)), rng.standard_normal((17, 6))
    y = np.argmax(x @ w + rng.standard_normal((48, 3)), axis=1)    # learnable, noisy
    val = (xv, np.argmax(xv @ w + rng.standard_normal((17, 3)), axis=1))
    return model, optimizer, scheduler, x, y, val


def run_fit(model, optimizer, scheduler, x, y, val, epochs, initial_epoch=0, callbacks=(),
            generator=None):
    return pydl.fit(model, x, y, loss=nn.CrossEntropyLoss(), optimizer=optimizer,
                    scheduler=scheduler, epochs=epochs, initial_epoch=initial_epoch,
                    batch_size=BATCH, validation_data=val, metrics=["accuracy", "f1"],
                    generator=generator if generator is not None else np.random.default_rng(5),
                    callbacks=list(callbacks), verbose=2)


def check_fit(r, R, out):
    model, optimizer, scheduler, x, y, val = fit_setup()
    early = pydl.callbacks.EarlyStopping(monitor="val_loss", patience=2, min_delta=1e-3,
                                         verbose=1)     # printed by rank 0 alone
    ckpt = pydl.callbacks.ModelCheckpoint(os.path.join(out, "ckpt-{epoch}.npz"),
                                          monitor="val_loss")
    csv = pydl.callbacks.CSVLogger(os.path.join(out, "log.csv"))
    if r != 0:      # only rank 0 writes
        import pydl.serialization as ser

        def refuse(*args, **kwargs):
            raise AssertionError(f"rank {r} wrote a checkpoint")
        ser.save = refuse
        csv.filename = "/nonexistent/dir/log.csv"     # opening it would fail
    history = run_fit(model, optimizer, scheduler, x, y, val, 8,
                      callbacks=[early, ckpt, csv])
    # the same logs, LR decisions and stopping epoch on every rank
    assert_equal_on_all_ranks(history.history, "history")
    assert_equal_on_all_ranks((early.stopped_epoch, len(history.epoch)), "early stopping")
    assert_equal_on_all_ranks(flat(model), "weights after fit")
    if r == 0:
        np.savez(os.path.join(out, "fit.npz"), epochs=len(history.epoch),
                 **{f"w:{k}": v for k, v in flat(model).items()},
                 **{f"h:{k}": np.array(v) for k, v in history.history.items()})
    else:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            pass
        else:
            assert history.plot(os.path.join(out, "never.png")) is None
    # an uninterrupted 4-epoch run (no early stopping), for the resume check
    model, optimizer, scheduler, x, y, val = fit_setup()
    ckpt = pydl.callbacks.ModelCheckpoint(os.path.join(out, "resume-{epoch}.npz"),
                                          monitor="val_loss")
    run_fit(model, optimizer, scheduler, x, y, val, 4, callbacks=[ckpt] if r == 0 else [])
    if r == 0:
        np.savez(os.path.join(out, "uninterrupted.npz"), **flat(model))


def check_fit_edges(r, R):
    """fit's validation when the ranks' shards differ in batches or are empty, and
    the wrapper fit makes leaving no hooks behind."""
    from pydl.autograd import graph
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((24, 6)), rng.integers(0, 3, 24)
    for n_val, model in (
            (7, nn.Sequential(nn.Linear(6, 4), nn.SyncBatchNorm(4, track_running_stats=False),
                              nn.Linear(4, 3)).double()),
            # fewer validation samples than ranks (a rank without rows divided by 0)
            (1, nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 3)).double())):
        for _ in range(2):      # twice: the first fit's wrapper must be gone
            history = pydl.fit(model, x, y, loss=nn.CrossEntropyLoss(),
                               optimizer=SGD(model.parameters(), lr=0.1), batch_size=BATCH,
                               validation_data=(x[:n_val], y[:n_val]),
                               validation_batch_size=4, verbose=0)
            assert not any(id(p) in graph.post_accumulate_hooks for p in model.parameters())
        assert_equal_on_all_ranks(history.history, f"fit with {n_val} validation rows")
        if n_val == 1:
            want = pydl.evaluate(model, x[:1], y[:1], loss=nn.CrossEntropyLoss())["loss"]
            np.testing.assert_allclose(history.history["val_loss"][-1], want, rtol=1e-12)
        elif r == 0:    # rank 0 evaluating alone: SyncBatchNorm must not wait for the others
            pydl.evaluate(model, x, y, loss=nn.CrossEntropyLoss(), batch_size=8)
    dist.barrier()


def check_resume(out):
    """Resume the 2-rank run from its epoch-2 checkpoint on this many ranks."""
    model, optimizer, scheduler, x, y, val = fit_setup(seed=99)    # weights from the file
    generator = np.random.default_rng()
    state = pydl.load(os.path.join(out, "resume-2.npz"), model, optimizer, scheduler,
                      rng=generator)
    run_fit(model, optimizer, scheduler, x, y, val, 4, initial_epoch=state["epoch"],
            generator=generator)
    expected = np.load(os.path.join(out, "uninterrupted.npz"))
    for k, v in flat(model).items():
        np.testing.assert_allclose(v, expected[k], rtol=RTOL, atol=1e-14, err_msg=k)


def check_fault(r, out):
    """Rank 1 fails in the middle of training; every rank must end promptly."""
    model, optimizer, scheduler, x, y, val = fit_setup()

    class Fail(pydl.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if r == 1 and self.epoch == 1 and batch == 2:
                raise RuntimeError("deliberate failure on rank 1")

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

    ckpt = pydl.callbacks.ModelCheckpoint(os.path.join(out, "fault-{epoch}.npz"),
                                          monitor="val_loss")
    run_fit(model, optimizer, scheduler, x, y, val, 50, callbacks=[Fail(), ckpt])


def check_kill(r, out, victim):
    """Rank ``victim`` is killed (SIGKILL) in epoch 3: rank 1 in the middle of a
    batch, rank 0 in the middle of writing the checkpoint (its temporary file written,
    not yet renamed). The epoch-2 checkpoint must stay whole."""
    model, optimizer, scheduler, x, y, val = fit_setup()
    if r == victim == 0:
        import pydl.serialization as ser
        real_replace = ser.os.replace

        def replace(src, dst):
            if dst.endswith("last.npz") and ser.load(src)["epoch"] == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            real_replace(src, dst)
        ser.os.replace = replace

    class Kill(pydl.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if r == victim == 1 and self.epoch == 2 and batch == 1:
                os.kill(os.getpid(), signal.SIGKILL)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

    ckpt = pydl.callbacks.ModelCheckpoint(os.path.join(out, "last.npz"), monitor="val_loss")
    run_fit(model, optimizer, scheduler, x, y, val, 50, callbacks=[Kill(), ckpt])


def main(argv):
    scenario, out = argv[0], argv[1]
    r = check_api()
    R = dist.world_size()
    if scenario == "core":
        check_correctness(r, R)
        check_deterministic(r, R)
        check_tools(r, R)
        check_fit_edges(r, R)
        check_fit(r, R, out)
    elif scenario == "three":
        check_correctness(r, R)
        check_deterministic(r, R)
        check_resume(out)
    elif scenario == "fault":
        check_fault(r, out)
    elif scenario in ("kill0", "kill1"):
        check_kill(r, out, int(scenario[-1]))
    else:
        raise ValueError(f"unknown scenario {scenario!r}")
    dist.barrier()
    hook = sys.excepthook
    dist.destroy()
    assert not dist.is_initialized() and sys.excepthook is not hook
    print(f"rank {r} of {R}: {scenario} passed", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
