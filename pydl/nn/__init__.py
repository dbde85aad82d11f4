"""Layers, losses and containers with PyTorch's names, arguments and weight layouts."""

from . import init, utils
from .activation import ELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .container import ModuleList, Sequential
from .linear import Flatten, Identity, Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .module import IncompatibleKeys, Module
from .parameter import Parameter
from .activation import GELU, Hardtanh, PReLU, ReLU6, Softplus
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .dropout import Dropout, Dropout1d, Dropout2d, Dropout3d
from .normalization import LayerNorm, LocalResponseNorm

__all__ = [
    "Module", "Parameter", "IncompatibleKeys", "Sequential", "ModuleList", "init", "utils",
    "Linear", "Identity", "Flatten",
    "ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "SiLU", "Softmax", "LogSoftmax",
    "CrossEntropyLoss", "BCEWithLogitsLoss", "MSELoss",
    "PReLU", "Softplus", "Hardtanh", "ReLU6", "GELU",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "LocalResponseNorm",
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
]
