"""Figures for the detailed results page, returned as base64 PNG so the page stays self-contained.

Which figures a task gets is decided in `figures_for`: curves need probabilities, so a
competition that asks for labels gets per-class bars instead, and a note says why.
"""

from __future__ import annotations

import base64
import io
from typing import Callable

import matplotlib

matplotlib.use("Agg")  # the compute worker has no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402  (ships with matplotlib)
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve  # noqa: E402

from report import Figure  # noqa: E402

SIZE = (4.8, 3.6)  # inches; at 100 dpi a figure stays under 10 KB once quantized
COLORS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9"]  # Okabe-Ito: tells apart with any colour vision
GREY = "#8c959f"
LABELS_ONLY_NOTE = ("No ROC or precision-recall curves: they need probabilities, and this competition "
                    "scores predicted labels.")


def _to_base64(fig: plt.Figure) -> str:
    """PNG with a 64-colour palette: a third of the bytes, no visible loss for plots."""
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    buffer.seek(0)
    small = io.BytesIO()
    Image.open(buffer).convert("RGB").quantize(colors=64).save(small, format="PNG", optimize=True)
    return base64.b64encode(small.getvalue()).decode("ascii")


def one_vs_rest(y_true: np.ndarray, proba: np.ndarray, classes: list[int]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, is this class, score for this class) per curve: one curve for binary, one per class otherwise."""
    if proba.ndim == 1:
        return [("label 1", y_true == 1, proba)]
    return [(f"class {c}", y_true == c, proba[:, i]) for i, c in enumerate(classes)]


def roc_figure(curves: list[tuple[str, np.ndarray, np.ndarray]]) -> Figure:
    fig, ax = plt.subplots(figsize=SIZE)
    for (name, positive, score), color in zip(curves, COLORS):
        fpr, tpr, _ = roc_curve(positive, score)
        ax.plot(fpr, tpr, color=color, lw=2, label=name if len(curves) > 1 else "this submission")
    ax.plot([0, 1], [0, 1], color=GREY, lw=1, ls="--", label="chance")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    several = " Each class is one curve, against all the others." if len(curves) > 1 else ""
    return Figure(
        title="ROC curve",
        how_to_read="Each point is one probability threshold; the closer the curve hugs the top-left "
        f"corner, the better the ranking. The area under it is the ROC AUC.{several}",
        png_base64=_to_base64(fig),
    )


def precision_recall_figure(curves: list[tuple[str, np.ndarray, np.ndarray]]) -> Figure:
    fig, ax = plt.subplots(figsize=SIZE)
    for (name, positive, score), color in zip(curves, COLORS):
        precision, recall, _ = precision_recall_curve(positive, score)
        ax.plot(recall, precision, color=color, lw=2, label=name if len(curves) > 1 else "this submission")
    if len(curves) == 1:
        ax.axhline(float(np.mean(curves[0][1])), color=GREY, lw=1, ls="--", label="chance")
    ax.set(xlabel="Recall (share of the class found)", ylabel="Precision (share correct)", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower left")
    return Figure(
        title="Precision-recall curve",
        how_to_read="Lowering the threshold finds more of the class (right) at the cost of more false "
        "alarms (down). A curve that stays high to the right finds the class without false alarms; "
        "it tells more than ROC when the class is rare.",
        png_base64=_to_base64(fig),
    )


def confusion_figure(y_true: np.ndarray, y_label: np.ndarray, classes: list[int], rule: str) -> Figure:
    matrix = confusion_matrix(y_true, y_label, labels=classes)
    fig, ax = plt.subplots(figsize=SIZE)
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        color = "white" if count > matrix.max() / 2 else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=14 if len(classes) < 5 else 9)
    ticks = list(range(len(classes)))
    ax.set(xticks=ticks, yticks=ticks, xticklabels=classes, yticklabels=classes, xlabel="Predicted label", ylabel="True label")
    return Figure(
        title="Confusion matrix",
        how_to_read=f"Rows are true labels, columns predicted labels ({rule}). "
        "Large off-diagonal counts show which classes the model confuses.",
        png_base64=_to_base64(fig),
    )


def _probability_histograms(blue: tuple[str, np.ndarray], orange: tuple[str, np.ndarray], xlabel: str):
    """Two overlaid histograms of probabilities in [0, 1]: the shape both probability figures share."""
    fig, ax = plt.subplots(figsize=SIZE)
    bins = np.linspace(0, 1, 21)
    for (label, values), color in ((orange, COLORS[1]), (blue, COLORS[0])):
        ax.hist(values, bins=bins, alpha=0.6, color=color, label=label)
    ax.set(xlabel=xlabel, ylabel="Rows")
    ax.legend(loc="upper center")
    return fig


def histogram_figure(y_true: np.ndarray, y_proba: np.ndarray) -> Figure:
    fig = _probability_histograms(("true label 1", y_proba[y_true == 1]), ("true label 0", y_proba[y_true == 0]),
                                  "Predicted probability of label 1")
    return Figure(
        title="Predicted probabilities",
        how_to_read="Well-separated orange and blue bars mean the model tells the classes apart; "
        "bars piled in the middle mean it is unsure; orange bars on the right and blue bars on the left "
        "are confident mistakes.",
        png_base64=_to_base64(fig),
    )


def true_class_probability_figure(y_true: np.ndarray, proba: np.ndarray, classes: list[int]) -> Figure:
    given = proba[np.arange(len(y_true)), np.searchsorted(classes, y_true)]
    right = proba.argmax(axis=1) == np.searchsorted(classes, y_true)
    fig = _probability_histograms(("most probable class is right", given[right]),
                                  ("most probable class is wrong", given[~right]), "Probability given to the true class")
    return Figure(
        title="Probability of the true class",
        how_to_read="Blue bars near 1 are rows the model gets right with confidence; orange bars near 0 are "
        "confident mistakes, which log loss punishes most.",
        png_base64=_to_base64(fig),
    )


def per_class_figure(y_true: np.ndarray, y_label: np.ndarray, classes: list[int]) -> Figure:
    def share(hit: np.ndarray, among: np.ndarray) -> float:
        return float(np.mean(hit[among])) if np.any(among) else 0.0

    recall = [share(y_label == c, y_true == c) for c in classes]
    precision = [share(y_true == c, y_label == c) for c in classes]
    positions = np.arange(len(classes))
    fig, ax = plt.subplots(figsize=SIZE)
    ax.bar(positions - 0.2, recall, width=0.4, color=COLORS[0], label="recall")
    ax.bar(positions + 0.2, precision, width=0.4, color=COLORS[3], label="precision")
    ax.set(xticks=positions, xticklabels=[str(c) for c in classes], xlabel="Class", ylabel="Share", ylim=(0, 1.1))
    ax.legend(loc="upper center", ncols=2)
    return Figure(
        title="Recall and precision per class",
        how_to_read="Recall: the share of a class's rows predicted as that class; precision: the share of "
        "rows predicted as a class that really are. A low bar is the class to work on.",
        png_base64=_to_base64(fig),
    )


def predicted_vs_true_figure(y_true: np.ndarray, y_pred: np.ndarray) -> Figure:
    fig, ax = plt.subplots(figsize=SIZE)
    ax.scatter(y_true, y_pred, s=8, alpha=0.5, color=COLORS[0])
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([low, high], [low, high], color=GREY, lw=1, ls="--", label="perfect prediction")
    ax.set(xlabel="True value", ylabel="Predicted value")
    ax.legend(loc="upper left")
    return Figure(
        title="Predicted vs true",
        how_to_read="Each dot is one test row. Dots on the dashed line are exact; a tilted cloud shows "
        "the model shrinks or stretches the target.",
        png_base64=_to_base64(fig),
    )


def residual_figure(y_true: np.ndarray, y_pred: np.ndarray) -> Figure:
    fig, ax = plt.subplots(figsize=SIZE)
    ax.hist(y_pred - y_true, bins=30, color=COLORS[0], alpha=0.8)
    ax.axvline(0, color=GREY, ls="--", lw=1)
    ax.set(xlabel="Predicted minus true", ylabel="Rows")
    return Figure(
        title="Residuals",
        how_to_read="A narrow bump centred on 0 is good; a shifted bump is a bias, long tails are rows "
        "the model gets badly wrong.",
        png_base64=_to_base64(fig),
    )


def figures_for(task_type: str, y_true: np.ndarray, predictions, classes: list[int]) -> tuple[list[Callable[[], Figure]], list[str]]:
    """The figures that explain a score of this task type, each drawn only when called, and notes
    on the usual figures that cannot be drawn from these predictions."""
    if task_type == "regression":
        values = predictions.view("values")
        return [lambda: predicted_vs_true_figure(y_true, values), lambda: residual_figure(y_true, values)], []
    labels = predictions.view("labels")
    if predictions.fmt == "label":
        return [lambda: confusion_figure(y_true, labels, classes, "as submitted"),
                lambda: per_class_figure(y_true, labels, classes)], [LABELS_ONLY_NOTE]
    proba = predictions.view("probabilities")
    curves = one_vs_rest(y_true, proba, classes)
    if predictions.fmt == "probability":
        rule, spread = "probability >= 0.5", lambda: histogram_figure(y_true, proba)
    else:
        rule, spread = "the most probable class", lambda: true_class_probability_figure(y_true, proba, classes)
    return [lambda: roc_figure(curves), lambda: precision_recall_figure(curves),
            lambda: confusion_figure(y_true, labels, classes, rule), spread], []
