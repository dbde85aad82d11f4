"""The detection example: a tiny run trains end to end, its loss falls, it is scored
with mAP and writes the PNG. (The mAP >= 0.8 claim is for the default run.)"""

import numpy as np
import pytest

from pydl.examples import detection


def test_shapes_data_set():
    rng = np.random.default_rng(0)
    x, boxes, labels = detection.make_shapes(20, rng)
    assert x.shape == (20, 3, 64, 64) and x.dtype == np.float32
    counts = [len(b) for b in boxes]
    assert min(counts) >= 1 and max(counts) <= detection.MAX_OBJECTS and len(set(counts)) > 1
    all_boxes, all_labels = np.concatenate(boxes), np.concatenate(labels)
    assert set(all_labels) == {0, 1, 2}
    sizes = all_boxes[:, 2:] - all_boxes[:, :2]
    assert sizes.min() >= 10 and sizes.max() <= 28 and len(np.unique(sizes)) > 3
    assert all_boxes.min() >= 0 and all_boxes.max() <= 64
    # a shape is brighter than the background where it is drawn: a square fills its box
    k = int(np.argmax(all_labels == 0))
    img = int(np.searchsorted(np.cumsum(counts), k, side="right"))
    x1, y1, x2, y2 = boxes[img][k - sum(counts[:img])].astype(int)
    inside = x[img][:, y1:y2, x1:x2].mean()
    assert inside > 0.4


@pytest.mark.parametrize("size", [10, 11, 27, 28])
def test_every_shape_fills_its_box_tightly(size):
    yy, xx = np.mgrid[0:size, 0:size]
    for kind in range(3):
        mask = detection._shape_mask(kind, size, yy, xx)
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert (rows[0], rows[-1], cols[0], cols[-1]) == (0, size - 1, 0, size - 1), kind


def test_tiny_run_trains_scores_and_plots(tmp_path):
    res = detection.run(epochs=3, steps_per_epoch=2, batch_size=4, width=4, n_test=8,
                        verbose=False)
    losses = res["history"]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert 0.0 <= res["map"] <= 1.0
    assert set(res["per_class_ap"]) <= {0, 1, 2}
    pytest.importorskip("matplotlib")
    dets = detection.detect(res["model"], res["test"][0][:2], conf_threshold=0.05)
    assert min(len(d[0]) for d in dets) > 3      # so max_boxes=3 below does cap them
    png = detection.plot_detections(res["model"], res["test"][0], tmp_path / "det.png",
                                    conf_threshold=0.05, n=2, max_boxes=3)
    assert png.stat().st_size > 10_000


def test_main_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "boxes.png"
    res = detection.main(["--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4",
                          "--width", "4", "--n-test", "4", "--png", str(out)])
    assert out.exists() and np.isfinite(res["history"][0])
