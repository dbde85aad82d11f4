"""Turn pytest-benchmark JSON into the tables of BENCHMARKS.md.

Usage::

    OMP_NUM_THREADS=2 python -m pytest bench/ --benchmark-json=bench/results-2t.json
    python bench/report.py bench/results-2t.json [more.json ...] > BENCHMARKS.md

Each JSON file (one run, one thread count) becomes a section: for every group the
median time of each member, pydl's speed-up over each peer (peer time / pydl time:
above 1 means pydl is faster) and GFLOP/s where the benchmark records a FLOP count.
All ratios compare members of the same run. Runs that record ``extra_info["suite"]``
(the layer-shape suite, bench/test_bench_layers_*.py) get a second table: each suite's
geometric-mean speed-up over PyTorch and its worst row.
"""

import argparse
import json
import math
import sys
from collections import defaultdict

PEERS = ("numpy", "torch")


def _fmt_time(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def _load(path):
    with open(path) as f:
        return json.load(f)


def section(data, path):
    """Markdown for one benchmark run."""
    info = data.get("machine_info", {})
    pydl_info = info.get("pydl", {})
    torch_info = info.get("torch") or {}
    groups = defaultdict(dict)
    for b in data["benchmarks"]:
        impl = b["extra_info"].get("impl", b["param"])
        groups[b["group"]][impl] = b
    threads = pydl_info.get("num_threads", "?")
    lines = [
        f"### {threads} thread(s): {pydl_info.get('cpu', info.get('cpu', {}).get('brand_raw', '?'))}",
        "",
        f"- pydl {pydl_info.get('version', '?')}, OpenMP {'on' if pydl_info.get('openmp') else 'off'},"
        f" {threads} threads; BLAS: {', '.join(pydl_info.get('blas', [])) or '?'}",
        f"- PyTorch {torch_info.get('version', 'not installed')}"
        + (f", {torch_info.get('num_threads')} threads" if torch_info else ""),
        f"- {info.get('python_implementation', 'Python')} {info.get('python_version', '')},"
        f" {info.get('platform', '')}; run {data.get('datetime', '?')[:19]}; file `{path}`",
        "",
        "| group | pydl | NumPy reference | PyTorch | pydl vs NumPy | pydl vs PyTorch | pydl GFLOP/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for group in sorted(groups):
        members = groups[group]
        med = {k: v["stats"]["median"] for k, v in members.items()}
        ours = med.get("pydl")
        cells = [group]
        for impl in ("pydl", *PEERS):
            cells.append(_fmt_time(med[impl]) if impl in med else "–")
        for peer in PEERS:
            if ours and peer in med:
                cells.append(f"{med[peer] / ours:.2f}x")
            else:
                cells.append("–")
        flops = members.get("pydl", {}).get("extra_info", {}).get("flops") if ours else None
        cells.append(f"{flops / ours / 1e9:.1f}" if flops else "–")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.extend(suite_summary(groups))
    return "\n".join(lines)


def suite_summary(groups):
    """Lines of the per-suite table (issue 13's layer-shape suite): for every
    ``extra_info["suite"]``, the geometric mean over its groups of pydl's speed-up over
    PyTorch (PyTorch time / pydl time) and the group where it is lowest. Empty when no
    benchmark of the run records a suite."""
    ratios = defaultdict(list)
    for group, members in groups.items():
        suite = next((m["extra_info"]["suite"] for m in members.values()
                      if "suite" in m.get("extra_info", {})), None)
        if suite is None or "pydl" not in members or "torch" not in members:
            continue
        ratios[suite].append((members["torch"]["stats"]["median"]
                              / members["pydl"]["stats"]["median"], group))
    if not ratios:
        return []
    lines = ["| suite | rows | pydl vs PyTorch, geometric mean | worst row | worst ratio |",
             "|---|---:|---:|---|---:|"]
    for suite in sorted(ratios):
        rows = ratios[suite]
        geo = math.exp(sum(math.log(r) for r, _ in rows) / len(rows))
        worst, group = min(rows)
        lines.append(f"| {suite} | {len(rows)} | {geo:.2f}x | {group} | {worst:.2f}x |")
    lines.append("")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="+", help="pytest-benchmark --benchmark-json files")
    parser.add_argument("--title", default="Benchmarks")
    args = parser.parse_args(argv)
    out = [f"# {args.title}", "",
           "Median times; ratios are peer time / pydl time from the same run (above 1: "
           "pydl is faster). Produced by `bench/report.py`; see README for the commands.", ""]
    for path in args.json:
        out.append(section(_load(path), path))
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
