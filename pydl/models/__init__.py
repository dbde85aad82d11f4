"""Classic architectures built from pydl.nn layers, each trainable with the usual step.

``MLP``, ``LeNet5``, ``AlexNet``, ``VGG`` (and the presets ``alexnet``, ``vgg11`` ..
``vgg19``), ``ResNet`` (basic and bottleneck blocks), ``Inception``
(blocks of parallel 1x1/3x3/5x5/pool branches) and ``MobileNet`` (depthwise-separable
blocks). Inputs are NCHW float arrays, outputs logits.
"""

from .alexnet import AlexNet, alexnet
from .inception import Inception, InceptionBlock
from .lenet import LeNet5
from .mlp import MLP
from .mobilenet import MobileNet, depthwise_separable
from .resnet import BasicBlock, Bottleneck, ResNet
from .vgg import VGG, vgg11, vgg13, vgg16, vgg19

__all__ = ["MLP", "LeNet5", "VGG", "ResNet", "BasicBlock", "Bottleneck", "Inception",
           "InceptionBlock", "MobileNet", "depthwise_separable", "AlexNet", "alexnet",
           "vgg11", "vgg13", "vgg16", "vgg19"]
