"""The README's first example (the tensor path) runs as written."""

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.skipif(not README.exists(), reason="no README.md beside tests/")
def test_the_readme_siamese_snippet_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    scope = {}
    exec(compile(blocks[0], "README.md", "exec"), scope)
    model = scope["model"]
    assert np.isfinite(scope["loss"].item())
    # every parameter got a gradient (the last bias's is zero: it cancels in e1 - e2)
    assert all(p.grad is not None for p in model.parameters())
    assert all(np.any(p.grad) for n, p in model.named_parameters() if n.endswith("weight"))
