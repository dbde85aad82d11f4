"""Optimizers with PyTorch's names, formulas and defaults; fused Cython updates."""

from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD"]
