"""DLPack: pydl.Tensor / Parameter export and pydl.from_dlpack (issue 16, item 5).

Zero-copy is checked by writing through one side and reading through the other.
"""

import numpy as np
import pytest

import pydl
from pydl import nn

torch = pytest.importorskip("torch")

DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.uint8, np.int8,
          np.bool_]


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_imports_a_pydl_tensor_without_a_copy(dtype):
    data = (np.arange(12).reshape(3, 4) % 2 if dtype is np.bool_
            else np.arange(12).reshape(3, 4)).astype(dtype)
    t = pydl.tensor(data)
    tt = torch.from_dlpack(t)
    assert tuple(tt.shape) == (3, 4) and not tt.requires_grad
    np.testing.assert_array_equal(tt.numpy(), data)
    tt[1, 2] = 0 if dtype is np.bool_ else 7  # torch writes, pydl reads
    assert t.data[1, 2] == tt[1, 2].item()
    t.data[0, 0] = 1  # pydl writes, torch reads
    assert tt[0, 0].item() == 1


def test_strided_and_zero_dim_tensors_keep_their_layout():
    base = pydl.tensor(np.arange(24, dtype=np.float64).reshape(4, 6))
    view = pydl.Tensor(base.data[::2, 1::2].T)
    tv = torch.from_dlpack(view)
    np.testing.assert_array_equal(tv.numpy(), view.data)
    tv[1, 0] = -1.0
    assert base.data[0, 3] == -1.0
    scalar = torch.from_dlpack(pydl.tensor(np.float32(2.5)))
    assert scalar.shape == () and scalar.item() == 2.5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.bool,
                                   torch.uint8, torch.float16])
def test_pydl_imports_a_torch_tensor_without_a_copy(dtype):
    tt = (torch.arange(6).reshape(2, 3) % 2).to(dtype)
    t = pydl.from_dlpack(tt)
    assert isinstance(t, pydl.Tensor) and t.is_leaf and not t.requires_grad
    assert t.shape == (2, 3) and t.dtype == tt.numpy().dtype
    np.testing.assert_array_equal(t.data, tt.numpy())
    tt[1, 1] = 1  # torch writes, pydl reads
    assert t.data[1, 1] == 1
    t.data[0, 2] = 0  # pydl writes, torch reads
    assert tt[0, 2].item() == 0


def test_an_imported_tensor_trains_like_any_leaf():
    tt = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    x = pydl.from_dlpack(tt).requires_grad_()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, 2 * tt.numpy())
    assert np.shares_memory(x.data, tt.numpy())


def test_a_transposed_torch_tensor_is_shared_with_its_strides():
    tt = torch.arange(12.0).reshape(3, 4).t()
    t = pydl.from_dlpack(tt)
    np.testing.assert_array_equal(t.data, tt.numpy())
    assert np.shares_memory(t.data, tt.numpy())


def test_numpy_arrays_and_pydl_tensors_round_trip():
    a = np.arange(5, dtype=np.float32)
    t = pydl.from_dlpack(a)
    assert np.shares_memory(t.data, a)
    back = np.from_dlpack(t)
    assert np.shares_memory(back, a)
    again = pydl.from_dlpack(t)
    assert np.shares_memory(again.data, a)


def test_copy_true_copies():
    tt = torch.zeros(3)
    t = pydl.from_dlpack(tt, copy=True)
    t.data[0] = 5
    assert tt[0].item() == 0
    tc = torch.from_dlpack(pydl.tensor(np.zeros(3, np.float32)), copy=True)
    assert tc.shape == (3,)


def test_parameters_export_like_pytorch_parameters():
    lin = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="requires grad.*detach"):
        torch.from_dlpack(lin.weight)
    with pytest.raises(RuntimeError, match="requires grad.*detach"):
        lin.weight.__dlpack__()
    # the detached tensor shares the parameter's memory: torch can update it in place
    w = torch.from_dlpack(lin.weight.detach())
    with torch.no_grad():
        w.fill_(0.25)
    np.testing.assert_array_equal(lin.weight.data, np.full((2, 3), 0.25, np.float32))
    lin.bias.requires_grad_(False)  # a frozen parameter exports as it is
    b = torch.from_dlpack(lin.bias)
    b[0] = 9.0
    assert lin.bias.data[0] == 9.0
    assert np.shares_memory(pydl.from_dlpack(lin.bias).data, lin.bias.data)


def test_a_tensor_made_by_an_op_that_requires_grad_is_refused():
    x = pydl.tensor(np.ones(3, np.float32), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="requires grad"):
        torch.from_dlpack(y)
    with pytest.raises(RuntimeError, match="requires grad.*x.detach"):
        pydl.from_dlpack(y)
    with pytest.raises(RuntimeError, match="requires grad.*x.detach"):
        pydl.from_dlpack(torch.ones(2, requires_grad=True))
    np.testing.assert_array_equal(
        pydl.from_dlpack(torch.ones(2, requires_grad=True).detach()).data, [1, 1])
    np.testing.assert_array_equal(torch.from_dlpack(y.detach()).numpy(), [2, 2, 2])


def test_dlpack_device_is_the_cpu():
    assert pydl.tensor(np.ones(2)).__dlpack_device__() == (1, 0)
    assert nn.Linear(2, 2).weight.__dlpack_device__() == (1, 0)


class _OnGpu:
    def __dlpack__(self, **kwargs):
        raise AssertionError("must not be called")

    def __dlpack_device__(self):
        return (2, 1)


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="device CUDA:1; pydl runs on the CPU"):
        pydl.from_dlpack(_OnGpu())
    with pytest.raises(TypeError, match="x must support DLPack.*got list"):
        pydl.from_dlpack([1.0, 2.0])
    with pytest.raises(ValueError, match="device must be 'cpu' or None"):
        pydl.from_dlpack(torch.zeros(2), device="cuda")
    assert pydl.from_dlpack(torch.zeros(2), device="cpu").shape == (2,)
    with pytest.raises(TypeError, match="copy must be a bool or None"):
        pydl.from_dlpack(torch.zeros(2), copy="yes")
    with pytest.raises(TypeError, match="dtype torch.bfloat16 cannot be imported"):
        pydl.from_dlpack(torch.zeros(2, dtype=torch.bfloat16))
    with pytest.raises(TypeError, match="dtype complex64.*convert it first"):
        pydl.from_dlpack(torch.zeros(2, dtype=torch.complex64))


class _Numpy20Array(np.ndarray):
    """An ndarray whose __dlpack__ takes only stream=, as before NumPy 2.1."""

    def __dlpack__(self, *, stream=None):
        return np.asarray(self).__dlpack__(stream=stream)


def test_numpy_before_2_1_is_served(monkeypatch):
    # pyproject allows numpy>=1.25: neither ndarray.__dlpack__ nor np.from_dlpack took
    # max_version/dl_device/copy before 2.1
    t = pydl.tensor(np.arange(3.0))
    t.data = t.data.view(_Numpy20Array)
    tt = torch.from_dlpack(t)  # torch retries without max_version on a TypeError
    tt[0] = 5.0
    assert t.data[0] == 5.0
    numpy_from_dlpack = np.from_dlpack
    monkeypatch.setattr(np, "from_dlpack", lambda x: numpy_from_dlpack(x))
    src = torch.zeros(3)
    assert np.shares_memory(pydl.from_dlpack(src).data, src.numpy())
    copied = pydl.from_dlpack(src, copy=True)
    copied.data[0] = 1.0
    assert src[0].item() == 0.0 and copied.dtype == np.float32
