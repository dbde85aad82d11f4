"""Layers, losses and containers with PyTorch's names, arguments and weight layouts."""

from . import init, utils
from .activation import ELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .container import Concat, ModuleList, Sequential
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .linear import Flatten, Identity, Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .loss import (BCELoss, BinaryFocalLoss, CosineEmbeddingLoss, FocalLoss, HingeLoss,
                   HuberLoss, KLDivLoss, L1Loss, MultiMarginLoss, NLLLoss, PerceptronLoss,
                   SmoothL1Loss, TripletMarginLoss)
from .module import IncompatibleKeys, Module
from .parameter import Parameter
from .pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d,
                      AdaptiveMaxPool2d, AdaptiveMaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d,
                      MaxPool1d, MaxPool2d, MaxPool3d, MaxUnpool1d, MaxUnpool2d, MaxUnpool3d)
from .residual import Residual
from .upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from .activation import GELU, Hardtanh, PReLU, ReLU6, Softplus
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .sync_batchnorm import SyncBatchNorm
from .dropout import Dropout, Dropout1d, Dropout2d, Dropout3d
from .normalization import LayerNorm, LocalResponseNorm
from .group_norm import GroupNorm, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .style_loss import ContentLoss, GramMatrix, StyleLoss
from .sparse import Embedding
from .attention import AdditiveAttention, ScaledDotProductAttention
from .yolo import YOLOLoss

__all__ = [
    "Module", "Parameter", "IncompatibleKeys", "Sequential", "ModuleList", "Concat", "init", "utils",
    "Linear", "Identity", "Flatten",
    "ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "SiLU", "Softmax", "LogSoftmax",
    "CrossEntropyLoss", "BCEWithLogitsLoss", "MSELoss",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
    "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
    "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "Residual",
    "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
    "PReLU", "Softplus", "Hardtanh", "ReLU6", "GELU",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "LayerNorm", "LocalResponseNorm",
    "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
    "GramMatrix", "ContentLoss", "StyleLoss",
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
    "NLLLoss", "BCELoss", "KLDivLoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "MultiMarginLoss",
    "HingeLoss", "PerceptronLoss", "BinaryFocalLoss", "FocalLoss", "TripletMarginLoss",
    "CosineEmbeddingLoss", "YOLOLoss",
    "Embedding", "ScaledDotProductAttention", "AdditiveAttention",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
]
