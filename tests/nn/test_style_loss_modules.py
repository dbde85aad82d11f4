"""nn.GramMatrix, nn.ContentLoss and nn.StyleLoss: float64 gradient checks (explicit
backward and tape), targets, dtypes and bad input."""

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.testing import gradcheck


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 4, 6), (2, 2, 2, 3, 2)], ids=str)
def test_gram_matrix_gradcheck(shape, normalize):
    assert gradcheck(nn.GramMatrix(normalize), _x(*shape))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_content_loss_gradcheck(reduction):
    loss = nn.ContentLoss(_x(2, 3, 4, 5, seed=1), reduction=reduction).double()
    assert gradcheck(loss, _x(2, 3, 4, 5), target=loss.target)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("style_batch", [1, 2])
def test_style_loss_gradcheck(reduction, normalize, style_batch):
    loss = nn.StyleLoss(_x(style_batch, 3, 4, 5, seed=1), reduction=reduction,
                        normalize=normalize).double()
    assert gradcheck(loss, _x(2, 3, 4, 5), target=loss.target)


def test_stored_target_and_call_target_agree():
    feats, style = _x(1, 3, 4, 4, seed=1), _x(1, 3, 4, 4, seed=2)
    x = _x(1, 3, 4, 4)
    content = nn.ContentLoss(feats)
    assert content(x) == nn.ContentLoss()(x, feats)
    s = nn.StyleLoss(style)
    assert s.target.shape == (3, 3)
    assert s(x) == nn.StyleLoss()(x, nn.GramMatrix()(style)[0])


def test_targets_are_detached_copies_and_follow_the_input_dtype():
    feats = _x(1, 2, 3, 3, seed=1)
    t = pydl.tensor(feats, requires_grad=True)
    loss = nn.ContentLoss(t)
    feats[...] = 0
    assert isinstance(loss.target, np.ndarray) and loss.target.any()
    x32 = _x(1, 2, 3, 3).astype(np.float32)
    l64 = loss(x32.astype(np.float64))
    loss.clear_saved()
    assert np.isclose(loss(x32), l64, rtol=1e-6)
    assert loss.backward().dtype == np.float32


def test_style_loss_on_the_tape_reaches_the_input_through_a_network():
    """The input gradient of a frozen layer, as the style-transfer example takes it."""
    pydl.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64)
    for p in conv.parameters():
        p.requires_grad = False
    with pydl.no_grad():
        style = nn.StyleLoss(conv(_x(1, 2, 5, 5, seed=3)))
        content = nn.ContentLoss(conv(_x(1, 2, 5, 5, seed=4)))
    img = pydl.tensor(_x(1, 2, 5, 5), requires_grad=True)
    feats = conv(img)
    total = style(feats) * 10.0 + content(feats)
    total.backward()
    # the same gradient by the explicit path
    feats_a = conv(img.data)
    style(feats_a)
    g = 10.0 * style.backward()
    content(feats_a)
    g = g + content.backward()
    np.testing.assert_allclose(img.grad, conv.backward(g), rtol=1e-10, atol=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError, match="ContentLoss has no target"):
        nn.ContentLoss()(_x(1, 2, 3, 3))
    with pytest.raises(ValueError, match="StyleLoss has no target"):
        nn.StyleLoss()(_x(1, 2, 3, 3))
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.StyleLoss(reduction="none")
    with pytest.raises(ValueError, match=r"target must be a Gram matrix of shape \(2, 2\)"):
        nn.StyleLoss(_x(1, 3, 3, 3))(_x(1, 2, 3, 3))
    with pytest.raises(TypeError, match="target_feature must be a float32 or float64"):
        nn.StyleLoss(np.ones((1, 2, 3, 3), np.int64))
    with pytest.raises(ValueError, match="input has shape"):
        nn.ContentLoss(_x(1, 2, 3, 3))(_x(1, 2, 3, 4))
    for make in (nn.GramMatrix, lambda normalize: nn.StyleLoss(normalize=normalize)):
        with pytest.raises(TypeError, match="normalize must be a bool"):
            make(normalize="no")           # bool("no") was True, silently
