"""pydl.onnx.load on models exported by PyTorch: the same outputs at two batch sizes,
and the loaded model trains."""

import io

import numpy as np
import pytest

import pydl
import pydl.onnx
from pydl import nn as pnn

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
tnn = torch.nn

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning",
                                        "ignore::DeprecationWarning")


def export(model, example, *, dynamic=True, opset_version=17, **kwargs):
    """The ONNX bytes of a torch model (legacy exporter, opset 17, dynamic batch)."""
    model.eval()
    f = io.BytesIO()
    axes = {"x": {0: "batch"}, "y": {0: "batch"}} if dynamic else None
    torch.onnx.export(model, (example,), f, dynamo=False, opset_version=opset_version,
                      input_names=["x"], output_names=["y"], dynamic_axes=axes, **kwargs)
    return f.getvalue()


def assert_same(loaded, model, xs, atol=1e-5, rtol=1e-4):
    for x in xs:
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        got = np.asarray(loaded(x))
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


class ResidualCNN(tnn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = tnn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = tnn.BatchNorm2d(8)
        self.conv2 = tnn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = tnn.BatchNorm2d(8)
        self.pool = tnn.MaxPool2d(2)
        self.fc = tnn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = torch.relu(self.bn2(self.conv2(h)) + h)          # residual add
        h = self.pool(h)
        return self.fc(h.view(h.size(0), -1))              # Shape/Gather/Concat/Reshape


def _trained_stats(model):
    """Non-trivial BatchNorm statistics, so that eval mode matters."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, tnn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model


def _images(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 3, 8, 8)).astype(np.float32)


@pytest.mark.parametrize("folding", [True, False], ids=["bn-folded", "bn-nodes"])
def test_cnn_matches_torch_at_two_batch_sizes(folding, tmp_path):
    torch.manual_seed(0)
    model = _trained_stats(ResidualCNN())
    path = tmp_path / "cnn.onnx"
    path.write_bytes(export(model, torch.randn(2, 3, 8, 8), do_constant_folding=folding))
    proto = onnx.load(str(path))
    ops = {n.op_type for n in proto.graph.node}
    assert ("BatchNormalization" in ops) == (not folding)
    assert {"Conv", "Add", "MaxPool", "Reshape", "Gemm"} <= ops
    loaded = pydl.onnx.load(path)
    assert isinstance(loaded, pnn.Module) and not loaded.training
    if not folding:
        kinds = {type(m).__name__ for m in loaded.modules()}
        assert {"Conv2d", "BatchNorm2d", "MaxPool2d", "Flatten", "Linear"} <= kinds
    assert_same(loaded, model, [_images(2), _images(7, seed=1)])
    # the same through every accepted form of the argument
    for arg in (str(path), path.read_bytes(), proto):
        np.testing.assert_array_equal(np.asarray(pydl.onnx.load(arg)(_images(3))),
                                      np.asarray(loaded(_images(3))))


class RecurrentLSTM(tnn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = tnn.LSTM(4, 6, num_layers=2, batch_first=True)
        self.fc = tnn.Linear(6, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[:, -1])


class RecurrentGRU(tnn.Module):
    def __init__(self, bidirectional=True, batch_first=False):
        super().__init__()
        self.batch_first = batch_first
        self.gru = tnn.GRU(4, 5, bidirectional=bidirectional, batch_first=batch_first)
        self.fc = tnn.Linear(10 if bidirectional else 5, 3)

    def forward(self, x):
        y, _ = self.gru(x)
        return self.fc(y[:, -1] if self.batch_first else y[-1])


class RecurrentRNN(tnn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = tnn.RNN(4, 5, num_layers=2, nonlinearity="relu", batch_first=True,
                           bidirectional=True)
        self.fc = tnn.Linear(10, 2)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y.mean(dim=1))


def _sequences(n, steps=7, seed=0, batch_first=True):
    shape = (n, steps, 4) if batch_first else (steps, n, 4)
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("make, batch_first", [
    (RecurrentLSTM, True),
    (lambda: RecurrentGRU(True, True), True),
    (lambda: RecurrentGRU(False, False), False),
    (RecurrentRNN, True),
], ids=["lstm-2-layers", "gru-bidirectional", "gru-time-major", "rnn-relu-bidirectional"])
def test_recurrent_models_match_torch(make, batch_first):
    torch.manual_seed(1)
    model = make()
    batch_axis = 0 if batch_first else 1
    f = io.BytesIO()
    model.eval()
    torch.onnx.export(model, (torch.from_numpy(_sequences(2, batch_first=batch_first)),), f,
                      dynamo=False, opset_version=17, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {batch_axis: "batch", 1 - batch_axis: "time"},
                                    "y": {0: "batch"}})
    loaded = pydl.onnx.load(f.getvalue())
    layers = [m for m in loaded.modules() if isinstance(m, pnn.RNNBase)]
    assert layers
    assert_same(loaded, model, [_sequences(2, batch_first=batch_first),
                                _sequences(5, seed=3, batch_first=batch_first),
                                _sequences(3, steps=4, seed=4, batch_first=batch_first)])


def test_loaded_cnn_trains_with_fit():
    torch.manual_seed(2)
    model = _trained_stats(ResidualCNN())
    loaded = pydl.onnx.load(export(model, torch.randn(2, 3, 8, 8), do_constant_folding=False))
    params = list(loaded.parameters())
    assert params and all(isinstance(p, pnn.Parameter) for p in params)
    n_weights = sum(p.size for p in params)
    assert n_weights == sum(p.numel() for p in model.parameters())
    x = _images(64, seed=4)
    y = np.random.default_rng(5).integers(0, 5, 64)
    before = [p.data.copy() for p in params]
    crit = pnn.CrossEntropyLoss()
    start = pydl.evaluate(loaded, x, y, loss=crit)["loss"]
    hist = pydl.fit(loaded, x, y, loss=crit, epochs=8, batch_size=16, verbose=0, seed=0,
                    optimizer=pydl.optim.Adam(loaded.parameters(), lr=0.01))
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert pydl.evaluate(loaded, x, y, loss=crit)["loss"] < 0.8 * start
    assert all(not np.array_equal(b, p.data) for b, p in zip(before, params))


def test_loaded_lstm_trains_with_a_manual_step():
    torch.manual_seed(3)
    loaded = pydl.onnx.load(export(RecurrentLSTM(), torch.from_numpy(_sequences(2))))
    loaded.train()
    x = _sequences(16, seed=6)
    target = np.random.default_rng(7).standard_normal((16, 3)).astype(np.float32)
    opt = pydl.optim.SGD(loaded.parameters(), lr=0.1)
    crit = pnn.MSELoss()
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = crit(loaded(pydl.tensor(x)), pydl.tensor(target))
        loss.backward()
        assert all(p.grad is not None for p in loaded.parameters())
        opt.step()
        losses.append(float(loss.item()))
    assert losses[-1] < losses[0]


def test_loaded_models_pass_gradcheck_in_float64():
    torch.manual_seed(4)
    cnn = pydl.onnx.load(export(ResidualCNN(), torch.randn(2, 3, 8, 8),
                                do_constant_folding=False)).double()
    assert pydl.testing.gradcheck(cnn, _images(2).astype(np.float64), max_elements=24)
    lstm = pydl.onnx.load(export(RecurrentLSTM(), torch.from_numpy(_sequences(2)))).double()
    assert pydl.testing.gradcheck(lstm, _sequences(2).astype(np.float64),
                                  max_elements=24)


def test_a_chain_of_layers_loads_as_a_sequential():
    torch.manual_seed(5)
    model = tnn.Sequential(tnn.Conv2d(3, 4, 3, stride=2, padding=1), tnn.BatchNorm2d(4),
                           tnn.ReLU(), tnn.Flatten(), tnn.Linear(4 * 4 * 4, 6), tnn.Tanh())
    _trained_stats(model)
    loaded = pydl.onnx.load(export(model, torch.randn(2, 3, 8, 8), do_constant_folding=False))
    assert isinstance(loaded, pnn.Sequential)
    assert [type(m).__name__ for m in loaded] == ["Conv2d", "BatchNorm2d", "ReLU", "Flatten",
                                                  "Linear", "Tanh"]
    assert_same(loaded, model, [_images(2), _images(5, seed=2)])
    assert pydl.testing.gradcheck(loaded.double(), _images(2).astype(np.float64),
                                  max_elements=16)


def test_view_as_flatten_and_erf_gelu_become_layers():
    """x.view(x.size(0), -1) (Shape/Gather/Unsqueeze/Concat/Reshape) is nn.Flatten and
    the Erf spelling of GELU is nn.GELU: the chain loads as a Sequential."""
    torch.manual_seed(9)

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv = tnn.Conv2d(3, 4, 3)
            self.fc = tnn.Linear(4 * 6 * 6, 5)

        def forward(self, x):
            h = tnn.functional.gelu(self.conv(x))
            return torch.tanh(self.fc(h.view(h.size(0), -1)))

    model = Net()
    proto = onnx.load_model_from_string(export(model, torch.randn(2, 3, 8, 8)))
    assert {"Shape", "Erf", "Reshape"} <= {n.op_type for n in proto.graph.node}
    loaded = pydl.onnx.load(proto)
    assert isinstance(loaded, pnn.Sequential)
    assert [type(m).__name__ for m in loaded] == ["Conv2d", "GELU", "Flatten", "Linear",
                                                  "Tanh"]
    assert_same(loaded, model, [_images(2), _images(4, seed=3)])


# ------------------------------------------------------------- op coverage
class Lambda(tnn.Module):
    def __init__(self, fn, *modules):
        super().__init__()
        self.fn = fn
        self.layers = tnn.ModuleList(modules)

    def forward(self, x):
        return self.fn(x, *self.layers)


def _case(fn, *modules):
    return lambda: Lambda(fn, *modules)


_CASES = {
    "conv1d-dilated-grouped": ((4, 10), _case(lambda x, c: c(x),
                                              tnn.Conv1d(4, 6, 3, dilation=2, groups=2))),
    "conv3d-strided": ((2, 5, 6, 6), _case(lambda x, c: c(x),
                                           tnn.Conv3d(2, 3, 3, stride=2, padding=1))),
    "conv-transpose2d": ((4, 5, 5), _case(lambda x, c: c(x), tnn.ConvTranspose2d(
        4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=1))),
    "conv-transpose1d-dilated": ((3, 7), _case(lambda x, c: c(x), tnn.ConvTranspose1d(
        3, 2, 3, stride=3, padding=2, dilation=2))),
    "conv-transpose3d": ((2, 3, 3, 3), _case(lambda x, c: c(x),
                                             tnn.ConvTranspose3d(2, 2, 2, stride=2))),
    "avgpool-ceil-pad": ((3, 9, 9), _case(lambda x, p: p(x), tnn.AvgPool2d(
        3, stride=2, padding=1, ceil_mode=True, count_include_pad=False))),
    "avgpool-include-pad": ((3, 8, 8), _case(lambda x, p: p(x), tnn.AvgPool2d(
        3, stride=2, padding=1, count_include_pad=True))),
    "maxpool1d-ceil-dilated": ((3, 11), _case(lambda x, p: p(x), tnn.MaxPool1d(
        3, stride=2, padding=1, dilation=2, ceil_mode=True))),
    "global-avg-and-max": ((3, 5, 5), _case(
        lambda x, a, m: torch.cat([a(x), m(x)], dim=1).flatten(1),
        tnn.AdaptiveAvgPool2d(1), tnn.AdaptiveMaxPool2d(1))),
    "layernorm": ((5, 6), _case(lambda x, ln: ln(x), tnn.LayerNorm(6))),
    "layernorm-2d": ((4, 5, 6), _case(lambda x, ln: ln(x), tnn.LayerNorm([5, 6]))),
    "softmax-logsoftmax": ((7,), _case(lambda x: torch.softmax(x, 1) + torch.log_softmax(x, 1))),
    "softmax-dim0-of-3d": ((3, 4), _case(lambda x: torch.softmax(x, 2))),
    "activations": ((10,), _case(
        lambda x, *acts: sum(a(x) for a in acts),
        tnn.ReLU(), tnn.LeakyReLU(0.2), tnn.ELU(0.7), tnn.Sigmoid(), tnn.Tanh(),
        tnn.Softplus(), tnn.Hardtanh(-0.5, 0.8), tnn.ReLU6(), tnn.SiLU(), tnn.GELU(),
        tnn.GELU(approximate="tanh"), tnn.SELU(), tnn.CELU(0.5), tnn.Softsign(),
        tnn.Hardsigmoid(), tnn.Hardswish(), tnn.Mish())),
    "prelu": ((3, 4, 4), _case(lambda x, p: p(x), tnn.PReLU(3, 0.1))),
    "upsample-nearest": ((2, 3, 4), _case(lambda x, u: u(x),
                                          tnn.Upsample(scale_factor=2, mode="nearest"))),
    "upsample-bilinear": ((2, 3, 4), _case(lambda x, u: u(x), tnn.Upsample(
        scale_factor=2, mode="bilinear", align_corners=False))),
    "upsample-bilinear-corners": ((2, 3, 4), _case(lambda x, u: u(x), tnn.Upsample(
        scale_factor=3, mode="bilinear", align_corners=True))),
    "upsample-size": ((2, 3, 4), _case(
        lambda x: tnn.functional.interpolate(x, size=(5, 7), mode="bilinear"))),
    "linear-on-3d": ((4, 6), _case(lambda x, lin: lin(x), tnn.Linear(6, 3))),
    "shapes": ((2, 3, 4), _case(
        lambda x: torch.cat([x.transpose(1, 3).reshape(x.shape[0], -1),
                             x.unsqueeze(1).squeeze(1).flatten(1) * 2 - 1,
                             (x[:, 1:, ::2] / 3).flatten(1)], dim=1))),
    "arithmetic": ((5,), _case(lambda x: (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True)
                                                                          + 1) + x.abs().sqrt()
                               * x.exp().clamp(max=3) + torch.maximum(x, -x) ** 2)),
    "matmul-parameter": ((4,), _case(lambda x, lin: x @ lin.weight + lin.weight.sum(),
                                     tnn.Linear(5, 4))),
    "dropout-eval": ((6,), _case(lambda x, d, lin: lin(d(x)), tnn.Dropout(0.3),
                                 tnn.Linear(6, 2))),
}


@pytest.mark.parametrize("name", sorted(_CASES))
def test_op_matches_torch(name):
    shape, make = _CASES[name]
    torch.manual_seed(6)
    model = make()
    x = lambda n, seed: np.random.default_rng(seed).standard_normal(
        (n, *shape)).astype(np.float32)
    loaded = pydl.onnx.load(export(model, torch.from_numpy(x(2, 0))))
    assert_same(loaded, model, [x(2, 1), x(3, 2)])


def test_embedding_model_matches_torch_and_trains():
    torch.manual_seed(7)

    class Bag(tnn.Module):
        def __init__(self):
            super().__init__()
            self.emb = tnn.Embedding(11, 4)
            self.fc = tnn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.emb(x).mean(dim=1))

    model = Bag()
    tokens = np.random.default_rng(0).integers(0, 11, (3, 5))
    loaded = pydl.onnx.load(export(model, torch.from_numpy(tokens)))
    assert any(isinstance(m, pnn.Embedding) for m in loaded.modules())
    for n in (3, 6):
        t = np.random.default_rng(n).integers(0, 11, (n, 5))
        with torch.no_grad():
            want = model(torch.from_numpy(t)).numpy()
        np.testing.assert_allclose(np.asarray(loaded(t)), want, rtol=1e-5, atol=1e-6)
    loaded.train()
    opt = pydl.optim.SGD(loaded.parameters(), lr=0.5)
    y = np.array([0, 1, 1])
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss = pnn.CrossEntropyLoss()(loaded(pydl.tensor(tokens)), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_float64_model():
    torch.manual_seed(8)
    model = ResidualCNN()
    loaded = pydl.onnx.load(export(model, torch.randn(2, 3, 8, 8))).double()
    x = _images(2).astype(np.float64)
    with torch.no_grad():
        want = model.double()(torch.from_numpy(x)).numpy()
    got = np.asarray(loaded(x))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_input_shape_is_checked():
    loaded = pydl.onnx.load(export(ResidualCNN(), torch.randn(2, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"input 'x' .* shape \(\?, 3, 8, 8\).*\(2, 3, 9, 9\)"):
        loaded(np.zeros((2, 3, 9, 9), np.float32))
    with pytest.raises(TypeError, match=r"takes 1 input\(s\) \['x'\], got 2"):
        loaded(_images(2), _images(2))


def test_group_norm_and_instance_norm_load_as_those_layers():
    torch.manual_seed(10)
    model = tnn.Sequential(tnn.Conv2d(3, 4, 3), tnn.GroupNorm(2, 4), tnn.ReLU(),
                           tnn.InstanceNorm2d(4, affine=True), tnn.Flatten())
    with torch.no_grad():
        for m in (model[1], model[3]):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.5, 0.5)
    loaded = pydl.onnx.load(export(model, torch.randn(2, 3, 8, 8)))
    assert isinstance(loaded, pnn.Sequential)
    assert [type(m).__name__ for m in loaded] == ["Conv2d", "GroupNorm", "ReLU",
                                                  "InstanceNorm2d", "Flatten"]
    assert sum(p.size for p in loaded.parameters()) == sum(p.numel()
                                                           for p in model.parameters())
    assert_same(loaded, model, [_images(2), _images(3, seed=4)])


@pytest.mark.parametrize("opset", [9, 11, 13, 20])
def test_older_and_newer_opsets(opset):
    """Squeeze/Unsqueeze/Split axes as attributes (< 13), Softmax over flattened
    trailing axes (< 13), Gelu as one op (20)."""
    torch.manual_seed(11)

    class Mixed(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv = tnn.Conv2d(3, 4, 3, padding=1)
            self.lstm = tnn.LSTM(4, 5, batch_first=True)
            self.fc = tnn.Linear(5, 3)

        def forward(self, x):
            h = tnn.functional.gelu(self.conv(x)).mean(dim=3)          # (N, 4, 8)
            a, b = h.transpose(1, 2).chunk(2, dim=1)                   # Split
            y, _ = self.lstm(torch.cat([b, a], dim=1))
            return torch.log_softmax(self.fc(y[:, -1]), dim=-1)

    model = Mixed()
    loaded = pydl.onnx.load(export(model, torch.randn(2, 3, 8, 8), opset_version=opset))
    assert_same(loaded, model, [_images(2), _images(5, seed=5)])


def test_transformer_encoder_layer_matches_and_trains():
    """Embedding, multi-head attention (MatMul of activations, Softmax, head reshapes),
    LayerNormalization, GELU and dropout as PyTorch exports them. (PyTorch bakes the
    sequence length into the attention's reshapes: onnxruntime too runs only that one.)"""
    torch.manual_seed(12)

    class Encoder(tnn.Module):
        def __init__(self):
            super().__init__()
            self.emb = tnn.Embedding(20, 8)
            self.layer = tnn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, batch_first=True,
                                                     activation="gelu")
            self.fc = tnn.Linear(8, 3)

        def forward(self, x):
            return self.fc(self.layer(self.emb(x)).mean(dim=1))

    model = Encoder().eval()
    rng = np.random.default_rng(0)
    loaded = pydl.onnx.load(export(model, torch.from_numpy(rng.integers(0, 20, (2, 5)))))
    assert {"Embedding", "LayerNorm", "GELU", "Softmax", "Linear"} <= {
        type(m).__name__ for m in loaded.modules()}
    for n in (2, 4):
        tokens = rng.integers(0, 20, (n, 5))
        with torch.no_grad():
            want = model(torch.from_numpy(tokens)).numpy()
        np.testing.assert_allclose(np.asarray(loaded(tokens)), want, rtol=1e-4, atol=1e-5)
    assert sum(p.size for p in loaded.parameters()) == sum(p.numel()
                                                           for p in model.parameters())
    loaded.train()
    tokens, labels = rng.integers(0, 20, (16, 5)), rng.integers(0, 3, 16)
    opt = pydl.optim.Adam(loaded.parameters(), lr=0.01)
    losses = []
    for _ in range(6):
        opt.zero_grad()
        loss = pnn.CrossEntropyLoss()(loaded(tokens), labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_weight_norm_and_weights_computed_from_initializers():
    """PyTorch's weight_norm spells the weight as ops on g and v; exported without
    constant folding they stay ops, which fold at load into the layer's weight."""
    torch.manual_seed(13)
    from torch.nn.utils.parametrizations import weight_norm
    model = tnn.Sequential(weight_norm(tnn.Conv2d(3, 4, 3)), tnn.ReLU(), tnn.Flatten(),
                           weight_norm(tnn.Linear(4 * 6 * 6, 2)))
    loaded = pydl.onnx.load(export(model, torch.randn(2, 3, 8, 8), do_constant_folding=False))
    assert isinstance(loaded, pnn.Sequential)
    assert [type(m).__name__ for m in loaded] == ["Conv2d", "ReLU", "Flatten", "Linear"]
    assert_same(loaded, model, [_images(2), _images(3, seed=6)])
