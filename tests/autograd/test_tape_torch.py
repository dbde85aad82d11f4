"""Random composite graphs of tensor ops and modules, built the same way in pydl and in
torch.autograd: equal values and equal gradients for every leaf (float64)."""

import numpy as np
import pytest

import pydl
from pydl import nn

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

N, M = 3, 4


def _unary(name):
    return {
        "tanh": (lambda a: a.tanh(), lambda a: a.tanh()),
        "sigmoid": (pydl.sigmoid, torch.sigmoid),
        "relu": (lambda a: a.relu(), torch.relu),
        "exp-bounded": (lambda a: a.tanh().exp(), lambda a: a.tanh().exp()),
        "log-positive": (lambda a: pydl.log(a * a + 1.0), lambda a: torch.log(a * a + 1.0)),
        "sqrt-positive": (lambda a: pydl.sqrt(a * a + 0.5), lambda a: torch.sqrt(a * a + 0.5)),
        "abs": (abs, abs),
        "neg": (lambda a: -a, lambda a: -a),
        "square": (lambda a: a ** 2, lambda a: a ** 2),
        "clip": (lambda a: a.clip(-0.5, 0.5), lambda a: a.clamp(-0.5, 0.5)),
        "sum-rows": (lambda a: a.sum(axis=1, keepdims=True) + a * 0,
                     lambda a: a.sum(dim=1, keepdim=True) + a * 0),
        "mean-cols": (lambda a: a - a.mean(axis=0, keepdims=True),
                      lambda a: a - a.mean(dim=0, keepdim=True)),
        "max-rows": (lambda a: a.max(axis=-1, keepdims=True) * a,
                     lambda a: a.amax(dim=-1, keepdim=True) * a),
        "var-rows": (lambda a: a.var(axis=1, keepdims=True) + a,
                     lambda a: a.var(dim=1, keepdim=True) + a),
        "flip-index": (lambda a: a[::-1], lambda a: a.flip(0)),
        "gather-rows": (lambda a: a[np.array([2, 0, 0])], lambda a: a[torch.tensor([2, 0, 0])]),
        "transpose-matmul": (lambda a: a @ (a.T @ a) * 0.1, lambda a: a @ (a.T @ a) * 0.1),
        "reshape": (lambda a: a.reshape(M, N).T, lambda a: a.reshape(M, N).T),
        "pad-slice": (lambda a: pydl.pad(a, ((1, 1), (0, 2)))[1:-1, 2:],
                      lambda a: torch.nn.functional.pad(a, (0, 2, 1, 1))[1:-1, 2:]),
    }[name]


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (b * b + 1.0), lambda a, b: a / (b * b + 1.0)),
    "maximum": (pydl.maximum, torch.maximum),
    "where": (lambda a, b: pydl.where(a.data > b.data, a, b * 2),
              lambda a, b: torch.where(a > b, a, b * 2)),
    "concat-split": (lambda a, b: pydl.split(pydl.concatenate([a, b], axis=1), [M], axis=1)[1] * a,
                     lambda a, b: torch.split(torch.cat([a, b], 1), M, 1)[1] * a),
    "stack-sum": (lambda a, b: pydl.stack([a, b]).sum(axis=0),
                  lambda a, b: torch.stack([a, b]).sum(0)),
    "row-broadcast": (lambda a, b: a * b[0:1], lambda a, b: a * b[0:1]),
}
UNARY = ["tanh", "sigmoid", "relu", "exp-bounded", "log-positive", "sqrt-positive", "abs",
         "neg", "square", "clip", "sum-rows", "mean-cols", "max-rows", "var-rows",
         "flip-index", "gather-rows", "transpose-matmul", "reshape", "pad-slice"]


def _linear_pair(rng):
    """A pydl Linear and the torch function with the same weights."""
    lin = nn.Linear(M, M, dtype=np.float64)
    lin.weight.data[...] = rng.standard_normal((M, M)) * 0.5
    lin.bias.data[...] = rng.standard_normal(M) * 0.5
    tw = torch.tensor(lin.weight.data, requires_grad=True)
    tb = torch.tensor(lin.bias.data, requires_grad=True)
    return lin, (lambda a: torch.nn.functional.linear(a, tw, tb)), (lin.weight, tw), (lin.bias, tb)


step = st.one_of(
    st.tuples(st.just("unary"), st.sampled_from(UNARY), st.integers(0, 100)),
    st.tuples(st.just("binary"), st.sampled_from(sorted(BINARY)), st.integers(0, 100),
              st.integers(0, 100)),
    st.tuples(st.just("linear"), st.integers(0, 100)),
)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=8), seed=st.integers(0, 2**16))
def test_random_graphs_match_torch(steps, seed):
    rng = np.random.default_rng(seed)
    leaves = [rng.standard_normal((N, M)) for _ in range(3)]
    ours = [pydl.tensor(a.copy(), requires_grad=True) for a in leaves]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in leaves]
    pairs = list(zip(ours, theirs))            # leaves whose gradients are compared
    nodes = list(zip(ours, theirs))
    shared = None                              # one Linear, called at every 'linear' step
    for s in steps:
        if s[0] == "unary":
            f_ours, f_theirs = _unary(s[1])
            a, ta = nodes[s[2] % len(nodes)]
            nodes.append((f_ours(a), f_theirs(ta)))
        elif s[0] == "binary":
            f_ours, f_theirs = BINARY[s[1]]
            a, ta = nodes[s[2] % len(nodes)]
            b, tb = nodes[s[3] % len(nodes)]
            nodes.append((f_ours(a, b), f_theirs(ta, tb)))
        else:
            if shared is None:
                shared = _linear_pair(rng)
                pairs += [shared[2], shared[3]]
            a, ta = nodes[s[1] % len(nodes)]
            nodes.append((shared[0](a), shared[1](ta)))
    u = rng.standard_normal((N, M))
    total, t_total = None, None
    for o, to in nodes[3:]:
        term, t_term = (o * u).sum(), (to * torch.tensor(u)).sum()
        total = term if total is None else total + term
        t_total = t_term if t_total is None else t_total + t_term
        np.testing.assert_allclose(o.data, to.detach().numpy(), rtol=1e-10, atol=1e-12)
    total.backward()
    t_total.backward()
    for mine, ref in pairs:
        if ref.grad is None:
            assert mine.grad is None or not np.any(mine.grad)
        else:
            np.testing.assert_allclose(mine.grad, ref.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_module_calls_through_the_tape_match_torch():
    """A conv net called twice (shared weights), two losses: gradients as torch's."""
    pydl.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 4)).double()
    tnet = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.BatchNorm2d(3),
                               torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                               torch.nn.Linear(12, 4)).double()
    tnet.load_state_dict({k: torch.tensor(v) for k, v in net.state_dict().items()})
    rng = np.random.default_rng(1)
    x1, x2 = rng.standard_normal((2, 2, 2, 4, 4))
    y = np.array([1, 3])
    ce = nn.CrossEntropyLoss()
    o1, o2 = net(pydl.tensor(x1)), net(pydl.tensor(x2))
    loss = ce(o1, y) + ((o1 - o2) ** 2).mean()
    loss.backward()
    t1, t2 = tnet(torch.tensor(x1)), tnet(torch.tensor(x2))
    tloss = torch.nn.functional.cross_entropy(t1, torch.tensor(y)) + ((t1 - t2) ** 2).mean()
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-10)
    tparams = dict(tnet.named_parameters())
    for name, p in net.named_parameters():
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=name)
