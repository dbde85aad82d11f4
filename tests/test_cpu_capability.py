"""Runtime SIMD dispatch (csrc/_vmath.h): PYDL_CPU_CAPABILITY picks the copy of the
dispatched kernels, every copy the CPU can run gives the same results within float32
rounding (the dropout masks bit for bit), and bad values are reported.

The whole kernel suite also runs under each forced copy in CI (.ci/cpu-paths); these
tests check the switch itself and compare the copies with each other in one run.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pydl
from pydl._config import CPU_CAPABILITIES

DISPATCH = pydl.show_config(print_out=False)["cpu_capability"]
needs_dispatch = pytest.mark.skipif(DISPATCH is None,
                                    reason="this build has no runtime SIMD dispatch")


def _run(code, capability):
    env = dict(os.environ)
    env.pop("PYDL_CPU_CAPABILITY", None)
    if capability is not None:
        env["PYDL_CPU_CAPABILITY"] = capability
    env["OMP_NUM_THREADS"] = "2"
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


_REPORT = """
    import json, warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import pydl
    # only this feature's warnings: other libraries may warn at import too
    print(json.dumps({"capability": pydl.show_config(print_out=False)["cpu_capability"],
                      "warnings": [str(w.message) for w in caught
                                   if "PYDL_CPU_CAPABILITY" in str(w.message)]}))
"""


def _report(capability):
    return json.loads(_run(_REPORT, capability).stdout.strip().splitlines()[-1])


def _best():
    """The CPU's best copy: what an unset variable gives."""
    return _report(None)["capability"]


def test_show_config_names_the_copy():
    assert DISPATCH is None or DISPATCH in CPU_CAPABILITIES


@needs_dispatch
def test_default_forces_the_baseline_copy():
    r = _report("default")
    assert r["capability"] == "default"
    assert r["warnings"] == []


@needs_dispatch
def test_a_cap_at_or_above_the_cpu_gives_the_cpus_best():
    best = _best()
    for cap in CPU_CAPABILITIES[CPU_CAPABILITIES.index(best):]:
        r = _report(cap)
        assert r["capability"] == best
        if cap == best:
            assert r["warnings"] == []
        else:  # asked for more than the CPU has: said so
            assert any("does not have it" in w for w in r["warnings"]), r


@needs_dispatch
@pytest.mark.parametrize("value", ["AVX2", "sse", "avx-512"])
def test_unknown_value_warns_and_is_ignored(value):
    r = _report(value)
    assert r["capability"] == _best()
    assert any("PYDL_CPU_CAPABILITY" in w and "not one of" in w for w in r["warnings"]), r


@pytest.mark.parametrize("got", [None, *CPU_CAPABILITIES])
@pytest.mark.parametrize("want", [None, "", "bogus", *CPU_CAPABILITIES])
def test_every_setting_on_every_kind_of_build(got, want):
    """The import-time check for each value on each possible copy, one-copy builds
    (clang, macOS, arm64: got None) included: never an error, a warning exactly when
    the setting is not honoured."""
    import warnings

    from pydl._config import _check_cpu_capability

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _check_cpu_capability(got, want)
    honoured = (not want or (want == "default" and got is None)
                or (want in CPU_CAPABILITIES and got is not None
                    and CPU_CAPABILITIES.index(want) <= CPU_CAPABILITIES.index(got)))
    assert len(caught) == (0 if honoured else 1), [str(w.message) for w in caught]
    assert all(issubclass(w.category, RuntimeWarning) for w in caught)


def test_empty_value_is_unset():
    r = _report("")
    assert r["warnings"] == []


# One call of every family of dispatched kernels (float32, forward and backward where
# there is one): row reductions (softmax cross-entropy, log-softmax), activation spans,
# Winograd F(2x2) and F(4x4) convolutions, the depthwise multiply-add rows, the panel
# GEMM (a 1-row dense layer and an RNN step), the LSTM/GRU/RNN gate rows, batch norm's
# moments and column passes, layer norm rows, group norm spans and the dropout streams.
_KERNELS = """
    import numpy as np, pydl
    from pydl import nn
    rng = np.random.default_rng(0)
    out = {}

    def run(name, module, *shape):
        x = rng.standard_normal(shape).astype(np.float32)
        y = module(x)
        if isinstance(y, tuple):  # recurrent layers: (output, state)
            y = y[0]
        g = rng.standard_normal(y.shape).astype(np.float32)
        out[name] = y
        out[name + ".dx"] = module.backward(g)
        for i, p in enumerate(module.parameters()):
            out[f"{name}.dw{i}"] = p.grad

    pydl.manual_seed(0)
    for act in ("Sigmoid", "Tanh", "SiLU", "ELU"):
        run(act, getattr(nn, act)(), 37, 129)
    run("LogSoftmax", nn.LogSoftmax(dim=1), 37, 129)
    run("conv3x3_16x16", nn.Conv2d(16, 16, 3, padding=1), 4, 16, 16, 16)
    run("conv3x3_32x32", nn.Conv2d(32, 32, 3, padding=1), 2, 32, 32, 32)
    run("conv3x3_s1_nopad", nn.Conv2d(8, 24, 3), 3, 8, 13, 11)
    run("depthwise", nn.Conv2d(24, 24, 3, padding=1, groups=24), 3, 24, 19, 17)
    run("linear_b1", nn.Linear(300, 70), 1, 300)
    run("linear_b5", nn.Linear(64, 33), 5, 64)
    run("bn2d", nn.BatchNorm2d(12), 6, 12, 9, 7)
    run("bn1d", nn.BatchNorm1d(40), 33, 40)
    run("layernorm", nn.LayerNorm(77), 9, 77)
    run("groupnorm", nn.GroupNorm(4, 12), 3, 12, 10, 6)
    run("lstm", nn.LSTM(20, 37, batch_first=True), 3, 9, 20)
    for b in (1, 2, 5):  # the panel GEMM's lone and paired rows, a partial last panel
        run(f"lstm_b{b}", nn.LSTM(12, 17, batch_first=True), b, 4, 12)
    run("gru", nn.GRU(20, 37, batch_first=True), 3, 9, 20)
    run("rnn", nn.RNN(20, 37, batch_first=True), 3, 9, 20)
    logits = rng.standard_normal((41, 10)).astype(np.float32)
    target = rng.integers(0, 10, 41)
    ce = nn.CrossEntropyLoss()
    out["ce"] = np.asarray(ce(logits, target))
    out["ce.dx"] = ce.backward()
    drop = nn.Dropout(0.3)
    drop.train()
    x = rng.standard_normal((5, 1000)).astype(np.float32)
    out["dropout"] = drop(x)
    out["dropout.dx"] = drop.backward(np.ones_like(x))
    np.savez(PATH, **{k: np.asarray(v) for k, v in out.items() if v is not None})
"""


@needs_dispatch
def test_every_copy_gives_the_same_results(tmp_path):
    best = _best()
    copies = CPU_CAPABILITIES[:CPU_CAPABILITIES.index(best) + 1]
    results = {}
    for cap in copies:
        path = tmp_path / f"{cap}.npz"
        _run(f"PATH = {str(path)!r}\n" + textwrap.dedent(_KERNELS), cap)
        with np.load(path) as f:
            results[cap] = dict(f)
    base = results["default"]
    assert len(base) > 50
    for cap in copies[1:]:
        other = results[cap]
        assert other.keys() == base.keys()
        # the variable did switch the code that ran: FMA contraction alone changes
        # the float32 rounding of most of these kernels. Builds below -O2 form no
        # fused multiply-adds, so there every copy computes the same bits: the -O0 and
        # -O1 CI stages (.ci/debug-build, .ci/sanitize) set PYDL_TEST_UNOPTIMIZED.
        differ = [n for n in base if not np.array_equal(base[n], other[n])]
        if not os.environ.get("PYDL_TEST_UNOPTIMIZED"):
            assert len(differ) >= 10, differ
        for name in base:
            a, b = base[name], other[name]
            assert a.shape == b.shape and a.dtype == b.dtype, name
            if name.startswith("dropout"):
                # integer streams: the same masks on every copy
                np.testing.assert_array_equal(a, b, err_msg=f"{name}: {cap} vs default")
            else:
                # FMA contraction and vector widths change float32 rounding only
                scale = max(1.0, float(np.abs(a).max()))
                np.testing.assert_allclose(b, a, rtol=1e-4, atol=2e-5 * scale,
                                           err_msg=f"{name}: {cap} vs default")
