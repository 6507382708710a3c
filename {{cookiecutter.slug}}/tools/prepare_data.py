"""Write every phase's data from a fixed seed: input, reference and public data.

    python tools/prepare_data.py            # writes data/ and the sample result submission
    python tools/prepare_data.py --check    # verifies data/ against data/manifest.json

Layout (paths referenced by competition.yaml):
    data/<phase>/input_data/      train.csv (with target), test.csv (no target)  -> ingestion
    data/<phase>/reference_data/  test_labels.csv, dataset.json                  -> scoring only
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
from sklearn.datasets import make_classification

from bundle import ROOT, load_program_module

SEED = 20270104
N_FEATURES = 20
SIZES = {"train": 800, "dev_test": 400, "final_test": 400}
PHASES = {"dev": ("Development", "dev_test"), "final": ("Final", "final_test")}


class LeakError(Exception):
    pass


def make_dataset(seed: int) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
    """Split one synthetic binary classification problem into train, dev test and final test."""
    n_total = sum(SIZES.values())
    X, y = make_classification(
        n_samples=n_total, n_features=N_FEATURES, n_informative=8, n_redundant=4,
        flip_y=0.03, class_sep=0.8, random_state=seed,
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


def features_csv(ids: list[str], X: np.ndarray, y: np.ndarray | None = None) -> str:
    header = ["id"] + [f"f{j:02d}" for j in range(X.shape[1])] + (["target"] if y is not None else [])
    rows = []
    for i, row_id in enumerate(ids):
        rows.append([row_id] + [f"{v:.6f}" for v in X[i]] + ([int(y[i])] if y is not None else []))
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
        if "/reference_data/" in name and entry["sha256"] in exposed:
            raise LeakError(f"{name} is identical to {exposed[entry['sha256']]}: the answers would be visible")
    for name in manifest:
        if name.endswith("test.csv") and "/reference_data/" not in name:
            header = (data_dir / name).read_text(encoding="utf-8").splitlines()[0].split(",")
            if "target" in header:
                raise LeakError(f"{name} has a target column: test features must come without labels")


def write_sample_result(root: Path, data_dir: Path) -> Path:
    """Predictions of the baseline on the development test set: a valid result submission."""
    model_module = load_program_module(root / "starting_kit" / "sample_code_submission", "model")
    train = np.loadtxt(data_dir / "dev" / "input_data" / "train.csv", delimiter=",", skiprows=1, usecols=range(1, N_FEATURES + 2))
    test_path = data_dir / "dev" / "input_data" / "test.csv"
    X_test = np.loadtxt(test_path, delimiter=",", skiprows=1, usecols=range(1, N_FEATURES + 1))
    ids = [line.split(",", 1)[0] for line in test_path.read_text(encoding="utf-8").splitlines()[1:]]
    model = model_module.Model().fit(train[:, :-1], train[:, -1].astype(int))
    probabilities = model.predict(X_test)
    target = root / "starting_kit" / "sample_result_submission" / "predictions.csv"
    write(target, csv_text(["id", "probability"], [[i, f"{p:.10g}"] for i, p in zip(ids, probabilities)]))
    return target


def prepare(root: Path, seed: int = SEED) -> dict:
    data_dir = root / "data"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    splits = make_dataset(seed)
    train_ids, X_train, y_train = splits["train"]
    for phase, (phase_name, test_split) in PHASES.items():
        ids, X_test, y_test = splits[test_split]
        folder = data_dir / phase
        write(folder / "input_data" / "train.csv", features_csv(train_ids, X_train, y_train))
        write(folder / "input_data" / "test.csv", features_csv(ids, X_test))
        write(folder / "reference_data" / "test_labels.csv", csv_text(["id", "target"], [[i, int(t)] for i, t in zip(ids, y_test)]))
        write(folder / "reference_data" / "dataset.json", json.dumps({"phase": phase_name, "rows": len(ids)}) + "\n")
        write(folder / "public_data" / "train.csv", features_csv(train_ids, X_train, y_train))
        if phase == "dev":  # dev test features are public so participants can try result submissions
            write(folder / "public_data" / "test.csv", features_csv(ids, X_test))
    check_no_leak(data_dir)
    manifest = {"seed": seed, "files": build_manifest(data_dir)}
    write(data_dir / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


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
    print(f"Writing data for {len(PHASES)} phases with seed {args.seed} ...", flush=True)
    try:
        manifest = prepare(ROOT, args.seed)
    except LeakError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    total = sum(entry["bytes"] for entry in manifest["files"].values())
    print(f"  {len(manifest['files'])} files, {total / 1024:.0f} KiB, manifest: data/manifest.json")
    sample = write_sample_result(ROOT, ROOT / "data")
    print(f"  sample result submission: {sample.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
