"""LeNet-5 (LeCun et al., 1998), sized to the input."""

from .. import nn
from ._checks import positive_int

__all__ = ["LeNet5"]


class LeNet5(nn.Sequential):
    """LeNet-5: two 5x5 convolutions with 2x2 pooling, then three fully connected layers
    (120, 84, ``num_classes``).

    The original takes 32x32 images with unpadded convolutions. Smaller inputs get
    "same" padding (2) where an unpadded 5x5 kernel would shrink the map too far: 28x28
    (MNIST) pads the first convolution, 8x8 (scikit-learn digits) pads both.

    Parameters
    ----------
    num_classes : int
    in_channels : int
    input_size : int
        Height = width of the input images (at least 4).
    activation : {"relu", "tanh"}
        ``"tanh"`` with average pooling is the 1998 network; ``"relu"`` with max pooling
        (the default) trains faster.
    dtype : float32 (default) or float64

    Shapes: input (N, in_channels, input_size, input_size); output (N, num_classes).
    """

    def __init__(self, num_classes=10, in_channels=1, input_size=32, activation="relu",
                 dtype=None):
        num_classes = positive_int(num_classes, "num_classes")
        in_channels = positive_int(in_channels, "in_channels")
        size = positive_int(input_size, "input_size")
        if size < 4:
            raise ValueError(f"input_size must be >= 4 for two 2x2 poolings, got {size}")
        if activation not in ("relu", "tanh"):
            raise ValueError(f"activation must be 'relu' or 'tanh', got {activation!r}")
        act, pool = (nn.ReLU, nn.MaxPool2d) if activation == "relu" else (nn.Tanh, nn.AvgPool2d)
        pad1 = 0 if size >= 32 else 2
        size = (size + 2 * pad1 - 4) // 2
        pad2 = 0 if size >= 10 else 2
        size = (size + 2 * pad2 - 4) // 2
        super().__init__(
            nn.Conv2d(in_channels, 6, 5, padding=pad1), act(), pool(2),
            nn.Conv2d(6, 16, 5, padding=pad2), act(), pool(2),
            nn.Flatten(),
            nn.Linear(16 * size * size, 120), act(),
            nn.Linear(120, 84), act(),
            nn.Linear(84, num_classes))
        if dtype is not None:
            self.to(dtype)
