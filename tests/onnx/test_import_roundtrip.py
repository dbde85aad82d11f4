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

from . import test_export_rnn as rnn_cases
from . import test_export_trace as trace_cases
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


def _flat(value):
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _flat(v)]
    return [np.asarray(value)]


@pytest.mark.parametrize("layers,bidirectional,batch_first,bias", rnn_cases.CONFIGS,
                         ids=lambda v: str(v))
@pytest.mark.parametrize("name,cls,kwargs", rnn_cases.KINDS, ids=[k[0] for k in rnn_cases.KINDS])
def test_recurrent_layer_roundtrip(name, cls, kwargs, layers, bidirectional, batch_first,
                                   bias):
    """A stacked recurrent layer exports as one ONNX node per layer and direction, and
    loads back as one pydl layer each; outputs and final states equal."""
    rng = np.random.default_rng(0)
    pydl.manual_seed(0)
    model = cls(5, 6, num_layers=layers, bidirectional=bidirectional,
                batch_first=batch_first, bias=bias, **kwargs)
    for p in model.parameters():
        p.data *= 0.5
    examples = [rnn_cases._seq(rng, batch_first, steps, batch, 5)
                for steps, batch in ((4, 3), (7, 1), (2, 6))]
    buf = io.BytesIO()
    proto = rnn_cases._free_dims(pydl.onnx.export(model, examples[0], buf))
    loaded = pydl.onnx.load(proto)
    assert sum(isinstance(m, cls) for m in loaded.modules()) == layers
    for x in examples:
        got, want = _flat(_forward_tuple(loaded, x)), _flat(_forward_tuple(model, x))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def _forward_tuple(model, x):
    with nn.module.eval_in_this_thread(), pydl.no_grad():
        return model(x)


@pytest.mark.parametrize("name,fn,make", trace_cases.OPS + trace_cases.F_OPS,
                         ids=[o[0] for o in trace_cases.OPS + trace_cases.F_OPS])
def test_traced_model_roundtrip(name, fn, make):
    """Models written with tensor ops (exported by tracing) load back and compute the
    same."""
    rng = np.random.default_rng(2)
    model = trace_cases._case_model(fn)()
    loaded = _roundtrip(model, make(rng, 3))
    for n in (3, 5):
        x = make(rng, n)
        for g, w in zip(_flat(_forward_tuple(loaded, x)), _flat(_forward_tuple(model, x))):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
