"""Callbacks for :func:`pydl.fit` (``pydl.callbacks.EarlyStopping`` etc., as
``keras.callbacks``); defined in :mod:`pydl.training.callbacks`."""

from .training.averaging import EMA
from .training.callbacks import (Callback, CallbackList, CSVLogger, EarlyStopping,
                                 LearningRateScheduler, ModelCheckpoint, TerminateOnNaN)

__all__ = ["Callback", "CallbackList", "EarlyStopping", "ModelCheckpoint",
           "LearningRateScheduler", "CSVLogger", "TerminateOnNaN", "EMA"]
