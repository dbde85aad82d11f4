"""A Siamese network learns to tell whether two handwritten digits are the same digit,
then verifies digits it has never seen.

One encoder (a small CNN and a projection head) embeds two random views of each image of
a batch of the digits 0-6 (scikit-learn's 8x8 digits). A view is a random affine warp
(rotation by up to 15 degrees, zoom, shear, a sub-pixel shift) with thinner or bolder
strokes and pixel noise (:func:`augment`). A contrastive loss over the batch (NT-Xent,
Chen et al. 2020, "SimCLR") pulls each image's two views together and pushes apart the
rest; by default it does not use the labels (``label_weight`` > 0 adds images of the
same digit as positives, Khosla et al. 2020). On the held-out digits 7, 8 and 9, "same
digit or not" is then decided by a distance threshold picked on pairs of 0-6 images that
were not trained on (one-shot verification; 3000 pairs, half of them two different
images of one digit, half two different digits), and each held-out image is classified
by the nearest of one example per held-out digit (one-shot 3-way classification).

The model is plain Python on the tensor path: ``loss.backward()`` runs through the
encoder's calls, the similarity matrix and the loss::

    z = encoder(pydl.tensor(views))                    # (2B, 32) unit vectors
    sim = pydl.where(eye, -1e9, z @ z.T / temperature)
    loss = -(F.log_softmax_forward(sim, dim=1) * targets).sum() / (2 * B)
    loss.backward()

Distances are taken between the backbone's features, before the projection head.
Verification of the held-out digits: 77.8%, 78.7% and 78.8% with seeds 0, 1 and 2 (800
steps, two threads; one-shot 3-way classification 79.8%, 82.2%, 78.7%), and 78.6%,
79.8%, 79.6% with ``OMP_NUM_THREADS=1`` (another summation order: another training run).
This is short of the 90% that issue 12 set. On the same pairs the earlier version
(shifts of up to 1 pixel as the only augmentation, label weight 0.2: ``--views shift
--label-weight 0.2``) verified 75.9%, 77.6%, 77.9% (one thread: 76.2%, 76.8%, 77.8%),
and raw pixels 74.6%, 76.3%, 74.5%: a gain of 1.3 points on average with two threads,
2.4 with one, every seed better. (The earlier version's published 76.5%, 76.4%, 77.9%
counted pairs of an image with itself among the same-digit pairs; they are now left
out.)

Every choice was made on the digits 0-6 only: train on four of them and verify the other
three (4-6, 2/5/6 and 0/3/5 held out), seeds 0 and 1, one thread, threshold picked on
unseen images of the four. There the earlier version verified 83.9% on average, raw
pixels 83.5%, these views 85.7% (with the labels, weight 1: 85.3%; and stronger warps:
85.1%; shifts with weight 1: 85.1%, seed 0). None of these did better (seed 0: 0.2 to 5
points lower): a wider backbone, a third convolutional block, temperature 0.1 or 0.5,
1600 steps, milder warps, averaging 8 warped views at test time, appending the raw
pixels to the features, an MLP encoder; standardizing the features with the statistics
of the training digits lost 17 points (the threshold no longer transfers). Nor did the
decision rule: cosine distance, the s-norm of speaker verification (each score
normalized by the image's scores against a cohort of training images of other digits),
or local scaling, shared-nearest-neighbour and k-reciprocal distances among the held-out
images (they see only near pairs, and a random same-digit pair is mostly far). Even the
best threshold for the held-out pairs themselves (an oracle, not usable) scores about
87% on these splits, and for raw pixels 75% on 7-9: 7, 8 and 9 are hard to verify with
one global threshold. Earlier, with shifted views only, none of these gained more than
about 2 points either: batch norm, a wider or deeper backbone, temperature 0.1, label
weight 0 to 1, a batch-hard triplet loss, shifts of 2 pixels, 1500 steps, centring the
features, averaging shifted views at test time, or the first block's features. The
classic pairwise contrastive loss (Hadsell et al. 2006, ``--loss pairwise``) verified
the held-out digits less well (about 60%), and same-digit positives alone worse still
(56%): with seven training digits, what transfers is what tells images apart, not what
tells the seven digits apart.

Run: ``python -m pydl.examples.siamese`` (training takes 20 s to 4 minutes on two cores
shared with other jobs; needs scikit-learn; matplotlib for the PNG of the embedding).
"""

import argparse
import time

import numpy as np

import pydl
import pydl.functional as F
from pydl import nn
from pydl.data import load_digits, random_shift
from pydl.optim import Adam

TRAIN_DIGITS = tuple(range(7))
HELD_OUT_DIGITS = (7, 8, 9)


class Encoder(nn.Module):
    """(N, 1, 8, 8) images -> (N, dim) unit vectors, through a convolutional backbone
    and a projection head. As SimCLR found, the backbone's features (before the head)
    transfer better: :meth:`represent` gives them, normalized, for verification."""

    def __init__(self, dim=32, width=16):
        super().__init__()
        w = width
        self.backbone = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(2 * w * 16, 64), nn.ReLU(), nn.Linear(64, dim))

    @staticmethod
    def _unit(e):
        return e / pydl.sqrt((e * e).sum(axis=1, keepdims=True) + 1e-12)

    def forward(self, x):
        return self._unit(self.head(self.backbone(x)))

    def represent(self, x):
        return self._unit(self.backbone(x))


class Siamese(nn.Module):
    """Distances between the embeddings of two batches of images (one encoder)."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, x1, x2):
        d2 = ((self.encoder(x1) - self.encoder(x2)) ** 2).sum(axis=1)
        return pydl.sqrt(d2 + 1e-9)


def contrastive_loss(distance, same, margin=1.0):
    """Hadsell, Chopra and LeCun (2006): ``same * d^2 + (1 - same) * max(m - d, 0)^2``."""
    return (same * distance ** 2
            + (1.0 - same) * pydl.maximum(margin - distance, 0.0) ** 2).mean()


def nt_xent_loss(z, labels, temperature=0.2, label_weight=0.2):
    """Contrastive loss over a batch of ``2B`` embeddings: rows ``i`` and ``i + B`` are
    two views of one image (weight ``1 - label_weight``), other rows of the same label
    share ``label_weight``; every other row is a negative. ``label_weight=0`` is SimCLR's
    loss: the labels are not used.

    z : Tensor (2B, D) of unit vectors; labels : (B,) ints.
    """
    n = z.shape[0]
    b = n // 2
    eye = np.eye(n, dtype=bool)
    sim = pydl.where(eye, -1e9, (z @ z.T) * (1.0 / temperature))
    views = np.zeros((n, n), np.float32)
    views[np.arange(b), np.arange(b) + b] = views[np.arange(b) + b, np.arange(b)] = 1
    lab = np.concatenate([labels, labels])
    same = ((lab[:, None] == lab[None]) & ~eye).astype(np.float32)
    targets = ((1 - label_weight) * views
               + label_weight * same / same.sum(axis=1, keepdims=True)).astype(z.dtype)
    return -(F.log_softmax_forward(sim, dim=1) * targets).sum() * (1.0 / n)


def augment(x, rng, degrees=15.0, log_scale=0.15, shear=0.15, shift=1.0, log_gamma=0.3,
            noise=0.05):
    """Random views of a batch of (N, 1, H, W) images in [0, 1]: each image is rotated
    by up to ``degrees``, zoomed by a factor in ``exp(+-log_scale)``, sheared by up to
    ``shear`` and translated by up to ``shift`` pixels (one affine warp, bilinear,
    zeros outside), then its grey levels are raised to a power in
    ``exp(+-log_gamma)`` (thinner or bolder strokes) and Gaussian noise of deviation
    ``noise`` is added (clipped to [0, 1])."""
    n, _, h, w = x.shape
    angle = np.deg2rad(rng.uniform(-degrees, degrees, n))
    scale = np.exp(rng.uniform(-log_scale, log_scale, n))
    sh = rng.uniform(-shear, shear, n)
    cos, sin = np.cos(angle), np.sin(angle)
    # m maps output coordinates (about the centre) to input coordinates
    m = np.empty((n, 2, 2))
    m[:, 0, 0], m[:, 0, 1] = cos, sh * cos - sin
    m[:, 1, 0], m[:, 1, 1] = sin, cos + sh * sin
    m /= scale[:, None, None]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    rows, cols = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
    grid = np.stack([rows.ravel(), cols.ravel()])
    src = m @ grid - rng.uniform(-shift, shift, (n, 2, 1))
    r, c = src[:, 0] + cy, src[:, 1] + cx
    r0, c0 = np.floor(r).astype(np.int64), np.floor(c).astype(np.int64)
    fr, fc = r - r0, c - c0
    flat = x.reshape(n, h * w)
    out = np.zeros((n, h * w))
    for dr, dc, weight in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc),
                           (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        rr, cc = r0 + dr, c0 + dc
        inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        at = np.clip(rr, 0, h - 1) * w + np.clip(cc, 0, w - 1)
        v = np.take_along_axis(flat, at, axis=1)
        out += np.where(inside, v, 0.0) * weight
    out = np.clip(out, 0.0, 1.0) ** np.exp(rng.uniform(-log_gamma, log_gamma, (n, 1)))
    out = np.clip(out + rng.normal(0.0, noise, out.shape), 0.0, 1.0)
    return out.reshape(x.shape).astype(x.dtype)


def split(x, y, seed):
    """Train/validation images of the digits 0-6, and the held-out digits' images."""
    rng = np.random.default_rng(seed)
    known = np.isin(y, TRAIN_DIGITS)
    idx = rng.permutation(np.flatnonzero(known))
    n_val = len(idx) // 5
    val, train = idx[:n_val], idx[n_val:]
    held = np.flatnonzero(~known)
    return (x[train], y[train]), (x[val], y[val]), (x[held], y[held])


def sample_pairs(y, n, rng):
    """``n`` index pairs, half of two different images of the same digit, half of
    different digits."""
    by_class = {c: np.flatnonzero(y == c) for c in np.unique(y)}
    classes = np.array(sorted(by_class))
    first, second, same = [], [], []
    for k in range(n):
        c = rng.choice(classes)
        i = rng.choice(by_class[c])
        if k % 2 == 0:
            j = rng.choice(by_class[c][by_class[c] != i])
        else:
            j = rng.choice(by_class[rng.choice(classes[classes != c])])
        first.append(i)
        second.append(j)
        same.append(k % 2 == 0)
    return np.array(first), np.array(second), np.array(same, dtype=np.float32)


def embed(encoder, x):
    """The backbone's normalized features of images ``x``, as an ndarray."""
    with pydl.no_grad():
        return encoder.represent(pydl.tensor(x)).data


def best_threshold(distance, same):
    """The distance threshold with the highest accuracy on these pairs."""
    candidates = np.sort(distance)
    accs = [np.mean((distance <= t) == same) for t in candidates]
    k = int(np.argmax(accs))
    return float(candidates[k]), float(accs[k])


def run(steps=800, batch=128, seed=0, lr=1e-3, loss="nt-xent", n_eval_pairs=3000,
        views="affine", label_weight=0.0, verbose=True):
    """Train, then evaluate on the held-out digits. Returns a dict of results.

    ``loss``: "nt-xent" (the batch loss above) or "pairwise" (Hadsell et al.'s
    contrastive loss on ``batch`` pairs, half of them same-digit, through
    :class:`Siamese`). ``views``: how the nt-xent loss's two views of an image are
    drawn, "affine" (:func:`augment`) or "shift" (shifts of up to 1 pixel, the earlier
    version). ``label_weight``: see :func:`nt_xent_loss`.
    """
    if loss not in ("nt-xent", "pairwise"):
        raise ValueError(f"loss must be 'nt-xent' or 'pairwise', got {loss!r}")
    if views not in ("affine", "shift"):
        raise ValueError(f"views must be 'affine' or 'shift', got {views!r}")
    pydl.manual_seed(seed)
    x, y = load_digits()
    (xt, yt), (xv, yv), (xh, yh) = split(x, y, seed)
    encoder = Encoder()
    siamese = Siamese(encoder)
    opt = Adam(encoder.parameters(), lr=lr)
    rng = np.random.default_rng(seed + 1)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        if loss == "pairwise":
            i, j, same = sample_pairs(yt, batch, rng)
            value = contrastive_loss(siamese(pydl.tensor(xt[i]), pydl.tensor(xt[j])), same)
        else:
            idx = rng.choice(len(xt), batch, replace=False)
            if views == "affine":
                pair = [augment(xt[idx], rng), augment(xt[idx], rng)]
            else:
                pair = [random_shift(xt[idx], 1, generator=rng) for _ in range(2)]
            value = nt_xent_loss(encoder(pydl.tensor(np.concatenate(pair))), yt[idx],
                                 label_weight=label_weight)
        opt.zero_grad()
        value.backward()
        opt.step()
        if verbose and (step % 100 == 0 or step == 1):
            print(f"step {step:5d}  {loss} loss {value.item():.4f}")
    train_time = time.perf_counter() - start

    encoder.eval()
    enc = encoder
    rng = np.random.default_rng(seed + 2)
    ev, hv = embed(enc, xv), embed(enc, xh)
    i, j, same = sample_pairs(yv, n_eval_pairs, rng)
    threshold, val_acc = best_threshold(np.linalg.norm(ev[i] - ev[j], axis=1), same == 1)
    i, j, same = sample_pairs(yh, n_eval_pairs, rng)
    held_dist = np.linalg.norm(hv[i] - hv[j], axis=1)
    verify_acc = float(np.mean((held_dist <= threshold) == (same == 1)))
    # One-shot classification: one random example per held-out digit as the support.
    accs = []
    for _ in range(20):
        support = np.array([rng.choice(np.flatnonzero(yh == c)) for c in HELD_OUT_DIGITS])
        d = np.linalg.norm(hv[:, None] - hv[support][None], axis=2)
        pred = np.array(HELD_OUT_DIGITS)[np.argmin(d, axis=1)]
        keep = ~np.isin(np.arange(len(yh)), support)
        accs.append(np.mean(pred[keep] == yh[keep]))
    one_shot_acc = float(np.mean(accs))
    results = dict(threshold=threshold, val_verification_accuracy=val_acc,
                   verification_accuracy=verify_acc, one_shot_accuracy=one_shot_acc,
                   train_seconds=train_time, steps=steps, embeddings=hv, labels=yh,
                   encoder=encoder, final_loss=value.item())
    if verbose:
        print(f"trained on digits 0-6 ({loss}): {steps} steps of batch {batch} in "
              f"{train_time:.1f} s")
        print(f"threshold {threshold:.3f} (accuracy {val_acc:.1%} on unseen pairs of 0-6)")
        print(f"verification on the never-seen digits 7, 8, 9: {verify_acc:.1%} of "
              f"{n_eval_pairs} pairs (half same digit)")
        print(f"one-shot 3-way classification of 7, 8, 9: {one_shot_acc:.1%}")
    return results


def plot_embedding(encoder, path, seed=0):
    """A PNG of every digit's embedding, projected on its two principal axes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x, y = load_digits()
    e = embed(encoder, x)
    e = e - e.mean(axis=0)
    _, _, vt = np.linalg.svd(e, full_matrices=False)
    xy = e @ vt[:2].T
    fig, ax = plt.subplots(figsize=(7, 6))
    for c in range(10):
        m = y == c
        held = c in HELD_OUT_DIGITS
        ax.scatter(xy[m, 0], xy[m, 1], s=8 if not held else 14, alpha=0.6,
                   marker="o" if not held else "^",
                   label=f"{c}{' (never trained on)' if held else ''}")
    ax.set_title("Siamese embedding of the digits (first two principal axes)")
    ax.legend(fontsize=8, markerscale=1.5, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loss", choices=("nt-xent", "pairwise"), default="nt-xent")
    parser.add_argument("--views", choices=("affine", "shift"), default="affine")
    parser.add_argument("--label-weight", type=float, default=0.0)
    parser.add_argument("--png", default="siamese_embedding.png",
                        help="where to write the embedding plot ('' for none)")
    args = parser.parse_args(argv)
    res = run(steps=args.steps, batch=args.batch, seed=args.seed, loss=args.loss,
              views=args.views, label_weight=args.label_weight)
    if args.png:
        try:
            print(f"wrote {plot_embedding(res['encoder'], args.png)}")
        except ImportError:
            print("matplotlib is not installed: no plot (pip install matplotlib)")
    return res


if __name__ == "__main__":
    main()
