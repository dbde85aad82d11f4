"""RNN, LSTM, GRU, their cells and Embedding against PyTorch with copied weights."""

import numpy as np
import pytest

import pydl
from pydl import nn

torch = pytest.importorskip("torch")



@pytest.fixture(autouse=True, scope="module")
def _torch_single_threaded():
    """Small problems: PyTorch's thread pool only competes with pydl's for the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-11, atol=1e-12)}

# (kind, num_layers, bidirectional, batch_first, initial states, T, nonlinearity)
SWEEP = [
    ("RNN", 1, False, False, False, 4, "tanh"),
    ("RNN", 2, True, True, True, 3, "relu"),
    ("RNN", 3, False, False, True, 1, "tanh"),
    ("LSTM", 1, False, False, True, 5, None),
    ("LSTM", 1, True, True, False, 1, None),
    ("LSTM", 2, False, True, True, 4, None),
    ("LSTM", 3, True, False, True, 3, None),
    ("GRU", 1, False, False, True, 4, None),
    ("GRU", 2, True, False, False, 1, None),
    ("GRU", 3, True, True, True, 3, None),
]


def _pair(kind, layers, bidir, batch_first, nonlinearity, dtype, I=5, H=7):
    kw = dict(num_layers=layers, bidirectional=bidir, batch_first=batch_first)
    if nonlinearity:
        kw["nonlinearity"] = nonlinearity
    torch.manual_seed(0)
    theirs = getattr(torch.nn, kind)(I, H, **kw).to(TORCH_DTYPE[dtype])
    ours = getattr(nn, kind)(I, H, dtype=dtype, **kw)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())          # tensors load unchanged
    return ours, theirs


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("kind,layers,bidir,batch_first,states,T,nonlinearity", SWEEP,
                         ids=lambda v: str(v))
def test_layers_match_pytorch(kind, layers, bidir, batch_first, states, T, nonlinearity,
                              dtype):
    ours, theirs = _pair(kind, layers, bidir, batch_first, nonlinearity, dtype)
    rng = np.random.default_rng(1)
    N, I, H, D = 3, 5, 7, 2 if bidir else 1
    x = rng.standard_normal((N, T, I) if batch_first else (T, N, I)).astype(dtype)
    h0, c0 = (rng.standard_normal((D * layers, N, H)).astype(dtype) for _ in range(2))
    lstm = kind == "LSTM"
    tx, th0, tc0 = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    hx = ((h0, c0) if lstm else h0) if states else None
    thx = ((th0, tc0) if lstm else th0) if states else None

    out, hn = ours(x, hx)
    tout, thn = theirs(tx, thx)
    hn, thn = (hn if lstm else (hn,)), (thn if lstm else (thn,))
    np.testing.assert_allclose(out, tout.detach().numpy(), **TOL[dtype])
    for a, b in zip(hn, thn):
        np.testing.assert_allclose(a, b.detach().numpy(), **TOL[dtype])

    g = rng.standard_normal(out.shape).astype(dtype)
    gs = [rng.standard_normal(a.shape).astype(dtype) for a in hn]
    torch.autograd.backward([tout, *thn], [torch.tensor(g), *map(torch.tensor, gs)])
    grads = ours.backward(g, *gs)
    dx = grads[0] if states else grads
    np.testing.assert_allclose(dx, tx.grad.numpy(), **TOL[dtype])
    if states:
        ghx = grads[1] if lstm else (grads[1],)
        for a, b in zip(ghx, (th0, tc0)):
            np.testing.assert_allclose(a, b.grad.numpy(), **TOL[dtype])
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), err_msg=name, **TOL[dtype])


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_pytorch_over_a_loop(kind):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, kind)(4, 6).double()
    ours = getattr(nn, kind)(4, 6, dtype=np.float64)
    ours.load_state_dict(theirs.state_dict())
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 3, 4))
    tx = torch.tensor(x, requires_grad=True)
    lstm = kind == "LSTMCell"
    h = rng.standard_normal((3, 6))
    hx, thx = ((h, h), (torch.tensor(h),) * 2) if lstm else (h, torch.tensor(h))
    outs, touts = [], []
    for t in range(5):
        hx, thx = ours(x[t], hx), theirs(tx[t], thx)
        outs.append(hx[0] if lstm else hx)
        touts.append(thx[0] if lstm else thx)
    for a, b in zip(outs, touts):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-12, atol=1e-13)
    g = rng.standard_normal((5, 3, 6))
    sum((o * torch.tensor(gt)).sum() for o, gt in zip(touts, g)).backward()
    dh = np.zeros((3, 6))
    dc = np.zeros((3, 6))
    for t in reversed(range(5)):
        if lstm:
            dx, (dh, dc) = ours.backward(g[t] + dh, dc)
        else:
            dx, dh = ours.backward(g[t] + dh)
        np.testing.assert_allclose(dx, tx.grad[t].numpy(), rtol=1e-11, atol=1e-12)
    for (name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-11, atol=1e-12,
                                   err_msg=name)


def test_unbatched_input_matches_pytorch():
    ours, theirs = _pair("GRU", 2, True, False, None, np.float64)
    x = np.random.default_rng(3).standard_normal((4, 5))
    out, hn = ours(x)
    tout, thn = theirs(torch.tensor(x))
    assert out.shape == tuple(tout.shape) and hn.shape == tuple(thn.shape)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(hn, thn.detach().numpy(), rtol=1e-12, atol=1e-13)


def test_initialisation_range_matches_pytorch():
    pydl.manual_seed(0)
    ours = nn.LSTM(10, 25)
    theirs = torch.nn.LSTM(10, 25)
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        bound = float(tp.detach().abs().max())
        assert np.abs(p.data).max() <= 1 / 5 and bound <= 1 / 5
        assert np.abs(p.data).max() > 0.9 / 5   # fills the range, as PyTorch's does


def test_embedding_matches_pytorch():
    torch.manual_seed(0)
    theirs = torch.nn.Embedding(12, 5, padding_idx=-3, scale_grad_by_freq=True).double()
    ours = nn.Embedding(12, 5, padding_idx=-3, scale_grad_by_freq=True, dtype=np.float64)
    ours.load_state_dict(theirs.state_dict())
    idx = np.array([[1, 9, 3, 3], [9, 9, 11, 0]])
    out, tout = ours(idx), theirs(torch.tensor(idx))
    np.testing.assert_array_equal(out, tout.detach().numpy())
    g = np.random.default_rng(0).standard_normal(out.shape)
    tout.backward(torch.tensor(g))
    ours.backward(g)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-14,
                               atol=1e-15)


def test_embedding_max_norm_matches_pytorch():
    torch.manual_seed(0)
    theirs = torch.nn.Embedding(6, 4, max_norm=0.8, norm_type=1.5).double()
    ours = nn.Embedding(6, 4, max_norm=0.8, norm_type=1.5, dtype=np.float64)
    ours.load_state_dict(theirs.state_dict())
    idx = np.array([0, 4, 4, 2])
    np.testing.assert_allclose(ours(idx), theirs(torch.tensor(idx)).detach().numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose(ours.weight.data, theirs.weight.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("mask_kind", ["none", "bool", "float", "causal"])
def test_sdpa_matches_pytorch(mask_kind):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s) for s in ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 7)))
    mask = {"none": None, "bool": rng.random((5, 6)) > 0.3, "causal": None,
            "float": rng.standard_normal((3, 5, 6))}[mask_kind]
    causal = mask_kind == "causal"
    m = nn.ScaledDotProductAttention()
    out = m(q, k, v, mask, is_causal=causal)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    tout = torch.nn.functional.scaled_dot_product_attention(
        tq, tk, tv, attn_mask=None if mask is None else torch.tensor(mask), is_causal=causal)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12, atol=1e-13)
    g = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(g))
    for a, b in zip(m.backward(g), (tq, tk, tv)):
        np.testing.assert_allclose(a, b.grad.numpy(), rtol=1e-11, atol=1e-12)
