"""ResNet (He et al., 2015) with basic (3x3, 3x3) and bottleneck (1x1, 3x3, 1x1) blocks."""

from .. import nn
from ._checks import int_list, positive_int

__all__ = ["BasicBlock", "Bottleneck", "ResNet"]


def _conv_bn(c_in, c_out, kernel, stride=1, relu=True):
    layers = [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
              nn.BatchNorm2d(c_out)]
    return layers + [nn.ReLU()] if relu else layers


def _shortcut(c_in, c_out, stride):
    """Identity when shapes agree, else a strided 1x1 projection with batch norm."""
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(*_conv_bn(c_in, c_out, 1, stride, relu=False))


class BasicBlock(nn.Sequential):
    """``relu(x + bn(conv3x3(relu(bn(conv3x3(x))))))``; the first convolution strides.

    Output channels: ``channels`` (expansion 1). Children: ``0`` the
    :class:`~pydl.nn.Residual` (``0.block``, ``0.shortcut``), ``1`` the final ReLU.
    """

    expansion = 1

    def __init__(self, in_channels, channels, stride=1):
        in_channels = positive_int(in_channels, "in_channels")
        channels = positive_int(channels, "channels")
        stride = positive_int(stride, "stride")
        block = nn.Sequential(*_conv_bn(in_channels, channels, 3, stride),
                              *_conv_bn(channels, channels, 3, relu=False))
        super().__init__(nn.Residual(block, _shortcut(in_channels, channels, stride)),
                         nn.ReLU())


class Bottleneck(nn.Sequential):
    """``relu(x + bn(conv1x1(relu(bn(conv3x3(relu(bn(conv1x1(x)))))))))``: a 1x1
    reduction to ``channels``, a (strided) 3x3, a 1x1 expansion to ``4 * channels``."""

    expansion = 4

    def __init__(self, in_channels, channels, stride=1):
        in_channels = positive_int(in_channels, "in_channels")
        channels = positive_int(channels, "channels")
        stride = positive_int(stride, "stride")
        out = channels * self.expansion
        block = nn.Sequential(*_conv_bn(in_channels, channels, 1),
                              *_conv_bn(channels, channels, 3, stride),
                              *_conv_bn(channels, out, 1, relu=False))
        super().__init__(nn.Residual(block, _shortcut(in_channels, out, stride)), nn.ReLU())


class ResNet(nn.Module):
    """A ResNet for small images: a 3x3 stem, stages of residual blocks (each stage after
    the first halves the resolution), global average pooling and a linear classifier.

    Parameters
    ----------
    block : {"basic", "bottleneck"} or BasicBlock / Bottleneck
    layers : list of int
        Blocks per stage (default ``[2, 2, 2]``: ResNet-14 with basic blocks).
    widths : list of int
        Channels of each stage (bottleneck stages output 4x as many).
    in_channels, num_classes : int
    dtype : float32 (default) or float64

    Shapes: input (N, in_channels, H, W); output (N, num_classes).
    """

    def __init__(self, block="basic", layers=(2, 2, 2), widths=(16, 32, 64), in_channels=3,
                 num_classes=10, dtype=None):
        super().__init__()
        blocks = {"basic": BasicBlock, "bottleneck": Bottleneck}
        if isinstance(block, str):
            if block not in blocks:
                raise ValueError(f"block must be 'basic' or 'bottleneck', got {block!r}")
            block = blocks[block]
        elif block not in (BasicBlock, Bottleneck):
            raise TypeError("block must be 'basic', 'bottleneck', BasicBlock or Bottleneck")
        layers, widths = int_list(layers, "layers"), int_list(widths, "widths")
        if len(layers) != len(widths):
            raise ValueError(f"layers and widths must have the same length, got "
                             f"{len(layers)} and {len(widths)}")
        self.stem = nn.Sequential(*_conv_bn(positive_int(in_channels, "in_channels"),
                                            widths[0], 3))
        stages, c_in = [], widths[0]
        for i, (n, width) in enumerate(zip(layers, widths)):
            for j in range(n):
                stages.append(block(c_in, width, stride=2 if i > 0 and j == 0 else 1))
                c_in = width * block.expansion
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(c_in, positive_int(num_classes, "num_classes")))
        if dtype is not None:
            self.to(dtype)

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))

    def backward(self, grad_output):
        return self.stem.backward(self.stages.backward(self.head.backward(grad_output)))
