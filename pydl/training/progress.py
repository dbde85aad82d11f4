"""Progress output of :func:`pydl.fit`: a tqdm bar per epoch, or one line per epoch.

``verbose=1``: a bar with the running loss, metrics and samples/s when stdout is a
terminal (a plain line per epoch if tqdm is not installed), nothing otherwise.
``verbose=2``: one line per epoch, terminal or not. ``verbose=0``: nothing.
"""

import io
import os
import sys
import time

__all__ = ["Progress"]


def _fmt(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _line(logs):
    return " - ".join(f"{k}: {_fmt(v)}" for k, v in logs.items())


def _postfix(logs):
    """Compact, for the bar's right side."""
    return " ".join(f"{k}={_fmt(v)}" for k, v in logs.items())


class Progress:
    """Reports one epoch at a time; ``mode`` is "bar", "line" or None."""

    def __init__(self, verbose, epochs):
        self.epochs = epochs
        self.mode = None
        self._tqdm = None
        if verbose == 2:
            self.mode = "line"
        elif verbose == 1 and _isatty(sys.stdout):
            try:
                from tqdm import tqdm
            except ImportError:
                self.mode = "line"
            else:
                self.mode, self._tqdm = "bar", tqdm
        self._bar = None

    def epoch_begin(self, epoch, n_samples):
        self._start = time.perf_counter()
        if self.mode == "bar":
            # A terminal that reports no size (some ptys) makes tqdm draw nothing at all.
            size = {"dynamic_ncols": True} if _columns(sys.stdout) else {"ncols": 100,
                                                                          "nrows": 20}
            self._bar = self._tqdm(total=n_samples, desc=f"Epoch {epoch + 1}/{self.epochs}",
                                   unit="sample", file=sys.stdout, leave=True,
                                   mininterval=0.1, **size)
            self._last_postfix = 0.0

    def batch_end(self, n, running_logs):
        """``running_logs()`` returns the epoch's logs so far; called only when shown."""
        if self._bar is None:
            return
        self._bar.update(n)
        now = time.perf_counter()
        if now - self._last_postfix >= 0.1:  # formatting every batch would slow small ones
            self._bar.set_postfix_str(_postfix(running_logs()), refresh=False)
            self._last_postfix = now

    def epoch_end(self, epoch, logs, train_seconds, samples_per_second):
        if self.mode == "bar" and self._bar is not None:
            shown = {k: v for k, v in logs.items() if k != "lr"}
            self._bar.set_postfix_str(_postfix(shown), refresh=False)
            self._bar.close()
            self._bar = None
        elif self.mode == "line":
            print(f"Epoch {epoch + 1}/{self.epochs} - {train_seconds:.2f}s - "
                  f"{samples_per_second:,.0f} samples/s - {_line(logs)}", flush=True)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _isatty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _columns(stream):
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        return 0
