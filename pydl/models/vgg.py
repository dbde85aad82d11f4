"""VGG-style stack: 3x3 convolutions and 2x2 max pooling, then a classifier."""

from .. import nn
from ._checks import int_list, positive_int

__all__ = ["VGG"]


class VGG(nn.Module):
    """A small VGG (Simonyan and Zisserman, 2014): stages of 3x3 convolutions (padding
    1, optional batch norm, ReLU) separated by 2x2 max pooling, global average pooling,
    then ``Linear -> ReLU -> Dropout -> Linear``.

    Parameters
    ----------
    config : list of int or "M"
        Output channels of each convolution, ``"M"`` for a 2x2 max pool
        (default ``[32, 32, "M", 64, 64, "M"]``).
    in_channels, num_classes : int
    hidden : int
        Width of the hidden fully connected layer.
    batch_norm : bool
    dropout : float
    dtype : float32 (default) or float64

    Attributes ``features`` and ``classifier`` are Sequentials (state_dict keys
    ``features.0.weight``, ..., as torchvision's VGG).

    Shapes: input (N, in_channels, H, W), H and W at least 2**(number of "M");
    output (N, num_classes).
    """

    def __init__(self, config=(32, 32, "M", 64, 64, "M"), in_channels=3, num_classes=10,
                 hidden=128, batch_norm=True, dropout=0.5, dtype=None):
        super().__init__()
        config = int_list(config, "config", allow=("M",))
        channels = positive_int(in_channels, "in_channels")
        layers = []
        for v in config:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            layers.append(nn.Conv2d(channels, v, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU())
            channels = v
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        tail = [nn.Linear(channels, positive_int(hidden, "hidden")), nn.ReLU()]
        if dropout:
            tail.append(nn.Dropout(dropout))
        tail.append(nn.Linear(hidden, positive_int(num_classes, "num_classes")))
        self.classifier = nn.Sequential(*tail)
        if dtype is not None:
            self.to(dtype)

    def forward(self, x):
        return self.classifier(self.features(x))

    def backward(self, grad_output):
        return self.features.backward(self.classifier.backward(grad_output))
