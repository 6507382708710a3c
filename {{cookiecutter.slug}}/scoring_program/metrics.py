"""The leaderboard's single source of truth: every column the scoring program writes.

Each column is declared once, here. `tools/sync_metrics.py` writes the leaderboard columns
of `competition.yaml` and the metric table of `pages/evaluation.md` from these declarations,
and the bundle's tests fail if either drifts from this file. To add a metric, append a
`Metric` to METRICS, then run `make sync`.

Codabench matches `key` against the leaderboard's column keys (unknown keys are silently
dropped, missing keys show as empty cells), so keys and titles are limited to 36 characters
and every value written must be a finite number with |value| < 1e10.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn import metrics as skm

# Predicted probabilities at or above this threshold count as the positive class (label 1).
THRESHOLD = 0.5


@dataclass(frozen=True)
class Column:
    """A leaderboard column: what Codabench shows and how it ranks."""

    key: str
    title: str
    sorting: str  # "desc": higher is better; "asc": lower is better
    precision: int
    description: str

    @property
    def higher_is_better(self) -> bool:
        return self.sorting == "desc"


@dataclass(frozen=True)
class Metric(Column):
    """A column computed from the true labels and the predicted probabilities."""

    function: Callable[[np.ndarray, np.ndarray], float]  # (y_true, y_proba) -> score

    def compute(self, y_true: np.ndarray, y_proba: np.ndarray) -> float:
        return float(self.function(y_true, y_proba))


def _labels(y_proba: np.ndarray) -> np.ndarray:
    return (y_proba >= THRESHOLD).astype(int)


METRICS: tuple[Metric, ...] = (
    # The first metric is the primary one: Codabench ranks by it (leaderboard primary_index 0).
    Metric(
        key="roc_auc",
        title="ROC AUC",
        sorting="desc",
        precision=4,
        description="Area under the ROC curve of the predicted probabilities (0.5 = chance, 1 = perfect).",
        function=lambda y, p: skm.roc_auc_score(y, p),
    ),
    Metric(
        key="accuracy",
        title="Accuracy",
        sorting="desc",
        precision=4,
        description=f"Share of rows whose label (probability >= {THRESHOLD}) is correct.",
        function=lambda y, p: skm.accuracy_score(y, _labels(p)),
    ),
    Metric(
        key="log_loss",
        title="Log loss",
        sorting="asc",
        precision=4,
        description="Mean negative log-likelihood of the true labels; punishes confident mistakes.",
        function=lambda y, p: skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1]),
    ),
)

# Not a metric of the predictions: the time the submission took to train and predict.
DURATION = Column(
    key="duration",
    title="Duration (s)",
    sorting="asc",
    precision=2,
    description="Seconds the code submission spent in fit and predict (0 for result submissions).",
)

# Leaderboard columns in display order; a column's index is its position here.
COLUMNS: tuple[Column, ...] = (*METRICS, DURATION)
PRIMARY = METRICS[0]
