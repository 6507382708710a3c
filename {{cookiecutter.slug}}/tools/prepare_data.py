"""Write every phase's data from data.yaml: input, reference and public data, sample submissions.

    make data                                               # follow data.yaml
    make data SOURCE=table.csv TARGET=label [ID=id] [GROUP=patient] [DROP=name,notes] [DATASET=ds2]
              [NA_VALUES='?,n/a'] [MISSING_TARGET=error]
    python tools/prepare_data.py --check                    # data/ against data/manifest.json

data.yaml declares the data once (see its comments). With SOURCE, the dataset's entry is
rewritten from the table (columns, kinds and classes inferred) before the files are written.
Each dataset is read (tools/tables.py), checked and split (tools/split_table.py, tools/splits.py),
and what was done to it ends in a data report (tools/data_report.py), printed at the end and kept
in data/summary.json.
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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

import declaration as decl
from bundle import ROOT, load_program_module
from declaration import FILE as DECLARATION_FILE
from declaration import MISSING_TARGET, SPLITS, Dataset, Declaration, DeclarationError
from file_rules import LARGE_DATA, human, sha256
from split_table import DataError, Split, split_dataset
from tables import TableError, columns_named, is_id_name, label_text, read_source, shorten_list

PHASES = {"dev": ("Development", "dev_test"), "final": ("Final", "final_test")}
SUMMARY = "summary.json"


class LeakError(Exception):
    pass


def load_settings(root: Path) -> dict:
    return json.loads((root / "scoring_program" / "settings.json").read_text(encoding="utf-8"))


def dataset_folders(settings: dict) -> dict[str, str]:
    """Dataset name -> sub-folder; a single dataset sits at the top of each data folder."""
    names = settings["datasets"]
    return {names[0]: ""} if len(names) == 1 else {name: name for name in names}


def warn_shared_ids(splits: dict[str, Split]) -> None:
    """Datasets whose test ids overlap cannot tell a submission's swapped prediction files apart."""
    names = list(splits)
    for _, test in PHASES.values():
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                shared = pd.Index(splits[first].frames[test].iloc[:, 0]).intersection(splits[second].frames[test].iloc[:, 0])
                if len(shared):
                    splits[first].report.warnings.append(
                        f"datasets {first!r} and {second!r} share {len(shared)} ids in the {SPLITS[test]} split "
                        f"(e.g. {shared[0]!r}): a submission that swaps their prediction files would be scored; "
                        "give each dataset its own ids (or no ID column: made-up ids differ per dataset)")
                    return


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
    numeric = [f["name"] for f in entry["features"] if f["kind"] == "numeric"]
    categorical = {f["name"]: pd.Categorical(frame[f["name"]], categories=f["categories"])
                   for f in entry["features"] if f["kind"] == "categorical"}
    # the numeric columns as one block: a table may have thousands
    X = frame[numeric].astype("float64")
    if categorical:
        X = pd.concat([X, pd.DataFrame(categorical, index=frame.index)], axis=1)[names]
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
            "descriptions": dataset.descriptions,  # those of its columns and classes (split_table.described)
            "report": split.report.as_dict(),
        })
    return {"datasets": result}


# -- the baseline: its scores (shown beside a submission's) and the sample result submission -------
BASELINE_MODEL = "starting_kit/sample_code_submission/model.py"
BASELINE_SCORES = "baseline.json"  # in each phase's reference data; the scoring program reads it
# What the baseline's scores are computed from besides the data (which the manifest covers): recorded in
# baseline.json, checked by `check` (make test, validate and bundle); the Makefile lists the same files.
BASELINE_INPUTS = {
    "baseline": ("starting_kit/sample_code_submission",),
    "metric": ("scoring_program/metrics.py", "scoring_program/predictions.py", "scoring_program/settings.json"),
}


def inputs_digest(root: Path, places: tuple[str, ...]) -> str:
    """One sha256 over files and folders (names and bytes; Python's caches aside)."""
    digest = hashlib.sha256()
    for place in places:
        found = [root / place] if (root / place).is_file() else sorted((root / place).rglob("*"))
        for path in found:
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0" + sha256(path).encode("ascii"))
    return digest.hexdigest()


def computed_from(root: Path) -> dict[str, str]:
    return {name: inputs_digest(root, places) for name, places in BASELINE_INPUTS.items()}


def stale_baseline(root: Path, data_dir: Path) -> list[str]:
    """The baseline's scores computed from another baseline or metric than the bundle's now (the first phase that is:
    one command mends all)."""
    now = computed_from(root)
    for phase in PHASES:
        path = data_dir / phase / "reference_data" / BASELINE_SCORES
        try:
            recorded = json.loads(path.read_text(encoding="utf-8")).get("computed_from", {})
        except (OSError, ValueError, AttributeError):
            continue  # a missing or edited file is the manifest's finding
        changed = [" and ".join(BASELINE_INPUTS[name]) for name in BASELINE_INPUTS if recorded.get(name) != now[name]]
        if changed:
            return [f"data/{phase}/reference_data/{BASELINE_SCORES} holds the baseline's scores computed before "
                    f"{'; '.join(changed)} changed: run `make data` to compute them again"]
    return []


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
                split.report.warnings.append(f"the baseline's predictions on {phase_name}: {warning}")
            scores[phase][name] = {m.key: m.compute(reference.target, predictions.view(m.needs), reference.classes)
                                   for m in chosen}
        shown = ", ".join(f"{phase_name} {scores[phase][name][chosen[0].key]:.{chosen[0].precision}f}"
                          for phase, (phase_name, _) in PHASES.items())
        progress(f"  {name}: {chosen[0].title} {shown} ({time.monotonic() - started:.1f} s)")
    for phase in PHASES:
        record = json.dumps({"model": BASELINE_MODEL, "datasets": scores[phase], "computed_from": computed_from(root)},
                            indent=2, ensure_ascii=False) + "\n"
        write_text(out / "data" / phase / "reference_data" / BASELINE_SCORES, record)
        if phase == "dev":  # participants see where a local score stands; the Final phase's scores stay hidden
            public = {"model": BASELINE_MODEL, "phase": "Development", "datasets": scores[phase]}
            write_text(out / "data" / phase / "public_data" / BASELINE_SCORES, json.dumps(public, indent=2, ensure_ascii=False) + "\n")
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
@dataclass
class SourceOptions:
    """What `make data SOURCE=...` says about a new table (None: not given)."""

    source: str
    target: str | None = None
    id: str | None = None
    group: str | None = None
    drop: list[str] = field(default_factory=list)
    na_values: list[str] | None = None
    missing_target: str | None = None
    dataset: str | None = None


def source_path(root: Path, source: str) -> str:
    """SOURCE as data.yaml keeps it: relative to the bundle when it can be (so a clone elsewhere finds it), else absolute."""
    resolved = (Path(source) if Path(source).is_absolute() else Path.cwd() / source).resolve()
    if resolved.is_relative_to((root / "data").resolve()):
        raise DataError(f"SOURCE={source} is inside the bundle's data/ folder, which make data replaces with what it "
                        "writes; keep your table outside data/ (e.g. in private/, which git ignores and no zip holds)")
    try:
        return Path(os.path.relpath(resolved, root.resolve())).as_posix()
    except ValueError:  # another drive
        return resolved.as_posix()


def apply_source(declaration: Declaration, root: Path, given: SourceOptions) -> tuple[Declaration, str]:
    """The declaration with one dataset's entry rewritten for a new table (kinds and classes left to inference)."""
    names = [d.name for d in declaration.datasets]
    name = given.dataset or names[0]
    if name not in names:
        raise DataError(f"DATASET={name} is not a dataset of {DECLARATION_FILE} ({', '.join(names)})")
    index = names.index(name)
    for role, value in (("ID", given.id), ("GROUP", given.group)):
        if value is not None and value == given.target:
            raise DataError(f"{role}={value} is also the TARGET; the {role.lower()} column must be another column "
                            f"(or leave {role} out)")
    if given.id is not None and given.id == given.group:
        raise DataError(f"ID and GROUP are both {given.id!r}; a group holds several rows, an id one: give each its own column")
    current = declaration.datasets[index]
    new = Dataset(name, source_path(root, given.source), given.target or current.target, id=given.id, group=given.group,
                  na_values=given.na_values if given.na_values is not None else [],
                  missing_target=given.missing_target or "leave_out", descriptions=current.descriptions)
    datasets = list(declaration.datasets)
    datasets[index] = new
    split = declaration.split
    if declaration.split_in_rows and all(d.source == decl.SYNTHETIC for d in declaration.datasets if d is not current):
        # The synthetic data's numbers of rows mean nothing for a real table: keep their proportions instead
        # (synthetic datasets beside it then have tables.SYNTHETIC_ROWS rows, split in the same proportions).
        total = sum(split.values())
        split = {name: round(size / total, 4) for name, size in split.items()}
    return replace(declaration, datasets=datasets, split=split), name


def auto_id(table: pd.DataFrame, dataset: Dataset) -> Dataset:
    """A column called id (any case) with unique values is taken as the id; said in the output."""
    for column in table.columns:
        if is_id_name(column) and column not in (dataset.target, dataset.group) and table[column].notna().all() \
                and not table[column].duplicated().any():
            print(f"  using the column {column!r} as the id (pass ID=<column> to choose another)", flush=True)
            return replace(dataset, id=column)
    return dataset


def prepare(root: Path = ROOT, given: SourceOptions | None = None, progress=lambda message: None) -> dict:
    """Check everything, write into a temporary folder, then put data/, the samples, data.yaml and the page in place."""
    settings = load_settings(root)
    metrics = load_program_module(root / "scoring_program", "metrics")
    declaration = decl.load(root, settings)
    from sync import check_data_page, sync_data_page
    try:
        check_data_page(root)
    except ValueError as exc:
        raise DataError(f"{exc}; restore those marker lines (the bundle's template has them), then run make data again") from None
    rewritten = None
    if given is not None:
        declaration, rewritten = apply_source(declaration, root, given)
    drop = given.drop if given is not None else []
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
                said = f"TARGET={dataset.target} is" if given.target else \
                    f"no TARGET was given, and the current target {dataset.target!r} is"
                raise DataError(f"{where}: {said} not a column of the table ({columns_named(dataset.target, table.columns, 12)}); "
                                "pass TARGET=<column>")
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
        if completed != declaration or rewritten:
            write_text(root / DECLARATION_FILE, decl.dump(completed))
            progress(f"wrote {DECLARATION_FILE} (the declaration, completed from the table)")
        install(root, staging, settings)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    sync_data_page(root)
    os.utime(root / "data" / "manifest.json")  # last: make compares it with data.yaml and the baseline's inputs
    progress("")
    progress("data report (also in data/summary.json):")
    for split in splits.values():
        for line in split.report.lines():
            progress("  " + line)
    warnings = [w for split in splits.values() for w in split.report.warnings]
    if warnings:
        leaks = sum(w.startswith("target leakage suspect") for w in warnings)
        progress(f"{len(warnings)} warning{'s' * (len(warnings) > 1)} in the report above"
                 + (f", {leaks} of them target leakage" if leaks else "") + ": read them before you publish")
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
    return problems + stale_baseline(root, data_dir)


def declaration_hash(declaration: Declaration) -> str:
    """What data.yaml says (comments and layout aside), so the manifest tells when data/ is behind it."""
    return hashlib.sha256(json.dumps(asdict(declaration), sort_keys=True).encode("utf-8")).hexdigest()


def listed(text: str | None) -> list[str] | None:
    return None if text is None else [part.strip() for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", help="a .csv or .parquet table to bring in (rewrites its dataset in data.yaml)")
    parser.add_argument("--target", help="with --source: the column to predict")
    parser.add_argument("--id", dest="id_column", help="with --source: the id column (default: a column named id, else generated)")
    parser.add_argument("--group", help="with --source: rows sharing this column's value stay in one split")
    parser.add_argument("--drop", help="with --source: columns to leave out, comma-separated")
    parser.add_argument("--na-values", help="with --source: cell texts that mean a missing value besides an empty cell, "
                                            "comma-separated (e.g. '?,n/a'); any other text is kept as written")
    parser.add_argument("--missing-target", help="with --source: rows with no target are left out (leave_out, the "
                                                 "default) or refused (error)")
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
    if args.missing_target is not None and args.missing_target not in MISSING_TARGET:
        print(f"ERROR: MISSING_TARGET={args.missing_target} is not one of {', '.join(MISSING_TARGET)}: leave_out (the "
              "default) leaves rows with no target out of every split, error refuses the table", file=sys.stderr)
        return 1
    options = [args.target, args.id_column, args.group, args.drop, args.na_values, args.missing_target, args.dataset]
    if not args.source and any(value is not None for value in options):
        print("ERROR: TARGET, ID, GROUP, DROP, NA_VALUES, MISSING_TARGET and DATASET go with SOURCE=path/to/table.csv; "
              f"without SOURCE, edit {DECLARATION_FILE}", file=sys.stderr)
        return 1
    given = SourceOptions(args.source, args.target, args.id_column, args.group, listed(args.drop) or [],
                          listed(args.na_values), args.missing_target, args.dataset) if args.source else None
    started = time.monotonic()
    try:
        manifest = prepare(ROOT, given, progress=lambda message: print(message, flush=True))
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
