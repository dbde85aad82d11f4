"""``pydl.onnx.load``: an ONNX model as a pydl Module that computes it and trains.

The graph is walked in topological order. A node with a pydl layer (Conv, Gemm,
MatMul + Add, BatchNormalization, LSTM, ...) becomes that layer, its initializers
its Parameters; the glue becomes small steps over tensor ops; shape arithmetic on
constants folds at load time, and shape arithmetic on the input (the dynamic batch
of ``x.view(x.size(0), -1)``) runs on NumPy at each call. A graph that is a chain
of layers comes back as an ``nn.Sequential`` (explicit backward, the fastest path);
any other graph as an :class:`~pydl.onnx._import_graph.OnnxGraph`, trained through
the tape.
"""

import os

from .. import nn

# the converter modules register themselves
from . import _import_activations, _import_layers, _import_ops, _import_rnn  # noqa: F401
from ._import_context import CONVERTERS, ImportContext, Unsupported
from ._import_graph import OnnxGraph
from ._import_patterns import drop_dead_steps, track_shapes
from ._require import require_onnx

__all__ = ["load"]

_DEFAULT_DOMAINS = ("", "ai.onnx")


def _read(model, onnx):
    """The ModelProto of a path, binary file object, bytes or ModelProto; errors name
    what was wrong."""
    if isinstance(model, onnx.ModelProto):
        return model
    if hasattr(model, "read") and not isinstance(model, (str, os.PathLike)):
        model = model.read()                    # a binary file object
        if not isinstance(model, (bytes, bytearray)):
            raise TypeError(f"the file object must be opened in binary mode ('rb'); its "
                            f"read() returned {type(model).__name__}")
    if isinstance(model, (bytes, bytearray)):
        try:
            return onnx.load_model_from_string(bytes(model))
        except Exception as exc:  # noqa: BLE001  (protobuf and onnx raise many types)
            raise ValueError(f"the bytes given are not an ONNX model: {exc}") from None
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no ONNX file at {path!r}")
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path!r} is a directory, not an ONNX file")
        try:
            return onnx.load(path)
        except Exception as exc:  # noqa: BLE001  (protobuf and onnx raise many types)
            raise ValueError(f"{path!r} is not a readable ONNX model: {exc}") from None
    raise TypeError(f"model must be a path (str or os.PathLike), a binary file object, "
                    f"bytes or an onnx.ModelProto, got {type(model).__name__}")


def _opset(model):
    for entry in model.opset_import:
        if entry.domain in _DEFAULT_DOMAINS:
            return entry.version
    return 1


def _shapes(model, onnx):
    """Value name -> shape (an int per known dimension, None per unknown one), from
    ONNX shape inference (empty where it fails)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001  (inference is optional: ranks stay unknown)
        inferred = model
    g = inferred.graph
    shapes = {}
    for v in [*g.input, *g.value_info, *g.output]:
        t = v.type.tensor_type
        if t.HasField("shape"):
            shapes[v.name] = tuple(d.dim_value if d.HasField("dim_value") else None
                                   for d in t.shape.dim)
    return shapes


def _topological(graph):
    """The nodes in an order where each runs after the nodes that feed it."""
    produced = {o: i for i, n in enumerate(graph.node) for o in n.output if o}
    known = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    order, placed, visiting = [], set(), set()
    for start in range(len(graph.node)):
        stack = [(start, False)]
        while stack:
            i, expanded = stack.pop()
            if i in placed:
                continue
            if expanded:
                visiting.discard(i)
                placed.add(i)
                order.append(graph.node[i])
                continue
            if i in visiting:
                raise ValueError(f"the ONNX graph has a cycle through node "
                                 f"{graph.node[i].name or graph.node[i].op_type!r}")
            visiting.add(i)
            stack.append((i, True))
            for name in graph.node[i].input:
                if not name or name in known:
                    continue
                if name not in produced:
                    raise ValueError(f"node {graph.node[i].name or graph.node[i].op_type!r} "
                                     f"reads {name!r}, which no node, input or initializer "
                                     f"provides")
                if produced[name] not in placed:
                    stack.append((produced[name], False))
    return order


def _unsupported_ops(graph):
    """Every op type in the graph (subgraphs included) that pydl cannot import."""
    missing = set()
    for node in graph.node:
        if node.domain not in _DEFAULT_DOMAINS:
            missing.add(f"{node.domain}::{node.op_type}")
        elif node.op_type not in CONVERTERS:
            missing.add(node.op_type)
    return sorted(missing)


def _input_specs(graph, initializers):
    specs = []
    for v in graph.input:
        if v.name in initializers:        # older exporters list weights as inputs too
            continue
        t = v.type.tensor_type
        dims = None
        if t.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        specs.append((v.name, dims))
    return specs


def _as_sequential(ctx, specs, outputs):
    """The steps as an nn.Sequential when they are a chain of layers with explicit
    backward passes from the one input to the one output, else None."""
    if len(specs) != 1 or len(outputs) != 1 or not ctx.steps or ctx.params:
        return None
    current = specs[0][0]
    for step in ctx.steps:
        if step.op != "call" or step.inputs != (current,) or len(step.outputs) != 1:
            return None
        if not ctx.modules[step.module]._explicit():
            return None
        current = step.outputs[0]
    if current != outputs[0]:
        return None
    uses = [n for step in ctx.steps for n in step.inputs]
    if len(uses) != len(set(uses)):
        return None
    return nn.Sequential(*(ctx.modules[step.module] for step in ctx.steps))


def load(model):
    """Load an ONNX model as a pydl Module that computes the same function.

    Parameters
    ----------
    model : str, os.PathLike, binary file object, bytes or onnx.ModelProto
        The ``.onnx`` file (or its contents, or the loaded proto).

    Returns
    -------
    Module
        In evaluation mode (as exported). A chain of layers is an ``nn.Sequential``;
        any other graph an ``OnnxGraph`` whose ``forward(*inputs)`` takes the graph's
        inputs in order and returns its output as a ``pydl.Tensor`` (a tuple for
        several; ``.data`` or ``np.asarray`` gives the array). Every layer's
        weights are ``Parameter``s in ``model.parameters()``: the model trains with
        ``pydl.fit`` or an optimizer; ``model.train()`` turns dropout and batch
        statistics on.

    Raises
    ------
    TypeError
        ``model`` is not a path, binary file object, bytes or ModelProto.
    FileNotFoundError
        No file at the path.
    ValueError
        The file is not an ONNX model, the graph is malformed, or it uses ops (or
        attributes of ops) pydl cannot compute: one error lists all of them.

    Notes
    -----
    Imported: Conv and ConvTranspose (1-3-D), Gemm, MatMul, pooling (Max, Average,
    Global*), BatchNormalization, InstanceNormalization, LayerNormalization, LRN,
    Dropout, Resize, LSTM, GRU (``linear_before_reset=1``), RNN, Gather (Embedding on
    a weight), the activations, elementwise arithmetic, reductions, and the shape ops
    PyTorch emits (Shape, Gather, Unsqueeze, Concat, Reshape, Slice, Expand, ...). Runs
    of nodes that spell a pydl layer load as that layer: ``x.view(x.size(0), -1)`` as
    Flatten, the Erf form of GELU as GELU, PyTorch's GroupNorm as GroupNorm.

    The initializers a layer takes as weights become its Parameters (one Parameter
    where two nodes read the same weight); other initializers (an exporter's
    constants) stay constants of the graph, as do Constant nodes.

    Examples
    --------
    A model exported by PyTorch, fine-tuned in pydl::

        torch.onnx.export(net, (x,), "net.onnx", dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}})
        model = pydl.onnx.load("net.onnx")       # eval mode, as exported
        y = model(x_numpy)                       # same outputs as net(x)
        pydl.fit(model, x_train, y_train, loss=pydl.nn.CrossEntropyLoss(),
                 optimizer=pydl.optim.Adam(model.parameters()), epochs=3)
    """
    onnx = require_onnx()
    proto = _read(model, onnx)
    graph = proto.graph
    missing = _unsupported_ops(graph)
    if missing:
        raise ValueError(f"the ONNX model uses {len(missing)} op type(s) pydl cannot "
                         f"import: {', '.join(missing)}")
    # Constants first (they read nothing): a pattern seen from its first node then
    # finds the constants of its later nodes known
    nodes = sorted(_topological(graph), key=lambda n: n.op_type != "Constant")
    ctx = ImportContext(onnx, graph, _opset(proto), _shapes(proto, onnx))
    problems = []
    first = sum(n.op_type == "Constant" for n in nodes)
    for i, node in enumerate(nodes):
        if i == first:
            track_shapes(nodes[first:], ctx)
        if ctx.is_fused(node):
            continue
        try:
            CONVERTERS[node.op_type](node, ctx)
        except Unsupported as exc:
            problems.append(f"{node.op_type} node {node.name or node.output[0]!r}: {exc}")
        except (ValueError, TypeError) as exc:
            problems.append(f"{node.op_type} node {node.name or node.output[0]!r}: "
                            f"invalid for pydl: {exc}")
    if problems:
        raise ValueError("the ONNX model uses ops in ways pydl cannot import:\n  "
                         + "\n  ".join(problems))
    specs = _input_specs(graph, ctx.initializers)
    outputs = [o.name for o in graph.output]
    ctx.steps = drop_dead_steps(ctx.steps, outputs)
    read = {n for step in ctx.steps for n in step.inputs} | set(outputs)
    used = {step.module for step in ctx.steps}
    ctx.modules = {k: m for k, m in ctx.modules.items() if k in used}
    ctx.param_values = {k: a for k, a in ctx.param_values.items() if k in read}
    ctx.params = {a: ctx.params[a] for a in ctx.param_values.values()}
    result = _as_sequential(ctx, specs, outputs)
    if result is None:
        constants = {k: v for k, v in ctx.static.items() if k in read}
        result = OnnxGraph(specs, outputs, ctx.steps, constants, ctx.param_values,
                           doc=graph.doc_string)
        for name, module in ctx.modules.items():
            setattr(result, name, module)
        for name, param in ctx.params.items():
            setattr(result, name, param)
    return result.eval()
