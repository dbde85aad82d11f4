"""pydl model -> pydl.onnx.export -> pydl.onnx.load: the same outputs at two batch
sizes, for every pydl.models architecture the exporter covers and an LSTM
classifier; the reloaded model trains."""

import io

import numpy as np
import pytest

import pydl
import pydl.onnx
from pydl import nn

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from .test_export import LAYERS, randomize_stats
from .test_export_models import ARCHITECTURES, HEAVY
from .test_export_rnn import LSTMClassifier

LIGHT = [a for a in ARCHITECTURES if a[0] not in HEAVY]


def _roundtrip(model, example):
    buf = io.BytesIO()
    pydl.onnx.export(model, example, buf)
    return pydl.onnx.load(buf.getvalue())


def _forward(model, x):
    with nn.module.eval_in_this_thread(), pydl.no_grad():
        return np.asarray(model(x))


@pytest.mark.parametrize("opset", [13, 17, 21])
@pytest.mark.parametrize("name,factory,make", LAYERS, ids=[a[0] for a in LAYERS])
def test_layer_roundtrip(name, factory, make, opset):
    """Every layer the exporter writes loads back and computes the same."""
    rng = np.random.default_rng(0)
    pydl.manual_seed(0)
    model = randomize_stats(factory(), rng)
    buf = io.BytesIO()
    pydl.onnx.export(model, make(rng, 2, np.float32), buf, opset=opset)
    loaded = pydl.onnx.load(buf.getvalue())
    for n in (2, 5):
        x = make(rng, n, np.float32)
        np.testing.assert_allclose(_forward(loaded, x), _forward(model, x), rtol=1e-4,
                                   atol=1e-5)


@pytest.mark.parametrize("name,factory,make,_", LIGHT, ids=[a[0] for a in LIGHT])
def test_architecture_roundtrip(name, factory, make, _):
    rng = np.random.default_rng(0)
    pydl.manual_seed(0)
    model = randomize_stats(factory(), rng)
    loaded = _roundtrip(model, make(rng, 2))
    n_params = sum(p.size for p in loaded.parameters())
    assert n_params == sum(p.size for p in model.parameters())
    for n in (2, 5):
        x = make(rng, n)
        np.testing.assert_allclose(_forward(loaded, x), _forward(model, x), rtol=1e-4,
                                   atol=1e-5)


def test_a_reloaded_chain_is_a_sequential_of_the_same_layers():
    pydl.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(12, 6), nn.GELU(), nn.Linear(6, 2))
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4)).astype(np.float32)
    loaded = _roundtrip(model, x)
    assert isinstance(loaded, nn.Sequential)
    assert [type(m) for m in loaded] == [type(m) for m in model]
    np.testing.assert_allclose(_forward(loaded, x), _forward(model, x), rtol=1e-5, atol=1e-6)


def test_group_and_instance_norm_roundtrip_as_those_layers():
    pydl.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.GroupNorm(2, 4), nn.ReLU(),
                          nn.InstanceNorm2d(4, affine=True))
    rng = np.random.default_rng(3)
    for m in (model[1], model[3]):
        m.weight.data[...] = rng.uniform(0.5, 1.5, 4)
        m.bias.data[...] = rng.uniform(-0.5, 0.5, 4)
    x = rng.standard_normal((2, 2, 6, 6)).astype(np.float32)
    loaded = _roundtrip(model, x)
    assert isinstance(loaded, nn.Sequential)
    assert [type(m) for m in loaded] == [type(m) for m in model]
    for n in (2, 3):
        xx = rng.standard_normal((n, 2, 6, 6)).astype(np.float32)
        np.testing.assert_allclose(_forward(loaded, xx), _forward(model, xx), rtol=1e-4,
                                   atol=1e-5)


def test_lstm_classifier_roundtrip_and_training():
    rng = np.random.default_rng(1)
    pydl.manual_seed(1)
    model = LSTMClassifier()
    loaded = _roundtrip(model, rng.integers(0, 30, (3, 7)))
    assert {type(m).__name__ for m in loaded.modules()} >= {"Embedding", "LSTM", "Linear"}
    for n in (3, 6):
        tokens = rng.integers(0, 30, (n, 7))
        np.testing.assert_allclose(_forward(loaded, tokens), _forward(model, tokens),
                                   rtol=1e-4, atol=1e-5)
    # pydl.fit takes float inputs only: a manual loop over integer token batches
    tokens = rng.integers(0, 30, (32, 7))
    labels = tokens[:, -1] % 5
    loaded.train()
    opt = pydl.optim.Adam(loaded.parameters(), lr=0.02)
    losses = []
    for _ in range(6):
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(loaded(tokens), labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]
