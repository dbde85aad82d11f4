"""Benchmark setup: one thread count for pydl, BLAS, NumPy and PyTorch alike.

Run (from the repository root):

    OMP_NUM_THREADS=2 python -m pytest bench/ --benchmark-json=bench/results.json
    python bench/report.py bench/results.json > BENCHMARKS.md

Each group has up to three members, distinguished by the ``impl`` parameter: ``pydl``,
``numpy`` (the pydl.reference twin) and ``torch`` (when PyTorch is installed).
"""

import platform
import time

import pytest

import pydl

try:
    import torch
except ImportError:  # the torch member is skipped
    torch = None

IMPLS = ["pydl", "numpy", "torch"]


def pytest_configure(config):
    config.addinivalue_line("markers", "layers: the layer-shape suite of issue 13 "
                            "(bench/test_bench_layers_*.py; select with -m layers or -k layers)")
    n = pydl.get_num_threads()
    if torch is not None:
        torch.set_num_threads(n)


def pytest_benchmark_update_machine_info(config, machine_info):
    cfg = pydl.show_config(print_out=False)
    machine_info["pydl"] = {k: cfg[k] for k in ("version", "openmp", "num_threads",
                                                  "physical_cores", "cpu")}
    machine_info["pydl"]["blas"] = [f"{b['internal_api']} {b['version']} "
                                    f"({b['threading_layer']}, {b['architecture']})"
                                    for b in cfg["blas"]]
    machine_info["torch"] = None if torch is None else {
        "version": torch.__version__, "num_threads": torch.get_num_threads()}
    machine_info["platform"] = platform.platform()


@pytest.fixture(autouse=True)
def _quiet_start():
    """Let the thread pools of the previous benchmark go idle (OpenBLAS's threads spin
    ~0.1 s after a call, OpenMP's a few ms) so that they do not steal cores from this one."""
    time.sleep(0.3)
    yield


@pytest.fixture(params=IMPLS)
def impl(request):
    if request.param == "torch" and torch is None:
        pytest.skip("PyTorch is not installed")
    return request.param


def setup_bench(benchmark, group, impl, flops=None):
    """Name the group and record what report.py needs."""
    benchmark.group = group
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["threads"] = pydl.get_num_threads()
    if flops is not None:
        benchmark.extra_info["flops"] = flops
