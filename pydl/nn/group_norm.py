"""GroupNorm and InstanceNorm1d/2d/3d."""

import warnings

import numpy as np

from .. import functional as F
from ..functional._validation import check_int, check_real
from .batchnorm import register_running_stats, reset_running_stats
from .linear import check_size, resolve_dtype
from .module import Module
from .parameter import Parameter

__all__ = ["GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]


def _affine_parameters(module, size, affine, bias, dtype):
    """weight (ones) and, with bias, bias (zeros), each (size,); or None."""
    if affine:
        module.weight = Parameter(np.ones(size, dtype))
        if bias:
            module.bias = Parameter(np.zeros(size, dtype))
        else:
            module.register_parameter("bias", None)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


def _accumulate(module, gw, gb):
    if gw is not None:
        module.weight.accumulate_grad(gw)
    if gb is not None:
        module.bias.accumulate_grad(gb)


def _needs_grad(p):
    return p is not None and p.requires_grad


def _data(p):
    return None if p is None else p.data


class GroupNorm(Module):
    """Group normalization (Wu and He, 2018), as ``torch.nn.GroupNorm``.

    The channels are split into ``num_groups`` groups of consecutive channels; each
    sample's group is normalized over its channels and positions,
    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` (biased variance), with a
    per-channel ``weight`` and ``bias``. The statistics never involve the batch, so
    training and evaluation compute the same thing.

    Parameters
    ----------
    num_groups : int >= 1
        G, dividing num_channels. G = 1 normalizes over all channels (a layer norm
        with per-channel affine); G = num_channels is an instance norm.
    num_channels : int
        C.
    eps : float > 0
    affine : bool
        Learn ``weight`` (init 1) and ``bias`` (init 0), each (C,).
    bias : bool
        With ``affine``, whether to learn ``bias``.
    dtype : float32 (default) or float64

    Input (N, C, *), output the same shape.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, dtype=None, *,
                 bias=True):
        super().__init__()
        self.num_groups = check_int(num_groups, "num_groups", low=1)
        self.num_channels = check_size(num_channels, "num_channels")
        if self.num_channels % self.num_groups:
            raise ValueError(f"num_channels ({self.num_channels}) must be divisible by "
                             f"num_groups ({self.num_groups})")
        self.eps = check_real(eps, "eps", low=0.0, low_open=True)
        self.affine = bool(affine)
        _affine_parameters(self, self.num_channels, self.affine, bias, resolve_dtype(dtype))

    def reset_parameters(self):
        """weight 1, bias 0."""
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def forward(self, x):
        """Normalize x, shape (N, C, *) with C = num_channels."""
        x = np.asarray(x) if not isinstance(x, np.ndarray) else x
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm({self.num_groups}, {self.num_channels}) expected "
                             f"input of shape (N, {self.num_channels}, *), got shape "
                             f"{x.shape}")
        out, mean, rstd = F.group_norm_forward(x, self.num_groups, _data(self.weight),
                                               _data(self.bias), self.eps)
        self.save_for_backward(x=x, mean=mean, rstd=rstd)
        return out

    def backward(self, grad_output):
        s = self.saved()
        gx, gw, gb = F.group_norm_backward(
            grad_output, s["x"], self.num_groups, _data(self.weight), s["mean"], s["rstd"],
            need_weight_grad=_needs_grad(self.weight), need_bias_grad=_needs_grad(self.bias))
        _accumulate(self, gw, gb)
        return gx

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}")


class _InstanceNorm(Module):
    """Shared by InstanceNorm1d/2d/3d, which differ only in their input ranks."""

    _spatial_dims = 0
    _expected = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, dtype=None, *, bias=True):
        super().__init__()
        self.num_features = check_size(num_features, "num_features")
        self.eps = check_real(eps, "eps", low=0.0, low_open=True)
        self.momentum = None if momentum is None else check_real(momentum, "momentum",
                                                                 low=0.0, high=1.0)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        dtype = resolve_dtype(dtype)
        _affine_parameters(self, self.num_features, self.affine, bias, dtype)
        # num_batches_tracked is kept for PyTorch's state_dict keys; it never counts here
        register_running_stats(self, dtype)

    def reset_running_stats(self):
        """Running mean 0, running variance 1."""
        reset_running_stats(self)

    def reset_parameters(self):
        """Running statistics reset; weight 1, bias 0."""
        self.reset_running_stats()
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def _batched(self, x):
        """x as (N, C, *spatial) and whether it came without the batch axis."""
        x = np.asarray(x) if not isinstance(x, np.ndarray) else x
        d = self._spatial_dims
        if x.ndim not in (d + 1, d + 2):
            raise ValueError(f"{type(self).__name__} expected {self._expected} input, got "
                             f"{x.ndim}-D input of shape {x.shape}")
        unbatched = x.ndim == d + 1
        channels = x.shape[0 if unbatched else 1]
        if channels != self.num_features:
            message = (f"{type(self).__name__}({self.num_features}) got input with "
                       f"{channels} channels (shape {x.shape}); expected "
                       f"{self.num_features} in axis {0 if unbatched else 1}")
            if self.affine or self.track_running_stats:
                raise ValueError(message)
            warnings.warn(message + " (num_features is unused without affine or running "
                          "statistics)", stacklevel=3)
        return (x[None] if unbatched else x), unbatched

    def forward(self, x):
        """Normalize each (sample, channel) plane of x, (N, C, *spatial) or
        (C, *spatial).

        With the instances' own statistics in training or without running statistics
        (updating the running statistics when tracked and training); with the running
        statistics in eval mode when they are tracked.
        """
        x, unbatched = self._batched(x)
        use_input_stats = self.training or not self.track_running_stats
        out, mean, rstd = F.instance_norm_forward(
            x, _data(self.weight), _data(self.bias), self.running_mean, self.running_var,
            use_input_stats=use_input_stats,
            momentum=0.0 if self.momentum is None else self.momentum, eps=self.eps)
        self.save_for_backward(x=x, mean=mean, rstd=rstd, use_input_stats=use_input_stats,
                               unbatched=unbatched)
        return out[0] if unbatched else out

    def backward(self, grad_output):
        s = self.saved()
        g = np.asarray(grad_output)
        gx, gw, gb = F.instance_norm_backward(
            g[None] if s["unbatched"] else g, s["x"], _data(self.weight), s["mean"],
            s["rstd"], use_input_stats=s["use_input_stats"],
            need_weight_grad=_needs_grad(self.weight), need_bias_grad=_needs_grad(self.bias))
        _accumulate(self, gw, gb)
        return gx[0] if s["unbatched"] else gx

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization of (N, C, L) or unbatched (C, L) input over L, per sample
    and channel (``torch.nn.InstanceNorm1d``).

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, mean and biased var of each
    (sample, channel) row.

    Parameters
    ----------
    num_features : int
        C.
    eps : float > 0
    momentum : float in [0, 1] or None
        Running statistics follow ``r = (1 - momentum) * r + momentum * s``, s the batch
        average of the instances' mean, or unbiased variance. None: as PyTorch, the
        running statistics are then never updated.
    affine : bool
        Learn ``weight`` (init 1) and ``bias`` (init 0), each (C,).
    track_running_stats : bool
        Keep ``running_mean`` and ``running_var`` buffers, and normalize with them in
        eval mode.
    dtype : float32 (default) or float64
    bias : bool
        With ``affine``, whether to learn ``bias``.
    """

    _spatial_dims = 1
    _expected = "3-D (N, C, L) or 2-D unbatched (C, L)"


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization of (N, C, H, W) or unbatched (C, H, W) input over H and W,
    per sample and channel (``torch.nn.InstanceNorm2d``).

    Same parameters as :class:`InstanceNorm1d`.
    """

    _spatial_dims = 2
    _expected = "4-D (N, C, H, W) or 3-D unbatched (C, H, W)"


class InstanceNorm3d(_InstanceNorm):
    """Instance normalization of (N, C, D, H, W) or unbatched (C, D, H, W) input over
    D, H and W, per sample and channel (``torch.nn.InstanceNorm3d``).

    Same parameters as :class:`InstanceNorm1d`.
    """

    _spatial_dims = 3
    _expected = "5-D (N, C, D, H, W) or 4-D unbatched (C, D, H, W)"
