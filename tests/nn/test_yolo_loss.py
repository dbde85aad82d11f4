"""YOLOLoss: hand-computed value, gradient checks, PyTorch parity, fit, bad input."""

import numpy as np
import pytest

import pydl
from pydl import nn, ops
from pydl.testing import gradcheck

ANCHORS = [[10, 12], [20, 16]]
C = 3


def _setup(seed=0, n=2, grid=4, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, len(ANCHORS) * (5 + C), grid, grid)).astype(dtype)
    boxes = [np.array([[2, 3, 14, 16], [20, 20, 40, 30.0], [4, 4, 24, 28]]),
             np.array([[5, 5, 30, 30.0]])][:n]
    labels = [np.array([0, 2, 1]), np.array([1])][:n]
    return x, ops.pack_targets(boxes, labels, dtype=dtype)


def test_hand_computed_one_cell():
    # One 1x1 cell on the unit square, one anchor of size 1, a zero output. The box
    # (0.25, 0.25, 0.75, 0.75) is centred in the cell (sx = sy = 0.5 = sigmoid(0): no
    # error) and half the anchor's size (tw* = th* = log 0.5). Objectness BCE(0, 1) =
    # log 2; with one class the cross-entropy is 0.
    x = np.zeros((1, 6, 1, 1))
    target = np.array([[[0, 0.25, 0.25, 0.75, 0.75]]])
    loss = nn.YOLOLoss([[1, 1]], 1)(x, target)
    assert loss == pytest.approx(5 * 2 * np.log(0.5) ** 2 + np.log(2), rel=1e-12)
    # no object: only lambda_noobj * BCE(0, 0) = 0.5 log 2
    empty = np.array([[[-1, 0, 0, 0, 0]]])
    assert nn.YOLOLoss([[1, 1]], 1)(x, empty) == pytest.approx(0.5 * np.log(2), rel=1e-12)


@pytest.mark.parametrize("class_loss,reduction,ignore_by", [
    ("softmax", "mean", "anchor"), ("softmax", "sum", "prediction"),
    ("bce", "none", "anchor"), ("bce", "mean", "prediction")])
def test_gradcheck(class_loss, reduction, ignore_by):
    x, t = _setup(grid=2)               # 128 outputs, all checked
    crit = nn.YOLOLoss(ANCHORS, C, (32, 32), class_loss=class_loss, reduction=reduction,
                       ignore_by=ignore_by, lambda_class=0.7, ignore_threshold=0.3)
    assigned = ops.yolo_assign_targets(t, ANCHORS, 2, (32, 32), 0.3)
    assert assigned.positive.sum() == 4 and assigned.ignore.sum() >= 1
    assert gradcheck(crit, x, target=t)    # explicit backward and tape


def test_ignore_changes_the_loss_and_weights_scale_terms():
    x, t = _setup()
    base = nn.YOLOLoss(ANCHORS, C, (32, 32), ignore_threshold=1.0)(x, t)
    low = nn.YOLOLoss(ANCHORS, C, (32, 32), ignore_threshold=0.2)(x, t)
    assert low < base                         # ignored negatives drop out of the sum
    kw = {"lambda_coord": 0.0, "lambda_obj": 0.0, "lambda_noobj": 0.0, "lambda_class": 0.0}
    assert nn.YOLOLoss(ANCHORS, C, (32, 32), **kw)(x, t) == 0.0


def _torch_loss(torch, x, t, class_loss, reduction):
    """The same loss written with torch ops, on the same assignment."""
    F = torch.nn.functional
    a = len(ANCHORS)
    n, _, h, w = x.shape
    tx = torch.tensor(x, requires_grad=True)
    v = tx.reshape(n, a, 5 + C, h, w).permute(0, 1, 3, 4, 2)
    tg = ops.yolo_assign_targets(t, ANCHORS, (h, w), (32, 32))
    pos = torch.tensor(tg.positive, dtype=torch.float64)
    neg = torch.tensor(~(tg.positive | tg.ignore), dtype=torch.float64)
    box = torch.tensor(tg.boxes)
    coord = (((torch.sigmoid(v[..., :2]) - box[..., :2]) ** 2).sum(-1)
             + ((v[..., 2:4] - box[..., 2:4]) ** 2).sum(-1))
    obj = v[..., 4]
    ones, zeros = torch.ones_like(obj), torch.zeros_like(obj)
    bce_pos = F.binary_cross_entropy_with_logits(obj, ones, reduction="none")
    bce_neg = F.binary_cross_entropy_with_logits(obj, zeros, reduction="none")
    cls = torch.tensor(np.maximum(tg.classes, 0))
    if class_loss == "softmax":
        ce = F.cross_entropy(v[..., 5:].reshape(-1, C), cls.reshape(-1),
                             reduction="none").reshape(obj.shape)
    else:
        onehot = F.one_hot(cls, C).to(torch.float64)
        ce = F.binary_cross_entropy_with_logits(v[..., 5:], onehot, reduction="none").sum(-1)
    per = (pos * (5 * coord + bce_pos + ce) + neg * 0.5 * bce_neg).reshape(n, -1).sum(1)
    loss = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    return tx, loss


@pytest.mark.parametrize("class_loss", ["softmax", "bce"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_torch_parity(class_loss, reduction):
    torch = pytest.importorskip("torch")
    x, t = _setup(seed=4)
    crit = nn.YOLOLoss(ANCHORS, C, (32, 32), class_loss=class_loss, reduction=reduction)
    loss = crit(x, t)
    up = np.random.default_rng(1).standard_normal(2) if reduction == "none" else 1.0
    grad = crit.backward(up)
    tx, tloss = _torch_loss(torch, x, t, class_loss, reduction)
    (tloss * torch.tensor(up)).sum().backward()
    np.testing.assert_allclose(loss, tloss.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_float32_and_list_targets():
    x, t = _setup(dtype=np.float32)
    crit = nn.YOLOLoss(ANCHORS, C, (32, 32))
    loss = crit(x, t)
    grad = crit.backward()
    assert grad.dtype == np.float32 and grad.shape == x.shape
    assert isinstance(loss, float)
    as_list = [row[row[:, 0] >= 0] for row in t]
    assert crit(x, as_list) == pytest.approx(loss)
    none = nn.YOLOLoss(ANCHORS, C, (32, 32), reduction="none")(x, t)
    assert none.dtype == np.float32 and none.shape == (2,)
    assert none.mean() == pytest.approx(loss, rel=1e-6)


def test_tensor_path_and_no_grad():
    x, t = _setup()
    crit = nn.YOLOLoss(ANCHORS, C, (32, 32))
    xt = pydl.Tensor(x, requires_grad=True)
    loss = crit(xt, t)
    loss.backward()
    expected = crit(x, t)
    np.testing.assert_allclose(xt.grad, crit.backward())
    assert float(loss.item()) == pytest.approx(expected)
    with pydl.no_grad():
        assert crit(x, t) == pytest.approx(expected)


def test_trains_in_fit():
    # seeded: the initial weights came from whatever the tests before had left in the
    # global generator, and over 8 seeds the loss fell to 0.20-0.63 of its start, so
    # the 0.5 bound failed in some orders (seen in a run of the detection tests)
    pydl.manual_seed(0)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((16, 3, 16, 16)).astype(np.float32)
    boxes = [np.array([[2.0, 2, 10, 10]])] * 8 + [np.array([[6.0, 4, 14, 12]])] * 8
    labels = [np.array([0])] * 8 + [np.array([1])] * 8
    targets = ops.pack_targets(boxes, labels, max_boxes=2)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4),
                          nn.Conv2d(8, 1 * (5 + 2), 1))
    crit = nn.YOLOLoss([[8, 8]], 2, (16, 16))
    hist = pydl.fit(model, images, targets, loss=crit,
                    optimizer=pydl.optim.Adam(model.parameters(), lr=1e-2), epochs=15,
                    batch_size=8, verbose=0, seed=0)
    losses = hist.history["loss"]
    assert losses[-1] < 0.5 * losses[0]          # seed 0: 0.20


def test_bad_input():
    x, t = _setup()
    crit = nn.YOLOLoss(ANCHORS, C, (32, 32))
    with pytest.raises(ValueError, match=r"input must have A \* \(5 \+ C\) = 2 \* 8 = 16"):
        crit(x[:, :10], t)
    with pytest.raises(ValueError, match="targets must hold one entry per image: 2"):
        crit(x, t[:1])
    with pytest.raises(ValueError, match=r"classes must be integers in \[0, 3\)"):
        crit(x, np.array([[[3, 0, 0, 4, 4]], [[0, 0, 0, 4, 4]]]))
    with pytest.raises(ValueError, match="centre outside the image"):
        crit(x, np.array([[[0, 30, 30, 40, 40]], [[0, 0, 0, 4, 4]]]))
    with pytest.raises(TypeError, match="input must be a float32 or float64"):
        crit(x.astype(np.int32), t)
    with pytest.raises(ValueError, match="anchors must have shape"):
        nn.YOLOLoss([1, 2, 3], C)
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        nn.YOLOLoss(ANCHORS, 0)
    with pytest.raises(ValueError, match="lambda_noobj must be >= 0"):
        nn.YOLOLoss(ANCHORS, C, lambda_noobj=-1)
    with pytest.raises(ValueError, match="ignore_by must be"):
        nn.YOLOLoss(ANCHORS, C, ignore_by="iou")
    with pytest.raises(ValueError, match="class_loss must be"):
        nn.YOLOLoss(ANCHORS, C, class_loss="mse")
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.YOLOLoss(ANCHORS, C, reduction="batchmean")
    with pytest.raises(ValueError, match=r"image_size\[0\] must be > 0"):
        nn.YOLOLoss(ANCHORS, C, (0, 32))
    crit(x, t)
    with pytest.raises(ValueError, match="grad_output must be a scalar"):
        crit.backward(np.ones(2))
    none = nn.YOLOLoss(ANCHORS, C, (32, 32), reduction="none")
    none(x, t)
    with pytest.raises(ValueError, match=r"one per image"):
        none.backward(np.ones(3))


def test_functional_form_matches_module():
    x, t = _setup()
    loss, grad = ops.yolo_loss(x, t, ANCHORS, C, (32, 32), class_loss="bce")
    crit = nn.YOLOLoss(ANCHORS, C, (32, 32), class_loss="bce")
    assert crit(x, t) == loss
    np.testing.assert_array_equal(crit.backward(), grad)
    assert ops.yolo_loss(x, t, ANCHORS, C, (32, 32), need_grad=False)[1] is None
    assert "YOLOLoss" in repr(crit) and "num_classes=3" in repr(crit)


def test_empty_batch():
    """N = 0: loss 0 and an empty gradient of the input's shape (reshape(0, -1) cannot
    infer its -1, which made this an error)."""
    x = np.zeros((0, 2 * 8, 4, 4), np.float32)
    loss, grad = ops.yolo_loss(x, np.zeros((0, 0, 5)), [[10, 10], [20, 20]], 3, 32)
    assert loss == 0.0 and grad.shape == x.shape and grad.dtype == np.float32
    per_image, _ = ops.yolo_loss(x, np.zeros((0, 0, 5)), [[10, 10], [20, 20]], 3, 32,
                             reduction="none")
    assert per_image.shape == (0,)
