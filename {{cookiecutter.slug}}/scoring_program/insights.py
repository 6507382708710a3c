"""Where a submission loses points, in a sentence or two per dataset.

A score says how good a submission is; these lines say what to work on next, in the words of
the data (which classes are confused, whether predictions run high, how much of the error a few
rows cause). They are computed from the same arrays the metrics read, so they always agree.
"""

from __future__ import annotations

import numpy as np

from metrics import confusion, label_text
from predictions import label_shown
from report import ClassRow

WORST_SHARE = 0.1  # "the worst 10% of rows"
BELL_SHAPED_SHARE = 0.44  # their share of the squared error when errors are normally distributed
HEAVY_TAIL_SHARE = 0.6  # beyond this, a few rows dominate the error
CONFIDENT = 0.9  # a probability beyond this (or below 1 - this) is a confident prediction


def percent(share: float) -> str:
    """A share as a whole percentage ("41%"); a helper rather than the `.0%` format spec, whose
    closing brace would read as template syntax to the checks on the generated files."""
    if 0 < share < 0.005:
        return "under 1%"
    return f"{100 * share:.0f}%"


def classification_insights(y_true: np.ndarray, labels: np.ndarray, classes: list,
                            proba: np.ndarray | None) -> list[str]:
    """`y_true` and `labels` are class indexes into `classes`, the declared labels."""
    found = []
    k = len(classes)
    matrix = confusion(y_true, labels, k)
    mistakes = matrix * (1 - np.eye(k, dtype=matrix.dtype))
    total = int(mistakes.sum())
    true, predicted = np.unravel_index(int(mistakes.argmax()), mistakes.shape)  # ties: the first in declared order
    count = int(mistakes[true, predicted])
    if count:
        found.append(f"Most common mistake: {count} rows of class {label_shown(classes[true])} predicted as "
                     f"{label_shown(classes[predicted])} ({percent(count / total)} of all {total} mistakes).")
    support = matrix.sum(axis=1)
    present = np.flatnonzero(support)
    recalls = np.diag(matrix)[present] / support[present]
    weakest = int(present[recalls.argmin()])
    if recalls.min() < 1.0:
        name = label_shown(classes[weakest])
        found.append(f"Class {name} is found least often: {percent(float(recalls.min()))} of its rows are predicted as {name}.")
    if proba is not None:
        given = proba if proba.ndim == 1 else proba.max(axis=1)
        sure = (given >= CONFIDENT) | (given <= 1 - CONFIDENT) if proba.ndim == 1 else given >= CONFIDENT
        wrong_and_sure = int(np.sum(sure & (labels != y_true)))
        if wrong_and_sure:
            rows = "1 row is" if wrong_and_sure == 1 else f"{wrong_and_sure} rows are"
            found.append(f"{rows} wrong with a confidence of {percent(CONFIDENT)} or more; "
                         "they weigh most in log loss: less extreme probabilities there would help.")
    return found


def regression_insights(y_true: np.ndarray, values: np.ndarray, target: str = "target") -> list[str]:
    errors = values - y_true
    rmse = float(np.sqrt(np.mean(errors ** 2)))
    if rmse == 0:
        return []
    bias = float(np.mean(errors))
    direction = "above" if bias > 0 else "below"
    found = [f"Predictions of {target!r} are {abs(bias):.3g} {direction} the truth on average (bias), against an RMSE of {rmse:.3g}"
             + ("; correcting the bias alone would lower the RMSE noticeably." if abs(bias) > 0.3 * rmse else ".")]
    squared = errors ** 2
    worst = max(1, int(round(WORST_SHARE * len(squared))))
    share = float(np.partition(squared, len(squared) - worst)[-worst:].sum() / squared.sum())  # no full sort
    found.append(f"The worst {percent(WORST_SHARE)} of rows ({worst}) cause {percent(share)} of the squared error of {target!r}"
                 + (f"; bell-shaped errors would give about {percent(BELL_SHAPED_SHARE)}: look at what these rows have in common."
                    if share > HEAVY_TAIL_SHARE else f", as expected of bell-shaped errors (about {percent(BELL_SHAPED_SHARE)})."))
    return found


def insights_for(task_type: str, reference, predictions) -> list[str]:
    """A few sentences on where this submission loses points on one dataset (a predictions.Reference
    and the predictions.Predictions aligned with it)."""
    if task_type == "regression":
        return regression_insights(reference.target, predictions.view("values"), reference.target_name)
    proba = None if predictions.fmt == "label" else predictions.view("probabilities")
    return classification_insights(reference.target, predictions.view("labels"), reference.classes, proba)


def class_table(reference, predictions) -> list[ClassRow]:
    """One row per declared class: its true rows, its predicted rows, precision and recall."""
    k = len(reference.classes)
    matrix = confusion(reference.target, predictions.view("labels"), k)
    support, predicted, right = matrix.sum(axis=1), matrix.sum(axis=0), np.diag(matrix)
    return [ClassRow(label=label_text(c), support=int(support[i]), predicted=int(predicted[i]),
                     precision=float(right[i] / predicted[i]) if predicted[i] else None,
                     recall=float(right[i] / support[i]) if support[i] else None)
            for i, c in enumerate(reference.classes)]
