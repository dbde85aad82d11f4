"""MLP: fully connected layers with a chosen activation, dropout and batch norm."""

from .. import nn
from ._checks import int_list

__all__ = ["MLP"]

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU,
               "leaky_relu": nn.LeakyReLU, "silu": nn.SiLU, "gelu": "GELU"}


def _activation(activation):
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} or a Module "
                             f"class, got {activation!r}")
        cls = ACTIVATIONS[activation]
        return getattr(nn, cls) if isinstance(cls, str) else cls
    if isinstance(activation, type) and issubclass(activation, nn.Module):
        return activation
    raise TypeError(f"activation must be a name or a pydl.nn.Module class, "
                    f"got {type(activation).__name__}")


class MLP(nn.Sequential):
    """Multi-layer perceptron: ``Linear -> [BatchNorm1d] -> activation -> [Dropout]``
    for each hidden layer, then a final ``Linear`` producing logits.

    Parameters
    ----------
    sizes : list of int
        ``[in_features, hidden_1, ..., out_features]`` (at least two entries).
    activation : str or Module class
        ``"relu"`` (default), ``"tanh"``, ``"sigmoid"``, ``"elu"``, ``"leaky_relu"``,
        ``"silu"``, ``"gelu"``, or a class called with no arguments.
    dropout : float
        Dropout probability after each hidden activation (0: none).
    batch_norm : bool
        Batch normalization after each hidden Linear.
    dtype : float32 (default) or float64

    Shapes: input (N, sizes[0]); output (N, sizes[-1]).
    """

    def __init__(self, sizes, activation="relu", dropout=0.0, batch_norm=False, dtype=None):
        sizes = int_list(sizes, "sizes")
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least [in_features, out_features], got {sizes}")
        act = _activation(activation)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i == len(sizes) - 2:
                break
            if batch_norm:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(act())
            if dropout:
                layers.append(nn.Dropout(dropout))
        super().__init__(*layers)
        if dtype is not None:
            self.to(dtype)
