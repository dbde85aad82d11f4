"""Inception (Szegedy et al., 2014): parallel 1x1, 3x3, 5x5 and pooling branches."""

from .. import nn
from ._checks import positive_int

__all__ = ["InceptionBlock", "Inception"]


def _conv_relu(c_in, c_out, kernel):
    return [nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2), nn.ReLU()]


class InceptionBlock(nn.Concat):
    """GoogLeNet's inception module: four branches on the same input, concatenated
    along channels.

    Branches: 1x1; 1x1 reduction then 3x3; 1x1 reduction then 5x5; 3x3 max pool
    (stride 1, padding 1) then 1x1 projection. Every convolution is followed by ReLU
    and keeps the spatial size.

    Parameters
    ----------
    in_channels, ch1x1, ch3x3_reduce, ch3x3, ch5x5_reduce, ch5x5, pool_proj : int

    Shapes: input (N, in_channels, H, W);
    output (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W).
    """

    def __init__(self, in_channels, ch1x1, ch3x3_reduce, ch3x3, ch5x5_reduce, ch5x5,
                 pool_proj):
        c = {name: positive_int(v, name) for name, v in [
            ("in_channels", in_channels), ("ch1x1", ch1x1), ("ch3x3_reduce", ch3x3_reduce),
            ("ch3x3", ch3x3), ("ch5x5_reduce", ch5x5_reduce), ("ch5x5", ch5x5),
            ("pool_proj", pool_proj)]}
        c_in = c["in_channels"]
        super().__init__(
            nn.Sequential(*_conv_relu(c_in, c["ch1x1"], 1)),
            nn.Sequential(*_conv_relu(c_in, c["ch3x3_reduce"], 1),
                          *_conv_relu(c["ch3x3_reduce"], c["ch3x3"], 3)),
            nn.Sequential(*_conv_relu(c_in, c["ch5x5_reduce"], 1),
                          *_conv_relu(c["ch5x5_reduce"], c["ch5x5"], 5)),
            nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                          *_conv_relu(c_in, c["pool_proj"], 1)),
            dim=1)
        self.out_channels = c["ch1x1"] + c["ch3x3"] + c["ch5x5"] + c["pool_proj"]


class Inception(nn.Sequential):
    """A small Inception network: a 3x3 stem, two inception blocks with a max pool
    between them, global average pooling and a linear classifier.

    Parameters
    ----------
    in_channels, num_classes : int
    width : int
        Scales every branch (the stem has ``2 * width`` channels).
    dtype : float32 (default) or float64

    Shapes: input (N, in_channels, H, W), H, W >= 2; output (N, num_classes).
    """

    def __init__(self, in_channels=3, num_classes=10, width=8, dtype=None):
        w = positive_int(width, "width")
        a = InceptionBlock(2 * w, w, w, 2 * w, w // 2 or 1, w, w)
        b = InceptionBlock(a.out_channels, 2 * w, w, 2 * w, w // 2 or 1, w, w)
        super().__init__(*_conv_relu(positive_int(in_channels, "in_channels"), 2 * w, 3),
                         a, nn.MaxPool2d(2), b,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(b.out_channels, positive_int(num_classes, "num_classes")))
        if dtype is not None:
            self.to(dtype)
