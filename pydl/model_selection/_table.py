"""Results as aligned text tables."""

import numpy as np

__all__ = ["format_table"]


def format_table(rows, columns=None):
    """``rows`` (a list of dicts) as an aligned text table; floats to 4 significant
    digits."""
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(v):
        if isinstance(v, (float, np.floating)):
            return f"{v:.4g}"
        return str(v)
    body = [[cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max([len(str(c))] + [len(r[i]) for r in body]) for i, c in enumerate(columns)]
    lines = ["  ".join(str(c).rjust(w) for c, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in body]
    return "\n".join(lines)
