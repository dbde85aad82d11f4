"""average_precision and mean_average_precision: a hand-worked case, edge cases, and a
cross-check against an independent formula on random detections."""

import warnings

import numpy as np
import pytest

from pydl.metrics import (
    UndefinedMetricWarning,
    average_precision,
    mean_average_precision,
)
from pydl.ops import box_iou

# Two images, one class. Image A has ground truths g1 and g2, image B has g3.
TRUE = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float), np.array([[0, 0, 10, 10.0]])]
PRED = [np.array([[0, 0, 10, 10],        # d1 0.9: g1 exactly -> TP
                  [1, 0, 11, 10],        # d2 0.8: g1 at IoU 90/110 = 0.82, taken -> FP
                  [20, 25, 30, 35]],     # d5 0.5: g2 at IoU 50/150 = 0.33 -> FP
                 float),
        np.array([[50, 50, 60, 60],      # d3 0.7: nothing there -> FP
                  [0, 0, 10, 12.0]])]    # d4 0.6: g3 at IoU 100/120 = 0.83 -> TP
SCORES = [np.array([0.9, 0.8, 0.5]), np.array([0.7, 0.6])]


def test_average_precision_hand_computed():
    # By score: d1 TP, d2 FP, d3 FP, d4 TP, d5 FP; 3 ground truths.
    #   precision 1, 1/2, 1/3, 2/4, 2/5;  recall 1/3, 1/3, 1/3, 2/3, 2/3
    # Made monotone from the right the precisions are 1, .5, .5, .5, .4. Recall rises
    # 0 -> 1/3 at precision 1 and 1/3 -> 2/3 at precision 0.5, and never reaches 1:
    #   AP = 1/3 * 1 + 1/3 * 0.5 = 0.5
    assert average_precision(PRED, SCORES, TRUE) == pytest.approx(0.5, abs=1e-15)
    # At IoU 0.3 d5 matches g2 (0.33): recall 1 at rank 5 with precision 3/5:
    #   AP = 1/3 * 1 + 1/3 * 0.6 + 1/3 * 0.6 = 11/15
    assert average_precision(PRED, SCORES, TRUE, iou_threshold=0.3) == pytest.approx(11 / 15)
    # At 0.9 only d1 matches: AP = 1/3
    assert average_precision(PRED, SCORES, TRUE, iou_threshold=0.9) == pytest.approx(1 / 3)


def test_one_image_arrays_and_exact_threshold():
    # one image given as plain arrays; IoU exactly 0.5 counts as a match (>=)
    true = np.array([[0, 0, 4, 1.0]])
    pred = np.array([[0, 0, 2, 1.0]])
    assert average_precision(pred, np.array([1.0]), true) == 1.0
    assert average_precision(pred, np.array([1.0]), true, iou_threshold=0.51) == 0.0


def test_perfect_and_order_of_false_positives():
    # all found, one false positive scored last: precision stays 1 up to recall 1
    true = [np.array([[0, 0, 5, 5], [10, 10, 15, 15.0]])]
    pred = [np.array([[0, 0, 5, 5], [10, 10, 15, 15], [30, 30, 35, 35.0]])]
    assert average_precision(pred, [np.array([0.9, 0.8, 0.1])], true) == 1.0
    # the false positive first: precision 1/2 at recall 1/2, 2/3 at recall 1, made
    # monotone 2/3 everywhere: AP = 2/3
    assert average_precision(pred, [np.array([0.9, 0.8, 0.95])], true) == pytest.approx(2 / 3)


def test_edge_cases():
    # ground truth but no detections: 0
    assert average_precision([np.zeros((0, 4))], [np.zeros(0)], TRUE[:1]) == 0.0
    assert average_precision([[]], [[]], TRUE[:1]) == 0.0
    assert mean_average_precision([[]], [[]], [[]], TRUE[:1], [[0, 0]]) == 0.0
    # no ground truth: NaN, warned
    with pytest.warns(UndefinedMetricWarning, match="no ground-truth box"):
        assert np.isnan(average_precision(PRED[:1], SCORES[:1], [np.zeros((0, 4))]))
    # detections only in an image without ground truth are false positives
    ap = average_precision([np.zeros((0, 4)), np.array([[0, 0, 1, 1.0]])],
                           [np.zeros(0), np.array([0.99])],
                           [np.array([[0, 0, 1, 1.0]]), np.zeros((0, 4))])
    assert ap == 0.0


def test_mean_average_precision_hand_computed():
    # class 0: the case above (AP 0.5); class 1: one box found (AP 1); class 2: a
    # detection but no ground truth, left out of the mean. mAP = (0.5 + 1) / 2.
    pred = [np.concatenate([PRED[0], [[40, 40, 50, 50]]]), np.concatenate([PRED[1],
                                                                          [[5, 5, 9, 9]]])]
    scores = [np.concatenate([SCORES[0], [0.3]]), np.concatenate([SCORES[1], [0.99]])]
    pred_labels = [np.array([0, 0, 0, 1]), np.array([0, 0, 2])]
    true = [np.concatenate([TRUE[0], [[40, 40, 50, 50]]]), TRUE[1]]
    true_labels = [np.array([0, 0, 1]), np.array([0])]
    m, per_class = mean_average_precision(pred, scores, pred_labels, true, true_labels,
                                          return_per_class=True)
    assert m == pytest.approx(0.75)
    assert per_class[0] == pytest.approx(0.5) and per_class[1] == 1.0
    assert np.isnan(per_class[2])
    # num_classes only checks the range of the labels
    assert mean_average_precision(pred, scores, pred_labels, true, true_labels,
                                  num_classes=3) == pytest.approx(0.75)


def test_mean_average_precision_without_any_ground_truth():
    with pytest.warns(UndefinedMetricWarning, match="mAP is undefined"):
        m = mean_average_precision(PRED, SCORES, [np.zeros(3, int), np.zeros(2, int)],
                                   [np.zeros((0, 4))] * 2, [np.zeros(0, int)] * 2)
    assert np.isnan(m)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # nothing to warn about with ground truth
        mean_average_precision([np.zeros((0, 4))], [np.zeros(0)], [np.zeros(0, int)],
                               TRUE[:1], [np.zeros(2, int)])


def _ap_by_definition(pred, scores, true, thr):
    """AP as (1/G) * sum over true positives of the best precision at or after them
    (the all-point interpolation, written another way), with a plain greedy match."""
    dets = sorted(((s, i, k) for i, sc in enumerate(scores) for k, s in enumerate(sc)),
                  key=lambda d: -d[0])
    taken = [set() for _ in true]
    hits = []
    for _, i, k in dets:
        hit = False
        if len(true[i]):
            iou = box_iou(pred[i][k:k + 1], true[i])[0]
            j = int(np.argmax(iou))
            if iou[j] >= thr and j not in taken[i]:
                taken[i].add(j)
                hit = True
        hits.append(hit)
    tp = np.cumsum(hits)
    prec = tp / np.arange(1, len(hits) + 1)
    n_true = sum(len(t) for t in true)
    return sum(prec[r:].max() for r in range(len(hits)) if hits[r]) / n_true


@pytest.mark.parametrize("seed", range(5))
def test_matches_independent_formula_on_random_detections(seed):
    rng = np.random.default_rng(seed)
    true, pred, scores = [], [], []
    for _ in range(4):
        g = rng.uniform(0, 50, (rng.integers(0, 5), 2))
        t = np.concatenate([g, g + rng.uniform(5, 15, g.shape)], axis=1)
        jitter = rng.normal(0, 2, (len(t), 4))
        extra = rng.uniform(0, 50, (rng.integers(0, 4), 2))
        p = np.concatenate([t + jitter, np.concatenate([extra, extra + 8], axis=1)])
        p[:, 2:] = np.maximum(p[:, 2:], p[:, :2])
        true.append(t)
        pred.append(p)
        scores.append(rng.random(len(p)))
    if sum(len(t) for t in true) == 0:
        pytest.skip("no ground truth drawn")
    for thr in (0.3, 0.5, 0.7):
        assert average_precision(pred, scores, true, thr) == pytest.approx(
            _ap_by_definition(pred, scores, true, thr), abs=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="scores has 1 images but pred_boxes has 2"):
        average_precision(PRED, SCORES[:1], TRUE)
    with pytest.raises(ValueError, match=r"scores\[0\] has 2 entries but pred_boxes\[0\] "
                                         r"has 3"):
        average_precision(PRED, [SCORES[0][:2], SCORES[1]], TRUE)
    with pytest.raises(ValueError, match=r"pred_boxes\[0\] must have shape \(N, 4\)"):
        average_precision([np.zeros((2, 3))], [np.zeros(2)], [np.zeros((0, 4))])
    with pytest.raises(ValueError, match=r"scores\[0\] must be finite"):
        average_precision(PRED, [np.array([np.nan, 1, 1]), SCORES[1]], TRUE)
    with pytest.raises(ValueError, match="iou_threshold must be <= 1"):
        average_precision(PRED, SCORES, TRUE, iou_threshold=1.5)
    with pytest.raises(TypeError, match="pred_boxes must be a list"):
        average_precision("boxes", SCORES, TRUE)
    labels = [np.zeros(3, int), np.zeros(2, int)]
    with pytest.raises(ValueError, match=r"pred_labels\[0\] must be a 1-D array of integer"):
        mean_average_precision(PRED, SCORES, [np.zeros(3), np.zeros(2)], TRUE, labels)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\)"):
        mean_average_precision(PRED, SCORES, [np.ones(3, int), np.zeros(2, int)], TRUE,
                               [np.zeros(2, int), np.zeros(1, int)], num_classes=1)
    for bad in (2.5, 0):
        with pytest.raises((TypeError, ValueError), match="num_classes"):
            mean_average_precision(PRED, SCORES, labels, TRUE, [np.zeros(2, int),
                                                                np.zeros(1, int)],
                                   num_classes=bad)
    with pytest.raises(ValueError, match=r"true_labels\[1\] has 2 entries but true_boxes"):
        mean_average_precision(PRED, SCORES, labels, TRUE, [np.zeros(2, int)] * 2)
