"""Write a type stub (pydl/_ext/<stem>.pyi) for every kernel module csrc/<stem>.pyx.

    python csrc/make_stubs.py           # rewrite the stubs
    python csrc/make_stubs.py --check   # exit 1 if a stub is stale (tests run this)

Each public ``def`` becomes a typed signature: ``floating`` memoryviews become float32
or float64 arrays, other memoryviews arrays of their element type, C scalars Python
scalars; the ``# IN``/``# OUT`` shape comments travel with their parameters. Module
constants (``CHUNK = 8192``) become annotated names. Extension modules carry no
annotations of their own, so without these stubs type checkers see ``Any``.
"""

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = ('"""Type stubs for pydl._ext.{stem} (generated from csrc/{stem}.pyx by '
          'csrc/make_stubs.py)."""\n\n'
          "from typing import Any\n\n"
          "import numpy as np\n"
          "import numpy.typing as npt\n\n"
          "FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]\n")
SCALARS = {"int": "int", "long": "int", "Py_ssize_t": "int", "size_t": "int",
           "int64_t": "int", "int32_t": "int", "uint64_t": "int", "uint32_t": "int",
           "double": "float", "float": "float", "floating": "float", "bint": "bool",
           "object": "Any", "str": "str", "bytes": "bytes", "dict": "dict",
           "list": "list", "tuple": "tuple"}
ELEMENTS = {"float": "np.float32", "double": "np.float64", "int64_t": "np.int64",
            "int32_t": "np.int32", "uint8_t": "np.uint8", "uint32_t": "np.uint32",
            "uint64_t": "np.uint64", "Py_ssize_t": "np.intp", "int": "np.intc",
            "char": "np.int8", "bint": "np.bool_", "unsigned char": "np.uint8"}
DEF = re.compile(r"^(?:cp)?def\s+([A-Za-z]\w*)\s*\(")
CONST = re.compile(r"^([A-Z][A-Z0-9_]*)\s*=\s*(.+)$")
ALIAS = re.compile(r"^((?:[a-z_]\w*\s*=\s*)+)([a-z_]\w*)\s*$")


def _annotation(ctype):
    """Python annotation for a Cython parameter type."""
    ctype = ctype.replace("const ", "").strip()
    view = re.fullmatch(r"(.+?)\s*\[[^\]]*\]", ctype)
    if view:
        element = view.group(1).strip()
        if element == "floating":
            return "FloatArray"
        return f"npt.NDArray[{ELEMENTS.get(element, 'Any')}]"
    return SCALARS.get(ctype, "Any")


def _split_params(text):
    """Split a parameter list at top-level commas, keeping each one's comment."""
    params, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "([" 
        depth -= ch in ")]"
        if ch == "," and depth == 0:
            params.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        params.append(current)
    return [p.strip() for p in params if p.strip()]


def _parse_param(param):
    """(name, annotation, has_default) of 'const floating[:, ::1] x=None'."""
    default = None
    if "=" in param:
        param, default = (s.strip() for s in param.split("=", 1))
    if param in ("*", "/") or param.startswith("*"):
        return param, None, default
    words = param.rsplit(None, 1)
    if len(words) == 1:
        return words[0], "Any", default
    return words[1], _annotation(words[0]), default


def _signature_lines(lines, start):
    """Parameter texts (with their trailing comments) of the def starting at ``start``."""
    params, comments, depth, i = [], [], 0, start
    buf = ""
    while True:
        code, _, comment = lines[i].partition("#")
        segment = code if i > start else code[code.index("(") + 1:]
        if i == start:
            depth = 1
        for ch in segment:
            if depth == 0:
                break
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth -= 1
                if depth == 0:
                    break
            buf += ch
        pieces = _split_params(buf) if depth == 0 or buf.rstrip().endswith(",") else None
        if pieces is not None:
            for p in pieces:
                params.append(p)
                comments.append("")
            if comment.strip() and comments:
                comments[-1] = comment.strip()
            buf = ""
        if depth == 0:
            return params, comments, i
        i += 1


def _returns_value(lines, end):
    """Whether the function body after line ``end`` has a ``return <expr>``."""
    for line in lines[end + 1:]:
        if line.strip() and not line.startswith((" ", "\t")):
            break
        if re.match(r"\s+return\s+\S", line):
            return True
    return False


def stub_for(pyx):
    lines = pyx.read_text().splitlines()
    out = [HEADER.format(stem=pyx.stem)]
    defined = set()
    for i, line in enumerate(lines):
        joined = line
        j = i
        while joined.endswith("\\") and j + 1 < len(lines):
            j += 1
            joined = joined[:-1] + " " + lines[j].strip()
        alias = ALIAS.match(joined)
        if alias and alias.group(2) in defined:  # name = other = kernel: re-exports
            names = [n.strip() for n in alias.group(1).split("=") if n.strip()]
            out.append("")
            out += [f"{n} = {alias.group(2)}" for n in names]
            continue
        const = CONST.match(line)
        if const:
            try:
                value = ast.literal_eval(const.group(2).split("#")[0].strip())
                out.append(f"{const.group(1)}: {type(value).__name__}")
            except (ValueError, SyntaxError):
                out.append(f"{const.group(1)}: Any")
            continue
        match = DEF.match(line)
        if not match:
            continue
        defined.add(match.group(1))
        params, comments, end = _signature_lines(lines, i)
        rendered = []
        for text, comment in zip(params, comments):
            name, annotation, default = _parse_param(text)
            if annotation and annotation.endswith(("Array", "]")) and (
                    default == "None" or "None" in comment):
                annotation += " | None"
            piece = name if annotation is None else f"{name}: {annotation}"
            if default is not None:
                piece += " = ..."
            rendered.append(f"    {piece},{'  # ' + comment if comment else ''}")
        result = "Any" if _returns_value(lines, end) else "None"
        out.append("")
        if rendered:
            out.append(f"def {match.group(1)}(\n" + "\n".join(rendered) + f"\n) -> {result}: ...")
        else:
            out.append(f"def {match.group(1)}() -> {result}: ...")
    return "\n".join(out).rstrip() + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a stub is stale")
    args = parser.parse_args(argv)
    stale = []
    for pyx in sorted((ROOT / "csrc").glob("*.pyx")):
        target = ROOT / "pydl" / "_ext" / f"{pyx.stem}.pyi"
        text = stub_for(pyx)
        if not target.exists() or target.read_text() != text:
            stale.append(target.relative_to(ROOT))
            if not args.check:
                target.write_text(text)
    if args.check and stale:
        print("stale stubs (run python csrc/make_stubs.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
