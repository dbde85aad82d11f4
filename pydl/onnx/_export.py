"""ONNX export: ``export(model, example_input, path)`` and the converter registry.

How a model becomes a graph
---------------------------
``export`` walks the module tree from the top. Each module is handed to the
*converter* registered for its class, which appends ONNX nodes and returns the names
of the values it produced::

    @register(nn.ReLU)
    def _relu(module, ctx, inputs):          # inputs: list of ONNX value names
        return ctx.node("Relu", inputs)      # -> list of output value names

A converter registered for a class also serves its subclasses that inherit that
class's ``forward`` unchanged (``ReLU6`` takes ``Hardtanh``'s, ``LeNet5`` is a
``Sequential``); a subclass that overrides ``forward`` needs its own converter.

Alongside the graph, ``export`` runs the model (eval mode, no grad) on the example
input, so every value name also has its example array: a converter reads shapes and
ranks with ``ctx.value(name)`` (static sizes everywhere but the batch axis, which
``dynamic_batch`` makes symbolic: never bake dim 0 into a shape constant; use 0 in a
``Reshape`` shape to copy it). After a converter returns, any output without an
example array gets one by calling the module's forward on its inputs' arrays; a
converter that must not run the forward (it would mutate state) sets
``ctx.set_value(name, array)`` itself.

The context (``ExportContext``), what a converter may use
---------------------------------------------------------
``ctx.node(op_type, inputs, outputs=None, **attrs) -> list[str]``
    Append a node. ``outputs`` is None (one fresh output), an int (that many fresh
    outputs) or a list of names. ``""`` in ``inputs`` is an omitted optional input.
``ctx.initializer(array, name_hint) -> str``
    A constant tensor, stored with the array's own dtype (parameters are already in
    the model's dtype); the same array object passed twice is stored once.
``ctx.constant(values, name_hint="const", dtype=None) -> str``
    A constant of ``ctx.dtype`` (or ``dtype``); ``ctx.int64(values)`` for shapes/axes.
``ctx.fresh(hint) -> str``
    A new unique value name, prefixed by the module's path in the model.
``ctx.tensor_type(dtype=None) -> int``
    The ONNX element type (``TensorProto.FLOAT``, ...) of ``dtype`` (default
    ``ctx.dtype``), e.g. for ``Cast(to=...)``.
``ctx.convert(module, inputs, name) -> list[str]``
    Convert a child (containers use this; ``name`` extends the path in messages).
``ctx.value(name)``, ``ctx.set_value(name, array)``
    The example array behind a value name.
``ctx.opset``, ``ctx.dtype`` (numpy float dtype of the model), ``ctx.path``
    (dotted path of the module being converted, "" for the root),
    ``ctx.require_opset(n, what)`` (a clear error below opset n).
``ExportError``
    Raise it (a ValueError) for a configuration ONNX cannot express; the message gets
    the module's path and class prepended.

Modules with no converter
-------------------------
A module whose class has no converter is handled by the *fallbacks*, in order:

1. pydl's own: a module whose forward only calls its direct submodules, feeding each
   the model input or earlier submodules' outputs (``ResNet``: ``head(stages(stem(x)))``),
   is recorded call by call on the example input and converted as that graph. Arrays
   are matched by identity and must be unchanged between calls; anything computed
   outside the submodules makes it pass.
2. those added with ``register_fallback(fn)``: ``fn(module, ctx, inputs)`` returns a
   list of output names, or None to pass.

If none applies, the export fails with a ``NotImplementedError`` naming the class and
its path in the model.

pydl's converters live in ``_convert_containers`` (Sequential, Residual, Concat,
Identity), ``_convert_dense`` (Linear, Flatten, Embedding, GramMatrix, dropout),
``_convert_conv``, ``_convert_pool`` (pooling, Upsample), ``_convert_norms``,
``_convert_activations`` and ``_convert_attention``, imported on the first export.

Extensions in this package
--------------------------
Before converting, ``export`` imports ``pydl.onnx._export_rnn`` and
``pydl.onnx._export_trace`` if they exist (recurrent layers; tracing of tensor-path
models). They register their converters and fallbacks on import with ``register`` and
``register_fallback``; nothing here names their classes.
"""

import importlib
import os
import threading

import numpy as np

from .. import nn
from .._grad_mode import no_grad
from ..autograd.tensor import Tensor
from ..nn.module import eval_in_this_thread
from ._require import require_onnx

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "ExportContext", "ExportError", "export",
           "register", "register_fallback"]

MIN_OPSET = 13           # per-axis Softmax, Unsqueeze/Squeeze/Pad/Clip inputs
DEFAULT_OPSET = 17       # LayerNormalization
_BUILTIN = ("_convert_containers", "_convert_dense", "_convert_conv", "_convert_pool",
            "_convert_norms", "_convert_activations", "_convert_attention")
_EXTENSIONS = ("_export_rnn", "_export_trace")

_CONVERTERS = {}
_FALLBACKS = []


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


def _load_extensions():
    for name in _BUILTIN:
        importlib.import_module(f"{__package__}.{name}")
    for name in _EXTENSIONS:
        full = f"{__package__}.{name}"
        try:
            importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name != full:    # the extension exists but something it needs is missing
                raise


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

    # ------------------------------------------------------------------ names
    def _unique(self, base):
        name, k = base, 1
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

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
            raise ExportError(f"{what} needs opset >= {opset}, export was asked for opset "
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
        fn = _converter_for(type(module))
        try:
            if fn is not None:
                outputs = fn(module, self, inputs)
            else:
                outputs = None
                for fallback in (_convert_by_calls, *_FALLBACKS):
                    outputs = fallback(module, self, inputs)
                    if outputs is not None:
                        break
                if outputs is None:
                    raise NotImplementedError(
                        f"cannot export {_module_label(self.path, module)}: pydl.onnx has no "
                        f"converter for {type(module).__name__}, and its forward is not a "
                        f"composition of its submodules. Register one with "
                        f"@pydl.onnx.register({type(module).__name__}).")
        except ExportError as exc:
            if getattr(exc, "_labelled", False):
                raise
            err = ExportError(f"cannot export {_module_label(self.path, module)}: {exc}")
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


# ------------------------------------------------------------- the first fallback
def _outputs(out):
    return list(out) if isinstance(out, tuple) else [out]


def _snapshot(values):
    return [v.copy() if isinstance(v, np.ndarray) else v for v in values]


def _convert_by_calls(module, ctx, inputs):
    """Convert a module whose forward only chains calls of its direct submodules.

    Runs the forward on the example arrays with each child's forward wrapped to note
    (child, its input arrays, its outputs). Arrays are matched by identity, and their
    values then must not have changed in between (an in-place edit outside the
    submodules), so any arithmetic done outside the submodules leaves an unmatched
    array and the module is not taken (None)."""
    children = list(module.named_children())
    if not children or type(module).forward is nn.Module.forward:
        return None
    calls = []
    me = threading.get_ident()

    def wrap(name, child):
        original = child.forward

        def forward(*args, **kwargs):
            if threading.get_ident() != me:      # another thread using the model
                return original(*args, **kwargs)
            seen = _snapshot(args)
            out = original(*args, **kwargs)
            calls.append((name, child, args, seen, kwargs, out, _snapshot(_outputs(out))))
            return out
        return forward

    wrapped = []
    try:
        for name, child in children:
            if "forward" in child.__dict__:
                return None        # already wrapped (a child shared in two places)
            object.__setattr__(child, "forward", wrap(name, child))
            wrapped.append(child)
        given = {id(ctx.value(i)): ctx.value(i).copy() for i in inputs}
        result = module(*[ctx.value(i) for i in inputs])
    finally:
        for child in wrapped:
            object.__delattr__(child, "forward")

    def known_as(arr, seen, known):
        return isinstance(arr, np.ndarray) and id(arr) in known and \
            np.array_equal(seen, known[id(arr)], equal_nan=arr.dtype.kind == "f")

    known = dict(given)
    for _, _, args, seen, kwargs, out, out_seen in calls:   # decide before any node
        outs = _outputs(out)
        if kwargs or not all(known_as(a, v, known) for a, v in zip(args, seen)) \
                or not all(isinstance(o, np.ndarray) for o in outs):
            return None
        for o, v in zip(outs, out_seen):
            known.setdefault(id(o), v)
    results = _outputs(result)
    if not all(known_as(r, r, known) for r in results):
        return None
    names = {id(ctx.value(i)): i for i in inputs}
    for name, child, args, _, _, out, _ in calls:
        produced = ctx.convert(child, [names[id(a)] for a in args], name)
        for arr, got in zip(_outputs(out), produced):
            names.setdefault(id(arr), got)
    return [names[id(r)] for r in results]


# ------------------------------------------------------------------ arguments
def _check_example(example_input):
    """The example input(s) as a list of ndarrays."""
    items = list(example_input) if isinstance(example_input, tuple) else [example_input]
    if not items:
        raise ValueError("example_input must not be an empty tuple")
    arrays = []
    for i, x in enumerate(items):
        what = "example_input" if len(items) == 1 else f"example_input[{i}]"
        if isinstance(x, Tensor):
            x = x.data
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{what} must be a numpy.ndarray or pydl.Tensor (or a tuple of "
                            f"them), got {type(x).__name__}")
        if x.dtype.kind not in "fiub" or x.dtype == np.float16:
            raise TypeError(f"{what} must have a float32/float64 or integer dtype, got "
                            f"{x.dtype}")
        arrays.append(x if x.flags.c_contiguous else x.copy())   # (ascontiguousarray: 0-d -> 1-d)
    return arrays


def _check_opset(onnx, opset):
    highest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"opset must be an int, got {type(opset).__name__}")
    if not MIN_OPSET <= opset <= highest:
        raise ValueError(f"opset must be in [{MIN_OPSET}, {highest}] (the installed onnx "
                         f"knows up to {highest}), got {opset}")
    return int(opset)


def _check_path(path):
    if hasattr(path, "write") and not isinstance(path, (str, bytes, os.PathLike)):
        return path
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str, os.PathLike or a writable binary file, got "
                        f"{type(path).__name__}")
    path = os.fspath(path)
    if not path or os.path.isdir(path):
        raise ValueError(f"path must name a file, got {path!r}")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"path {path!r}: the directory {parent!r} does not exist")
    return path


def _model_dtype(model, arrays):
    for p in model.parameters():
        return p.data.dtype
    for x in arrays:
        if x.dtype in (np.float32, np.float64):
            return x.dtype
    return np.dtype(np.float32)


def _value_info(onnx, name, array, dynamic_batch):
    """Type and shape of a graph input or output; ``dynamic_batch=None`` leaves the
    shape out (for shape inference to fill in)."""
    dims = None if dynamic_batch is None else list(array.shape)
    if dynamic_batch and dims:
        dims[0] = "batch"
    elem = onnx.helper.np_dtype_to_tensor_dtype(array.dtype)
    return onnx.helper.make_tensor_value_info(name, elem, dims)


# --------------------------------------------------------------------- export
def export(model, example_input, path, opset=DEFAULT_OPSET, dynamic_batch=True):
    """Write ``model`` as an ONNX file that onnxruntime runs.

    Parameters
    ----------
    model : pydl.nn.Module
        Exported as in evaluation mode (dropout off, batch norm on running statistics);
        its ``training`` flags are left as they are.
    example_input : ndarray, pydl.Tensor, or tuple of them
        One forward's input(s), e.g. (N, C, H, W) float32; fixes every size but the
        batch. Integer arrays (Embedding indices) become integer graph inputs.
    path : str, os.PathLike or binary file object
        Where to write the ``.onnx`` model.
    opset : int
        ONNX opset, ``MIN_OPSET`` (13) up to what the installed onnx knows; default 17
        (the first with LayerNormalization). The IR version is the lowest that opset
        needs, so older onnxruntime builds load the file too.
    dynamic_batch : bool
        Make dim 0 of every input and output symbolic (``"batch"``), so the file runs
        at any batch size; False keeps the example's sizes.

    Notes
    -----
    A float64 model gives a float64 graph (valid ONNX); onnxruntime's CPU provider has
    float64 kernels for dense layers, batch/layer norm, max pooling and most
    activations, but not for Conv, ConvTranspose, AveragePool, Resize, LRN,
    InstanceNormalization, Elu, Softplus or Erf (GELU before opset 20): export such
    models in float32 to serve them there.

    Returns
    -------
    onnx.ModelProto
        The model written (inputs ``input`` or ``input_0``, ``input_1``, ...; outputs
        ``output`` or ``output_0``, ...).

    Raises
    ------
    TypeError, ValueError
        A bad argument (named in the message).
    NotImplementedError
        A module with no ONNX equivalent (its class and path in the model named).
    ExportError
        A module setting ONNX cannot express at this opset (a ValueError).
    """
    onnx = require_onnx()
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a pydl.nn.Module, got {type(model).__name__}")
    arrays = _check_example(example_input)
    opset = _check_opset(onnx, opset)
    path = _check_path(path)
    if not isinstance(dynamic_batch, bool):
        raise TypeError(f"dynamic_batch must be a bool, got {type(dynamic_batch).__name__}")
    if dynamic_batch and any(x.ndim == 0 for x in arrays):
        raise ValueError("dynamic_batch=True needs every example input to have a batch "
                         "axis (dim 0); pass dynamic_batch=False for a 0-d input")
    _load_extensions()

    ctx = ExportContext(onnx, opset, _model_dtype(model, arrays))
    names = ["input"] if len(arrays) == 1 else [f"input_{i}" for i in range(len(arrays))]
    for name, x in zip(names, arrays):
        ctx.reserve(name)
        ctx.set_value(name, x)
    with eval_in_this_thread(), no_grad():
        outputs = ctx.convert(model, names)
    graph_outputs = _name_outputs(ctx, outputs, names)
    graph = onnx.helper.make_graph(
        ctx.nodes, type(model).__name__,
        [_value_info(onnx, n, x, dynamic_batch) for n, x in zip(names, arrays)],
        [_value_info(onnx, n, ctx.value(n), None if dynamic_batch else False)
         for n in graph_outputs],
        ctx.initializers)
    opset_id = onnx.helper.make_opsetid("", opset)
    proto = onnx.helper.make_model(
        graph, opset_imports=[opset_id], producer_name="pydl",
        ir_version=onnx.helper.find_min_ir_version_for([opset_id]))
    _infer_output_shapes(onnx, proto, ctx, dynamic_batch)
    data = proto.SerializeToString()
    if isinstance(path, str):
        _write_atomically(path, data)
    else:
        path.write(data)
    return proto


def _write_atomically(path, data):
    """Write beside ``path`` and rename over it: a reader never sees half a model."""
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _name_outputs(ctx, outputs, input_names):
    """Give the graph outputs the names ``output``/``output_i``: rename the value
    where a node made it, else (an input passed through, an output twice) an
    Identity."""
    finals = ["output"] if len(outputs) == 1 else [f"output_{i}" for i in range(len(outputs))]
    produced = {o for node in ctx.nodes for o in node.output}
    seen = set()
    for old, new in zip(outputs, finals):
        ctx.reserve(new)
        if old in produced and old not in seen:
            for node in ctx.nodes:
                for field in (node.input, node.output):
                    for k, v in enumerate(field):
                        if v == old:
                            field[k] = new
            for k, later in enumerate(outputs):
                if later == old:
                    outputs[k] = new
        else:
            ctx.node("Identity", [old], [new])
        ctx.set_value(new, ctx.value(old))
        seen.add(old)
    return finals


def _infer_output_shapes(onnx, proto, ctx, dynamic_batch):
    """Declare the outputs' shapes as ONNX infers them (dim 0 symbolic when it follows
    the batch); where inference finds none, the example's with dim 0 symbolic."""
    if not dynamic_batch:
        return
    inferred = onnx.shape_inference.infer_shapes(proto)
    by_name = {v.name: v for v in inferred.graph.output}
    for out in proto.graph.output:
        got = by_name.get(out.name)
        if got is not None and got.type.tensor_type.HasField("shape"):
            out.type.CopyFrom(got.type)
        else:
            out.CopyFrom(_value_info(onnx, out.name, ctx.value(out.name), True))
