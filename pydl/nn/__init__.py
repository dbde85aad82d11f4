"""Layers, losses and containers with PyTorch's names, arguments and weight layouts."""

from . import init, utils
from .activation import ELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .container import ModuleList, Sequential
from .linear import Flatten, Identity, Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .loss import (BCELoss, BinaryFocalLoss, CosineEmbeddingLoss, FocalLoss, HingeLoss,
                   HuberLoss, KLDivLoss, L1Loss, MultiMarginLoss, NLLLoss, PerceptronLoss,
                   SmoothL1Loss, TripletMarginLoss)
from .module import IncompatibleKeys, Module
from .parameter import Parameter

__all__ = [
    "Module", "Parameter", "IncompatibleKeys", "Sequential", "ModuleList", "init", "utils",
    "Linear", "Identity", "Flatten",
    "ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "SiLU", "Softmax", "LogSoftmax",
    "CrossEntropyLoss", "BCEWithLogitsLoss", "MSELoss",
    "NLLLoss", "BCELoss", "KLDivLoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "MultiMarginLoss",
    "HingeLoss", "PerceptronLoss", "BinaryFocalLoss", "FocalLoss", "TripletMarginLoss",
    "CosineEmbeddingLoss",
]
