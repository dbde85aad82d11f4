"""pydl.onnx.export: every layer with an ONNX equivalent, checked by onnx.checker
(full) and run in onnxruntime equal to pydl at two batch sizes; arguments and errors."""

import io

import numpy as np
import pytest

import pydl
from pydl import nn

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from pydl.onnx import ExportError, export, register

from .export_check import check_export, pydl_forward, session

OPSETS = (13, 17, 21)   # the lowest supported, the default, one with Gelu


def _x(*shape):
    return lambda rng, n, dtype: rng.standard_normal((n, *shape)).astype(dtype)


def _ids(high, *shape):
    return lambda rng, n, dtype: rng.integers(0, high, (n, *shape))


# (id, module factory, input maker(rng, batch, dtype)); each runs at batches 2 and 5
LAYERS = [
    ("Linear", lambda: nn.Linear(5, 3), _x(5)),
    ("Linear-3d", lambda: nn.Linear(5, 3), _x(4, 5)),
    ("Linear-nobias", lambda: nn.Linear(5, 3, bias=False), _x(5)),
    ("Flatten", lambda: nn.Flatten(), _x(3, 4, 5)),
    ("Flatten-1-2", lambda: nn.Flatten(1, 2), _x(3, 4, 5)),
    ("Flatten-2", lambda: nn.Flatten(2), _x(3, 4, 5)),
    ("Identity", lambda: nn.Identity(), _x(5)),
    ("Conv1d", lambda: nn.Conv1d(4, 6, 3, stride=2, padding=1, dilation=2), _x(4, 11)),
    ("Conv1d-unbatched-weights", lambda: nn.Conv1d(4, 6, 1, bias=False), _x(4, 7)),
    ("Conv2d-same-even-kernel", lambda: nn.Conv2d(4, 6, 4, padding="same"), _x(4, 9, 9)),
    ("Conv2d-same-dilated", lambda: nn.Conv2d(4, 6, 3, padding="same", dilation=2),
     _x(4, 9, 8)),
    ("Conv2d-groups", lambda: nn.Conv2d(4, 6, 3, groups=2, padding=(1, 2), stride=(2, 1)),
     _x(4, 9, 8)),
    ("Conv2d-depthwise", lambda: nn.Conv2d(4, 4, 3, groups=4, padding="valid"),
     _x(4, 6, 6)),
    ("Conv3d", lambda: nn.Conv3d(2, 4, 3, padding=1, stride=(1, 2, 1)), _x(2, 5, 6, 5)),
    ("ConvTranspose1d", lambda: nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1,
                                                   output_padding=1), _x(4, 7)),
    ("ConvTranspose2d", lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1,
                                                   output_padding=1, groups=2, dilation=2),
     _x(4, 5, 6)),
    # output_padding up to the dilation (PyTorch's rule), past the stride
    ("ConvTranspose2d-wide-output-padding", lambda: nn.ConvTranspose2d(
        2, 4, 2, stride=1, padding=(1, 0), dilation=(2, 3), output_padding=(1, 2)),
     _x(2, 4, 3)),
    ("ConvTranspose3d", lambda: nn.ConvTranspose3d(2, 4, 2, stride=2, bias=False),
     _x(2, 3, 3, 3)),
    ("MaxPool1d-dilated", lambda: nn.MaxPool1d(3, 2, 1, dilation=2), _x(3, 11)),
    ("MaxPool2d", lambda: nn.MaxPool2d(3, 2, 1), _x(3, 9, 9)),
    ("MaxPool2d-ceil", lambda: nn.MaxPool2d(2, 2, ceil_mode=True), _x(3, 7, 7)),
    # the last ceil window would start in the padding: dropped (as PyTorch)
    ("MaxPool2d-ceil-dropped", lambda: nn.MaxPool2d(2, 2, 1, ceil_mode=True), _x(3, 9, 9)),
    # the ceil window's end padding is as wide as the kernel: padded explicitly
    ("MaxPool2d-ceil-wide-pad", lambda: nn.MaxPool2d(2, 3, 1, dilation=2, ceil_mode=True),
     _x(3, 3, 3)),
    ("MaxPool3d", lambda: nn.MaxPool3d(2), _x(2, 4, 4, 4)),
    ("AvgPool1d-ceil", lambda: nn.AvgPool1d(3, 2, 1, ceil_mode=True), _x(3, 10)),
    ("AvgPool2d", lambda: nn.AvgPool2d(3, 2, 1), _x(3, 9, 9)),
    ("AvgPool2d-exclude-pad", lambda: nn.AvgPool2d(3, 2, 1, count_include_pad=False),
     _x(3, 9, 9)),
    ("AvgPool2d-ceil", lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True), _x(3, 10, 10)),
    ("AvgPool2d-ceil-exclude-pad", lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True,
                                                        count_include_pad=False),
     _x(3, 10, 10)),
    ("AvgPool2d-ceil-dropped", lambda: nn.AvgPool2d(2, 2, 1, ceil_mode=True), _x(3, 9, 9)),
    ("AvgPool2d-divisor", lambda: nn.AvgPool2d(3, 2, 1, divisor_override=4), _x(3, 9, 9)),
    ("AvgPool3d", lambda: nn.AvgPool3d(2, stride=1), _x(2, 4, 3, 4)),
    ("AdaptiveAvgPool1d", lambda: nn.AdaptiveAvgPool1d(3), _x(3, 9)),
    ("AdaptiveAvgPool2d-global", lambda: nn.AdaptiveAvgPool2d(1), _x(3, 5, 5)),
    ("AdaptiveAvgPool2d-none", lambda: nn.AdaptiveAvgPool2d((2, None)), _x(3, 6, 5)),
    ("AdaptiveAvgPool3d", lambda: nn.AdaptiveAvgPool3d((1, 2, 2)), _x(2, 3, 4, 4)),
    ("AdaptiveAvgPool2d-upsample", lambda: nn.AdaptiveAvgPool2d((6, 2)), _x(3, 2, 4)),
    ("AdaptiveAvgPool2d-same", lambda: nn.AdaptiveAvgPool2d((2, 4)), _x(3, 2, 4)),
    ("AdaptiveMaxPool1d", lambda: nn.AdaptiveMaxPool1d(3), _x(3, 6)),
    ("AdaptiveMaxPool2d", lambda: nn.AdaptiveMaxPool2d((2, 3)), _x(3, 4, 6)),
    ("AdaptiveMaxPool3d-global", lambda: nn.AdaptiveMaxPool3d(1), _x(3, 4, 4, 4)),
    ("BatchNorm1d", lambda: nn.BatchNorm1d(5), _x(5)),
    ("BatchNorm1d-3d-noaffine", lambda: nn.BatchNorm1d(5, affine=False), _x(5, 3)),
    ("BatchNorm2d", lambda: nn.BatchNorm2d(3, eps=1e-3), _x(3, 4, 4)),
    ("BatchNorm3d", lambda: nn.BatchNorm3d(3), _x(3, 2, 4, 4)),
    ("LayerNorm", lambda: nn.LayerNorm(5), _x(5)),
    ("LayerNorm-2d-noaffine", lambda: nn.LayerNorm((3, 5), elementwise_affine=False),
     _x(3, 5)),
    ("LayerNorm-nobias", lambda: nn.LayerNorm(5, bias=False), _x(2, 5)),
    ("SyncBatchNorm", lambda: nn.SyncBatchNorm(3), _x(3, 5)),
    ("GroupNorm", lambda: nn.GroupNorm(2, 4), _x(4, 3, 5)),
    ("GroupNorm-1d-noaffine", lambda: nn.GroupNorm(3, 6, affine=False), _x(6, 5)),
    ("GroupNorm-nobias", lambda: nn.GroupNorm(1, 4, bias=False), _x(4, 2, 2, 3)),
    ("InstanceNorm1d", lambda: nn.InstanceNorm1d(3), _x(3, 7)),
    ("InstanceNorm2d-affine", lambda: nn.InstanceNorm2d(3, affine=True), _x(3, 4, 5)),
    ("InstanceNorm3d-running", lambda: nn.InstanceNorm3d(3, track_running_stats=True),
     _x(3, 2, 3, 4)),
    ("GramMatrix", lambda: nn.GramMatrix(), _x(3, 4, 5)),
    ("GramMatrix-sum", lambda: nn.GramMatrix(normalize=False), _x(3, 6)),
    ("LocalResponseNorm", lambda: nn.LocalResponseNorm(3), _x(6, 4, 4)),
    ("LocalResponseNorm-even", lambda: nn.LocalResponseNorm(4, alpha=0.1, beta=0.6, k=2.0),
     _x(6, 4, 4)),
    ("LocalResponseNorm-3d", lambda: nn.LocalResponseNorm(3, alpha=0.1), _x(6, 5)),
    ("Dropout", lambda: nn.Dropout(0.3), _x(5)),
    ("Dropout1d", lambda: nn.Dropout1d(0.3), _x(5, 3)),
    ("Dropout2d", lambda: nn.Dropout2d(0.3), _x(5, 3, 3)),
    ("Dropout3d", lambda: nn.Dropout3d(0.3), _x(5, 3, 3, 2)),
    ("ReLU", lambda: nn.ReLU(), _x(5)),
    ("Sigmoid", lambda: nn.Sigmoid(), _x(5)),
    ("Tanh", lambda: nn.Tanh(), _x(5)),
    ("SiLU", lambda: nn.SiLU(), _x(5)),
    ("LeakyReLU", lambda: nn.LeakyReLU(0.2), _x(5)),
    ("ELU", lambda: nn.ELU(0.7), _x(5)),
    ("PReLU-channels", lambda: nn.PReLU(3, init=0.1), _x(3, 4)),
    ("PReLU-shared", lambda: nn.PReLU(), _x(3, 4)),
    ("Softplus", lambda: nn.Softplus(), _x(5)),
    ("Softplus-beta-threshold", lambda: nn.Softplus(2.0, 1.0), _x(5)),
    ("Hardtanh", lambda: nn.Hardtanh(-0.5, 0.7), _x(5)),
    ("ReLU6", lambda: nn.ReLU6(), lambda rng, n, dt: (rng.standard_normal((n, 5)) * 5)
     .astype(dt)),
    ("GELU", lambda: nn.GELU(), _x(5)),
    ("GELU-tanh", lambda: nn.GELU("tanh"), _x(5)),
    ("Softmax", lambda: nn.Softmax(1), _x(5, 3)),
    ("LogSoftmax", lambda: nn.LogSoftmax(-1), _x(5)),
    ("Upsample-nearest-2x", lambda: nn.Upsample(scale_factor=2), _x(3, 4, 4)),
    ("Upsample-nearest-1.5x", lambda: nn.Upsample(scale_factor=1.5), _x(3, 4, 5)),
    ("Upsample-nearest-size", lambda: nn.Upsample(size=(7, 3)), _x(3, 4, 5)),
    ("Upsample-nearest-1d", lambda: nn.Upsample(scale_factor=3), _x(3, 4)),
    ("Upsample-nearest-exact", lambda: nn.Upsample(size=(7, 3), mode="nearest-exact"),
     _x(3, 4, 5)),
    ("Upsample-nearest-exact-1.7x", lambda: nn.Upsample(scale_factor=1.7,
                                                        mode="nearest-exact"), _x(3, 4, 5)),
    # 9 * 1.1 -> 9: pydl (as PyTorch) copies that axis whatever the factor
    ("Upsample-nearest-1.1x", lambda: nn.Upsample(scale_factor=1.1), _x(2, 9, 11)),
    ("Upsample-nearest-exact-1.1x", lambda: nn.Upsample(scale_factor=1.1,
                                                        mode="nearest-exact"), _x(2, 5, 7)),
    ("Upsample-bilinear-1.1x", lambda: nn.Upsample(scale_factor=1.1, mode="bilinear"),
     _x(2, 9, 11)),
    ("Upsample-nearest-down", lambda: nn.Upsample(scale_factor=0.4), _x(2, 9, 11)),
    ("Upsample-linear", lambda: nn.Upsample(scale_factor=2, mode="linear"), _x(3, 5)),
    ("Upsample-bilinear-size", lambda: nn.Upsample(size=(7, 1), mode="bilinear"),
     _x(3, 4, 5)),
    ("Upsample-bilinear-corners", lambda: nn.Upsample(scale_factor=2.5, mode="bilinear",
                                                      align_corners=True), _x(3, 4, 5)),
    ("Upsample-bilinear-recompute", lambda: nn.Upsample(
        scale_factor=1.3, mode="bilinear", recompute_scale_factor=True), _x(3, 4, 5)),
    ("Upsample-trilinear", lambda: nn.Upsample(scale_factor=(2, 1.5, 1), mode="trilinear"),
     _x(3, 4, 5, 3)),
    ("Upsample-area", lambda: nn.Upsample(size=(2, 5), mode="area"), _x(3, 4, 5)),
    ("UpsamplingNearest2d", lambda: nn.UpsamplingNearest2d(scale_factor=3), _x(3, 4, 5)),
    ("UpsamplingBilinear2d", lambda: nn.UpsamplingBilinear2d(scale_factor=2), _x(3, 4, 5)),
    ("Embedding", lambda: nn.Embedding(10, 4), _ids(10, 3)),
    ("Embedding-max-norm", lambda: nn.Embedding(10, 4, max_norm=1.0), _ids(10, 3)),
    ("Sequential", lambda: nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2)),
     _x(5)),
    ("Residual-identity", lambda: nn.Residual(nn.Sequential(nn.Linear(5, 5), nn.Tanh())),
     _x(5)),
    ("Residual-shortcut", lambda: nn.Residual(nn.Linear(5, 3), nn.Linear(5, 3)), _x(5)),
    ("Concat", lambda: nn.Concat(nn.Linear(5, 3), nn.Identity(), nn.ReLU()), _x(5)),
    ("Concat-last-dim", lambda: nn.Concat(nn.Conv1d(3, 3, 1), nn.Identity(), dim=-1),
     _x(3, 4)),
]

# onnxruntime's CPU provider has float64 kernels for these; the others (Conv,
# ConvTranspose, AveragePool, Resize, LRN, InstanceNormalization, Elu, Softplus, Erf)
# exist in float only, so a float64 export of them is checked (onnx.checker, full) but
# cannot be run there
F64_RUNS = {"Linear", "Linear-3d", "Linear-nobias", "Flatten", "Flatten-1-2", "Flatten-2",
            "Identity", "MaxPool1d-dilated", "MaxPool2d", "MaxPool2d-ceil",
            "MaxPool2d-ceil-dropped", "MaxPool2d-ceil-wide-pad", "MaxPool3d",
            "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
            "BatchNorm1d", "BatchNorm1d-3d-noaffine", "BatchNorm2d", "BatchNorm3d",
            "LayerNorm", "LayerNorm-2d-noaffine", "LayerNorm-nobias", "Dropout",
            "Dropout1d", "Dropout2d", "Dropout3d", "ReLU", "Sigmoid", "Tanh", "SiLU",
            "LeakyReLU", "PReLU-channels", "PReLU-shared", "Hardtanh", "ReLU6", "GELU-tanh",
            "Softmax", "LogSoftmax", "Embedding", "Embedding-max-norm", "Sequential",
            "Residual-identity", "Residual-shortcut", "Concat", "AdaptiveAvgPool2d-same",
            "SyncBatchNorm", "InstanceNorm3d-running", "GramMatrix", "GramMatrix-sum",
            # fractional nearest factors are Gathers
            "Upsample-nearest-1.5x", "Upsample-nearest-size", "Upsample-nearest-exact",
            "Upsample-nearest-exact-1.7x", "Upsample-nearest-1.1x",
            "Upsample-nearest-exact-1.1x", "Upsample-nearest-down"}


def randomize_stats(model, rng):
    """Norm layers with non-trivial running statistics and affine parameters."""
    for m in model.modules():
        if getattr(m, "running_mean", None) is not None:
            m.running_mean[...] = rng.standard_normal(m.running_mean.shape) * 0.2
            m.running_var[...] = rng.uniform(0.5, 2.0, m.running_var.shape)
        if isinstance(m, (nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm1d, nn.InstanceNorm2d,
                          nn.InstanceNorm3d, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
                          nn.SyncBatchNorm)):
            if m.weight is not None:
                m.weight.data[...] = rng.uniform(0.5, 1.5, m.weight.shape)
            if m.bias is not None:
                m.bias.data[...] = rng.standard_normal(m.bias.shape) * 0.1
    return model


def _build(factory, dtype, rng):
    pydl.manual_seed(0)
    return randomize_stats(factory(), rng).to(dtype)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name,factory,make", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_exports_and_matches_onnxruntime(name, factory, make, opset):
    rng = np.random.default_rng(0)
    model = _build(factory, np.float32, rng)
    check_export(model, [make(rng, 2, np.float32), make(rng, 5, np.float32)], opset=opset)


@pytest.mark.parametrize("name,factory,make", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_exports_in_float64(name, factory, make):
    rng = np.random.default_rng(1)
    model = _build(factory, np.float64, rng)
    batches = [make(rng, 2, np.float64), make(rng, 5, np.float64)]
    if name in F64_RUNS:
        proto = check_export(model, batches)
    else:
        proto = export(model, batches[0], io.BytesIO())
        onnx.checker.check_model(proto, full_check=True)
    graph_in = proto.graph.input[0].type.tensor_type.elem_type
    want = np.int64 if batches[0].dtype.kind == "i" else np.float64
    assert graph_in == onnx.helper.np_dtype_to_tensor_dtype(np.dtype(want))
    assert proto.graph.output[0].type.tensor_type.elem_type == \
        onnx.helper.np_dtype_to_tensor_dtype(np.dtype(np.float64))


def test_batch_axis_is_symbolic_and_fixed_without_dynamic_batch(rng):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16, 2))
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    proto = export(model, x, io.BytesIO())
    for v in (proto.graph.input[0], proto.graph.output[0]):
        dims = v.type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch" and all(d.dim_value for d in dims[1:])
    fixed = export(model, x, io.BytesIO(), dynamic_batch=False)
    assert [d.dim_value for d in fixed.graph.input[0].type.tensor_type.shape.dim] == \
        [2, 3, 4, 4]
    assert [d.dim_value for d in fixed.graph.output[0].type.tensor_type.shape.dim] == [2, 2]
    sess = session(fixed)
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], pydl_forward(model, [x])[0],
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(Exception, match="[Dd]imension|shape"):
        sess.run(None, {"input": np.concatenate([x, x])})


@pytest.mark.parametrize("opset", OPSETS)
def test_ir_version_is_the_lowest_the_opset_needs(opset, tmp_path):
    path = tmp_path / "m.onnx"
    proto = export(nn.Linear(3, 2), np.zeros((1, 3), np.float32), path, opset=opset)
    opset_id = onnx.helper.make_opsetid("", opset)
    assert proto.ir_version == onnx.helper.find_min_ir_version_for([opset_id])
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", opset)]
    assert onnx.load(str(path)) == proto
    if opset == 17:
        assert proto.ir_version == 8


def test_path_kinds(tmp_path, rng):
    model = nn.Linear(3, 2)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    export(model, x, str(tmp_path / "a.onnx"))
    export(model, x, tmp_path / "b.onnx")
    buf = io.BytesIO()
    export(model, x, buf)
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes() == \
        buf.getvalue()
    export(nn.Linear(3, 4), x, tmp_path / "a.onnx")        # replaces the file whole
    assert (tmp_path / "a.onnx").read_bytes() != buf.getvalue()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "b.onnx"]


def test_weights_past_the_protobuf_limit_go_to_external_data(tmp_path, rng, monkeypatch):
    import pydl.onnx._export as ex
    monkeypatch.setattr(ex, "_PROTOBUF_LIMIT", 10_000)     # a 40 KB model stands in
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 4))
    xs = [rng.standard_normal((n, 64)).astype(np.float32) for n in (2, 5)]
    path = tmp_path / "big.onnx"
    export(model, xs[0], path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.onnx", "big.onnx.data"]
    assert path.stat().st_size < 10_000 < (tmp_path / "big.onnx.data").stat().st_size
    onnx.checker.check_model(str(path), full_check=True)
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for x in xs:
        np.testing.assert_allclose(sess.run(None, {"input": x})[0],
                                   pydl_forward(model, [x])[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="give a file path"):
        export(model, xs[0], io.BytesIO())


def test_failed_export_leaves_no_file(tmp_path, rng):
    x = rng.standard_normal((2, 3, 5)).astype(np.float32)
    with pytest.raises(ExportError):
        export(nn.AdaptiveAvgPool1d(3), x, tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


def test_export_is_eval_mode_and_keeps_training_flags(rng):
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2))
    randomize_stats(model, rng)
    model.train()
    before = model[1].running_mean.copy()
    x = rng.standard_normal((3, 4)).astype(np.float32)
    check_export(model, [x, rng.standard_normal((6, 4)).astype(np.float32)])
    assert all(m.training for m in model.modules())
    np.testing.assert_array_equal(model[1].running_mean, before)   # no batch-stat update


def test_layer_norm_before_opset_17_is_spelled_in_plain_ops(rng):
    model = nn.LayerNorm(6)
    model.weight.data[...] = rng.uniform(0.5, 1.5, 6)
    proto = check_export(model, [rng.standard_normal((2, 6)).astype(np.float32),
                                 rng.standard_normal((4, 6)).astype(np.float32)], opset=16)
    assert "LayerNormalization" not in {n.op_type for n in proto.graph.node}


def test_gelu_uses_the_gelu_operator_from_opset_20(rng):
    x = [rng.standard_normal((2, 5)).astype(np.float32) for _ in range(2)]
    assert "Gelu" in {n.op_type for n in check_export(nn.GELU(), x, opset=20).graph.node}
    assert "Gelu" not in {n.op_type for n in check_export(nn.GELU(), x, opset=19).graph.node}


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_nearest_upsampling_is_resize_for_integer_factors_else_gather(mode, rng):
    x = rng.standard_normal((1, 2, 4, 5)).astype(np.float32)
    ops = {n.op_type for n in export(nn.Upsample(scale_factor=3, mode=mode), x,
                                     io.BytesIO()).graph.node}
    assert "Resize" in ops and "Gather" not in ops
    ops = {n.op_type for n in export(nn.Upsample(scale_factor=1.5, mode=mode), x,
                                     io.BytesIO()).graph.node}
    assert "Gather" in ops and "Resize" not in ops


def test_shared_weights_are_stored_once(rng):
    lin = nn.Linear(4, 4)
    model = nn.Sequential(lin, nn.Tanh(), lin)
    proto = check_export(model, [rng.standard_normal((2, 4)).astype(np.float32),
                                 rng.standard_normal((3, 4)).astype(np.float32)])
    assert len(proto.graph.initializer) == 2


def test_unbatched_conv_example_runs_with_a_batch_axis_of_one(rng):
    model = nn.Sequential(nn.Conv1d(3, 4, 3, padding=1), nn.MaxPool1d(2))
    x = rng.standard_normal((3, 8)).astype(np.float32)
    check_export(model, [x], dynamic_batch=False)


# ------------------------------------------------------------ user modules
class Chain(nn.Module):
    """forward only calls submodules: converted call by call."""

    def __init__(self):
        super().__init__()
        self.encode = nn.Linear(4, 6)
        self.act = nn.ReLU()
        self.branches = nn.Concat(nn.Linear(6, 2), nn.Linear(6, 3))

    def forward(self, x):
        h = self.act(self.encode(x))
        return self.branches(h)

    def backward(self, grad_output):
        return self.encode.backward(self.act.backward(self.branches.backward(grad_output)))


class TwoHeads(nn.Module):
    """Two outputs from submodules, one input reused."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 2)
        self.b = nn.Sequential(nn.Linear(4, 3), nn.Softmax(1))

    def forward(self, x):
        return self.a(x), self.b(x)


class Stack(nn.Module):
    """Layers in a ModuleList, called in a loop (PyTorch's common pattern)."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 3)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, grad_output):
        for layer in reversed(list(self.layers)):
            grad_output = layer.backward(grad_output)
        return grad_output


class Arithmetic(nn.Module):
    """forward does arithmetic outside submodules: no converter can be inferred."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return self.lin(x) * 2.0

    def backward(self, grad_output):
        return self.lin.backward(grad_output * 2.0)


class InPlace(nn.Module):
    """Changes a submodule's output in place between two calls."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 2)

    def forward(self, x):
        h = self.a(x)
        h += 1.0
        return self.b(h)

    def backward(self, grad_output):
        return self.a.backward(self.b.backward(grad_output))


def test_in_place_edit_between_submodules_is_not_missed(rng, monkeypatch):
    import pydl.onnx._export as ex
    import pydl.onnx._export_registry as registry
    ex._load_extensions()
    xs = [rng.standard_normal((n, 4)).astype(np.float32) for n in (2, 5)]
    with monkeypatch.context() as m:
        m.setattr(registry, "_FALLBACKS", [])    # pydl's composition fallback alone
        with pytest.raises(NotImplementedError, match=r"<model> \(InPlace\)"):
            export(InPlace(), xs[0], io.BytesIO())
    try:                                         # with tracing: right, or refused
        check_export(InPlace(), xs)
    except (NotImplementedError, ExportError) as exc:
        assert "InPlace" in str(exc)


def test_module_composed_of_submodules_is_converted_call_by_call(rng):
    xs = [rng.standard_normal((n, 4)).astype(np.float32) for n in (2, 5)]
    check_export(Chain(), xs)
    proto = check_export(Stack(), xs)
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Tanh", "Gemm"]
    proto = check_export(TwoHeads(), xs)
    assert [o.name for o in proto.graph.output] == ["output_0", "output_1"]


def test_unsupported_module_error_names_class_and_path(rng, monkeypatch):
    # pydl's own converters and fallback only (the tracing fallback would take it)
    import pydl.onnx._export as ex
    import pydl.onnx._export_registry as registry
    ex._load_extensions()
    monkeypatch.setattr(registry, "_FALLBACKS", [])
    x = rng.standard_normal((2, 4)).astype(np.float32)
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), Arithmetic()))
    with pytest.raises(NotImplementedError, match=r"1\.1 \(Arithmetic\).*no converter"):
        export(model, x, io.BytesIO())
    with pytest.raises(NotImplementedError, match=r"<model> \(Arithmetic\)"):
        export(Arithmetic(), x, io.BytesIO())


def test_registered_user_converter_is_used(rng):
    class Double(nn.Module):
        def forward(self, x):
            return x * 2.0

        def backward(self, grad_output):
            return grad_output * 2.0

    @register(Double)
    def _double(module, ctx, inputs):
        return ctx.node("Mul", [inputs[0], ctx.constant(2.0, "two")])

    xs = [rng.standard_normal((n, 3)).astype(np.float32) for n in (2, 4)]
    check_export(nn.Sequential(nn.Linear(3, 3), Double()), xs)


def test_register_refuses_non_modules():
    with pytest.raises(TypeError, match="Module subclasses"):
        register(int)


@pytest.mark.parametrize("module,shape,match", [
    (nn.AdaptiveAvgPool2d(3), (2, 3, 5, 5), r"AdaptiveAvgPool2d.*neither divides nor is a multiple"),
    (nn.Upsample(size=3, mode="area"), (2, 3, 5), r"Upsample.*neither divides"),
    (nn.MaxPool2d(2, return_indices=True), (2, 3, 4, 4), "return_indices"),
    (nn.AdaptiveMaxPool1d(2, return_indices=True), (2, 3, 4), "return_indices"),
    (nn.BatchNorm2d(3, track_running_stats=False), (2, 3, 4, 4), "track_running_stats"),
])
def test_settings_onnx_cannot_express_raise_export_error(module, shape, match, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    with pytest.raises(ExportError, match=match):
        export(nn.Sequential(nn.Identity(), module), x, io.BytesIO())
    assert issubclass(ExportError, ValueError)


def test_module_without_onnx_equivalent(rng):
    x = rng.standard_normal((1, 2, 4)).astype(np.float32)
    with pytest.raises(NotImplementedError, match=r"MaxUnpool1d"):
        export(nn.MaxUnpool1d(2), x, io.BytesIO())


# ------------------------------------------------------------------ arguments
def test_bad_arguments(tmp_path, rng):
    model = nn.Linear(3, 2)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    ok = tmp_path / "m.onnx"
    with pytest.raises(TypeError, match="model must be a pydl.nn.Module"):
        export(lambda v: v, x, ok)
    with pytest.raises(TypeError, match="example_input must be a numpy.ndarray"):
        export(model, [[1.0, 2.0, 3.0]], ok)
    with pytest.raises(TypeError, match=r"example_input\[1\] must be"):
        export(model, (x, "y"), ok)
    with pytest.raises(TypeError, match="example_input must have a float32/float64"):
        export(model, x.astype(np.complex64), ok)
    with pytest.raises(ValueError, match="empty tuple"):
        export(model, (), ok)
    with pytest.raises(TypeError, match="path must be a str"):
        export(model, x, 42)
    with pytest.raises(ValueError, match="does not exist"):
        export(model, x, tmp_path / "missing" / "m.onnx")
    with pytest.raises(ValueError, match="path must name a file"):
        export(model, x, tmp_path)
    with pytest.raises(ValueError, match=r"opset must be in \[13, "):
        export(model, x, ok, opset=12)
    with pytest.raises(ValueError, match=r"opset must be in \[13, "):
        export(model, x, ok, opset=onnx.defs.onnx_opset_version() + 1)
    with pytest.raises(TypeError, match="opset must be an int"):
        export(model, x, ok, opset=True)
    with pytest.raises(TypeError, match="dynamic_batch must be a bool"):
        export(model, x, ok, dynamic_batch=1)
    with pytest.raises(ValueError, match="0-d input"):
        export(nn.ReLU(), np.array(1.0, np.float32), ok)
    assert not ok.exists()


def test_input_and_output_names(rng):
    xs = [rng.standard_normal((n, 4)).astype(np.float32) for n in (2, 3)]
    model = TwoHeads()
    proto = export(model, xs[0], io.BytesIO(), input_names=["features"],
                   output_names=("logits", "output"))
    assert [i.name for i in proto.graph.input] == ["features"]
    assert [o.name for o in proto.graph.output] == ["logits", "output"]
    onnx.checker.check_model(proto, full_check=True)
    sess = session(proto)
    for x in xs:
        got = sess.run(["logits", "output"], {"features": x})
        for g, w in zip(got, pydl_forward(model, [x])):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_bad_names(rng):
    x = rng.standard_normal((2, 4)).astype(np.float32)
    model = nn.Linear(4, 2)
    with pytest.raises(TypeError, match="input_names must be a list or tuple of str"):
        export(model, x, io.BytesIO(), input_names="x")
    with pytest.raises(ValueError, match="input_names has 2 name"):
        export(model, x, io.BytesIO(), input_names=["a", "b"])
    with pytest.raises(TypeError, match="output_names must hold non-empty strings"):
        export(model, x, io.BytesIO(), output_names=[""])
    with pytest.raises(ValueError, match="output_names must be unique"):
        export(model, x, io.BytesIO(), output_names=["y", "y"])
    with pytest.raises(ValueError, match="share"):
        export(model, x, io.BytesIO(), input_names=["y"], output_names=["y"])
    with pytest.raises(ValueError, match="output_names has 2 name.*1 output"):
        export(model, x, io.BytesIO(), output_names=["y", "z"])


def test_bad_example_values_fail_as_in_pydl(rng):
    with pytest.raises(ValueError, match="out of range|indices"):
        export(nn.Embedding(5, 2), np.array([[1, 7]]), io.BytesIO())
    with pytest.raises(TypeError, match="indices must hold integers"):
        export(nn.Embedding(5, 2), np.ones((2, 3), np.float32), io.BytesIO())
    with pytest.raises(TypeError, match="dtype"):     # a float64 input to a float32 layer
        export(nn.Linear(3, 2), np.ones((2, 3)), io.BytesIO())
    with pytest.raises(ValueError, match="Flatten"):
        export(nn.Flatten(3), np.ones((2, 3), np.float32), io.BytesIO())


def test_tensor_example_input(rng):
    x = rng.standard_normal((2, 3)).astype(np.float32)
    model = nn.Linear(3, 2)
    a, b = io.BytesIO(), io.BytesIO()
    export(model, pydl.Tensor(x), a)
    export(model, x, b)
    assert a.getvalue() == b.getvalue()


def test_every_pydl_nn_module_has_a_converter_or_a_reason():
    """A new layer in pydl.nn gets a converter here, or a line saying why not."""
    import pydl.onnx._export as ex
    ex._load_extensions()
    no_equivalent = {
        "Module": "the base class", "ModuleList": "has no forward",
        "RNNBase": "a base class", "RNNCellBase": "a base class",
        "MaxUnpool1d": "takes pydl's per-plane argmax indices",
        "MaxUnpool2d": "takes pydl's per-plane argmax indices",
        "MaxUnpool3d": "takes pydl's per-plane argmax indices",
    }
    missing = []
    for name in nn.__all__:
        cls = getattr(nn, name)
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            continue
        if name.endswith("Loss") or name in no_equivalent:
            continue        # losses are training-time: nothing to serve
        if ex._converter_for(cls) is None:
            missing.append(name)
    assert not missing, f"pydl.nn modules without an ONNX converter: {missing}"


class Opaque(nn.Module):
    """forward computes with NumPy on the arrays: nothing can follow it."""

    def forward(self, x):
        return np.sort(np.asarray(getattr(x, "data", x)), axis=-1)

    def backward(self, grad_output):
        return grad_output


def test_opaque_module_is_refused_not_exported_wrong(rng):
    """With every fallback (tracing included) an untraceable module is an error that
    names it, never a silently wrong graph."""
    x = rng.standard_normal((2, 4)).astype(np.float32)
    with pytest.raises((NotImplementedError, ExportError), match=r"1 \(Opaque\)"):
        export(nn.Sequential(nn.ReLU(), Opaque()), x, io.BytesIO())


def test_importing_pydl_onnx_does_not_import_onnx():
    """onnx is optional: only calling export imports it."""
    import subprocess
    import sys

    from tests.helpers import child_env
    code = ("import sys, pydl, pydl.onnx, pydl.onnx._export; "
            "assert 'onnx' not in sys.modules and 'onnxruntime' not in sys.modules, "
            "sorted(m for m in sys.modules if m.startswith('onnx'))")
    subprocess.run([sys.executable, "-c", code], check=True, env=child_env(), timeout=120)
