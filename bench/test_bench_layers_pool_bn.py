"""Layer-shape suite, pooling and batch norm (issue 13) at the shapes of the conv suite's
networks: max 2x2 and 3x3 stride 2, average 2x2, adaptive average to 1x1, BatchNorm2d in
train mode (batch statistics, running buffers updated). pydl runs pydl.functional;
PyTorch runs torch.nn.functional and torch.autograd.grad (input gradient; BN also the
weight and bias gradients)."""

import numpy as np
import pytest

import pydl
from pydl import functional as F

from conftest import torch
from layers_common import check_once, need_torch, pairs, run_row

pytestmark = pytest.mark.layers

# name, op, batch, channels, plane, kernel, stride, padding
ROWS = [
    ("maxpool2_c64_p224_b8", "max", 8, 64, 224, 2, 2, 0),        # VGG-16 block 1
    ("maxpool2_c512_p28_b8", "max", 8, 512, 28, 2, 2, 0),        # VGG-16 block 4
    ("maxpool2_c6_p28_b32", "max", 32, 6, 28, 2, 2, 0),          # LeNet-5
    ("maxpool3s2_c64_p112_b8", "max", 8, 64, 112, 3, 2, 1),      # ResNet stem (ImageNet)
    ("avgpool2_c16_p10_b32", "avg", 32, 16, 10, 2, 2, 0),        # LeNet-5 (subsampling)
    ("avgpool2_c32_p16_b128", "avg", 128, 32, 16, 2, 2, 0),      # CIFAR-sized
    ("adaptive1_c64_p8_b128", "adaptive", 128, 64, 8, 0, 0, 0),  # ResNet-20 head
    ("adaptive1_c1024_p7_b8", "adaptive", 8, 1024, 7, 0, 0, 0),  # MobileNet-v1 head
    ("bn_c16_p32_b128", "bn", 128, 16, 32, 0, 0, 0),             # ResNet-20 stage 1
    ("bn_c32_p16_b128", "bn", 128, 32, 16, 0, 0, 0),             # ResNet-20 stage 2
    ("bn_c64_p8_b128", "bn", 128, 64, 8, 0, 0, 0),               # ResNet-20 stage 3
    ("bn_c32_p112_b8", "bn", 8, 32, 112, 0, 0, 0),               # MobileNet-v1 block 1
]


@pytest.mark.parametrize("row,mode,impl", pairs(ROWS))
def test_layers_pool_bn(benchmark, row, mode, impl):
    need_torch(impl)
    name, op, n, c, p, k, s, pad = row
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, p, p), dtype=np.float32)
    tF = torch.nn.functional
    tx = torch.from_numpy(x).requires_grad_()
    if op == "bn":
        w = rng.uniform(0.5, 1.5, c).astype(np.float32)
        b = rng.standard_normal(c, dtype=np.float32)
        rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
        tw, tb = (torch.from_numpy(a.copy()).requires_grad_() for a in (w, b))
        trm, trv = torch.zeros(c), torch.ones(c)
        y_shape = x.shape

        def p_fwd():
            return F.batch_norm_forward(x, w, b, rm, rv, training=True)

        def t_fwd():
            return tF.batch_norm(tx, trm, trv, tw, tb, training=True)
    elif op == "max":
        y_shape = tF.max_pool2d(tx, k, s, pad).shape

        def p_fwd():
            return F.max_pool2d_forward(x, k, s, pad)

        def t_fwd():
            return tF.max_pool2d(tx, k, s, pad)
    elif op == "avg":
        y_shape = tF.avg_pool2d(tx, k, s, pad).shape

        def p_fwd():
            return F.avg_pool2d_forward(x, k, s, pad)

        def t_fwd():
            return tF.avg_pool2d(tx, k, s, pad)
    else:
        y_shape = (n, c, 1, 1)

        def p_fwd():
            return F.adaptive_avg_pool2d_forward(x, 1)

        def t_fwd():
            return tF.adaptive_avg_pool2d(tx, 1)
    g = rng.standard_normal(tuple(y_shape), dtype=np.float32)
    tg = torch.from_numpy(g)

    if mode == "fwd":
        def pydl_run():
            with pydl.no_grad():
                out = p_fwd()
            return out[0] if isinstance(out, tuple) else out

        def torch_run():
            with torch.no_grad():
                return t_fwd()
    else:
        if op == "bn":
            def pydl_run():
                _, mean, invstd = p_fwd()
                return F.batch_norm_backward(g, x, w, mean, invstd, training=True)

            def torch_run():
                return torch.autograd.grad(t_fwd(), (tx, tw, tb), tg)
        else:
            if op == "max":
                def p_bwd():
                    _, idx = p_fwd()
                    return F.max_pool2d_backward(g, idx, x.shape)
            elif op == "avg":
                def p_bwd():
                    p_fwd()
                    return F.avg_pool2d_backward(g, x.shape, k, s, pad)
            else:
                def p_bwd():
                    p_fwd()
                    return F.adaptive_avg_pool2d_backward(g, x.shape)
            pydl_run = p_bwd

            def torch_run():
                return torch.autograd.grad(t_fwd(), tx, tg)
    check_once((name, mode), pydl_run, torch_run)
    run_row(benchmark, "pool_bn", name, mode, impl,
            pydl_run if impl == "pydl" else torch_run)
