"""The style-transfer example: a tiny run lowers both losses and writes the PNGs."""

import numpy as np
import pytest

from pydl.examples import style_transfer


def test_tiny_run_lowers_both_losses_and_keeps_the_network_frozen():
    # 16x16, 40 steps (0.8 s; 60 steps at 32x32 took 4.4 s and proved the same)
    res = style_transfer.run(steps=40, size=16, width=8, lr=0.05, style_weight=1e3, seed=0,
                             verbose=False)
    content, style = res["history"]["content"], res["history"]["style"]
    assert len(content) == len(style) == 40
    assert content[-1] < content[0] / 1.2          # measured: 1.36x lower
    assert style[-1] < style[0] / 10               # measured: 212x lower
    img = res["result"]
    assert img.shape == (3, 16, 16) and img.min() >= 0 and img.max() <= 1
    assert not np.array_equal(img, res["start"])
    # frozen: the weights that ran are the untouched initial ones, and got no gradient
    fresh = style_transfer.feature_network(8, seed=0)
    for used, new in zip(res["network"], fresh):
        for (name, p), (_, q) in zip(used.named_parameters(), new.named_parameters()):
            assert not p.requires_grad and p.grad is None, name
            np.testing.assert_array_equal(p.data, q.data)


def test_main_writes_before_and_after_pngs(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    style_transfer.main(["--steps", "3", "--size", "16", "--width", "4",
                         "--out", str(tmp_path)])
    for name in ("before.png", "after.png"):
        path = tmp_path / name
        assert path.exists() and path.stat().st_size > 5_000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "content loss" in printed and "style loss" in printed and "wrote" in printed


def test_the_pictures_are_in_range_and_differ():
    c, s = style_transfer.content_image(40), style_transfer.style_image(40)
    assert c.shape == s.shape == (3, 40, 40) and c.dtype == s.dtype == np.float32
    assert 0 <= c.min() and c.max() <= 1 and 0 <= s.min() and s.max() <= 1
    assert np.abs(c - s).mean() > 0.1
