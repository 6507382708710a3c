"""The leaderboard's single source of truth: every metric, and the columns a competition shows.

`settings.json` (next to this file) says which task, primary metric, submission mode and
datasets this competition has; `leaderboard(settings)` turns that into the leaderboard
columns. `tools/sync.py` writes those columns into `competition.yaml` and the metric
table into `pages/evaluation.md`, the scoring program writes exactly their keys to
`scores.json`, and the bundle's tests fail if any of them drifts.

To add a metric: add a function and a `Metric` to REGISTRY (keywords: its bounds say what
values it can take, and which side is worst), list it in `SECONDARY` or set
it as `primary_metric` in settings.json, then run `make sync`.

Codabench matches `key` against the leaderboard's column keys (unknown keys are dropped
silently, missing keys show as empty cells), so keys and titles are at most 36 characters
and every value written must be a finite number with |value| < 1e10.

numpy is imported inside the metric functions, so the declarations load with the standard
library alone (the organizer tools read them too).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace
from typing import Callable

# Binary classification: a probability at or above this threshold predicts the positive class,
# the second of the dataset's declared classes.
THRESHOLD = 0.5
TASK_TYPES = ("binary_classification", "multiclass_classification", "regression")


# What Codabench fills a computed column with (leaderboards `computation`).
COMPUTATIONS: dict[str, Callable[[list[float]], float]] = {
    "avg": lambda values: sum(values) / len(values), "sum": sum, "min": min, "max": max,
}


@dataclass(frozen=True)
class Column:
    """A leaderboard column: what Codabench shows and how it ranks."""

    key: str
    title: str
    sorting: str  # "desc": higher is better; "asc": lower is better
    precision: int
    description: str
    computation: str | None = None  # "avg" etc.: Codabench computes it from other columns
    computation_keys: tuple[str, ...] = ()
    metric: str | None = None  # the registry key this column shows
    dataset: str | None = None  # the dataset it is computed on (None: the only one)

    @property
    def higher_is_better(self) -> bool:
        return self.sorting == "desc"


@dataclass(frozen=True, kw_only=True)
class Metric:
    """One metric, declared with keywords; its bounds say what any value of it can be (as RAMP's score types)."""

    key: str  # the scores.json key and leaderboard column key (at most 36 characters)
    title: str
    description: str
    sorting: str  # "desc": higher is better; "asc": lower is better
    minimum: float  # the least value it can take
    maximum: float  # the greatest (math.inf when unbounded)
    task_types: tuple[str, ...]
    needs: str  # what it reads from the predictions: "labels", "probabilities" or "values"
    function: Callable  # (y_true, predictions as `needs` says, classes) -> float; class indexes, see below
    precision: int = 4  # decimals the leaderboard shows

    def __post_init__(self):
        if self.sorting not in ("asc", "desc") or self.needs not in ("labels", "probabilities", "values") \
                or not self.minimum < self.maximum or len(self.key) > 36 or len(self.title) > 36:
            raise ValueError(f"metric {self.key!r}: sorting is asc or desc, needs is labels, probabilities or values, "
                             "minimum < maximum, key and title at most 36 characters")

    @property
    def higher_is_better(self) -> bool:
        return self.sorting == "desc"

    @property
    def worst(self) -> float:
        """The value of a useless submission's score at its limit: the bound on the bad side."""
        return self.minimum if self.higher_is_better else self.maximum

    @property
    def best(self) -> float:
        return self.maximum if self.higher_is_better else self.minimum

    def compute(self, y_true, view, classes) -> float:
        return float(self.function(y_true, view, classes))

    def column(self, dataset: str | None = None) -> Column:
        suffix = f" {dataset}" if dataset else ""
        return Column(self.key + (f"_{dataset}" if dataset else ""), self.title + suffix, self.sorting,
                      self.precision, self.description, metric=self.key, dataset=dataset)


# Classification metrics receive the true classes and the predicted labels as class indexes
# 0..K-1 in the declared order of dataset.json's `classes` (see predictions.py), and
# probabilities as columns in that order. They are computed with numpy, which the scoring
# program has loaded anyway (importing scikit-learn costs seconds at every start), as
# scikit-learn computes them: the template's tests compare each one with scikit-learn's on
# random and edge-case inputs. The functions below are also what the figures draw.
def confusion(y_true, labels, k: int):
    """Counts of (true class, predicted class) as a k x k matrix of class indexes."""
    import numpy as np
    return np.bincount(np.asarray(y_true, np.int64) * k + np.asarray(labels, np.int64), minlength=k * k).reshape(k, k)


def binary_curve(positive, score):
    """False and true positive counts at each distinct threshold, from the highest score down.

    `positive` says which rows belong to the class, `score` how strongly each row is predicted to.
    Returns (fps, tps), both ending with the totals of negatives and positives; the ROC and
    precision-recall curves and the ROC AUC are read from them.
    """
    import numpy as np
    order = np.argsort(score)[::-1]
    ranked = np.asarray(score)[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # ties share one threshold
    del ranked
    tps = np.cumsum(np.asarray(positive, bool)[order], dtype=np.int64)[last_of_each]
    fps = last_of_each + 1 - tps
    return fps, tps


def _binary_auc(positive, score) -> float:
    import numpy as np
    fps, tps = binary_curve(positive, score)
    if tps[-1] == 0 or fps[-1] == 0:
        raise ValueError("ROC AUC is not defined: the reference data needs test rows in and out of every class")
    # The trapezoids under the curve through (0, 0) and every threshold's (fpr, tpr).
    fpr, tpr = np.r_[0.0, fps / fps[-1]], np.r_[0.0, tps / tps[-1]]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)


def _accuracy(y, labels, classes):
    import numpy as np
    return float(np.mean(np.asarray(y) == np.asarray(labels)))


def _class_counts(y, labels, classes):
    """Per declared class: (true positives, rows of the class, rows predicted as it)."""
    import numpy as np
    matrix = confusion(y, labels, len(classes))
    return np.diag(matrix), matrix.sum(axis=1), matrix.sum(axis=0)


def _balanced_accuracy(y, labels, classes):
    import numpy as np
    right, support, _ = _class_counts(y, labels, classes)
    present = support > 0  # a class without test rows has no recall
    return float(np.mean(right[present] / support[present]))


def _macro_f1(y, labels, classes):
    import numpy as np
    right, support, predicted = _class_counts(y, labels, classes)
    denominator = support + predicted  # F1 = 2 TP / (2 TP + FP + FN); 0 for a class never seen nor predicted
    return float(np.mean(np.divide(2 * right, denominator, out=np.zeros(len(classes)), where=denominator > 0)))


def _roc_auc(y, probabilities, classes):
    import numpy as np
    y = np.asarray(y)
    if len(classes) == 2:  # one column: the probability of the positive class, classes[1]
        return _binary_auc(y == 1, probabilities)
    absent = [label_text(c) for i, c in enumerate(classes) if not np.any(y == i)]
    if absent:
        raise ValueError(f"ROC AUC is not defined: the reference data has no test row of class {', '.join(absent)}")
    return float(np.mean([_binary_auc(y == i, probabilities[:, i]) for i in range(len(classes))]))  # one-vs-rest


def _log_loss(y, probabilities, classes):
    import numpy as np
    y = np.asarray(y)
    p = np.clip(probabilities, 1e-15, 1 - 1e-15)
    given = np.where(y == 1, p, 1 - p) if p.ndim == 1 else p[np.arange(len(y)), y]  # the true class's probability
    return float(-np.mean(np.log(given)))


def _rmse(y, values, classes):
    import numpy as np
    return math.sqrt(float(np.mean((np.asarray(y, float) - values) ** 2)))


def _mae(y, values, classes):
    import numpy as np
    return float(np.mean(np.abs(np.asarray(y, float) - values)))


def _r2(y, values, classes):
    import numpy as np
    y = np.asarray(y, float)
    residual, total = float(np.sum((y - values) ** 2)), float(np.sum((y - y.mean()) ** 2))
    if total == 0:  # a constant target: perfect predictions score 1, anything else 0 (as scikit-learn)
        return 1.0 if residual == 0 else 0.0
    return 1 - residual / total


CLASSIFICATION = ("binary_classification", "multiclass_classification")
REGISTRY: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric(key="roc_auc", title="ROC AUC", sorting="desc", minimum=0.0, maximum=1.0,
               description="Area under the ROC curve of the predicted probabilities (one-vs-rest average for "
                           "several classes; 0.5 = chance, 1 = perfect).",
               task_types=CLASSIFICATION, needs="probabilities", function=_roc_auc),
        Metric(key="accuracy", title="Accuracy", sorting="desc", minimum=0.0, maximum=1.0,
               description="Share of rows whose predicted label is correct.",
               task_types=CLASSIFICATION, needs="labels", function=_accuracy),
        Metric(key="balanced_accuracy", title="Balanced accuracy", sorting="desc", minimum=0.0, maximum=1.0,
               description="Mean of the recall of each class; not fooled by a majority class.",
               task_types=CLASSIFICATION, needs="labels", function=_balanced_accuracy),
        Metric(key="macro_f1", title="Macro F1", sorting="desc", minimum=0.0, maximum=1.0,
               description="Mean over classes of the F1 score (harmonic mean of precision and recall).",
               task_types=CLASSIFICATION, needs="labels", function=_macro_f1),
        Metric(key="log_loss", title="Log loss", sorting="asc", minimum=0.0, maximum=math.inf,
               description="Mean negative log-likelihood of the true labels; punishes confident mistakes.",
               task_types=CLASSIFICATION, needs="probabilities", function=_log_loss),
        Metric(key="rmse", title="RMSE", sorting="asc", minimum=0.0, maximum=math.inf,
               description="Root mean squared error; large errors weigh most.",
               task_types=("regression",), needs="values", function=_rmse),
        Metric(key="mae", title="MAE", sorting="asc", minimum=0.0, maximum=math.inf,
               description="Mean absolute error, in the target's unit.",
               task_types=("regression",), needs="values", function=_mae),
        Metric(key="r2", title="R²", sorting="desc", minimum=-math.inf, maximum=1.0,
               description="Share of the target's variance explained (1 = perfect, 0 = predicting the mean).",
               task_types=("regression",), needs="values", function=_r2),
    )
}

# The primary metric when settings say "auto", and the columns that follow it by task type.
DEFAULT_PRIMARY = {"binary_classification": "roc_auc", "multiclass_classification": "accuracy", "regression": "rmse"}
SECONDARY = {
    "binary_classification": ("roc_auc", "accuracy", "log_loss"),
    "multiclass_classification": ("accuracy", "macro_f1", "balanced_accuracy"),
    "regression": ("rmse", "mae", "r2"),
}

# Not a metric of the predictions: the time the code took to train and predict.
DURATION = Column("duration", "Duration (s)", "asc", 2, "Seconds the code submission spent in fit and predict "
                  "(0 for result submissions).")


def applicable(task_type: str) -> list[str]:
    return [key for key, metric in REGISTRY.items() if task_type in metric.task_types]


def resolve_primary(task_type: str, metric: str) -> str:
    return DEFAULT_PRIMARY[task_type] if metric == "auto" else metric


def leaderboard_metrics(settings: dict) -> list[Metric]:
    """The primary metric first, then the task type's usual metrics."""
    primary = resolve_primary(settings["task_type"], settings["primary_metric"])
    keys = [primary] + [k for k in SECONDARY[settings["task_type"]] if k != primary]
    return [REGISTRY[k] for k in keys]


def prediction_format(settings: dict) -> str:
    """What a prediction file holds: "probability" (binary), "probabilities", "label" or "value"."""
    if settings["task_type"] == "regression":
        return "value"
    if settings["task_type"] == "binary_classification":
        return "probability"
    needs = {m.needs for m in leaderboard_metrics(settings)}
    return "probabilities" if "probabilities" in needs else "label"


def label_text(value) -> str:
    """How a class label is written in a CSV file: 3 and 3.0 and "3" are the same class."""
    if type(value).__name__ in ("bool", "bool_"):  # Python's and numpy's bool (numpy is not imported here)
        return str(bool(value))
    if isinstance(value, numbers.Integral):  # int and numpy's integers
        return str(int(value))
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return str(int(value))
    return str(value)


def prediction_columns(fmt: str, classes: list, target: str) -> list[str]:
    """The prediction columns of a prediction file, after the id column.

    probability: `proba_<positive class>` (classes[1]); probabilities: `proba_<class>` per class in
    the declared order; label and value: the target column's name.
    """
    if fmt == "probability":
        return [f"proba_{label_text(classes[1])}"]
    if fmt == "probabilities":
        return [f"proba_{label_text(c)}" for c in classes]
    if fmt in ("label", "value"):
        return [target]
    raise ValueError(f"unknown prediction format {fmt!r}")


def leaderboard(settings: dict) -> list[Column]:
    """Leaderboard columns in display order (a column's index is its position)."""
    metrics = leaderboard_metrics(settings)
    datasets = settings["datasets"]
    if len(datasets) == 1:
        columns = [m.column() for m in metrics]
    else:  # one primary column per dataset, ranked by their mean (computed by Codabench)
        primary = metrics[0]
        per_dataset = [primary.column(d) for d in datasets]
        mean = replace(primary.column(), key=f"{primary.key}_mean", title=f"{primary.title} (mean)",
                       description=f"{primary.title}, averaged over the {len(datasets)} datasets.",
                       computation="avg", computation_keys=tuple(c.key for c in per_dataset))
        columns = [mean, *per_dataset]
    if settings["submission_mode"] != "result":
        columns.append(DURATION)
    return columns


def written_columns(settings: dict) -> list[Column]:
    """The columns scores.json must hold: all but the computed ones."""
    return [c for c in leaderboard(settings) if not c.computation]
