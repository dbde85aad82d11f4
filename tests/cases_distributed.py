"""Registrations of SyncBatchNorm (outside data-parallel training, where it is batch
norm on its own code path's forward) for the cross-cutting tests; see
tests/_registry.py for the format. Multi-rank checks: tests/distributed/."""

import numpy as np

import pydl
from pydl import nn
from tests.cases_norm import _chain_step


def _x(rng, *shape):
    return (rng.standard_normal(shape) * 2.0 + 1.0).astype(np.float32)


def _sync_bn_case(shape):
    def run(seed, zero):
        rng = np.random.default_rng(seed)
        bn = nn.SyncBatchNorm(shape[1])
        bn.weight.data[...] = rng.standard_normal(shape[1])
        x = _x(rng, *shape)
        y = bn(x)
        g = np.zeros(shape, np.float32) if zero else _x(rng, *shape)
        gx = bn.backward(g)
        return {"out": [y, bn.running_mean, bn.running_var],
                "grad": [gx, bn.weight.grad, bn.bias.grad]}
    return run


DETERMINISM_CASES = {"SyncBatchNorm-2d": _sync_bn_case((9, 5, 7, 6))}


def _sync_bn_step():
    pydl.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    return _chain_step([nn.SyncBatchNorm(4), nn.ReLU()], x)


LEAK_STEPS = {"sync-batchnorm": _sync_bn_step}


def _sync_bn_fuzz(rng):
    return nn.SyncBatchNorm(3), (_x(rng, 4, 3, 5),), {}


FUZZ_CALLS = {"nn.SyncBatchNorm": _sync_bn_fuzz}
