"""Anchors, YOLO box coding, target assignment and decoding to detections."""

import numpy as np
import pytest

from pydl import ops


# ------------------------------------------------------------------- anchors
def test_grid_anchors_in_pixels_hand_computed():
    # 2x2 grid on an 8x8 image: stride 4, cell (i, j) centred at (4j + 2, 4i + 2)
    a = ops.grid_anchors(2, [[2, 4], [6, 2]], (8, 8))
    assert a.shape == (2, 2, 2, 4) and a.dtype == np.float64
    np.testing.assert_array_equal(a[0, 0, 0], [1, 0, 3, 4])
    np.testing.assert_array_equal(a[0, 0, 1], [-1, 1, 5, 3])
    np.testing.assert_array_equal(a[1, 1, 0], [5, 4, 7, 8])
    np.testing.assert_array_equal(a[0, 1, 0], [5, 0, 7, 4])      # row 0, column 1: x moves


def test_grid_anchors_normalized_and_rectangular():
    # 1 row x 2 columns on the unit square; a (width, height) image of 20 x 10 pixels
    a = ops.grid_anchors((1, 2), [[0.5, 0.5]])
    np.testing.assert_allclose(a[0, :, 0], [[0, 0.25, 0.5, 0.75], [0.5, 0.25, 1, 0.75]])
    b = ops.grid_anchors((1, 2), [[2, 2]], image_size=(10, 20))
    np.testing.assert_allclose(b[0, :, 0], [[4, 4, 6, 6], [14, 4, 16, 6]])


def test_wh_iou_hand_computed():
    # (2, 2) vs (4, 1): intersection 2 * 1 = 2, union 4 + 4 - 2 = 6
    iou = ops.wh_iou([[2, 2], [4, 1]], [[4, 1], [2, 2], [1, 1]])
    np.testing.assert_allclose(iou, [[1 / 3, 1, 1 / 4], [1, 1 / 3, 1 / 4]])


@pytest.mark.parametrize("sizes,match", [([[1, 0]], "positive"), ([[1, 2, 3]], "shape"),
                                         ([[np.nan, 1]], "finite")])
def test_anchor_sizes_refused(sizes, match):
    with pytest.raises(ValueError, match=f"anchor_sizes.*{match}"):
        ops.grid_anchors(2, sizes)


def test_grid_and_image_size_refused():
    with pytest.raises(ValueError, match="grid_size must be >= 1"):
        ops.grid_anchors(0, [[1, 1]])
    with pytest.raises(TypeError, match="grid_size"):
        ops.grid_anchors(2.5, [[1, 1]])
    with pytest.raises(ValueError, match=r"image_size\[1\] must be > 0"):
        ops.grid_anchors(2, [[1, 1]], (4, 0))
    with pytest.raises(TypeError, match="anchor_sizes must be a real array"):
        ops.grid_anchors(2, "big")


# ---------------------------------------------------------------- box coding
def test_encode_hand_computed():
    # 64x64 image, 8x8 grid: stride 8. Centre (20, 28) is in column 2, row 3, at the
    # middle of that cell; 20 x 16 against a 10 x 16 anchor: log 2 and log 1.
    t, cells = ops.yolo_encode_boxes([[10, 20, 30, 36]], [[10, 16]], 8, (64, 64))
    np.testing.assert_allclose(t, [[0.5, 0.5, np.log(2), 0]])
    np.testing.assert_array_equal(cells, [[3, 2]])
    # a centre on the right/bottom edge belongs to the last cell, at offset 1
    t, cells = ops.yolo_encode_boxes([[60, 60, 68, 68]], [[8, 8]], 8, (64, 64))
    np.testing.assert_array_equal(cells, [[7, 7]])
    np.testing.assert_allclose(t[0, :2], [1, 1])


def test_decode_inverts_encode():
    rng = np.random.default_rng(0)
    anchors = np.array([[8.0, 12.0], [20.0, 16.0]])
    grid, size = (4, 5), (32.0, 40.0)             # strides 8 (x) and 8 (y)
    xy = rng.uniform(2, 30, (6, 2))
    wh = rng.uniform(3, 15, (6, 2))
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1)
    which = rng.integers(0, 2, 6)
    coded, cells = ops.yolo_encode_boxes(boxes, anchors[which], grid, size)
    for k in range(6):
        raw = rng.standard_normal((1, 2, 4, 5, 4))
        sx, sy, tw, th = coded[k]
        raw[0, which[k], cells[k, 0], cells[k, 1]] = [np.log(sx / (1 - sx)),
                                                     np.log(sy / (1 - sy)), tw, th]
        dec = ops.yolo_decode_boxes(raw, anchors, size)
        np.testing.assert_allclose(dec[0, which[k], cells[k, 0], cells[k, 1]], boxes[k],
                                   rtol=1e-12, atol=1e-12)


def test_decode_boxes_hand_computed_and_dtype():
    raw = np.zeros((1, 1, 2, 2, 4), np.float32)
    raw[0, 0, 1, 0] = [0, 0, np.log(2), 0]          # centre of cell (1, 0); twice as wide
    out = ops.yolo_decode_boxes(raw, [[4, 4]], (16, 16))
    assert out.dtype == np.float32 and out.shape == (1, 1, 2, 2, 4)
    np.testing.assert_allclose(out[0, 0, 1, 0], [0, 10, 8, 14], atol=1e-5)  # (4, 12), 8x4
    np.testing.assert_allclose(out[0, 0, 0, 1], [10, 2, 14, 6])            # (12, 4), 4x4
    huge = ops.yolo_decode_boxes(np.full((1, 1, 1, 1, 4), 1e4), [[1, 1]])
    assert np.all(np.isfinite(huge))


def test_encode_refuses_degenerate_and_outside_boxes():
    with pytest.raises(ValueError, match="zero width or height"):
        ops.yolo_encode_boxes([[1, 1, 1, 5]], [[1, 1]], 2, (8, 8))
    with pytest.raises(ValueError, match="centre outside the image"):
        ops.yolo_encode_boxes([[6, 6, 12, 12]], [[1, 1]], 2, (8, 8))
    with pytest.raises(ValueError, match="one .width, height. per box"):
        ops.yolo_encode_boxes([[1, 1, 2, 2]], [[1, 1], [2, 2]], 2, (8, 8))
    with pytest.raises(ValueError, match=r"raw must have shape \(N, A, H, W, 4\)"):
        ops.yolo_decode_boxes(np.zeros((1, 1, 2, 2, 3)), [[1, 1]])
    with pytest.raises(ValueError, match="2 anchors"):
        ops.yolo_decode_boxes(np.zeros((1, 2, 2, 2, 4)), [[1, 1]])


# ------------------------------------------------------------------- targets
def test_pack_and_unpack_targets():
    t = ops.pack_targets([np.array([[0, 0, 2, 2], [1, 1, 3, 4]]), np.zeros((0, 4))],
                         [np.array([2, 0]), np.array([], np.int64)], max_boxes=3)
    assert t.shape == (2, 3, 5) and t.dtype == np.float32
    np.testing.assert_array_equal(t[0], [[2, 0, 0, 2, 2], [0, 1, 1, 3, 4], [-1, 0, 0, 0, 0]])
    assert np.all(t[1, :, 0] == -1)
    per_image = ops.unpack_targets(t)
    np.testing.assert_array_equal(per_image[0][0], [2, 0])
    np.testing.assert_array_equal(per_image[0][1], [[0, 0, 2, 2], [1, 1, 3, 4]])
    assert per_image[1][0].shape == (0,) and per_image[1][1].shape == (0, 4)
    # a list of (k, 5) arrays is the same thing
    as_list = ops.unpack_targets([t[0, :2], np.zeros((0, 5))])
    np.testing.assert_array_equal(as_list[0][1], per_image[0][1])
    # plain lists, empty ones included
    from_lists = ops.pack_targets([[], [[0, 0, 1, 1]]], [[], [1]])
    np.testing.assert_array_equal(from_lists, [[[-1, 0, 0, 0, 0]], [[1, 0, 0, 1, 1]]])


def test_targets_refused():
    with pytest.raises(ValueError, match="max_boxes must be >= 2"):
        ops.pack_targets([np.zeros((2, 4))], [np.array([0, 1])], max_boxes=1)
    with pytest.raises(ValueError, match=r"labels\[0\] must hold 2"):
        ops.pack_targets([np.zeros((2, 4))], [np.array([0])])
    for bad in (np.int32, "nope"):       # an int array truncated coordinates silently
        with pytest.raises(TypeError, match="dtype must be float32 or float64"):
            ops.pack_targets([np.zeros((1, 4))], [np.array([0])], dtype=bad)
    with pytest.raises(ValueError, match=r"targets must have shape \(N, M, 5\)"):
        ops.unpack_targets(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"classes must be integers in \[0, 3\)"):
        ops.unpack_targets(np.array([[[3, 0, 0, 1, 1]]]), num_classes=3)
    with pytest.raises(ValueError, match=r"classes must be integers"):
        ops.unpack_targets(np.array([[[0.5, 0, 0, 1, 1]]]))
    with pytest.raises(ValueError, match="must be finite"):
        ops.unpack_targets(np.array([[[0, np.nan, 0, 1, 1]]]))
    with pytest.raises(ValueError, match=r"is not \(x1, y1, x2, y2\)"):
        ops.unpack_targets(np.array([[[0, 2, 0, 1, 1]]]))
    # the message names the targets (it named the helpers' sizes1 and boxes[0])
    with pytest.raises(ValueError, match=r"targets\[1\] box 0 .* zero width or height"):
        ops.yolo_assign_targets([np.zeros((0, 5)), np.array([[0, 5, 5, 5, 9]])],
                                [[10, 10]], 4, 32)
    with pytest.raises(ValueError, match=r"targets\[0\] box 1 .* centre outside the image"):
        ops.yolo_assign_targets([np.array([[0, 1, 1, 5, 5], [0, -5, -5, -1, -1]])],
                                [[10, 10]], 4, 32)
    with pytest.raises(ValueError, match=r"targets\[0\] must have shape \(k, 5\).*\(1, 4\)"):
        ops.unpack_targets([np.zeros((1, 4)), np.zeros((0, 5))])


def test_assignment_hand_computed():
    # 32x32 image, 4x4 grid (stride 8); anchors 8x8 (0) and 24x24 (1).
    anchors = [[8, 8], [24, 24]]
    targets = np.array([[[1, 2, 2, 10, 10],      # centre (6, 6): cell (0, 0); 8x8 -> anchor 0
                         [0, 4, 4, 28, 28],      # centre (16, 16): cell (2, 2); 24x24 -> anchor 1
                         [-1, 0, 0, 0, 0]]])     # padding
    t = ops.yolo_assign_targets(targets, anchors, 4, (32, 32))
    assert t.positive.shape == (1, 2, 4, 4)
    assert sorted(zip(*np.nonzero(t.positive[0]))) == [(0, 0, 0), (1, 2, 2)]
    np.testing.assert_allclose(t.boxes[0, 0, 0, 0], [0.75, 0.75, 0, 0])   # 6 / 8 = 0.75
    np.testing.assert_allclose(t.boxes[0, 1, 2, 2], [0, 0, 0, 0])         # 16 / 8 = 2 + 0
    assert t.classes[0, 0, 0, 0] == 1 and t.classes[0, 1, 2, 2] == 0
    assert (t.classes == -1).sum() == 2 * 16 - 2
    # The 24x24 anchor centred on cells (1, 1), (1, 2), (2, 1), i.e. at (12, 12),
    # (20, 12), (12, 20), overlaps the second box by 20 * 20 = 400 over 576 + 576 - 400
    # = 752: IoU 0.53 > 0.5, so it is ignored there. On cell (2, 2) it is the positive;
    # elsewhere it overlaps less (at (4, 12): 12 * 20 = 240 / 912 = 0.26), and the 8x8
    # anchors overlap the boxes by at most 36 / 92 = 0.39 (cell (0, 0), a positive).
    assert sorted(zip(*np.nonzero(t.ignore[0]))) == [(1, 1, 1), (1, 1, 2), (1, 2, 1)]
    assert not np.any(t.ignore & t.positive)
    # a higher threshold ignores nothing
    assert not ops.yolo_assign_targets(targets, anchors, 4, (32, 32), 0.6).ignore.any()


def test_assignment_with_predicted_boxes_and_collisions():
    anchors = [[8, 8]]
    targets = [np.array([[0, 0, 0, 8, 8], [2, 1, 1, 7, 7]]), np.zeros((0, 5))]
    pred = np.zeros((2, 1, 2, 2, 4))
    pred[..., 2:] = 1                              # tiny boxes at the origin: no overlap
    pred[0, 0, 1, 1] = [0, 0, 8, 8]                # one prediction lands on the first box
    t = ops.yolo_assign_targets(targets, anchors, 2, (16, 16), pred_boxes=pred)
    # Both boxes are centred in cell (0, 0) on the one anchor: the later row wins.
    assert t.positive[0].sum() == 1 and t.classes[0, 0, 0, 0] == 2
    np.testing.assert_allclose(t.boxes[0, 0, 0, 0], [0.5, 0.5, np.log(6 / 8), np.log(6 / 8)])
    assert sorted(zip(*np.nonzero(t.ignore))) == [(0, 0, 1, 1)]
    assert not t.positive[1].any() and not t.ignore[1].any()
    with pytest.raises(ValueError, match=r"pred_boxes must have shape \(2, 1, 2, 2, 4\)"):
        ops.yolo_assign_targets(targets, anchors, 2, (16, 16), pred_boxes=pred[:1])
    with pytest.raises(ValueError, match="ignore_threshold must be <= 1"):
        ops.yolo_assign_targets(targets, anchors, 2, (16, 16), ignore_threshold=2)


def _assign_loop(per_image, anchors, grid, stride, n):
    """A plain-loop assignment: the responsible (image, anchor, row, col) per box."""
    out = {}
    for k, boxes in enumerate(per_image):
        for c, x1, y1, x2, y2 in boxes:
            w, h = x2 - x1, y2 - y1
            ious = [min(w, aw) * min(h, ah) / (w * h + aw * ah - min(w, aw) * min(h, ah))
                    for aw, ah in anchors]
            a = int(np.argmax(ious))
            col = min(int((x1 + x2) / 2 // stride), grid - 1)
            row = min(int((y1 + y2) / 2 // stride), grid - 1)
            out[(k, a, row, col)] = c
    return out


def test_assignment_matches_a_plain_loop_on_random_boxes():
    rng = np.random.default_rng(3)
    anchors = np.array([[6.0, 6.0], [12.0, 8.0], [20.0, 24.0]])
    per_image = []
    for k in range(5):
        m = rng.integers(0, 6)
        xy, wh = rng.uniform(4, 44, (m, 2)), rng.uniform(2, 26, (m, 2))
        per_image.append(np.column_stack([rng.integers(0, 4, m), xy - wh / 2, xy + wh / 2]))
    targets = ops.pack_targets([p[:, 1:] for p in per_image],
                               [p[:, 0].astype(np.int64) for p in per_image],
                               dtype=np.float64)
    t = ops.yolo_assign_targets(targets, anchors, 6, (48, 48), num_classes=4)
    expected = _assign_loop(per_image, anchors, 6, 8, 5)
    assert sorted(zip(*np.nonzero(t.positive))) == sorted(expected)
    for key, c in expected.items():
        assert t.classes[key] == c


# ------------------------------------------------------------------ decoding
def _confident_output(num_anchors=2, num_classes=3, grid=4):
    out = np.full((1, num_anchors * (5 + num_classes), grid, grid), -12.0)
    for a in range(num_anchors):
        out[0, a * (5 + num_classes): a * (5 + num_classes) + 4] = 0.0   # centred, anchor size
    return out


def test_decode_one_detection_hand_computed():
    out = _confident_output()
    d = 5 + 3
    out[0, d + 4, 1, 2] = 3.0          # anchor 1 at row 1, column 2 sees an object
    out[0, d + 5 + 2, 1, 2] = 5.0      # of class 2
    (boxes, scores, classes), = ops.yolo_decode(out, [[4, 4], [8, 6]], 3, (32, 32))
    # cell (1, 2) of a 4x4 grid on 32x32 is centred at (20, 12); the anchor is 8 x 6
    np.testing.assert_allclose(boxes, [[16, 9, 24, 15]])
    p_class = np.exp(5) / (np.exp(5) + 2 * np.exp(-12))
    np.testing.assert_allclose(scores, [p_class / (1 + np.exp(-3))])
    np.testing.assert_array_equal(classes, [2])
    assert classes.dtype == np.int64 and boxes.dtype == np.float64


def test_decode_per_class_nms_and_thresholds():
    out = _confident_output(num_anchors=2, grid=2)
    d = 5 + 3
    # both anchors of cell (0, 0) predict (nearly) the same 6x6 box of class 0
    out[0, 2:4, 0, 0] = np.log(6 / 4)
    out[0, d + 2: d + 4, 0, 0] = np.log(6 / 5)
    out[0, [4, d + 4], 0, 0] = [2.0, 1.0]
    out[0, [5, d + 5], 0, 0] = 6.0
    out[0, [4, 5], 1, 1] = [0.0, 6.0]   # a weak one elsewhere: score about 0.5
    dets = ops.yolo_decode(out, [[4, 4], [5, 5]], 3, (16, 16))
    boxes, scores, _ = dets[0]
    assert len(scores) == 2 and np.all(np.diff(scores) < 0)     # NMS kept the better one
    np.testing.assert_allclose(boxes[0], [1, 1, 7, 7])
    # as different classes they no longer suppress each other
    out[0, [d + 5, d + 6], 0, 0] = [-12.0, 6.0]
    assert len(ops.yolo_decode(out, [[4, 4], [5, 5]], 3, (16, 16))[0][1]) == 3
    assert len(ops.yolo_decode(out, [[4, 4], [5, 5]], 3, (16, 16), conf_threshold=0.6)[0][1]) == 2
    assert len(ops.yolo_decode(out, [[4, 4], [5, 5]], 3, (16, 16), max_detections=1)[0][1]) == 1
    # boxes are clipped to the image
    out[0, 2, 1, 1] = 3.0
    b = ops.yolo_decode(out, [[4, 4], [5, 5]], 3, (16, 16), conf_threshold=0.3)[0][0]
    assert b.min() >= 0 and b.max() <= 16


def test_decode_bce_scores_and_errors():
    out = _confident_output(num_anchors=1, num_classes=2, grid=1)
    out[0, 4:7, 0, 0] = [0.0, 1.0, 2.0]
    (_, scores, classes), = ops.yolo_decode(out, [[1, 1]], 2, class_loss="bce",
                                            conf_threshold=0.0)
    np.testing.assert_allclose(scores, [0.5 / (1 + np.exp(-2.0))])
    assert classes[0] == 1
    with pytest.raises(ValueError, match=r"A \* \(5 \+ C\) = 1 \* 7 = 7 channels"):
        ops.yolo_decode(np.zeros((1, 8, 2, 2)), [[1, 1]], 2)
    with pytest.raises(ValueError, match="conf_threshold must be <= 1"):
        ops.yolo_decode(out, [[1, 1]], 2, conf_threshold=1.5)
    with pytest.raises(ValueError, match="class_loss must be"):
        ops.yolo_decode(out, [[1, 1]], 2, class_loss="focal")
    with pytest.raises(ValueError, match="output must be 4-D"):
        ops.yolo_decode(np.zeros((7, 2, 2)), [[1, 1]], 2)
    with pytest.raises(TypeError, match="output must be a float32 or float64"):
        ops.yolo_decode(np.zeros((1, 7, 2, 2), np.int64), [[1, 1]], 2)
