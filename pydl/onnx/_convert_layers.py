"""ONNX converters of the layers with weights or windows."""
