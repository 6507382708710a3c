"""Read the reference labels and check a participant's predictions against them.

Every problem becomes a `PredictionError` whose message tells the participant what is wrong,
where (file and line), and how to fix it. The scoring program shows that message on stderr
and in the detailed results page, and exits non-zero: an invalid file never gets a score.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PREDICTIONS_FILE = "predictions.csv"
PREDICTION_COLUMNS = ("id", "probability")
REFERENCE_FILE = "test_labels.csv"

# How many bad rows to quote before stopping: enough to see a pattern, short enough to read.
MAX_QUOTED_ROWS = 3


class PredictionError(Exception):
    """The predictions cannot be scored; the message is written for the participant."""


@dataclass
class Reference:
    ids: list[str]
    labels: np.ndarray


@dataclass
class Predictions:
    ids: list[str]
    probabilities: np.ndarray  # aligned with Reference.ids


def read_reference(folder: Path) -> Reference:
    """Read `test_labels.csv` (columns id, target) from the reference data folder."""
    path = folder / REFERENCE_FILE
    if not path.is_file():
        # An organizer problem, not a participant one: say so plainly.
        raise FileNotFoundError(f"reference file {path} is missing; run `make data` and rebuild the bundle")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return Reference(ids=[r["id"] for r in rows], labels=np.array([int(r["target"]) for r in rows]))


def read_predictions(folder: Path, reference: Reference) -> Predictions:
    """Parse `predictions.csv` and check it row by row against the reference ids."""
    path = folder / PREDICTIONS_FILE
    if not path.is_file():
        found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        raise PredictionError(
            f"{PREDICTIONS_FILE} not found in the submission output (found: {', '.join(found) or 'nothing'}). "
            f"A result submission must be a zip with {PREDICTIONS_FILE} at its root, not inside a folder."
        )
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError:
        raise PredictionError(f"{PREDICTIONS_FILE} is not UTF-8 text; write it as a plain CSV file.") from None
    except csv.Error as exc:
        raise PredictionError(f"{PREDICTIONS_FILE} is not a valid CSV file ({exc}).") from None
    if not rows:
        raise PredictionError(f"{PREDICTIONS_FILE} is empty; it needs the header `id,probability` and one row per test id.")
    header = tuple(cell.strip() for cell in rows[0])
    if header != PREDICTION_COLUMNS:
        raise PredictionError(
            f"{PREDICTIONS_FILE} line 1: header is {','.join(header)!r}, expected {','.join(PREDICTION_COLUMNS)!r}."
        )
    body = rows[1:]
    if len(body) != len(reference.ids):
        raise PredictionError(
            f"{PREDICTIONS_FILE} has {len(body)} prediction rows, expected {len(reference.ids)} "
            f"(one per row of test.csv)."
        )

    problems: list[str] = []
    probabilities: dict[str, float] = {}
    for line, row in enumerate(body, start=2):
        if len(problems) >= MAX_QUOTED_ROWS:
            break
        if len(row) != 2:
            problems.append(f"line {line}: expected 2 values (id, probability), got {len(row)}")
            continue
        row_id, raw = row[0].strip(), row[1].strip()
        if row_id in probabilities:
            problems.append(f"line {line}: id {row_id!r} appears twice")
            continue
        try:
            value = float(raw)
        except ValueError:
            problems.append(f"line {line}: probability {raw!r} is not a number")
            continue
        if not math.isfinite(value):
            problems.append(f"line {line}: probability is {raw!r}; every probability must be a finite number")
        elif not 0.0 <= value <= 1.0:
            problems.append(f"line {line}: probability {value:g} is outside [0, 1]")
        probabilities[row_id] = value
    if problems:
        raise PredictionError(f"{PREDICTIONS_FILE}: " + "; ".join(problems) + ".")

    expected = set(reference.ids)
    unknown = [i for i in probabilities if i not in expected]
    if unknown:
        missing = [i for i in reference.ids if i not in probabilities]
        raise PredictionError(
            f"{PREDICTIONS_FILE}: {len(unknown)} ids are not in test.csv (e.g. {unknown[0]!r}) and "
            f"{len(missing)} test ids have no prediction (e.g. {missing[0]!r}). Copy the id column of test.csv."
        )
    return Predictions(
        ids=list(reference.ids),
        probabilities=np.array([probabilities[i] for i in reference.ids], dtype=float),
    )
