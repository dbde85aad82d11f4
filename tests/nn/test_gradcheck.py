"""Every module and loss passes a float64 finite-difference gradient check."""

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.testing import GradcheckError, check_function_grad, gradcheck


def _x(shape, seed=0, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


LAYERS = [
    ("Linear", lambda: nn.Linear(5, 3), (4, 5)),
    ("Linear-nobias", lambda: nn.Linear(5, 3, bias=False), (2, 3, 5)),
    ("ReLU", nn.ReLU, (4, 6)),
    ("LeakyReLU", lambda: nn.LeakyReLU(0.2), (4, 6)),
    ("ELU", lambda: nn.ELU(0.7), (4, 6)),
    ("Sigmoid", nn.Sigmoid, (4, 6)),
    ("Tanh", nn.Tanh, (4, 6)),
    ("SiLU", nn.SiLU, (4, 6)),
    ("Softmax", lambda: nn.Softmax(dim=1), (3, 5)),
    ("Softmax-dim0", lambda: nn.Softmax(dim=0), (3, 5)),
    ("LogSoftmax", lambda: nn.LogSoftmax(dim=-1), (3, 5)),
    ("Flatten", nn.Flatten, (2, 3, 4)),
    ("Identity", nn.Identity, (3,)),
    ("MLP", lambda: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(),
                                  nn.Linear(8, 3), nn.LogSoftmax(dim=1)), (5, 4)),
]


@pytest.mark.parametrize("name,make,shape", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_gradcheck(name, make, shape):
    pydl.manual_seed(0)
    m = make().double()
    x = _x(shape)
    if name in ("ReLU", "LeakyReLU", "ELU", "MLP"):
        x[np.abs(x) < 1e-3] = 0.5   # keep finite differences off the kink at 0
    assert gradcheck(m, x)


LOSSES = [
    ("CrossEntropy", lambda: nn.CrossEntropyLoss(), (6, 4), lambda r: r.integers(0, 4, 6)),
    ("CrossEntropy-weighted-smoothed",
     lambda: nn.CrossEntropyLoss(weight=np.array([0.5, 1, 2, 1.5]), label_smoothing=0.2,
                                 ignore_index=1),
     (6, 4), lambda r: r.integers(0, 4, 6)),
    ("CrossEntropy-sum-kdim", lambda: nn.CrossEntropyLoss(reduction="sum"), (2, 3, 4),
     lambda r: r.integers(0, 3, (2, 4))),
    ("CrossEntropy-none", lambda: nn.CrossEntropyLoss(reduction="none", label_smoothing=0.1),
     (5, 3), lambda r: r.integers(0, 3, 5)),
    ("BCEWithLogits", lambda: nn.BCEWithLogitsLoss(), (4, 3), lambda r: r.random((4, 3))),
    ("BCEWithLogits-weights",
     lambda: nn.BCEWithLogitsLoss(weight=np.array([1.0, 2.0, 0.5]),
                                  pos_weight=np.array([3.0, 1.0, 0.2]), reduction="sum"),
     (4, 3), lambda r: (r.random((4, 3)) > 0.5).astype(float)),
    ("BCEWithLogits-none", lambda: nn.BCEWithLogitsLoss(reduction="none"), (7,),
     lambda r: r.random(7)),
    ("MSE", lambda: nn.MSELoss(), (4, 3), lambda r: r.standard_normal((4, 3))),
    ("MSE-none", lambda: nn.MSELoss(reduction="none"), (4, 3),
     lambda r: r.standard_normal((4, 3))),
]


@pytest.mark.parametrize("name,make,shape,target", LOSSES, ids=[c[0] for c in LOSSES])
def test_loss_gradcheck(name, make, shape, target):
    rng = np.random.default_rng(1)
    assert gradcheck(make(), _x(shape, scale=2.0), target=target(rng))


def test_gradcheck_catches_a_wrong_gradient():
    class WrongTanh(nn.Tanh):
        def backward(self, grad_output):
            return super().backward(grad_output) * 1.01

    with pytest.raises(GradcheckError, match="gradient mismatch for input 0"):
        gradcheck(WrongTanh(), _x((3, 4)))

    class ForgetsBias(nn.Linear):
        def backward(self, grad_output):
            gx = super().backward(grad_output)
            self.bias.grad = self.bias.grad * 0
            return gx

    with pytest.raises(GradcheckError, match="parameter 'bias'"):
        gradcheck(ForgetsBias(3, 2).double(), _x((4, 3)))


def test_gradcheck_needs_float64_module():
    with pytest.raises(ValueError, match="call module.double"):
        gradcheck(nn.Linear(3, 2), _x((2, 3)))


def test_check_function_grad_on_functional_ops():
    from pydl import functional as F
    x = _x((4, 5))
    w = _x((3, 5), 1)
    b = _x((3,), 2)
    assert check_function_grad(lambda x, w, b: F.linear_forward(x, w, b),
                               lambda g: F.linear_backward(g, x, w), [x, w, b])
    with pytest.raises(GradcheckError):
        check_function_grad(lambda x: F.tanh_forward(x),
                            lambda g: F.tanh_backward(g, F.tanh_forward(x)) * 0.9, [x])
