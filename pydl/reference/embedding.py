"""NumPy twin of pydl.functional.embedding."""

import numpy as np

__all__ = ["embedding_forward", "embedding_backward"]


def embedding_forward(indices, weight):
    return weight[np.asarray(indices)]


def embedding_backward(grad_out, indices, num_embeddings, padding_idx=None,
                       scale_grad_by_freq=False):
    idx = np.asarray(indices).reshape(-1)
    g = grad_out.reshape(idx.size, grad_out.shape[-1])
    grad_weight = np.zeros((num_embeddings, g.shape[1]), grad_out.dtype)
    np.add.at(grad_weight, idx, g)
    if scale_grad_by_freq:
        counts = np.bincount(idx, minlength=num_embeddings)
        grad_weight /= np.maximum(counts, 1)[:, None]
    if padding_idx is not None:
        grad_weight[padding_idx] = 0
    return grad_weight
