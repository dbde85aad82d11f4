import numpy as np
import pytest

import pydl
from pydl import ops
from pydl import reference as R


def _random_boxes(rng, n, dtype, span=100.0, size=20.0):
    xy = rng.random((n, 2)) * span
    wh = rng.random((n, 2)) * size
    return np.concatenate([xy, xy + wh], axis=1).astype(dtype)


def test_box_iou_hand_computed():
    a = np.array([[0, 0, 2, 2], [0, 0, 4, 4], [5, 5, 5, 5]], np.float64)
    b = np.array([[0, 0, 2, 2],      # identical to a[0]
                  [1, 0, 3, 2],      # half of a[0]: inter 2, union 6
                  [2, 0, 4, 2],      # touches a[0]: inter 0
                  [1, 1, 3, 3],      # a[0]: inter 1, union 7; inside a[1]: 4 / 16
                  [5, 5, 5, 5],      # zero area, equal to a[2]
                  [4, 4, 6, 6]],     # zero-area a[2] inside it
                 np.float64)
    iou = ops.box_iou(a, b)
    expected = np.array([[1, 1 / 3, 0, 1 / 7, 0, 0],
                         [1 / 4, 1 / 4, 1 / 4, 1 / 4, 0, 0],
                         [0, 0, 0, 0, np.nan, 0]])
    np.testing.assert_allclose(iou, expected, rtol=1e-15)   # NaN where torchvision's 0/0 is
    assert iou.shape == (3, 6) and iou.dtype == np.float64


@pytest.mark.parametrize("n,m", [(37, 23), (1, 1), (0, 5), (5, 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_box_iou_matches_reference_bitwise(n, m, dtype):
    rng = np.random.default_rng(n * 100 + m)
    a, b = _random_boxes(rng, n, dtype), _random_boxes(rng, m, dtype)
    b[: m // 2] = np.round(b[: m // 2])
    iou = ops.box_iou(a, b)
    assert iou.dtype == dtype and iou.shape == (n, m)
    np.testing.assert_array_equal(iou, R.box_iou(a, b))


def test_box_iou_dtypes_and_threads():
    rng = np.random.default_rng(0)
    a = _random_boxes(rng, 300, np.float32)
    assert ops.box_iou(a.astype(np.int64), a.astype(np.int64)).dtype == np.float64
    assert ops.box_iou(a, a.astype(np.float64)).dtype == np.float64
    runs = []
    for n in (1, 2, 3):
        with pydl.threads(n):
            runs.append(ops.box_iou(a, a))
    assert all(np.array_equal(runs[0], r) for r in runs[1:])
    np.testing.assert_allclose(np.diag(runs[0]), 1, rtol=1e-6)
    np.testing.assert_allclose(ops.box_area(a), (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))


def test_nms_hand_computed():
    boxes = np.array([[0, 0, 10, 10],        # 0: kept (best)
                      [1, 1, 11, 11],        # 1: IoU 81/119 with 0 -> suppressed
                      [20, 20, 30, 30]],     # 2: disjoint -> kept
                     np.float32)
    scores = np.array([0.9, 0.8, 0.85], np.float32)
    np.testing.assert_array_equal(ops.nms(boxes, scores, 0.5), [0, 2])
    np.testing.assert_array_equal(ops.nms(boxes, scores, 0.7), [0, 2, 1])
    assert ops.nms(boxes, scores, 0.5).dtype == np.int64


def test_nms_suppressed_box_does_not_suppress():
    # 1 overlaps 0 and 2 (IoU 1/3 each); 0 and 2 only touch. 0 suppresses 1, so 2 survives.
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10]], np.float64)
    np.testing.assert_array_equal(ops.nms(boxes, np.array([3.0, 2.0, 1.0]), 0.3), [0, 2])


def test_nms_iou_exactly_at_threshold_is_kept():
    boxes = np.array([[0, 0, 4, 1], [0, 0, 2, 1]], np.float32)     # IoU exactly 0.5
    scores = np.array([1.0, 0.5], np.float32)
    np.testing.assert_array_equal(ops.nms(boxes, scores, 0.5), [0, 1])
    np.testing.assert_array_equal(ops.nms(boxes, scores, 0.4999), [0])


def test_nms_ties_keep_the_lower_index():
    boxes = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [5, 5, 6, 6], [5, 5, 6, 6]], np.float32)
    scores = np.array([0.5, 0.5, 0.7, 0.7], np.float32)
    np.testing.assert_array_equal(ops.nms(boxes, scores, 0.5), [2, 0])


def test_nms_zero_area_boxes_never_suppress():
    boxes = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 2, 2], [3, 3, 3, 5]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    np.testing.assert_array_equal(ops.nms(boxes, scores, 0.0), [0, 1, 2, 3])


def test_nms_empty_and_single():
    assert ops.nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).shape == (0,)
    np.testing.assert_array_equal(
        ops.nms(np.array([[0, 0, 1, 1]], np.float32), np.array([0.1]), 0.5), [0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("thr", [0.0, 0.3, 0.7])
def test_nms_matches_reference(dtype, thr):
    rng = np.random.default_rng(int(thr * 10))
    boxes = _random_boxes(rng, 120, dtype, span=50.0)
    boxes[:40] = np.round(boxes[:40])                      # exact ties of IoU
    scores = np.round(rng.random(120), 1).astype(dtype)    # many tied scores
    keep = ops.nms(boxes, scores, thr)
    np.testing.assert_array_equal(keep, R.nms(boxes, scores, thr))
    assert np.all(np.diff(scores[keep].astype(np.float64)) <= 0)
    kept = boxes[keep]
    iou = ops.box_iou(kept, kept)
    assert not np.any(iou[np.triu_indices(len(keep), 1)] > thr)   # NaN: zero-area pairs


def test_batched_nms():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]],
                     np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.95], np.float32)
    idxs = np.array([0, 0, 1, 0])
    # box 2 overlaps box 0 fully but is in another category
    np.testing.assert_array_equal(ops.batched_nms(boxes, scores, idxs, 0.5), [3, 0, 2])
    assert ops.batched_nms(boxes[:0], scores[:0], idxs[:0], 0.5).shape == (0,)


class TestValidation:
    def test_boxes(self):
        s = np.ones(2, np.float32)
        with pytest.raises(ValueError, match=r"boxes must have shape \(N, 4\)"):
            ops.nms(np.zeros((2, 3), np.float32), s, 0.5)
        with pytest.raises(ValueError, match=r"boxes1 must have shape \(N, 4\)"):
            ops.box_iou(np.zeros(4), np.zeros((1, 4)))
        with pytest.raises(ValueError, match="boxes must be finite"):
            ops.nms(np.array([[0, 0, 1, np.nan], [0, 0, 1, 1]]), s, 0.5)
        with pytest.raises(ValueError, match="boxes2 must be finite"):
            ops.box_iou(np.zeros((1, 4)), np.array([[0, 0, np.inf, 1]]))
        with pytest.raises(ValueError, match=r"boxes\[1\] = .* x1 <= x2 and y1 <= y2"):
            ops.nms(np.array([[0, 0, 1, 1], [2, 0, 1, 1]]), s, 0.5)
        with pytest.raises(TypeError, match="real \\(float or integer\\) array"):
            ops.box_iou(np.zeros((1, 4), bool), np.zeros((1, 4)))
        with pytest.raises(TypeError, match="real \\(float or integer\\) array"):
            ops.box_iou(np.zeros((1, 4), complex), np.zeros((1, 4)))
        with pytest.raises(TypeError, match="must be a numpy array"):
            ops.box_area("boxes")

    def test_scores_and_threshold(self):
        b = np.array([[0, 0, 1, 1], [0, 0, 2, 2]], np.float32)
        with pytest.raises(ValueError, match=r"scores must have shape \(2,\)"):
            ops.nms(b, np.ones(3), 0.5)
        with pytest.raises(ValueError, match="scores must be finite"):
            ops.nms(b, np.array([np.nan, 1.0]), 0.5)
        with pytest.raises(ValueError, match="iou_threshold must be finite"):
            ops.nms(b, np.ones(2), float("nan"))
        with pytest.raises(TypeError, match="iou_threshold must be a real number"):
            ops.nms(b, np.ones(2), None)
        with pytest.raises(ValueError, match="idxs must be an integer array"):
            ops.batched_nms(b, np.ones(2), np.zeros(2), 0.5)


def test_nms_and_batched_nms_default_iou_threshold_is_half():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 4, 1], [0, 0, 2, 1]],
                     np.float32)           # IoU 81/119 = 0.68, and exactly 0.5 (kept)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    np.testing.assert_array_equal(ops.nms(boxes, scores), ops.nms(boxes, scores, 0.5))
    np.testing.assert_array_equal(ops.nms(boxes, scores), [0, 2, 3])
    idxs = np.array([0, 1, 0, 0])
    np.testing.assert_array_equal(ops.batched_nms(boxes, scores, idxs), [0, 1, 2, 3])
