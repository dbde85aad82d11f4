"""Layer-shape suite, convolutions (issue 13): pydl vs PyTorch on the conv layers of
ResNet-20/56 (CIFAR), LeNet-5, MobileNet-v1 and VGG-16, forward and forward+backward.

pydl runs ``pydl.functional.conv2d_forward`` / ``conv2d_backward`` (dx, dW, db);
PyTorch runs ``torch.nn.functional.conv2d`` and ``torch.autograd.grad`` for the same
three gradients. See layers_common.py for how rows are checked and timed.
"""

import numpy as np
import pytest

import pydl
from pydl import functional as F

from conftest import torch
from layers_common import check_once, need_torch, pairs, run_row

pytestmark = pytest.mark.layers

# name, batch, c_in, c_out, plane, kernel, stride, padding, groups
ROWS = [
    # ResNet-20/56 on CIFAR: the three stages' 3x3 convs, the stride-2 3x3 convs that
    # open stages 2 and 3, and their 1x1 stride-2 projection shortcuts
    ("resnet_c16_p32_b128", 128, 16, 16, 32, 3, 1, 1, 1),
    ("resnet_c32_p16_b128", 128, 32, 32, 16, 3, 1, 1, 1),
    ("resnet_c64_p8_b128", 128, 64, 64, 8, 3, 1, 1, 1),
    ("resnet_s2_c16to32_p32_b128", 128, 16, 32, 32, 3, 2, 1, 1),
    ("resnet_s2_c32to64_p16_b128", 128, 32, 64, 16, 3, 2, 1, 1),
    ("resnet_sc1x1_c16to32_p32_b128", 128, 16, 32, 32, 1, 2, 0, 1),
    ("resnet_sc1x1_c32to64_p16_b128", 128, 32, 64, 16, 1, 2, 0, 1),
    # LeNet-5
    ("lenet_c1to6_k5_p32_b32", 32, 1, 6, 32, 5, 1, 0, 1),
    ("lenet_c6to16_k5_p14_b32", 32, 6, 16, 14, 5, 1, 0, 1),
    # MobileNet-v1 blocks (depthwise 3x3 + pointwise 1x1): CIFAR-sized (32x32, batch
    # 128) and ImageNet-sized (112x112 after the stem, batch 8; the second block strides)
    ("mobilenet_dw_c32_p32_b128", 128, 32, 32, 32, 3, 1, 1, 32),
    ("mobilenet_pw_c32to64_p32_b128", 128, 32, 64, 32, 1, 1, 0, 1),
    ("mobilenet_dw_c32_p112_b8", 8, 32, 32, 112, 3, 1, 1, 32),
    ("mobilenet_pw_c32to64_p112_b8", 8, 32, 64, 112, 1, 1, 0, 1),
    ("mobilenet_dw_s2_c64_p112_b8", 8, 64, 64, 112, 3, 2, 1, 64),
    ("mobilenet_pw_c64to128_p56_b8", 8, 64, 128, 56, 1, 1, 0, 1),
    # VGG-16 at batch 8: one layer per plane size (the first of each stage)
    ("vgg_c3to64_p224_b8", 8, 3, 64, 224, 3, 1, 1, 1),
    ("vgg_c64to128_p112_b8", 8, 64, 128, 112, 3, 1, 1, 1),
    ("vgg_c128to256_p56_b8", 8, 128, 256, 56, 3, 1, 1, 1),
    ("vgg_c256to512_p28_b8", 8, 256, 512, 28, 3, 1, 1, 1),
    ("vgg_c512_p14_b8", 8, 512, 512, 14, 3, 1, 1, 1),
]


@pytest.mark.parametrize("row,mode,impl", pairs(ROWS))
def test_layers_conv(benchmark, row, mode, impl):
    need_torch(impl)
    name, n, c_in, c_out, p, k, stride, padding, groups = row
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c_in, p, p), dtype=np.float32)
    w = (rng.standard_normal((c_out, c_in // groups, k, k), dtype=np.float32)
         / np.float32(np.sqrt(c_in // groups * k * k)))
    b = rng.standard_normal(c_out, dtype=np.float32)
    kw = dict(stride=stride, padding=padding, groups=groups)
    y = F.conv2d_forward(x, w, b, **kw)
    g = rng.standard_normal(y.shape, dtype=np.float32)
    macs = y.size * (c_in // groups) * k * k
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    tg = torch.from_numpy(g)
    tconv = torch.nn.functional.conv2d

    if mode == "fwd":
        def pydl_run():
            with pydl.no_grad():
                return F.conv2d_forward(x, w, b, **kw)

        def torch_run():
            with torch.no_grad():
                return tconv(tx, tw, tb, **kw)
        flops = 2 * macs
    else:
        def pydl_run():
            F.conv2d_forward(x, w, b, **kw)
            return F.conv2d_backward(g, x, w, **kw)

        def torch_run():
            return torch.autograd.grad(tconv(tx, tw, tb, **kw), (tx, tw, tb), tg)
        flops = 6 * macs
    check_once((name, mode), pydl_run, torch_run)
    run_row(benchmark, "conv", name, mode, impl, pydl_run if impl == "pydl" else torch_run,
            flops=flops)
