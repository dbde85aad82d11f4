"""Layers, losses and containers with PyTorch's names, arguments and weight layouts."""

from . import init, utils
from .activation import ELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .container import ModuleList, Sequential
from .linear import Flatten, Identity, Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .module import IncompatibleKeys, Module
from .parameter import Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from .sparse import Embedding
from .attention import AdditiveAttention, ScaledDotProductAttention

__all__ = [
    "Module", "Parameter", "IncompatibleKeys", "Sequential", "ModuleList", "init", "utils",
    "Linear", "Identity", "Flatten",
    "ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "SiLU", "Softmax", "LogSoftmax",
    "CrossEntropyLoss", "BCEWithLogitsLoss", "MSELoss",
    "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
    "Embedding", "ScaledDotProductAttention", "AdditiveAttention",
]
