"""Residual: ``block(x) + shortcut(x)``, the skeleton of a ResNet block."""

import numpy as np

from .module import Module

__all__ = ["Residual"]


class Residual(Module):
    """``y = block(x) + shortcut(x)``, with the identity as the default shortcut.

    Parameters
    ----------
    block : Module
        The residual branch (e.g. conv-bn-relu-conv-bn).
    shortcut : Module, optional
        The projection branch (e.g. a strided 1x1 conv and batch norm) when the block
        changes the shape; None means ``x`` itself.

    Both are registered submodules: state_dict keys are ``"block.*"`` and
    ``"shortcut.*"``. The backward sends the upstream gradient down both branches and
    adds the input gradients they return. A ReLU after the sum, as in ResNet, is
    a separate module (``Sequential(Residual(...), ReLU())``).
    """

    def __init__(self, block, shortcut=None):
        super().__init__()
        if not isinstance(block, Module):
            raise TypeError(f"block must be a pydl.nn.Module, got {type(block).__name__}")
        if shortcut is not None and not isinstance(shortcut, Module):
            raise TypeError(f"shortcut must be a pydl.nn.Module or None, "
                            f"got {type(shortcut).__name__}")
        self.block = block
        self.shortcut = shortcut

    def forward(self, x):
        y = self.block(x)
        s = x if self.shortcut is None else self.shortcut(x)
        if np.shape(y) != np.shape(s):
            branch = "the shortcut" if self.shortcut is not None else "the input (identity)"
            raise ValueError(f"Residual: block output has shape {np.shape(y)} but {branch} "
                             f"has shape {np.shape(s)}; give a shortcut that maps the input "
                             f"to the block's output shape")
        return y + s

    def backward(self, grad_output):
        dx = self.block.backward(grad_output)
        ds = grad_output if self.shortcut is None else self.shortcut.backward(grad_output)
        return dx + ds
