"""Models that are not chains, written as plain Python and differentiated by the tape:
the cases the explicit path could not express (shared encoder, tied weights, a cell
unrolled by hand, two heads, input gradients of a frozen network)."""

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.testing import gradcheck, tape_gradcheck


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


class Siamese(nn.Module):
    """One encoder, two inputs, a distance: the issue's failing case."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(4, 3), nn.Tanh())

    def forward(self, x1, x2):
        d = self.enc(x1) - self.enc(x2)
        return (d * d).sum(axis=1)


def test_shared_encoder_gradients_match_finite_differences():
    pydl.manual_seed(0)
    model = Siamese().double()
    assert not model._explicit()
    assert gradcheck(model, _x(2, 4), _x(2, 4, seed=1))


def test_shared_encoder_sums_both_calls():
    """The weight gradient is the sum over both calls, not the last call's alone."""
    pydl.manual_seed(0)
    model = Siamese().double()
    x1, x2 = _x(2, 4), _x(2, 4, seed=1)
    model(pydl.tensor(x1), pydl.tensor(x2)).sum().backward()
    got = model.enc[0].weight.grad.copy()
    # The same gradient by hand, through the explicit path, one call at a time.
    enc = model.enc
    enc.zero_grad()
    h1 = enc(x1)
    g1 = enc.backward(2 * (h1 - np.tanh(x2 @ enc[0].weight.data.T + enc[0].bias.data)))
    h2 = enc(x2)
    enc.backward(-2 * (h1 - h2))
    np.testing.assert_allclose(got, enc[0].weight.grad, rtol=1e-12)
    assert g1.shape == x1.shape


class TiedLM(nn.Module):
    """Embedding in, the same matrix out (tied input/output embedding)."""

    def __init__(self, vocab=7, dim=5):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, idx):
        h = self.proj(self.emb(idx)).tanh()
        return h @ self.emb.weight.T


def test_tied_embedding_gradcheck():
    pydl.manual_seed(1)
    model = TiedLM().double()
    assert gradcheck(model, np.array([[0, 3, 6], [2, 2, 5]]), max_elements=20)


def test_tied_embedding_trains_with_cross_entropy():
    pydl.manual_seed(1)
    model = TiedLM()
    opt = pydl.optim.Adam(model.parameters(), lr=0.05)
    crit = nn.CrossEntropyLoss()
    idx = np.array([[0, 1, 2, 3, 4, 5]])
    target = np.array([1, 2, 3, 4, 5, 6])
    losses = []
    for _ in range(60):
        logits = model(idx)
        loss = crit(logits.reshape(-1, 7), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0]


class UnrolledLSTM(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.cell = cell

    def forward(self, x):
        h = c = None
        outs = []
        for t in range(x.shape[0]):
            h, c = self.cell(x[t], None if h is None else (h, c))
            outs.append(h)
        return pydl.stack(outs)


def test_lstm_cell_unrolled_by_hand_equals_nn_lstm():
    pydl.manual_seed(2)
    lstm = nn.LSTM(3, 4, dtype=np.float64)
    cell = nn.LSTMCell(3, 4, dtype=np.float64)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(cell, name).data[...] = getattr(lstm, name + "_l0").data
    x = _x(5, 2, 3)
    u = _x(5, 2, 4, seed=1)
    xt1 = pydl.tensor(x, requires_grad=True)
    y1, _ = lstm(xt1)
    (y1 * u).sum().backward()
    xt2 = pydl.tensor(x, requires_grad=True)
    y2 = UnrolledLSTM(cell)(xt2)
    (y2 * u).sum().backward()
    np.testing.assert_allclose(y2.data, y1.data, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(xt2.grad, xt1.grad, rtol=1e-10, atol=1e-13)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        np.testing.assert_allclose(getattr(cell, name).grad,
                                   getattr(lstm, name + "_l0").grad, rtol=1e-10, atol=1e-13)
    assert cell.saved_steps == 0           # the steps' caches lived in the nodes


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(4, 6), nn.ReLU())
        self.cls = nn.Linear(6, 3)
        self.reg = nn.Linear(6, 1)
        self.ce = nn.CrossEntropyLoss()
        self.mse = nn.MSELoss()

    def forward(self, x, labels, values):
        h = self.trunk(x)
        return self.ce(self.cls(h), labels) + 0.5 * self.mse(self.reg(h), values)


def test_two_head_model_with_a_summed_loss_gradcheck():
    pydl.manual_seed(3)
    model = TwoHeads().double()
    x = _x(5, 4)
    x[np.abs(x) < 1e-2] = 0.3
    labels = np.array([0, 2, 1, 1, 0])
    values = _x(5, 1, seed=2)

    class Bound(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, x):
            return self.m(x, labels, values)

    assert gradcheck(Bound(), x)


def test_input_gradient_of_a_frozen_network():
    """Style transfer's use: the gradient with respect to the input image, weights
    frozen, at several layers."""
    pydl.manual_seed(4)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.Tanh(), nn.Conv2d(3, 2, 3),
                        nn.Tanh()).double()
    for p in net.parameters():
        p.requires_grad = False

    def features(img):
        f1 = net[1](net[0](img))
        f2 = net[3](net[2](f1))
        return (f1 * f1).mean() + (f2 ** 2).sum()

    assert tape_gradcheck(features, _x(1, 1, 5, 5))
    img = pydl.tensor(_x(1, 1, 5, 5), requires_grad=True)
    features(img).backward()
    assert img.grad.shape == (1, 1, 5, 5)
    assert all(p.grad is None for p in net.parameters())


def test_skip_connection_across_blocks_and_several_outputs():
    pydl.manual_seed(5)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3)
            self.b = nn.Linear(3, 3)
            self.c = nn.Linear(3, 2)

        def forward(self, x):
            h1 = self.a(x).tanh()
            h2 = self.b(h1).relu() + x          # skip across a block
            return self.c(h2), h1

    assert gradcheck(Net().double(), _x(4, 3))


def test_functional_ops_on_tensors_record_nodes():
    """A model written with pydl.functional directly."""
    import pydl.functional as F
    rng = np.random.default_rng(6)
    w = pydl.tensor(rng.standard_normal((2, 1, 3, 3)), requires_grad=True)
    b = pydl.tensor(rng.standard_normal(2), requires_grad=True)

    def fn(x, w, b):
        y = F.conv2d_forward(x, w, b, padding=1)
        y, _ = F.max_pool2d_forward(F.relu_forward(y), 2)
        loss, _ = F.mse_loss_forward(y.flatten(1), np.zeros((2, 8)))
        return loss.reshape(1)

    x = rng.standard_normal((2, 1, 4, 4))
    x[np.abs(x) < 1e-2] = 0.2
    assert tape_gradcheck(fn, x, w.data, b.data)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_loss_module_on_tensors_is_a_tensor(reduction):
    crit = nn.CrossEntropyLoss(reduction=reduction)
    logits = pydl.tensor(_x(4, 3), requires_grad=True)
    loss = crit(logits, np.array([0, 1, 2, 1]))
    assert isinstance(loss, pydl.Tensor) and loss.dtype == np.float64
    (loss.sum() if reduction == "none" else loss).backward()
    assert logits.grad.shape == (4, 3)
