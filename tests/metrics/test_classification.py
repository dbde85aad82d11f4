import warnings

import numpy as np
import pytest

from pydl import metrics as M

@pytest.fixture
def skm():
    return pytest.importorskip("sklearn.metrics")


def _labels(seed, n=60, k=4, kind="int"):
    rng = np.random.default_rng(seed)
    yt, yp = rng.integers(0, k, n), rng.integers(0, k, n)
    yp[: n // 2] = yt[: n // 2]  # better than chance
    if kind == "str":
        names = np.array(["cat", "dog", "pig", "owl", "ant"])[:k]
        return names[yt], names[yp]
    return yt, yp


def _weights(seed, n=60):
    return np.random.default_rng(seed + 100).random(n)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", ["int", "str"])
@pytest.mark.parametrize("weighted", [False, True])
def test_scores_match_scikit_learn(seed, kind, weighted, skm):
    yt, yp = _labels(seed, kind=kind)
    sw = _weights(seed) if weighted else None
    assert M.accuracy(yt, yp, sample_weight=sw) == pytest.approx(
        skm.accuracy_score(yt, yp, sample_weight=sw), abs=1e-12)
    assert M.accuracy(yt, yp, normalize=False, sample_weight=sw) == pytest.approx(
        skm.accuracy_score(yt, yp, normalize=False, sample_weight=sw), abs=1e-12)
    for normalize in (True, False):
        assert M.zero_one_loss(yt, yp, normalize=normalize, sample_weight=sw) == \
            pytest.approx(skm.zero_one_loss(yt, yp, normalize=normalize, sample_weight=sw),
                          abs=1e-12)
    for average in (None, "micro", "macro", "weighted"):
        for ours, theirs in ((M.precision, skm.precision_score), (M.recall, skm.recall_score),
                             (M.f1_score, skm.f1_score)):
            np.testing.assert_allclose(ours(yt, yp, average=average, sample_weight=sw),
                                       theirs(yt, yp, average=average, sample_weight=sw),
                                       atol=1e-12)
    np.testing.assert_allclose(M.fbeta_score(yt, yp, beta=0.5, average="macro"),
                               skm.fbeta_score(yt, yp, beta=0.5, average="macro"), atol=1e-12)


@pytest.mark.parametrize("pos_label", [0, 1])
def test_binary_matches_scikit_learn(pos_label, skm):
    yt, yp = _labels(0, k=2)
    for ours, theirs in ((M.precision, skm.precision_score), (M.recall, skm.recall_score),
                         (M.f1_score, skm.f1_score)):
        assert ours(yt, yp, pos_label=pos_label) == pytest.approx(
            theirs(yt, yp, pos_label=pos_label), abs=1e-12)
    yt, yp = np.array([True, False, True, True]), np.array([True, True, False, True])
    assert M.f1_score(yt, yp) == pytest.approx(skm.f1_score(yt, yp))


def test_labels_argument_selects_and_orders(skm):
    yt, yp = _labels(1, k=5)
    for average in (None, "micro", "macro", "weighted"):
        np.testing.assert_allclose(
            M.f1_score(yt, yp, labels=[3, 1], average=average),
            skm.f1_score(yt, yp, labels=[3, 1], average=average), atol=1e-12)
    np.testing.assert_array_equal(M.confusion_matrix(yt, yp, labels=[4, 0, 2]),
                                  skm.confusion_matrix(yt, yp, labels=[4, 0, 2]))


@pytest.mark.parametrize("normalize", [None, "true", "pred", "all"])
@pytest.mark.parametrize("weighted", [False, True])
def test_confusion_matrix_matches_scikit_learn(normalize, weighted, skm):
    yt, yp = _labels(2, k=4)
    yp[yp == 3] = 2  # class 3 never predicted: a zero column
    sw = _weights(2) if weighted else None
    ours = M.confusion_matrix(yt, yp, sample_weight=sw, normalize=normalize)
    theirs = skm.confusion_matrix(yt, yp, sample_weight=sw, normalize=normalize)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    assert ours.dtype == theirs.dtype or normalize is not None or weighted


def test_confusion_matrix_counts():
    cm = M.confusion_matrix([0, 1, 2, 2, 1], [0, 2, 2, 2, 0])
    np.testing.assert_array_equal(cm, [[1, 0, 0], [1, 0, 1], [0, 0, 2]])
    assert cm.dtype == np.int64


@pytest.mark.parametrize("zero_division", ["warn", 0, 1, np.nan])
def test_zero_division_matches_scikit_learn(zero_division, skm):
    yt, yp = np.array([0, 1, 1, 2]), np.array([0, 0, 0, 0])  # 1 and 2 never predicted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for average in (None, "macro", "weighted", "micro"):
            for ours, theirs in ((M.precision, skm.precision_score),
                                 (M.recall, skm.recall_score), (M.f1_score, skm.f1_score)):
                np.testing.assert_allclose(
                    ours(yt, yp, average=average, zero_division=zero_division),
                    theirs(yt, yp, average=average, zero_division=zero_division), atol=1e-12)


def test_zero_division_warns():
    with pytest.warns(M.UndefinedMetricWarning, match="Precision is ill-defined"):
        assert M.precision([0, 1], [0, 0], average="macro") == 0.25


def test_bad_input():
    with pytest.raises(ValueError, match="inconsistent numbers of samples: y_true has 3, "
                                         "y_pred has 2"):
        M.accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="y_true is empty"):
        M.accuracy([], [])
    with pytest.raises(ValueError, match="1-D array of labels.*argmax"):
        M.accuracy(np.zeros(3), np.zeros((3, 4)).T.T)
    with pytest.raises(ValueError, match="target is multiclass .* average='binary'"):
        M.f1_score([0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="pos_label=1 is not a valid label"):
        M.precision(["a", "b"], ["a", "b"])
    with pytest.raises(ValueError, match="average must be one of"):
        M.recall([0, 1], [0, 1], average="samples2")
    with pytest.raises(ValueError, match="contains NaN"):
        M.accuracy(np.array([0.0, np.nan]), np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="y_pred must be an array of kind"):
        M.accuracy(np.array([1, 2]), np.array([1j, 2j]))
    with pytest.raises(ValueError, match="zero_division must be"):
        M.f1_score([0, 1], [0, 1], zero_division=2)
    with pytest.raises(ValueError, match="normalize must be one of"):
        M.confusion_matrix([0], [0], normalize="rows")
    with pytest.raises(ValueError, match="sample_weight must be >= 0"):
        M.accuracy([0, 1], [0, 1], sample_weight=[1, -1])
