"""Layer-shape suite, end to end (issue 13): one training step of ResNet-20 on
CIFAR-shaped random data (batch 128) and of a character-level LSTM language model
(embedding + LSTM + Linear + cross-entropy + SGD step), pydl modules vs the same
networks in PyTorch with the same weights (checked once: the first step's logits).

The other end-to-end figures of issue 13 live beside their first versions and carry
``extra_info["suite"] = "e2e"`` too: the digits CNN epoch (test_bench_models.py) and
batch-1 inference latency of the digits CNN and an LSTM classifier
(test_bench_latency.py).
"""

import numpy as np
import pytest

from pydl import nn
from pydl.models import ResNet
from pydl.optim import SGD

from conftest import torch
from layers_common import check_once, need_torch, run_row, IMPLS

pytestmark = pytest.mark.layers

VOCAB, EMBED, HIDDEN, T, BATCH = 65, 64, 256, 64, 32   # a char-RNN on tiny-shakespeare


def _copy_into_torch(pydl_model, torch_model):
    """Same architecture, same registration order: copy the state in order."""
    ours = list(pydl_model.state_dict().values())
    keys = list(torch_model.state_dict())
    assert len(ours) == len(keys)
    sd = {}
    for k, v in zip(keys, ours):
        ref = torch_model.state_dict()[k]
        assert tuple(ref.shape) == np.shape(v), (k, ref.shape, np.shape(v))
        sd[k] = torch.as_tensor(np.array(v)).to(ref.dtype)
    torch_model.load_state_dict(sd)


def _torch_resnet20():
    tnn = torch.nn

    def conv_bn(c_in, c_out, k, s=1, relu=True):
        mods = [tnn.Conv2d(c_in, c_out, k, s, k // 2, bias=False), tnn.BatchNorm2d(c_out)]
        return mods + [tnn.ReLU()] if relu else mods

    class Block(tnn.Module):
        def __init__(self, c_in, c, s):
            super().__init__()
            self.block = tnn.Sequential(*conv_bn(c_in, c, 3, s), *conv_bn(c, c, 3, relu=False))
            self.shortcut = (tnn.Sequential(*conv_bn(c_in, c, 1, s, relu=False))
                             if s != 1 or c_in != c else None)

        def forward(self, x):
            return torch.relu(self.block(x) + (x if self.shortcut is None else self.shortcut(x)))

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.stem = tnn.Sequential(*conv_bn(3, 16, 3))
            blocks, c_in = [], 16
            for i, c in enumerate((16, 32, 64)):
                for j in range(3):
                    blocks.append(Block(c_in, c, 2 if i > 0 and j == 0 else 1))
                    c_in = c
            self.stages = tnn.Sequential(*blocks)
            self.head = tnn.Sequential(tnn.AdaptiveAvgPool2d(1), tnn.Flatten(),
                                       tnn.Linear(64, 10))

        def forward(self, x):
            return self.head(self.stages(self.stem(x)))
    return Net()


class _CharLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
        self.fc = nn.Linear(HIDDEN, VOCAB)

    def forward(self, x):
        out, _ = self.lstm(self.embed(x))
        return self.fc(out).reshape(-1, VOCAB)

    def backward(self, g):
        g = self.fc.backward(g.reshape(-1, T, VOCAB))
        return self.embed.backward(self.lstm.backward(g))


def _torch_char_lstm():
    tnn = torch.nn

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.embed = tnn.Embedding(VOCAB, EMBED)
            self.lstm = tnn.LSTM(EMBED, HIDDEN, batch_first=True)
            self.fc = tnn.Linear(HIDDEN, VOCAB)

        def forward(self, x):
            out, _ = self.lstm(self.embed(x))
            return self.fc(out).reshape(-1, VOCAB)
    return Net()


CASES = {
    "resnet20_cifar_b128": (lambda: ResNet(layers=(3, 3, 3), widths=(16, 32, 64)),
                            _torch_resnet20),
    "char_lstm_t64_b32_h256": (_CharLSTM, _torch_char_lstm),
}


def _data(case):
    rng = np.random.default_rng(0)
    if case.startswith("resnet"):
        return (rng.standard_normal((128, 3, 32, 32), dtype=np.float32),
                rng.integers(0, 10, 128))
    x = rng.integers(0, VOCAB, (BATCH, T))
    return x, rng.integers(0, VOCAB, BATCH * T)


@pytest.mark.parametrize("case,impl", [pytest.param(c, i, id=f"{c}-{i}")
                                       for c in CASES for i in IMPLS])
def test_layers_e2e_train_step(benchmark, case, impl):
    need_torch(impl)
    make_pydl, make_torch = CASES[case]
    x, y = _data(case)
    model, tmodel = make_pydl(), make_torch()
    _copy_into_torch(model, tmodel)
    model.train()
    tmodel.train()
    crit = nn.CrossEntropyLoss()
    opt = SGD(model.parameters(), lr=0.01, momentum=0.9)
    tcrit = torch.nn.CrossEntropyLoss()
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def pydl_run():
        out = model(x)
        crit(out, y)
        model.backward(crit.backward())
        opt.step()
        opt.zero_grad()
        return out

    def torch_run():
        out = tmodel(tx)
        loss = tcrit(out, ty)
        topt.zero_grad()
        loss.backward()
        topt.step()
        return out.detach()

    # the first step's logits (before either optimizer moves anything) must agree
    check_once((case, "train_step"), pydl_run, torch_run, rtol=1e-2, atol=1e-2)
    run_row(benchmark, "e2e", case, "train_step", impl,
            pydl_run if impl == "pydl" else torch_run)
