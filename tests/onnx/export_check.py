"""The check every exported module passes: ``onnx.checker`` (full) and onnxruntime
(CPUExecutionProvider) equal to pydl's eval-mode forward at two batch sizes.

Shared by the export tests (``check_export(model, [x_small, x_large])``).
"""

import io

import numpy as np

import pydl
from pydl.onnx import export

# float32: ONNX Runtime's kernels sum in other orders (and use its own exp/tanh)
TOL = {np.dtype(np.float32): (2e-4, 2e-5), np.dtype(np.float64): (1e-9, 1e-11)}


def pydl_forward(model, inputs):
    """The model's eval-mode output(s) as a list, the model's training flags kept."""
    with pydl.nn.module.eval_in_this_thread(), pydl.no_grad():
        out = model(*inputs)
    return [np.asarray(o) for o in (out if isinstance(out, tuple) else (out,))]


def session(proto_or_bytes, threads=1):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    data = proto_or_bytes if isinstance(proto_or_bytes, bytes) else \
        proto_or_bytes.SerializeToString()
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def check_export(model, batches, opset=17, rtol=None, atol=None, **kwargs):
    """Export ``model`` with ``batches[0]`` as the example; check the model fully; run
    every entry of ``batches`` (an array or a tuple of arrays each) in onnxruntime and
    compare with pydl. Returns the ModelProto."""
    import onnx
    batches = [b if isinstance(b, tuple) else (b,) for b in batches]
    buf = io.BytesIO()
    proto = export(model, batches[0] if len(batches[0]) > 1 else batches[0][0], buf,
                   opset=opset, **kwargs)
    onnx.checker.check_model(proto, full_check=True)
    assert onnx.load_from_string(buf.getvalue()) == proto
    sess = session(buf.getvalue())
    names = [i.name for i in sess.get_inputs()]
    for inputs in batches:
        want = pydl_forward(model, inputs)
        got = sess.run(None, dict(zip(names, inputs)))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype)
            r, a = TOL[w.dtype]
            scale = max(1.0, float(np.max(np.abs(w)))) if w.size else 1.0
            np.testing.assert_allclose(g, w, rtol=rtol or r, atol=(atol or a) * scale)
    return proto
