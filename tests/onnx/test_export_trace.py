"""pydl.onnx.export of models written with tensor ops (traced): every traceable op
alone, models that mix tensor ops with modules (two input branches, a residual MLP, a
CNN with a tensor-op head, the Siamese encoder), each checked by onnx.checker (full)
and run in onnxruntime equal to pydl at two batch sizes; the errors for what cannot be
traced; the tracer leaves pydl as it found it."""

import io
import threading

import numpy as np
import pytest

import pydl
import pydl.functional as F
from pydl import nn
from pydl.autograd import ops

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from pydl.onnx import ExportError, export

from .export_check import check_export

_EXP_BEFORE_TRACE = pydl.exp       # a reference the tracer cannot swap


class Fn(nn.Module):
    """A forward-only module around ``fn(self, *inputs)``, with a few parameters."""

    def __init__(self, fn, features=6):
        super().__init__()
        rng = np.random.default_rng(0)
        self.fn = fn
        self.w = nn.Parameter(rng.standard_normal((features, 4)).astype(np.float32) * 0.5)
        self.v = nn.Parameter(rng.standard_normal(features).astype(np.float32))
        self.lin = nn.Linear(features, features)

    def forward(self, *inputs):
        return self.fn(self, *inputs)


def _x(*shape, low=None):
    def make(rng, n):
        x = rng.standard_normal((n, *shape)).astype(np.float32)
        return np.abs(x) + low if low is not None else x
    return make


X = _x(6)
POS = _x(6, low=0.1)
X3 = _x(3, 6)
IMG = _x(2, 5, 6)

# (id, fn(self, x), input maker)
OPS = [
    ("add-sub-mul-div", lambda m, x: (x + m.v) * 2.0 - x / (m.v * m.v + 1.0) + 1, X),
    ("reflected", lambda m, x: 1.0 - x, X),
    ("rdiv-rpow", lambda m, x: 2.0 / (x * x + 1.0) + 2.0 ** x, X),
    ("pow", lambda m, x: x ** 2 + pydl.abs(x) ** 0.5 + x ** 3, X),
    ("pow-tensor-exponent", lambda m, x: pydl.abs(x) ** (m.v * 0.1) + 0.0, X),
    ("neg", lambda m, x: -x, X),
    ("matmul-2d", lambda m, x: x @ m.w, X),
    ("matmul-3d", lambda m, x: x @ m.w, X3),
    ("matmul-vector", lambda m, x: x @ m.v, X3),
    ("matmul-transposed", lambda m, x: x @ x.T, X),
    ("exp-log-sqrt-abs", lambda m, x: pydl.exp(x * 0.1) + pydl.log(x) + x.sqrt() + x.abs(),
     POS),
    ("clip-scalars", lambda m, x: pydl.clip(x, -0.5, 0.7) + x.clamp(min=0.1), X),
    ("clip-arrays", lambda m, x: pydl.clip(x, -m.v * m.v, m.v * m.v), X),
    # 0-d bounds computed from the input: the graph's, not the example's numbers
    ("clip-traced-scalars", lambda m, x: pydl.clip(x, x.min() * 0.5, x.max() * 0.5)
     + x.clamp(min=x.mean()), X),
    ("maximum-minimum", lambda m, x: pydl.maximum(x, m.v) + pydl.minimum(x, 0.2), X),
    ("where-comparison", lambda m, x: pydl.where(x > 0.1, x, x * 0.01), X),
    ("where-constant-mask", lambda m, x: pydl.where(np.arange(6) % 2 == 0, x, -x), X),
    ("comparisons", lambda m, x: pydl.where((x < 0) == (x <= 0.5), x, 1.0)
     + pydl.where(x >= 0.3, x, 0.0) + pydl.where(x != x * 2, x, 3.0), X),
    ("sum-mean", lambda m, x: x.sum(axis=1) + x.mean(axis=(1, 2), keepdims=True)[:, 0]
     + x.sum(), X3),
    ("sum-keepdims-dim", lambda m, x: x / x.sum(dim=-1, keepdim=True), POS),
    ("max-min", lambda m, x: x.max(axis=1) - pydl.min(x, axis=-1, keepdims=True).max(axis=1),
     X3),
    ("reduce-batch-axis", lambda m, x: x - x.mean(axis=0) + x.max(axis=0, keepdims=True), X),
    ("var-std", lambda m, x: x.var(axis=1) + pydl.std(x, axis=-1, correction=0), X),
    ("var-batch-axis", lambda m, x: x.var(axis=0) * x, X),
    ("reshape", lambda m, x: x.reshape(x.shape[0], 2, -1).sum(axis=1), X),
    ("reshape-tuple-view", lambda m, x: x.view((-1, 3, 2)) * 1.0, X),
    ("reshape-batch-into-rows", lambda m, x: pydl.reshape(x, (-1,)) * 2.0, X3),
    ("flatten", lambda m, x: x.flatten(1) + 0.0, IMG),
    ("flatten-middle", lambda m, x: pydl.flatten(x, 1, 2) * 1.0, IMG),
    ("squeeze-unsqueeze", lambda m, x: x.unsqueeze(1).unsqueeze(-1).squeeze(-1) * 1.0, X),
    ("transpose-permute", lambda m, x: x.transpose(1, 2).permute(0, 2, 3, 1) * 1.0, IMG),
    ("T", lambda m, x: (x.T @ x), X),
    ("concatenate-stack", lambda m, x: pydl.concatenate(
        [x, pydl.stack([x, x * 2], axis=1).sum(axis=1)], axis=1) + 0.0, X),
    ("cat-dim", lambda m, x: pydl.cat([x, m.v.reshape(1, 6) + x], dim=-1), X),
    ("split", lambda m, x: sum(p * (i + 1) for i, p in enumerate(pydl.split(x, [2, 4],
                                                                             axis=2))), X3),
    ("split-sections", lambda m, x: pydl.split(x, 2, axis=1)[1] * 1.0, X),
    ("index-slices", lambda m, x: x[:, 1:5:2] + x[:, -2:], X),
    ("index-int-negative", lambda m, x: x[:, -1] + x[:, 0] * x[..., 2, :].sum(axis=1,
                                                                             keepdims=True),
     X3),
    ("index-reverse", lambda m, x: x[:, ::-1] * x[:, ::-2].sum(axis=1, keepdims=True), X),
    ("index-none-ellipsis", lambda m, x: x[:, None, ..., 1:][..., None].sum(axis=-1), X3),
    ("index-int-array", lambda m, x: x[:, [3, 0, 0, 5]] + x[np.array([0])].sum(), X),
    ("pad", lambda m, x: pydl.pad(x, ((0, 0), (1, 2), (2, 0)), value=0.5), X3),
    ("relu-sigmoid-tanh", lambda m, x: pydl.relu(x) + x.sigmoid() + pydl.tanh(x), X),
    ("len-iter", lambda m, x: sum(x[:, i] for i in range(len(x[0]))), X),
    ("detach", lambda m, x: x.detach() * x, X),
    ("module-on-a-constant", lambda m, x: x + m.lin(np.ones((1, 6), np.float32)), X),
    ("fill-sized-by-batch", lambda m, x: x * np.full((len(x), 1), 2.0, np.float32)
     + pydl.tensor(np.ones((3, x.shape[0], 1), np.float32)).sum(axis=0), X),
]

F_OPS = [
    ("linear", lambda m, x: F.linear_forward(x, m.lin.weight, m.lin.bias), X),
    ("linear-3d-nobias", lambda m, x: F.linear_forward(x, m.lin.weight), X3),
    ("linear-traced-weight", lambda m, x: F.linear_forward(x, m.lin.weight * 2.0, m.v), X),
    ("activations", lambda m, x: F.relu_forward(x) + F.sigmoid_forward(x) + F.tanh_forward(x)
     + F.silu_forward(x) + F.leaky_relu_forward(x, 0.2) + F.elu_forward(x, 0.5), X),
    ("softplus-hardtanh-gelu", lambda m, x: F.softplus_forward(x, 2.0, 3.0)
     + F.hardtanh_forward(x, -0.5, 0.5) + F.gelu_forward(x) + F.gelu_forward(x, "tanh"), X),
    ("softmax", lambda m, x: F.softmax_forward(x, dim=1) + F.log_softmax_forward(x, dim=-1),
     X3),
    ("conv1d", lambda m, x: F.conv1d_forward(x, m.k1, m.b1, stride=2, padding=1, dilation=2),
     _x(3, 11)),
    ("conv2d-groups-same", lambda m, x: F.conv2d_forward(x, m.k2, None, padding="same",
                                                         groups=2), _x(2, 6, 5)),
    ("pools", lambda m, x: F.max_pool2d_forward(x, 2, ceil_mode=True)[0]
     + F.avg_pool2d_forward(x, 2, ceil_mode=True, count_include_pad=False), _x(2, 5, 5)),
    ("adaptive-pool", lambda m, x: F.adaptive_avg_pool2d_forward(x, 1)
     + F.adaptive_max_pool2d_forward(x, 1)[0], _x(2, 4, 4)),
    ("layer-norm", lambda m, x: F.layer_norm_forward(x, (6,), m.v, None)[0]
     + F.layer_norm_forward(x, (3, 6), None, None, eps=1e-3)[0], X3),
    ("prelu", lambda m, x: F.prelu_forward(x, m.a3), X3),
    ("batch-norm-eval", lambda m, x: F.batch_norm_forward(
        x, m.c2, None, m.running_mean, m.running_var, training=False)[0], IMG),
    ("conv-transpose", lambda m, x: F.conv_transpose1d_forward(
        x, m.kt, m.b1, stride=2, padding=1, output_padding=1), _x(3, 5)),
    ("embedding", lambda m, ids: F.embedding_forward(ids, m.w) * 2.0,
     lambda rng, n: rng.integers(0, 6, (n, 3))),
    ("integer-arithmetic", lambda m, ids: F.embedding_forward((ids * 2 + 1 - ids) - 1, m.w),
     lambda rng, n: rng.integers(0, 6, (n, 3))),
    ("dropout-eval", lambda m, x: F.dropout_forward(x, 0.5, training=False)[0] * 1.0, X),
    ("channel-dropout-eval", lambda m, x: F.channel_dropout_forward(x, 0.5, False)[0] + 0.0,
     IMG),
    ("group-instance-norm", lambda m, x: F.group_norm_forward(x, 2, m.c4, None)[0]
     + F.instance_norm_forward(x, m.c4, m.c4)[0] + F.instance_norm_forward(x)[0],
     _x(4, 3, 5)),
    ("gram-matrix", lambda m, x: F.gram_matrix_forward(x)[0] * 1.0, _x(3, 4, 5)),
    ("attention", lambda m, x: F.scaled_dot_product_attention_forward(x, x * 0.5, x)[0]
     + F.scaled_dot_product_attention_forward(x, x, x, is_causal=True, scale=0.3)[0]
     + F.scaled_dot_product_attention_forward(x, x, x, m.mask)[0], X3),
    ("additive-attention", lambda m, x: F.additive_attention_forward(
        x[:, 0], x, m.aq, m.ak, m.av)[0]
     + F.additive_attention_forward(x[:, 1], x, m.aq, m.ak, m.av, x[:, :, 0] > -0.5)[1].sum(),
     X3),
    ("functional-cells", lambda m, x: F.rnn_cell_forward(x, None, m.lin.weight,
                                                          m.lin.weight, m.v, m.v,
                                                          nonlinearity="relu")
     + F.gru_cell_forward(x, x * 0.5, m.g_ih, m.g_hh)[0]
     + F.lstm_cell_forward(x, x, x * 0.1, m.l_ih, m.l_hh, m.l_b, m.l_b)[1], X),
    ("functional-sequences", lambda m, x: F.lstm_forward(x, None, None, m.l_ih, m.l_hh)[0]
     + F.lstm_forward(x, x[0], x[1], m.l_ih, m.l_hh, m.l_b, m.l_b, reverse=True)[2]
     + F.gru_forward(x, x[0] * 0.5, m.g_ih, m.g_hh, reverse=True)[1]
     + F.rnn_forward(x, None, m.lin.weight, m.lin.weight, m.v, m.v, nonlinearity="relu")[0],
     X3),
    # one bias of the two given: the other is zeros (it was left out of the graph, or a
    # cell module kept its random one)
    ("functional-cells-one-bias", lambda m, x: F.gru_cell_forward(x, x * 0.5, m.g_ih, m.g_hh,
                                                                   m.g_b, None)[0]
     + F.lstm_cell_forward(x, x, x * 0.1, m.l_ih, m.l_hh, None, m.l_b)[1], X),
    ("functional-sequences-one-bias", lambda m, x: F.gru_forward(x, None, m.g_ih, m.g_hh,
                                                                  None, m.g_b)[0]
     + F.lstm_forward(x, None, None, m.l_ih, m.l_hh, m.l_b, None)[0], X3),
]


def _case_model(fn):
    """A Fn around ``fn`` holding the parameters and buffers the op cases use."""
    def build():
        m = Fn(fn)
        rng = np.random.default_rng(1)
        m.k1 = nn.Parameter(rng.standard_normal((4, 3, 3)).astype(np.float32))
        m.b1 = nn.Parameter(rng.standard_normal(4).astype(np.float32))
        m.k2 = nn.Parameter(rng.standard_normal((4, 1, 3, 3)).astype(np.float32))
        m.kt = nn.Parameter(rng.standard_normal((3, 4, 3)).astype(np.float32))
        m.a3 = nn.Parameter(rng.uniform(0.1, 0.3, 3).astype(np.float32))
        m.c2 = nn.Parameter(rng.uniform(0.5, 1.5, 2).astype(np.float32))
        m.c4 = nn.Parameter(rng.uniform(0.5, 1.5, 4).astype(np.float32))
        m.mask = np.array([[1, 0, 1], [1, 1, 0], [0, 0, 1]], bool)
        m.g_ih = nn.Parameter(rng.standard_normal((18, 6)).astype(np.float32) * 0.3)
        m.g_hh = nn.Parameter(rng.standard_normal((18, 6)).astype(np.float32) * 0.3)
        m.l_ih = nn.Parameter(rng.standard_normal((24, 6)).astype(np.float32) * 0.3)
        m.l_hh = nn.Parameter(rng.standard_normal((24, 6)).astype(np.float32) * 0.3)
        m.l_b = nn.Parameter(rng.standard_normal(24).astype(np.float32) * 0.3)
        m.aq = nn.Parameter(rng.standard_normal((5, 6)).astype(np.float32) * 0.3)
        m.ak = nn.Parameter(rng.standard_normal((5, 6)).astype(np.float32) * 0.3)
        m.av = nn.Parameter(rng.standard_normal(5).astype(np.float32))
        m.register_buffer("running_mean", rng.standard_normal(2).astype(np.float32))
        m.register_buffer("running_var", rng.uniform(0.5, 2.0, 2).astype(np.float32))
        m.g_b = nn.Parameter(rng.standard_normal(18).astype(np.float32) * 0.3)
        return m
    return build


@pytest.mark.parametrize("name,fn,make", OPS + F_OPS, ids=[o[0] for o in OPS + F_OPS])
def test_traced_op(name, fn, make):
    rng = np.random.default_rng(2)
    check_export(_case_model(fn)(), [make(rng, 3), make(rng, 5)])


OPSET_OPS = ("sum-mean", "max-min", "var-std", "split", "pad", "clip-scalars",
             "index-none-ellipsis", "squeeze-unsqueeze", "softmax", "pools")


OPSET_CASES = [o for o in OPS + F_OPS if o[0] in OPSET_OPS]


@pytest.mark.parametrize("opset", [13, 21])
@pytest.mark.parametrize("name,fn,make", OPSET_CASES, ids=[o[0] for o in OPSET_CASES])
def test_traced_op_at_other_opsets(name, fn, make, opset):
    rng = np.random.default_rng(2)
    check_export(_case_model(fn)(), [make(rng, 2), make(rng, 4)], opset=opset)


@pytest.mark.parametrize("opset", [13, 18])
def test_reductions_at_other_opsets(opset):
    """Reduce* axes are an attribute before opset 18 and an input from it."""
    rng = np.random.default_rng(3)
    model = Fn(lambda m, x: x.mean(axis=1) + x.max(axis=-1) - x.min(axis=1) + x.sum(axis=1)
               + x.var(axis=1))
    check_export(model, [X(rng, 2), X(rng, 4)], opset=opset)


def test_float64_model():
    rng = np.random.default_rng(4)
    model = Fn(lambda m, x: pydl.tanh(x @ m.w) * 2.0 + x[:, :4].exp() - x.var(axis=0)[:4])
    model.double()
    check_export(model, [rng.standard_normal((n, 6)) for n in (2, 5)])


def test_scalar_output():
    rng = np.random.default_rng(5)
    model = Fn(lambda m, x: (x * x).sum() + 1.0)
    proto = check_export(model, [X(rng, 3), X(rng, 6)])
    assert proto.graph.output[0].type.tensor_type.shape.dim == []


def test_no_size_of_the_batch_is_written():
    """Reshape targets hold -1 or 0 where the size follows the batch."""
    rng = np.random.default_rng(6)
    model = Fn(lambda m, x: x.reshape(x.shape[0], 3, -1).reshape(x.shape[0] * 3, 2)
               .reshape(x.shape[0], 6) * 1.0)
    proto = check_export(model, [X(rng, 7), X(rng, 2)])
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    targets = [inits[n.input[1]] for n in proto.graph.node if n.op_type == "Reshape"]
    assert len(targets) == 3
    assert all(7 not in t and (t == -1).sum() + (t == 0).sum() == 1 for t in targets)


# ---------------------------------------------------------------------- models
class TwoBranch(nn.Module):
    """Two inputs through their own layers, joined with tensor ops."""

    def __init__(self):
        super().__init__()
        self.left = nn.Sequential(nn.Linear(5, 8), nn.ReLU())
        self.right = nn.Linear(3, 8)
        self.head = nn.Linear(16, 4)

    def forward(self, a, b):
        z = pydl.concatenate([self.left(a), pydl.tanh(self.right(b))], axis=1)
        gate = pydl.sigmoid(z[:, :8] * z[:, 8:])
        return F.log_softmax_forward(self.head(z * pydl.concatenate([gate, 1 - gate], 1)),
                                     dim=1), gate.mean(axis=1)


class ResidualMLP(nn.Module):
    """A pre-norm residual MLP with weights used through tensor ops."""

    def __init__(self, features=8, hidden=16, blocks=2):
        super().__init__()
        rng = np.random.default_rng(7)
        self.blocks = nn.ModuleList(
            [nn.Sequential(nn.Linear(features, hidden), nn.GELU(), nn.Linear(hidden, features))
             for _ in range(blocks)])
        self.scale = nn.Parameter(np.ones(features, np.float32))
        self.out = nn.Parameter(rng.standard_normal((features, 3)).astype(np.float32))

    def forward(self, x):
        for block in self.blocks:
            mu = x.mean(axis=-1, keepdims=True)
            sd = pydl.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + 1e-5)
            x = x + block((x - mu) / sd * self.scale)
        return pydl.relu(x) @ self.out


class SmallCNN(nn.Module):
    """Conv layers, then a head written with tensor ops (global pools, a matmul)."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(8)
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4),
                                      nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 6, 3, padding=1), nn.ReLU())
        self.w = nn.Parameter(rng.standard_normal((12, 10)).astype(np.float32) * 0.3)
        self.b = nn.Parameter(np.zeros(10, np.float32))

    def forward(self, x):
        h = self.features(x)
        pooled = pydl.concatenate([h.mean(axis=(2, 3)), h.max(axis=(2, 3))], axis=1)
        return F.softmax_forward(pooled @ self.w + self.b, dim=1)


def test_two_input_branches():
    rng = np.random.default_rng(9)
    check_export(TwoBranch(), [(X(rng, 3)[:, :5].copy(), X(rng, 3)[:, :3].copy()),
                               (X(rng, 6)[:, :5].copy(), X(rng, 6)[:, :3].copy())])


def test_residual_mlp():
    rng = np.random.default_rng(10)
    check_export(ResidualMLP(), [_x(8)(rng, 4), _x(8)(rng, 1), _x(8)(rng, 9)])


def test_small_cnn_with_tensor_head():
    rng = np.random.default_rng(11)
    model = SmallCNN()
    model.features[1].running_mean.data[:] = rng.standard_normal(4).astype(np.float32) * 0.1
    proto = check_export(model, [_x(1, 8, 8)(rng, 2), _x(1, 8, 8)(rng, 7)])
    ops_used = {n.op_type for n in proto.graph.node}
    assert {"Conv", "MaxPool", "ReduceMean", "ReduceMax", "MatMul", "Softmax"} <= ops_used


def test_siamese_encoder_and_pair():
    from pydl.examples.siamese import Encoder, Siamese
    rng = np.random.default_rng(12)
    encoder = Encoder(dim=8, width=4)
    img = _x(1, 8, 8)
    check_export(encoder, [img(rng, 3), img(rng, 10)])
    check_export(Siamese(encoder), [(img(rng, 2), img(rng, 2)), (img(rng, 5), img(rng, 5))])


class _Scale(nn.Module):
    """Forward-only, inside a Sequential of layers."""

    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(np.full(6, 1.5, np.float32))

    def forward(self, x):
        return x * self.gain - x.mean(axis=1, keepdims=True)


def test_forward_only_module_inside_a_sequential():
    rng = np.random.default_rng(15)
    model = nn.Sequential(nn.Linear(6, 6), _Scale(), nn.ReLU(), nn.Linear(6, 2))
    check_export(model, [X(rng, 3), X(rng, 8)])


def test_module_called_twice_shares_weights():
    rng = np.random.default_rng(13)
    lin = nn.Linear(6, 6)
    model = Fn(lambda m, x: m.shared(pydl.relu(m.shared(x))))
    model.shared = lin
    proto = check_export(model, [X(rng, 2), X(rng, 4)])
    weights = [t for t in proto.graph.initializer if tuple(t.dims) == (6, 6)]
    assert len(weights) == 1


# ---------------------------------------------------------------------- errors
def test_op_without_onnx_form_is_named():
    model = Fn(lambda m, x: F.mse_loss_forward(x, x * 0.5, reduction="none")[0] * 1.0)
    with pytest.raises(ExportError, match="'mse_loss_forward' .* has no ONNX export"):
        export(model, np.ones((2, 3, 6), np.float32), io.BytesIO())


def test_numpy_on_data_is_refused():
    model = Fn(lambda m, x: x * pydl.tensor(np.tanh(x.data)))
    with pytest.raises(ExportError, match="not computed by pydl tensor ops"):
        export(model, np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32),
               io.BytesIO())


def test_array_sized_by_batch_with_values_is_refused():
    model = Fn(lambda m, x: x + np.arange(len(x) * 6, dtype=np.float32).reshape(-1, 6))
    with pytest.raises(ExportError, match="argument 'b' of 'add' depends on the input"):
        export(model, np.ones((3, 6), np.float32), io.BytesIO())


def test_op_through_an_old_reference_is_named():
    model = Fn(lambda m, x: _EXP_BEFORE_TRACE(x) + 1.0)
    with pytest.raises(ExportError, match="'exp'.*did not see"):
        export(model, np.ones((3, 6), np.float32), io.BytesIO())


def test_batch_dependent_graph_warns():
    model = Fn(lambda m, x: sum(x[i] for i in range(len(x))) + 0.0)
    with pytest.warns(UserWarning, match="made other calls"):
        proto = export(model, np.ones((3, 6), np.float32), io.BytesIO())
    onnx.checker.check_model(proto, full_check=True)


def test_graph_traced_at_the_example_batch_declares_that_batch():
    # x.shape[0] read as a number: the file is right at the example's batch only, so
    # its input must not claim a symbolic batch (onnxruntime ran batch 5 and returned
    # 5/3 of the right values)
    model = Fn(lambda m, x: x.sum(axis=0) / x.shape[0])
    with pytest.warns(UserWarning, match="runs at that size only"):
        proto = export(model, np.ones((3, 6), np.float32), io.BytesIO())
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [3, 6]
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    x = np.arange(18, dtype=np.float32).reshape(3, 6)
    np.testing.assert_allclose(session.run(None, {"input": x})[0], x.mean(axis=0),
                               rtol=1e-6)
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        session.run(None, {"input": np.ones((5, 6), np.float32)})


def test_python_value_of_a_traced_tensor_warns():
    model = Fn(lambda m, x: x * 2.0 if x.sum() > 0 else x * 3.0)
    with pytest.warns(UserWarning, match=r"bool\(\) of a traced tensor"):
        export(model, np.ones((3, 6), np.float32), io.BytesIO())
    with pytest.warns(UserWarning) as record:
        export(Fn(lambda m, x: x * x.max().item()), np.ones((3, 6), np.float32), io.BytesIO())
    messages = " | ".join(str(w.message) for w in record)
    assert "item() of a traced tensor" in messages
    assert "argument 'b' of 'mul' changes with the input" in messages


def test_python_argument_of_a_module_call_is_refused():
    class Causal(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.ScaledDotProductAttention()

        def forward(self, x):
            return self.attn(x, x, x, is_causal=True)

    with pytest.raises(ExportError, match=r"argument 'is_causal' of the call of "
                                          r"ScaledDotProductAttention is True \(bool\)"):
        export(Causal(), np.ones((2, 3, 4), np.float32), io.BytesIO())


def test_mask_index_is_refused():
    model = Fn(lambda m, x: x[x > 0] * 1.0)
    with pytest.raises(ExportError, match="mask"):
        export(model, np.ones((3, 6), np.float32), io.BytesIO())


def test_random_dropout_is_refused():
    model = Fn(lambda m, x: F.dropout_forward(x, 0.5, training=True)[0])
    with pytest.raises(ExportError, match="training=True"):
        export(model, np.ones((3, 6), np.float32), io.BytesIO())


def test_batch_statistics_are_refused():
    model = Fn(lambda m, x: F.batch_norm_forward(x, training=True)[0])
    with pytest.raises(ExportError, match=r"batch_norm_forward\(training=True\)"):
        export(model, np.ones((3, 6), np.float32), io.BytesIO())


def test_computed_weight_of_a_module_op_is_refused():
    model = Fn(lambda m, x: F.prelu_forward(x, m.v * 2.0))
    with pytest.raises(ExportError, match="prelu_forward with a weight computed in the forward"):
        export(model, np.ones((3, 6), np.float32), io.BytesIO())


class _ArraysOnly(nn.Module):
    """An explicit backward, no converter, and a forward that works on arrays only."""

    def forward(self, x):
        return x.ravel() * 2         # a Tensor has no ravel

    def backward(self, g):
        return g * 2


class _NumpyResult(_ArraysOnly):
    def forward(self, x):
        return np.sin(x.data)        # on a Tensor .data is there; the result an array


def test_untraceable_explicit_module_is_named():
    with pytest.raises(NotImplementedError, match="_ArraysOnly.*forward on pydl.Tensor"):
        export(_ArraysOnly(), np.ones((2, 3), np.float32), io.BytesIO())


def test_result_computed_outside_tensor_ops_is_refused():
    with pytest.raises(ExportError, match="_NumpyResult.*result depends on the input"):
        export(_NumpyResult(), np.ones((2, 3), np.float32), io.BytesIO())


# ------------------------------------------------------------ the tracer itself
def _pydl_state():
    import pydl.nn.module as module_mod
    return (pydl.Tensor.__add__, pydl.Tensor.__getitem__, pydl.Tensor.__gt__,
            pydl.Tensor.sum, pydl.Tensor.__dict__["T"], pydl.exp, pydl.autograd.exp, ops.exp,
            F.relu_forward, F.linear_forward, module_mod.Module.__call__,
            pydl.is_grad_enabled())


def test_tracing_leaves_pydl_as_it_was():
    before = _pydl_state()
    rng = np.random.default_rng(14)
    check_export(ResidualMLP(), [_x(8)(rng, 2)])
    assert _pydl_state() == before
    with pytest.raises(ExportError):
        export(Fn(lambda m, x: F.dropout_forward(x, 0.5, training=True)[0]),
               np.ones((3, 6), np.float32), io.BytesIO())
    assert _pydl_state() == before


def test_other_threads_are_not_traced():
    """Ops run by another thread while a trace is on are not part of it."""
    from pydl.onnx._trace_calls import _patched, _Tracer
    tracer = _Tracer()
    seen = []

    def other():
        t = pydl.tensor(np.ones(3, np.float32))
        seen.append((t + t).data.sum())

    with _patched(tracer):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        mine = pydl.tensor(np.ones(2, np.float32)) * 3.0
    assert seen == [6.0]
    assert [c.name for c in tracer.calls] == ["mul"]
    assert mine.data.tolist() == [3.0, 3.0]
