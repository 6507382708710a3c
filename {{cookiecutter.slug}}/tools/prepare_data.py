"""Write every phase's data from a fixed seed: input, reference and public data.

    python tools/prepare_data.py            # writes data/ and the sample result submission
    python tools/prepare_data.py --check    # verifies data/ against data/manifest.json

What to write follows scoring_program/settings.json (task type, datasets, submission mode).
Layout, per phase (paths referenced by competition.yaml); with several datasets each one has
its own sub-folder `<dataset>/` under input, reference and public data:
    data/<phase>/input_data/      train.csv (with target), test.csv (no target), task.json -> ingestion
    data/<phase>/reference_data/  test_labels.csv, dataset.json                               -> scoring only
    data/<phase>/public_data/     what participants may download
    data/manifest.json            size and sha256 of every file
The same seed always gives the same bytes. Reference files must never appear in input or
public data; the script refuses to finish if one does.

Replace `make_dataset` to use your own data: keep the file names and columns, or update the
ingestion and scoring programs to match.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import make_classification, make_regression

from bundle import ROOT, load_program_module

SEED = 20270104
N_FEATURES = 20
N_CLASSES = {"binary_classification": 2, "multiclass_classification": 3}
SIZES = {"train": 800, "dev_test": 400, "final_test": 400}
PHASES = {"dev": ("Development", "dev_test"), "final": ("Final", "final_test")}


class LeakError(Exception):
    pass


def load_settings(root: Path) -> dict:
    return json.loads((root / "scoring_program" / "settings.json").read_text(encoding="utf-8"))


def make_dataset(task_type: str, seed: int) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
    """Split one synthetic problem into train, dev test and final test."""
    n_total = sum(SIZES.values())
    if task_type == "regression":
        X, y = make_regression(n_samples=n_total, n_features=N_FEATURES, n_informative=10, noise=25.0, random_state=seed)
    else:
        X, y = make_classification(
            n_samples=n_total, n_features=N_FEATURES, n_informative=8, n_redundant=4, n_classes=N_CLASSES[task_type],
            n_clusters_per_class=1, flip_y=0.03, class_sep=0.8, random_state=seed,
        )
    order = np.random.RandomState(seed).permutation(n_total)
    splits, start = {}, 0
    for name, size in SIZES.items():
        rows = order[start : start + size]
        start += size
        prefix = {"train": "tr", "dev_test": "dv", "final_test": "fn"}[name]
        ids = [f"{prefix}{i:05d}" for i in range(size)]
        splits[name] = (ids, X[rows], y[rows])
    return splits


def csv_text(header: list[str], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def target_text(value: float, task_type: str) -> str:
    return f"{value:.6f}" if task_type == "regression" else str(int(value))


def features_csv(ids: list[str], X: np.ndarray, y: np.ndarray | None = None, task_type: str = "") -> str:
    header = ["id"] + [f"f{j:02d}" for j in range(X.shape[1])] + (["target"] if y is not None else [])
    rows = []
    for i, row_id in enumerate(ids):
        rows.append([row_id] + [f"{v:.6f}" for v in X[i]] + ([target_text(y[i], task_type)] if y is not None else []))
    return csv_text(header, rows)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_manifest(data_dir: Path) -> dict:
    files = sorted(p for p in data_dir.rglob("*") if p.is_file() and p.name != "manifest.json")
    return {p.relative_to(data_dir).as_posix(): {"bytes": p.stat().st_size, "sha256": sha256(p)} for p in files}


def check_no_leak(data_dir: Path) -> None:
    """No reference file may be byte-identical to an input or public file, nor expose the target."""
    manifest = build_manifest(data_dir)
    exposed = {entry["sha256"]: name for name, entry in manifest.items() if "/reference_data/" not in name}
    for name, entry in manifest.items():
        if "/reference_data/" in name and name.endswith(".csv") and entry["sha256"] in exposed:
            raise LeakError(f"{name} is identical to {exposed[entry['sha256']]}: the answers would be visible")
    for name in manifest:
        if name.endswith("test.csv") and "/reference_data/" not in name:
            header = (data_dir / name).read_text(encoding="utf-8").splitlines()[0].split(",")
            if "target" in header:
                raise LeakError(f"{name} has a target column: test features must come without labels")


def dataset_folders(settings: dict) -> dict[str, str]:
    """Dataset name -> sub-folder; a single dataset sits at the top of each data folder."""
    names = settings["datasets"]
    return {names[0]: ""} if len(names) == 1 else {name: name for name in names}


def task_description(settings: dict, metrics) -> dict:
    """What the ingestion and scoring programs need to know about the data (task.json, dataset.json)."""
    return {
        "task_type": settings["task_type"],
        "prediction_format": metrics.prediction_format(settings),
        "classes": list(range(N_CLASSES[settings["task_type"]])) if settings["task_type"] in N_CLASSES else [],
        "submission_mode": settings["submission_mode"],
        "datasets": [{"name": name, "folder": folder} for name, folder in dataset_folders(settings).items()],
    }


def prepare(root: Path, seed: int = SEED) -> dict:
    settings = load_settings(root)
    metrics = load_program_module(root / "scoring_program", "metrics")
    task = task_description(settings, metrics)
    code = settings["submission_mode"] != "result"
    data_dir = root / "data"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    for number, (name, folder) in enumerate(dataset_folders(settings).items()):
        splits = make_dataset(settings["task_type"], seed + 1000 * number)
        train_ids, X_train, y_train = splits["train"]
        train_text = features_csv(train_ids, X_train, y_train, settings["task_type"])
        for phase, (phase_name, test_split) in PHASES.items():
            ids, X_test, y_test = splits[test_split]
            base = data_dir / phase
            test_text = features_csv(ids, X_test)
            if code:
                write(base / "input_data" / folder / "train.csv", train_text)
                write(base / "input_data" / folder / "test.csv", test_text)
            labels = [[i, target_text(t, settings["task_type"])] for i, t in zip(ids, y_test)]
            write(base / "reference_data" / folder / "test_labels.csv", csv_text(["id", "target"], labels))
            write(base / "public_data" / folder / "train.csv", train_text)
            if phase == "dev" or not code:  # result submissions need the test features to predict
                write(base / "public_data" / folder / "test.csv", test_text)
    for phase, (phase_name, _) in PHASES.items():
        if code:
            write(data_dir / phase / "input_data" / "task.json", json.dumps(task, indent=2) + "\n")
        write(data_dir / phase / "public_data" / "task.json", json.dumps(task, indent=2) + "\n")
        write(data_dir / phase / "reference_data" / "dataset.json", json.dumps({"phase": phase_name, **task}, indent=2) + "\n")
    check_no_leak(data_dir)
    manifest = {"seed": seed, "files": build_manifest(data_dir)}
    write(data_dir / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_features(path: Path) -> tuple[list[str], np.ndarray]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    return [row[0] for row in rows], np.array([[float(v) for v in row[1:]] for row in rows])


def write_sample_result(root: Path, data_dir: Path) -> Path | None:
    """Predictions of the baseline on the development test set(s): a valid result submission.

    Result-only competitions also get a failing one: the same predictions, one row short.
    """
    settings = load_settings(root)
    if settings["submission_mode"] == "code":
        return None  # result submissions are refused
    metrics = load_program_module(root / "scoring_program", "metrics")
    writer = load_program_module(root / "scoring_program", "predictions")
    model_module = load_program_module(root / "starting_kit" / "sample_code_submission", "model")
    target = root / "starting_kit" / "sample_result_submission"
    if target.exists():
        shutil.rmtree(target)
    public = data_dir / "dev" / "public_data"
    for folder in dataset_folders(settings).values():
        _, train = read_features(public / folder / "train.csv")
        ids, X_test = read_features(public / folder / "test.csv")
        y_train = train[:, -1] if settings["task_type"] == "regression" else train[:, -1].astype(int)
        model = model_module.Model()
        model.fit(train[:, :-1], y_train)
        text = writer.format_predictions(ids, np.asarray(model.predict(X_test)), metrics.prediction_format(settings),
                                         task_description(settings, metrics)["classes"])
        write(target / folder / "predictions.csv", text)
        if settings["submission_mode"] == "result":
            failing = root / "starting_kit" / "failing_submission" / folder / "predictions.csv"
            write(failing, "\n".join(text.splitlines()[:-1]) + "\n")
    return target


def check(root: Path) -> list[str]:
    """Differences between data/ and its manifest (a file edited, added or removed by hand)."""
    data_dir = root / "data"
    manifest_path = data_dir / "manifest.json"
    if not manifest_path.is_file():
        return [f"{manifest_path} is missing: run `make data`"]
    expected = json.loads(manifest_path.read_text(encoding="utf-8"))["files"]
    actual = build_manifest(data_dir)
    problems = [f"data/{name} is missing" for name in expected if name not in actual]
    problems += [f"data/{name} is not in the manifest" for name in actual if name not in expected]
    problems += [f"data/{name} changed since `make data`" for name in expected if name in actual and actual[name] != expected[name]]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=SEED, help="random seed (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="verify data/ against its manifest, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(ROOT)
        for problem in problems:
            print(f"ERROR: {problem}", file=sys.stderr)
        if not problems:
            print("data/ matches data/manifest.json")
        return 1 if problems else 0
    settings = load_settings(ROOT)
    print(f"Writing {settings['task_type']} data for {len(PHASES)} phases x {len(settings['datasets'])} dataset(s), "
          f"seed {args.seed} ...", flush=True)
    try:
        manifest = prepare(ROOT, args.seed)
    except LeakError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    total = sum(entry["bytes"] for entry in manifest["files"].values())
    print(f"  {len(manifest['files'])} files, {total / 1024:.0f} KiB, manifest: data/manifest.json")
    sample = write_sample_result(ROOT, ROOT / "data")
    if sample:
        print(f"  sample result submission: {sample.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
