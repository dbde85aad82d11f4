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
from ._export_context import ExportContext
from ._export_registry import (
    ExportError,
    _converter_for,  # noqa: F401 (the tracer's, from here)
    register,
    register_fallback,
)
from ._require import require_onnx

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "ExportContext", "ExportError", "export",
           "register", "register_fallback"]

MIN_OPSET = 13           # per-axis Softmax, Unsqueeze/Squeeze/Pad/Clip inputs
DEFAULT_OPSET = 17       # LayerNormalization
_PROTOBUF_LIMIT = 2**31 - 2**26    # weights past this go to external data (2 GiB limit)
_BUILTIN = ("_convert_containers", "_convert_dense", "_convert_conv", "_convert_pool",
            "_convert_norms", "_convert_activations", "_convert_attention")
_EXTENSIONS = ("_export_rnn", "_export_trace")


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


def _check_names(names, what, count, default):
    """Graph input/output names: ``count`` unique non-empty strings (any count when
    None); None gives the defaults."""
    if names is None:
        return [default] if count == 1 else [f"{default}_{i}" for i in range(count)]
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise TypeError(f"{what} must be a list or tuple of str, got {type(names).__name__}")
    names = list(names)
    if not all(isinstance(n, str) and n for n in names):
        raise TypeError(f"{what} must hold non-empty strings, got {names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} must be unique, got {names!r}")
    if count is not None and len(names) != count:
        raise ValueError(f"{what} has {len(names)} name(s) for {count} example input(s)")
    return names


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
def export(model, example_input, path, opset=DEFAULT_OPSET, dynamic_batch=True, *,
           input_names=None, output_names=None):
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
        Where to write the ``.onnx`` model (written beside and renamed over, so a
        reader never sees half of it). Weights past protobuf's 2 GiB message limit
        go to ``<path>.data`` beside it (ONNX external data; a path is needed then).
    opset : int
        ONNX opset, ``MIN_OPSET`` (13) up to what the installed onnx knows; default 17
        (the first with LayerNormalization). The IR version is the lowest that opset
        needs, so older onnxruntime builds load the file too.
    dynamic_batch : bool
        Make dim 0 of every input and output symbolic (``"batch"``), so the file runs
        at any batch size; False keeps the example's sizes.

    input_names, output_names : sequence of str, optional
        Names of the graph's inputs and outputs (as ``torch.onnx.export``'s), one per
        example input and per model output; default ``input`` (or ``input_0``,
        ``input_1``, ...) and ``output`` (or ``output_0``, ...).

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
        The model written.

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

    names = _check_names(input_names, "input_names", len(arrays), "input")
    if output_names is not None:
        output_names = _check_names(output_names, "output_names", None, "output")
        clash = set(names) & set(output_names)
        if clash:
            raise ValueError(f"input_names and output_names share {sorted(clash)}")
    _load_extensions()

    ctx = ExportContext(onnx, opset, _model_dtype(model, arrays))
    ctx.output_names = tuple(output_names or ())
    for name, x in zip(names, arrays):
        ctx.reserve(name)
        ctx.set_value(name, x)
    ctx.dynamic_batch = dynamic_batch
    ctx.batch_fixed = False
    with eval_in_this_thread(), no_grad():
        outputs = ctx.convert(model, names)
    if ctx.batch_fixed:
        # a traced part holds the example's batch size: a symbolic batch dim would let
        # onnxruntime run other sizes and silently give wrong values
        dynamic_batch = False
    if output_names is not None and len(output_names) != len(outputs):
        raise ValueError(f"output_names has {len(output_names)} name(s), the model returns "
                         f"{len(outputs)} output(s)")
    graph_outputs = _name_outputs(ctx, outputs, output_names)
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
    weights = sum(t.ByteSize() for t in proto.graph.initializer)
    if weights > _PROTOBUF_LIMIT:
        # past protobuf's 2 GiB a model cannot be one message: the weights go to a
        # side file (ONNX external data), which needs a path to sit beside
        if not isinstance(path, str):
            raise ValueError(f"the model's weights take {weights / 2**30:.2f} GiB, more "
                             f"than one ONNX message holds (2 GiB): give a file path, and "
                             f"the weights are written beside it as ONNX external data")
        _infer_output_shapes(onnx, None, ctx, dynamic_batch, proto.graph.output)
        _save_with_external_data(onnx, proto, path)
        return proto
    _infer_output_shapes(onnx, proto, ctx, dynamic_batch, proto.graph.output)
    data = proto.SerializeToString()
    if isinstance(path, str):
        _write_atomically(path, data)
    else:
        path.write(data)
    return proto


def _save_with_external_data(onnx, proto, path):
    """The graph to ``path``, tensors over 1 KiB to ``<path>.data`` beside it."""
    location = os.path.basename(path) + ".data"
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        onnx.save_model(proto, tmp, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=location, size_threshold=1024)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


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


def _name_outputs(ctx, outputs, output_names):
    """Give the graph outputs their names (``output``/``output_i`` by default, names
    internal values never take): rename the value where a node made it, else (an
    input passed through, an output twice) an Identity."""
    finals = list(output_names) if output_names is not None else \
        ["output"] if len(outputs) == 1 else [f"output_{i}" for i in range(len(outputs))]
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


def _infer_output_shapes(onnx, proto, ctx, dynamic_batch, outputs):
    """Declare the outputs' shapes as ONNX infers them (dim 0 symbolic when it follows
    the batch); where inference finds none (or is not run: ``proto`` None), the
    example's with dim 0 symbolic."""
    if not dynamic_batch:
        return
    by_name = {}
    if proto is not None:
        by_name = {v.name: v for v in onnx.shape_inference.infer_shapes(proto).graph.output}
    for out in outputs:
        got = by_name.get(out.name)
        if got is not None and got.type.tensor_type.HasField("shape"):
            out.type.CopyFrom(got.type)
        else:
            out.CopyFrom(_value_info(onnx, out.name, ctx.value(out.name), True))
