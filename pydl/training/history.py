"""History: what :func:`pydl.fit` returns (Keras's ``History``), with learning-curve plots."""

from .. import _plotting
from ..distributed.state import is_main_process
from .callbacks import Callback

__all__ = ["History"]


class History(Callback):
    """Per-epoch logs of one :func:`pydl.fit` run.

    Attributes
    ----------
    history : dict of lists
        ``{"loss": [...], "accuracy": [...], "val_loss": [...], "lr": [...], ...}``, one
        entry per epoch run.
    epoch : list of int
        The (0-based) epoch numbers recorded.
    samples_per_second : list of float
        Training throughput of each epoch (validation excluded).
    params : dict
        The run's parameters (epochs, steps, batch_size, ...).
    """

    def __init__(self):
        self.history = {}
        self.epoch = []
        self.samples_per_second = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self):
        keys = ", ".join(self.history)
        return f"History(epochs={len(self.epoch)}, keys=[{keys}])"

    def plot(self, path, metrics=None, title=None, dpi=100):
        """Write learning curves to a PNG: one panel for the loss and one per metric,
        each with its training and validation curve.

        Parameters
        ----------
        path : str or os.PathLike
        metrics : list of str, optional
            Log keys to plot (without ``val_``); default the loss and every metric.
        title : str, optional
        dpi : int

        Returns
        -------
        str or None
            The path written; None on the ranks other than 0 of data-parallel
            training, which draw nothing (rank 0 alone writes the file).

        Raises
        ------
        ImportError
            If matplotlib is not installed.
        """
        try:
            from matplotlib.ticker import MaxNLocator
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install matplotlib") from None
        if not self.epoch:
            raise ValueError("the history is empty: nothing was trained")
        if not is_main_process():
            return None
        if metrics is None:
            metrics = [k for k in self.history if not k.startswith("val_") and k != "lr"]
        else:
            metrics = list(metrics)
            for key in metrics:
                if key not in self.history:
                    raise ValueError(f"{key!r} is not in the history "
                                     f"(keys: {sorted(self.history)})")
        fig = _plotting.new_figure(5 * len(metrics), 3.8, "History.plot")
        epochs = [e + 1 for e in self.epoch]
        for i, key in enumerate(metrics):
            ax = fig.add_subplot(1, len(metrics), i + 1)
            ax.plot(epochs, self.history[key], marker="o", markersize=3, label="train")
            if f"val_{key}" in self.history:
                ax.plot(epochs, self.history[f"val_{key}"], marker="o", markersize=3,
                        label="validation")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(key)
            ax.grid(True, alpha=0.3)
            ax.legend()
        return _plotting.save(fig, path, dpi, title)
