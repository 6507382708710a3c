"""Figures for the detailed results page, returned as base64 PNG so the page stays self-contained."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # the compute worker has no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402  (ships with matplotlib)
from sklearn.metrics import confusion_matrix, roc_curve  # noqa: E402

from report import Figure  # noqa: E402

SIZE = (4.8, 3.6)  # inches; at 100 dpi a figure stays around 20 KB


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


def roc_figure(y_true: np.ndarray, y_proba: np.ndarray) -> Figure:
    fpr, tpr, _ = roc_curve(y_true, y_proba)
    fig, ax = plt.subplots(figsize=SIZE)
    ax.plot(fpr, tpr, color="#0969da", lw=2, label="this submission")
    ax.plot([0, 1], [0, 1], color="#8c959f", lw=1, ls="--", label="chance")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    return Figure(
        title="ROC curve",
        how_to_read="Each point is one probability threshold; the closer the curve hugs the top-left "
        "corner, the better the ranking. The area under it is the ROC AUC.",
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


def histogram_figure(y_true: np.ndarray, y_proba: np.ndarray) -> Figure:
    fig, ax = plt.subplots(figsize=SIZE)
    bins = np.linspace(0, 1, 21)
    ax.hist(y_proba[y_true == 0], bins=bins, alpha=0.6, color="#cf222e", label="true label 0")
    ax.hist(y_proba[y_true == 1], bins=bins, alpha=0.6, color="#1a7f37", label="true label 1")
    ax.set(xlabel="Predicted probability of label 1", ylabel="Rows")
    ax.legend(loc="upper center")
    return Figure(
        title="Predicted probabilities",
        how_to_read="Well-separated red and green bars mean the model tells the classes apart; "
        "bars piled in the middle mean it is unsure.",
        png_base64=_to_base64(fig),
    )


def predicted_vs_true_figure(y_true: np.ndarray, y_pred: np.ndarray) -> Figure:
    fig, ax = plt.subplots(figsize=SIZE)
    ax.scatter(y_true, y_pred, s=8, alpha=0.5, color="#0969da")
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([low, high], [low, high], color="#8c959f", lw=1, ls="--", label="perfect prediction")
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
    ax.hist(y_pred - y_true, bins=30, color="#0969da", alpha=0.8)
    ax.axvline(0, color="#8c959f", ls="--", lw=1)
    ax.set(xlabel="Predicted minus true", ylabel="Rows")
    return Figure(
        title="Residuals",
        how_to_read="A narrow bump centred on 0 is good; a shifted bump is a bias, long tails are rows "
        "the model gets badly wrong.",
        png_base64=_to_base64(fig),
    )


def figures_for(task_type: str, y_true: np.ndarray, predictions, classes: list[int]) -> list:
    """Figures that explain a score of this task type; each is drawn only when asked for."""
    if task_type == "regression":
        values = predictions.view("values")
        return [lambda: predicted_vs_true_figure(y_true, values), lambda: residual_figure(y_true, values)]
    labels = predictions.view("labels")
    if task_type == "binary_classification":
        proba = predictions.view("probabilities")
        return [lambda: roc_figure(y_true, proba),
                lambda: confusion_figure(y_true, labels, classes, "probability >= 0.5"),
                lambda: histogram_figure(y_true, proba)]
    rule = "the most probable class" if predictions.fmt == "probabilities" else "as submitted"
    return [lambda: confusion_figure(y_true, labels, classes, rule), lambda: recall_figure(y_true, labels, classes)]


def recall_figure(y_true: np.ndarray, y_label: np.ndarray, classes: list[int]) -> Figure:
    recalls = [float(np.mean(y_label[y_true == c] == c)) if np.any(y_true == c) else 0.0 for c in classes]
    fig, ax = plt.subplots(figsize=SIZE)
    ax.bar([str(c) for c in classes], recalls, color="#0969da")
    ax.set(xlabel="True class", ylabel="Recall (share found)", ylim=(0, 1))
    return Figure(
        title="Recall per class",
        how_to_read="The share of each class's rows predicted correctly; a low bar is a class the model "
        "mostly misses.",
        png_base64=_to_base64(fig),
    )
