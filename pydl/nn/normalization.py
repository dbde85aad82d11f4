"""LayerNorm and LocalResponseNorm."""

import numpy as np

from .. import functional as F
from ..functional._validation import check_int, check_real
from ..functional.norm import normalized_shape_tuple
from .linear import resolve_dtype
from .module import Module
from .parameter import Parameter

__all__ = ["LayerNorm", "LocalResponseNorm"]


class LayerNorm(Module):
    """Normalize over the last ``len(normalized_shape)`` axes (``torch.nn.LayerNorm``).

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, mean and (biased) var taken
    over the normalized axes of each sample.

    Parameters
    ----------
    normalized_shape : int or tuple of ints
        The trailing shape of the input to normalize over.
    eps : float > 0
    elementwise_affine : bool
        Learn ``weight`` (init 1) and, with ``bias``, ``bias`` (init 0), each of shape
        normalized_shape.
    bias : bool
    dtype : float32 (default) or float64
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 dtype=None):
        super().__init__()
        self.normalized_shape = normalized_shape_tuple(normalized_shape)
        if not self.normalized_shape:
            raise ValueError("normalized_shape must have at least one dimension")
        self.eps = check_real(eps, "eps", low=0.0, low_open=True)
        self.elementwise_affine = bool(elementwise_affine)
        dtype = resolve_dtype(dtype)
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self):
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def forward(self, x):
        out, mean, rstd = F.layer_norm_forward(
            x, self.normalized_shape, None if self.weight is None else self.weight.data,
            None if self.bias is None else self.bias.data, self.eps)
        self.save_for_backward(x=x, mean=mean, rstd=rstd)
        return out

    def backward(self, grad_output):
        s = self.saved()
        w, b = self.weight, self.bias
        gx, gw, gb = F.layer_norm_backward(
            grad_output, s["x"], self.normalized_shape, None if w is None else w.data,
            s["mean"], s["rstd"],
            need_weight_grad=w is not None and w.requires_grad,
            need_bias_grad=b is not None and b.requires_grad)
        if gw is not None:
            w.accumulate_grad(gw)
        if gb is not None:
            b.accumulate_grad(gb)
        return gx

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class LocalResponseNorm(Module):
    """Local response normalization across channels (AlexNet; ``torch.nn.LocalResponseNorm``).

    ``y[n, c] = x[n, c] / (k + alpha / size * sum(x[n, c'] ** 2)) ** beta``, c' over the
    ``size`` neighbouring channels ``c - size // 2 .. c + (size - 1) // 2``.

    Parameters
    ----------
    size : int >= 1
    alpha, beta, k : float

    Input (N, C, *), at least 3-D; output the same shape.
    """

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size = check_int(size, "size", low=1)
        self.alpha = check_real(alpha, "alpha")
        self.beta = check_real(beta, "beta")
        self.k = check_real(k, "k")

    def forward(self, x):
        out, denom = F.local_response_norm_forward(x, self.size, self.alpha, self.beta,
                                                   self.k)
        self.save_for_backward(x=x, out=out, denom=denom)
        return out

    def backward(self, grad_output):
        s = self.saved()
        return F.local_response_norm_backward(grad_output, s["x"], s["out"], s["denom"],
                                              self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
