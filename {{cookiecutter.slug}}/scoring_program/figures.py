"""Figures for the detailed results page, returned as base64 PNG so the page stays self-contained.

Which figures a task gets is decided in `figures_for`: curves need probabilities, so a
competition that asks for labels gets per-class bars instead, and a note says why.

Classes arrive as indexes 0..K-1 into the dataset's declared classes (see predictions.py); the
figures name them by their labels, shortened when long. Labels and column names come from the
organizer's data, so they are drawn as plain text: a `$` is escaped, or matplotlib would read
`$...$` as mathematics. With many classes (up to 50) figures stay readable: counts are printed
in the confusion matrix only up to MAX_COUNTED classes, tick labels are thinned, and the curves
show the MAX_CURVES most frequent classes, each with its own colour and line style.

A figure costs the same at a thousand rows and at ten million: curves are drawn through at most
CURVE_POINTS points, spread evenly along them; the scatter plot shows a random sample of
SCATTER_POINTS rows (the same rows on every run); histograms are counted with numpy, then drawn.
"""

from __future__ import annotations

import base64
import io
import os
from typing import Callable

import matplotlib

matplotlib.use("Agg")  # the compute worker has no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402  (ships with matplotlib)

from metrics import binary_curve, confusion, label_text  # noqa: E402
from predictions import label_rule  # noqa: E402
from report import Figure  # noqa: E402

SIZE = (4.8, 3.6)  # inches; at 100 dpi a figure stays under 10 KB once quantized
LARGE = (6.0, 4.8)  # for more than MAX_COUNTED classes
COLORS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9"]  # Okabe-Ito: tells apart with any colour vision
LINE_STYLES = ["-", "--", ":", "-."]  # with COLORS: 24 distinct curves, more than MAX_CURVES
GREY = "#8c959f"
MAX_LABEL = 14  # characters of a class label shown in a figure; longer ones end with "…"
MAX_CURVES = 10  # one-vs-rest curves drawn at most: the most frequent classes
MAX_COUNTED = 10  # the confusion matrix prints its counts up to this many classes
MANY_CLASSES_COLORS = 32  # PNG palette of the figures of a dataset with more than MAX_COUNTED classes
MAX_TICKS = 15  # tick labels shown at most along an axis; beyond, one class in n is labelled (text costs page bytes)
CURVE_POINTS = 1000  # points drawn per curve, whatever the number of rows
SCATTER_POINTS = 5000  # rows drawn in a scatter plot; more only hide each other
LABELS_ONLY_NOTE = ("No ROC or precision-recall curves: they need probabilities, and this competition "
                    "scores predicted labels.")


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _escaped(text: str) -> str:
    return text.replace("$", r"\$")


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "\N{HORIZONTAL ELLIPSIS}"


def plain(text, limit: int | None = MAX_LABEL) -> str:
    """Organizer or participant text drawn as is: one line, shortened, `$` escaped (no mathtext)."""
    return _escaped(_shortened(_one_line(text), limit) if limit else _one_line(text))


def class_names(classes: list) -> list[str]:
    """Each class's name in a figure, at most MAX_LABEL characters (and "…") and told apart.

    Long labels that shorten to the same text ("species number 1…", "species number 2…") are
    shown by what differs between them, without the prefix and suffix all labels share; when
    that still does not tell them apart, by their position in the declared order ("#12 …").
    """
    texts = [_one_line(label_text(c)) for c in classes]
    names = [_shortened(t, MAX_LABEL) for t in texts]
    if len(set(names)) < len(names):
        prefix = os.path.commonprefix(texts)
        suffix = os.path.commonprefix([t[len(prefix):][::-1] for t in texts])[::-1]
        middles = [t[len(prefix):len(t) - len(suffix)] for t in texts]
        names = [("\N{HORIZONTAL ELLIPSIS}" if prefix else "") + _shortened(m, MAX_LABEL)
                 + ("\N{HORIZONTAL ELLIPSIS}" if suffix and len(m) <= MAX_LABEL else "") for m in middles]
    if len(set(names)) < len(names):
        names = [f"#{i} " + _shortened(t, MAX_LABEL) for i, t in enumerate(texts)]
    return [_escaped(n) for n in names]


def style(i: int) -> dict:
    """The i-th curve's colour and line style: colours first, then the same colours dashed, dotted..."""
    return {"color": COLORS[i % len(COLORS)], "ls": LINE_STYLES[(i // len(COLORS)) % len(LINE_STYLES)]}


def _to_base64(fig: plt.Figure, colors: int = 64) -> str:
    """PNG with a 64-colour palette: a third of the bytes, no visible loss for plots. Figures of many
    classes use 32 colours, so five datasets of 50 classes keep the page under its size budget."""
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    buffer.seek(0)
    small = io.BytesIO()
    Image.open(buffer).convert("RGB").quantize(colors=colors).save(small, format="PNG", optimize=True)
    return base64.b64encode(small.getvalue()).decode("ascii")


def _class_ticks(ax, axis: str, classes: list) -> str:
    """Label the classes along an axis (every n-th when there are many); return a caption sentence if thinned."""
    k = len(classes)
    step = max(1, -(-k // MAX_TICKS))
    positions = list(range(0, k, step))
    every = class_names(classes)
    names = [every[i] for i in positions]
    size = 9 if k <= MAX_COUNTED else 7
    rotate = k > 4 or max(len(n) for n in names) > 4
    if axis == "x":
        ax.set_xticks(positions)
        ax.set_xticklabels(names, fontsize=size, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                           rotation_mode="anchor")
    else:
        ax.set_yticks(positions)
        ax.set_yticklabels(names, fontsize=size)
    return f" One class in {step} is labelled along the axes, in the declared order." if step > 1 else ""


Curve = tuple[str, np.ndarray, np.ndarray]  # (legend name, is this class, score for this class)
Points = tuple[str, np.ndarray, np.ndarray, np.ndarray]  # (legend name, fpr, tpr, precision): see curve_points


def one_vs_rest(y_true: np.ndarray, proba: np.ndarray, classes: list) -> tuple[list[Curve], str]:
    """The curves to draw and a sentence on the classes left out: one curve for binary (the
    positive class, classes[1]), else one per class, at most MAX_CURVES of the most frequent."""
    names = class_names(classes)
    if proba.ndim == 1:
        return [(names[1], y_true == 1, proba)], ""
    k = len(classes)
    support = np.bincount(y_true, minlength=k)
    drawable = [i for i in range(k) if 0 < support[i] < len(y_true)]  # a curve needs rows in and out of the class
    chosen = sorted(sorted(drawable, key=lambda i: (-support[i], i))[:MAX_CURVES])
    notes = []
    if len(drawable) > MAX_CURVES:
        notes.append(f"Only the {MAX_CURVES} most frequent of the {k} classes are drawn, to keep the figure readable.")
    absent = k - len(drawable)
    if absent:
        notes.append(f"{absent} {'class has no curve: it has' if absent == 1 else 'classes have no curve: they have'} no test row.")
    return [(names[i], y_true == i, proba[:, i]) for i in chosen], (" " + " ".join(notes)) if notes else ""


def curve_points(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate, precision) at thresholds from the highest score down,
    at most CURVE_POINTS of them, spread evenly along the ROC curve (every corner a reader could see)."""
    fps, tps = binary_curve(positive, score)
    fpr, tpr = fps / max(int(fps[-1]), 1), tps / max(int(tps[-1]), 1)
    if len(fps) > CURVE_POINTS:  # fpr + tpr grows from 0 to 2 along the curve: sample it evenly
        kept = np.unique(np.searchsorted(fpr + tpr, np.linspace(0, fpr[-1] + tpr[-1], CURVE_POINTS)))
        fps, tps, fpr, tpr = fps[kept], tps[kept], fpr[kept], tpr[kept]
    return fpr, tpr, tps / (tps + fps)


def _legend(ax, n: int, loc: str) -> None:
    ax.legend(loc=loc, fontsize="small" if n <= 6 else "x-small", ncols=1 if n <= 6 else 2)


def palette(classes: list) -> int:
    return 64 if len(classes) <= MAX_COUNTED else MANY_CLASSES_COLORS


def roc_figure(curves: list[Points], left_out: str = "", colors: int = 64) -> Figure:
    fig, ax = plt.subplots(figsize=SIZE)
    for i, (name, fpr, tpr, _) in enumerate(curves):
        ax.plot(np.r_[0.0, fpr], np.r_[0.0, tpr], lw=2, label=name if len(curves) > 1 else "this submission", **style(i))
    ax.plot([0, 1], [0, 1], color=GREY, lw=1, ls="--", label="chance")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", xlim=(0, 1), ylim=(0, 1.01))
    _legend(ax, len(curves) + 1, "lower right")
    several = " Each class is one curve, against all the others." if len(curves) > 1 else ""
    return Figure(
        title="ROC curve",
        how_to_read="Each point is one probability threshold; the closer the curve hugs the top-left "
        f"corner, the better the ranking. The area under it is the ROC AUC.{several}{left_out}",
        png_base64=_to_base64(fig, colors),
    )


def precision_recall_figure(curves: list[Points], left_out: str = "", colors: int = 64) -> Figure:
    fig, ax = plt.subplots(figsize=SIZE)
    for i, (name, _, recall, precision) in enumerate(curves):
        ax.plot(np.r_[0.0, recall], np.r_[1.0, precision], lw=2, label=name if len(curves) > 1 else "this submission", **style(i))
    if len(curves) == 1:  # chance: the class's share of the rows, the precision when every row is predicted in it
        ax.axhline(float(curves[0][3][-1]), color=GREY, lw=1, ls="--", label="chance")
    ax.set(xlabel="Recall (share of the class found)", ylabel="Precision (share correct)", xlim=(0, 1), ylim=(0, 1.01))
    _legend(ax, len(curves) + (len(curves) == 1), "lower left")
    positive = f" The curve is for the positive class {curves[0][0]}." if len(curves) == 1 else ""
    return Figure(
        title="Precision-recall curve",
        how_to_read="Lowering the threshold finds more of the class (right) at the cost of more false "
        "alarms (down). A curve that stays high to the right finds the class without false alarms; "
        f"it tells more than ROC when the class is rare.{positive}{left_out}",
        png_base64=_to_base64(fig, colors),
    )


def confusion_figure(y_true: np.ndarray, y_label: np.ndarray, classes: list, rule: str) -> Figure:
    k = len(classes)
    matrix = confusion(y_true, y_label, k)
    fig, ax = plt.subplots(figsize=SIZE if k <= MAX_COUNTED else LARGE)
    if k <= MAX_COUNTED:
        ax.imshow(matrix, cmap="Blues")
    else:  # shares of each true class: a large class does not wash the others out
        rows = matrix.sum(axis=1, keepdims=True)
        ax.imshow(np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0), cmap="Blues", vmin=0, vmax=1)
    if k <= MAX_COUNTED:
        for (i, j), count in np.ndenumerate(matrix):
            color = "white" if count > matrix.max() / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=14 if k < 5 else 9)
    thinned = _class_ticks(ax, "x", classes)
    _class_ticks(ax, "y", classes)
    ax.set(xlabel="Predicted label", ylabel="True label")
    counts = "" if k <= MAX_COUNTED else (f" With {k} classes the counts are not printed; a cell's colour is the share of its "
                                          "row's true labels predicted as its column (darker is more).")
    return Figure(
        title="Confusion matrix",
        how_to_read=f"Rows are true labels, columns predicted labels ({rule}). "
        f"Large off-diagonal counts show which classes the model confuses.{counts}{thinned}",
        png_base64=_to_base64(fig, palette(classes)),
    )


def _probability_histograms(blue: tuple[str, np.ndarray], orange: tuple[str, np.ndarray], xlabel: str):
    """Two overlaid histograms of probabilities in [0, 1]: the shape both probability figures share."""
    fig, ax = plt.subplots(figsize=SIZE)
    bins = np.linspace(0, 1, 21)
    for (label, values), color in ((orange, COLORS[1]), (blue, COLORS[0])):
        counts, _ = np.histogram(values, bins=bins)  # counted once, drawn as 20 bars
        ax.hist(bins[:-1], bins=bins, weights=counts, alpha=0.6, color=color, label=label)
    ax.set(xlabel=xlabel, ylabel="Rows")
    ax.legend(loc="upper center")
    return fig


def histogram_figure(y_true: np.ndarray, y_proba: np.ndarray, classes: list) -> Figure:
    negative, positive = class_names(classes)
    fig = _probability_histograms((f"true class {positive}", y_proba[y_true == 1]), (f"true class {negative}", y_proba[y_true == 0]),
                                  f"Predicted probability of {positive}")
    return Figure(
        title="Predicted probabilities",
        how_to_read="Well-separated orange and blue bars mean the model tells the classes apart; "
        "bars piled in the middle mean it is unsure; orange bars on the right and blue bars on the left "
        "are confident mistakes.",
        png_base64=_to_base64(fig),
    )


def true_class_probability_figure(y_true: np.ndarray, proba: np.ndarray, colors: int = 64) -> Figure:
    given = proba[np.arange(len(y_true)), y_true]
    right = proba.argmax(axis=1) == y_true
    fig = _probability_histograms(("most probable class is right", given[right]),
                                  ("most probable class is wrong", given[~right]), "Probability given to the true class")
    return Figure(
        title="Probability of the true class",
        how_to_read="Blue bars near 1 are rows the model gets right with confidence; orange bars near 0 are "
        "confident mistakes, which log loss punishes most.",
        png_base64=_to_base64(fig, colors),
    )


def per_class_figure(y_true: np.ndarray, y_label: np.ndarray, classes: list) -> Figure:
    k = len(classes)
    matrix = confusion(y_true, y_label, k)
    right, support, predicted = np.diag(matrix), matrix.sum(axis=1), matrix.sum(axis=0)
    recall = np.divide(right, support, out=np.zeros(k), where=support > 0)
    precision = np.divide(right, predicted, out=np.zeros(k), where=predicted > 0)
    positions = np.arange(k)
    fig, ax = plt.subplots(figsize=SIZE if k <= MAX_COUNTED else LARGE)
    ax.bar(positions - 0.2, recall, width=0.4, color=COLORS[0], label="recall")
    ax.bar(positions + 0.2, precision, width=0.4, color=COLORS[3], label="precision")
    thinned = _class_ticks(ax, "x", classes)
    ax.set(xlabel="Class", ylabel="Share", ylim=(0, 1.1))
    ax.legend(loc="upper center", ncols=2)
    return Figure(
        title="Recall and precision per class",
        how_to_read="Recall: the share of a class's rows predicted as that class; precision: the share of "
        f"rows predicted as a class that really are. A low bar is the class to work on.{thinned}",
        png_base64=_to_base64(fig, palette(classes)),
    )


def predicted_vs_true_figure(y_true: np.ndarray, y_pred: np.ndarray, target: str) -> Figure:
    fig, ax = plt.subplots(figsize=SIZE)
    shown = np.arange(len(y_true))
    if len(shown) > SCATTER_POINTS:
        shown = np.sort(np.random.default_rng(0).choice(len(shown), SCATTER_POINTS, replace=False))
    ax.scatter(y_true[shown], y_pred[shown], s=8, alpha=0.5, color=COLORS[0])
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([low, high], [low, high], color=GREY, lw=1, ls="--", label="perfect prediction")
    name = plain(target, 40)
    ax.set(xlabel=f"True {name}", ylabel=f"Predicted {name}")
    ax.legend(loc="upper left")
    sample = f" {SCATTER_POINTS} of the {len(y_true)} rows are drawn, picked at random." if len(shown) < len(y_true) else ""
    return Figure(
        title="Predicted vs true",
        how_to_read=f"Each dot is one test row, its true {target!r} across and its prediction up. Dots on the dashed "
        f"line are exact; a tilted cloud shows the model shrinks or stretches the target.{sample}",
        png_base64=_to_base64(fig),
    )


def residual_figure(y_true: np.ndarray, y_pred: np.ndarray, target: str) -> Figure:
    fig, ax = plt.subplots(figsize=SIZE)
    counts, edges = np.histogram(y_pred - y_true, bins=30)
    ax.hist(edges[:-1], bins=edges, weights=counts, color=COLORS[0], alpha=0.8)
    ax.axvline(0, color=GREY, ls="--", lw=1)
    ax.set(xlabel=f"Predicted minus true {plain(target, 40)}", ylabel="Rows")
    return Figure(
        title="Residuals",
        how_to_read=f"The errors on {target!r}. A narrow bump centred on 0 is good; a shifted bump is a bias, "
        "long tails are rows the model gets badly wrong.",
        png_base64=_to_base64(fig),
    )


def figures_for(task_type: str, reference, predictions) -> tuple[list[Callable[[], Figure]], list[str]]:
    """The figures that explain a score of this task type, each drawn only when called, and notes
    on the usual figures that cannot be drawn from these predictions.

    `reference` is a predictions.Reference (class indexes, the declared classes, the target's
    name), `predictions` the predictions.Predictions aligned with it.
    """
    y_true = reference.target
    if task_type == "regression":
        values, target = predictions.view("values"), reference.target_name
        return [lambda: predicted_vs_true_figure(y_true, values, target), lambda: residual_figure(y_true, values, target)], []
    classes = reference.classes
    labels = predictions.view("labels")
    if predictions.fmt == "label":
        return [lambda: confusion_figure(y_true, labels, classes, "as submitted"),
                lambda: per_class_figure(y_true, labels, classes)], [LABELS_ONLY_NOTE]
    proba = predictions.view("probabilities")
    curves, left_out = one_vs_rest(y_true, proba, classes)
    # Both curve figures are drawn from the same points: each class's rows are sorted once.
    points = [(name, *curve_points(positive, score)) for name, positive, score in curves]
    rule, colors = label_rule(predictions.fmt, classes), palette(classes)
    if predictions.fmt == "probability":
        spread = lambda: histogram_figure(y_true, proba, classes)  # noqa: E731
    else:
        spread = lambda: true_class_probability_figure(y_true, proba, colors)  # noqa: E731
    return [lambda: roc_figure(points, left_out, colors), lambda: precision_recall_figure(points, left_out, colors),
            lambda: confusion_figure(y_true, labels, classes, rule), spread], []
