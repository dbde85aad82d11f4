"""Registrations of the detection ops (anchors, YOLO coding, loss and decoding, AP) for
the cross-cutting tests; see tests/_registry.py for the format.

The loss is NumPy over arrays of fixed shape; its one threaded kernel is box_iou (the
ignore mask), so the determinism case checks the loss and gradient across thread
counts on a map large enough for box_iou to split its work.
"""

import numpy as np

from pydl import metrics, nn, ops

ANCHORS = np.array([[10.0, 12.0], [20.0, 16.0]])


def _output(rng, n=2, grid=4, classes=3, dtype=np.float32):
    return rng.standard_normal((n, len(ANCHORS) * (5 + classes), grid, grid)).astype(dtype)


def _targets(rng, n=2, m=3, size=32.0, classes=3):
    xy = rng.uniform(4, size - 4, (n, m, 2))
    wh = rng.uniform(3, 14, (n, m, 2))
    t = np.concatenate([rng.integers(0, classes, (n, m, 1)), xy - wh / 2, xy + wh / 2], -1)
    t[0, -1, 0] = -1                                  # one padding row
    return t.astype(np.float32)


def _yolo_loss_case(n, grid):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        size = 8.0 * grid
        x = _output(rng, n, grid)
        t = _targets(rng, n, 6, size)
        loss, grad = ops.yolo_loss(x, t, ANCHORS, 3, (size, size), ignore_by="prediction")
        return [np.float64(loss), grad * (0.0 if zero else 1.0)]
    return run


DETERMINISM_CASES = {"yolo_loss-6x33x33": _yolo_loss_case(6, 33)}


def _loss_step():
    rng = np.random.default_rng(0)
    x, t = _output(rng), _targets(rng)
    crit = nn.YOLOLoss(ANCHORS, 3, (32, 32))

    def step():
        crit(x, t)
        crit.backward()
        ops.yolo_decode(x, ANCHORS, 3, (32, 32), conf_threshold=0.1)
    return step


LEAK_STEPS = {"detection.yolo_loss_decode": _loss_step}


def _boxes(rng, k, size=32.0):
    xy = rng.uniform(0, size - 10, (k, 2))
    return np.concatenate([xy, xy + rng.uniform(2, 10, (k, 2))], axis=1).astype(np.float32)


FUZZ_CALLS = {
    "ops.grid_anchors": lambda rng: (ops.grid_anchors, (4, ANCHORS.astype(np.float32)),
                                     {"image_size": (32, 32)}),
    "ops.wh_iou": lambda rng: (ops.wh_iou, (rng.uniform(1, 5, (3, 2)).astype(np.float32),
                                            ANCHORS.astype(np.float32)), {}),
    "ops.yolo_encode_boxes": lambda rng: (
        ops.yolo_encode_boxes, (_boxes(rng, 3), rng.uniform(2, 9, (3, 2)).astype(np.float32),
                                4), {"image_size": (32, 32)}),
    "ops.yolo_decode_boxes": lambda rng: (
        ops.yolo_decode_boxes, (rng.standard_normal((2, 2, 3, 4, 4)).astype(np.float32),
                                ANCHORS), {"image_size": (24, 32)}),
    "ops.yolo_assign_targets": lambda rng: (
        ops.yolo_assign_targets, (_targets(rng), ANCHORS, 4),
        {"image_size": (32, 32), "ignore_threshold": 0.3}),
    "ops.yolo_loss": lambda rng: (
        ops.yolo_loss, (_output(rng), _targets(rng), ANCHORS, 3),
        {"image_size": (32, 32), "lambda_noobj": 0.5, "class_loss": "bce"}),
    "ops.yolo_decode": lambda rng: (
        ops.yolo_decode, (_output(rng), ANCHORS, 3),
        {"image_size": (32, 32), "conf_threshold": 0.2, "iou_threshold": 0.5}),
    "nn.YOLOLoss": lambda rng: (nn.YOLOLoss(ANCHORS, 3, (32, 32)),
                                (_output(rng), _targets(rng)), {}),
    "metrics.average_precision": lambda rng: (
        metrics.average_precision, (_boxes(rng, 5), rng.random(5).astype(np.float32),
                                    _boxes(rng, 3)), {"iou_threshold": 0.5}),
    "metrics.mean_average_precision": lambda rng: (
        metrics.mean_average_precision,
        ([_boxes(rng, 5)], [rng.random(5)], [rng.integers(0, 2, 5)], [_boxes(rng, 3)],
         [rng.integers(0, 2, 3)]), {"iou_threshold": 0.4}),
}
