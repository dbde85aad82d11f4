"""SyncBatchNorm: batch normalization with the statistics of the global batch, over
the ranks of data-parallel training (:mod:`pydl.distributed`)."""

import numpy as np

from .. import functional as F
from .batchnorm import _BatchNorm
from .module import Module, _structure_version

__all__ = ["SyncBatchNorm"]


def _combine_moments(rows):
    """Count, mean and sum of squared deviations per channel of the union of the
    ranks' samples, from each rank's ``[count, mean (C), m2 (C)]`` row, combined in
    rank order (Chan et al.'s pairwise update: no cancellation, unlike E[x^2] - E[x]^2).
    """
    c = (rows.shape[1] - 1) // 2
    n, mean, m2 = 0.0, np.zeros(c), np.zeros(c)
    for row in rows:
        nb = row[0]
        if nb == 0:
            continue
        delta = row[1:1 + c] - mean
        total = n + nb
        mean = mean + delta * (nb / total)
        m2 = m2 + row[1 + c:] + delta * delta * (n * nb / total)
        n = total
    return n, mean, m2


class SyncBatchNorm(_BatchNorm):
    """Batch normalization whose batch statistics are those of the whole global batch,
    gathered from every rank (``torch.nn.SyncBatchNorm``).

    With data-parallel training each rank sees ``B / R`` samples; plain BatchNorm would
    normalize with those few. SyncBatchNorm gathers each rank's count, mean and sum of
    squared deviations per channel (one Allgather of ``2C + 1`` values), combines them
    in rank order (bitwise the same on every rank) and normalizes with the global mean
    and variance; backward gathers the sums of ``dy`` and ``dy * x_hat`` the same way.
    Then R ranks at global batch B compute what one process computes at batch B.

    In evaluation, or without a process group (:func:`pydl.distributed.init` not
    called and no ``process_group``), it is exactly BatchNorm and communicates
    nothing: as ``torch.nn.SyncBatchNorm``, evaluation without running statistics
    normalizes with this rank's batch alone. (Synchronizing there would need every
    rank to evaluate the same number of batches; a rank evaluating alone, or a
    validation shard one batch longer than the others', would wait forever.)

    Parameters
    ----------
    num_features : int
        C.
    eps, momentum, affine, track_running_stats, dtype
        As :class:`BatchNorm1d`.
    process_group : mpi4py.MPI.Intracomm, optional
        The ranks to synchronize over; default pydl's (from ``pydl.distributed.init``).

    Shapes: input (N, C, *) with any number of trailing axes; output the same.
    """

    _ndims = range(2, 65)       # any rank NumPy allows, from (N, C) on
    _expected = "(N, C, *) (at least 2-D)"

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, process_group=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype)
        if process_group is not None and not all(
                hasattr(process_group, a) for a in ("Allgather", "Get_size")):
            raise TypeError(f"process_group must be an mpi4py communicator or None, got "
                            f"{type(process_group).__name__}")
        self.process_group = process_group

    def _group(self):
        if self.process_group is not None:
            return self.process_group
        from ..distributed.state import _state
        return _state["norm_comm"]

    def forward(self, x):
        """Normalize ``x`` (N, C, *) with the global batch's statistics when training."""
        # as PyTorch: only training synchronizes (evaluation without running
        # statistics uses this rank's batch; a collective there hangs when the ranks
        # evaluate different numbers of batches)
        comm = self._group() if self.training else None
        if comm is None:
            return super().forward(x)
        self._check_input(x)
        x = np.asarray(x)
        dtype = self.running_mean.dtype if self.running_mean is not None else (
            None if self.weight is None else self.weight.data.dtype)
        if x.dtype not in (np.float32, np.float64) or (dtype is not None and x.dtype != dtype):
            # refused before the collective, which every rank must reach alike
            raise TypeError(f"SyncBatchNorm expected x of dtype {dtype or 'float32/float64'}, "
                            f"got {x.dtype}")
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        x64 = x.astype(np.float64)
        count = x.size // x.shape[1] if x.shape[1] else 0
        mean = x64.mean(axis=axes) if count else np.zeros(x.shape[1])
        m2 = ((x64 - mean.reshape(shape)) ** 2).sum(axis=axes)
        row = np.concatenate([[float(count)], mean, m2])
        rows = np.empty((comm.Get_size(), row.size))
        comm.Allgather(row, rows)
        n, mean, m2 = _combine_moments(rows)
        if n <= 1:
            raise ValueError(f"expected more than 1 value per channel over all ranks when "
                             f"training, got {int(n)} (input of shape {x.shape} here)")
        var = m2 / n
        dt = x.dtype
        out, mean_used, invstd = F.batch_norm_forward(
            x, None if self.weight is None else self.weight.data,
            None if self.bias is None else self.bias.data,
            mean.astype(dt), var.astype(dt), training=False, eps=self.eps)
        if self.track_running_stats:
            momentum = self.momentum
            if momentum is None:     # cumulative moving average
                momentum = 1.0 / (int(self.num_batches_tracked) + 1)
            self.running_mean[...] = (1 - momentum) * self.running_mean + momentum * mean
            self.running_var[...] = ((1 - momentum) * self.running_var
                                     + momentum * var * (n / (n - 1)))
            self.num_batches_tracked += 1
        # the statistics as the kernel used them (rounded to x's dtype)
        self.save_for_backward(x=x, mean=mean_used, invstd=invstd, count=n, comm=comm)
        return out

    def backward(self, grad_output):
        s = self.saved()
        if "comm" not in s:
            return super().backward(grad_output)
        from ..distributed.collectives import sum_in_rank_order
        x = s["x"]
        grad_output = np.asarray(grad_output)
        if grad_output.shape != x.shape:
            raise ValueError(f"grad_output has shape {grad_output.shape}, the input had "
                             f"{x.shape}")
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        invstd = s["invstd"].reshape(shape)
        xhat = (x.astype(np.float64) - s["mean"].reshape(shape)) * invstd
        dy = grad_output.astype(np.float64)
        sum_dy = dy.sum(axis=axes)
        sum_dy_xhat = (dy * xhat).sum(axis=axes)
        totals = sum_in_rank_order(np.concatenate([sum_dy, sum_dy_xhat]), s["comm"])
        c = x.shape[1]
        n = s["count"]
        w = np.ones(c) if self.weight is None else self.weight.data.astype(np.float64)
        grad_input = (w.reshape(shape) * invstd) * (
            dy - (totals[:c] / n).reshape(shape) - xhat * (totals[c:] / n).reshape(shape))
        if self.weight is not None:
            # this rank's share; DistributedDataParallel averages the shares over ranks
            self.weight.accumulate_grad(sum_dy_xhat.astype(x.dtype))
            self.bias.accumulate_grad(sum_dy.astype(x.dtype))
        return grad_input.astype(x.dtype)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """Replace every BatchNorm1d/2d/3d in ``module`` by a SyncBatchNorm sharing its
        parameters, running statistics and mode; returns the converted module (a new
        object when ``module`` itself is a BatchNorm).

        Parameters
        ----------
        module : pydl.nn.Module
        process_group : mpi4py.MPI.Intracomm, optional
        """
        if not isinstance(module, Module):
            raise TypeError(f"module must be a pydl.nn.Module, got {type(module).__name__}")
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            return cls._from_batchnorm(module, process_group)
        for name, child in list(module.named_children()):
            converted = cls.convert_sync_batchnorm(child, process_group)
            if converted is not child:
                # in place: Sequential's order is the order of _modules
                module._modules[name] = converted
                _structure_version[0] += 1
        return module

    @classmethod
    def _from_batchnorm(cls, bn, process_group):
        dtype = bn.running_mean.dtype if bn.running_mean is not None else (
            bn.weight.data.dtype if bn.weight is not None else None)
        sync = cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats,
                   process_group, dtype=dtype)
        if bn.affine:
            sync.weight, sync.bias = bn.weight, bn.bias
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            setattr(sync, name, getattr(bn, name))
        sync.training = bn._training
        return sync
