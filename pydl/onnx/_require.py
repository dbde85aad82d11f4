"""The one place that imports the optional onnx package, with an error that says what
to install."""


def require_onnx():
    """Return the ``onnx`` module, or raise ImportError naming the extra to install."""
    try:
        import onnx
    except ImportError as exc:
        raise ImportError('pydl.onnx needs the onnx package: pip install "pydl[onnx]"') from exc
    return onnx
