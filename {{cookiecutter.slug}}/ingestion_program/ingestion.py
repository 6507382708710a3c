"""Ingestion program: train the participant's model and write its predictions.

On Codabench it runs in the prediction step with the phase's input data at /app/input_data,
the participant's submission at /app/ingested_program and the output at /app/output (see
metadata.yaml). Locally, pass other folders with the same options:

    python3 ingestion.py --input-data DATA_DIR --submission SUBMISSION_DIR --output OUT_DIR

A code submission has `model.py` with a class `Model` providing `fit(X, y)` and `predict(X)`.
What `predict` returns is set by the phase's `task.json` (written by tools/prepare_data.py):
the probability of label 1 per row ("probability"), one probability per class per row
("probabilities"), a class per row ("label") or a number per row ("value"). With several
datasets, a fresh Model is trained and asked for predictions on each. When the competition
accepts results too, a submission with `predictions.csv` instead is passed through unchanged
for the scoring program to check.

Any problem with the submission ends with one line on stderr starting with "ERROR:" and exit
code 1. Codabench ignores the ingestion exit code, so the same message is also written to
`ingestion_result.json`, where the scoring program finds it and shows it to the participant.
Never write a file named `metadata` to the output: the compute worker refuses to run then.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

MODEL_FILE = "model.py"
PREDICTIONS_FILE = "predictions.csv"
RESULT_FILE = "ingestion_result.json"
TASK_FILE = "task.json"  # written by tools/prepare_data.py


class SubmissionError(Exception):
    """The submission cannot be run; the message is written for the participant."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-data", type=Path, default=Path("/app/input_data"), help="phase input data")
    parser.add_argument("--submission", type=Path, default=Path("/app/ingested_program"), help="submission files")
    parser.add_argument("--output", type=Path, default=Path("/app/output"), help="where predictions go")
    return parser.parse_args(argv)


def read_table(path: Path) -> tuple[list[str], np.ndarray]:
    """Read a CSV written by tools/prepare_data.py: the ids and a float matrix of the other columns."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    return [row[0] for row in rows], np.array([[float(v) for v in row[1:]] for row in rows], dtype=float)


def write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def find_submission_kind(submission: Path, task: dict) -> str:
    """Return "code" or "result", or explain what is missing or not accepted."""
    result_file = Path(task["datasets"][0]["folder"]) / PREDICTIONS_FILE
    if (submission / MODEL_FILE).is_file():
        return "code"
    if task["submission_mode"] == "code" and any(submission.rglob(PREDICTIONS_FILE)):
        raise SubmissionError(f"this competition takes code submissions: a zip with {MODEL_FILE} at its root, "
                              f"not {PREDICTIONS_FILE}")
    if (submission / result_file).is_file():
        return "result"
    entries = sorted(p.name for p in submission.iterdir()) if submission.is_dir() else []
    folders = [name for name in entries if (submission / name).is_dir() and not name.startswith(("__", "."))]
    if len(folders) == 1 and ((submission / folders[0] / MODEL_FILE).exists() or (submission / folders[0] / result_file).exists()):
        raise SubmissionError(
            f"your zip wraps everything in the folder {folders[0]!r}; zip the files themselves so that "
            f"{MODEL_FILE} (or {result_file}) is at the root of the zip"
        )
    wanted = MODEL_FILE if task["submission_mode"] == "code" else f"{MODEL_FILE} (code) or {result_file} (results)"
    raise SubmissionError(f"the submission has no {wanted} at its root (found: {', '.join(entries) or 'nothing'})")


def load_model_class(submission: Path) -> type:
    """Import model.py from the submission and return its Model class."""
    sys.path.insert(0, str(submission))  # let model.py import its own helper modules
    spec = importlib.util.spec_from_file_location("model", submission / MODEL_FILE)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        traceback.print_exc()
        raise SubmissionError(f"{MODEL_FILE} could not be imported: {type(exc).__name__}: {exc}") from None
    model_class = getattr(module, "Model", None)
    if not isinstance(model_class, type):
        raise SubmissionError(f"{MODEL_FILE} must define a class named Model (with fit and predict methods)")
    missing = [name for name in ("fit", "predict") if not callable(getattr(model_class, name, None))]
    if missing:
        raise SubmissionError(f"class Model in {MODEL_FILE} has no method {' or '.join(missing)}; define fit(X, y) and predict(X)")
    return model_class


def call_participant(what: str, function, *args):
    """Run participant code; turn any exception into a one-line SubmissionError (traceback kept above it)."""
    try:
        return function(*args)
    except (Exception, SystemExit) as exc:  # sys.exit() in participant code must not end ingestion silently
        traceback.print_exc()
        raise SubmissionError(f"{what} raised {type(exc).__name__}: {exc}") from None


def check_predictions(raw: object, n_rows: int, task: dict) -> np.ndarray:
    """Check what Model.predict returned against what the scoring program expects."""
    fmt, classes = task["prediction_format"], task["classes"]
    try:
        values = np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        raise SubmissionError(f"Model.predict must return numbers, got {type(raw).__name__}") from None
    if fmt == "probability" and values.ndim == 2 and values.shape[1] == 2:
        raise SubmissionError("Model.predict returned two columns (like predict_proba); "
                              "return only the probability of label 1, e.g. proba[:, 1]")
    expected = (n_rows, len(classes)) if fmt == "probabilities" else (n_rows,)
    if values.ndim == 2 and values.shape[1] == 1 and fmt != "probabilities":
        values = values.reshape(-1)
    if values.shape != expected:
        what = f"{n_rows} rows of {len(classes)} class probabilities" if fmt == "probabilities" else f"{n_rows} values, one per test row"
        raise SubmissionError(f"Model.predict returned shape {values.shape}; expected {what}")
    if not np.all(np.isfinite(values)):
        raise SubmissionError(f"Model.predict returned {int(np.sum(~np.isfinite(values)))} NaN or infinite values")
    if fmt in ("probability", "probabilities") and (values.min() < 0 or values.max() > 1):
        raise SubmissionError("Model.predict must return probabilities in [0, 1]; got values outside that range")
    if fmt == "probabilities" and np.any(np.abs(values.sum(axis=1) - 1) > 1e-3):
        raise SubmissionError("each row of Model.predict's probabilities must sum to 1")
    if fmt == "label" and not np.all(np.isin(values, classes)):
        raise SubmissionError(f"Model.predict must return class labels from {classes}")
    return values


def prediction_lines(ids: list[str], values: np.ndarray, task: dict) -> list[str]:
    fmt, classes = task["prediction_format"], task["classes"]
    columns = [f"proba_{c}" for c in classes] if fmt == "probabilities" else [fmt]
    cells = (lambda v: str(int(v))) if fmt == "label" else (lambda v: f"{v:.10g}")
    return [",".join(["id", *columns])] + [",".join([i, *map(cells, np.atleast_1d(v))]) for i, v in zip(ids, values)]


def run_code_submission(args: argparse.Namespace, task: dict) -> dict:
    model_class = load_model_class(args.submission)
    totals = {"fit_seconds": 0.0, "predict_seconds": 0.0, "n_train": 0, "n_test": 0}
    for dataset in task["datasets"]:
        folder = args.input_data / dataset["folder"]
        _, train = read_table(folder / "train.csv")
        test_ids, X_test = read_table(folder / "test.csv")
        X_train, y_train = train[:, :-1], train[:, -1]  # the last column of train.csv is the target
        if task["task_type"] != "regression":
            y_train = y_train.astype(int)
        model = call_participant("Model()", model_class)
        label = f" on {dataset['name']}" if len(task["datasets"]) > 1 else ""

        started = time.perf_counter()
        call_participant("Model.fit", model.fit, X_train, y_train)
        fit_seconds = time.perf_counter() - started
        print(f"fit{label}: {len(train)} rows in {fit_seconds:.2f} s", flush=True)

        started = time.perf_counter()
        raw = call_participant("Model.predict", model.predict, X_test)
        predict_seconds = time.perf_counter() - started
        values = check_predictions(raw, len(test_ids), task)
        print(f"predict{label}: {len(test_ids)} rows in {predict_seconds:.2f} s", flush=True)

        target = args.output / dataset["folder"] / PREDICTIONS_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, "\n".join(prediction_lines(test_ids, values, task)) + "\n")
        totals["fit_seconds"] += fit_seconds
        totals["predict_seconds"] += predict_seconds
        totals["n_train"] += len(train)
        totals["n_test"] += len(test_ids)
    return {**{k: round(v, 6) for k, v in totals.items()},
            "duration": round(totals["fit_seconds"] + totals["predict_seconds"], 6)}


def pass_result_through(args: argparse.Namespace, task: dict) -> dict:
    # The worker also copies a submission without metadata into the output; copying through a
    # temporary file keeps the result identical whichever copy lands last.
    for dataset in task["datasets"]:
        source = args.submission / dataset["folder"] / PREDICTIONS_FILE
        if not source.is_file():
            raise SubmissionError(f"the result submission has no {Path(dataset['folder']) / PREDICTIONS_FILE}")
        target = args.output / dataset["folder"] / PREDICTIONS_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{PREDICTIONS_FILE}.", suffix=".tmp")
        os.close(fd)
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    print(f"result submission: {PREDICTIONS_FILE} passed through to the scoring program", flush=True)
    return {"duration": 0.0}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    result_path = args.output / RESULT_FILE
    try:
        task = json.loads((args.input_data / TASK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"ERROR: cannot read {args.input_data / TASK_FILE} ({exc}); run `make data` and rebuild the bundle", file=sys.stderr)
        return 2
    try:
        kind = find_submission_kind(args.submission, task)
        details = run_code_submission(args, task) if kind == "code" else pass_result_through(args, task)
    except SubmissionError as exc:
        write_atomically(result_path, json.dumps({"status": "failed", "error": str(exc)}, indent=2) + "\n")
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
    write_atomically(result_path, json.dumps({"status": "ok", "submission_type": kind, **details}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
