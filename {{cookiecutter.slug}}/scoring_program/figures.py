"""Figures for the detailed results page, returned as base64 PNG so the page stays self-contained."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # the compute worker has no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import confusion_matrix, roc_curve  # noqa: E402

from report import Figure  # noqa: E402

SIZE = (4.8, 3.6)  # inches; at 100 dpi a figure stays around 20 KB


def _to_base64(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


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


def confusion_figure(y_true: np.ndarray, y_label: np.ndarray, threshold: float) -> Figure:
    matrix = confusion_matrix(y_true, y_label, labels=[0, 1])
    fig, ax = plt.subplots(figsize=SIZE)
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        color = "white" if count > matrix.max() / 2 else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=14)
    ax.set(xticks=[0, 1], yticks=[0, 1], xlabel="Predicted label", ylabel="True label")
    return Figure(
        title="Confusion matrix",
        how_to_read=f"Rows are true labels, columns predicted labels (probability >= {threshold}). "
        "Large off-diagonal counts show which class the model confuses.",
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
