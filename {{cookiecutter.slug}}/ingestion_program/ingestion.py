"""Ingestion program: train the participant's model and write its predictions.

On Codabench it runs in the prediction step with the phase's input data at /app/input_data,
the participant's submission at /app/ingested_program and the output at /app/output (see
metadata.yaml). Locally, pass other folders with the same options:

    python3 ingestion.py --input-data DATA_DIR --submission SUBMISSION_DIR --output OUT_DIR

A code submission has `model.py` with a class `Model` providing `fit(X, y)` and `predict(X)`,
where `predict` returns the probability of label 1 for each row. A result submission has
`predictions.csv` instead; it is passed through unchanged for the scoring program to check.

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


class SubmissionError(Exception):
    """The submission cannot be run; the message is written for the participant."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-data", type=Path, default=Path("/app/input_data"), help="phase input data")
    parser.add_argument("--submission", type=Path, default=Path("/app/ingested_program"), help="submission files")
    parser.add_argument("--output", type=Path, default=Path("/app/output"), help="where predictions go")
    return parser.parse_args(argv)


def read_table(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """Read a CSV written by tools/prepare_data.py: ids, column names, float matrix."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    ids = [row[0] for row in rows]
    values = np.array([[float(v) for v in row[1:]] for row in rows], dtype=float)
    return ids, header[1:], values


def write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def find_submission_kind(submission: Path) -> str:
    """Return "code" or "result", or explain what is missing."""
    if (submission / MODEL_FILE).is_file():
        return "code"
    if (submission / PREDICTIONS_FILE).is_file():
        return "result"
    entries = sorted(p.name for p in submission.iterdir()) if submission.is_dir() else []
    folders = [name for name in entries if (submission / name).is_dir() and not name.startswith(("__", "."))]
    if len(folders) == 1 and ((submission / folders[0] / MODEL_FILE).exists() or (submission / folders[0] / PREDICTIONS_FILE).exists()):
        raise SubmissionError(
            f"your zip wraps everything in the folder {folders[0]!r}; zip the files themselves so that "
            f"{MODEL_FILE} (or {PREDICTIONS_FILE}) is at the root of the zip"
        )
    raise SubmissionError(
        f"the submission has neither {MODEL_FILE} (code submission) nor {PREDICTIONS_FILE} (result submission) "
        f"at its root (found: {', '.join(entries) or 'nothing'})"
    )


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


def check_probabilities(raw: object, n_rows: int) -> np.ndarray:
    try:
        values = np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        raise SubmissionError(f"Model.predict must return numbers, got {type(raw).__name__}") from None
    if values.ndim == 2 and values.shape[1] == 2:
        raise SubmissionError(
            "Model.predict returned two columns (like predict_proba); return only the probability of label 1, e.g. proba[:, 1]"
        )
    values = values.reshape(-1) if values.ndim == 2 and values.shape[1] == 1 else values
    if values.ndim != 1 or len(values) != n_rows:
        raise SubmissionError(f"Model.predict returned shape {values.shape}; expected {n_rows} values, one per test row")
    if not np.all(np.isfinite(values)):
        raise SubmissionError(f"Model.predict returned {int(np.sum(~np.isfinite(values)))} NaN or infinite values")
    if values.min() < 0 or values.max() > 1:
        raise SubmissionError("Model.predict must return probabilities in [0, 1]; got values outside that range")
    return values


def run_code_submission(args: argparse.Namespace) -> dict:
    train_ids, _, train = read_table(args.input_data / "train.csv")
    test_ids, _, X_test = read_table(args.input_data / "test.csv")
    X_train, y_train = train[:, :-1], train[:, -1].astype(int)  # the last column of train.csv is the target
    model_class = load_model_class(args.submission)
    model = call_participant("Model()", model_class)

    started = time.perf_counter()
    call_participant("Model.fit", model.fit, X_train, y_train)
    fit_seconds = time.perf_counter() - started
    print(f"fit: {len(train_ids)} rows in {fit_seconds:.2f} s", flush=True)

    started = time.perf_counter()
    raw = call_participant("Model.predict", model.predict, X_test)
    predict_seconds = time.perf_counter() - started
    probabilities = check_probabilities(raw, len(test_ids))
    print(f"predict: {len(test_ids)} rows in {predict_seconds:.2f} s", flush=True)

    lines = ["id,probability"] + [f"{i},{p:.10g}" for i, p in zip(test_ids, probabilities)]
    write_atomically(args.output / PREDICTIONS_FILE, "\n".join(lines) + "\n")
    return {
        "fit_seconds": round(fit_seconds, 6),
        "predict_seconds": round(predict_seconds, 6),
        "duration": round(fit_seconds + predict_seconds, 6),
        "n_train": len(train_ids),
        "n_test": len(test_ids),
    }


def pass_result_through(args: argparse.Namespace) -> dict:
    # The worker also copies a submission without metadata into the output; copying through a
    # temporary file keeps the result identical whichever copy lands last.
    target = args.output / PREDICTIONS_FILE
    fd, tmp = tempfile.mkstemp(dir=args.output, prefix=f".{PREDICTIONS_FILE}.", suffix=".tmp")
    os.close(fd)
    shutil.copyfile(args.submission / PREDICTIONS_FILE, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    print(f"result submission: {PREDICTIONS_FILE} passed through to the scoring program", flush=True)
    return {"duration": 0.0}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    result_path = args.output / RESULT_FILE
    try:
        kind = find_submission_kind(args.submission)
        details = run_code_submission(args) if kind == "code" else pass_result_through(args)
    except SubmissionError as exc:
        write_atomically(result_path, json.dumps({"status": "failed", "error": str(exc)}, indent=2) + "\n")
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
    write_atomically(result_path, json.dumps({"status": "ok", "submission_type": kind, **details}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
