"""Batch normalization: BatchNorm1d, BatchNorm2d, BatchNorm3d."""

import numpy as np

from .. import functional as F
from ..functional._validation import check_real
from .linear import check_size, resolve_dtype
from .module import Module
from .parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]


def register_running_stats(module, dtype):
    """The buffers running_mean (zeros), running_var (ones) and num_batches_tracked of
    a normalization over ``module.num_features`` channels; None each when
    ``module.track_running_stats`` is off (PyTorch's state_dict keys either way)."""
    track, n = module.track_running_stats, module.num_features
    module.register_buffer("running_mean", np.zeros(n, dtype) if track else None)
    module.register_buffer("running_var", np.ones(n, dtype) if track else None)
    module.register_buffer("num_batches_tracked", np.zeros((), np.int64) if track else None)


def reset_running_stats(module):
    """Running mean 0, running variance 1, no batches tracked (when tracked)."""
    if module.track_running_stats:
        module.running_mean[...] = 0
        module.running_var[...] = 1
        module.num_batches_tracked[...] = 0


class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d/3d, which differ only in the input ranks they accept."""

    _ndims = ()
    _expected = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, dtype=None):
        super().__init__()
        self.num_features = check_size(num_features, "num_features")
        self.eps = check_real(eps, "eps", low=0.0, low_open=True)
        self.momentum = None if momentum is None else check_real(momentum, "momentum",
                                                                 low=0.0, high=1.0)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        dtype = resolve_dtype(dtype)
        if self.affine:
            self.weight = Parameter(np.ones(self.num_features, dtype))
            self.bias = Parameter(np.zeros(self.num_features, dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        register_running_stats(self, dtype)

    def reset_running_stats(self):
        """Running mean 0, running variance 1, no batches tracked."""
        reset_running_stats(self)

    def reset_parameters(self):
        """Running statistics reset; weight 1, bias 0."""
        self.reset_running_stats()
        if self.affine:
            self.weight.data[...] = 1
            self.bias.data[...] = 0

    def _check_input(self, x):
        x = np.asarray(x) if not isinstance(x, np.ndarray) else x
        if x.ndim not in self._ndims:
            raise ValueError(f"{type(self).__name__} expected {self._expected} input, got "
                             f"{x.ndim}-D input of shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) got input with "
                             f"{x.shape[1]} channels (shape {x.shape}); expected "
                             f"{self.num_features} in axis 1")

    def forward(self, x):
        """Normalize x, shape (N, C, *) with C = num_features.

        Training (or no running statistics): with the batch statistics, updating the
        running statistics when tracked. Evaluation: with the running statistics.
        """
        self._check_input(x)
        momentum = 0.0 if self.momentum is None else self.momentum
        update = self.training and self.track_running_stats
        if update and self.momentum is None:  # cumulative moving average
            momentum = 1.0 / (int(self.num_batches_tracked) + 1)
        use_batch_stats = self.training or self.running_mean is None
        keep_running = not self.training or self.track_running_stats
        out, mean, invstd = F.batch_norm_forward(
            x, None if self.weight is None else self.weight.data,
            None if self.bias is None else self.bias.data,
            self.running_mean if keep_running else None,
            self.running_var if keep_running else None,
            training=use_batch_stats, momentum=momentum, eps=self.eps)
        if update:
            self.num_batches_tracked += 1
        self.save_for_backward(x=x, mean=mean, invstd=invstd, training=use_batch_stats)
        return out

    def backward(self, grad_output):
        s = self.saved()
        weight = None if self.weight is None else self.weight.data
        gx, gw, gb = F.batch_norm_backward(grad_output, s["x"], weight, s["mean"],
                                           s["invstd"], training=s["training"])
        if gw is not None:
            self.weight.accumulate_grad(gw)
            self.bias.accumulate_grad(gb)
        return gx

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) input over N (and L), per channel.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, as ``torch.nn.BatchNorm1d``.

    Parameters
    ----------
    num_features : int
        C.
    eps : float > 0
    momentum : float in [0, 1] or None
        Running statistics follow ``r = (1 - momentum) * r + momentum * batch_stat``;
        None gives the cumulative average over all batches seen.
    affine : bool
        Learn ``weight`` (init 1) and ``bias`` (init 0), each (C,).
    track_running_stats : bool
        Keep ``running_mean``, ``running_var`` (unbiased) and ``num_batches_tracked``
        buffers (in the state_dict) and use them in eval mode; without them eval mode
        uses batch statistics too.
    dtype : float32 (default) or float64
    """

    _ndims = (2, 3)
    _expected = "2-D (N, C) or 3-D (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) input over N, H and W, per channel.

    Same parameters as :class:`BatchNorm1d`.
    """

    _ndims = (4,)
    _expected = "4-D (N, C, H, W)"


class BatchNorm3d(_BatchNorm):
    """Batch normalization of (N, C, D, H, W) input over N, D, H and W, per channel.

    Same parameters as :class:`BatchNorm1d`.
    """

    _ndims = (5,)
    _expected = "5-D (N, C, D, H, W)"
