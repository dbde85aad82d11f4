"""pydl.onnx.export of the attention modules (several inputs, two outputs, masks)."""

import numpy as np
import pytest

import pydl
from pydl import nn

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from .export_check import check_export


def _qkv(rng, n, dtype=np.float32, lead=(), mask=None):
    q = rng.standard_normal((n, *lead, 4, 6)).astype(dtype)
    k = rng.standard_normal((n, *lead, 5, 6)).astype(dtype)
    v = rng.standard_normal((n, *lead, 5, 3)).astype(dtype)
    if mask == "bool":
        m = rng.random((n, *lead, 4, 5)) > 0.4
        m[0, ..., 1, :] = False       # a query that may attend to nothing: zero output
        return q, k, v, m
    if mask == "float":
        m = rng.standard_normal((n, *lead, 4, 5)).astype(dtype)
        m[m > 0.8] = -np.inf
        m[0, ..., 2, :] = -np.inf
        return q, k, v, m
    return q, k, v


@pytest.mark.parametrize("mask", [None, "bool", "float"])
@pytest.mark.parametrize("scale", [None, 0.3])
def test_scaled_dot_product_attention(mask, scale):
    rng = np.random.default_rng(0)
    check_export(nn.ScaledDotProductAttention(scale),
                 [_qkv(rng, 2, mask=mask), _qkv(rng, 5, mask=mask)])


def test_scaled_dot_product_attention_heads_and_float64():
    rng = np.random.default_rng(1)
    batches = [_qkv(rng, n, np.float64, lead=(3,), mask="bool") for n in (2, 4)]
    check_export(nn.ScaledDotProductAttention(), batches)


def _additive_inputs(rng, n, dtype=np.float32, masked=False):
    query = rng.standard_normal((n, 5)).astype(dtype)
    keys = rng.standard_normal((n, 7, 4)).astype(dtype)
    if not masked:
        return query, keys
    mask = rng.random((n, 7)) > 0.3
    mask[0] = False                   # every key masked: zero weights and context
    return query, keys, mask


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_additive_attention_context_and_weights(masked, dtype):
    rng = np.random.default_rng(2)
    pydl.manual_seed(2)
    model = nn.AdditiveAttention(5, 4, 6).to(dtype)
    proto = check_export(model, [_additive_inputs(rng, n, dtype, masked) for n in (2, 5)])
    assert [o.name for o in proto.graph.output] == ["output_0", "output_1"]
