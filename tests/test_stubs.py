"""Type stubs: one .pyi per extension module, installed beside it, naming exactly the
module's public functions, and (in a source checkout) up to date with csrc/*.pyx."""

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import pydl._ext

EXT_DIR = Path(pydl._ext.__file__).parent
MAKE_STUBS = Path(__file__).resolve().parent.parent / "csrc" / "make_stubs.py"
MODULES = sorted(m.name for m in pkgutil.iter_modules([str(EXT_DIR)]))


def test_there_are_extension_modules():
    assert {"dense", "activation", "loss", "optim"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_stub_names_the_module_functions(name):
    stub = EXT_DIR / f"{name}.pyi"
    assert stub.exists(), f"no type stub installed for pydl._ext.{name}"
    tree = ast.parse(stub.read_text())
    stubbed = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    stubbed |= {t.id for node in tree.body if isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Name) and node.value.id in stubbed
                for t in node.targets}  # aliases: conv2d_forward = conv_forward
    module = importlib.import_module(f"pydl._ext.{name}")
    public = {k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
              and getattr(v, "__module__", None) == module.__name__}
    assert stubbed == public


@pytest.mark.skipif(not MAKE_STUBS.exists(), reason="not a source checkout")
def test_stubs_are_up_to_date():
    result = subprocess.run([sys.executable, str(MAKE_STUBS), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
