"""What `make data` did to a table and what in it deserves a second look: the data report.

For each dataset: the rows read, those left out and why, the rows kept together, the rows per
split, the columns left out and why, and warnings: columns that are constant, nearly unique or
mostly missing, and target leakage suspects (a feature that alone predicts the target almost
perfectly on the training split, like a copy of the label or a monotone transform of a
regression target). Warnings never stop `make data`; they are printed at its end and kept in
data/summary.json (`report`) for the organizer, never shipped to participants.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

LEAK_SCORE = 0.98  # a single feature this good on held-out training rows is suspect
LEAK_SAMPLE = 20_000  # training rows looked at for leakage (a seeded sample beyond)
MOSTLY_MISSING = 0.5
FEW_ROWS = 5  # rows of a class in a split below which its scores are noise
BINS = 20  # quantile bins of a numeric feature, for the classification lookup


@dataclass
class DataReport:
    """One dataset's report; `lines()` is what make data prints."""

    dataset: str
    rows_read: int = 0
    left_out: list[str] = field(default_factory=list)  # rows, with the reason
    kept_together: list[str] = field(default_factory=list)  # rows that share a split, with the reason
    rows: dict[str, int] = field(default_factory=dict)  # split -> rows written
    columns_left_out: dict[str, str] = field(default_factory=dict)  # column -> reason
    notes: list[str] = field(default_factory=list)  # how the table was read, when it was not as plain as it looks
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def lines(self, split_names: dict[str, str]) -> list[str]:
        kept = ", ".join(f"{split_names[name]} {count:,}" for name, count in self.rows.items())
        lines = [f"{self.dataset}: {self.rows_read:,} rows read; kept: {kept}"]
        lines += [f"  {reason}" for reason in self.left_out]
        lines += [f"  kept together: {reason}" for reason in self.kept_together]
        lines += [f"  column left out: {name!r}: {reason}" for name, reason in self.columns_left_out.items()]
        lines += [f"  note: {note}" for note in self.notes]
        lines += [f"  WARNING: {warning}" for warning in self.warnings]
        return lines


def column_warnings(frame: pd.DataFrame, features: dict[str, str]) -> list[str]:
    """Constant, nearly unique and mostly missing feature columns (over every row written)."""
    warnings = []
    rows = len(frame)
    for name, kind in features.items():
        column = frame[name]
        present = column.dropna()
        distinct = present.nunique()
        if distinct <= 1:
            warnings.append(f"the feature {name!r} has a single value in every row: it tells no row from another; "
                            f"remove it from features in data.yaml")
            continue
        missing = 1 - len(present) / max(rows, 1)
        if missing > MOSTLY_MISSING:
            warnings.append(f"the feature {name!r} is missing in {100 * missing:.0f}% of the rows")
        if kind == "numeric" and distinct >= 0.95 * rows and np.all(np.mod(present, 1) == 0):
            warnings.append(f"the feature {name!r} has a different whole number in almost every row, like a row number or "
                            f"an identifier (its order can follow the target's): pass ID={name!r} if it identifies the rows, "
                            f"else DROP={name!r}")
        elif kind == "categorical" and distinct > 0.5 * rows:
            warnings.append(f"the categorical feature {name!r} has {distinct:,} different values for {rows:,} rows, so most "
                            f"values are seen once: it says little as a category; DROP={name!r}, or ID={name!r} if it "
                            "identifies the rows")
    return warnings


def class_warnings(frames: dict[str, pd.DataFrame], target: str, classes: list, split_names: dict[str, str],
                   label_text) -> list[str]:
    """Classes with so few rows in a split that their scores are noise and a model can hardly learn them."""
    warnings = []
    counts = {name: frame[target].value_counts() for name, frame in frames.items()}
    for label in classes:
        per_split = {name: int(counts[name].get(label_text(label), 0)) for name in frames}
        if min(per_split.values()) < FEW_ROWS:
            shown = ", ".join(f"{split_names[name]} {count}" for name, count in per_split.items())
            warnings.append(f"the class {label!r} has few rows ({shown}): its scores are mostly noise, and a model can "
                            "hardly learn it")
    return warnings


def leakage_suspects(train: pd.DataFrame, features: dict[str, str], target: str, classification: bool,
                     seed: int) -> list[str]:
    """Features that alone predict the target almost perfectly on held-out training rows, with their score and the fix."""
    sample = train if len(train) <= LEAK_SAMPLE else train.sample(LEAK_SAMPLE, random_state=seed)
    halves = np.random.RandomState(seed).permutation(len(sample)) % 2
    y = sample[target].reset_index(drop=True)
    suspects = []
    for name, kind in features.items():
        x = sample[name].reset_index(drop=True)
        if classification:
            score = lookup_score(lookup_keys(x, kind), y, halves, classification=True)
            what = f"alone predicts it with a balanced accuracy of {score:.3f}"
        elif kind == "numeric":
            pairs = pd.DataFrame({"x": x, "y": y.astype(float)}).dropna()
            score = abs(pairs["x"].rank().corr(pairs["y"].rank())) if len(pairs) > 2 and pairs["x"].nunique() > 1 else 0.0
            score = 0.0 if np.isnan(score) else score
            what = f"follows it with a rank correlation of {score:.3f} (a monotone transform of the target?)"
        else:
            score = lookup_score(lookup_keys(x, kind), y.astype(float), halves, classification=False)
            what = f"alone explains it with an R² of {score:.3f}"
        if score >= LEAK_SCORE:
            suspects.append(f"target leakage suspect: the feature {name!r} {what} on the training split; if it is known "
                            f"only with the answer, leave it out with DROP={name!r}")
    return suspects


def lookup_keys(x: pd.Series, kind: str) -> pd.Series:
    """What a lookup table keys on: the category, or the numeric value's quantile bin; missing is a key of its own."""
    if kind == "numeric":
        codes = pd.qcut(x.rank(method="dense"), q=min(BINS, max(x.nunique(), 1)), labels=False, duplicates="drop") \
            if x.nunique() > 1 else pd.Series(0, index=x.index)
        return codes.astype("float64").fillna(-1).astype("int64").astype(str)
    return x.astype(object).where(x.notna(), "\0missing").astype(str)


def lookup_score(keys: pd.Series, y: pd.Series, halves: np.ndarray, classification: bool) -> float:
    """Learn key -> answer on one half, score it on the other, both ways: balanced accuracy, or R²."""
    scores = []
    for fit in (0, 1):
        learn, test = halves == fit, halves != fit
        if not learn.any() or not test.any():
            return 0.0
        if classification:
            table = pd.crosstab(keys[learn], y[learn])
            answer = table.idxmax(axis=1)
            fallback = y[learn].value_counts().idxmax()
            predicted = keys[test].map(answer).fillna(fallback).astype(object)
            truth = y[test].astype(object)
            recalls = [(predicted[truth == label] == label).mean() for label in truth.unique()]
            scores.append(float(np.mean(recalls)))
        else:
            means = y[learn].groupby(keys[learn]).mean()
            predicted = keys[test].map(means).fillna(y[learn].mean())
            spread = ((y[test] - y[test].mean()) ** 2).sum()
            scores.append(float(1 - ((y[test] - predicted) ** 2).sum() / spread) if spread > 0 else 0.0)
    return min(scores)
