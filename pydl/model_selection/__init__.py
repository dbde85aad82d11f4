"""Model selection: learning curves (bias or variance?) and random hyperparameter
search, coarse to fine, over a user's build-and-fit function.

Plots need matplotlib, imported only when a plot is drawn.
"""

from .distributions import Choice, Distribution, LogUniform, Uniform
from .learning_curve import LearningCurve, learning_curve
from .random_search import SearchResult, random_search

__all__ = ["Choice", "Distribution", "LearningCurve", "LogUniform", "SearchResult",
           "Uniform", "learning_curve", "random_search"]
