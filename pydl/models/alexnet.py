"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012): the paper's network and
torchvision's single-stream variant."""

from .. import nn
from ._checks import positive_int
from .vgg import PooledClassifier, _dropout

__all__ = ["AlexNet", "alexnet"]

VARIANTS = ("torchvision", "paper")


def _features(variant, in_channels, small_input):
    """The convolutional trunk: torchvision's layer order, or the paper's (LRN after
    the first two ReLUs, the two-GPU split kept as groups=2 in conv2, conv4, conv5)."""
    paper = variant == "paper"
    widths = (96, 256, 384, 384, 256) if paper else (64, 192, 384, 256, 256)
    groups = (1, 2, 1, 2, 2) if paper else (1,) * 5
    # 32x32 input: an 11x11 stride-4 first layer would leave 7x7 before the first pool;
    # a 5x5 stride-1 one keeps 32x32, and the three 3x3/2 pools then give 15, 7, 3.
    first = {"kernel_size": 5, "stride": 1, "padding": 2} if small_input else \
        {"kernel_size": 11, "stride": 4, "padding": 0 if paper else 2}

    def lrn():
        # The paper's b = a / (k + alpha * sum a^2)^beta with k=2, n=5, alpha=1e-4,
        # beta=0.75; LocalResponseNorm divides alpha by the size, so pass 5 * 1e-4.
        return [nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)] if paper else []

    def pool():
        return nn.MaxPool2d(3, stride=2)     # overlapping: 3x3 windows, stride 2

    c1, c2, c3, c4, c5 = widths
    return nn.Sequential(
        nn.Conv2d(in_channels, c1, **first), nn.ReLU(), *lrn(), pool(),
        nn.Conv2d(c1, c2, 5, padding=2, groups=groups[1]), nn.ReLU(), *lrn(), pool(),
        nn.Conv2d(c2, c3, 3, padding=1, groups=groups[2]), nn.ReLU(),
        nn.Conv2d(c3, c4, 3, padding=1, groups=groups[3]), nn.ReLU(),
        nn.Conv2d(c4, c5, 3, padding=1, groups=groups[4]), nn.ReLU(), pool())


def _paper_init(model):
    """The paper's initialisation: weights N(0, 0.01); biases 1 in conv2, conv4, conv5
    and the hidden fully connected layers (early positive ReLU inputs), 0 elsewhere."""
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.classifier if isinstance(m, nn.Linear)]
    for i, m in enumerate(convs + linears):
        nn.init.normal_(m.weight, 0.0, 0.01)
        one = i in (1, 3, 4) or m in linears[:-1]
        (nn.init.ones_ if one else nn.init.zeros_)(m.bias)


class AlexNet(PooledClassifier):
    """AlexNet: five convolutions with overlapping 3x3/2 max pooling, adaptive average
    pooling, three fully connected layers with dropout.

    ``variant="torchvision"`` (default) is torchvision's ``AlexNet``, layer for layer
    and key for key (64-192-384-256-256 channels, first conv padded by 2, no LRN,
    dropout before the two hidden linear layers, PyTorch's default initialisation), so
    its state_dict loads directly. ``variant="paper"`` is the 2012 network: 96-256-384-
    384-256 channels, local response normalization (k=2, n=5, alpha=1e-4, beta=0.75 in
    the paper's formula) after the ReLUs of conv1 and conv2, conv2/conv4/conv5 split into
    two groups as across the paper's two GPUs, dropout after the two hidden ReLUs, and
    the paper's initialisation (weights N(0, 0.01), biases 1 in conv2, conv4, conv5 and
    the hidden linear layers). 227x227 input gives the paper's 55, 27, 13 and 6 maps.

    Parameters
    ----------
    num_classes : int
        Default 1000 (ImageNet).
    dropout : float in [0, 1)
    variant : {"torchvision", "paper"}
    small_input : bool
        For 32x32 inputs (CIFAR): the first convolution is 5x5 with stride 1 and padding
        2 instead of 11x11 with stride 4 (which would leave 7x7 after one layer), the
        average pool gives 3x3 instead of 6x6 (the map is 3x3 there), and the hidden
        layers have 1024 units instead of 4096. Other layers are unchanged.
    in_channels : int
    dtype : float32 (default) or float64

    Attributes ``features``, ``avgpool`` and ``classifier`` as torchvision's.

    Shapes: input (N, in_channels, H, W) with H, W at least 63 (torchvision), 67
    (paper) or 15 (small_input); output (N, num_classes) logits.
    """

    def __init__(self, num_classes=1000, dropout=0.5, *, variant="torchvision",
                 small_input=False, in_channels=3, dtype=None):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if not isinstance(small_input, bool):
            raise TypeError(f"small_input must be a bool, got {type(small_input).__name__}")
        num_classes = positive_int(num_classes, "num_classes")
        dropout = _dropout(dropout)
        self.variant = variant
        self.features = _features(variant, positive_int(in_channels, "in_channels"),
                                  small_input)
        side, hidden = (3, 1024) if small_input else (6, 4096)
        self.avgpool = nn.AdaptiveAvgPool2d((side, side))
        self.flatten = nn.Flatten()
        width = 256 * side * side
        if variant == "paper":
            layers = [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout),
                      nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout)]
        else:
            layers = [nn.Dropout(dropout), nn.Linear(width, hidden), nn.ReLU(),
                      nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU()]
        self.classifier = nn.Sequential(*layers, nn.Linear(hidden, num_classes))
        if variant == "paper":
            _paper_init(self)
        if dtype is not None:
            self.to(dtype)


def alexnet(num_classes=1000, *, variant="torchvision", small_input=False, in_channels=3,
            dropout=0.5, dtype=None):
    """Build an :class:`AlexNet` (torchvision's ``alexnet()`` by default;
    ``variant="paper"`` for the 2012 network with LRN and grouped convolutions;
    ``small_input=True`` for 32x32 data). Arguments as :class:`AlexNet`."""
    return AlexNet(num_classes, dropout, variant=variant, small_input=small_input,
                   in_channels=in_channels, dtype=dtype)
