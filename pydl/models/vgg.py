"""VGG (Simonyan and Zisserman, 2014): stacks of 3x3 convolutions and 2x2 max pooling,
then fully connected layers; the ``VGG`` class and the paper's presets ``vgg11`` ..
``vgg19``."""

import numbers

from .. import nn
from ._checks import int_list, positive_int

__all__ = ["VGG", "vgg11", "vgg13", "vgg16", "vgg19"]

# The paper's configurations A, B, D and E (Table 1): output channels, "M" a max pool.
CONFIGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
         512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"],
}


def _pool_size(value):
    """An adaptive pool's output size: an int >= 1 or a pair of them."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return positive_int(value, "pool_size")
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return tuple(positive_int(v, f"pool_size[{i}]") for i, v in enumerate(value))
    raise TypeError(f"pool_size must be an int or a pair of ints, got {value!r}")


def _dropout(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not 0.0 <= value < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1), got {value!r}")
    return float(value)


def torchvision_init(module):
    """Re-initialise as torchvision's VGG does: convolutions He normal (fan_out, ReLU),
    linear layers N(0, 0.01), biases 0, batch norm weight 1 and bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
        else:
            continue
        if getattr(m, "bias", None) is not None:
            nn.init.zeros_(m.bias)
    return module


class PooledClassifier(nn.Module):
    """``classifier(flatten(avgpool(features(x))))``: the shape of torchvision's VGG
    and AlexNet; subclasses set the four submodules."""

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))

    def backward(self, grad_output):
        g = self.flatten.backward(self.classifier.backward(grad_output))
        return self.features.backward(self.avgpool.backward(g))


class VGG(PooledClassifier):
    """A VGG (Simonyan and Zisserman, 2014): stages of 3x3 convolutions (padding 1,
    optional batch norm, ReLU) separated by 2x2 max pooling, adaptive average pooling to
    ``pool_size``, then ``(Linear -> ReLU -> Dropout) * len(hidden) -> Linear``.

    The defaults build a small VGG for 32x32 data; :func:`vgg11`, :func:`vgg16`, ...
    build the paper's networks.

    Parameters
    ----------
    config : list of int or "M"
        Output channels of each convolution, ``"M"`` for a 2x2 max pool
        (default ``[32, 32, "M", 64, 64, "M"]``).
    in_channels, num_classes : int
    hidden : int or sequence of int
        Widths of the hidden fully connected layers (the paper: ``(4096, 4096)``).
    batch_norm : bool
    dropout : float in [0, 1)
        After each hidden layer (a Dropout layer is there even at 0, so the state_dict
        keys do not depend on it, as torchvision's).
    dtype : float32 (default) or float64
    pool_size : int or (int, int)
        Output size of the adaptive average pool before the classifier: 1 (default) is
        global average pooling; torchvision's VGG uses 7.
    conv_bias : bool, optional
        Bias in the convolutions (default: only without batch norm; torchvision's
        ``vgg*_bn`` keep it, so the presets pass True).
    init_weights : bool
        Initialise as torchvision (:func:`torchvision_init`) instead of each layer's
        PyTorch default.

    Attributes ``features`` (convolutions and pools), ``avgpool`` and ``classifier``, as
    torchvision's VGG: state_dict keys ``features.0.weight``, ..., ``classifier.0.weight``,
    ``classifier.3.weight``, ...

    Shapes: input (N, in_channels, H, W), H and W at least 2**(number of "M");
    output (N, num_classes).
    """

    def __init__(self, config=(32, 32, "M", 64, 64, "M"), in_channels=3, num_classes=10,
                 hidden=128, batch_norm=True, dropout=0.5, dtype=None, *, pool_size=1,
                 conv_bias=None, init_weights=False):
        super().__init__()
        config = int_list(config, "config", allow=("M",))
        channels = positive_int(in_channels, "in_channels")
        hidden = [hidden] if isinstance(hidden, numbers.Integral) else hidden
        hidden = int_list(hidden, "hidden")
        pool_size = _pool_size(pool_size)
        dropout = _dropout(dropout)
        conv_bias = not batch_norm if conv_bias is None else bool(conv_bias)
        layers = []
        for v in config:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            layers.append(nn.Conv2d(channels, v, 3, padding=1, bias=conv_bias))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU())
            channels = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(pool_size)
        self.flatten = nn.Flatten()
        area = pool_size * pool_size if isinstance(pool_size, int) else pool_size[0] * pool_size[1]
        width = channels * area
        tail = []
        for h in hidden:
            tail += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        tail.append(nn.Linear(width, positive_int(num_classes, "num_classes")))
        self.classifier = nn.Sequential(*tail)
        if init_weights:
            torchvision_init(self)
        if dtype is not None:
            self.to(dtype)


def _vgg(depth, num_classes, batch_norm, small_input, in_channels, dropout, dtype):
    if not isinstance(small_input, bool):
        raise TypeError(f"small_input must be a bool, got {type(small_input).__name__}")
    # 32x32 input: five pools leave 1x1, so pool to 1x1 and use a 512-wide head
    # (a 25088-input, 4096-wide head would hold 120M weights for 512 numbers).
    hidden, pool = ((512, 512), 1) if small_input else ((4096, 4096), 7)
    return VGG(CONFIGS[depth], in_channels, num_classes, hidden=hidden,
               batch_norm=bool(batch_norm), dropout=dropout, dtype=dtype, pool_size=pool,
               conv_bias=True, init_weights=True)


_PRESET_DOC = """VGG-{depth} (configuration {letter} of Simonyan and Zisserman, 2014), as
    torchvision's ``vgg{depth}`` (``vgg{depth}_bn`` with ``batch_norm=True``): the same
    layers, state_dict keys and initialisation.

    Parameters
    ----------
    num_classes : int
        Default 1000 (ImageNet).
    batch_norm : bool
        Batch norm after each convolution (torchvision's ``vgg{depth}_bn``).
    small_input : bool
        For 32x32 inputs (CIFAR): the same convolutions, then global average pooling
        (the five pools leave 1x1) instead of pooling to 7x7, and hidden layers of 512
        instead of 4096: ``512 -> 512 -> 512 -> num_classes``.
    in_channels : int
    dropout : float in [0, 1)
    dtype : float32 (default) or float64

    Returns
    -------
    VGG
        Input (N, in_channels, H, W) with H, W >= 32 (224 in the paper); output
        (N, num_classes) logits.
    """


def _preset(depth, letter):
    def make(num_classes=1000, *, batch_norm=False, small_input=False, in_channels=3,
             dropout=0.5, dtype=None):
        return _vgg(depth, num_classes, batch_norm, small_input, in_channels, dropout, dtype)
    make.__name__ = make.__qualname__ = f"vgg{depth}"
    make.__doc__ = _PRESET_DOC.format(depth=depth, letter=letter)
    return make


vgg11 = _preset(11, "A")
vgg13 = _preset(13, "B")
vgg16 = _preset(16, "D")
vgg19 = _preset(19, "E")
