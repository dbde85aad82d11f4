"""AlexNet and the VGG presets: torchvision's layer names and shapes (against torch
modules built here to torchvision's definitions), output parity with copied weights,
the paper variant, the 32x32 variants, gradient checks and argument errors."""

import numpy as np
import pytest

import pydl
from pydl import models, nn
from pydl.models.alexnet import _features as alexnet_features
from pydl.testing import gradcheck


def _shapes(state):
    return {k: tuple(v.shape) for k, v in state.items()}


# ----------------------------------------------------------------- torch twins
def _torch_alexnet(torch, num_classes, variant="torchvision", small=False):
    """torchvision.models.AlexNet written out (torchvision is not a dependency), and the
    paper's network to the same pattern."""
    tnn = torch.nn
    paper = variant == "paper"
    c = (96, 256, 384, 384, 256) if paper else (64, 192, 384, 256, 256)
    g = (1, 2, 1, 2, 2) if paper else (1,) * 5
    first = (5, 1, 2) if small else (11, 4, 0 if paper else 2)
    lrn = [tnn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)] if paper else []
    feats = tnn.Sequential(
        tnn.Conv2d(3, c[0], first[0], stride=first[1], padding=first[2]), tnn.ReLU(),
        *lrn, tnn.MaxPool2d(3, 2),
        tnn.Conv2d(c[0], c[1], 5, padding=2, groups=g[1]), tnn.ReLU(), *lrn,
        tnn.MaxPool2d(3, 2),
        tnn.Conv2d(c[1], c[2], 3, padding=1, groups=g[2]), tnn.ReLU(),
        tnn.Conv2d(c[2], c[3], 3, padding=1, groups=g[3]), tnn.ReLU(),
        tnn.Conv2d(c[3], c[4], 3, padding=1, groups=g[4]), tnn.ReLU(), tnn.MaxPool2d(3, 2))
    side, hid = (3, 1024) if small else (6, 4096)
    if paper:
        head = [tnn.Linear(256 * side * side, hid), tnn.ReLU(), tnn.Dropout(),
                tnn.Linear(hid, hid), tnn.ReLU(), tnn.Dropout()]
    else:
        head = [tnn.Dropout(), tnn.Linear(256 * side * side, hid), tnn.ReLU(),
                tnn.Dropout(), tnn.Linear(hid, hid), tnn.ReLU()]
    return _TorchNet(torch, feats, tnn.AdaptiveAvgPool2d((side, side)),
                     tnn.Sequential(*head, tnn.Linear(hid, num_classes)))


def _torch_vgg(torch, cfg, num_classes, batch_norm=False, small=False, device=None):
    """torchvision.models.VGG / make_layers written out."""
    tnn = torch.nn
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(tnn.MaxPool2d(2, 2))
            continue
        layers.append(tnn.Conv2d(c, v, 3, padding=1, device=device))
        if batch_norm:
            layers.append(tnn.BatchNorm2d(v, device=device))
        layers.append(tnn.ReLU())
        c = v
    pool, hid = (1, 512) if small else (7, 4096)
    head = tnn.Sequential(
        tnn.Linear(512 * pool * pool, hid, device=device), tnn.ReLU(), tnn.Dropout(),
        tnn.Linear(hid, hid, device=device), tnn.ReLU(), tnn.Dropout(),
        tnn.Linear(hid, num_classes, device=device))
    return _TorchNet(torch, tnn.Sequential(*layers), tnn.AdaptiveAvgPool2d((pool, pool)),
                     head)


def _TorchNet(torch, features, avgpool, classifier):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.features, self.avgpool, self.classifier = features, avgpool, classifier

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
    return Net()


def _parity(torch, ours, theirs, shape, seed=0, rtol=2e-4):
    """Load theirs' weights into ours; outputs agree in eval mode."""
    theirs.eval()
    missing, unexpected = ours.load_state_dict(theirs.state_dict())
    assert not missing and not unexpected
    ours.eval()
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    got = ours(x)
    assert got.shape == want.shape
    scale = np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


# ----------------------------------------------------------------- AlexNet
@pytest.mark.parametrize("variant", ["torchvision", "paper"])
@pytest.mark.parametrize("small", [False, True], ids=["224", "32x32"])
def test_alexnet_keys_shapes_and_outputs_match_torch(variant, small):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = _torch_alexnet(torch, 10, variant, small)
    ours = models.alexnet(10, variant=variant, small_input=small)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert _shapes(ours.state_dict()) == {k: tuple(v.shape)
                                          for k, v in theirs.state_dict().items()}
    # 227: the paper's input size (55, 27, 13, 6 maps); 224 the torchvision one
    side = 32 if small else (227 if variant == "paper" else 224)
    _parity(torch, ours, theirs, (2, 3, side, side))


def test_alexnet_torchvision_keys_at_1000_classes_and_smallest_input():
    model = models.alexnet()
    keys = list(model.state_dict())
    assert keys == [f"features.{i}.{p}" for i in (0, 3, 6, 8, 10) for p in ("weight", "bias")] \
        + [f"classifier.{i}.{p}" for i in (1, 4, 6) for p in ("weight", "bias")]
    assert model.classifier[1].weight.shape == (4096, 256 * 6 * 6)
    assert model.classifier[6].weight.shape == (1000, 4096)
    assert model(np.zeros((1, 3, 63, 63), np.float32)).shape == (1, 1000)   # smallest input
    with pytest.raises(ValueError, match="kernel_size 3 is larger than the padded input"):
        model(np.zeros((1, 3, 62, 62), np.float32))


def test_alexnet_paper_layers_and_initialisation():
    # the 32x32 variant has the same layers and initialisation and a tenth of the
    # weights; the 224 trunk's map sizes are checked on its features alone
    pydl.manual_seed(0)
    model = models.alexnet(variant="paper", small_input=True)
    lrn = [m for m in model.features if isinstance(m, nn.LocalResponseNorm)]
    assert len(lrn) == 2
    # the paper's denominator (2 + 1e-4 * sum of 5 squares) ** 0.75
    x = np.zeros((1, 7, 1, 1))
    x[0, :, 0, 0] = np.arange(1.0, 8.0)
    want = x[0, 3, 0, 0] / (2 + 1e-4 * (x[0, 1:6, 0, 0] ** 2).sum()) ** 0.75
    assert lrn[0](x)[0, 3, 0, 0] == pytest.approx(want, rel=1e-12)
    pools = [m for m in model.features if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 3 and all(p.kernel_size in (3, (3, 3)) and p.stride in (2, (2, 2))
                                   for p in pools)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [m.groups for m in convs] == [1, 2, 1, 2, 2]
    assert [m.out_channels for m in convs] == [96, 256, 384, 384, 256]
    linears = [m for m in model.classifier if isinstance(m, nn.Linear)]
    for i, m in enumerate(convs + linears):
        assert abs(m.weight.data.std() - 0.01) < 1e-3
        want_bias = 1.0 if i in (1, 3, 4, 5, 6) else 0.0
        assert np.all(m.bias.data == want_bias), i
    sizes = []
    x = np.zeros((1, 3, 227, 227), np.float32)
    for m in alexnet_features("paper", 3, small_input=False):
        x = m(x)
        if isinstance(m, nn.MaxPool2d):
            sizes.append(x.shape[-1])
    assert sizes == [27, 13, 6]


def test_alexnet_gradcheck():
    # 15x15 is the smallest input of the 32x32 variant: cheap enough for float64 checks.
    # The paper's network (LRN, groups, overlapping pools): input gradients through
    # every layer on both paths. torchvision's through the explicit path, with the
    # parameter gradients of its second convolution and last linear layer (the shared
    # PooledClassifier backward; the layers' own parameter gradients are checked in
    # their tests: all 16 parameters on both paths took 60 s).
    pydl.manual_seed(0)
    paper = models.alexnet(3, variant="paper", small_input=True, in_channels=1,
                           dropout=0.0).double()
    x = np.random.default_rng(1).standard_normal((2, 1, 15, 15))
    assert paper(x).shape == (2, 3)
    gradcheck(paper, x, max_elements=2, check_params=False)
    tv = models.alexnet(3, small_input=True, in_channels=1, dropout=0.0).double()
    checked = {"features.3.weight", "features.3.bias", "classifier.6.weight"}
    for name, p in tv.named_parameters():
        p.requires_grad_(name in checked)
    gradcheck(tv, x, max_elements=2, tape=False)


# ----------------------------------------------------------------- VGG
@pytest.mark.parametrize("name,bn,small", [
    # the 224x224 head only in test_vgg11_outputs_match_torch (building one takes 5-30 s);
    # its trunk is the 32x32 variant's
    *[(f"vgg{d}", bn, True) for d in (11, 13, 16, 19) for bn in (False, True)],
])
def test_vgg_keys_and_shapes_match_torchvision(name, bn, small):
    torch = pytest.importorskip("torch")
    depth = int(name[3:])
    # shapes only, no memory: torch builds on the meta device
    theirs = _torch_vgg(torch, models.vgg.CONFIGS[depth], 1000, bn, small, device="meta")
    ours = getattr(models, name)(batch_norm=bn, small_input=small)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert _shapes(ours.state_dict()) == {k: tuple(v.shape)
                                          for k, v in theirs.state_dict().items()}
    n_conv = sum(isinstance(m, nn.Conv2d) for m in ours.features)
    assert n_conv + 3 == depth


def test_vgg11_outputs_match_torch():
    # the full 224x224 head (25088-4096-4096) on a 32x32 input: the 1x1 map is pooled
    # up to 7x7, so this checks the adaptive pool and the copied weights cheaply
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = _torch_vgg(torch, models.vgg.CONFIGS[11], 7)
    ours = models.vgg11(7)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert _shapes(ours.state_dict()) == _shapes(theirs.state_dict())
    assert ours.classifier[0].weight.shape == (4096, 512 * 7 * 7)
    _parity(torch, ours, theirs, (2, 3, 32, 32))


@pytest.mark.parametrize("bn", [True], ids=["bn"])   # plain: vgg11's parity
def test_vgg16_small_input_matches_torch(bn):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = _torch_vgg(torch, models.vgg.CONFIGS[16], 10, bn, small=True)
    if bn:   # non-trivial running statistics
        with torch.no_grad():
            for m in theirs.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 2.0)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.1, 0.1)
    ours = models.vgg16(10, small_input=True, batch_norm=bn)
    assert [k for k in ours.state_dict() if k.startswith("classifier")] == \
        [f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")]
    assert ours.classifier[0].weight.shape == (512, 512)
    _parity(torch, ours, theirs, (3, 3, 32, 32))


def test_vgg_presets_use_torchvision_initialisation():
    pydl.manual_seed(0)
    model = models.vgg11(10, small_input=True, batch_norm=True)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.out_channels * 9
            assert abs(m.weight.data.std() / np.sqrt(2.0 / fan_out) - 1) < 0.1
            assert not m.bias.data.any()
        elif isinstance(m, nn.Linear):
            assert abs(m.weight.data.std() - 0.01) < 1e-3 and not m.bias.data.any()
        elif isinstance(m, nn.BatchNorm2d):
            assert (m.weight.data == 1).all() and not m.bias.data.any()


def test_vgg_class_keeps_its_api():
    model = models.VGG([4, "M", 6], in_channels=2, num_classes=3, hidden=8)
    assert list(model.state_dict())[-1] == "classifier.3.bias"
    assert "features.0.bias" not in model.state_dict()     # batch norm: no conv bias
    assert model(np.zeros((2, 2, 4, 4), np.float32)).shape == (2, 3)


def test_vgg_class_gradcheck_with_pooled_grid_and_two_hidden_layers():
    pydl.manual_seed(0)
    model = models.VGG([3, "M", 4], in_channels=2, num_classes=3, hidden=(5, 6),
                       dropout=0.0, pool_size=(2, 3), batch_norm=False).double()
    x = np.random.default_rng(1).standard_normal((2, 2, 6, 6))
    assert model.classifier[0].in_features == 4 * 2 * 3
    gradcheck(model, x, max_elements=4)


def test_dtype_argument():
    m = models.alexnet(4, small_input=True, dtype=np.float64)
    assert all(p.dtype == np.float64 for p in m.parameters())
    m = models.vgg11(4, small_input=True, dtype=np.float64)
    assert all(p.dtype == np.float64 for p in m.parameters())


@pytest.mark.parametrize("make, error, match", [
    (lambda: models.alexnet(variant="caffe"), ValueError, "variant must be one of"),
    (lambda: models.alexnet(small_input=1), TypeError, "small_input must be a bool"),
    (lambda: models.alexnet(num_classes=0), ValueError, "num_classes must be >= 1"),
    (lambda: models.alexnet(dropout=1.0), ValueError, r"dropout must be a probability"),
    (lambda: models.alexnet(in_channels=2.5), TypeError, "in_channels must be an int"),
    (lambda: models.vgg16(small_input="yes"), TypeError, "small_input must be a bool"),
    (lambda: models.vgg11(dropout=-0.1), ValueError, "dropout must be a probability"),
    (lambda: models.VGG([4], pool_size=0), ValueError, "pool_size must be >= 1"),
    (lambda: models.VGG([4], pool_size=(2, 2, 2)), TypeError, "pool_size must be an int"),
    (lambda: models.VGG([4], hidden=(4, 0)), ValueError, r"hidden\[1\] must be >= 1"),
    (lambda: models.VGG([4], hidden="wide"), TypeError, "hidden must be a list"),
])
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_too_small_input_is_a_clear_error():
    # the 224 network's is in test_alexnet_torchvision_keys_at_1000_classes_and_smallest_input
    with pytest.raises(ValueError, match="kernel_size 3 is larger than the padded input"):
        models.alexnet(3, small_input=True)(np.zeros((1, 3, 14, 14), np.float32))
