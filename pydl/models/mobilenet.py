"""MobileNet (Howard et al., 2017): depthwise-separable convolution blocks."""

from .. import nn
from ._checks import int_list, positive_int

__all__ = ["depthwise_separable", "MobileNet"]


def depthwise_separable(in_channels, out_channels, stride=1):
    """A depthwise 3x3 convolution (``groups=in_channels``) then a pointwise 1x1, each
    with batch norm and ReLU: about ``9 / out_channels + 1 / 9`` of a full 3x3's cost.

    Shapes: (N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride)).
    """
    c_in = positive_int(in_channels, "in_channels")
    c_out = positive_int(out_channels, "out_channels")
    stride = positive_int(stride, "stride")
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False),
        nn.BatchNorm2d(c_in), nn.ReLU(),
        nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class MobileNet(nn.Sequential):
    """A MobileNet-style stack: a 3x3 stem, depthwise-separable blocks, global average
    pooling and a linear classifier.

    Parameters
    ----------
    config : list of (channels, stride)
        One entry per depthwise-separable block
        (default ``[(32, 1), (64, 2), (64, 1), (128, 2)]``).
    in_channels, num_classes : int
    stem_channels : int
    dtype : float32 (default) or float64

    Shapes: input (N, in_channels, H, W); output (N, num_classes).
    """

    def __init__(self, config=((32, 1), (64, 2), (64, 1), (128, 2)), in_channels=3,
                 num_classes=10, stem_channels=16, dtype=None):
        c = positive_int(stem_channels, "stem_channels")
        layers = [nn.Conv2d(positive_int(in_channels, "in_channels"), c, 3, padding=1,
                            bias=False), nn.BatchNorm2d(c), nn.ReLU()]
        config = list(config)
        if not config:
            raise ValueError("config must list at least one block")
        for i, entry in enumerate(config):
            if not isinstance(entry, (tuple, list)) or len(entry) != 2:
                raise TypeError(f"config[{i}] must be a (channels, stride) pair, got {entry!r}")
            width, stride = int_list(entry, f"config[{i}]")
            layers.append(depthwise_separable(c, width, stride))
            c = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                   nn.Linear(c, positive_int(num_classes, "num_classes"))]
        super().__init__(*layers)
        if dtype is not None:
            self.to(dtype)
