"""The backward rule of every ``pydl.functional`` forward op (see functional_tape).

Each rule gets ``a`` (the call's arguments by name, arrays in place of tensors),
``outs`` (everything the forward returned), ``grads`` (one gradient per
differentiable output) and ``need`` (the names of the arguments that require a
gradient), and returns ``{name: gradient}`` by calling the op's backward twin.
"""

import numpy as np

from .. import functional as F
from .functional_tape import rule

_ND = (1, 2, 3)


# ----------------------------------------------------------------- dense, conv
@rule("linear_forward")
def _linear(a, outs, grads, need):
    bias = a.get("bias")
    gx, gw, gb = F.linear_backward(grads[0], a["x"], a["weight"],
                                   need_input_grad="x" in need,
                                   need_weight_grad="weight" in need,
                                   need_bias_grad=bias is not None and "bias" in need)
    return {"x": gx, "weight": gw, "bias": gb}


def _conv_rule(kind, nd):
    backward = getattr(F, f"{kind}{nd}d_backward")
    transpose = kind == "conv_transpose"

    def conv(a, outs, grads, need):
        geometry = dict(stride=a["stride"], padding=a["padding"], dilation=a["dilation"],
                        groups=a["groups"])
        if transpose:
            geometry["output_padding"] = a["output_padding"]
        bias = a.get("bias")
        gx, gw, gb = backward(grads[0], a["x"], a["weight"], **geometry,
                              need_input_grad="x" in need, need_weight_grad="weight" in need,
                              need_bias_grad=bias is not None and "bias" in need)
        return {"x": gx, "weight": gw, "bias": gb}
    return conv


for _nd in _ND:
    rule(f"conv{_nd}d_forward")(_conv_rule("conv", _nd))
    rule(f"conv_transpose{_nd}d_forward")(_conv_rule("conv_transpose", _nd))


# ---------------------------------------------------------------- activations
def _from_output(backward_name, *hyper):
    backward = getattr(F, backward_name)

    def act(a, outs, grads, need):
        return {"x": backward(grads[0], outs[0], *(a[h] for h in hyper))}
    if not hyper:
        # the gradient is backward(grad, output) alone: functional_tape records a call
        # op(tensor) without binding arguments (relu, sigmoid, tanh in tensor code)
        act.from_output = backward
    return act


def _from_input(backward_name, *hyper):
    backward = getattr(F, backward_name)

    def act(a, outs, grads, need):
        return {"x": backward(grads[0], a["x"], *(a[h] for h in hyper))}
    return act


rule("relu_forward")(_from_output("relu_backward"))
rule("sigmoid_forward")(_from_output("sigmoid_backward"))
rule("tanh_forward")(_from_output("tanh_backward"))
rule("softmax_forward")(_from_output("softmax_backward", "dim"))
rule("log_softmax_forward")(_from_output("log_softmax_backward", "dim"))
rule("leaky_relu_forward")(_from_input("leaky_relu_backward", "negative_slope"))
rule("elu_forward")(_from_input("elu_backward", "alpha"))
rule("silu_forward")(_from_input("silu_backward"))
rule("softplus_forward")(_from_input("softplus_backward", "beta", "threshold"))
rule("hardtanh_forward")(_from_input("hardtanh_backward", "min_val", "max_val"))
rule("gelu_forward")(_from_input("gelu_backward", "approximate"))


@rule("prelu_forward")
def _prelu(a, outs, grads, need):
    gx, gw = F.prelu_backward(grads[0], a["x"], a["weight"], need_input_grad="x" in need,
                              need_weight_grad="weight" in need)
    return {"x": gx, "weight": gw}


# ---------------------------------------------------------------------- losses
# A loss forward returns (loss, grad): the gradient of the loss with respect to its
# first input(s), which the backward twin scales by the loss's upstream gradient.
def _loss_rule(backward_name, inputs):
    backward = getattr(F, backward_name)

    def loss(a, outs, grads, need):
        for name in a:
            if name in need and name not in inputs:
                raise RuntimeError(f"{backward_name[:-9]}: no gradient with respect to "
                                   f"{name!r}; detach it (or pass an array)")
        g = grads[0]
        scaled = backward(outs[1], g if np.ndim(g) else g[()], a["reduction"])
        if len(inputs) == 1:
            return {inputs[0]: scaled}
        return dict(zip(inputs, scaled))
    return loss


for _name, _inputs in [("softmax_cross_entropy", ("logits",)), ("nll_loss", ("input",)),
                       ("binary_cross_entropy", ("input",)),
                       ("binary_cross_entropy_with_logits", ("logits",)),
                       ("kl_div", ("input",)), ("mse_loss", ("input",)),
                       ("l1_loss", ("input",)), ("smooth_l1_loss", ("input",)),
                       ("huber_loss", ("input",)), ("hinge_loss", ("input",)),
                       ("perceptron_loss", ("input",)), ("multi_margin_loss", ("input",)),
                       ("triplet_margin_loss", ("anchor", "positive", "negative")),
                       ("cosine_embedding_loss", ("input1", "input2")),
                       ("sigmoid_focal_loss", ("logits",)),
                       ("softmax_focal_loss", ("logits",)),
                       ("content_loss", ("input",)), ("style_loss", ("input",))]:
    rule(f"{_name}_forward", outputs=(0,))(_loss_rule(f"{_name}_backward", _inputs))


# --------------------------------------------------------------------- pooling
def _max_pool_rule(nd, adaptive):
    backward = getattr(F, f"{'adaptive_' if adaptive else ''}max_pool{nd}d_backward")

    def pool(a, outs, grads, need):
        return {"x": backward(grads[0], outs[1], a["x"].shape)}
    return pool


def _avg_pool_rule(nd):
    backward = getattr(F, f"avg_pool{nd}d_backward")

    def pool(a, outs, grads, need):
        return {"x": backward(grads[0], a["x"].shape, a["kernel_size"], a["stride"],
                              a["padding"], a["ceil_mode"], a["count_include_pad"],
                              a["divisor_override"])}
    return pool


def _adaptive_avg_rule(nd):
    backward = getattr(F, f"adaptive_avg_pool{nd}d_backward")

    def pool(a, outs, grads, need):
        return {"x": backward(grads[0], a["x"].shape)}
    return pool


def _unpool_rule(nd):
    backward = getattr(F, f"max_unpool{nd}d_backward")

    def unpool(a, outs, grads, need):
        return {"x": backward(grads[0], a["indices"])}
    return unpool


for _nd in _ND:
    rule(f"max_pool{_nd}d_forward", outputs=(0,))(_max_pool_rule(_nd, False))
    rule(f"adaptive_max_pool{_nd}d_forward", outputs=(0,))(_max_pool_rule(_nd, True))
    rule(f"avg_pool{_nd}d_forward")(_avg_pool_rule(_nd))
    rule(f"adaptive_avg_pool{_nd}d_forward")(_adaptive_avg_rule(_nd))
    rule(f"max_unpool{_nd}d_forward")(_unpool_rule(_nd))


@rule("interpolate_forward")
def _interpolate(a, outs, grads, need):
    return {"x": F.interpolate_backward(grads[0], a["x"].shape, a["size"], a["scale_factor"],
                                        a["mode"], a["align_corners"],
                                        a["recompute_scale_factor"])}


# ------------------------------------------------------------------ recurrent
def _weights_out(names, grads_w, need):
    return {n: g for n, g in zip(names, grads_w) if n in need}


_W = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _need_w(a, need):
    return any(n in need for n in _W)


def _has_bias(a):
    return a.get("bias_ih") is not None


@rule("rnn_forward", outputs=(0, 1))
def _rnn(a, outs, grads, need):
    gx, gh0, *gw = F.rnn_backward(grads[0], grads[1], a["x"], a["h0"], a["weight_ih"],
                                  a["weight_hh"], outs[0], nonlinearity=a["nonlinearity"],
                                  reverse=a["reverse"], has_bias=_has_bias(a),
                                  need_input_grad="x" in need, need_weight_grad=_need_w(a, need))
    return {"x": gx, "h0": gh0, **_weights_out(_W, gw, need)}


@rule("lstm_forward", outputs=(0, 1, 2))
def _lstm(a, outs, grads, need):
    gx, gh0, gc0, *gw = F.lstm_backward(grads[0], grads[1], grads[2], a["x"], a["h0"],
                                        a["c0"], a["weight_ih"], a["weight_hh"], outs[0],
                                        outs[3], reverse=a["reverse"], has_bias=_has_bias(a),
                                        need_input_grad="x" in need,
                                        need_weight_grad=_need_w(a, need))
    return {"x": gx, "h0": gh0, "c0": gc0, **_weights_out(_W, gw, need)}


@rule("gru_forward", outputs=(0, 1))
def _gru(a, outs, grads, need):
    gx, gh0, *gw = F.gru_backward(grads[0], grads[1], a["x"], a["h0"], a["weight_ih"],
                                  a["weight_hh"], outs[0], outs[2], reverse=a["reverse"],
                                  has_bias=_has_bias(a), need_input_grad="x" in need,
                                  need_weight_grad=_need_w(a, need))
    return {"x": gx, "h0": gh0, **_weights_out(_W, gw, need)}


@rule("rnn_cell_forward")
def _rnn_cell(a, outs, grads, need):
    gx, gh, *gw = F.rnn_cell_backward(grads[0], a["x"], a["hx"], a["weight_ih"],
                                      a["weight_hh"], outs[0], nonlinearity=a["nonlinearity"],
                                      has_bias=_has_bias(a), need_input_grad="x" in need,
                                      need_weight_grad=_need_w(a, need))
    return {"x": gx, "hx": gh, **_weights_out(_W, gw, need)}


@rule("lstm_cell_forward", outputs=(0, 1))
def _lstm_cell(a, outs, grads, need):
    gx, gh, gc, *gw = F.lstm_cell_backward(grads[0], grads[1], a["x"], a["hx"], a["cx"],
                                           a["weight_ih"], a["weight_hh"], outs[2],
                                           has_bias=_has_bias(a), need_input_grad="x" in need,
                                           need_weight_grad=_need_w(a, need))
    return {"x": gx, "hx": gh, "cx": gc, **_weights_out(_W, gw, need)}


@rule("gru_cell_forward", outputs=(0,))
def _gru_cell(a, outs, grads, need):
    gx, gh, *gw = F.gru_cell_backward(grads[0], a["x"], a["hx"], a["weight_ih"],
                                      a["weight_hh"], outs[1], has_bias=_has_bias(a),
                                      need_input_grad="x" in need,
                                      need_weight_grad=_need_w(a, need))
    return {"x": gx, "hx": gh, **_weights_out(_W, gw, need)}


# --------------------------------------------------------------- normalization
@rule("batch_norm_forward", outputs=(0,))
def _batch_norm(a, outs, grads, need):
    for name in ("running_mean", "running_var"):
        if name in need:
            raise RuntimeError(f"batch_norm: no gradient with respect to {name}")
    weight = a.get("weight")
    gx, gw, gb = F.batch_norm_backward(grads[0], a["x"], weight, outs[1], outs[2],
                                       training=a["training"], need_input_grad="x" in need)
    return {"x": gx, "weight": gw, "bias": gb}


@rule("layer_norm_forward", outputs=(0,))
def _layer_norm(a, outs, grads, need):
    bias = a.get("bias")
    gx, gw, gb = F.layer_norm_backward(grads[0], a["x"], a["normalized_shape"], a.get("weight"),
                                       outs[1], outs[2], need_input_grad="x" in need,
                                       need_weight_grad="weight" in need,
                                       need_bias_grad=bias is not None and "bias" in need)
    return {"x": gx, "weight": gw, "bias": gb}


@rule("local_response_norm_forward", outputs=(0,))
def _lrn(a, outs, grads, need):
    return {"x": F.local_response_norm_backward(grads[0], a["x"], outs[0], outs[1], a["size"],
                                                a["alpha"], a["beta"], a["k"])}


def _group_norm_grads(gx, gw, gb):
    return {"x": gx, "weight": gw, "bias": gb}


@rule("gram_matrix_forward")
def _gram_matrix(a, outs, grads, need):
    return {"x": F.gram_matrix_backward(grads[0], a["x"], a["normalize"])}


@rule("group_norm_forward", outputs=(0,))
def _group_norm(a, outs, grads, need):
    return _group_norm_grads(*F.group_norm_backward(
        grads[0], a["x"], a["num_groups"], a.get("weight"), outs[1], outs[2],
        need_input_grad="x" in need, need_weight_grad="weight" in need,
        need_bias_grad=a.get("bias") is not None and "bias" in need))


@rule("instance_norm_forward", outputs=(0,))
def _instance_norm(a, outs, grads, need):
    for name in ("running_mean", "running_var"):
        if name in need:
            raise RuntimeError(f"instance_norm: no gradient with respect to {name}")
    return _group_norm_grads(*F.instance_norm_backward(
        grads[0], a["x"], a.get("weight"), outs[1], outs[2],
        use_input_stats=a["use_input_stats"], need_input_grad="x" in need,
        need_weight_grad="weight" in need,
        need_bias_grad=a.get("bias") is not None and "bias" in need))


@rule("dropout_forward", outputs=(0,))
def _dropout(a, outs, grads, need):
    if outs[1] is None:
        return {"x": grads[0]}
    return {"x": F.dropout_backward(grads[0], outs[1], a["p"])}


@rule("channel_dropout_forward", outputs=(0,))
def _channel_dropout(a, outs, grads, need):
    if outs[1] is None:
        return {"x": grads[0]}
    return {"x": F.channel_dropout_backward(grads[0], outs[1], a["p"])}


# ----------------------------------------------------- embedding and attention
@rule("embedding_forward")
def _embedding(a, outs, grads, need):
    if "indices" in need:
        raise RuntimeError("embedding: indices get no gradient")
    w = a["weight"]
    return {"weight": F.embedding_backward(grads[0], a["indices"], w.shape[0])}


@rule("scaled_dot_product_attention_forward", outputs=(0,))
def _sdpa(a, outs, grads, need):
    gq, gk, gv = F.scaled_dot_product_attention_backward(grads[0], a["query"], a["key"],
                                                         a["value"], outs[1], a["scale"])
    return {"query": gq, "key": gk, "value": gv}


@rule("additive_attention_forward", outputs=(0, 1))
def _additive_attention(a, outs, grads, need):
    gq, gk, gwq, gwk, gv = F.additive_attention_backward(
        grads[0], grads[1], a["query"], a["keys"], a["weight_query"], a["weight_key"], a["v"],
        outs[1], outs[2])
    return {"query": gq, "keys": gk, "weight_query": gwq, "weight_key": gwk, "v": gv}
