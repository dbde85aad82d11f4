"""Every pydl.models architecture exports: onnx.checker (full) and onnxruntime equal to
pydl's eval-mode forward at two batch sizes."""

import numpy as np
import pytest

import pydl
from pydl import models, nn

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from .export_check import check_export
from .test_export import randomize_stats


def _image(c, h, w=None):
    return lambda rng, n: rng.standard_normal((n, c, h, w or h)).astype(np.float32)


# (id, factory, input maker, the names in pydl.models.__all__ the case covers)
ARCHITECTURES = [
    ("MLP", lambda: models.MLP([6, 16, 8, 3], batch_norm=True, dropout=0.2),
     lambda rng, n: rng.standard_normal((n, 6)).astype(np.float32), {"MLP"}),
    ("MLP-gelu", lambda: models.MLP([6, 8, 3], activation="gelu"),
     lambda rng, n: rng.standard_normal((n, 6)).astype(np.float32), set()),
    ("LeNet5-8x8", lambda: models.LeNet5(input_size=8), _image(1, 8), {"LeNet5"}),
    ("LeNet5-32x32-tanh", lambda: models.LeNet5(input_size=32, activation="tanh"),
     _image(1, 32), set()),
    ("VGG", lambda: models.VGG(), _image(3, 8), {"VGG"}),
    ("VGG-nobn", lambda: models.VGG(batch_norm=False, dropout=0.0), _image(3, 8), set()),
    ("ResNet-20", lambda: models.ResNet(layers=(3, 3, 3)), _image(3, 8),
     {"ResNet", "BasicBlock"}),
    ("ResNet-bottleneck", lambda: models.ResNet("bottleneck", layers=(1, 2), widths=(4, 8)),
     _image(3, 8), {"Bottleneck"}),
    ("Inception", lambda: models.Inception(width=4), _image(3, 8), {"Inception"}),
    ("InceptionBlock", lambda: models.InceptionBlock(4, 2, 2, 3, 1, 2, 2), _image(4, 5),
     {"InceptionBlock"}),
    ("MobileNet", lambda: models.MobileNet(), _image(3, 8), {"MobileNet"}),
    ("VGG-pool-7", lambda: models.VGG(config=(8, "M", 8, "M"), pool_size=7, hidden=(16, 16)),
     _image(3, 4), set()),
]
# architectures that colleagues add land here (their presets are heavy: small inputs)
if hasattr(models, "AlexNet"):
    ARCHITECTURES += [
        ("AlexNet-small", lambda: models.AlexNet(10, small_input=True), _image(3, 32),
         {"AlexNet"}),
        ("alexnet-paper-small", lambda: models.alexnet(num_classes=10, variant="paper",
                                                       small_input=True),
         _image(3, 32), {"alexnet"}),
    ]
if hasattr(models, "vgg11"):
    ARCHITECTURES += [
        (f"vgg{d}{'-bn' if bn else ''}-small",
         lambda d=d, bn=bn: getattr(models, f"vgg{d}")(10, batch_norm=bn, small_input=True),
         _image(3, 32), {f"vgg{d}"}) for d, bn in ((11, True), (13, False), (16, True),
                                                   (19, False))]
ARCHITECTURES += [
    ("depthwise_separable", lambda: models.depthwise_separable(4, 6, stride=2),
     _image(4, 7), {"depthwise_separable"}),
]


# the paper's channel widths: two small batches keep them to seconds
HEAVY = {"AlexNet-small", "alexnet-paper-small", "vgg11-bn-small", "vgg13-small",
         "vgg16-bn-small", "vgg19-small"}


@pytest.mark.parametrize("name,factory,make,_", ARCHITECTURES,
                         ids=[a[0] for a in ARCHITECTURES])
def test_architecture_exports_and_matches_onnxruntime(name, factory, make, _):
    rng = np.random.default_rng(0)
    pydl.manual_seed(0)
    model = randomize_stats(factory(), rng)
    small, large = (1, 2) if name in HEAVY else (2, 5)
    check_export(model, [make(rng, small), make(rng, large)])


def test_every_architecture_has_a_case():
    covered = set().union(*(a[3] for a in ARCHITECTURES))
    missing = sorted(set(models.__all__) - covered)
    assert not missing, f"pydl.models architectures without an export test: {missing}"


def test_trained_model_in_training_mode_exports_its_eval_behaviour():
    # running statistics that a few training steps moved, dropout on in training
    rng = np.random.default_rng(3)
    pydl.manual_seed(3)
    model = models.VGG(config=(8, "M", 16), hidden=16)
    x = rng.standard_normal((8, 3, 4, 4)).astype(np.float32)
    for _ in range(3):
        model(x)
        model.backward(np.ones((8, 10), np.float32))
    assert any(not np.allclose(m.running_mean, 0) for m in model.modules()
               if isinstance(m, nn.BatchNorm2d))
    check_export(model, [x[:2], x])
