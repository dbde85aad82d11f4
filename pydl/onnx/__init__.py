"""ONNX export and import: ``pydl.onnx.export`` and ``pydl.onnx.load``.

Needs the optional extra ``pip install "pydl[onnx]"`` (onnx, and onnxruntime to run
an exported file). ``import pydl`` never imports this package.
"""

from ._export import ExportError, export, register, register_fallback
from ._import import load

__all__ = ["ExportError", "export", "load", "register", "register_fallback"]
