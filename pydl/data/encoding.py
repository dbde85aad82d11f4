"""one_hot: class indices to indicator vectors."""

import numpy as np

from ..functional._alloc import check_fits_in_memory
from ._checks import as_array, check_positive_int

__all__ = ["one_hot"]


def one_hot(labels, num_classes=None, dtype=np.float32):
    """One-hot encode integer class labels (``keras.utils.to_categorical``).

    Parameters
    ----------
    labels : int array of any shape
        Values in ``[0, num_classes)``.
    num_classes : int, optional
        Default ``labels.max() + 1``.
    dtype : dtype
        Of the result (float32 by default, ready to be a loss target).

    Returns
    -------
    ndarray of shape ``labels.shape + (num_classes,)``
    """
    labels = as_array(labels, "labels", kinds="iub", min_ndim=0, allow_empty=True)
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be >= 0, got {labels.min()}")
    if num_classes is None:
        if not labels.size:
            raise ValueError("num_classes is needed when labels is empty")
        num_classes = int(labels.max()) + 1
    num_classes = check_positive_int(num_classes, "num_classes")
    if labels.size and labels.max() >= num_classes:
        raise ValueError(f"labels hold class {labels.max()}, outside [0, {num_classes})")
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise TypeError(f"dtype must be a numeric dtype, got {dtype}")
    check_fits_in_memory(labels.size * num_classes * dtype.itemsize,
                         f"a one-hot array of {labels.size} x {num_classes}")
    out = np.zeros(labels.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, labels.astype(np.intp)[..., None], 1, axis=-1)
    return out
