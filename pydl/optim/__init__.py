"""Optimizers with PyTorch's names, formulas and defaults; fused Cython updates."""

from .optimizer import Optimizer, deferred_interrupt
from .sgd import SGD
from .adam import Adam
from .adamw import AdamW
from .adagrad import Adagrad
from .rmsprop import RMSprop
from . import lr_scheduler, swa_utils

__all__ = ["Optimizer", "deferred_interrupt", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop",
           "lr_scheduler", "swa_utils"]
