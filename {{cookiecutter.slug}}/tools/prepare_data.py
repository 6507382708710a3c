"""Write every phase's data from data.yaml: input, reference and public data, sample submissions.

    make data                                               # follow data.yaml
    make data SOURCE=table.csv TARGET=label [ID=id] [GROUP=patient] [DROP=name,notes] [DATASET=ds2]
    python tools/prepare_data.py --check                    # data/ against data/manifest.json

data.yaml declares the data once (see its comments). With SOURCE, the dataset's entry is
rewritten from the table (columns, kinds and classes inferred) before the files are written.
Layout, per phase (paths referenced by competition.yaml); with several datasets each one has
its own sub-folder `<dataset>/` under input, reference and public data:
    data/<phase>/input_data/      train.csv (with the target), test.csv (without), task.json -> ingestion
    data/<phase>/reference_data/  test_labels.csv (id, target), dataset.json, baseline.json -> scoring only
    data/<phase>/public_data/     what participants download
    data/manifest.json            size and sha256 of every file;  data/summary.json: the data page's figures
The same data.yaml and table always give the same bytes. Nothing is written unless every
check passes: a problem is one `ERROR:` line naming the file, line or column, and the fix.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

import declaration as decl
from bundle import ROOT, load_program_module
from declaration import FILE as DECLARATION_FILE
from declaration import SPLITS, Dataset, Declaration, DeclarationError
from file_rules import LARGE_DATA, human
from tables import TableError, as_text, infer_classes, infer_features, label_text, read_source, shorten_list

PHASES = {"dev": ("Development", "dev_test"), "final": ("Final", "final_test")}
ID_PREFIX = {"train": "tr", "dev_test": "dv", "final_test": "fn"}
SUMMARY = "summary.json"


class LeakError(Exception):
    pass


class DataError(Exception):
    """The data cannot be written as declared; one line, with where and how to fix it."""


def load_settings(root: Path) -> dict:
    return json.loads((root / "scoring_program" / "settings.json").read_text(encoding="utf-8"))


def dataset_folders(settings: dict) -> dict[str, str]:
    """Dataset name -> sub-folder; a single dataset sits at the top of each data folder."""
    names = settings["datasets"]
    return {names[0]: ""} if len(names) == 1 else {name: name for name in names}


# -- one dataset: from its source table to checked, split frames ---------------------------------
@dataclass
class Split:
    """One dataset after its checks: the declaration completed, and its rows per split as written to files."""

    dataset: Dataset
    frames: dict[str, pd.DataFrame]  # split -> [id, *features, target]; ids and labels as text
    categories: dict[str, list[str]]  # categorical feature -> its values, sorted
    missing: dict[str, float]  # column -> share of missing values over the used rows


def row_place(source: str, position: int) -> str:
    """Where a row of the source is, for a message: a line of a CSV file, else a row number."""
    return f"line {position + 2}" if source.lower().endswith((".csv", ".tsv", ".txt")) else f"row {position + 1}"


def require_columns(table: pd.DataFrame, dataset: Dataset, where: str) -> None:
    wanted = [("id", dataset.id), ("target", dataset.target), ("group", dataset.group)]
    wanted += [("feature", name) for name in dataset.features or {}]
    for role, name in wanted:
        if name and name not in table.columns:
            raise DataError(f"{where}: the {role} column {name!r} is not in the table (columns: {shorten_list(table.columns, 12)}); "
                            f"fix the name in {DECLARATION_FILE}" + (" or pass TARGET=<column>" if role == "target" else ""))


def first_rows(mask: np.ndarray, dataset: Dataset, count_name: str) -> str:
    positions = np.flatnonzero(mask)
    return f"{len(positions)} {count_name} (first: {row_place(dataset.source, int(positions[0]))})"


def target_labels(table: pd.DataFrame, declaration: Declaration, dataset: Dataset, where: str) -> tuple[pd.Series, list]:
    """The target as written to files (label text, or floats for regression) and the classes in order."""
    target = table[dataset.target]
    missing = target.isna().to_numpy()
    if missing.any():
        raise DataError(f"{where}: the target {dataset.target!r} is missing in {first_rows(missing, dataset, 'rows')}; "
                        "remove those rows or fill them in")
    if not declaration.classification:
        values = pd.to_numeric(target, errors="coerce")
        bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise DataError(f"{where}: the target {dataset.target!r} holds text or infinite values ({target.iloc[first]!r} on "
                            f"{row_place(dataset.source, first)}): this competition is a regression; choose a numeric target, "
                            "or make a classification competition (task_type=multiclass_classification)")
        return values.astype("float64"), []
    inferred = infer_classes(target, declaration, where)
    classes = dataset.classes if dataset.classes is not None else inferred
    for label in classes:
        if any(ch in str(label) for ch in "\r\n") or not str(label).isprintable():
            raise DataError(f"{where}: the class label {label!r} has control characters; rename it in the table")
    texts = as_text(target)
    known = pd.Series(texts).isin([label_text(c) for c in classes]).to_numpy()
    if not known.all():
        first = int(np.flatnonzero(~known)[0])
        raise DataError(f"{where}: the target value {texts.iloc[first]!r} ({row_place(dataset.source, first)}) is not one of the "
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
    """Numeric features as float64, categorical ones as text (missing stays missing)."""
    columns, categories = {}, {}
    for name, kind in dataset.features.items():
        column = table[name]
        if kind == "numeric":
            values = pd.to_numeric(column, errors="coerce")
            bad = (values.isna() & column.notna()).to_numpy() | np.isinf(values.to_numpy(dtype=float, na_value=np.nan))
            if bad.any():
                first = int(np.flatnonzero(bad)[0])
                raise DataError(f"{where}: the numeric column {name!r} holds {column.iloc[first]!r} ({row_place(dataset.source, first)}); "
                                f"fix the value, or declare {name}: categorical in {DECLARATION_FILE}")
            columns[name] = values.astype("float64")
        else:
            text = as_text(column)
            columns[name] = text
            categories[name] = sorted(text.dropna().unique().tolist())
    return pd.DataFrame(columns, index=table.index), categories


def text_ids(table: pd.DataFrame, dataset: Dataset, where: str) -> pd.Series | None:
    if not dataset.id:
        return None
    ids = as_text(table[dataset.id])
    missing = ids.isna().to_numpy()
    if missing.any():
        raise DataError(f"{where}: the id column {dataset.id!r} is empty in {first_rows(missing, dataset, 'rows')}; every row needs an id")
    repeated = ids.duplicated(keep=False).to_numpy()
    if repeated.any():
        first = ids[repeated].iloc[0]
        lines = [row_place(dataset.source, int(i)) for i in np.flatnonzero((ids == first).to_numpy())[:2]]
        raise DataError(f"{where}: the id column {dataset.id!r} has {int(ids.duplicated().sum())} repeated values (first: {first!r} "
                        f"on {' and '.join(lines)}); ids must be unique: fix them, or pass no ID so that ids are generated")
    return ids


def split_sizes(declaration: Declaration, rows: int) -> dict[str, int]:
    if declaration.split_in_rows:
        sizes = {name: int(declaration.split[name]) for name in SPLITS}
        if sum(sizes.values()) > rows:
            raise DataError(f"{DECLARATION_FILE}: the split asks for {sum(sizes.values())} rows but the table has {rows}; "
                            "lower the numbers or give fractions (like train: 0.6)")
        return sizes
    sizes = {name: int(round(declaration.split[name] * rows)) for name in SPLITS}
    if abs(sum(declaration.split.values()) - 1) < 1e-9:
        sizes["train"] = rows - sizes["dev_test"] - sizes["final_test"]
    return sizes


def spread(counts: list[int]) -> np.ndarray:
    """Labels 0..len(counts)-1, label s exactly counts[s] times, each spread evenly along the sequence."""
    positions = np.concatenate([(np.arange(c) + 0.5) / c for c in counts if c])
    labels = np.repeat(np.arange(len(counts)), counts)
    return labels[np.argsort(positions, kind="stable")]


def assign_splits(declaration: Declaration, dataset: Dataset, labels: pd.Series, groups: pd.Series | None,
                  seed: int, where: str) -> np.ndarray:
    """The split of every row: 0 train, 1 Development test, 2 Final test, 3 left out."""
    rows = len(labels)
    sizes = split_sizes(declaration, rows)
    counts = [sizes["train"], sizes["dev_test"], sizes["final_test"], rows - sum(sizes.values())]
    rng = np.random.RandomState(seed)
    assignment = np.empty(rows, dtype=np.int8)
    if groups is not None:
        missing = groups.isna().to_numpy()
        if missing.any():
            raise DataError(f"{where}: the group column {dataset.group!r} is empty in {first_rows(missing, dataset, 'rows')}; "
                            "every row needs a group")
        codes, uniques = pd.factorize(as_text(groups), sort=True)
        order = rng.permutation(len(uniques))
        size = np.bincount(codes, minlength=len(uniques))[order]
        middle = (np.cumsum(size) - size / 2) / rows
        bounds = np.cumsum(counts)[:-1] / rows
        group_split = np.empty(len(uniques), dtype=np.int8)
        group_split[order] = np.searchsorted(bounds, middle, side="right")
        assignment[:] = group_split[codes]
        got = np.bincount(assignment, minlength=4)
        for index, name in enumerate(SPLITS):
            if counts[index] and not 0.5 * counts[index] <= got[index] <= 1.5 * counts[index]:
                biggest = int(size.max())
                raise DataError(f"{where}: with whole groups of {dataset.group!r} (the largest has {biggest} rows) the "
                                f"{SPLITS[name]} split gets {got[index]} rows instead of about {counts[index]}; groups must never "
                                "straddle splits, so use a group column with smaller groups, or change the split")
    else:
        order = rng.permutation(rows)
        if declaration.classification and declaration.stratify:
            codes = pd.factorize(labels, sort=True)[0]
            order = order[np.argsort(codes[order], kind="stable")]
        assignment[order] = spread(counts)
    if declaration.classification:
        label_codes, classes = pd.factorize(labels, sort=True)
        table = np.zeros((len(classes), 4), dtype=np.int64)
        np.add.at(table, (label_codes, assignment), 1)
        for index, name in enumerate(SPLITS):
            lacking = [classes[c] for c in np.flatnonzero(table[:, index] == 0)] if counts[index] else []
            if lacking:
                label = lacking[0]
                raise DataError(f"{where}: the class {label!r} has {int(table[list(classes).index(label)].sum())} rows, too few to "
                                f"put some in each of train, Development test and Final test ({SPLITS[name]} gets none); "
                                "remove or merge that class, or make the test splits larger")
    return assignment


def check_leakage(features: pd.DataFrame, ids: pd.Series, assignment: np.ndarray, where: str) -> None:
    """No test row may have exactly the features of a training row: its label would be known."""
    hashes = pd.util.hash_pandas_object(features, index=False).to_numpy()
    train = hashes[assignment == 0]
    for index, name in ((1, "dev_test"), (2, "final_test")):
        rows = np.flatnonzero(assignment == index)
        seen = np.isin(hashes[rows], train)
        if seen.any():
            first = rows[np.flatnonzero(seen)[0]]
            twin = np.flatnonzero((hashes == hashes[first]) & (assignment == 0))[0]
            raise DataError(f"{where}: {int(seen.sum())} rows of the {SPLITS[name]} split have exactly the features of a training row "
                            f"(e.g. id {ids.iloc[first]!r} and {ids.iloc[twin]!r}), so their answers leak; drop duplicated rows from "
                            "the table (pandas: drop_duplicates(subset=features)) or give a GROUP column that keeps them together")


def warn_shared_ids(splits: dict[str, Split]) -> None:
    """Datasets whose test ids overlap cannot tell a submission's swapped prediction files apart."""
    names = list(splits)
    for _, test in PHASES.values():
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                shared = pd.Index(splits[first].frames[test].iloc[:, 0]).intersection(splits[second].frames[test].iloc[:, 0])
                if len(shared):
                    print(f"WARNING: datasets {first!r} and {second!r} share {len(shared)} ids in the {SPLITS[test]} split "
                          f"(e.g. {shared[0]!r}): a submission that swaps their prediction files would be scored; "
                          "give each dataset its own ids (or no ID column: made-up ids differ per dataset)", flush=True)
                    return


def split_dataset(declaration: Declaration, dataset: Dataset, table: pd.DataFrame, seed: int, where: str,
                  dropped: list[str] = ()) -> Split:
    if dataset.features is None:
        dataset = replace(dataset, features=infer_features(table, dataset, list(dropped), where))
    require_columns(table, dataset, where)
    labels, classes = target_labels(table, declaration, dataset, where)
    dataset = replace(dataset, classes=classes)
    features, categories = typed_features(table, dataset, where)
    ids = text_ids(table, dataset, where)
    groups = table[dataset.group] if dataset.group else None
    assignment = assign_splits(declaration, dataset, labels, groups, seed, where)
    missing = {name: float(features[name].isna().mean()) for name in features.columns}
    id_name = dataset.id or generated_id_name(table)
    shown_ids = ids if ids is not None else pd.Series(np.arange(len(table)).astype(str), index=table.index)
    check_leakage(features, shown_ids, assignment, where)
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
        frame.insert(0, id_name, split_ids)
        frame[dataset.target] = labels.iloc[rows].reset_index(drop=True)
        frames[name] = frame
    return Split(dataset, frames, categories, missing)


def generated_id_name(table: pd.DataFrame) -> str:
    name, number = "id", 1
    while name in table.columns:
        number += 1
        name = "row_id" if number == 2 else f"row_id_{number}"
    return name


# -- what the programs read about the data ---------------------------------------------------------
def dataset_entry(split: Split, folder: str, test: str) -> dict:
    dataset = split.dataset
    id_name = split.frames["train"].columns[0]
    return {
        "name": dataset.name, "folder": folder, "id": id_name, "target": dataset.target,
        "classes": list(dataset.classes),
        "features": [{"name": name, "kind": kind, **({"categories": split.categories[name]} if kind == "categorical" else {})}
                     for name, kind in dataset.features.items()],
        "rows": {"train": len(split.frames["train"]), "test": len(split.frames[test])},
    }


def task_description(settings: dict, metrics, entries: list[dict]) -> dict:
    """What the ingestion and scoring programs need to know about the data (task.json, dataset.json)."""
    return {"task_type": settings["task_type"], "prediction_format": metrics.prediction_format(settings),
            "submission_mode": settings["submission_mode"], "datasets": entries}


def model_inputs(frame: pd.DataFrame, entry: dict) -> tuple[pd.DataFrame, pd.Series | None]:
    """X and y exactly as the ingestion program hands them to a Model (tests check that they agree)."""
    names = [f["name"] for f in entry["features"]]
    X = frame[names].copy()
    for feature in entry["features"]:
        if feature["kind"] == "categorical":
            X[feature["name"]] = pd.Categorical(X[feature["name"]], categories=feature["categories"])
    if entry["target"] not in frame.columns:
        return X, None
    y = frame[entry["target"]].copy()
    if entry["classes"] and all(isinstance(c, int) for c in entry["classes"]):
        y = y.astype("int64")
    return X, y


# -- writing --------------------------------------------------------------------------------------
def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n", na_rep="").encode("utf-8")


def write_bytes(path: Path, data: bytes, written: dict[int, tuple[bytes, Path]]) -> None:
    """Write `data`; bytes already written (train.csv goes to four folders) become a hard link to the first file.

    `written` maps id(bytes) to (the bytes, kept alive so that the id stays theirs; the first file).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    first = written.get(id(data))
    if first and first[0] is data:
        try:
            os.link(first[1], path)
            return
        except OSError:  # a file system without hard links: write it again
            pass
    path.write_bytes(data)
    written[id(data)] = (data, path)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def build_manifest(data_dir: Path) -> dict:
    files = sorted(p for p in data_dir.rglob("*") if p.is_file() and p.name not in ("manifest.json", SUMMARY))
    digests: dict[tuple[int, int], str] = {}  # hard links to one file are read once
    manifest = {}
    for path in files:
        status = path.stat()
        key = (status.st_dev, status.st_ino)
        if key not in digests:
            digests[key] = sha256(path)
        manifest[path.relative_to(data_dir).as_posix()] = {"bytes": status.st_size, "sha256": digests[key]}
    return manifest


def check_no_leak(data_dir: Path, manifest: dict | None = None) -> None:
    """No reference file may be byte-identical to an input or public file, nor a test file carry the target."""
    manifest = manifest if manifest is not None else build_manifest(data_dir)
    exposed = {entry["sha256"]: name for name, entry in manifest.items() if "/reference_data/" not in name}
    for name, entry in manifest.items():
        if "/reference_data/" in name and name.endswith(".csv") and entry["sha256"] in exposed:
            raise LeakError(f"{name} is identical to {exposed[entry['sha256']]}: the answers would be visible")
    for phase in PHASES:
        info = json.loads((data_dir / phase / "reference_data" / "dataset.json").read_text(encoding="utf-8"))
        for entry in info["datasets"]:
            for kind in ("input_data", "public_data"):
                test = data_dir / phase / kind / entry["folder"] / "test.csv"
                if test.is_file() and entry["target"] in pd.read_csv(test, nrows=0).columns:
                    raise LeakError(f"{test.relative_to(data_dir)} has the target column {entry['target']!r}: "
                                    "test features must come without labels")


def write_phase_files(out: Path, splits: dict[str, Split], folders: dict[str, str], settings: dict, metrics) -> dict:
    """Every phase's input, reference and public files, and what the programs read about them; returns the task of each phase."""
    code = settings["submission_mode"] != "result"
    entries: dict[str, list[dict]] = {}
    written: dict[int, tuple[bytes, Path]] = {}
    for name, split in splits.items():
        folder, frames, target = folders[name], split.frames, split.dataset.target
        train = csv_bytes(frames["train"])
        for phase, (_, test) in PHASES.items():
            base = out / phase
            test_bytes = csv_bytes(frames[test].drop(columns=[target]))
            if code:
                write_bytes(base / "input_data" / folder / "train.csv", train, written)
                write_bytes(base / "input_data" / folder / "test.csv", test_bytes, written)
            write_bytes(base / "reference_data" / folder / "test_labels.csv",
                        csv_bytes(frames[test][[frames[test].columns[0], target]]), written)
            write_bytes(base / "public_data" / folder / "train.csv", train, written)
            if phase == "dev" or not code:  # result submissions need the test features to predict
                write_bytes(base / "public_data" / folder / "test.csv", test_bytes, written)
            entries.setdefault(phase, []).append(dataset_entry(split, folder, test))
    tasks = {}
    for phase, (phase_name, _) in PHASES.items():
        tasks[phase] = task_description(settings, metrics, entries[phase])
        task = json.dumps(tasks[phase], indent=2, ensure_ascii=False) + "\n"
        if code:
            write_text(out / phase / "input_data" / "task.json", task)
        write_text(out / phase / "public_data" / "task.json", task)
        info = json.dumps({"phase": phase_name, **tasks[phase]}, indent=2, ensure_ascii=False) + "\n"
        write_text(out / phase / "reference_data" / "dataset.json", info)
    return tasks


def summary(splits: dict[str, Split]) -> dict:
    """The figures the data page shows: rows per split, each column's kind and missing share, class balance."""
    result = []
    for name, split in splits.items():
        dataset = split.dataset
        frames = split.frames
        balance = {}
        if dataset.classes:
            for part, frame in frames.items():
                counts = frame[dataset.target].value_counts()
                balance[part] = [int(counts.get(label_text(c), 0)) for c in dataset.classes]
        result.append({
            "name": name, "id": frames["train"].columns[0], "id_generated": dataset.id is None, "target": dataset.target,
            "group": dataset.group, "source": dataset.source, "classes": list(dataset.classes),
            "rows": {part: len(frame) for part, frame in frames.items()},
            "features": [{"name": feature, "kind": kind, "missing": round(split.missing[feature], 4),
                          **({"categories": len(split.categories[feature])} if kind == "categorical" else {})}
                         for feature, kind in dataset.features.items()],
            "balance": balance,
        })
    return {"datasets": result}


# -- the baseline: its scores (shown beside a submission's) and the sample result submission -------
BASELINE_MODEL = "starting_kit/sample_code_submission/model.py"
BASELINE_SCORES = "baseline.json"  # in each phase's reference data; the scoring program reads it


def baseline(root: Path, out: Path, splits: dict[str, Split], tasks: dict[str, dict], settings: dict, metrics,
             progress=lambda message: None) -> None:
    """Train the kit's baseline once per dataset and score its predictions on each phase's test set as the
    scoring program does: the scores go into the reference data (`baseline.json`, shown on the detailed
    results page beside a submission's, never on the leaderboard), its Development predictions become the
    sample result submission, and, for result-only competitions, the failing submission is them one row short."""
    writer = load_program_module(root / "scoring_program", "predictions")
    model_module = load_program_module(root / "starting_kit" / "sample_code_submission", "model")
    fmt = tasks["dev"]["prediction_format"]
    chosen = metrics.leaderboard_metrics(settings)  # the ranking metric first
    scores: dict[str, dict[str, dict[str, float]]] = {phase: {} for phase in PHASES}
    for name, split in splits.items():
        started = time.monotonic()
        entries = {phase: next(e for e in tasks[phase]["datasets"] if e["name"] == name) for phase in PHASES}
        where = f"{BASELINE_MODEL} on the dataset {name}" if len(splits) > 1 else BASELINE_MODEL
        try:
            X_train, y_train = model_inputs(split.frames["train"], entries["dev"])
            model = model_module.Model()
            model.fit(X_train, y_train)
            texts = {}
            for phase, (_, test) in PHASES.items():
                entry, frame = entries[phase], split.frames[test]
                texts[phase] = writer.format_predictions(frame[entry["id"]].tolist(), model.predict(model_inputs(frame, entry)[0]),
                                                         fmt, entry["classes"], entry["target"], entry["id"])
        except Exception as exc:  # the organizer's own model: say which, why, and what it must return
            wants = writer.FORMAT_HELP[fmt].format(positive=entries["dev"]["classes"][1] if fmt == "probability" else "")
            raise DataError(f"the baseline {where} failed: {type(exc).__name__}: {exc}; its predict must return, per row, "
                            f"{wants} (the primary metric decides; see the starting kit's README)".replace("\n", " ")) from None
        for phase, (phase_name, _) in PHASES.items():
            entry = entries[phase]
            folder = out / "baseline" / phase / entry["folder"]
            write_text(folder / "predictions.csv", texts[phase])
            reference = writer.read_reference(out / "data" / phase / "reference_data" / entry["folder"], entry)
            try:
                predictions = writer.read_predictions(folder, reference, fmt)
            except Exception as exc:  # the scoring program's PredictionError (imported under its own module name)
                raise DataError(f"the scoring program refuses the predictions of {where} on {phase_name}: {exc}") from None
            for warning in predictions.warnings:
                print(f"WARNING: the baseline's predictions on {phase_name}: {warning}", file=sys.stderr)
            scores[phase][name] = {m.key: m.compute(reference.target, predictions.view(m.needs), reference.classes)
                                   for m in chosen}
        shown = ", ".join(f"{phase_name} {scores[phase][name][chosen[0].key]:.{chosen[0].precision}f}"
                          for phase, (phase_name, _) in PHASES.items())
        progress(f"  {name}: {chosen[0].title} {shown} ({time.monotonic() - started:.1f} s)")
    for phase in PHASES:
        record = {"model": BASELINE_MODEL, "datasets": scores[phase]}
        write_text(out / "data" / phase / "reference_data" / BASELINE_SCORES, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    if settings["submission_mode"] == "code":
        return
    for entry in tasks["dev"]["datasets"]:
        text = (out / "baseline" / "dev" / entry["folder"] / "predictions.csv").read_text(encoding="utf-8")
        write_text(out / "sample_result_submission" / entry["folder"] / "predictions.csv", text)
        if settings["submission_mode"] == "result":
            lines = text.splitlines()
            write_text(out / "failing_submission" / entry["folder"] / "predictions.csv", "\n".join(lines[:-1]) + "\n")
    if settings["submission_mode"] == "result":
        # The expected error is the scoring program's own message on the failing file, so the two never disagree.
        entry = tasks["dev"]["datasets"][0]
        shown = "/".join(filter(None, [entry["folder"], "predictions.csv"]))
        reference = writer.read_reference(out / "data" / "dev" / "reference_data" / entry["folder"], entry)
        try:
            writer.read_predictions(out / "failing_submission" / entry["folder"], reference, fmt, shown)
        except Exception as exc:  # the scoring program's PredictionError (imported under its own module name)
            if type(exc).__name__ != "PredictionError":
                raise
            write_text(out / "failing_submission" / "expected_error.txt", f"ERROR: {exc}\n")
        else:
            raise DataError("the failing sample submission was accepted by the scoring program; please report this bug")


# -- the whole run ----------------------------------------------------------------------------------
def apply_source(declaration: Declaration, root: Path, source: str, target: str | None, id_column: str | None,
                 group: str | None, dataset_name: str | None) -> tuple[Declaration, str]:
    """The declaration with one dataset's entry rewritten for a new table (kinds and classes left to inference)."""
    names = [d.name for d in declaration.datasets]
    name = dataset_name or names[0]
    if name not in names:
        raise DataError(f"DATASET={name} is not a dataset of {DECLARATION_FILE} ({', '.join(names)})")
    index = names.index(name)
    path = Path(source)
    resolved = path if path.is_absolute() else (Path.cwd() / path)
    try:
        source = resolved.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        source = str(resolved.resolve())
    current = declaration.datasets[index]
    new = Dataset(name, source, target or current.target, id=id_column, group=group)
    datasets = list(declaration.datasets)
    datasets[index] = new
    split = declaration.split
    if declaration.split_in_rows and all(d.source == decl.SYNTHETIC for d in declaration.datasets if d is not current):
        # The synthetic data's numbers of rows mean nothing for a real table: keep their proportions instead.
        total = sum(split.values())
        split = {name: round(size / total, 4) for name, size in split.items()}
    return replace(declaration, datasets=datasets, split=split), name


def auto_id(table: pd.DataFrame, dataset: Dataset) -> Dataset:
    """A column called id (any case) with unique values is taken as the id; said in the output."""
    for column in table.columns:
        if column.lower() == "id" and column not in (dataset.target, dataset.group) and table[column].notna().all() \
                and not table[column].duplicated().any():
            print(f"  using the column {column!r} as the id (pass ID=<column> to choose another)", flush=True)
            return replace(dataset, id=column)
    return dataset


def prepare(root: Path = ROOT, source: str | None = None, target: str | None = None, id_column: str | None = None,
            group: str | None = None, drop: list[str] = (), dataset_name: str | None = None,
            progress=lambda message: None) -> dict:
    """Check everything, write into a temporary folder, then put data/, the samples, data.yaml and the page in place."""
    settings = load_settings(root)
    metrics = load_program_module(root / "scoring_program", "metrics")
    declaration = decl.load(root, settings)
    rewritten = None
    if source:
        declaration, rewritten = apply_source(declaration, root, source, target, id_column, group, dataset_name)
    elif target or id_column or group or drop:
        raise DataError("TARGET, ID, GROUP and DROP go with SOURCE=path/to/table.csv; without SOURCE, edit data.yaml")
    folders = dataset_folders(settings)
    splits: dict[str, Split] = {}
    for number, dataset in enumerate(declaration.datasets):
        seed = declaration.seed + 1000 * number
        where = dataset.source if dataset.source.startswith(("sklearn:", "synthetic")) else Path(dataset.source).name
        where = f"{where} ({dataset.name})" if len(declaration.datasets) > 1 else where
        started = time.monotonic()
        progress(f"reading {dataset.source} ...")
        try:
            table = read_source(declaration, dataset, root, seed)
        except TableError as exc:
            raise DataError(str(exc)) from None
        progress(f"  {len(table):,} rows x {table.shape[1]} columns ({time.monotonic() - started:.1f} s)")
        if dataset.name == rewritten:
            if dataset.target not in table.columns:
                raise DataError(f"{where}: TARGET={dataset.target} is not a column of the table (columns: {shorten_list(table.columns, 12)})")
            if not dataset.id:
                dataset = auto_id(table, dataset)
        try:
            splits[dataset.name] = split_dataset(declaration, dataset, table, seed, where,
                                                 dropped=drop if dataset.name == rewritten else ())
        except (TableError, DeclarationError) as exc:
            raise DataError(str(exc)) from None
        split = splits[dataset.name]
        sizes = ", ".join(f"{SPLITS[s]} {len(f):,}" for s, f in split.frames.items())
        progress(f"  checked and split: {sizes} ({time.monotonic() - started:.1f} s)")
        del table
    completed = replace(declaration, datasets=[splits[d.name].dataset for d in declaration.datasets])
    warn_shared_ids(splits)

    staging = root / f".data.new-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        started = time.monotonic()
        progress("writing the phases' files ...")
        tasks = write_phase_files(staging / "data", splits, folders, settings, metrics)
        progress(f"  written ({time.monotonic() - started:.1f} s)")
        progress(f"training and scoring the baseline ({BASELINE_MODEL}) ...")
        baseline(root, staging, splits, tasks, settings, metrics, progress)
        files = build_manifest(staging / "data")
        check_no_leak(staging / "data", files)
        manifest = {"declaration_sha256": declaration_hash(completed), "files": files}
        write_text(staging / "data" / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        write_text(staging / "data" / SUMMARY, json.dumps(summary(splits), indent=2, ensure_ascii=False) + "\n")
        progress(f"  {len(manifest['files'])} files, with the baseline's scores in each phase's reference data")
        if completed != declaration or rewritten:  # before data/, so that make sees data/ as the newer
            write_text(root / DECLARATION_FILE, decl.dump(completed))
            progress(f"wrote {DECLARATION_FILE} (the declaration, completed from the table)")
        install(root, staging, settings)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    from sync import sync_data_page
    sync_data_page(root)
    return manifest


def install(root: Path, staging: Path, settings: dict) -> None:
    """Swap the new files in; the old data/ is removed only once the new one is in place."""
    data, old = root / "data", root / f".data.old-{os.getpid()}"
    if data.exists():
        data.rename(old)
    (staging / "data").rename(data)
    shutil.rmtree(old, ignore_errors=True)
    kit = root / "starting_kit"
    shutil.rmtree(kit / "sample_result_submission", ignore_errors=True)
    if (staging / "sample_result_submission").exists():
        (staging / "sample_result_submission").rename(kit / "sample_result_submission")
    if settings["submission_mode"] == "result" and (staging / "failing_submission").exists():
        for path in (kit / "failing_submission").rglob("predictions.csv"):
            path.unlink()
        for path in (staging / "failing_submission").rglob("*"):
            if path.is_file():
                target = kit / "failing_submission" / path.relative_to(staging / "failing_submission")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(path), target)


def check(root: Path) -> list[str]:
    """Differences between data/ and its manifest (a file edited, added or removed by hand, data.yaml changed)."""
    data_dir = root / "data"
    manifest_path = data_dir / "manifest.json"
    if not manifest_path.is_file():
        return [f"{manifest_path} is missing: run `make data`"]
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    expected = manifest["files"]
    actual = build_manifest(data_dir)
    problems = [f"data/{name} is missing" for name in expected if name not in actual]
    problems += [f"data/{name} is not in the manifest" for name in actual if name not in expected]
    problems += [f"data/{name} changed since `make data`" for name in expected if name in actual and actual[name] != expected[name]]
    try:
        declared = declaration_hash(decl.load(root, load_settings(root)))
    except DeclarationError as exc:
        return problems + [str(exc)]
    if declared != manifest.get("declaration_sha256"):
        problems.append(f"{DECLARATION_FILE} changed since `make data` wrote data/: run `make data`")
    return problems


def declaration_hash(declaration: Declaration) -> str:
    """What data.yaml says (comments and layout aside), so the manifest tells when data/ is behind it."""
    return hashlib.sha256(json.dumps(asdict(declaration), sort_keys=True).encode("utf-8")).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", help="a .csv or .parquet table to bring in (rewrites its dataset in data.yaml)")
    parser.add_argument("--target", help="with --source: the column to predict")
    parser.add_argument("--id", dest="id_column", help="with --source: the id column (default: a column named id, else generated)")
    parser.add_argument("--group", help="with --source: rows sharing this column's value stay in one split")
    parser.add_argument("--drop", default="", help="with --source: columns to leave out, comma-separated")
    parser.add_argument("--dataset", help="with --source: which dataset of data.yaml (default: the first)")
    parser.add_argument("--check", action="store_true", help="verify data/ against its manifest, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(ROOT)
        for problem in problems:
            print(f"ERROR: {problem}", file=sys.stderr)
        if not problems:
            print("data/ matches data/manifest.json")
        return 1 if problems else 0
    started = time.monotonic()
    try:
        manifest = prepare(ROOT, args.source, args.target, args.id_column, args.group,
                           [name.strip() for name in args.drop.split(",") if name.strip()], args.dataset,
                           progress=lambda message: print(message, flush=True))
    except (DataError, DeclarationError, LeakError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    total = sum(entry["bytes"] for entry in manifest["files"].values())
    print(f"Wrote data/ ({len(manifest['files'])} files, {human(total)}) and pages/data.md in {time.monotonic() - started:.1f} s")
    for folder in sorted({"/".join(name.split("/")[:2]) for name in manifest["files"] if name.count("/") >= 2}):
        size = sum(e["bytes"] for name, e in manifest["files"].items() if name.startswith(folder + "/"))
        if size > LARGE_DATA:
            print(f"WARNING: data/{folder} is {human(size)}: Codabench uploads it with every bundle and it counts toward "
                  "your 15 GB quota; consider fewer rows (fractions below 1 in data.yaml's split)")
    if (ROOT / "starting_kit" / "sample_result_submission").exists():
        print("  sample result submission: starting_kit/sample_result_submission")
    return 0


if __name__ == "__main__":
    sys.exit(main())
