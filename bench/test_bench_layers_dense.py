"""Layer-shape suite, dense layers (issue 13): Linear at batch 1 / 32 / 256 and widths
64 to 4096, forward and forward+backward (dx, dW, db). pydl runs
pydl.functional.linear_forward / linear_backward; PyTorch torch.nn.functional.linear and
torch.autograd.grad."""

import numpy as np
import pytest

import pydl
from pydl import functional as F

from conftest import torch
from layers_common import check_once, need_torch, pairs, run_row

pytestmark = pytest.mark.layers

# (in, out): an MLP's small layer, a 1024-wide hidden layer, VGG's 4096-wide classifier
WIDTHS = [(64, 256), (1024, 1024), (4096, 4096)]
ROWS = [(f"linear_{i}to{o}_b{n}", n, i, o) for n in (1, 32, 256) for i, o in WIDTHS]


@pytest.mark.parametrize("row,mode,impl", pairs(ROWS))
def test_layers_dense(benchmark, row, mode, impl):
    need_torch(impl)
    name, n, n_in, n_out = row
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, n_in), dtype=np.float32)
    w = rng.standard_normal((n_out, n_in), dtype=np.float32) / np.float32(np.sqrt(n_in))
    b = rng.standard_normal(n_out, dtype=np.float32)
    g = rng.standard_normal((n, n_out), dtype=np.float32)
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    tg = torch.from_numpy(g)
    tlin = torch.nn.functional.linear
    if mode == "fwd":
        def pydl_run():
            with pydl.no_grad():
                return F.linear_forward(x, w, b)

        def torch_run():
            with torch.no_grad():
                return tlin(tx, tw, tb)
        flops = 2 * n * n_in * n_out
    else:
        def pydl_run():
            F.linear_forward(x, w, b)
            return F.linear_backward(g, x, w)

        def torch_run():
            return torch.autograd.grad(tlin(tx, tw, tb), (tx, tw, tb), tg)
        flops = 6 * n * n_in * n_out
    check_once((name, mode), pydl_run, torch_run)
    run_row(benchmark, "dense", name, mode, impl, pydl_run if impl == "pydl" else torch_run,
            flops=flops)
