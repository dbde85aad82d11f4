"""Multi-label precision, recall, F-scores and subset accuracy on 2-D label-indicator
arrays (issue 17, item 12), against scikit-learn."""

import warnings

import numpy as np
import pytest

from pydl import metrics as M

AVERAGES = [None, "micro", "macro", "weighted", "samples"]


@pytest.fixture
def skm():
    return pytest.importorskip("sklearn.metrics")


def _case(seed):
    """Random indicator arrays with the edge cases mixed in: a label nobody has or
    predicts, a sample with no label and no prediction, a zero sample weight."""
    rng = np.random.default_rng(seed)
    n, n_labels = int(rng.integers(1, 12)), int(rng.integers(2, 6))
    y_true = (rng.random((n, n_labels)) < rng.random()).astype(np.int64)
    y_pred = (rng.random((n, n_labels)) < rng.random()).astype(np.int64)
    if seed % 5 == 0:
        y_true[:, 0] = y_pred[:, 0] = 0
    if seed % 7 == 0:
        y_true[0] = y_pred[0] = 0
    weight = rng.random(n) if seed % 2 else None
    if seed % 11 == 0 and weight is not None and n > 1:
        weight[0] = 0
    labels = None if seed % 3 else [int(i) for i in rng.permutation(n_labels)[:-1]]
    return y_true, y_pred, weight, labels


def _assert_same(ours, theirs):
    for a, b in zip(ours, theirs):
        if a is None or b is None:
            assert a is None and b is None
        else:
            np.testing.assert_allclose(a, b, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("seed", range(60))
def test_precision_recall_fscore_support_match_scikit_learn(seed, skm):
    y_true, y_pred, weight, labels = _case(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for zero_division in ("warn", 0, 1, np.nan):
            for average in AVERAGES:
                kw = {"average": average, "sample_weight": weight, "labels": labels,
                      "zero_division": zero_division}
                _assert_same(M.precision_recall_fscore_support(y_true, y_pred, **kw),
                             skm.precision_recall_fscore_support(y_true, y_pred, **kw))


@pytest.mark.parametrize("average", AVERAGES)
def test_the_score_functions_match_scikit_learn(average, skm):
    rng = np.random.default_rng(5)
    y_true, y_pred = rng.random((9, 4)) < 0.4, rng.random((9, 4)) < 0.5
    y_true[:, 3] = y_pred[0] = False  # a label nobody has, a sample with no prediction
    weight = rng.random(9)
    for ours, theirs in ((M.precision, skm.precision_score), (M.recall, skm.recall_score),
                         (M.f1_score, skm.f1_score)):
        np.testing.assert_allclose(ours(y_true, y_pred, average=average, zero_division=0),
                                   theirs(y_true, y_pred, average=average, zero_division=0),
                                   atol=1e-12)
    np.testing.assert_allclose(
        M.fbeta_score(y_true, y_pred, beta=2.0, average=average, sample_weight=weight,
                      zero_division=1),
        skm.fbeta_score(y_true, y_pred, beta=2.0, average=average, sample_weight=weight,
                        zero_division=1), atol=1e-12)


def test_a_hand_computed_case():
    y_true = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    y_pred = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 0]])
    # per label: tp (2, 1, 0), predicted (2, 1, 1), true (2, 2, 1)
    p, r, f, s = M.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    np.testing.assert_allclose(p, [1, 1, 0])
    np.testing.assert_allclose(r, [1, 0.5, 0])
    np.testing.assert_allclose(f, [1, 2 / 3, 0])
    np.testing.assert_array_equal(s, [2, 2, 1])
    assert s.dtype == np.int64
    assert M.precision(y_true, y_pred, average="micro") == pytest.approx(3 / 4)
    assert M.recall(y_true, y_pred, average="micro") == pytest.approx(3 / 5)
    # per sample: precision (1, 1/2, 1), recall (1/2, 1, 1/2)
    assert M.precision(y_true, y_pred, average="samples") == pytest.approx(5 / 6)
    assert M.recall(y_true, y_pred, average="samples") == pytest.approx(2 / 3)
    assert M.recall(y_true, y_pred, average="weighted") == pytest.approx((2 + 1 + 0) / 5)
    np.testing.assert_allclose(M.recall(y_true, y_pred, labels=[2, 0], average=None), [0, 1])


def test_bool_and_float_indicator_arrays_give_the_same_scores():
    y_true, y_pred, _, _ = _case(4)
    for cast in (bool, np.float32, np.uint8):
        assert M.f1_score(y_true.astype(cast), y_pred.astype(cast), average="samples",
                          zero_division=0) == M.f1_score(y_true, y_pred, average="samples",
                                                         zero_division=0)


def test_subset_accuracy_matches_scikit_learn(skm):
    for seed in range(10):
        y_true, y_pred, weight, _ = _case(seed)
        y_pred[: len(y_pred) // 2] = y_true[: len(y_pred) // 2]
        assert M.accuracy(y_true, y_pred, sample_weight=weight) == pytest.approx(
            skm.accuracy_score(y_true, y_pred, sample_weight=weight), abs=1e-12)
        assert M.zero_one_loss(y_true, y_pred, normalize=False) == pytest.approx(
            skm.zero_one_loss(y_true, y_pred, normalize=False), abs=1e-12)


def test_a_column_of_labels_is_one_dimensional(skm):
    y_true, y_pred = np.array([[0], [1], [1], [0]]), np.array([[0], [1], [0], [0]])
    assert M.f1_score(y_true, y_pred) == pytest.approx(skm.f1_score(y_true, y_pred))


def test_samples_average_warns_per_sample():
    with pytest.warns(M.UndefinedMetricWarning, match="in samples with no predicted labels"):
        assert M.precision([[1, 0], [0, 1]], [[1, 0], [0, 0]], average="samples") == 0.5


def test_bad_multilabel_input():
    y = np.array([[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="multilabel-indicator but average='binary'"):
        M.f1_score(y, y)
    with pytest.raises(ValueError, match="average='samples' needs multi-label targets"):
        M.f1_score([0, 1], [0, 1], average="samples")
    with pytest.raises(ValueError, match="y_pred must be a 1-D array of labels or.*2-D"):
        M.f1_score(y, [0, 1], average="macro")
    with pytest.raises(ValueError, match="same number of labels .columns., got 2 and 3"):
        M.f1_score(y, np.zeros((2, 3)), average="macro")
    with pytest.raises(ValueError, match="must hold only 0 and 1.*threshold them"):
        M.f1_score(y, np.full((2, 2), 0.7), average="macro")
    with pytest.raises(ValueError, match="must hold only 0 and 1"):
        M.f1_score(y, np.array([[2, 0], [0, 1]]), average="macro")
    with pytest.raises(TypeError, match="y_true must be an array of kind"):
        M.f1_score(np.array([["a", "b"], ["b", "a"]]), y, average="macro")
    with pytest.raises(ValueError, match=r"column indices: ints in \[0, 2\), got \[0, 2\]"):
        M.f1_score(y, y, average="macro", labels=[0, 2])
    with pytest.raises(ValueError, match="column indices"):
        M.f1_score(y, y, average=None, labels=["a"])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        M.f1_score(y, y, average="samples", sample_weight=[1, 2, 3])
    with pytest.raises(ValueError, match="must hold only 0 and 1"):
        M.accuracy(y, np.array([[np.nan, 0], [0, 1]]))
    for labels in (y, [0, 1]):      # was a ZeroDivisionError from np.average
        with pytest.raises(ValueError, match="sample_weight sums to 0"):
            M.accuracy(labels, labels, sample_weight=[0, 0])
        assert M.accuracy(labels, labels, sample_weight=[0, 0], normalize=False) == 0
