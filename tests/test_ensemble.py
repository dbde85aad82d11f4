"""pydl.ensemble: Ensemble module and predict over models and checkpoint files."""

import numpy as np
import pytest

import pydl
from pydl import ensemble, nn
from pydl.ensemble import Ensemble


def _mlp(seed, dtype=np.float32):
    pydl.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3)).to(dtype)


def _x(n=6, dtype=np.float32):
    return np.random.default_rng(0).standard_normal((n, 5)).astype(dtype)


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_ensemble_of_identical_models_equals_one_model():
    model = _mlp(0)
    x = _x()
    copies = [_mlp(0) for _ in range(3)]
    np.testing.assert_array_equal(Ensemble(copies)(x), model(x))
    np.testing.assert_array_equal(ensemble.predict(copies, x), pydl.predict(model, x))
    probs = ensemble.predict(copies, x, activation="softmax")
    np.testing.assert_allclose(probs, _softmax(model(x)), rtol=1e-6)


@pytest.mark.parametrize("activation", [None, "softmax", "sigmoid"])
def test_weighted_average_by_hand(activation):
    a, b = _mlp(1, np.float64), _mlp(2, np.float64)
    x = _x(dtype=np.float64)
    f = {None: lambda z: z, "softmax": _softmax,
         "sigmoid": lambda z: 1 / (1 + np.exp(-z))}[activation]
    want = 0.25 * f(a(x)) + 0.75 * f(b(x))
    got = Ensemble([a, b], weights=[1, 3], activation=activation)(x)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    got = ensemble.predict([a, b], x, weights=(2.0, 6.0), activation=activation,
                           batch_size=4)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    if activation == "softmax":
        np.testing.assert_allclose(got.sum(1), 1.0, rtol=1e-13)


@pytest.mark.parametrize("activation", [None, "softmax", "sigmoid"])
def test_ensemble_gradcheck(activation):
    members = [_mlp(3, np.float64), _mlp(4, np.float64)]
    pydl.testing.gradcheck(Ensemble(members, weights=[0.3, 0.7], activation=activation),
                           _x(4, np.float64))


def test_ensemble_of_tape_only_members_runs_on_the_tape():
    class Affine(nn.Module):       # forward only: runs as tensor ops
        def __init__(self, scale):
            super().__init__()
            self.weight = nn.Parameter(np.full((5, 3), scale))

        def forward(self, x):
            return pydl.matmul(x, self.weight)

    ens = Ensemble([Affine(0.1), Affine(0.3)], activation="softmax")
    x = pydl.tensor(_x(2, np.float64), requires_grad=True)
    out = ens(x)
    assert isinstance(out, pydl.Tensor)
    np.testing.assert_allclose(out.data, 0.5 * _softmax(x.data @ np.full((5, 3), 0.1))
                               + 0.5 * _softmax(x.data @ np.full((5, 3), 0.3)), rtol=1e-12)
    pydl.testing.gradcheck(ens, _x(2, np.float64), tape=True)


def test_from_checkpoints_and_predict_from_paths(tmp_path):
    models = [_mlp(s) for s in (5, 6, 7)]
    paths = []
    for i, m in enumerate(models):
        paths.append(tmp_path / f"m{i}.npz")
        pydl.save(paths[-1], model=m, epoch=i)
    paths[2] = str(paths[2])                 # str and PathLike both work
    x = _x(9)
    want = Ensemble(models)(x)
    ens = Ensemble.from_checkpoints(paths, lambda: _mlp(99))
    np.testing.assert_array_equal(ens(x), want)
    template = _mlp(99)
    before = {k: v.copy() for k, v in template.state_dict().items()}
    got = ensemble.predict(paths, x, model=template, batch_size=4)
    # bitwise against the same batching only: a BLAS product of a 1-row last batch
    # (9 = 4 + 4 + 1) need not round as the 9-row one does
    np.testing.assert_array_equal(got, ensemble.predict(models, x, batch_size=4))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    for k, v in template.state_dict().items():       # the template is not modified
        np.testing.assert_array_equal(v, before[k])
    mixed = ensemble.predict([models[0], paths[1], paths[2]], x, model=template)
    np.testing.assert_array_equal(mixed, want)


def test_predict_in_eval_mode():
    pydl.manual_seed(0)
    members = [nn.Sequential(nn.Linear(5, 3), nn.Dropout(0.5)) for _ in range(2)]
    x = _x()
    a = ensemble.predict(members, x)
    np.testing.assert_array_equal(a, ensemble.predict(members, x))
    np.testing.assert_allclose(a, 0.5 * (members[0][0](x) + members[1][0](x)), rtol=1e-6)
    assert all(m.training for m in members)


def test_ensemble_state_dict_keys():
    ens = Ensemble([_mlp(0), _mlp(1)])
    assert list(ens.state_dict())[:2] == ["0.0.weight", "0.0.bias"]
    assert len(ens.state_dict()) == 8


@pytest.mark.parametrize("make, error, match", [
    (lambda: Ensemble([]), ValueError, "at least one of pydl.nn.Module"),
    (lambda: Ensemble(_mlp(0)), TypeError, "models must be a sequence"),
    (lambda: Ensemble([_mlp(0), "m.npz"]), TypeError, r"models\[1\] must be one of pydl"),
    (lambda: Ensemble([_mlp(0)], weights=[1, 2]), ValueError, "one number per member"),
    (lambda: Ensemble([_mlp(0)] * 2, weights=[1, -1]), ValueError, r"weights\[1\] must be"),
    (lambda: Ensemble([_mlp(0)] * 2, weights=[0, 0]), ValueError, "must not all be 0"),
    (lambda: Ensemble([_mlp(0)] * 2, weights=[1, float("nan")]), ValueError, "finite"),
    (lambda: Ensemble([_mlp(0)], weights=0.5), TypeError, "weights must be a sequence"),
    (lambda: Ensemble([_mlp(0)], activation="relu"), ValueError, "activation must be one of"),
    (lambda: Ensemble.from_checkpoints(["a.npz"], build=None), TypeError, "build must be"),
    (lambda: Ensemble.from_checkpoints("a.npz", _mlp), TypeError, "paths must be a sequence"),
    (lambda: Ensemble.from_checkpoints([], _mlp), ValueError, "at least one of checkpoint"),
    (lambda: ensemble.predict(["a.npz"], _x()), TypeError, "model .* is required"),
    (lambda: ensemble.predict([], _x()), ValueError, "at least one"),
    (lambda: ensemble.predict([3], _x()), TypeError, r"models\[0\] must be"),
    (lambda: ensemble.predict(["missing.npz"], _x(), model=_mlp(0)), FileNotFoundError,
     "missing.npz"),
    (lambda: ensemble.predict([_mlp(0), nn.Linear(5, 4)], _x()), ValueError,
     r"models\[1\] returned shape \(6, 4\), models\[0\] \(6, 3\)"),
    (lambda: Ensemble([_mlp(0), nn.Linear(5, 4)])(_x()), ValueError, "member 1 returned"),
])
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()
