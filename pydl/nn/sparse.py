"""Embedding: a lookup table of vectors indexed by integers (``nn.Embedding``)."""

import numpy as np

from .. import functional as F
from ..functional._validation import as_float_array, check_real
from ..functional.embedding import check_indices, check_padding_idx
from . import init
from .linear import check_size, resolve_dtype
from .module import Module
from .parameter import Parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim`` (``nn.Embedding``).

    Parameters
    ----------
    num_embeddings, embedding_dim : int
    padding_idx : int, optional
        This row starts as zeros and never receives a gradient (negative values count
        from the end, as in PyTorch).
    max_norm : float, optional
        Before each lookup, rows about to be read whose ``norm_type``-norm exceeds
        ``max_norm`` are rescaled to it, in place (as PyTorch).
    norm_type : float
    scale_grad_by_freq : bool
        Divide each row's gradient by the number of times its index occurs in the batch.
    sparse : bool
        Only False: gradients are dense arrays.
    dtype : float32 (default) or float64
    generator : numpy.random.Generator, optional
        For the initial weights, drawn from N(0, 1) as PyTorch.

    Shapes: input integer indices (*), output (*, embedding_dim); ``weight`` is
    (num_embeddings, embedding_dim). ``backward(grad_output)`` adds into
    ``weight.grad`` and returns None (indices have no gradient). Out-of-range indices
    raise ValueError naming them.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None,
                 _freeze=False, dtype=None, generator=None):
        super().__init__()
        self.num_embeddings = check_size(num_embeddings, "num_embeddings")
        self.embedding_dim = check_size(embedding_dim, "embedding_dim")
        pad = check_padding_idx(padding_idx, self.num_embeddings)
        self.padding_idx = None if pad < 0 else pad
        self.max_norm = None if max_norm is None else check_real(max_norm, "max_norm",
                                                                  low=0.0)
        self.norm_type = check_real(norm_type, "norm_type", low=0.0, low_open=True)
        self.scale_grad_by_freq = bool(scale_grad_by_freq)
        if sparse:
            raise NotImplementedError("sparse gradients are not supported; use sparse=False")
        self.sparse = False
        shape = (self.num_embeddings, self.embedding_dim)
        if _weight is None:
            self.weight = Parameter(np.empty(shape, resolve_dtype(dtype)),
                                    requires_grad=not _freeze)
            self.reset_parameters(generator)
        else:
            w = as_float_array(_weight, "_weight", ndim=2)
            if w.shape != shape:
                raise ValueError(f"_weight has shape {w.shape}, expected {shape}")
            self.weight = Parameter(np.array(w, dtype=resolve_dtype(dtype or w.dtype)),
                                    requires_grad=not _freeze)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None,
                        norm_type=2.0, scale_grad_by_freq=False, sparse=False):
        """An Embedding holding a copy of ``embeddings`` (2-D); frozen by default."""
        embeddings = as_float_array(embeddings, "embeddings", ndim=2)
        return cls(*embeddings.shape, padding_idx=padding_idx, max_norm=max_norm,
                   norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq,
                   sparse=sparse, _weight=embeddings, _freeze=freeze)

    def reset_parameters(self, generator=None):
        """N(0, 1) weights, the padding row zero."""
        init.normal_(self.weight, generator=generator)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def _renorm(self, indices):
        rows = np.unique(check_indices(indices, self.num_embeddings))
        w = self.weight.data
        norms = np.linalg.norm(w[rows].astype(np.float64), ord=self.norm_type, axis=1)
        over = norms > self.max_norm
        if over.any():
            scale = self.max_norm / (norms[over] + 1e-7)
            w[rows[over]] *= scale[:, None].astype(w.dtype)

    def forward(self, input):
        if self.max_norm is not None:
            self._renorm(input)
        out = F.embedding_forward(input, self.weight.data)
        self.save_for_backward(indices=input)
        return out

    def backward(self, grad_output):
        indices = self.saved()["indices"]
        if self.weight.requires_grad:
            grad_output = as_float_array(grad_output, "grad_output", like=self.weight.data,
                                         like_name="weight")
            self.weight.accumulate_grad(F.embedding_backward(
                grad_output, indices, self.num_embeddings, self.padding_idx,
                self.scale_grad_by_freq))
        return None

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        return s
