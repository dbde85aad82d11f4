"""pydl.onnx.load on hand-built ONNX graphs (what PyTorch never emits: asymmetric
pads, auto_pad, reverse and batch-major recurrent nodes, old opsets), checked
against onnxruntime; the errors for unsupported ops and bad arguments."""

import numpy as np
import pytest

import pydl
import pydl.onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
helper, numpy_helper = onnx.helper, onnx.numpy_helper
FLOAT = onnx.TensorProto.FLOAT


def model(nodes, inputs, outputs, inits=(), opset=17):
    """A ModelProto from nodes, (name, shape) inputs and outputs, {name: array} inits."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, FLOAT, s) for n, s in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def ort_run(m, *xs):
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, dict(zip(names, xs)))


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def check(m, *shapes, atol=1e-5):
    """pydl's outputs equal onnxruntime's at two batch sizes."""
    loaded = pydl.onnx.load(m)
    for batch, seed in ((2, 0), (3, 1)):
        xs = [rand(batch, *s, seed=seed + i) for i, s in enumerate(shapes)]
        want = ort_run(m, *xs)
        got = loaded(*xs)
        got = got if isinstance(got, tuple) else (got,)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-4, atol=atol)
    return loaded


def conv_model(op, attrs, w_shape, x_shape, out_shape=None):
    w = rand(*w_shape, seed=5) * 0.5
    b = rand(w_shape[1] * attrs.get("group", 1) if op == "ConvTranspose" else w_shape[0],
             seed=6)
    node = helper.make_node(op, ["x", "w", "b"], ["y"], **attrs)
    return model([node], [("x", ["N", *x_shape])], [("y", None)], {"w": w, "b": b})


@pytest.mark.parametrize("attrs", [
    {"pads": [0, 1, 2, 1], "strides": [2, 1]},
    {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
    {"auto_pad": "SAME_LOWER", "kernel_shape": [3, 2]},
    {"auto_pad": "VALID", "dilations": [2, 1]},
], ids=["asymmetric", "same-upper-strided", "same-lower", "valid"])
def test_conv_padding(attrs):
    k = attrs.get("kernel_shape", [3, 3])
    loaded = check(conv_model("Conv", attrs, (4, 3, *k), (3, 7, 8)), (3, 7, 8))
    if attrs.get("pads") or attrs.get("strides") == [2, 2]:
        assert pydl.testing.gradcheck(loaded.double(), rand(2, 3, 7, 8).astype(np.float64),
                                      max_elements=16)


@pytest.mark.parametrize("attrs", [
    {"pads": [1, 0, 0, 2], "strides": [2, 2], "output_padding": [1, 1]},
    {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
    {"group": 2, "dilations": [2, 1], "pads": [1, 1, 1, 1]},
], ids=["asymmetric-crop", "same-upper", "grouped-dilated"])
def test_conv_transpose_padding(attrs):
    loaded = check(conv_model("ConvTranspose", attrs, (4, 3, 3, 3), (4, 5, 6)), (4, 5, 6))
    if "pads" in attrs:
        assert pydl.testing.gradcheck(loaded.double(), rand(2, 4, 5, 6).astype(np.float64),
                                      max_elements=16)


@pytest.mark.parametrize("op, attrs", [
    ("MaxPool", {"kernel_shape": [3, 3], "pads": [0, 1, 2, 1], "strides": [2, 2]}),
    ("MaxPool", {"kernel_shape": [2, 2], "auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ("MaxPool", {"kernel_shape": [3, 3], "ceil_mode": 1, "strides": [2, 2]}),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 0, 2, 1], "count_include_pad": 1}),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]}),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [0, 1, 2, 2], "strides": [2, 1]}),
    ("AveragePool", {"kernel_shape": [2, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ("GlobalAveragePool", {}),
    ("GlobalMaxPool", {}),
], ids=["max-asymmetric", "max-same", "max-ceil", "avg-asymmetric-counted",
        "avg-pads-not-counted", "avg-asymmetric-not-counted", "avg-same-not-counted",
        "global-avg", "global-max"])
def test_pooling(op, attrs):
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    loaded = check(model([node], [("x", ["N", 3, 7, 8])], [("y", None)]), (3, 7, 8))
    if "pads" in attrs or "auto_pad" in attrs:
        assert pydl.testing.gradcheck(loaded.double(), rand(2, 3, 7, 8).astype(np.float64),
                                      max_elements=16)


def test_asymmetric_pads_that_cannot_be_made_exact_are_refused():
    node = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3],
                            pads=[0, 1, 2, 1], ceil_mode=1, strides=[2, 2])
    m = model([node], [("x", ["N", 3, 7, 8])], [("y", None)])
    with pytest.raises(ValueError, match=r"AveragePool node .*asymmetric or large pads "
                                         r"with ceil_mode=1"):
        pydl.onnx.load(m)


def test_lrn_layernorm_batchnorm_dropout():
    nodes = [helper.make_node("LRN", ["x"], ["a"], size=3, alpha=0.02, beta=0.6, bias=1.5),
             helper.make_node("BatchNormalization", ["a", "s", "b", "m", "v"], ["c"],
                              epsilon=1e-3),
             helper.make_node("Dropout", ["c", "ratio"], ["d"]),
             helper.make_node("LayerNormalization", ["d", "ls", "lb"], ["y"], axis=-2,
                              epsilon=1e-4)]
    inits = {"s": rand(4, seed=1), "b": rand(4, seed=2), "m": rand(4, seed=3),
             "v": np.abs(rand(4, seed=4)) + 0.5, "ratio": np.array(0.25, np.float32),
             "ls": rand(5, 6, seed=5), "lb": rand(5, 6, seed=6)}
    m = model(nodes, [("x", ["N", 4, 5, 6])], [("y", None)], inits)
    loaded = check(m, (4, 5, 6))
    kinds = [type(x).__name__ for x in loaded.modules()]
    assert kinds[1:] == ["LocalResponseNorm", "BatchNorm2d", "Dropout", "LayerNorm"]
    assert loaded[2].p == 0.25
    # float32 attributes as the decimals they were written from
    assert (loaded[0].alpha, loaded[1].eps, loaded[3].eps) == (0.02, 1e-3, 1e-4)


@pytest.mark.parametrize("mode, coord, nearest, scales", [
    ("nearest", "asymmetric", "floor", [1, 1, 2, 3]),
    ("nearest", "half_pixel", "round_prefer_ceil", [1, 1, 1.5, 2.5]),
    ("linear", "align_corners", "round_prefer_floor", [1, 1, 2, 2]),
    ("linear", "pytorch_half_pixel", "round_prefer_floor", [1, 1, 1.5, 2]),
])
def test_resize_modes(mode, coord, nearest, scales):
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode,
                            coordinate_transformation_mode=coord, nearest_mode=nearest)
    m = model([node], [("x", ["N", 2, 4, 5])], [("y", None)],
              {"scales": np.array(scales, np.float32)})
    check(m, (2, 4, 5))


def test_resize_cubic_is_refused_by_name():
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="cubic")
    m = model([node], [("x", ["N", 2, 4, 5])], [("y", None)],
              {"scales": np.array([1, 1, 2, 2], np.float32)})
    with pytest.raises(ValueError, match=r"Resize node .*mode='cubic'"):
        pydl.onnx.load(m)


def _rnn_model(op, direction, layout, hidden=5, n_in=3, states=True, **attrs):
    d = 2 if direction == "bidirectional" else 1
    g = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    inits = {"W": rand(d, g * hidden, n_in, seed=1) * 0.5,
             "R": rand(d, g * hidden, hidden, seed=2) * 0.5, "B": rand(d, 2 * g * hidden, seed=3)}
    names = ["x", "W", "R", "B", ""]
    state_shape = ["N", d, hidden] if layout else [d, "N", hidden]
    inputs = [("x", ["N", 6, n_in] if layout else [6, "N", n_in])]
    if states:
        names.append("h0")
        inputs.append(("h0", state_shape))
        if op == "LSTM":
            names.append("c0")
            inputs.append(("c0", state_shape))
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    node = helper.make_node(op, names, outs, hidden_size=hidden, direction=direction,
                            layout=layout, **attrs)
    return model([node], inputs, [(o, None) for o in outs], inits), inputs


@pytest.mark.parametrize("op, direction, layout", [
    ("LSTM", "reverse", 0), ("LSTM", "bidirectional", 1), ("LSTM", "forward", 1),
    ("GRU", "reverse", 1), ("GRU", "bidirectional", 0), ("RNN", "forward", 0),
    ("RNN", "bidirectional", 1),
])
def test_recurrent_nodes(op, direction, layout):
    attrs = {"linear_before_reset": 1} if op == "GRU" else {}
    m, inputs = _rnn_model(op, direction, layout, **attrs)
    loaded = pydl.onnx.load(m)
    # onnxruntime runs time-major (layout=0) nodes only: the oracle is that twin
    oracle, _ = _rnn_model(op, direction, 0, **attrs)
    for batch, seed in ((2, 0), (4, 1)):
        xs = [rand(*[batch if s == "N" else s for s in shape], seed=seed + i)
              for i, (_, shape) in enumerate(inputs)]
        want = ort_run(oracle, *[x.swapaxes(0, 1) for x in xs] if layout else xs)
        if layout:      # Y (T, D, N, H) -> (N, T, D, H); states (D, N, H) -> (N, D, H)
            want = [want[0].transpose(2, 0, 1, 3)] + [w.swapaxes(0, 1) for w in want[1:]]
        for g, w in zip(loaded(*xs), want):
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-4, atol=1e-5)
    if direction == "reverse":
        xs = [rand(*[2 if s == "N" else s for s in shape], seed=i).astype(np.float64)
              for i, (_, shape) in enumerate(inputs)]
        assert pydl.testing.gradcheck(loaded.double(), *xs, max_elements=12)


def test_gru_without_linear_before_reset_and_lstm_clip_are_refused_together():
    gru, _ = _rnn_model("GRU", "forward", 0, states=False)
    lstm, _ = _rnn_model("LSTM", "forward", 0, states=False, clip=3.0)
    nodes = list(gru.graph.node) + [helper.make_node(
        "LSTM", ["x", "W2", "R2", "B2"], ["Y2"], hidden_size=5, clip=3.0)]
    inits = list(gru.graph.initializer) + [
        numpy_helper.from_array(numpy_helper.to_array(t), t.name + "2")
        for t in lstm.graph.initializer]
    graph = helper.make_graph(nodes, "g", list(gru.graph.input),
                              [helper.make_tensor_value_info(n, FLOAT, None)
                               for n in ("Y", "Y2")], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ValueError) as info:
        pydl.onnx.load(m)
    msg = str(info.value)
    assert "linear_before_reset=0" in msg and "clip" in msg


def test_unsupported_ops_are_listed_all_at_once():
    nodes = [helper.make_node("Relu", ["x"], ["a"]),
             helper.make_node("TopK", ["a", "k"], ["b", "i"]),
             helper.make_node("Einsum", ["b", "b"], ["c"], equation="ij,ij->ij"),
             helper.make_node("Det", ["c"], ["d"]),
             helper.make_node("MyOp", ["d"], ["y"], domain="com.example")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", FLOAT, [3, 3])],
                              [helper.make_tensor_value_info("y", FLOAT, None)],
                              [numpy_helper.from_array(np.array([2], np.int64), "k")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                helper.make_opsetid("com.example", 1)])
    with pytest.raises(ValueError, match=r"4 op type\(s\) pydl cannot import: "
                                         r"Det, Einsum, TopK, com\.example::MyOp"):
        pydl.onnx.load(m)


def test_weights_of_the_wrong_shape_are_refused_with_both_shapes():
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"]),
             helper.make_node("BatchNormalization", ["c", "s", "s", "m", "s"], ["y"])]
    m = model(nodes, [("x", ["N", 3, 5, 5])], [("y", None)],
              {"w": rand(4, 3, 3, 3), "b": rand(5), "s": rand(4), "m": rand(3)})
    with pytest.raises(ValueError) as info:
        pydl.onnx.load(m)
    msg = str(info.value)
    assert "Conv2d.bias would need shape (4,), the file's array has (5,)" in msg
    assert "BatchNorm2d.running_mean would need shape (4,), the file's array has (3,)" in msg


def test_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match=r"model must be a path .* got int"):
        pydl.onnx.load(3)
    with pytest.raises(FileNotFoundError, match="no ONNX file at"):
        pydl.onnx.load(tmp_path / "missing.onnx")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        pydl.onnx.load(tmp_path)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\xffnot a protobuf at all\x13" * 3)
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        pydl.onnx.load(junk)
    with pytest.raises(ValueError, match="bytes given are not an ONNX model"):
        pydl.onnx.load(b"\x00\xffnot a protobuf\x13")
    text = tmp_path / "text.onnx"
    text.write_text("x")
    with open(text) as f, pytest.raises(TypeError, match="binary mode"):
        pydl.onnx.load(f)


def test_a_binary_file_object_loads(tmp_path):
    m = model([helper.make_node("Relu", ["x"], ["y"])], [("x", ["N", 3])], [("y", None)])
    path = tmp_path / "relu.onnx"
    path.write_bytes(m.SerializeToString())
    x = rand(2, 3)
    with open(path, "rb") as f:
        np.testing.assert_array_equal(np.asarray(pydl.onnx.load(f)(x)), np.maximum(x, 0))


def test_a_graph_reading_an_unknown_value_is_refused():
    graph = helper.make_graph([helper.make_node("Relu", ["nowhere"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", FLOAT, [2])],
                              [helper.make_tensor_value_info("y", FLOAT, None)])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ValueError, match="reads 'nowhere', which no node"):
        pydl.onnx.load(m)


def test_two_inputs_two_outputs_and_generic_gemm():
    nodes = [helper.make_node("Gemm", ["a", "b", "c"], ["g"], alpha=0.5, beta=2.0, transA=1),
             helper.make_node("Softmax", ["g"], ["s"], axis=1),
             helper.make_node("Mul", ["s", "w"], ["y2"]),
             helper.make_node("Max", ["g", "s", "y2"], ["y1"])]
    m = model(nodes, [("a", [4, "N"]), ("b", [4, 3])], [("y1", None), ("y2", None)],
              {"c": rand(3, seed=9), "w": rand(3, seed=8)}, opset=11)
    loaded = pydl.onnx.load(m)
    xs = [rand(4, 5), rand(4, 3, seed=1)]
    got, want = loaded(*xs), ort_run(m, *xs)
    assert isinstance(got, tuple) and len(got) == 2
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5, atol=1e-6)
    # Gemm's C is a weight (a Parameter); an initializer only read by Mul is a constant
    assert {n for n, _ in loaded.named_parameters()} == {"c"}


def test_a_layer_weight_read_as_data_too_is_one_parameter():
    """Tied weights: W is Gemm's weight and also scales the output (Mul by its row 0)."""
    nodes = [helper.make_node("Gemm", ["x", "W"], ["h"], transB=1),
             helper.make_node("Gather", ["W", "zero"], ["row"], axis=0),
             helper.make_node("Mul", ["h", "row"], ["y"])]
    m = model(nodes, [("x", ["N", 4])], [("y", None)],
              {"W": rand(4, 4, seed=3), "zero": np.array(0, np.int64)})
    loaded = check(m, (4,))
    params = list(loaded.parameters())
    assert len(params) == 1 and params[0].shape == (4, 4)
    assert pydl.testing.gradcheck(loaded.double(), rand(3, 4).astype(np.float64))


def test_softmax_of_opset_11_flattens_from_axis():
    node = helper.make_node("Softmax", ["x"], ["y"], axis=1)
    m = model([node], [("x", ["N", 3, 4])], [("y", None)], opset=11)
    check(m, (3, 4))


def test_reduce_prod_and_erf_layers_pass_gradcheck():
    from pydl.onnx._import_activations import Erf
    from pydl.onnx._import_ops import ReduceProd
    x = rand(3, 4, 5).astype(np.float64)
    x[0, 1, 2] = 0.0                  # a zero: the product rule still holds
    assert pydl.testing.gradcheck(ReduceProd([1, -1], 0), x)
    assert pydl.testing.gradcheck(ReduceProd([], 1), rand(2, 3).astype(np.float64))
    assert pydl.testing.gradcheck(Erf(), x)
    nodes = [helper.make_node("ReduceProd", ["x"], ["p"], axes=[2], keepdims=1),
             helper.make_node("Erf", ["p"], ["y"])]
    check(model(nodes, [("x", ["N", 3, 4])], [("y", None)]), (3, 4))


def test_shape_subgraph_with_a_dynamic_batch():
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape, Expand, Slice, Split, Where."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "zero1"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["flat"]),
             helper.make_node("Slice", ["flat", "st", "en", "ax", "sp"], ["sl"]),
             helper.make_node("Split", ["sl"], ["p", "q"], axis=1),
             helper.make_node("Greater", ["p", "q"], ["gt"]),
             helper.make_node("Where", ["gt", "p", "q"], ["w"]),
             helper.make_node("Expand", ["w", "target"], ["e"]),
             helper.make_node("ReduceSum", ["e", "axes"], ["y"], keepdims=0)]
    inits = {"zero": np.array(0, np.int64), "zero1": np.array([0], np.int64),
             "minus1": np.array([-1], np.int64), "st": np.array([1], np.int64),
             "en": np.array([2**63 - 1], np.int64), "ax": np.array([1], np.int64),
             "sp": np.array([2], np.int64), "target": np.array([2, 1, 1], np.int64),
             "axes": np.array([0], np.int64)}
    loaded = check(model(nodes, [("x", ["N", 3, 4])], [("y", None)], inits), (3, 4))
    assert pydl.testing.gradcheck(loaded.double(), rand(2, 3, 4).astype(np.float64))


def test_a_loaded_graph_copies_pickles_and_reloads_its_state():
    import copy
    import pickle
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[0, 1, 1, 0]),
             helper.make_node("Shape", ["c"], ["s"]),
             helper.make_node("Slice", ["s", "zero", "one"], ["n"]),
             helper.make_node("Concat", ["n", "minus1"], ["t"], axis=0),
             helper.make_node("Reshape", ["c", "t"], ["f"]),
             helper.make_node("Mul", ["f", "f"], ["y"])]
    m = model(nodes, [("x", ["N", 2, 4, 4])], [("y", None)],
              {"w": rand(3, 2, 2, 2), "zero": np.array([0], np.int64),
               "one": np.array([1], np.int64), "minus1": np.array([-1], np.int64)})
    loaded = check(m, (2, 4, 4))
    x = rand(2, 2, 4, 4)
    want = np.asarray(loaded(x))
    for other in (copy.deepcopy(loaded), pickle.loads(pickle.dumps(loaded))):
        np.testing.assert_array_equal(np.asarray(other(x)), want)
        other.parameters().__next__().data[...] = 0           # independent weights
        assert np.asarray(loaded(x)).any()
    fresh = pydl.onnx.load(m)
    next(fresh.parameters()).data[...] = 1
    fresh.load_state_dict(loaded.state_dict())
    np.testing.assert_array_equal(np.asarray(fresh(x)), want)


def test_uniform_sequence_lens_is_checked_per_call_and_errors_name_the_node():
    m, _ = _rnn_model("GRU", "forward", 0, states=False, linear_before_reset=1)
    node = m.graph.node[0]
    node.input[4] = "lens"
    m.graph.initializer.append(numpy_helper.from_array(np.full(3, 6, np.int32), "lens"))
    node.name = "my_gru"
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "T"   # steps left free
    loaded = pydl.onnx.load(m)
    x = rand(6, 3, 3)
    want = ort_run(m, x)
    for g, w in zip(loaded(x), want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="sequence_lens is 6 for every sequence, but the "
                                         "input has 5 steps") as info:
        loaded(rand(5, 3, 3))
    assert "my_gru" in "".join(getattr(info.value, "__notes__", []))


def test_without_onnx_the_error_names_the_extra(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'pip install "pydl\[onnx\]"'):
        pydl.onnx.load(b"")


def test_layers_on_an_input_of_unknown_rank():
    """No declared input shape: batch norm, global pooling and Flatten fall back to
    their rank-free forms."""
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["n"]),
             helper.make_node("GlobalAveragePool", ["n"], ["g"]),
             helper.make_node("GlobalMaxPool", ["n"], ["h"]),
             helper.make_node("Add", ["g", "h"], ["a"]),
             helper.make_node("Flatten", ["a"], ["y"], axis=1)]
    inits = {"s": rand(3, seed=1), "b": rand(3, seed=2), "m": rand(3, seed=3),
             "v": np.abs(rand(3, seed=4)) + 0.5}
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", FLOAT, None)],
                              [helper.make_tensor_value_info("y", FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    loaded = pydl.onnx.load(m)
    for x in (rand(2, 3, 4, 5), rand(3, 3, 6)):
        np.testing.assert_allclose(np.asarray(loaded(x)), ort_run(m, x)[0], rtol=1e-5,
                                   atol=1e-6)
    assert pydl.testing.gradcheck(loaded.double(), rand(2, 3, 4, 5).astype(np.float64))


def test_elementwise_ops_against_onnxruntime():
    mk = helper.make_node
    nodes = [mk("Abs", ["x"], ["ax"]), mk("Add", ["ax", "one"], ["p"]),     # p > 0
             mk("Sqrt", ["p"], ["a"]), mk("Log", ["p"], ["b"]), mk("Exp", ["x"], ["c"]),
             mk("Reciprocal", ["p"], ["d"]), mk("Neg", ["x"], ["e"]),
             mk("Pow", ["p", "half"], ["f"]), mk("Mod", ["x", "three"], ["g"], fmod=1),
             mk("Mod", ["e", "two"], ["g2"], fmod=1), mk("Floor", ["x"], ["h"]),
             mk("Max", ["a", "b", "d"], ["i"]), mk("Min", ["c", "e"], ["j"]),
             mk("Sum", ["f", "g", "g2"], ["k"]), mk("Mean", ["h", "i", "j"], ["l"]),
             mk("Greater", ["x", "zero"], ["cond"]), mk("Where", ["cond", "k", "l"], ["m"]),
             mk("Sub", ["m", "x"], ["n"]), mk("Div", ["n", "p"], ["o"]),
             mk("HardSigmoid", ["o"], ["q"], alpha=0.3), mk("Softsign", ["x"], ["r"]),
             mk("ThresholdedRelu", ["x"], ["s"], alpha=0.5), mk("Mul", ["q", "r"], ["t"]),
             mk("Add", ["t", "s"], ["y"])]
    inits = {"one": np.array(1.0, np.float32), "half": np.array(0.5, np.float32),
             "three": np.array(0.7, np.float32), "two": np.array(-1.3, np.float32),
             "zero": np.array(0.0, np.float32)}
    loaded = check(model(nodes, [("x", ["N", 4, 3])], [("y", None)], inits), (4, 3))
    # Mod with Python's sign rule (fmod=0) is for integers in onnxruntime: check NumPy's
    ints = model([mk("Mod", ["a", "b"], ["y"])], [("a", ["N"])], [("y", None)],
                 {"b": np.array(-3, np.int64)})
    ints.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.INT64
    ints.graph.output[0].type.tensor_type.elem_type = onnx.TensorProto.INT64
    a = np.arange(-7, 8, dtype=np.int64)
    np.testing.assert_array_equal(np.asarray(pydl.onnx.load(ints)(a)), ort_run(ints, a)[0])
    # a few elements away from the kinks (floor, mod, where, max/min ties)
    x = np.array([[0.31, -1.27, 2.05, -0.43]], np.float64).reshape(1, 4, 1) * np.ones(3)
    assert pydl.testing.gradcheck(loaded.double(), x + np.arange(3) * 0.013, eps=1e-7)


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin",
                                "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum",
                                "ReduceLogSumExp"])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reductions(op, keepdims):
    mk = helper.make_node
    nodes = [mk("Abs", ["x"], ["a"]), mk("Add", ["a", "one"], ["p"]),
             mk(op, ["p", "axes"], ["y"], keepdims=keepdims)]
    m = model(nodes, [("x", ["N", 3, 4])], [("y", None)],
              {"one": np.array(0.5, np.float32), "axes": np.array([-1, 1], np.int64)},
              opset=18)
    loaded = check(m, (3, 4))
    assert pydl.testing.gradcheck(loaded.double(), rand(2, 3, 4).astype(np.float64) + 0.01)


def test_tile_range_size_pad_cast_not_constant_of_shape():
    mk = helper.make_node
    nodes = [mk("Tile", ["x", "reps"], ["t"]),
             mk("Size", ["x"], ["n"]), mk("Cast", ["n"], ["nf"], to=onnx.TensorProto.FLOAT),
             mk("Range", ["zero", "limit", "step"], ["r"]),
             mk("Cast", ["r"], ["rf"], to=onnx.TensorProto.FLOAT),
             mk("Pad", ["t", "pads", "value"], ["p"]),
             mk("Mul", ["p", "rf"], ["q"]), mk("Div", ["q", "nf"], ["d"]),
             mk("Greater", ["d", "zf"], ["g"]), mk("Not", ["g"], ["ng"]),
             mk("Cast", ["ng"], ["mask"], to=onnx.TensorProto.FLOAT),
             mk("Shape", ["mask"], ["s"]),
             mk("ConstantOfShape", ["s"], ["c"],
                value=numpy_helper.from_array(np.array([0.25], np.float32))),
             mk("Add", ["d", "c"], ["e"]), mk("Add", ["e", "mask"], ["y"])]
    inits = {"reps": np.array([1, 2, 1], np.int64), "zero": np.array(0, np.int64),
             "limit": np.array(5, np.int64), "step": np.array(1, np.int64),
             "pads": np.array([0, 0, 1, 0, 0, 0], np.int64),
             "value": np.array(0.5, np.float32), "zf": np.array(0.0, np.float32)}
    loaded = check(model(nodes, [("x", ["N", 2, 4])], [("y", None)], inits), (2, 4))
    assert pydl.testing.gradcheck(loaded.double(), rand(2, 2, 4).astype(np.float64))
