"""The converter registry of ONNX export: ``register``, ``register_fallback`` and the
lookup of a module's converter (see :mod:`pydl.onnx._export` for the contract)."""

from .. import nn

__all__ = ["ExportError", "register", "register_fallback"]

_CONVERTERS = {}     # module class -> convert(module, ctx, inputs)
_FALLBACKS = []      # fn(module, ctx, inputs) -> output names or None, in order


class ExportError(ValueError):
    """A module setting that ONNX (at the chosen opset) cannot express."""


def register(*module_classes):
    """Decorator: ``convert(module, ctx, inputs) -> list[str]`` for these classes.

    Registering a class again replaces its converter (a user may override pydl's).
    """
    for cls in module_classes:
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise TypeError(f"register() takes pydl.nn.Module subclasses, got {cls!r}")

    def decorate(fn):
        for cls in module_classes:
            _CONVERTERS[cls] = fn
        return fn
    return decorate


def register_fallback(fn):
    """Add ``fn(module, ctx, inputs) -> list[str] | None`` for modules whose class has
    no converter; returns ``fn``. Fallbacks are tried in the order added."""
    if not callable(fn):
        raise TypeError(f"register_fallback() takes a callable, got {type(fn).__name__}")
    if fn not in _FALLBACKS:
        _FALLBACKS.append(fn)
    return fn


def _converter_for(cls):
    """The converter of ``cls`` or of the nearest base whose forward it inherits."""
    if cls in _CONVERTERS:
        return _CONVERTERS[cls]
    for base in cls.__mro__[1:]:
        if base in _CONVERTERS:
            return _CONVERTERS[base] if cls.forward is base.forward else None
    return None
