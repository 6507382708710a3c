"""One dataset's table, checked and split: from the rows its source gives to the frames each split writes.

The checks follow data.yaml's entry for the dataset (`declaration.Dataset`): the id, target and group
columns, the classes, each feature's kind. Rows with no target are left out (or refused), every value
is typed as declared, ids must be unique; tools/splits.py decides each row's split and
tools/data_report.py what the report says. A problem is a `DataError` whose one line names the file,
the line or column, and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

import declaration as decl
from data_report import DataReport, class_warnings, column_warnings, group_suspects, leakage_suspects, unseen_values
from declaration import FILE as DECLARATION_FILE
from declaration import SPLITS, Dataset, Declaration, DeclarationError
from splits import RowSets, assign_splits, row_sets
from tables import (DECIMAL_COMMA, MIN_ROWS, as_text, columns_named, has_control, infer_classes, infer_features, label_text, numbers, shorten_list, shown_value,
                    spoilt_numbers)

ID_PREFIX = {"train": "tr", "dev_test": "dv", "final_test": "fn"}
MAX_TARGET = 1e100  # a regression target beyond this overflows squared errors
MISSING_MARKERS = ("na", "n/a", "nan", "none", "null", "?", "-", "missing")  # labels that often mean "no label"


class DataError(Exception):
    """The data cannot be written as declared; one line, with where and how to fix it."""


@dataclass
class Split:
    """One dataset after its checks: the declaration completed, and its rows per split as written to files."""

    dataset: Dataset
    frames: dict[str, pd.DataFrame]  # split -> [id, *features, target]; ids and labels as text
    categories: dict[str, list[str]]  # categorical feature -> its values, sorted
    missing: dict[str, float]  # column -> share of missing values over the used rows
    report: DataReport


def row_place(source: str, position: int) -> str:
    """Where a row of the source is, for a message: a line of a CSV file, else a row number (position: 0-based)."""
    return f"line {position + 2}" if source.lower().endswith((".csv", ".tsv", ".txt")) else f"row {position + 1}"


def require_columns(table: pd.DataFrame, dataset: Dataset, where: str) -> None:
    wanted = [("id", dataset.id), ("target", dataset.target), ("group", dataset.group)]
    wanted += [("feature", name) for name in dataset.features or {}]
    for role, name in wanted:
        if name and name not in table.columns:
            raise DataError(f"{where}: the {role} column {name!r} is not in the table ({columns_named(name, table.columns, 12)}); "
                            f"fix the name in {DECLARATION_FILE}" + (" or pass TARGET=<column>" if role == "target" else ""))


def first_rows(mask: np.ndarray, table: pd.DataFrame, dataset: Dataset, count_name: str) -> str:
    """"N rows (first: line L)": the table's index holds each row's position in the source."""
    positions = table.index[np.flatnonzero(mask)]
    return f"{len(positions):,} {count_name} (first: {row_place(dataset.source, int(positions[0]))})"


def labelled_rows(table: pd.DataFrame, dataset: Dataset, where: str, report: DataReport) -> pd.DataFrame:
    """The rows that have a target: the others can never be scored, so they are left out (or refused, if declared so)."""
    missing = table[dataset.target].isna().to_numpy()
    if not missing.any():
        return table
    if missing.all():
        raise DataError(f"{where}: the target {dataset.target!r} is empty in every row; choose another TARGET")
    if dataset.missing_target == "error":
        raise DataError(f"{where}: the target {dataset.target!r} is missing in {first_rows(missing, table, dataset, 'rows')}; "
                        f"remove those rows or fill them in (or set missing_target: leave_out in {DECLARATION_FILE} to "
                        "leave them out)")
    first = row_place(dataset.source, int(table.index[np.flatnonzero(missing)[0]]))
    if len(table) - missing.sum() < MIN_ROWS:
        raise DataError(f"{where}: only {len(table) - int(missing.sum())} rows have a {dataset.target!r} ({int(missing.sum())} "
                        f"have none, first: {first}); a competition needs at least {MIN_ROWS} labelled rows to split into "
                        "train, Development test and Final test")
    report.left_out.append(f"{int(missing.sum()):,} rows have no {dataset.target!r}: left out (first: {first})")
    return table.loc[~missing]


def target_labels(table: pd.DataFrame, declaration: Declaration, dataset: Dataset, where: str) -> tuple[pd.Series, list]:
    """The target as written to files (label text, or floats for regression) and the classes in order."""
    target = table[dataset.target]
    place = lambda row: row_place(dataset.source, int(table.index[row]))  # noqa: E731
    if not declaration.classification:
        values = numbers(target)
        bad = values.isna().to_numpy()
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise DataError(f"{where}: the target {dataset.target!r} holds text or infinite values ({shown_value(target.iloc[first])} "
                            f"on {place(first)}): this competition is a regression; choose a numeric target, "
                            "or make a classification competition (task_type=multiclass_classification)")
        huge = np.flatnonzero((values.abs() > MAX_TARGET).to_numpy())
        if len(huge):
            raise DataError(f"{where}: the target {dataset.target!r} holds {shown_value(target.iloc[huge[0]])} ({place(huge[0])}), "
                            f"beyond {MAX_TARGET:g}: errors that large overflow the metrics; rescale the target (e.g. "
                            "thousands instead of units, or its logarithm)")
        if values.nunique() < 2:
            raise DataError(f"{where}: the target {dataset.target!r} has a single value ({shown_value(values.iloc[0])}) in "
                            "every labelled row: there is nothing to predict; choose another TARGET")
        return values, []
    inferred = infer_classes(target, declaration, where)
    if dataset.classes is None and len(inferred) < 2:
        raise DataError(f"{where}: the target {dataset.target!r} has a single class ({shorten_list(inferred)}); "
                        "a classification competition needs at least two")
    if dataset.classes is None:  # a table's classes that do not fit the task type: the table's problem, not data.yaml's
        try:
            decl.check_classes(declaration, replace(dataset, classes=inferred), f"the target {dataset.target!r}", file=where)
        except DeclarationError as exc:
            markers = [str(c) for c in inferred if str(c).strip().lower() in MISSING_MARKERS]
            hint = f"; if {markers[0]!r} means a missing target, pass NA_VALUES={markers[0]!r}" if markers else ""
            raise DataError(f"{exc} ({shorten_list(inferred)}){hint}") from None
    classes = dataset.classes if dataset.classes is not None else inferred
    for label in classes:
        if has_control(str(label)):
            raise DataError(f"{where}: the class label {label!r} has control characters; rename it in the table")
    texts = as_text(target)
    known = pd.Series(texts).isin([label_text(c) for c in classes]).to_numpy()
    if not known.all():
        first = int(np.flatnonzero(~known)[0])
        raise DataError(f"{where}: the target value {texts.iloc[first]!r} ({place(first)}) is not one of the "
                        f"declared classes [{shorten_list(classes)}]; add it to classes in {DECLARATION_FILE} or remove its rows")
    absent = [c for c in classes if label_text(c) not in set(texts.unique())]
    if absent:
        raise DataError(f"{where}: the declared class(es) {shorten_list(absent)} have no row in the table; "
                        f"remove them from classes in {DECLARATION_FILE}")
    if len(classes) < 2:
        raise DataError(f"{where}: the target {dataset.target!r} has a single class ({shorten_list(classes)}); "
                        "a classification competition needs at least two")
    decl.check_classes(declaration, replace(dataset, classes=classes), "the target's classes")
    return texts, classes


def typed_features(table: pd.DataFrame, dataset: Dataset, where: str) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Numeric features as float64 (whole numbers as Int64, written whole), categorical ones as text (missing stays
    missing). Columns the reader already made numbers are converted together: a table may have thousands."""
    numeric = [name for name, kind in dataset.features.items() if kind == "numeric"]
    parsed = [name for name in numeric if pd.api.types.is_numeric_dtype(table[name]) and not pd.api.types.is_bool_dtype(table[name])]
    block = table[parsed].astype("float64")
    values = block.to_numpy()
    finite = dict(zip(parsed, (np.isfinite(values) | np.isnan(values)).all(axis=0)))  # inf goes the careful way
    whole = dict(zip(parsed, whole_columns(values)))
    columns, categories = {}, {}
    for name in dataset.features:
        if finite.get(name):
            columns[name] = block[name].astype("Int64") if whole[name] else block[name]
        elif name in numeric:
            columns[name] = numeric_feature(table, name, dataset, where)
        else:
            text = as_text(table[name])
            columns[name] = text
            categories[name] = sorted(text.dropna().unique().tolist())
    return pd.DataFrame(columns, index=table.index), categories


def numeric_feature(table: pd.DataFrame, name: str, dataset: Dataset, where: str) -> pd.Series:
    """One numeric feature from what the reader gave (text, or numbers with inf): numbers, or the error naming the cell."""
    column = table[name]
    values = numbers(column)
    bad = (values.isna() & column.notna()).to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        place = lambda row: row_place(dataset.source, int(row))  # noqa: E731
        fix = spoilt_numbers(table, [name], where, place)
        raise DataError(fix or f"{where}: the numeric column {name!r} holds {shown_value(column.iloc[first])} "
                        f"({place(table.index[first])}); fix the value, pass NA_VALUES= with it if it means a missing "
                        f"value, or declare {name}: categorical in {DECLARATION_FILE}")
    return values.astype("Int64") if whole_columns(values.to_numpy()[:, None])[0] else values


def whole_columns(values: np.ndarray) -> np.ndarray:
    """For each column of floats: every present value a whole number (2008, not 2008.5) that Int64 holds exactly."""
    present = ~np.isnan(values)
    zeros = np.where(present, values, 0.0)
    exact = (np.mod(zeros, 1) == 0) & (np.abs(zeros) < 2**53)
    return present.any(axis=0) & exact.all(axis=0)


def text_ids(table: pd.DataFrame, dataset: Dataset, where: str) -> pd.Series | None:
    if not dataset.id:
        return None
    ids = as_text(table[dataset.id])
    missing = ids.isna().to_numpy()
    if missing.any():
        raise DataError(f"{where}: the id column {dataset.id!r} is empty in {first_rows(missing, table, dataset, 'rows')}; "
                        "every row needs an id")
    repeated = ids.duplicated(keep=False).to_numpy()
    if repeated.any():
        first = ids[repeated].iloc[0]
        lines = [row_place(dataset.source, int(table.index[i])) for i in np.flatnonzero((ids == first).to_numpy())[:2]]
        raise DataError(f"{where}: the id column {dataset.id!r} has {int(ids.duplicated().sum())} repeated values (first: {first!r} "
                        f"on {' and '.join(lines)}); ids must be unique: fix them, or pass no ID so that ids are generated")
    return ids


def group_values(table: pd.DataFrame, dataset: Dataset, where: str) -> pd.Series | None:
    if not dataset.group:
        return None
    groups = table[dataset.group]
    missing = groups.isna().to_numpy()
    if missing.any():
        raise DataError(f"{where}: the group column {dataset.group!r} is empty in {first_rows(missing, table, dataset, 'rows')}; "
                        "every row needs a group")
    return groups


def described(dataset: Dataset, classes: list) -> dict[str, dict[str, str]]:
    """The descriptions of the columns and classes the dataset has (a new table keeps those that still apply)."""
    columns = {*dataset.features, dataset.target, *filter(None, (dataset.id, dataset.group))}
    labels = {label_text(c) for c in classes}
    kept = {"columns": {name: text for name, text in dataset.descriptions.get("columns", {}).items() if name in columns},
            "classes": {name: text for name, text in dataset.descriptions.get("classes", {}).items() if name in labels}}
    return {part: entries for part, entries in kept.items() if entries}


def too_large_sets(dataset: Dataset, sets: RowSets) -> str:
    """The fix when whole sets of rows cannot make the declared split."""
    fixes = []
    if dataset.group and sets.merged_groups:
        fixes.append(f"groups of {dataset.group!r} must never straddle splits, and rows with identical features join "
                     f"{sets.merged_groups:,} of them to others; add a column that tells such rows apart")
    elif dataset.group:
        fixes.append(f"groups of {dataset.group!r} must never straddle splits, so use a group column with smaller groups")
    if sets.twins and not sets.merged_groups:
        fixes.append("rows with identical features must share a split (here "
                     f"{sets.twins:,} rows in {sets.twin_sets:,} sets), so add a column that tells them apart")
    return "; ".join(fixes) + ", or change the split"


def split_dataset(declaration: Declaration, dataset: Dataset, table: pd.DataFrame, seed: int, where: str,
                  dropped: list[str] = ()) -> Split:
    report = DataReport(dataset.name, rows_read=len(table))
    if table.attrs.get(DECIMAL_COMMA):
        report.notes.append(f"read with decimal commas (3,5 as 3.5): {shorten_list(table.attrs[DECIMAL_COMMA])}")
    table = labelled_rows(table, dataset, where, report)
    if dataset.features is None:
        features, left_out = infer_features(table, dataset, list(dropped), where,
                                            place=lambda row: row_place(dataset.source, int(row)))
        dataset = replace(dataset, features=features)
        report.columns_left_out.update(left_out)
    require_columns(table, dataset, where)
    labels, classes = target_labels(table, declaration, dataset, where)
    dataset = replace(dataset, classes=classes, descriptions=described(dataset, classes))
    features, categories = typed_features(table, dataset, where)
    ids = text_ids(table, dataset, where)
    groups = group_values(table, dataset, where)
    sets = row_sets(features, labels, groups)
    if sets is not None:
        report.kept_together += sets.reasons(dataset.group, groups.nunique() if groups is not None else 0)
    assignment = assign_splits(declaration, labels, sets, seed, where, too_large_sets(dataset, sets) if sets else "")
    missing = {name: float(features[name].isna().mean()) for name in features.columns}
    frames = split_frames(declaration, dataset, features, labels, ids, assignment, generated_id_name(table), seed)
    unused = int(np.count_nonzero(assignment == 3))
    if unused:
        report.left_out.append(f"{unused:,} labelled rows in no split: the split's shares add up to less than the table")
    report.rows = {name: len(frame) for name, frame in frames.items()}
    report.warnings += warnings_about(frames, dataset, declaration, sets, seed)
    if not dataset.group:
        report.warnings += group_suspects(features, dataset.features)  # in the source's order, which the splits lose
    return Split(dataset, frames, categories, missing, report)


def split_frames(declaration: Declaration, dataset: Dataset, features: pd.DataFrame, labels: pd.Series,
                 ids: pd.Series | None, assignment: np.ndarray, generated_id: str, seed: int) -> dict[str, pd.DataFrame]:
    """Each split's rows as written: [id, *features, target]."""
    frames = {}
    for index, name in enumerate(SPLITS):
        # Rows are shuffled within the split (and generated ids numbered afterwards): the order of a
        # file, like an id, must say nothing about the source's order, which may follow the target.
        rows = np.random.RandomState(seed + index + 1).permutation(np.flatnonzero(assignment == index))
        if ids is None:  # made up; with several datasets each has its own, so swapped prediction files are caught
            prefix = f"{dataset.name}-{ID_PREFIX[name]}" if len(declaration.datasets) > 1 else ID_PREFIX[name]
            split_ids = pd.Series([f"{prefix}{i:06d}" for i in range(len(rows))], dtype=object)
        else:
            split_ids = ids.iloc[rows].reset_index(drop=True)
        frame = features.iloc[rows].reset_index(drop=True)
        frame.insert(0, dataset.id or generated_id, split_ids)
        frame[dataset.target] = labels.iloc[rows].reset_index(drop=True)
        frames[name] = frame
    return frames


def warnings_about(frames: dict[str, pd.DataFrame], dataset: Dataset, declaration: Declaration, sets: RowSets | None,
                   seed: int) -> list[str]:
    """The report's warnings on the written splits: columns, classes, rows alike, leakage suspects."""
    warnings = column_warnings(pd.concat(frames.values()), dataset.features)
    warnings += class_warnings(frames, dataset.target, dataset.classes)
    if sets is not None and sets.twins:
        rows = sum(len(frame) for frame in frames.values())
        if sets.twins > rows / 2:
            warnings.append(f"most rows ({sets.twins:,} of {rows:,}) share their features with others, in "
                            f"{sets.twin_sets:,} sets kept each in one split: the test rows' combinations of features are "
                            "ones train never shows; if that is not the competition you want, add features that tell the "
                            "rows apart")
        warnings += unseen_values(frames, dataset.features)
    return warnings + leakage_suspects(frames["train"], dataset.features, dataset.target, declaration.classification, seed)


def generated_id_name(table: pd.DataFrame) -> str:
    name, number = "id", 1
    while name in table.columns:
        number += 1
        name = "row_id" if number == 2 else f"row_id_{number}"
    return name
