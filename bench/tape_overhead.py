"""What the autograd tape costs: pydl's tensor path beside its explicit path and
beside PyTorch's eager autograd, alternated in one process.

    python bench/tape_overhead.py [--rounds 30]

Cases:

- the digits CNN train step (pydl.examples.digits_cnn's network, batch 32, SGD with
  Nesterov momentum): explicit ``model.backward`` vs ``loss.backward()`` vs PyTorch;
- a small MLP train step (64 -> 128 -> 128 -> 10, ReLU, cross-entropy, SGD) at batch
  1 and 32: tape vs PyTorch eager (and the explicit path);
- per layer call at batch 1 (Linear 64 -> 64, Conv2d 4 -> 4 3x3 on 8x8, ReLU on 128):
  a chain of 8 distinct layers, forward and forward + backward, the tape beside the
  explicit path; the difference per layer is what recording a layer call costs;
- per recorded op: a chain of 1000 elementwise ops on a 4-element tensor, timed with
  the tape, under ``no_grad`` and as bare NumPy; the bookkeeping is the difference
  between the first and the last; and ``backward()`` through the chain, per node.

Rounds alternate the members (explicit, tape, torch, ...), so a shared machine's
changing load hits each alike; medians are printed as a Markdown table.
"""

import argparse
import os
import platform
import time

import numpy as np

import pydl
from pydl import nn, optim
from pydl.examples.digits_cnn import build_model

try:
    import torch
except ImportError:
    torch = None

if torch is not None:
    # The digits CNN in PyTorch, as the whole-network benchmark defines it (this script
    # runs from the repository root with bench/ on sys.path).
    from test_bench_models import _torch_model as _torch_cnn


def _alternate(members, rounds, inner):
    """{name: median us per call}, the members run alternately round after round."""
    samples = {name: [] for name in members}
    for fn in members.values():          # warm-up
        for _ in range(inner):
            fn()
    for _ in range(rounds):
        for name, fn in members.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            samples[name].append((time.perf_counter() - t0) / inner)
    return {name: float(np.median(s)) * 1e6 for name, s in samples.items()}


def _steps(model, crit, opt, x, y, forward_only=None, torch_setup=None):
    """{member: one train step}: the explicit path, the tape (the same Sequential
    called on a tensor: one node), the tape through ``forward_only`` (a module
    written with tensor ops: one node per layer call), PyTorch eager."""
    xt = pydl.tensor(x)

    def explicit():
        crit(model(x), y)
        model.backward(crit.backward())
        opt.step()
        opt.zero_grad()

    def tape(m=model):
        loss = crit(m(xt), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    members = {"pydl explicit": explicit, "pydl tape": tape}
    if forward_only is not None:
        members["pydl tape, node per layer"] = lambda: tape(forward_only)
    if torch is not None and torch_setup is not None:
        tm, tl, topt = torch_setup()
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def torch_step():
            loss = tl(tm(tx), ty)
            topt.zero_grad()
            loss.backward()
            topt.step()
        members["torch"] = torch_step
    return members


def digits_cnn_step():
    rng = np.random.default_rng(0)
    x = rng.random((32, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 10, 32)
    model = build_model()

    def torch_setup():
        tm = _torch_cnn()
        return (tm, torch.nn.CrossEntropyLoss(),
                torch.optim.SGD(tm.parameters(), lr=0.05, momentum=0.9, nesterov=True))
    return _steps(model, nn.CrossEntropyLoss(),
                  optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True),
                  x, y, torch_setup=torch_setup)


class _ForwardOnlyMLP(nn.Module):
    """The MLP's layers called from a forward written with tensor ops."""

    def __init__(self, seq):
        super().__init__()
        self.l1, self.l2, self.l3 = seq[0], seq[2], seq[4]

    def forward(self, x):
        return self.l3(self.l2(self.l1(x).relu()).relu())


def mlp_step(batch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, 64), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                          nn.Linear(128, 10))

    def torch_setup():
        tm = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                 torch.nn.Linear(128, 128), torch.nn.ReLU(),
                                 torch.nn.Linear(128, 10))
        return tm, torch.nn.CrossEntropyLoss(), torch.optim.SGD(tm.parameters(), lr=0.01)
    return _steps(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.01),
                  x, y, forward_only=_ForwardOnlyMLP(model), torch_setup=torch_setup)


def per_layer_call(rounds, chain=8):
    """{layer: {member: median us per layer call}}: ``chain`` distinct layers called
    one after the other at batch 1, on arrays (explicit ``backward`` in reverse) and
    on a tensor (``backward()`` on the last output)."""
    rng = np.random.default_rng(2)
    cases = {
        "Linear": (lambda: nn.Linear(64, 64), (1, 64), False),
        "Conv2d": (lambda: nn.Conv2d(4, 4, 3, padding=1), (1, 4, 8, 8), False),
        # no parameters: the input requires the gradient, or nothing is recorded
        "ReLU": (lambda: nn.ReLU(), (1, 128), True),
    }
    out = {}
    for name, (make, shape, input_grad) in cases.items():
        layers = [make() for _ in range(chain)]
        x = rng.standard_normal(shape, dtype=np.float32)
        xt = pydl.tensor(x, requires_grad=input_grad)
        y = x
        for layer in layers:
            y = layer(y)
        g = np.ones_like(y)
        for layer in layers:
            layer.clear_saved()

        def explicit_fb(layers=layers, x=x, g=g):
            y = x
            for layer in layers:
                y = layer(y)
            for layer in reversed(layers):
                g = layer.backward(g)

        def tape_fb(layers=layers, xt=xt, g=g):
            y = xt
            for layer in layers:
                y = layer(y)
            y.backward(g)

        def explicit_f(layers=layers, x=x):
            y = x
            for layer in layers:
                y = layer(y)
            for layer in layers:            # what a backward would have consumed
                layer.__dict__["_calls"] = 0

        def tape_f(layers=layers, xt=xt):
            y = xt
            for layer in layers:
                y = layer(y)

        t = _alternate({"explicit": explicit_f, "tape": tape_f,
                        "explicit + backward": explicit_fb, "tape + backward": tape_fb},
                       rounds, 20)
        out[name] = {k: v / chain for k, v in t.items()}
    return out


def per_node(rounds, chain=1000):
    a = np.ones(4, np.float32)
    leaf = pydl.tensor(a, requires_grad=True)
    plain = pydl.tensor(a)

    def recorded():
        x = leaf
        for _ in range(chain):
            x = x * 1.0001
        return x

    def unrecorded():
        x = plain
        for _ in range(chain):
            x = x * 1.0001
        return x

    def bare():
        x = a
        for _ in range(chain):
            x = x * 1.0001
        return x

    def backward():
        recorded().sum().backward()

    members = {"tape": recorded, "no grad": unrecorded, "numpy": bare,
               "tape + backward": backward}
    if torch is not None:
        t_leaf = torch.ones(4, requires_grad=True)

        def torch_recorded():
            x = t_leaf
            for _ in range(chain):
                x = x * 1.0001
            return x

        members["torch"] = torch_recorded
        members["torch + backward"] = lambda: torch_recorded().sum().backward()
    t = _alternate(members, rounds, 1)
    return {k: v / chain for k, v in t.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    n = pydl.get_num_threads()
    if torch is not None:
        torch.set_num_threads(n)
    cfg = pydl.show_config(print_out=False)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"CPU: {cfg['cpu']}; {platform.machine()}; threads: {n}; "
          f"torch: {None if torch is None else torch.__version__}; "
          f"load average at start: {load:.1f} on {os.cpu_count()} CPUs\n")
    print("| case | member | median (us) | ratio |")
    print("|---|---|---|---|")

    def table(case, res, base):
        for name, us in res.items():
            ratio = res[base] / us if name != base else 1.0
            print(f"| {case} | {name} | {us:.1f} | {ratio:.2f}x vs {base} |" if name != base
                  else f"| {case} | {name} | {us:.1f} | |")

    cnn = _alternate(digits_cnn_step(), args.rounds, 5)
    table("digits CNN train step, batch 32", cnn, "pydl explicit")
    for batch in (1, 32):
        res = _alternate(mlp_step(batch), args.rounds, 50)
        table(f"MLP 64-128-128-10 train step, batch {batch}", res,
              "torch" if "torch" in res else "pydl explicit")
    layers = per_layer_call(args.rounds)
    print()
    print("| layer call, batch 1 (us per layer) | explicit | tape | tape cost "
          "| explicit + backward | tape + backward | tape cost |")
    print("|---|---|---|---|---|---|---|")
    for name, r in layers.items():
        print(f"| {name} | {r['explicit']:.2f} | {r['tape']:.2f} "
              f"| {r['tape'] - r['explicit']:.2f} | {r['explicit + backward']:.2f} "
              f"| {r['tape + backward']:.2f} "
              f"| {r['tape + backward'] - r['explicit + backward']:.2f} |")
    node = per_node(args.rounds)
    print()
    print(f"Per recorded op (x * c on 4 floats, chain of 1000): tape {node['tape']:.2f} us, "
          f"no_grad {node['no grad']:.2f} us, bare NumPy {node['numpy']:.2f} us; "
          f"bookkeeping {node['tape'] - node['numpy']:.2f} us per op; forward + backward "
          f"{node['tape + backward']:.2f} us per node (backward "
          f"{node['tape + backward'] - node['tape']:.2f})")
    if "torch" in node:
        print(f"PyTorch eager, the same chain: {node['torch']:.2f} us per recorded op, "
              f"forward + backward {node['torch + backward']:.2f} us per node (backward "
              f"{node['torch + backward'] - node['torch']:.2f})")
    print(f"\ntape / explicit on the digits CNN step: "
          f"{cnn['pydl tape'] / cnn['pydl explicit']:.3f}")


if __name__ == "__main__":
    main()
