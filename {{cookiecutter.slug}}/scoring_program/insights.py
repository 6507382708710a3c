"""Where a submission loses points, in a sentence or two per dataset.

A score says how good a submission is; these lines say what to work on next, in the words of
the data (which classes are confused, whether predictions run high, how much of the error a few
rows cause). They are computed from the same arrays the metrics read, so they always agree.
"""

from __future__ import annotations

import numpy as np

WORST_SHARE = 0.1  # "the worst 10% of rows"
BELL_SHAPED_SHARE = 0.44  # their share of the squared error when errors are normally distributed
HEAVY_TAIL_SHARE = 0.6  # beyond this, a few rows dominate the error
CONFIDENT = 0.9  # a probability beyond this (or below 1 - this) is a confident prediction


def percent(share: float) -> str:
    """A share as a whole percentage ("41%"); a helper rather than the `.0%` format spec, whose
    closing brace would read as template syntax to the checks on the generated files."""
    return f"{100 * share:.0f}%"


def classification_insights(y_true: np.ndarray, labels: np.ndarray, classes: list[int],
                            proba: np.ndarray | None) -> list[str]:
    found = []
    total = int(np.sum(labels != y_true))
    count, true, predicted = max((int(np.sum((y_true == t) & (labels == p))), t, p)
                                 for t in classes for p in classes if t != p)
    if count:
        found.append(f"Most common mistake: {count} rows of class {true} predicted as {predicted} "
                     f"({percent(count / total)} of all {total} mistakes).")
    recalls = {c: float(np.mean(labels[y_true == c] == c)) for c in classes if np.any(y_true == c)}
    weakest = min(recalls, key=recalls.get)
    if recalls[weakest] < 1.0:
        found.append(f"Class {weakest} is found least often: {percent(recalls[weakest])} of its rows are predicted as {weakest}.")
    if proba is not None:
        given = proba if proba.ndim == 1 else proba.max(axis=1)
        sure = (given >= CONFIDENT) | (given <= 1 - CONFIDENT) if proba.ndim == 1 else given >= CONFIDENT
        wrong_and_sure = int(np.sum(sure & (labels != y_true)))
        if wrong_and_sure:
            found.append(f"{wrong_and_sure} rows are wrong with a confidence of {percent(CONFIDENT)} or more; "
                         "they weigh most in log loss: less extreme probabilities there would help.")
    return found


def regression_insights(y_true: np.ndarray, values: np.ndarray) -> list[str]:
    errors = values - y_true
    rmse = float(np.sqrt(np.mean(errors ** 2)))
    if rmse == 0:
        return []
    bias = float(np.mean(errors))
    direction = "above" if bias > 0 else "below"
    found = [f"Predictions are {abs(bias):.3g} {direction} the truth on average (bias), against an RMSE of {rmse:.3g}"
             + ("; correcting the bias alone would lower the RMSE noticeably." if abs(bias) > 0.3 * rmse else ".")]
    squared = np.sort(errors ** 2)[::-1]
    worst = max(1, int(round(WORST_SHARE * len(squared))))
    share = float(squared[:worst].sum() / squared.sum())
    found.append(f"The worst {percent(WORST_SHARE)} of rows ({worst}) cause {percent(share)} of the squared error"
                 + (f"; bell-shaped errors would give about {percent(BELL_SHAPED_SHARE)}: look at what these rows have in common."
                    if share > HEAVY_TAIL_SHARE else f", as expected of bell-shaped errors (about {percent(BELL_SHAPED_SHARE)})."))
    return found


def insights_for(task_type: str, y_true: np.ndarray, predictions, classes: list[int]) -> list[str]:
    """A few sentences on where this submission loses points on one dataset."""
    if task_type == "regression":
        return regression_insights(y_true, predictions.view("values"))
    proba = None if predictions.fmt == "label" else predictions.view("probabilities")
    return classification_insights(y_true, predictions.view("labels"), classes, proba)
