"""pydl.models: each architecture passes a float64 gradient check at a tiny size and
trains a few steps with the loss going down."""

import numpy as np
import pytest

import pydl
from pydl import models, nn
from pydl.optim import Adam
from pydl.testing import gradcheck

TINY = [
    ("MLP", lambda: models.MLP([6, 8, 3], activation="tanh", batch_norm=True), (5, 6)),
    ("LeNet5-8x8", lambda: models.LeNet5(num_classes=3, input_size=8), (2, 1, 8, 8)),
    ("LeNet5-32x32-tanh", lambda: models.LeNet5(num_classes=3, input_size=32,
                                                activation="tanh"), (1, 1, 32, 32)),
    ("VGG", lambda: models.VGG([4, "M", 6], in_channels=2, num_classes=3, hidden=8,
                               dropout=0.0), (2, 2, 4, 4)),
    ("ResNet-basic", lambda: models.ResNet("basic", [1, 1], [4, 6], in_channels=2,
                                           num_classes=3), (2, 2, 4, 4)),
    ("ResNet-bottleneck", lambda: models.ResNet("bottleneck", [1, 1], [2, 3], in_channels=2,
                                                num_classes=3), (2, 2, 4, 4)),
    ("Inception", lambda: models.Inception(in_channels=2, num_classes=3, width=2),
     (2, 2, 4, 4)),
    ("MobileNet", lambda: models.MobileNet([(4, 1), (6, 2)], in_channels=2, num_classes=3,
                                           stem_channels=3), (2, 2, 4, 4)),
]
IDS = [t[0] for t in TINY]


@pytest.mark.parametrize("name,make,shape", TINY, ids=IDS)
def test_model_gradcheck(name, make, shape):
    pydl.manual_seed(0)
    model = make().double()
    x = np.random.default_rng(1).standard_normal(shape)
    assert model(x).shape == (shape[0], 3)
    # batch norm uses batch statistics in train mode: still a deterministic function
    gradcheck(model, x, max_elements=4)


@pytest.mark.parametrize("name,make,shape", TINY, ids=IDS)
def test_model_trains(name, make, shape):
    pydl.manual_seed(0)
    model = make()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6,) + shape[1:]).astype(np.float32)
    y = rng.integers(0, 3, 6)
    criterion = nn.CrossEntropyLoss()
    optimizer = Adam(model.parameters(), lr=0.03)
    losses = []
    for _ in range(12):
        losses.append(criterion(model(x), y))
        model.backward(criterion.backward())
        optimizer.step()
        optimizer.zero_grad()
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.7 * losses[0], losses


def test_resnet_blocks_shapes_and_shortcuts():
    x = np.zeros((1, 4, 6, 6), np.float32)
    basic = models.BasicBlock(4, 4)
    assert basic[0].shortcut is None and basic(x).shape == (1, 4, 6, 6)
    down = models.BasicBlock(4, 8, stride=2)
    assert down[0].shortcut is not None and down(x).shape == (1, 8, 3, 3)
    assert models.Bottleneck(4, 2)(x).shape == (1, 8, 6, 6)
    block = models.InceptionBlock(4, 2, 2, 3, 1, 2, 1)
    assert block(x).shape == (1, 2 + 3 + 2 + 1, 6, 6) and block.out_channels == 8
    assert models.depthwise_separable(4, 6, stride=2)(x).shape == (1, 6, 3, 3)
    dw = models.depthwise_separable(4, 6)[0]
    assert dw.groups == 4 and dw.weight.shape == (4, 1, 3, 3)


def test_state_dict_names_follow_the_structure():
    keys = list(models.ResNet("basic", [1], [4], in_channels=1).state_dict())
    assert keys[:2] == ["stem.0.weight", "stem.1.weight"]
    assert "stages.0.0.block.0.weight" in keys and keys[-2:] == ["head.2.weight", "head.2.bias"]
    vgg = list(models.VGG([4, "M"], in_channels=1).state_dict())
    assert vgg[0] == "features.0.weight" and vgg[-1] == "classifier.3.bias"


def test_dtype_argument():
    m = models.MLP([3, 4, 2], dtype=np.float64)
    assert all(p.dtype == np.float64 for p in m.parameters())


@pytest.mark.parametrize("make, error, match", [
    (lambda: models.MLP([4]), ValueError, "at least"),
    (lambda: models.MLP([4, 0, 2]), ValueError, r"sizes\[1\] must be >= 1"),
    (lambda: models.MLP([4, 2], activation="swish"), ValueError, "activation must be one of"),
    (lambda: models.MLP([4, 2], dropout=1.0), ValueError, "dropout"),
    (lambda: models.LeNet5(input_size=3), ValueError, "input_size must be >= 4"),
    (lambda: models.LeNet5(activation="gelu"), ValueError, "activation"),
    (lambda: models.VGG(["X"]), TypeError, r"config\[0\] must be an int"),
    (lambda: models.ResNet("dense"), ValueError, "block must be"),
    (lambda: models.ResNet(layers=[1, 1], widths=[4]), ValueError, "same length"),
    (lambda: models.MobileNet([(4,)]), TypeError, "pair"),
    (lambda: models.Inception(width=0), ValueError, "width must be >= 1"),
])
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()
