"""What `make data` did to a table and what in it deserves a second look: the data report.

For each dataset: the rows read, those left out and why, the rows kept together, the rows per
split, the columns left out and why, and warnings: columns that are constant, nearly unique or
mostly missing, columns that look like the id of groups of rows, and target leakage suspects (a feature that alone predicts the target almost
perfectly on the training split, like a copy of the label or a monotone transform of a
regression target). Warnings never stop `make data`; they are printed at its end and kept in
data/summary.json (`report`) for the organizer, never shipped to participants.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from declaration import SPLITS
from tables import label_text

LEAK_SCORE = 0.98  # a single feature this good on held-out training rows is suspect
LEAK_SAMPLE = 20_000  # training rows looked at for leakage (a seeded sample beyond)
MOSTLY_MISSING = 0.5
FEW_ROWS = 5  # rows of a class in a split below which its scores are noise
BINS = 20  # quantile bins of a numeric feature, for the lookup
CHUNK_CELLS = 2_000_000  # cells looked at together for leakage (memory: a few times 16 MB)


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

    def lines(self) -> list[str]:
        kept = ", ".join(f"{SPLITS[name]} {count:,}" for name, count in self.rows.items())
        lines = [f"{self.dataset}: {self.rows_read:,} rows read; kept: {kept}"]
        lines += [f"  {reason}" for reason in self.left_out]
        lines += [f"  kept together: {reason}" for reason in self.kept_together]
        lines += [f"  column left out: {name!r}: {reason}" for name, reason in self.columns_left_out.items()]
        lines += [f"  note: {note}" for note in self.notes]
        lines += [f"  WARNING: {warning}" for warning in self.warnings]
        return lines


def column_warnings(frame: pd.DataFrame, features: dict[str, str]) -> list[str]:
    """Constant, nearly unique and mostly missing feature columns (over every row written)."""
    rows = max(len(frame), 1)
    distinct, whole = column_profiles(frame, features)
    missing = frame[list(features)].isna().mean()
    warnings = []
    for name, kind in features.items():
        if distinct[name] <= 1:
            warnings.append(f"the feature {name!r} has a single value in every row: it tells no row from another; "
                            f"remove it from features in data.yaml")
            continue
        if missing[name] > MOSTLY_MISSING:
            warnings.append(f"the feature {name!r} is missing in {100 * missing[name]:.0f}% of the rows")
        if kind == "numeric" and distinct[name] >= 0.95 * rows and whole[name] and dense(frame[name], distinct[name]):
            warnings.append(f"the feature {name!r} has a different whole number in almost every row, like a row number or "
                            f"an identifier (its order can follow the target's): pass ID={name!r} if it identifies the rows, "
                            f"else DROP={name!r}")
        elif kind == "categorical" and distinct[name] > 0.5 * rows:
            warnings.append(f"the categorical feature {name!r} has {distinct[name]:,} different values for {rows:,} rows, so "
                            f"most values are seen once: it says little as a category; DROP={name!r}, or ID={name!r} if it "
                            "identifies the rows")
    return warnings


def group_suspects(frame: pd.DataFrame, features: dict[str, str]) -> list[str]:
    """Feature columns that look like the id of a group of rows: between a tenth and half as many values as rows, each
    value in one run of consecutive rows of the source (a person's four trips, a patient's visits). `frame`: the
    labelled rows in the source's order."""
    rows = len(frame)
    warnings = []
    for name in features:
        column = frame[name]
        if column.isna().any():
            continue
        distinct = int(column.nunique())
        if not (max(10, 0.1 * rows) <= distinct <= 0.5 * rows):
            continue
        runs = 1 + int((column.to_numpy()[1:] != column.to_numpy()[:-1]).sum())
        if runs == distinct:
            warnings.append(f"the feature {name!r} looks like the id of groups of rows: each of its {distinct:,} values "
                            f"covers {rows / distinct:.1f} consecutive rows on average; if rows that share it belong "
                            f"together (one person, one session), pass GROUP={name!r} so that no group straddles the "
                            "splits (it then stops being a feature)")
    return warnings


def dense(column: pd.Series, distinct: int) -> bool:
    """Whole numbers packed like row numbers or ids (1..n, 1000..1999), not counts spread over a wide range."""
    return float(column.max()) - float(column.min()) + 1 <= 2 * distinct


def column_profiles(frame: pd.DataFrame, features: dict[str, str]) -> tuple[dict[str, int], dict[str, bool]]:
    """Each feature's number of different present values, and whether they are all whole numbers; the numeric
    columns all at once (sorted side by side), as a table may have thousands."""
    numeric = [name for name, kind in features.items() if kind == "numeric"]
    distinct, whole = {}, {}
    chunk = max(1, CHUNK_CELLS // max(len(frame), 1))
    for start in range(0, len(numeric), chunk):
        part = numeric[start:start + chunk]
        values = np.sort(frame[part].astype("float64").to_numpy(), axis=0)  # missing values sort last
        present = ~np.isnan(values)
        counts = present[:1].sum(axis=0) + ((values[1:] != values[:-1]) & present[1:]).sum(axis=0)
        distinct.update(zip(part, counts.astype(int).tolist()))
        whole.update(zip(part, (np.mod(np.where(present, values, 0.0), 1) == 0).all(axis=0).tolist()))
    distinct.update({name: int(frame[name].nunique()) for name, kind in features.items() if kind != "numeric"})
    return distinct, whole


def unseen_values(frames: dict[str, pd.DataFrame], features: dict[str, str]) -> list[str]:
    """Categories a test split has and train never shows: identical feature rows kept in one split can do that when a
    table has few different feature rows."""
    warnings = []
    for name, kind in features.items():
        if kind != "categorical":
            continue
        seen = set(frames["train"][name].dropna())
        for split in ("dev_test", "final_test"):
            unseen = frames[split][name].dropna()
            unseen = unseen[~unseen.isin(seen)]
            if len(unseen):
                warnings.append(f"the feature {name!r} has the value {unseen.iloc[0]!r} in {len(unseen):,} rows of the "
                                f"{SPLITS[split]} split and never in train, so no model learns it (rows with "
                                "identical features share a split: with few different rows, add features that tell "
                                "them apart)")
                break
    return warnings


def class_warnings(frames: dict[str, pd.DataFrame], target: str, classes: list) -> list[str]:
    """Classes with so few rows in a split that their scores are noise and a model can hardly learn them."""
    warnings = []
    counts = {name: frame[target].value_counts() for name, frame in frames.items()}
    for label in classes:
        per_split = {name: int(counts[name].get(label_text(label), 0)) for name in frames}
        if min(per_split.values()) < FEW_ROWS:
            shown = ", ".join(f"{SPLITS[name]} {count}" for name, count in per_split.items())
            warnings.append(f"the class {label!r} has few rows ({shown}): its scores are mostly noise, and a model can "
                            "hardly learn it")
    return warnings


def leakage_suspects(train: pd.DataFrame, features: dict[str, str], target: str, classification: bool,
                     seed: int) -> list[str]:
    """Features that alone predict the target almost perfectly on the training split, with their score and the fix.

    Classification: a lookup table from the feature (its category, or its numeric value's quantile bin) to the
    most common class, learnt on one half of the rows and scored on the other (balanced accuracy, the worse of
    the two ways). Regression: the rank correlation of a numeric feature with the target (a monotone transform
    of it scores 1), the lookup's R² for a categorical one. Columns are taken in chunks, all at once within a
    chunk, so that thousands of columns cost seconds."""
    sample = train if len(train) <= LEAK_SAMPLE else train.sample(LEAK_SAMPLE, random_state=seed)
    halves = np.random.RandomState(seed).permutation(len(sample)) % 2
    y = sample[target]
    names = list(features)
    chunk = max(1, CHUNK_CELLS // max(len(sample), 1))
    found: dict[str, tuple[float, str]] = {}  # name -> (score, what it says)
    for start in range(0, len(names), chunk):
        part = names[start:start + chunk]
        if classification:
            scores = lookup_accuracy(lookup_keys(sample, part, features), pd.factorize(y, sort=True)[0], halves)
            found.update({name: (score, "alone predicts it with a balanced accuracy of {:.3f}")
                          for name, score in zip(part, scores)})
            continue
        numeric = [name for name in part if features[name] == "numeric"]
        categorical = [name for name in part if features[name] != "numeric"]
        found.update({name: (score, "follows it with a rank correlation of {:.3f} (a monotone transform of the target?)")
                      for name, score in zip(numeric, rank_correlations(sample[numeric], y.astype(float)))})
        if categorical:
            scores = lookup_r2(lookup_keys(sample, categorical, features), y.to_numpy(dtype=float), halves)
            found.update({name: (score, "alone explains it with an R² of {:.3f}") for name, score in zip(categorical, scores)})
    return [f"target leakage suspect: the feature {name!r} {words.format(score)} on the training split; if it is known "
            f"only with the answer, leave it out with DROP={name!r}"
            for name, (score, words) in found.items() if score >= LEAK_SCORE]


def lookup_keys(sample: pd.DataFrame, names: list[str], features: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """What a lookup table keys on, per row and column (the category, or the numeric value's quantile bin; missing is a
    key of its own), numbered from 0 for each column, and how many keys each column has."""
    keys = np.empty((len(sample), len(names)), dtype=np.int64)
    sizes = np.empty(len(names), dtype=np.int64)
    numeric = [i for i, name in enumerate(names) if features[name] == "numeric"]
    if numeric:
        ranks = sample[[names[i] for i in numeric]].astype("float64").rank(pct=True).to_numpy()
        keys[:, numeric] = np.where(np.isnan(ranks), BINS, np.minimum((np.nan_to_num(ranks) * BINS).astype(np.int64), BINS - 1))
        sizes[numeric] = BINS + 1
    for i, name in enumerate(names):
        if features[name] != "numeric":
            codes, uniques = pd.factorize(sample[name], sort=True)
            keys[:, i] = np.where(codes < 0, len(uniques), codes)
            sizes[i] = len(uniques) + 1
    return keys, sizes


def lookup_accuracy(found: tuple[np.ndarray, np.ndarray], y: np.ndarray, halves: np.ndarray) -> np.ndarray:
    """Per column: key -> most common class on one half, balanced accuracy on the other; the worse of both ways."""
    keys, sizes = found
    flat = keys + np.concatenate([[0], np.cumsum(sizes)[:-1]])[None, :]  # one number per (column, key)
    classes = int(y.max()) + 1
    scores = []
    for fit in (0, 1):
        learn, test = halves == fit, halves != fit
        if not learn.any() or not test.any():
            return np.zeros(keys.shape[1])
        counts = np.bincount((flat[learn] * classes + y[learn, None]).ravel(), minlength=int(sizes.sum()) * classes)
        counts = counts.reshape(-1, classes)
        answer = np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), np.bincount(y[learn], minlength=classes).argmax())
        predicted, truth = answer[flat[test]], y[test]
        learnt = np.flatnonzero(np.bincount(y[learn], minlength=classes))  # a class of a row or two may miss a half
        recalls = [(predicted[truth == c] == c).mean(axis=0) for c in np.intersect1d(np.unique(truth), learnt)]
        scores.append(np.mean(recalls, axis=0))
    return np.minimum(*scores)


def lookup_r2(found: tuple[np.ndarray, np.ndarray], y: np.ndarray, halves: np.ndarray) -> np.ndarray:
    """Per column: key -> mean target on one half, R² on the other; the worse of both ways."""
    keys, sizes = found
    flat = keys + np.concatenate([[0], np.cumsum(sizes)[:-1]])[None, :]
    scores = []
    for fit in (0, 1):
        learn, test = halves == fit, halves != fit
        truth = y[test]
        spread = ((truth - truth.mean()) ** 2).sum()
        if not learn.any() or spread <= 0:
            return np.zeros(keys.shape[1])
        weights = np.broadcast_to(y[learn, None], flat[learn].shape).ravel()
        sums = np.bincount(flat[learn].ravel(), weights=weights, minlength=int(sizes.sum()))
        counts = np.bincount(flat[learn].ravel(), minlength=int(sizes.sum()))
        means = np.where(counts > 0, sums / np.maximum(counts, 1), y[learn].mean())
        scores.append(1 - ((truth[:, None] - means[flat[test]]) ** 2).sum(axis=0) / spread)
    return np.minimum(*scores)


def rank_correlations(numeric: pd.DataFrame, y: pd.Series) -> list[float]:
    """|Spearman| of each column with y over the rows where both are present (0 for a constant column)."""
    if numeric.shape[1] == 0:
        return []
    x = numeric.astype("float64").rank().to_numpy()
    target = y.rank().to_numpy()[:, None]
    valid = ~np.isnan(x) & ~np.isnan(target)
    count = valid.sum(axis=0)
    x, t = np.where(valid, x, 0.0), np.where(valid, target, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_x, mean_t = x.sum(axis=0) / count, t.sum(axis=0) / count
        covariance = (x * t).sum(axis=0) / count - mean_x * mean_t
        variance_x = (x * x).sum(axis=0) / count - mean_x ** 2
        variance_t = (t * t).sum(axis=0) / count - mean_t ** 2
        correlation = np.abs(covariance / np.sqrt(variance_x * variance_t))
    return [float(c) if count_ > 2 and np.isfinite(c) else 0.0 for c, count_ in zip(np.minimum(correlation, 1.0), count)]
