"""Per-family test registrations, collected from ``tests/cases_<family>.py`` modules.

A kernel family registers, in its own ``tests/cases_<family>.py`` (so that families
never edit a shared file):

``DETERMINISM_CASES``: ``{name: run}`` with ``run(seed, zero)`` returning either a list
    ``[forward_output, grad, grad, ...]`` or a dict ``{"out": [...], "grad": [...]}``
    (several forward outputs). ``zero=True`` means a zero upstream gradient.
``LEAK_STEPS``: ``{family: factory}``; ``factory()`` builds a model and data and returns
    ``step()``, one forward and backward pass.
``FUZZ_CALLS``: ``{name: factory}``; ``factory(rng)`` returns ``(fn, args, kwargs)``,
    one small valid float32 call of a public functional op or module, which the fuzz
    test then breaks one argument at a time.
"""

import importlib
import pkgutil
from pathlib import Path


def collect(attribute):
    """Merge ``attribute`` (a dict) from every ``tests/cases_*.py`` module."""
    merged = {}
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if not info.name.startswith("cases_"):
            continue
        module = importlib.import_module(f"tests.{info.name}")
        for key, value in getattr(module, attribute, {}).items():
            if key in merged:
                raise RuntimeError(f"{attribute}: {key!r} is registered twice "
                                   f"(again in {info.name})")
            merged[key] = value
    return merged


def split_case_result(result):
    """Return ``(everything, grads)`` of a determinism case's result."""
    if isinstance(result, dict):
        return list(result["out"]) + list(result["grad"]), list(result["grad"])
    result = list(result)
    return result, result[1:]
