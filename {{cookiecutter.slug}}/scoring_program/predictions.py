"""Read the reference labels and check a participant's predictions against them.

A prediction file is a CSV with an `id` column and, by format (set in the phase's data,
dataset.json, from what the leaderboard's metrics need):
    probability    id,probability            probability of label 1 (binary classification)
    probabilities  id,proba_0,...,proba_K-1  one probability per class, summing to 1
    label          id,label                  the predicted class
    value          id,value                  the predicted number (regression)

Every problem becomes a `PredictionError` that tells the participant what is wrong, where
(file and line), and how to fix it. The scoring program shows it on stderr and in the detailed
results page, and exits non-zero: an invalid file never gets a score. Things that can be scored
but are probably a mistake (a constant prediction, a class never predicted, certainty of 0 or
1, an Excel byte-order mark) become warnings on the page instead.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from errors import PredictionError
from metrics import prediction_columns

PREDICTIONS_FILE = "predictions.csv"
REFERENCE_FILE = "test_labels.csv"
MAX_QUOTED_ROWS = 3  # enough to see a pattern, short enough to read
SUM_TOLERANCE = 1e-3
BOM = "\ufeff"  # Excel's "CSV UTF-8" starts the file with it
FORMAT_HELP = {
    "probability": "the probability of label 1, a number from 0 to 1",
    "probabilities": "one probability per class, each from 0 to 1, summing to 1",
    "label": "a class label",
    "value": "a finite number",
}


@dataclass
class Reference:
    ids: list[str]
    target: np.ndarray


@dataclass
class Predictions:
    fmt: str
    values: np.ndarray  # aligned with Reference.ids; (n,) or (n, classes) for "probabilities"
    warnings: list[str] = field(default_factory=list)  # scored anyway, shown on the page

    def view(self, needs: str) -> np.ndarray:
        """The predictions as a metric needs them: labels, probabilities or values."""
        if needs == "labels" and self.fmt == "probability":
            return (self.values >= 0.5).astype(int)
        if needs == "labels" and self.fmt == "probabilities":
            return self.values.argmax(axis=1)
        return self.values


def read_reference(folder: Path, regression: bool) -> Reference:
    """Read `test_labels.csv` (columns id, target) from the reference data folder."""
    path = folder / REFERENCE_FILE
    if not path.is_file():
        # An organizer problem, not a participant one: say so plainly.
        raise FileNotFoundError(f"reference file {path} is missing; run `make data` and rebuild the bundle")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    target = [float(r["target"]) if regression else int(r["target"]) for r in rows]
    return Reference(ids=[r["id"] for r in rows], target=np.array(target))


def format_predictions(ids: list[str], values: np.ndarray, fmt: str, classes: list[int]) -> str:
    """Write predictions in the file format participants submit (used by the tools and the notebook)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", *prediction_columns(fmt, classes)])
    for row_id, value in zip(ids, values):
        cells = list(np.atleast_1d(value))
        writer.writerow([row_id, *(str(int(v)) if fmt == "label" else f"{float(v):.10g}" for v in cells)])
    return buffer.getvalue()


def _parse_row(fmt: str, cells: list[str], classes: list[int]) -> tuple[list[float], str | None]:
    """Numbers of one row, or a problem with it."""
    numbers = []
    for raw in cells:
        try:
            numbers.append(float(raw))
        except ValueError:
            return [], f"{raw!r} is not a number"
    if not all(math.isfinite(v) for v in numbers):
        return [], f"{','.join(cells)!r}: every value must be a finite number"
    if fmt in ("probability", "probabilities") and not all(0.0 <= v <= 1.0 for v in numbers):
        return [], f"probability {','.join(f'{v:g}' for v in numbers)} is outside [0, 1]"
    if fmt == "probabilities" and abs(sum(numbers) - 1.0) > SUM_TOLERANCE:
        return [], f"probabilities sum to {sum(numbers):g}, not 1"
    if fmt == "label" and (numbers[0] != int(numbers[0]) or int(numbers[0]) not in classes):
        return [], f"label {cells[0]!r} is not one of the classes {classes}"
    return numbers, None


def read_predictions(folder: Path, reference: Reference, fmt: str, classes: list[int],
                     shown_as: str = PREDICTIONS_FILE) -> Predictions:
    """Parse `predictions.csv` and check it row by row against the reference ids.

    `shown_as` is how messages name the file (e.g. `ds2/predictions.csv` when a phase has
    several datasets), so the participant knows which of their files to fix.
    """
    path = folder / PREDICTIONS_FILE
    columns = ["id", *prediction_columns(fmt, classes)]
    expected_row = f"Each row is an id from test.csv, then {FORMAT_HELP[fmt]}"
    if fmt == "label":
        expected_row += f" (one of {classes})"
    if not path.is_file():
        found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        raise PredictionError(
            f"{shown_as} not found in the submission output (found: {', '.join(found) or 'nothing'}).",
            file=shown_as, fix=f"A result submission must be a zip with {PREDICTIONS_FILE} at its root, not inside a folder.")
    warnings: list[str] = []
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise PredictionError(f"{shown_as} is not UTF-8 text.", file=shown_as,
                              fix="Write it as a plain CSV file, e.g. with pandas' DataFrame.to_csv(index=False).") from None
    if text.startswith(BOM):
        text = text[len(BOM):]
        warnings.append(f"{shown_as} starts with a byte-order mark (Excel's \"CSV UTF-8\" adds one); it was ignored.")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise PredictionError(f"{shown_as} is not a valid CSV file ({exc}).", file=shown_as,
                              fix="Write it with a CSV writer, e.g. pandas' DataFrame.to_csv(index=False).") from None
    if not rows:
        raise PredictionError(f"{shown_as} is empty.", file=shown_as,
                              fix=f"It needs the header `{','.join(columns)}` and one row per test id.")
    header = [cell.strip() for cell in rows[0]]
    if header != columns:
        raise PredictionError(f"{shown_as} line 1: header is {','.join(header)!r}, expected {','.join(columns)!r}.",
                              file=shown_as, fix=f"Make the first line exactly `{','.join(columns)}`.")
    body = rows[1:]
    if len(body) != len(reference.ids):
        raise PredictionError(
            f"{shown_as} has {len(body)} prediction rows, expected {len(reference.ids)} (one per row of test.csv).",
            file=shown_as, fix="Predict every row of test.csv, once each, and write nothing else below the header.")

    problems: list[str] = []
    parsed: dict[str, list[float]] = {}
    lines: dict[str, int] = {}
    for line, row in enumerate(body, start=2):
        if len(problems) >= MAX_QUOTED_ROWS:
            break
        if len(row) != len(columns):
            problems.append(f"line {line}: expected {len(columns)} values ({','.join(columns)}), got {len(row)}")
            continue
        row_id = row[0].strip()
        if row_id in parsed:
            problems.append(f"line {line}: id {row_id!r} appears twice")
            continue
        numbers, problem = _parse_row(fmt, [c.strip() for c in row[1:]], classes)
        if problem:
            problems.append(f"line {line}: {problem}")
        parsed[row_id], lines[row_id] = numbers, line
    if problems:
        raise PredictionError(f"{shown_as}: " + "; ".join(problems) + ".", file=shown_as, fix=expected_row + ".")

    expected = set(reference.ids)
    unknown = [i for i in parsed if i not in expected]
    if unknown:
        missing = [i for i in reference.ids if i not in parsed]
        raise PredictionError(
            f"{shown_as}: {len(unknown)} ids are not in test.csv (e.g. {unknown[0]!r}) and "
            f"{len(missing)} test ids have no prediction (e.g. {missing[0]!r}).",
            file=shown_as, fix="Copy the id column of test.csv.")
    values = np.array([parsed[i] for i in reference.ids], dtype=float)
    values = values if fmt == "probabilities" else values[:, 0]
    predictions = Predictions(fmt=fmt, values=values.astype(int) if fmt == "label" else values, warnings=warnings)
    predictions.warnings += suspicious(predictions, classes, [lines[i] for i in reference.ids], shown_as)
    return predictions


def suspicious(predictions: Predictions, classes: list[int], lines: list[int], shown_as: str) -> list[str]:
    """Valid predictions that are probably a mistake: worth a warning, not a refusal."""
    found: list[str] = []
    values, fmt = predictions.values, predictions.fmt
    if len(values) > 1 and np.all(values == values[0]):
        found.append(f"every row of {shown_as} has the same prediction: a model that cannot tell rows apart "
                     "scores like chance on ranking metrics such as ROC AUC.")
    if fmt != "value":
        never = [c for c in classes if not np.any(predictions.view("labels") == c)]
        if never:
            rule = " (taking the most probable class)" if fmt == "probabilities" else " (probability >= 0.5)" if fmt == "probability" else ""
            found.append(f"{shown_as} never predicts class {', '.join(map(str, never))}{rule}: every row of "
                         "that class counts as a mistake for accuracy and F1.")
    if fmt in ("probability", "probabilities"):
        certain = np.flatnonzero(np.any((values == 0.0) | (values == 1.0), axis=1) if values.ndim == 2 else (values == 0.0) | (values == 1.0))
        if len(certain):
            found.append(f"{len(certain)} rows of {shown_as} give a probability of exactly 0 or 1 (e.g. line "
                         f"{lines[certain[0]]}): one such row that is wrong costs log loss about 34.5 on its own; "
                         "clip probabilities to [0.001, 0.999] unless you are sure.")
    return found
