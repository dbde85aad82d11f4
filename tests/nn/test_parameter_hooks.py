"""Parameter.register_post_accumulate_grad_hook: when hooks run, removal, and that a
hook never outlives its parameter (the registry is keyed by id)."""

import gc

import numpy as np
import pytest

import pydl
from pydl.autograd import graph
from pydl.nn import Linear, Parameter


def test_hook_runs_after_each_accumulation_on_both_paths():
    layer = Linear(3, 2)
    seen = []
    handle = layer.weight.register_post_accumulate_grad_hook(
        lambda p: seen.append(p.grad.copy()))
    x = np.ones((4, 3))
    layer(x.astype(np.float32))
    layer.backward(np.ones((4, 2), np.float32))
    layer(pydl.tensor(x.astype(np.float32))).sum().backward()
    assert len(seen) == 2
    np.testing.assert_array_equal(seen[1], 2 * seen[0])   # the second added to the first
    handle.remove()
    handle.remove()                                          # removing twice is harmless
    layer.zero_grad()
    layer(x.astype(np.float32))
    layer.backward(np.ones((4, 2), np.float32))
    assert len(seen) == 2 and id(layer.weight) not in graph.post_accumulate_hooks


def test_a_hook_dies_with_its_parameter():
    p = Parameter(np.zeros(3))
    key = id(p)
    p.register_post_accumulate_grad_hook(lambda q: None)   # handle dropped at once
    assert key in graph.post_accumulate_hooks
    del p
    gc.collect()
    assert key not in graph.post_accumulate_hooks


def test_hook_must_be_callable():
    with pytest.raises(TypeError, match="hook must be callable"):
        Parameter(np.zeros(2)).register_post_accumulate_grad_hook(3)
