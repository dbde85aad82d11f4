"""``ExportContext``: the ONNX graph being built, and the API converters use (see
:mod:`pydl.onnx._export` for the contract)."""

import re

import numpy as np

from . import _export_registry as registry
from ._export_compose import convert_by_calls

__all__ = ["ExportContext"]

_DEFAULT_OUTPUT = re.compile(r"output(_\d+)?")


def _module_label(path, module):
    return f"{path or '<model>'} ({type(module).__name__})"


class ExportContext:
    """The graph being built; see the module docstring for what converters use."""

    def __init__(self, onnx, opset, dtype):
        self._onnx = onnx
        self.opset = opset
        self.dtype = np.dtype(dtype)
        self.path = ""
        self.nodes = []
        self.initializers = []
        self._names = set()
        self._values = {}
        self._by_array = {}    # id(array) -> (array, name): the array is kept alive
        self.output_names = ()   # the caller's names for the graph outputs, if any

    # ------------------------------------------------------------------ names
    def _unique(self, base):
        name, k = base, 1
        while name in self._names or self._is_output_name(name):
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    def _is_output_name(self, name):
        """Names kept for the graph outputs, which are named last."""
        return name in self.output_names or _DEFAULT_OUTPUT.fullmatch(name) is not None

    def fresh(self, hint):
        """A new value name ``<path>/<hint>``, unique in the graph."""
        return self._unique(f"{self.path}/{hint}" if self.path else str(hint))

    def reserve(self, name):
        """Claim an exact name (graph inputs); an error if taken."""
        if name in self._names:
            raise ValueError(f"ONNX value name {name!r} is already used")
        self._names.add(name)
        return name

    # ------------------------------------------------------------ graph parts
    def node(self, op_type, inputs, outputs=None, **attrs):
        """Append an ``op_type`` node; returns its output names."""
        if outputs is None:
            outputs = [self.fresh(op_type)]
        elif isinstance(outputs, int):
            outputs = [self.fresh(op_type) for _ in range(outputs)]
        else:
            outputs = list(outputs)
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self._onnx.helper.make_node(
            op_type, list(inputs), outputs, name=self.fresh(f"{op_type}_node"), **attrs))
        return outputs

    def initializer(self, array, name_hint):
        """A constant tensor holding ``array`` (its own dtype); returns its name."""
        key = id(array)
        if key in self._by_array and self._by_array[key][0] is array:
            return self._by_array[key][1]
        arr = np.ascontiguousarray(array)
        name = self.fresh(name_hint)
        self.initializers.append(self._onnx.numpy_helper.from_array(arr, name))
        self._by_array[key] = (array, name)
        self._values[name] = arr
        return name

    def constant(self, values, name_hint="const", dtype=None):
        """A constant of ``dtype`` (default the model's float dtype)."""
        return self.initializer(np.asarray(values, dtype=dtype or self.dtype), name_hint)

    def tensor_type(self, dtype=None):
        """ONNX element type of a numpy dtype (default the model's)."""
        return self._onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype or self.dtype))

    def int64(self, values, name_hint="shape"):
        """A 1-D int64 constant (shapes, axes, pads)."""
        return self.initializer(np.asarray(values, dtype=np.int64).reshape(-1), name_hint)

    # ---------------------------------------------------------- example values
    def value(self, name):
        """The example array behind value ``name``."""
        try:
            return self._values[name]
        except KeyError:
            raise KeyError(f"no example value for ONNX value {name!r}") from None

    def set_value(self, name, array):
        self._values[name] = array

    def has_value(self, name):
        return name in self._values

    def require_opset(self, opset, what):
        if self.opset < opset:
            raise registry.ExportError(f"{what} needs opset >= {opset}, export was asked for opset "
                              f"{self.opset}")

    # -------------------------------------------------------------- converting
    def convert(self, module, inputs, name=None):
        """Convert ``module`` applied to value names ``inputs``; returns output names."""
        parent = self.path
        if name is not None:
            self.path = f"{parent}.{name}" if parent else str(name)
        try:
            outputs = self._convert_here(module, list(inputs))
        finally:
            self.path = parent
        return outputs

    def _convert_here(self, module, inputs):
        fn = registry._converter_for(type(module))
        try:
            if fn is not None:
                outputs = fn(module, self, inputs)
            else:
                outputs = None
                for fallback in (convert_by_calls, *registry._FALLBACKS):
                    outputs = fallback(module, self, inputs)
                    if outputs is not None:
                        break
                if outputs is None:
                    raise NotImplementedError(
                        f"cannot export {_module_label(self.path, module)}: pydl.onnx has no "
                        f"converter for {type(module).__name__}, and its forward is not a "
                        f"composition of its submodules. Register one with "
                        f"@pydl.onnx.register({type(module).__name__}).")
        except registry.ExportError as exc:
            if getattr(exc, "_labelled", False):
                raise
            err = registry.ExportError(f"cannot export {_module_label(self.path, module)}: {exc}")
            err._labelled = True
            raise err from None
        outputs = list(outputs)
        missing = [o for o in outputs if o not in self._values]
        if missing:
            self._run_forward(module, inputs, outputs)
        return outputs

    def _run_forward(self, module, inputs, outputs):
        out = module(*[self._values[i] for i in inputs])
        out = list(out) if isinstance(out, (tuple, list)) else [out]
        if len(out) != len(outputs):
            raise RuntimeError(f"converter of {type(module).__name__} returned {len(outputs)} "
                               f"outputs, its forward {len(out)}")
        for name, arr in zip(outputs, out):
            self._values.setdefault(name, np.asarray(arr))
