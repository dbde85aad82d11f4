"""Matplotlib figures drawn without pyplot (imported only when a plot is asked for):
the learning-curve plots of History, LearningCurve and SearchResult."""

import os

__all__ = ["log_x", "new_figure", "save"]


def new_figure(width, height, what):
    """A Figure on an Agg canvas: no global backend state is touched."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(f"{what} needs matplotlib: pip install matplotlib") from None
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def save(fig, path, dpi, title=None):
    """Write ``fig`` to ``path`` as a PNG; returns the path as a str."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = os.fspath(path)
    fig.savefig(path, dpi=dpi, format="png")
    return path


def log_x(ax):
    """A logarithmic x axis labelled at the decades only (minor labels overlap)."""
    from matplotlib.ticker import NullFormatter
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
