"""Neural style transfer: an image's pixels are optimized with Adam so that a frozen
CNN sees the content of one picture in the style of another (Gatys, Ecker and Bethge,
2016).

Both pictures are drawn here: the content is a few coloured shapes (a disc, a square,
a triangle) on a shaded background; the style a texture of diagonal stripes crossed
by a checkerboard. The network is a small stack of 3x3 convolutions with random,
He-scaled weights, never trained: random filters already give Gram statistics that
capture a texture (Ustyuzhaninov et al., 2017, texture synthesis with random shallow
CNNs), and nothing has to be downloaded. Its weights are frozen
(``requires_grad = False``); only the image is a parameter.

The image starts as noise. Each step runs the network on the image tensor, records the
feature maps at several layers, and takes the input gradient of

    content_weight * ContentLoss(features at one layer)
    + style_weight * sum of StyleLoss(Gram matrix at each style layer)

through the tensor path (``loss.backward()`` runs back through every frozen layer to
the pixels). Adam updates the pixels, which are then clipped to [0, 1]. Both losses
are printed as they fall, and PNGs of the start and the result are written.

Run: ``python -m pydl.examples.style_transfer [--steps 300] [--size 64] [--out DIR]``
(matplotlib for the PNGs).
"""

import argparse
import time
from pathlib import Path

import numpy as np

import pydl
from pydl import nn
from pydl.optim import Adam

STYLE_LAYERS = (0, 1, 2, 3)    # after each conv + ReLU block
CONTENT_LAYER = 2


# ------------------------------------------------------------------- the pictures

def content_image(size=64):
    """(3, size, size) float32 in [0, 1]: a red disc, a blue square and a green
    triangle on a grey background shaded from top to bottom."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.empty((3, size, size), np.float32)
    img[...] = 0.55 + 0.3 * yy
    disc = (xx - 0.3) ** 2 + (yy - 0.32) ** 2 < 0.2 ** 2
    square = (np.abs(xx - 0.72) < 0.17) & (np.abs(yy - 0.35) < 0.17)
    triangle = (yy > 0.58) & (yy < 0.92) & (np.abs(xx - 0.5) < (yy - 0.58) * 0.9)
    for mask, colour in ((disc, (0.9, 0.15, 0.1)), (square, (0.1, 0.2, 0.85)),
                         (triangle, (0.1, 0.7, 0.2))):
        img[:, mask] = np.array(colour, np.float32)[:, None]
    return img


def style_image(size=64):
    """(3, size, size) float32 in [0, 1]: orange and purple diagonal stripes crossed by
    a light checkerboard."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    stripes = 0.5 + 0.5 * np.sin((xx + yy) * (2 * np.pi / 10))
    checker = ((xx // 8 + yy // 8) % 2).astype(np.float32)
    a = np.array([1.0, 0.55, 0.1], np.float32)[:, None, None]      # orange
    b = np.array([0.35, 0.1, 0.55], np.float32)[:, None, None]     # purple
    img = a * stripes + b * (1 - stripes)
    return np.clip(0.8 * img + 0.25 * checker, 0, 1).astype(np.float32)


# ------------------------------------------------------------------ the network

def feature_network(width=32, seed=0):
    """Four conv 3x3 + ReLU blocks (average pooling before the third and fourth),
    random He-normal weights, frozen. Returns the list of blocks."""
    gen = np.random.default_rng(seed)
    chans = [3, width, width, 2 * width, 2 * width]
    blocks = []
    for i in range(4):
        conv = nn.Conv2d(chans[i], chans[i + 1], 3, padding=1)
        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu", generator=gen)
        nn.init.zeros_(conv.bias)
        layers = ([nn.AvgPool2d(2)] if i >= 2 else []) + [conv, nn.ReLU()]
        blocks.append(nn.Sequential(*layers))
    for b in blocks:
        for p in b.parameters():
            p.requires_grad = False
    return blocks


def features(blocks, x):
    """The output of every block for x (arrays or a tensor), in order."""
    out = []
    for b in blocks:
        x = b(x)
        out.append(x)
    return out


# ------------------------------------------------------------------ the transfer

def run(steps=300, size=64, width=32, lr=0.03, content_weight=1.0, style_weight=1e5,
        seed=0, log_every=25, verbose=True):
    """Optimize an image from noise; returns a dict with the images and the loss
    history (``content``, ``style``: one value per step, before that step's update)."""
    pydl.manual_seed(seed)
    blocks = feature_network(width, seed)
    content = content_image(size)[None]
    style = style_image(size)[None]
    with pydl.no_grad():
        content_feats = features(blocks, content)
        style_feats = features(blocks, style)
    content_loss = nn.ContentLoss(content_feats[CONTENT_LAYER])
    style_losses = [nn.StyleLoss(style_feats[i]) for i in STYLE_LAYERS]

    rng = np.random.default_rng(seed)
    start = rng.uniform(0.2, 0.8, content.shape).astype(np.float32)
    image = nn.Parameter(start.copy())
    opt = Adam([image], lr=lr)
    history = {"content": [], "style": []}
    t0 = time.perf_counter()
    for step in range(steps):
        feats = features(blocks, image)
        c_loss = content_loss(feats[CONTENT_LAYER])
        s_loss = sum(style_losses[k](feats[i]) for k, i in enumerate(STYLE_LAYERS))
        total = content_weight * c_loss + style_weight * s_loss
        opt.zero_grad()
        total.backward()
        opt.step()
        np.clip(image.data, 0.0, 1.0, out=image.data)
        history["content"].append(float(c_loss.item()))
        history["style"].append(float(s_loss.item()))
        if verbose and (step % log_every == 0 or step == steps - 1):
            print(f"step {step:4d}  content loss {history['content'][-1]:.5f}  "
                  f"style loss {history['style'][-1]:.3e}")
    seconds = time.perf_counter() - t0
    if verbose:
        c, s = history["content"], history["style"]
        print(f"{steps} steps in {seconds:.1f} s: content loss {c[0]:.4f} -> {c[-1]:.4f} "
              f"({c[0] / max(c[-1], 1e-30):.1f}x lower), style loss {s[0]:.3e} -> "
              f"{s[-1]:.3e} ({s[0] / max(s[-1], 1e-30):.1f}x lower)")
    return {"content_image": content[0], "style_image": style[0], "start": start[0],
            "result": image.data[0].copy(), "history": history, "seconds": seconds,
            "network": blocks}


def save_pngs(result, out_dir):
    """Write ``before.png`` (content, style, the starting noise) and ``after.png``
    (content, style, the result) into out_dir; returns their paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    steps = len(result["history"]["content"])
    paths = []
    for name, key, title in (("before.png", "start", "start: noise"),
                             ("after.png", "result", f"after {steps} Adam steps")):
        fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
        for ax, img, t in zip(axes, (result["content_image"], result["style_image"],
                                     result[key]), ("content", "style", title)):
            ax.imshow(np.clip(img.transpose(1, 2, 0), 0, 1), interpolation="nearest")
            ax.set_title(t)
            ax.axis("off")
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--width", type=int, default=32, help="channels of the first convs")
    parser.add_argument("--lr", type=float, default=0.03)
    parser.add_argument("--style-weight", type=float, default=1e5)
    parser.add_argument("--content-weight", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="style_transfer_out",
                        help="folder for before.png and after.png ('' for none)")
    args = parser.parse_args(argv)
    res = run(steps=args.steps, size=args.size, width=args.width, lr=args.lr,
              content_weight=args.content_weight, style_weight=args.style_weight,
              seed=args.seed)
    if args.out:
        try:
            for p in save_pngs(res, args.out):
                print(f"wrote {p}")
        except ImportError:
            print("matplotlib is not installed: no PNGs (pip install matplotlib)")
    return res


if __name__ == "__main__":
    main()
