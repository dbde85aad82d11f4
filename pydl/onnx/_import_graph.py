"""The module an imported ONNX graph becomes: a list of steps run in order.

Each step is one ONNX node (or a fused run of them): a runtime function, picked by
name from :data:`RUNTIME`, applied to the values it reads from the environment of
named values. Layers with weights are submodules (``Conv2d``, ``Linear``, ``LSTM``);
the glue between them (shape arithmetic, reshapes, joins, elementwise ops) runs on
``pydl.Tensor`` ops, so the tape differentiates any DAG and ``model.parameters()``
holds every trainable initializer. Integer shape values stay NumPy arrays, computed
anew for each input, so a dynamic batch needs nothing special.
"""

import numpy as np

from ..autograd.tensor import _FLOATS, Tensor
from ..functional._alloc import check_fits_in_memory
from ..nn.module import Module

__all__ = ["RUNTIME", "OnnxGraph", "Step", "as_float_like", "registrar", "runtime"]

# name -> run(module, attrs, *values) -> value or tuple of values
RUNTIME = {}


def registrar(table):
    """A decorator factory: ``@deco("a", "b")`` puts the function in ``table`` under
    each name."""
    def by_names(*names):
        def register(fn):
            for name in names:
                table[name] = fn
            return fn
        return register
    return by_names


# Register a runtime function by name (module-level functions, so models pickle).
runtime = registrar(RUNTIME)


class Step:
    """One node of the imported graph: ``outputs = RUNTIME[op](module, attrs, *inputs)``.

    ``inputs``/``outputs`` are ONNX value names ("" for an absent optional input);
    ``module`` names a submodule of the graph, or is None.
    """

    __slots__ = ("attrs", "inputs", "module", "op", "outputs", "source")

    def __init__(self, op, inputs, outputs, attrs=None, module=None, source=""):
        self.op, self.inputs, self.outputs = op, tuple(inputs), tuple(outputs)
        self.attrs, self.module, self.source = dict(attrs or {}), module, source

    def run(self, graph, values):
        module = None if self.module is None else graph._modules[self.module]
        out = RUNTIME[self.op](module, self.attrs, *values)
        return out if len(self.outputs) > 1 else (out,)

    def __repr__(self):
        mod = f", module={self.module!r}" if self.module else ""
        return f"Step({self.op!r}, {list(self.inputs)} -> {list(self.outputs)}{mod})"


def as_float_like(value, like):
    """A NumPy float constant in the float dtype of the tensor ``like`` (a model moved
    to float64 keeps its float32 constants valid)."""
    if (isinstance(value, np.ndarray) and value.dtype.kind == "f" and isinstance(like, Tensor)
            and like.dtype in _FLOATS and value.dtype != like.dtype):
        return value.astype(like.dtype)
    return value


def _describe_shape(dims):
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


class OnnxGraph(Module):
    """A pydl module computing an ONNX graph (made by :func:`pydl.onnx.load`).

    ``forward(*inputs)`` takes the graph's inputs in their ONNX order (arrays or
    ``pydl.Tensor``) and returns its output, or a tuple when the graph has several.
    Called with arrays or tensors it runs on the tape (``loss.backward()`` reaches
    every parameter); ``pydl.fit``, ``evaluate`` and ``predict`` train and run it.

    Attributes
    ----------
    input_names, output_names : tuple of str
        The graph's value names.
    steps : list of Step
        The nodes, in the order they run.
    """

    def __init__(self, input_specs, output_names, steps, constants, param_values, doc=""):
        super().__init__()
        # input_specs: (name, dims) with an int per fixed dimension, None per free one
        self.input_specs = tuple((n, None if d is None else tuple(d)) for n, d in input_specs)
        self.input_names = tuple(n for n, _ in self.input_specs)
        self.output_names = tuple(output_names)
        self.steps = list(steps)
        self._constants = dict(constants)       # value name -> ndarray, known at load
        self._param_values = dict(param_values)  # value name -> parameter attribute
        self.doc = doc

    def _check_input(self, name, dims, value):
        data = value.data if isinstance(value, Tensor) else value
        # a huge broadcast view would be copied by the first pad or reshape
        check_fits_in_memory(getattr(data, "nbytes", 0), f"input {name!r}")
        if dims is None:
            return
        shape = np.shape(data)
        ok = len(shape) == len(dims) and all(d is None or d == s for d, s in zip(dims, shape))
        if not ok:
            want = _describe_shape(["?" if d is None else d for d in dims])
            raise ValueError(f"input {name!r} of the ONNX graph has shape {want} ('?' is "
                             f"free), got an array of shape {tuple(shape)}")

    def forward(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise TypeError(f"the ONNX graph takes {len(self.input_names)} input(s) "
                            f"{list(self.input_names)}, got {len(inputs)}")
        env = dict(self._constants)
        for value, attr in self._param_values.items():
            env[value] = self._parameters[attr]
        for (name, dims), x in zip(self.input_specs, inputs):
            self._check_input(name, dims, x)
            env[name] = x
        for step in self.steps:
            values = [None if n == "" else env[n] for n in step.inputs]
            try:
                results = step.run(self, values)
            except (ValueError, TypeError) as exc:
                exc.add_note(f"(in the step for ONNX node {step.source or step.op!r} of "
                             f"the imported graph)")
                raise
            for name, v in zip(step.outputs, results):
                if name:
                    env[name] = v
        outs = tuple(env[n] if isinstance(env[n], Tensor) else Tensor(env[n])
                     for n in self.output_names)
        return outs[0] if len(outs) == 1 else outs

    def extra_repr(self):
        return f"inputs={list(self.input_names)}, outputs={list(self.output_names)}, " \
               f"steps={len(self.steps)}"
