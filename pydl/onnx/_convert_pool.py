"""ONNX converters of max/avg/adaptive pooling 1-3-D and Upsample.

pydl's pooling windows and divisors are PyTorch's (ceil_mode drops a window that
would start in the right padding); where ONNX's attributes say otherwise the
converters spell pydl's rule with explicit pads and constant maps, computed from the
example's (static) spatial sizes.
"""

import numpy as np

from .. import nn
from ..functional.interpolate import _nearest_source, _plan
from ..functional.pool import _avg_windows, _out_size, _pool_args
from ._convert_conv import _spatial_op
from ._export import ExportError, register

_MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
_AVG_POOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_ADAPTIVE_AVG = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
_ADAPTIVE_MAX = (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)


def _pool_pads(ctx, x, module, k, s, p, d):
    """ONNX pads and pydl's output sizes. With ceil_mode pydl (as PyTorch) drops a last
    window that would start in the right padding, which ONNX's ceil_mode (and its
    shape inference) does not: spell it as floor mode with the end padding that gives
    exactly pydl's output size (padded elements never win a max and are not counted
    in the average below)."""
    nd = len(k)
    spatial = ctx.value(x).shape[-nd:]
    outs = [_out_size(spatial[i], k[i], s[i], p[i], d[i], module.ceil_mode, i)
            for i in range(nd)]
    if not module.ceil_mode:
        return list(p) * 2, outs
    end = [max(0, (outs[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 - spatial[i] - p[i])
           for i in range(nd)]
    return list(p) + end, outs


def _max_pool_node(ctx, x, k, pads, **attrs):
    """MaxPool with ``pads``. onnxruntime refuses a pad as wide as the kernel, which
    the ceil_mode end padding of a dilated kernel can be: then x is padded with -inf
    first. (Without dilation the end padding stays below the kernel size.)"""
    nd = len(k)
    if all(pads[i] < k[i] and pads[nd + i] < k[i] for i in range(nd)):
        return ctx.node("MaxPool", [x], pads=pads, **attrs)[0]
    (padded,) = ctx.node("Pad", [x, ctx.int64([0, 0, *pads[:nd], 0, 0, *pads[nd:]], "pads"),
                                 ctx.constant(-np.inf, "minus_inf")])
    return ctx.node("MaxPool", [padded], pads=[0] * 2 * nd, **attrs)[0]


@register(*_MAX_POOLS)
def _max_pool(module, ctx, inputs):
    if module.return_indices:
        raise ExportError("return_indices=True is not supported (pydl's indices are "
                          "per-plane positions; ONNX MaxPool's are not)")
    k, s, p, d = _pool_args(module.nd, module.kernel_size, module.stride, module.padding,
                            module.dilation)
    pads, _ = _pool_pads(ctx, inputs[0], module, k, s, p, d)
    return _spatial_op(ctx, inputs[0], module.nd, lambda x: _max_pool_node(
        ctx, x, k, pads, kernel_shape=list(k), strides=list(s), dilations=list(d)))


def _avg_correction(spatial, outs, k, s, p, include, divisor_override):
    """(in-bounds count) / (pydl's divisor) per output position, shape (1, 1, *outs):
    what turns ONNX's AveragePool over in-bounds elements into pydl's average."""
    inb = div = np.ones((), np.float64)
    for i, size in enumerate(spatial):
        lo, hi, divisor = _avg_windows(size, outs[i], k[i], s[i], p[i], include)
        inb = np.multiply.outer(inb, hi - lo)
        div = np.multiply.outer(div, divisor)
    if divisor_override:
        div = np.full_like(div, divisor_override)
    return (inb / div)[None, None]


@register(*_AVG_POOLS)
def _avg_pool(module, ctx, inputs):
    nd = module.nd
    k, s, p, d = _pool_args(nd, module.kernel_size, module.stride, module.padding)
    pads, outs = _pool_pads(ctx, inputs[0], module, k, s, p, d)
    attrs = {"kernel_shape": list(k), "strides": list(s), "pads": pads}
    if not module.ceil_mode and not module.divisor_override:
        return _spatial_op(ctx, inputs[0], nd, lambda x: ctx.node(
            "AveragePool", [x], count_include_pad=int(module.count_include_pad),
            **attrs)[0])
    # windows that overhang the padding (ceil_mode), or a fixed divisor: pydl divides
    # as PyTorch does, which AveragePool does not spell; average the in-bounds
    # elements, then rescale by a constant map (the spatial sizes are static)
    scale = _avg_correction(ctx.value(inputs[0]).shape[-nd:], outs, k, s, p,
                            module.count_include_pad, module.divisor_override)

    def emit(x):
        (y,) = ctx.node("AveragePool", [x], count_include_pad=0, **attrs)
        if np.all(scale == 1):
            return y
        return ctx.node("Mul", [y, ctx.constant(scale, "divisor_scale")])[0]
    return _spatial_op(ctx, inputs[0], nd, emit)


def _adaptive(module, ctx, inputs, op):
    """Adaptive pooling where each output size divides the input's (a plain pool with
    kernel = stride = in / out) or is a multiple of it (each window is one element:
    nearest upsampling by out / in)."""
    nd = module.nd
    x = inputs[0]
    spatial = ctx.value(x).shape[-nd:]
    wanted = module.output_size
    wanted = (wanted,) * nd if not isinstance(wanted, (tuple, list)) else tuple(wanted)
    if len(wanted) != nd:
        raise ExportError(f"output_size {module.output_size!r} does not have {nd} entries")
    outs = [size if o is None else int(o) for size, o in zip(spatial, wanted)]
    if all(o == 1 for o in outs):
        return _spatial_op(ctx, x, nd, lambda v: ctx.node(f"Global{op}", [v])[0])
    if any(size % o and o % size for size, o in zip(spatial, outs)):
        raise ExportError(
            f"output size {tuple(outs)} neither divides nor is a multiple of the input's "
            f"spatial size {tuple(spatial)} on every axis; ONNX has no adaptive pooling, "
            f"so only those export")
    kernel = [max(size // o, 1) for size, o in zip(spatial, outs)]
    repeat = [max(o // size, 1) for size, o in zip(spatial, outs)]

    def emit(v):
        if any(k > 1 for k in kernel):
            (v,) = ctx.node(op, [v], kernel_shape=kernel, strides=kernel)
        if any(r > 1 for r in repeat):
            scales = ctx.constant([1.0, 1.0, *repeat], "scales", dtype=np.float32)
            (v,) = ctx.node("Resize", [v, "", scales], mode="nearest",
                            coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        return v
    if all(k == 1 for k in kernel) and all(r == 1 for r in repeat):
        return list(inputs)
    return _spatial_op(ctx, x, nd, emit)


@register(*_ADAPTIVE_AVG)
def _adaptive_avg(module, ctx, inputs):
    return _adaptive(module, ctx, inputs, "AveragePool")


@register(*_ADAPTIVE_MAX)
def _adaptive_max(module, ctx, inputs):
    if module.return_indices:
        raise ExportError("return_indices=True is not supported")
    return _adaptive(module, ctx, inputs, "MaxPool")


# --------------------------------------------------------------------- resizing
_NEAREST = {"nearest": ("asymmetric", "floor"), "nearest-exact": ("half_pixel",
                                                                   "round_prefer_ceil")}


def _nearest_tables(module, nd, spatial, outs, factors):
    """pydl's source index of every output position, per spatial axis."""
    exact = module.mode == "nearest-exact"
    return [np.asarray(_nearest_source(spatial[i], outs[i], factors[i], exact,
                                       nd == 2 and not exact)) for i in range(nd)]


def _integer_repeat(tables, spatial, outs, exact):
    """The integer upsampling factors when every axis's table is the exact one for an
    integer factor (``dst // r``, or ``(dst + 1/2) // r``), which every reading of
    Resize's coordinates agrees on; else None."""
    ratios = []
    for table, size, out in zip(tables, spatial, outs):
        if out % size:
            return None
        r = out // size
        dst = np.arange(out)
        if not np.array_equal(table, (2 * dst + 1) // (2 * r) if exact else dst // r):
            return None
        ratios.append(r)
    return ratios


def _resize_by_sizes(ctx, x, outs, attrs):
    """Resize to fixed spatial sizes, the batch and channel sizes taken at run time."""
    (head,) = ctx.node("Slice", [ctx.node("Shape", [x])[0], ctx.int64([0], "starts"),
                                 ctx.int64([2], "ends")])
    (sizes,) = ctx.node("Concat", [head, ctx.int64(outs, "sizes")], axis=0)
    return ctx.node("Resize", [x, "", "", sizes], **attrs)


@register(nn.Upsample)
def _upsample(module, ctx, inputs):
    (x,) = inputs
    shape = ctx.value(x).shape
    nd, outs, factors, align = _plan(shape, module.size, module.scale_factor, module.mode,
                                     module.align_corners, module.recompute_scale_factor)
    spatial = shape[2:]
    if module.mode == "area":      # adaptive average pooling to the output size
        area = nn.AdaptiveAvgPool1d if nd == 1 else nn.AdaptiveAvgPool2d if nd == 2 \
            else nn.AdaptiveAvgPool3d
        return _adaptive(area(tuple(outs)), ctx, inputs, "AveragePool")
    if module.mode in _NEAREST:
        tables = _nearest_tables(module, nd, spatial, outs, factors)
        ratios = _integer_repeat(tables, spatial, outs, module.mode == "nearest-exact")
        if ratios is not None:
            transform, rounding = _NEAREST[module.mode]
            scales = ctx.constant([1.0, 1.0, *ratios], "scales", dtype=np.float32)
            return ctx.node("Resize", [x, "", scales], mode="nearest",
                            coordinate_transformation_mode=transform, nearest_mode=rounding)
        # a fractional factor: pydl's (PyTorch's) float32 source positions, which
        # runtimes' Resize does not reproduce everywhere, gathered as they are
        for i, table in enumerate(tables):
            (x,) = ctx.node("Gather", [x, ctx.int64(table, "source_index")], axis=2 + i)
        return [x]
    # pydl (as PyTorch) maps dst -> scale (dst + 0.5) - 0.5, clamped at 0, also for an
    # output of size 1: half_pixel, not pytorch_half_pixel (which maps that to 0)
    attrs = {"mode": "linear",
             "coordinate_transformation_mode": "align_corners" if align else "half_pixel"}
    if all(f is not None for f in factors):    # the coordinates use the given factors,
        # except on an axis the factor leaves at its size: pydl copies it
        scales = [1.0 if out == size else f for f, out, size in zip(factors, outs, spatial)]
        return ctx.node("Resize", [x, "", ctx.constant([1.0, 1.0, *scales], "scales",
                                                       dtype=np.float32)], **attrs)
    return _resize_by_sizes(ctx, x, outs, attrs)
