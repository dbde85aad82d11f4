"""Classification metrics with scikit-learn's names, arguments and results."""

from .classification import (UndefinedMetricWarning, accuracy, accuracy_score,
                             confusion_matrix, f1_score, fbeta_score, precision,
                             precision_recall_fscore_support, precision_score, recall,
                             recall_score, zero_one_loss)
from .detection import average_precision, mean_average_precision

__all__ = [
    "accuracy", "accuracy_score", "zero_one_loss", "confusion_matrix", "precision",
    "precision_score", "recall", "recall_score", "f1_score", "fbeta_score",
    "precision_recall_fscore_support", "UndefinedMetricWarning",
    "average_precision", "mean_average_precision",
]
