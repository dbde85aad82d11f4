"""Data utilities: mini-batches, splits, encodings, scaling, augmentation, datasets."""

from .augment import Augment, gaussian_noise, random_flip, random_shift
from .augment import (ColorJitter, Compose, Cutout, ElasticDistortion, GaussianNoise,
                      RandomErasing, RandomFlip, RandomResizedCrop, RandomRotation,
                      RandomScale, RandomShift, RandomTransform)
from .color import color_jitter
from .datasets import load_digits, load_idx
from .distributed import DistributedSampler
from .encoding import one_hot
from .erasing import cutout, random_erasing
from .geometric import elastic_distortion, random_resized_crop, random_rotation, random_scale
from .loader import DataLoader, iterate_minibatches
from .preprocessing import (Binarizer, DecimalScaler, LogTransformer, MeanNormalizer,
                            MinMaxScaler, NotFittedError, StandardScaler)
from .split import train_test_split

__all__ = [
    "DataLoader", "DistributedSampler", "iterate_minibatches", "train_test_split", "one_hot",
    "StandardScaler", "MinMaxScaler", "MeanNormalizer", "DecimalScaler", "LogTransformer",
    "Binarizer", "NotFittedError",
    "random_shift", "random_flip", "gaussian_noise", "Augment",
    "random_rotation", "random_scale", "random_resized_crop", "elastic_distortion",
    "random_erasing", "cutout", "color_jitter", "Compose", "RandomTransform",
    "RandomShift", "RandomFlip", "GaussianNoise", "RandomRotation", "RandomScale",
    "RandomResizedCrop", "ElasticDistortion", "RandomErasing", "Cutout", "ColorJitter",
    "load_digits", "load_idx",
]
