"""Registrations of the ONNX importer for the determinism and leak tests (see
tests/_registry.py): a model loaded by pydl.onnx.load, trained through the tape.
Nothing is registered where onnx is not installed."""

import numpy as np

import pydl


def _graph():
    """A loaded DAG: asymmetric-pad Conv, BatchNorm, ReLU, a residual Add, global
    average pooling, a Reshape from the input's shape, Gemm, and an LSTM branch."""
    import onnx
    from onnx import helper, numpy_helper

    import pydl.onnx

    rng = np.random.default_rng(0)

    def rand(*shape):
        return (rng.standard_normal(shape) * 0.5).astype(np.float32)

    inits = {"w": rand(4, 3, 3, 3), "b": rand(4), "s": rand(4) + 1, "bb": rand(4),
             "m": rand(4), "v": np.abs(rand(4)) + 0.5, "fc": rand(5, 4), "fcb": rand(5),
             "zero": np.array([0], np.int64), "minus1": np.array([-1], np.int64),
             "W": rand(1, 12, 4), "R": rand(1, 12, 4)}
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 0, 1, 2]),
        helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"]),
        helper.make_node("Relu", ["n"], ["r"]),
        helper.make_node("Add", ["r", "n"], ["a"]),
        helper.make_node("GlobalAveragePool", ["a"], ["g"]),
        helper.make_node("Shape", ["g"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Concat", ["batch", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["g", "target"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "fcb"], ["logits"], transB=1),
        # the conv map's rows as a sequence: (N, 4, H, W) -> mean over W -> (H, N, 4)
        helper.make_node("ReduceMean", ["a"], ["rows"], axes=[3], keepdims=0),
        helper.make_node("Transpose", ["rows"], ["seq"], perm=[2, 0, 1]),
        helper.make_node("GRU", ["seq", "W", "R"], ["Y", "Y_h"], hidden_size=4,
                         linear_before_reset=1),
        helper.make_node("Squeeze", ["Y_h", "zero"], ["h"]),
        helper.make_node("Concat", ["logits", "h"], ["y"], axis=1),
    ]
    float_ = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", float_, ["N", 3, 6, 5])],
        [helper.make_tensor_value_info("y", float_, ["N", 9])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return pydl.onnx.load(model)


def _determinism_case(seed, zero):
    model = _graph()
    model.train()
    rng = np.random.default_rng(seed)
    x = pydl.tensor(rng.standard_normal((3, 3, 6, 5)).astype(np.float32), requires_grad=True)
    y = model(x)
    u = np.zeros(y.shape, np.float32) if zero else rng.standard_normal(y.shape).astype(
        np.float32)
    (y * u).sum().backward()
    return [y.data, x.grad, *(p.grad for p in model.parameters())]


def _leak_step():
    model = _graph()
    model.train()
    x = np.random.default_rng(0).standard_normal((3, 3, 6, 5)).astype(np.float32)

    def step():
        model.zero_grad()
        model(x).sum().backward()
    return step


def _fuzz_call(rng):
    model = _graph()
    return model, (rng.standard_normal((2, 3, 6, 5)).astype(np.float32),), {}


try:
    import onnx  # noqa: F401
except ImportError:
    DETERMINISM_CASES, LEAK_STEPS, FUZZ_CALLS = {}, {}, {}
else:
    DETERMINISM_CASES = {"onnx-import-graph": _determinism_case}
    LEAK_STEPS = {"onnx-import-graph": _leak_step}
    FUZZ_CALLS = {"onnx-import-graph": _fuzz_call}
