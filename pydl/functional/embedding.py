"""Embedding lookup: rows of a weight matrix picked by integer indices."""

import numbers

import numpy as np

from .._ext import embedding as _emb
from .._threading import get_num_threads
from ._alloc import empty
from ._alloc import check_fits_in_memory
from ._validation import as_float_array, check_blas_dims

__all__ = ["embedding_forward", "embedding_backward"]


def check_indices(indices, num_embeddings):
    """Integer indices of any shape as a flat C-contiguous int64 array, each in
    ``[0, num_embeddings)``; the error names the offending values."""
    if isinstance(indices, (list, tuple, numbers.Integral)):
        indices = np.asarray(indices)
    if not isinstance(indices, np.ndarray):
        raise TypeError(f"indices must be an integer numpy array, got {type(indices).__name__}")
    if indices.dtype.kind not in "iu":
        raise TypeError(f"indices must hold integers, got dtype {indices.dtype}")
    if indices.dtype != np.int64 or not indices.flags.c_contiguous:
        check_fits_in_memory(indices.size * 8, f"an int64 copy of indices (shape "
                                               f"{indices.shape})")
    flat = np.ascontiguousarray(indices, dtype=np.int64).reshape(-1)
    if flat.size:
        bad = (flat < 0) | (flat >= num_embeddings)
        if bad.any():
            values = np.unique(flat[bad])
            shown = ", ".join(map(str, values[:5])) + (", ..." if values.size > 5 else "")
            raise ValueError(f"indices hold {shown}, outside [0, num_embeddings = "
                             f"{num_embeddings})")
    return flat


def check_padding_idx(padding_idx, num_embeddings):
    """PyTorch's rule: None, or an int in [-num_embeddings, num_embeddings); negative
    values count from the end. Returns the row, or -1 for none."""
    if padding_idx is None:
        return -1
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral):
        raise TypeError(f"padding_idx must be an int or None, got {type(padding_idx).__name__}")
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"padding_idx must be within [-num_embeddings, num_embeddings) = "
                         f"[{-num_embeddings}, {num_embeddings}), got {padding_idx}")
    return int(padding_idx) % num_embeddings


def embedding_forward(indices, weight):
    """Look up rows: ``out[..., :] = weight[indices[...]]`` (PyTorch's ``F.embedding``).

    Parameters
    ----------
    indices : integer ndarray, any shape (*)
        Each in ``[0, num_embeddings)``.
    weight : ndarray, shape (num_embeddings, embedding_dim)

    Returns
    -------
    out : ndarray, shape (*, embedding_dim)
    """
    weight = as_float_array(weight, "weight", ndim=2)
    flat = check_indices(indices, weight.shape[0])
    check_blas_dims("embedding", flat.size, weight.shape[1])
    out = empty((flat.size, weight.shape[1]), weight.dtype)
    _emb.embedding_forward(flat, weight, out, get_num_threads())
    return out.reshape(*np.shape(indices), weight.shape[1])


def embedding_backward(grad_out, indices, num_embeddings, padding_idx=None,
                       scale_grad_by_freq=False):
    """Gradient of :func:`embedding_forward` with respect to the weight.

    Parameters
    ----------
    grad_out : ndarray, shape (*, embedding_dim)
    indices : integer ndarray, shape (*)
    num_embeddings : int
    padding_idx : int, optional
        That row gets no gradient (negative values count from the end).
    scale_grad_by_freq : bool
        Divide each row's gradient by how often its index occurs in ``indices``.

    Returns
    -------
    grad_weight : ndarray, shape (num_embeddings, embedding_dim)
        Rows summed in the order of the indices: the same bits at any thread count.
    """
    if isinstance(num_embeddings, bool) or not isinstance(num_embeddings, numbers.Integral):
        raise TypeError(f"num_embeddings must be an int, got {type(num_embeddings).__name__}")
    if num_embeddings < 0:
        raise ValueError(f"num_embeddings must be >= 0, got {num_embeddings}")
    pad = check_padding_idx(padding_idx, num_embeddings)
    flat = check_indices(indices, num_embeddings)
    grad_out = as_float_array(grad_out, "grad_out", min_ndim=1)
    expected = (*np.shape(indices), grad_out.shape[-1])
    if grad_out.shape != expected:
        raise ValueError(f"grad_out has shape {grad_out.shape}, expected {expected} "
                         f"(indices.shape + (embedding_dim,))")
    dim = grad_out.shape[-1]
    check_blas_dims("embedding", flat.size, dim, num_embeddings)
    grad_weight = empty((num_embeddings, dim), grad_out.dtype)
    _emb.embedding_backward(grad_out.reshape(flat.size, dim), flat, pad, grad_weight,
                            get_num_threads())
    if scale_grad_by_freq and flat.size:
        counts = np.bincount(flat, minlength=num_embeddings)
        grad_weight /= np.maximum(counts, 1).astype(grad_weight.dtype)[:, None]
    return grad_weight
