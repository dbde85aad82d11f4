"""Runs of ONNX nodes that are one pydl layer: ``x.view(x.size(0), -1)`` (Shape,
Gather, Unsqueeze, Concat, Reshape) is ``nn.Flatten``; the Erf form of GELU
(Div or Mul by sqrt 2, Erf, Add 1, Mul by x, Mul by 1/2, in either order) is
``nn.GELU``; Reshape, InstanceNormalization, Reshape, Mul, Add is ``nn.GroupNorm``
(``nn.InstanceNorm*d`` with a group per channel).
Taking them as layers keeps a chain a chain (an ``nn.Sequential``
with explicit backward passes) and saves the glue's per-call work.

Shapes are tracked symbolically: a shape value is a list whose items are ints or
``(value_name, axis)`` for "dimension ``axis`` of ``value_name`` at run time".
"""

import math

import numpy as np

from .. import nn
from ..nn.parameter import Parameter

__all__ = ["drop_dead_steps", "flatten_from_reshape", "fuse_gelu", "fuse_group_norm",
           "track_shapes"]


def _items(ctx, name):
    """Symbolic items of a 0-/1-D integer value, or None when not known."""
    if name in ctx.symbolic:
        return ctx.symbolic[name][0]
    value = ctx.static.get(name)
    if value is not None and value.dtype.kind in "iu" and value.ndim <= 1:
        return [int(v) for v in value.reshape(-1)]
    return None


def track_shapes(nodes, ctx):
    """Record the symbolic value of every Shape, Gather, Unsqueeze, Concat and Cast
    output (before conversion, so that a pattern sees the shape arithmetic that comes
    after its first node)."""
    for node in nodes:
        if node.op_type in ("Shape", "Gather", "Unsqueeze", "Concat", "Cast") \
                and node.output and node.output[0]:
            _track(node, ctx)


def _track(node, ctx):
    op, out = node.op_type, node.output[0]
    axes = ctx.attrs(node).get("axes")
    if op == "Unsqueeze" and axes is None and len(node.input) > 1:
        given = ctx.static.get(node.input[1])
        axes = None if given is None else [int(a) for a in given.reshape(-1)]
    if op == "Shape":
        rank = ctx.rank(node.input[0])
        if rank is not None:
            a = ctx.attrs(node)
            dims = list(range(rank))[a.get("start", 0):a.get("end")]
            ctx.symbolic[out] = ([(node.input[0], i) for i in dims], False)
        return
    items = [_items(ctx, n) for n in node.input]
    if op == "Gather" and items[0] is not None and node.input[1] in ctx.static:
        idx = ctx.static[node.input[1]]
        if ctx.attrs(node).get("axis", 0) == 0 and idx.ndim <= 1:
            picked = [items[0][int(i)] for i in idx.reshape(-1)]
            ctx.symbolic[out] = (picked, idx.ndim == 0)
    elif op == "Unsqueeze" and items[0] is not None and list(axes or ()) in ([0], [-1]):
        ctx.symbolic[out] = (items[0], False)
    elif op == "Concat" and all(i is not None for i in items):
        ctx.symbolic[out] = ([x for i in items for x in i], False)
    elif op == "Cast" and items[0] is not None and node.input[0] in ctx.symbolic:
        ctx.symbolic[out] = ctx.symbolic[node.input[0]]


def flatten_from_reshape(node, ctx):
    """Reshape(x, [x.dim 0, ..., x.dim k-1, -1]) as ``nn.Flatten(k)``; True if done."""
    data, items = node.input[0], _items(ctx, node.input[1])
    rank = ctx.rank(data)
    if items is None or rank is None or len(items) < 2 or items[-1] != -1:
        return False
    k = len(items) - 1
    lead_ok = all(item == (data, i) for i, item in enumerate(items[:-1]))
    if not lead_ok or k >= rank:
        return False
    ctx.emit("call", [data], node.output[:1], module=nn.Flatten(k, -1), node=node)
    return True


def _per_channel(ctx, name, rank):
    """A constant of shape (C, 1, ..., 1) (broadcasting over (N, C, *spatial)), flat."""
    value = ctx.static.get(name)
    if value is None or value.dtype.kind != "f" or ctx.tied(name) or value.ndim != rank - 1 \
            or value.size != value.shape[0]:
        return None
    return value.reshape(-1)


def _same_shape(ctx, items, x):
    """Whether the symbolic shape ``items`` is x's shape (as Reshape reads 0: copied)."""
    rank, shape = ctx.rank(x), ctx.shape(x)
    if items is None or rank is None or len(items) != rank:
        return False
    return all(item == (x, i) or (item == 0 and i == 0) or
               (shape is not None and shape[i] is not None and item == shape[i])
               for i, item in enumerate(items))


def fuse_group_norm(node, ctx):
    """Reshape(x, [0, G, -1]), InstanceNormalization with unit scale and zero bias,
    Reshape back to x's shape, then Mul by a per-channel weight and Add a per-channel
    bias (how PyTorch and pydl export GroupNorm) as ``nn.GroupNorm``; True if done."""
    x, target = node.input[0], _items(ctx, node.input[1])
    if target is None or len(target) != 3 or target[0] not in (0, (x, 0)) \
            or not isinstance(target[1], int) or target[1] < 1 or target[2] != -1:
        return False
    groups, rank = target[1], ctx.rank(x)
    inorm = ctx.only_consumer(node.output[0])
    if not inorm or inorm.op_type != "InstanceNormalization":
        return False
    scale, shift = (ctx.static.get(ctx.input(inorm, i)) for i in (1, 2))
    if scale is None or shift is None or scale.size != groups or (scale != 1).any() \
            or shift.any():
        return False
    back = ctx.only_consumer(inorm.output[0])
    if not back or back.op_type != "Reshape" or not _same_shape(ctx, _items(ctx, back.input[1]),
                                                                   x):
        return False
    fused, y, affine = [inorm, back], back.output[0], []
    for op in ("Mul", "Add"):
        nxt = ctx.only_consumer(y)
        value = nxt is not None and nxt.op_type == op and _per_channel(ctx, _other(nxt, y),
                                                                         rank)
        if value is None or value is False:
            break
        affine.append(value)
        fused.append(nxt)
        y = nxt.output[0]
    shape = ctx.shape(x)
    channels = affine[0].size if affine else (shape[1] if shape else None)
    if not channels or channels % groups or any(a.size != channels for a in affine):
        return False
    eps = ctx.attrs(inorm).get("epsilon", 1e-5)
    if groups == channels and rank - 2 in (1, 2, 3):    # one group per channel
        layer = getattr(nn, f"InstanceNorm{rank - 2}d")(channels, eps=eps, affine=bool(affine),
                                                        bias=len(affine) == 2)
    else:
        layer = nn.GroupNorm(groups, channels, eps=eps, affine=bool(affine),
                             bias=len(affine) == 2)
    for attr, value in zip(("weight", "bias"), affine):
        ctx.set_weight(layer, attr, Parameter(np.array(value)))
    ctx.fuse(*fused)
    ctx.emit("call", [x], [y], module=layer, node=node)
    return True


def _scalar(ctx, name):
    value = ctx.static.get(name)
    if value is None or value.size != 1 or value.dtype.kind != "f" or ctx.tied(name):
        return None
    return float(value.reshape(-1)[0])


def _other(node, name):
    return node.input[1] if node.input[0] == name else node.input[0]


def _near(value, want):
    return value is not None and abs(value - want) <= 1e-6 * abs(want)


def fuse_gelu(node, ctx):
    """The exact GELU spelled with Erf, starting at its Div (or Mul) node, as
    ``nn.GELU()``; True if done."""
    if node.op_type == "Div":
        x, ok = node.input[0], _near(_scalar(ctx, node.input[1]), math.sqrt(2.0))
    elif node.op_type == "Mul":
        x = next((n for n in node.input if _scalar(ctx, n) is None), None)
        ok = x is not None and _near(_scalar(ctx, _other(node, x)), math.sqrt(0.5))
    else:
        return False
    if not ok:
        return False
    erf = ctx.only_consumer(node.output[0])
    add = erf and erf.op_type == "Erf" and ctx.only_consumer(erf.output[0])
    if not add or add.op_type != "Add" or not _near(_scalar(ctx, _other(add, erf.output[0])),
                                                    1.0):
        return False
    m1 = ctx.only_consumer(add.output[0])
    m2 = m1 and m1.op_type == "Mul" and ctx.only_consumer(m1.output[0])
    if not m2 or m2.op_type != "Mul":
        return False
    first, second = _other(m1, add.output[0]), _other(m2, m1.output[0])
    if not ((first == x and _near(_scalar(ctx, second), 0.5)) or
            (second == x and _near(_scalar(ctx, first), 0.5))):
        return False
    ctx.fuse(erf, add, m1, m2)
    ctx.emit("call", [x], m2.output[:1], module=nn.GELU(), node=node)
    return True


def drop_dead_steps(steps, outputs):
    """The steps whose results something reads (a fused pattern leaves its shape
    arithmetic unread)."""
    needed = set(outputs)
    kept = []
    for step in reversed(steps):
        if any(o in needed for o in step.outputs if o):
            kept.append(step)
            needed.update(n for n in step.inputs if n)
    return kept[::-1]

