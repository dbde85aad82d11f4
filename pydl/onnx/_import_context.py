"""What a node converter sees while :func:`pydl.onnx.load` walks a graph.

A converter (registered per ONNX op type with :func:`converter`) reads the node's
attributes and constant inputs from the :class:`ImportContext` and emits steps.
Steps whose inputs are all known when the file is loaded (shape arithmetic on
constants) are run at once and their outputs become constants: constant folding.
"""

import re

import numpy as np

from ..nn.parameter import Parameter
from ._import_graph import RUNTIME, OnnxGraph, Step, registrar

__all__ = ["CONVERTERS", "ImportContext", "Unsupported", "converter"]

# op type -> convert(node, ctx)
CONVERTERS = {}
converter = registrar(CONVERTERS)


class Unsupported(Exception):
    """A node that names a supported op but uses it in a way pydl cannot compute."""


def _float32(value):
    """An ONNX float attribute (stored as float32) as the shortest decimal that rounds
    to it: epsilon 1e-05, not 9.999999747378752e-06, as the exporting model had it."""
    return float(str(np.float32(value)))


def _attr_value(attr, onnx):
    value = onnx.helper.get_attribute_value(attr)
    if attr.type == onnx.AttributeProto.FLOAT:
        return _float32(value)
    if attr.type == onnx.AttributeProto.FLOATS:
        return [_float32(v) for v in value]
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode() for v in value]
    if isinstance(value, onnx.TensorProto):
        return onnx.numpy_helper.to_array(value)
    return value


class ImportContext:
    """State of one import: values known at load time, the steps and submodules made
    so far, the parameters made from initializers."""

    def __init__(self, onnx, graph, opset, shapes):
        self.onnx, self.opset, self._shapes = onnx, opset, shapes
        self.initializers = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
        self.static = {}          # value name -> ndarray known at load
        self.steps = []
        self.modules = {}         # submodule name -> Module
        self.params = {}          # submodule-less parameters: attribute -> Parameter
        self.param_values = {}    # value name -> attribute in params
        # names a submodule or parameter may not take (the graph module's own)
        self._names = set(dir(OnnxGraph)) | {"input_specs", "input_names", "output_names",
                                             "steps", "doc"}
        self._shared = {}         # initializer name -> Parameter made from it as is
        self._aliases = {}        # Identity of an initializer -> that initializer
        self.fused = set()        # output names of nodes another converter took over
        self.symbolic = {}        # shape value -> (items, is_scalar), see _import_patterns
        self.consumers = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.graph_outputs = {o.name for o in graph.output}
        # Every initializer is a constant, but those a layer takes as its weight are
        # trainable Parameters, also where another node reads them (tied weights).
        self.static.update(self.initializers)
        self.layer_weights = _layer_weights(graph)

    # ----------------------------------------------------------------- reading
    def attrs(self, node):
        return {a.name: _attr_value(a, self.onnx) for a in node.attribute}

    @staticmethod
    def input(node, i):
        """Name of input ``i``, or "" when absent."""
        return node.input[i] if len(node.input) > i else ""

    def const(self, node, i, what=None):
        """Input ``i`` as an ndarray known at load (None when absent), or Unsupported."""
        name = self.input(node, i)
        if name == "":
            return None
        if name in self.static:
            return self.static[name]
        if name in self.initializers:
            return self.initializers[name]
        raise Unsupported(f"its input {i} ({what or name!r}) is computed at run time; "
                          f"pydl needs it to be a constant (an initializer or a Constant)")

    def initializer(self, node, i):
        """Input ``i`` when it is a float array known at load (an initializer, or one
        folded from initializers: a weight), else None."""
        name = self.input(node, i)
        value = self.static.get(name) if name else None
        return value if value is not None and value.dtype.kind == "f" else None

    def rank(self, name):
        """The number of dimensions of a value when shape inference found it, else None."""
        shape = self._shapes.get(name)
        return None if shape is None else len(shape)

    def shape(self, name):
        """A value's shape from shape inference (None for unknown dimensions), or None."""
        return self._shapes.get(name)

    def fuse(self, *nodes):
        """Mark nodes as taken over by the converter of an earlier node."""
        self.fused.update(tuple(n.output) for n in nodes)

    def is_fused(self, node):
        return tuple(node.output) in self.fused

    def only_consumer(self, name):
        """The one node that reads ``name`` when exactly one does and it is not a graph
        output, else None."""
        users = self.consumers.get(name, [])
        if len(users) == 1 and name not in self.graph_outputs:
            return users[0]
        return None

    # ---------------------------------------------------------------- writing
    def unique(self, base):
        base = re.sub(r"\W+", "_", base).strip("_") or "node"
        name, k = base, 1
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    def module_name(self, node, weight=None):
        """A submodule name: PyTorch's module path when the weight kept its name
        (``fc.weight`` -> ``fc``), else the node's name."""
        for name in (weight, self._aliases.get(weight)):
            if name and re.fullmatch(r"[A-Za-z_][\w.]*\.(weight|bias)", name):
                return self.unique(name.rsplit(".", 1)[0].replace(".", "_"))
        return self.unique(node.name or f"{node.op_type}_{len(self.steps)}")

    def alias(self, name, initializer):
        """``name`` is the initializer ``initializer`` under another name (an Identity)."""
        initializer = self._aliases.get(initializer, initializer)
        self._aliases[name] = initializer
        self.initializers[name] = self.static[name] = self.initializers[initializer]

    def parameter(self, name):
        """The trainable Parameter of initializer ``name``: one per name, so two layers
        that read the same initializer share it. A second name given by an Identity is
        a Parameter of its own: PyTorch's exporter stores initializers of equal value
        once (a fresh LayerNorm's weight and another's), which are not tied weights."""
        p = self._shared.get(name)
        if p is None:
            value = self.initializers.get(name)
            if value is None:                # a Constant node's value
                value = self.static[name]
            if value.dtype not in (np.float32, np.float64):     # float16 and the like
                value = value.astype(np.float32)
            p = self._shared[name] = Parameter(np.array(value, copy=True))
        return p

    @staticmethod
    def set_weight(layer, attr, value):
        """``layer.attr = value`` (a Parameter, or an array for a buffer) after checking
        that the file's array has the shape the layer expects."""
        old = getattr(layer, attr)
        if old is not None and tuple(value.shape) != tuple(old.shape):
            raise Unsupported(f"{type(layer).__name__}.{attr} would need shape "
                              f"{tuple(old.shape)}, the file's array has {tuple(value.shape)}")
        setattr(layer, attr, value)

    def tied(self, name):
        """Whether the value ``name`` is the weight of some layer (a Parameter)."""
        return bool(name) and self._aliases.get(name, name) in self.layer_weights \
            and self.initializers[name].dtype.kind == "f"

    def emit(self, op, inputs, outputs, attrs=None, module=None, node=None, weight=None):
        """Append a step (with ``module`` registered as a submodule named after the
        node or its ``weight``); run it now when every input is known at load and it
        has no module (constant folding). A layer's weight read as data here is that
        layer's Parameter, so the gradient reaches it through both uses."""
        inputs = list(inputs)
        name = None
        if module is not None:
            name = self.module_name(node, weight) if node is not None else self.unique(op)
            self.modules[name] = module
        step = Step(op, inputs, outputs, attrs, name, node.name if node is not None else "")
        if module is None and all(n == "" or (n in self.static and not self.tied(n))
                                  for n in inputs):
            values = [None if n == "" else self.static[n] for n in inputs]
            for out, v in zip(outputs, _run_static(step, values)):
                if out:
                    self.static[out] = np.asarray(v)
            return step
        for n in inputs:
            if self.tied(n) and n not in self.param_values:
                attr = self.unique(n)
                self.params[attr] = self.parameter(n)
                self.param_values[n] = attr
        self.steps.append(step)
        return step


# The inputs each layer op takes as weights (ONNX input positions).
_WEIGHT_INPUTS = {"Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (1, 2), "MatMul": (1,),
                  "BatchNormalization": (1, 2), "LayerNormalization": (1, 2),
                  "InstanceNormalization": (1, 2),
                  "LSTM": (1, 2, 3), "GRU": (1, 2, 3), "RNN": (1, 2, 3), "Gather": (0,),
                  "PRelu": (1,)}


def _layer_weights(graph):
    """Names of the initializers that layers take as weights (through Identity too)."""
    inits = {t.name for t in graph.initializer}
    source = {}
    for node in graph.node:
        if node.op_type == "Identity" and node.input and node.input[0] in inits:
            source[node.output[0]] = node.input[0]
    found = set()
    for node in graph.node:
        for i in _WEIGHT_INPUTS.get(node.op_type, ()):
            if i < len(node.input):
                name = source.get(node.input[i], node.input[i])
                if name in inits:
                    found.add(name)
    return found


def _run_static(step, values):
    out = RUNTIME[step.op](None, step.attrs, *values)
    return out if len(step.outputs) > 1 else (out,)

