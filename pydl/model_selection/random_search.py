"""Random hyperparameter search, coarse to fine, over a user's build-and-fit function.

As the notes advise: sample the hyperparameters at random rather than on a grid (each
trial then tries a new value of every one), on a log scale for rates, then zoom in on
the region of the best trials and sample it more densely.
"""

import math
import numbers
from collections.abc import Mapping

from ..data._checks import as_generator, check_positive_int
from ..random import manual_seed
from .. import _plotting as _plot
from ._seeding import caller_rng_kept
from ._table import format_table
from .distributions import Choice, Distribution

__all__ = ["SearchResult", "random_search"]


class SearchResult:
    """The trials of :func:`random_search`.

    Attributes
    ----------
    trials : list of dict
        One per trial, in the order run: ``trial`` (its index), ``round`` (0 for the
        coarse round, then 1, 2... for each refinement), every hyperparameter, the
        objective, and any other numbers ``build_and_fit`` returned.
    spaces : list of dict
        The search space of each round (the refined distributions).
    objective : str
    mode : {"min", "max"}
    """

    def __init__(self, trials, spaces, objective, mode):
        self.trials, self.spaces = trials, spaces
        self.objective, self.mode = objective, mode

    def _key(self, trial):
        """Sort key: best first, NaN (a diverged trial) last."""
        score = trial[self.objective]
        if math.isnan(score):
            return (1, 0.0)
        return (0, score if self.mode == "min" else -score)

    def sorted_trials(self):
        """The trials, best first."""
        return sorted(self.trials, key=self._key)

    @property
    def best(self):
        """The best trial (a dict, as in :attr:`trials`)."""
        return self.sorted_trials()[0]

    @property
    def best_params(self):
        """The best trial's hyperparameters."""
        return {k: self.best[k] for k in self.spaces[0]}

    def _searched(self):
        return [k for k, d in self.spaces[0].items() if isinstance(d, Distribution)]

    def table(self, top=None, sort=True):
        """The trials as a text table (best first unless ``sort=False``).

        Parameters
        ----------
        top : int, optional
            Show only the first ``top`` rows.
        sort : bool
        """
        rows = self.sorted_trials() if sort else list(self.trials)
        if top is not None:
            rows = rows[:check_positive_int(top, "top")]
        extra = [k for row in self.trials for k in row
                 if k not in ("trial", "round", self.objective) and k not in self.spaces[0]]
        columns = (["trial", "round"] + self._searched() + [self.objective]
                   + list(dict.fromkeys(extra)))
        return format_table(rows, columns)

    def __repr__(self):
        return (f"SearchResult({len(self.trials)} trials, best {self.objective}="
                f"{self.best[self.objective]:.4g}):\n{self.table(top=10)}")

    def plot(self, path, params=None, title="Random search", dpi=100):
        """Write the objective against each hyperparameter to a PNG, one panel each,
        points coloured by round, the best trial starred; log axes for
        :class:`LogUniform` ones.

        Parameters
        ----------
        path : str or os.PathLike
        params : list of str, optional
            Hyperparameters to plot; default every searched one.
        title : str or None
        dpi : int

        Returns
        -------
        str
            The path written.
        """
        params = self._searched() if params is None else list(params)
        for name in params:
            if name not in self.spaces[0]:
                raise ValueError(f"{name!r} is not a hyperparameter of this search "
                                 f"(they are {list(self.spaces[0])})")
        if not params:
            raise ValueError("nothing to plot: the search space holds no distribution")
        fig = _plot.new_figure(4.5 * len(params), 3.8, "SearchResult.plot")
        best = self.best
        rounds = sorted({t["round"] for t in self.trials})
        for i, name in enumerate(params):
            ax = fig.add_subplot(1, len(params), i + 1)
            dist = self.spaces[0][name]
            if isinstance(dist, Choice):
                labels = [str(o) for o in dist.options]
                position = {label: j for j, label in enumerate(labels)}
                ax.set_xticks(range(len(labels)), labels)

                def where(v, position=position):
                    return position[str(v)]
            else:
                def where(v):
                    return v
                if getattr(dist, "log", False):
                    _plot.log_x(ax)
            for r in rounds:
                pts = [t for t in self.trials if t["round"] == r]
                ax.scatter([where(t[name]) for t in pts], [t[self.objective] for t in pts],
                           s=18, alpha=0.8, label="coarse" if r == 0 else f"fine {r}")
            ax.scatter([where(best[name])], [best[self.objective]], marker="*", s=160,
                       color="black", label="best", zorder=3)
            ax.set_xlabel(name)
            ax.set_ylabel(self.objective)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize="small")
        return _plot.save(fig, path, dpi, title)


def _check_space(space):
    if not isinstance(space, Mapping) or not space:
        raise TypeError(f"space must be a non-empty dict of name -> distribution (or "
                        f"fixed value), got {space!r}"[:200])
    for name in space:
        if not isinstance(name, str):
            raise TypeError(f"space keys must be strings, got {name!r}")
        if name in ("trial", "round"):
            raise ValueError(f"{name!r} is a column of the results; rename the "
                             f"hyperparameter")
    return dict(space)


def _score(result, objective, trial):
    """The objective and any other numbers from what ``build_and_fit`` returned."""
    if isinstance(result, Mapping):
        if objective not in result:
            raise ValueError(f"trial {trial}: build_and_fit returned a dict without the "
                             f"objective {objective!r} (keys: {sorted(map(str, result))})")
        extra = {k: float(v) for k, v in result.items() if k != objective
                 and isinstance(v, numbers.Real) and not isinstance(v, bool)}
        result = result[objective]
    else:
        extra = {}
    if isinstance(result, bool) or not isinstance(result, numbers.Real):
        raise TypeError(f"trial {trial}: build_and_fit must return a number (the "
                        f"{objective!r} to optimize) or a dict holding it, got "
                        f"{type(result).__name__}")
    return float(result), extra


def random_search(build_and_fit, space, n_trials=20, seed=0, *, refine=0,
                  refine_trials=None, top=0.1, margin=0.5, objective="score", mode="min"):
    """Sample hyperparameters at random, train, keep score; then zoom in and repeat.

    Parameters
    ----------
    build_and_fit : callable
        ``build_and_fit(params) -> score`` (or a dict holding ``objective`` and any
        other numbers to record): builds a model with the hyperparameters in the
        dict ``params``, fits it and returns its validation score.
    space : dict
        Name -> :class:`LogUniform`, :class:`Uniform` or :class:`Choice`; any other
        value is passed to every trial unchanged.
    n_trials : int
        Trials of the coarse round.
    seed : int
        Seeds the sampling; ``pydl.manual_seed(seed + trial)`` runs before each call,
        so a trial reruns identically and the whole search is reproducible; pydl's
        default generator is put back to its state before the search on return.
    refine : int
        Refinement rounds after the coarse one. Each narrows every distribution
        (within the original range) around the best ``ceil(top * n_trials)`` trials
        so far: numeric ranges to the span of their values widened by ``margin`` of
        that span on each side (and by at least a tenth of the original range; on a
        log scale for LogUniform), choices to those they used; then samples
        ``refine_trials`` new trials there.
    refine_trials : int, optional
        Trials per refinement round (default ``n_trials``).
    top : float in (0, 1]
        Fraction of ``n_trials`` (at least one trial) that a refinement zooms in on.
    margin : float >= 0
    objective : str
        Name of the score (the key to read when build_and_fit returns a dict).
    mode : {"min", "max"}
        Whether a lower (a loss) or a higher (an accuracy) score is better. A NaN
        score (a diverged run) is never the best.

    Returns
    -------
    SearchResult
        ``trials``, ``best``, ``best_params``, ``table()``, ``plot(path)``.

    Examples
    --------
    >>> def build_and_fit(p):
    ...     width = p["hidden"]
    ...     model = nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 3))
    ...     h = pydl.fit(model, x, y, loss="cross_entropy", epochs=10, verbose=0,
    ...                  optimizer=pydl.optim.SGD(model.parameters(), lr=p["lr"]),
    ...                  validation_data=(x_val, y_val))
    ...     return h.history["val_loss"][-1]
    >>> result = random_search(build_and_fit, {"lr": LogUniform(1e-4, 1),
    ...                        "hidden": LogUniform(8, 128, integer=True)}, 20, refine=1)
    >>> print(result.table(top=5))
    """
    if not callable(build_and_fit):
        raise TypeError(f"build_and_fit must be callable, got {type(build_and_fit).__name__}")
    space = _check_space(space)
    n_trials = check_positive_int(n_trials, "n_trials")
    refine = check_positive_int(refine, "refine", low=0)
    refine_trials = (n_trials if refine_trials is None
                     else check_positive_int(refine_trials, "refine_trials"))
    seed = check_positive_int(seed, "seed", low=0)
    for name, value, ok, allowed in (("top", top, lambda v: 0 < v <= 1, "(0, 1]"),
                                     ("margin", margin, math.isfinite, "[0, inf)")):
        if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not ok(value)
                or value < 0):
            raise ValueError(f"{name} must be a number in {allowed}, got {value!r}")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if not isinstance(objective, str) or objective in ("trial", "round") or objective in space:
        raise ValueError(f"objective must be a name other than 'trial', 'round' and the "
                         f"hyperparameters, got {objective!r}")

    rng = as_generator(seed)
    result = SearchResult([], [space], objective, mode)
    for r in range(refine + 1):
        if r:
            finite = [t for t in result.sorted_trials() if not math.isnan(t[objective])]
            if not finite:
                break  # every trial diverged: nothing to zoom in on
            best = finite[:max(1, math.ceil(top * n_trials))]
            result.spaces.append({
                name: dist.narrow([t[name] for t in best], margin)
                if isinstance(dist, Distribution) else dist
                for name, dist in space.items()})
        current = result.spaces[-1]
        count = n_trials if r == 0 else refine_trials
        drawn = {name: dist.sample(rng, count) if isinstance(dist, Distribution)
                 else [dist] * count for name, dist in current.items()}
        for i in range(count):
            index = len(result.trials)
            params = {name: values[i] for name, values in drawn.items()}
            with caller_rng_kept():
                manual_seed(seed + index)
                result_of_fit = build_and_fit(dict(params))
            score, extra = _score(result_of_fit, objective, index)
            result.trials.append({"trial": index, "round": r, **params,
                                  objective: score, **extra})
    return result
