"""Data utilities: mini-batches, splits, encodings, scaling, augmentation, datasets."""

from .augment import Augment, gaussian_noise, random_flip, random_shift
from .datasets import load_digits, load_idx
from .distributed import DistributedSampler
from .encoding import one_hot
from .loader import DataLoader, iterate_minibatches
from .preprocessing import (Binarizer, DecimalScaler, LogTransformer, MeanNormalizer,
                            MinMaxScaler, NotFittedError, StandardScaler)
from .split import train_test_split

__all__ = [
    "DataLoader", "DistributedSampler", "iterate_minibatches", "train_test_split", "one_hot",
    "StandardScaler", "MinMaxScaler", "MeanNormalizer", "DecimalScaler", "LogTransformer",
    "Binarizer", "NotFittedError",
    "random_shift", "random_flip", "gaussian_noise", "Augment",
    "load_digits", "load_idx",
]
