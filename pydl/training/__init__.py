"""The training loop: ``fit`` / ``evaluate`` / ``predict``, callbacks and ``History``."""

from . import callbacks
from .averaging import EMA
from .callbacks import (Callback, CSVLogger, EarlyStopping, LearningRateScheduler,
                        ModelCheckpoint, TerminateOnNaN)
from .history import History
from .loop import evaluate, fit, predict

__all__ = ["fit", "evaluate", "predict", "History", "callbacks", "Callback",
           "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler", "CSVLogger",
           "TerminateOnNaN", "EMA"]
