"""Ingestion program: train the participant's model and write its predictions.

On Codabench it runs in the prediction step with the phase's input data at /app/input_data,
the participant's submission at /app/ingested_program and the output at /app/output (see
metadata.yaml). Locally, pass other folders with the same options:

    python3 ingestion.py --input-data DATA_DIR --submission SUBMISSION_DIR --output OUT_DIR

A code submission has `model.py` with a class `Model` providing `fit(X, y)` and `predict(X)`.
The phase's `task.json` (written by tools/prepare_data.py) declares each dataset's id column,
target, classes and features. `X` is a pandas DataFrame of the features in that order: numeric
columns as float64, categorical ones as `category` dtype with the declared categories, NaN where
a cell is missing. `y` is a pandas Series named after the target: int64 when the classes are
integers, text when they are text, float64 for regression. What `predict(X)` returns is set by
`prediction_format` in task.json:
    probability    the probability of the positive class (the second of `classes`) per row, or a
                   DataFrame with one column per class, named by its label (the positive one is used)
    probabilities  one probability per class per row: an array in the declared class order, or a
                   DataFrame with one column per class named by its label (any order)
    label          one class label per row
    value          one number per row
(an array, a list, a Series or a one-column DataFrame). With several datasets, a fresh Model is
trained and asked for predictions on each. The predictions go to `predictions.csv` with the
header `<id column>,<prediction columns>`, the format result submissions use. When the
competition accepts results too, a submission with `predictions.csv` instead is passed through
unchanged for the scoring program to check.

Any problem with the submission ends with one line on stderr starting with "ERROR:" and exit
code 1. Codabench ignores the ingestion exit code, so the same message is also written to
`ingestion_result.json`, where the scoring program finds it and shows it to the participant.
A problem with the phase's own data (the organizer's to fix) exits with code 2 instead; its
message goes to `ingestion_result.json` too, saying it is not the participant's fault.
Never write a file named `metadata` to the output: the compute worker refuses to run then.

This program ships alone on the worker: it uses the standard library, numpy and pandas only.
"""

from __future__ import annotations

import argparse
import csv
import difflib
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
import pandas as pd

MODEL_FILE = "model.py"
PREDICTIONS_FILE = "predictions.csv"
RESULT_FILE = "ingestion_result.json"
TASK_FILE = "task.json"  # written by tools/prepare_data.py
SUM_TOLERANCE = 1e-3  # as the scoring program's predictions.py
MAX_SHOWN_CLASSES = 8  # longer class lists are shortened in messages
MAX_MESSAGE = 2000  # characters of a message at most (a model's exception may carry megabytes)
MAX_TRACEBACK = 20_000  # characters of a model's traceback kept in the log
STREAMS: dict = {}  # "stdout"/"stderr": (the stream at start, a copy of its descriptor); see restore_streams
clock = time.perf_counter  # kept here: a model that replaces time.perf_counter does not time itself


class SubmissionError(Exception):
    """The submission cannot be run: what is wrong and how to fix it, written for the participant. The
    log's ERROR line says both ("<problem>; <fix>"); the scoring program's error page shows them apart."""

    def __init__(self, problem: str, fix: str = ""):
        super().__init__(f"{problem}; {fix}" if fix else problem)
        self.problem, self.fix = problem, fix


# The fix for an exception the model raised: the message says what, the traceback where.
FIX_MODEL_ERROR = ("fix model.py where the traceback in the prediction step's log (on Codabench: your submission's "
                   "logs) points; run your Model on the public data with the starting kit's notebook to see it first")


class DataError(Exception):
    """The phase's input data cannot be read: the organizer's problem, not the participant's."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-data", type=Path, default=Path("/app/input_data"), help="phase input data")
    parser.add_argument("--submission", type=Path, default=Path("/app/ingested_program"), help="submission files")
    parser.add_argument("--output", type=Path, default=Path("/app/output"), help="where predictions go")
    args = parser.parse_args(argv)
    for name in ("input_data", "submission", "output"):  # a model that changes the working folder changes nothing here
        setattr(args, name, getattr(args, name).resolve())
    return args


# ---------------------------------------------------------------------------------------------
# Class labels and prediction columns. Local copies of scoring_program/metrics.py's label_text
# and prediction_columns: this program ships alone and cannot import the scoring program. The
# bundle's tests check that both give the same answers.

def label_text(value) -> str:
    """How a class label is written in a CSV file: 3 and 3.0 and "3" are the same class."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def prediction_columns(fmt: str, classes: list, target: str) -> list[str]:
    """The columns of predictions.csv after the id column."""
    if fmt == "probability":
        return [f"proba_{label_text(classes[1])}"]
    if fmt == "probabilities":
        return [f"proba_{label_text(c)}" for c in classes]
    return [target]


def int_classes(classes: list) -> bool:
    return bool(classes) and all(isinstance(c, int) and not isinstance(c, bool) for c in classes)


def shown_classes(classes: list) -> str:
    """The class list for a message, shortened when long."""
    if len(classes) <= MAX_SHOWN_CLASSES:
        return repr(list(classes))
    head = ", ".join(repr(c) for c in classes[: MAX_SHOWN_CLASSES - 2])
    return f"[{head}, ..., {classes[-1]!r}] ({len(classes)} classes)"


def label_texts(values: np.ndarray) -> pd.Series:
    """label_text of every value, vectorised for the usual arrays (one Python call per row only for mixed objects)."""
    series = pd.Series(values)
    kind = pd.api.types.infer_dtype(series, skipna=False)
    try:
        if kind == "string":
            return series.astype(str)
        if kind == "integer":
            return series.astype("int64").astype(str)
        if kind == "floating" and pd.api.types.is_float_dtype(series):
            numbers = series.to_numpy(dtype=float)
            whole = np.isfinite(numbers) & (numbers == np.round(numbers)) & (np.abs(numbers) < 2**53)
            texts = series.astype(str)
            texts[whole] = numbers[whole].astype("int64").astype(str)
            return texts
    except (OverflowError, TypeError, ValueError):  # e.g. integers beyond int64: the slow way below
        pass
    return series.map(label_text).astype(str)


# ---------------------------------------------------------------------------------------------
# Input data

def read_table(path: Path, dataset: dict, with_target: bool) -> pd.DataFrame:
    """Read train.csv or test.csv with the declared types (the data contract's reader).

    A missing value is an empty cell, nothing else ("NA" or "nan" stay text); ids are text;
    categorical columns get their declared categories; the target is text for classes, int64
    when the classes are all integers, float64 for regression.

    pandas infers each column's type first: asking it for text columns up front makes it hold
    the whole file twice. Text columns where it saw numbers are read again, alone and as written
    ("007" stays "007"); numeric columns where it saw text are refused, naming the first cell.
    """
    features = dataset["features"]
    numeric = [f["name"] for f in features if f["kind"] == "numeric"]
    text = [dataset["id"], *(f["name"] for f in features if f["kind"] == "categorical")]
    columns = [dataset["id"], *(f["name"] for f in features)]
    if with_target:
        if not dataset["classes"]:
            numeric.append(dataset["target"])
        elif not int_classes(dataset["classes"]):  # integer classes are checked as int64 below
            text.append(dataset["target"])
        columns.append(dataset["target"])
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
        if list(frame.columns) != columns:
            raise DataError(f"{path} has the columns {list(frame.columns)}, but task.json declares {columns}")
        again = [name for name in text if pd.api.types.infer_dtype(frame[name], skipna=True) not in ("string", "empty")]
        if again:
            as_written = pd.read_csv(path, usecols=again, dtype=str, keep_default_na=False, na_values=[""])
            for name in again:
                frame[name] = as_written[name]
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path} ({type(exc).__name__}: {exc})") from None
    for name in numeric:
        column = frame[name]
        if column.dtype == np.float64:
            continue
        numbers = pd.to_numeric(column, errors="coerce") if not pd.api.types.is_numeric_dtype(column) else column
        bad = (numbers.isna() & column.notna()).to_numpy()
        if bad.any():
            first = int(np.argmax(bad))
            raise DataError(f"{path} line {first + 2}: {column.iloc[first]!r} in column {name!r} is not a number")
        frame[name] = numbers.astype(np.float64)
    for f in features:
        if f["kind"] == "categorical":
            column = frame[f["name"]]
            undeclared = (column.notna() & ~column.isin(f["categories"])).to_numpy()
            if undeclared.any():  # pd.Categorical would make it missing without a word
                first = int(np.argmax(undeclared))
                raise DataError(f"{path} line {first + 2}: {column.iloc[first]!r} in column {f['name']!r} "
                                f"is not one of the categories task.json declares")
            frame[f["name"]] = pd.Categorical(column, categories=f["categories"])
    if with_target and int_classes(dataset["classes"]):
        try:
            frame[dataset["target"]] = frame[dataset["target"]].astype("int64")
        except (TypeError, ValueError) as exc:
            raise DataError(f"{path}: the target {dataset['target']!r} is not an integer class everywhere ({exc})") from None
    return frame


def fingerprint(path: Path) -> tuple | None:
    """What tells a file apart from one written in its place later: its inode, size and change time."""
    try:
        status = path.lstat()
    except OSError:
        return None
    return status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns


def write_atomically(path: Path, content) -> None:
    """Write text, or what content(file) writes, to a temporary file that then replaces path."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(content) if isinstance(content, str) else content(f)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# The submission

def find_submission_kind(submission: Path, task: dict) -> str:
    """Return "code" or "result", or explain what is missing or not accepted."""
    result_file = Path(task["datasets"][0]["folder"]) / PREDICTIONS_FILE
    if (submission / RESULT_FILE).exists() or (submission / RESULT_FILE).is_symlink():
        # The worker copies a submission into the prediction output: this file would stand for ours.
        raise SubmissionError(f"the submission holds {RESULT_FILE}, which the ingestion program writes", "remove it from the zip")
    if (submission / MODEL_FILE).is_file():
        return "code"
    if task["submission_mode"] == "code" and any(submission.rglob(PREDICTIONS_FILE)):
        raise SubmissionError(f"this competition takes code submissions, not {PREDICTIONS_FILE}",
                              f"submit a zip with {MODEL_FILE} at its root")
    if (submission / result_file).is_file():
        return "result"
    entries = sorted(p.name for p in submission.iterdir()) if submission.is_dir() else []
    folders = [name for name in entries if (submission / name).is_dir() and not name.startswith(("__", "."))]
    if len(folders) == 1 and ((submission / folders[0] / MODEL_FILE).exists() or (submission / folders[0] / result_file).exists()):
        raise SubmissionError(f"your zip wraps everything in the folder {folders[0]!r}",
                              f"zip the files themselves so that {MODEL_FILE} (or {result_file}) is at the root of the zip")
    wanted = MODEL_FILE if task["submission_mode"] == "code" else f"{MODEL_FILE} (code) or {result_file} (results)"
    raise SubmissionError(f"the submission has no {wanted} at its root (found: {', '.join(entries) or 'nothing'})",
                          f"zip {wanted} itself, not the folder that holds it")


def load_model_class(submission: Path) -> type:
    """Import model.py from the submission and return its Model class."""
    sys.path.insert(0, str(submission))  # let model.py import its own helper modules
    spec = importlib.util.spec_from_file_location("model", submission / MODEL_FILE)
    module = importlib.util.module_from_spec(spec)
    call_participant("importing", spec.loader.exec_module, module, failed=f"{MODEL_FILE} could not be imported:")
    model_class = getattr(module, "Model", None)
    if not isinstance(model_class, type):
        raise SubmissionError(f"{MODEL_FILE} defines no class named Model", "define class Model with the methods fit(X, y) and predict(X)")
    missing = [name for name in ("fit", "predict") if not callable(getattr(model_class, name, None))]
    if missing:
        methods = [name for name in dir(model_class) if not name.startswith("__") and callable(getattr(model_class, name, None))]
        renames = [f"rename {close[0]} to {name}" for name in missing
                   if (close := difflib.get_close_matches(name, methods, n=1, cutoff=0.5) or
                       [m for m in methods if m.lower().startswith(name)][:1])]
        raise SubmissionError(f"class Model in {MODEL_FILE} has no method {' or '.join(missing)}"
                              + (f" (it has {', '.join(methods)})" if methods else ""),
                              "; ".join(renames) if renames else "define fit(X, y) and predict(X)")
    return model_class


def capped(text: str, limit: int = MAX_MESSAGE) -> str:
    """The text on one line (a message's line breaks could forge an ERROR line), cut to `limit`
    characters with a word on what was cut (as scoring_program/errors.py)."""
    text = " ".join(str(text).splitlines())
    return text if len(text) <= limit else f"{text[:limit]}\N{HORIZONTAL ELLIPSIS} ({len(text) - limit} more characters cut)"


def described(exc: BaseException) -> str:
    """`Type: message` of an exception from participant code, whose __str__ may itself raise."""
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 (whatever it raises, the participant reads a message)
        message = "(its message could not be read: its __str__ raised)"
    return capped(f"{type(exc).__name__}: {message}")


def keep_streams() -> None:
    """Remember sys.stdout and sys.stderr, and a copy of their file descriptors, before participant code runs."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        try:
            STREAMS[name] = (stream, os.dup(stream.fileno()))
        except (AttributeError, OSError, ValueError):  # a stream without a descriptor (e.g. in a test)
            STREAMS[name] = (stream, None)


def restore_streams() -> None:
    """Participant code may close or replace sys.stdout and sys.stderr, or their descriptors 1 and 2:
    put back the ones ingestion started with (re-opened from the copied descriptor when closed), so
    its own lines and the ERROR line still reach the log."""
    for name, (original, fd) in STREAMS.items():
        number = 1 if name == "stdout" else 2
        if fd is not None:  # closed, or pointed elsewhere (os.dup2 onto /dev/null): point it at the log again
            try:
                if not os.path.sameopenfile(fd, number):
                    os.dup2(fd, number)
            except OSError:  # 1 or 2 closed: copy ours back; ours closed too (os.closerange): nothing left to restore
                try:
                    os.dup2(fd, number)
                except OSError:
                    fd = None
                    STREAMS[name] = (original, None)
        if getattr(original, "closed", False):
            if fd is None:
                continue
            try:
                original = os.fdopen(os.dup(fd), "w", encoding="utf-8", errors="replace", buffering=1)
            except OSError:
                continue
            STREAMS[name] = (original, fd)
        setattr(sys, name, original)


def print_traceback(exc: BaseException) -> None:
    """The participant's traceback, from their first frame on, with its middle cut when it is longer than
    MAX_TRACEBACK characters (a message of megabytes, a recursion thousands of frames deep)."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next or exc.__traceback__))
    if len(text) > MAX_TRACEBACK:
        half = MAX_TRACEBACK // 2
        text = f"{text[:half]}\n… ({len(text) - 2 * half} characters of the traceback cut) …\n{text[-half:]}"
    sys.stderr.write(text if text.endswith("\n") else text + "\n")


def call_participant(what: str, function, *args, failed: str = ""):
    """Run participant code; turn anything it raises into a one-line SubmissionError, "<what> raised <Type>:
    <message>" (or "<failed> <Type>: <message>"), with the traceback kept above it. BaseException too:
    sys.exit() or KeyboardInterrupt in a model must not end ingestion silently."""
    try:
        return function(*args)
    except BaseException as exc:  # noqa: BLE001
        restore_streams()
        try:
            print_traceback(exc)
        except BaseException:  # noqa: BLE001 (a traceback whose frames cannot be printed)
            pass
        raise SubmissionError(f"{failed or what + ' raised'} {described(exc)}", FIX_MODEL_ERROR) from None
    finally:
        restore_streams()


# ---------------------------------------------------------------------------------------------
# What predict returned

def class_columns(frame: pd.DataFrame, classes: list, hint: str) -> pd.DataFrame:
    """The DataFrame's columns in the declared class order, matched by label_text; else say which differ."""
    texts = [label_text(c) for c in frame.columns]
    wanted = [label_text(c) for c in classes]
    twice = sorted({t for t in texts if texts.count(t) > 1})
    if twice:
        raise SubmissionError(f"Model.predict returned a DataFrame with the column {twice[0]!r} twice",
                              f"name one column per class {shown_classes(classes)}{hint}")
    missing = [t for t in wanted if t not in texts]
    extra = [t for t in texts if t not in wanted]
    if missing or extra:
        problems = [f"missing {', '.join(map(repr, missing))}" if missing else "",
                    f"unexpected {', '.join(map(repr, extra[:MAX_SHOWN_CLASSES]))}{', ...' if len(extra) > MAX_SHOWN_CLASSES else ''}" if extra else ""]
        raise SubmissionError(f"Model.predict returned a DataFrame whose columns are not the classes {shown_classes(classes)} "
                              f"({'; '.join(filter(None, problems))})", f"name one column per class{hint}")
    return frame.iloc[:, [texts.index(t) for t in wanted]]


def as_numbers(raw: object) -> np.ndarray:
    if np.iscomplexobj(raw) or (isinstance(raw, pd.DataFrame) and any(np.iscomplexobj(raw[c]) for c in raw.columns)):
        raise SubmissionError("Model.predict returned complex numbers", "return real numbers (the imaginary part would be lost)")
    try:
        if isinstance(raw, (pd.DataFrame, pd.Series)):
            return raw.to_numpy(dtype=float, na_value=np.nan)
        return np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        raise SubmissionError(f"Model.predict returned a {type(raw).__name__}, not numbers",
                              "return a numpy array, a pandas Series or a DataFrame of numbers") from None


def check_labels(raw: object, ids: pd.Series, classes: list) -> np.ndarray:
    """The predicted labels as the label_text of their class, or what is wrong with them."""
    n_rows = len(ids)
    if isinstance(raw, pd.DataFrame):
        if raw.shape[1] != 1:
            raise SubmissionError(f"Model.predict returned a DataFrame of shape {raw.shape}",
                                  f"return {n_rows} class labels, one per row of X")
        raw = raw.iloc[:, 0]
    if isinstance(raw, pd.Series):
        values = raw.to_numpy()
    else:  # a list keeps its Python objects: numpy would turn [1, "2"] into texts "1", "2"
        values = np.asarray(raw, dtype=object if isinstance(raw, (list, tuple)) else None)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values.reshape(-1)
    if values.shape != (n_rows,):
        raise SubmissionError(f"Model.predict returned shape {values.shape}", f"return {n_rows} class labels, one per row of X")
    missing = pd.isna(pd.Series(values)).to_numpy()
    if missing.any():
        raise SubmissionError(f"Model.predict returned {int(missing.sum())} missing labels (NaN or None)",
                              f"return a class from {shown_classes(classes)} for every row")
    texts = label_texts(values)
    unknown = ~texts.isin([label_text(c) for c in classes]).to_numpy()
    if unknown.any():
        row = int(np.argmax(unknown))
        first = values[row].item() if isinstance(values[row], np.generic) else values[row]
        positions = not int_classes(classes) and texts[unknown].isin([str(i) for i in range(len(classes))]).all()
        raise SubmissionError(f"{int(unknown.sum())} of the {n_rows} labels Model.predict returned "
                              f"{'is' if unknown.sum() == 1 else 'are'} not a class, the first being {first!r} (for X.iloc[{row}], id {ids.iloc[row]!r})",
                              f"return class labels from {shown_classes(classes)}"
                              + ("; the labels themselves, as in y, not their positions" if positions else ""))
    return texts.to_numpy()


def check_predictions(raw: object, ids: pd.Series, fmt: str, classes: list) -> np.ndarray:
    """Check what Model.predict returned against what the scoring program expects.

    Returns the values to write: label texts ("label"), (rows,) numbers ("probability", "value")
    or (rows, classes) probabilities in the declared class order ("probabilities").
    """
    n_rows = len(ids)
    if raw is None:
        raise SubmissionError("Model.predict returned None", "return the predictions (did you forget `return`?)")
    if isinstance(raw, (pd.Series, pd.DataFrame)) and not raw.index.equals(pd.RangeIndex(n_rows)):
        raise SubmissionError(f"Model.predict returned a {type(raw).__name__} whose index is not X's (0 to {n_rows - 1}, in "
                              "order), so its rows would be matched to the wrong ids", "keep X's row order and index, or return .to_numpy()")
    if np.ma.is_masked(raw):
        raise SubmissionError("Model.predict returned a masked array with masked values, which would be scored as "
                              "the values under the mask", "return a value for every row (np.ma.filled)")
    if fmt == "label":
        return check_labels(raw, ids, classes)
    hint = ""
    if fmt == "probability":
        positive = label_text(classes[1])
        hint = (f", e.g. pd.DataFrame(proba, columns=model.classes_), or return only the probability of the "
                f"positive class {positive!r} per row")
    if isinstance(raw, pd.DataFrame):
        class_texts = {label_text(c) for c in classes}
        named = any(label_text(c) in class_texts for c in raw.columns)
        if fmt == "probabilities" or (fmt == "probability" and (named or raw.shape[1] != 1)):
            raw = class_columns(raw, classes, hint)
            if fmt == "probability":
                raw = raw.iloc[:, 1]
    values = as_numbers(raw)
    if fmt == "probability" and values.ndim == 2 and values.shape[1] == 2:
        raise SubmissionError("Model.predict returned two unnamed columns (like predict_proba), which is ambiguous",
                              f"return pd.DataFrame(proba, columns=model.classes_), or only the probability of the "
                              f"positive class {positive!r} per row (e.g. proba[:, 1] if model.classes_[1] is {positive!r})")
    expected = (n_rows, len(classes)) if fmt == "probabilities" else (n_rows,)
    if values.ndim == 2 and values.shape[1] == 1 and fmt != "probabilities":
        values = values.reshape(-1)
    if values.shape != expected:
        what = f"{n_rows} rows of {len(classes)} class probabilities" if fmt == "probabilities" else f"{n_rows} values, one per row of X"
        raise SubmissionError(f"Model.predict returned shape {values.shape}", f"return {what}")
    if not np.all(np.isfinite(values)):
        raise SubmissionError(f"Model.predict returned {int(np.sum(~np.isfinite(values)))} NaN or infinite values",
                              "return a finite number for every row (fill what your model leaves missing)")
    if fmt in ("probability", "probabilities") and (values.min() < 0 or values.max() > 1):
        raise SubmissionError(f"Model.predict returned values outside [0, 1] (from {values.min():g} to {values.max():g})",
                              "return probabilities, e.g. predict_proba's, not scores or logits")
    if fmt == "probabilities" and np.any(np.abs(values.sum(axis=1) - 1) > SUM_TOLERANCE):
        raise SubmissionError("rows of Model.predict's probabilities do not sum to 1",
                              "return one probability per class that sum to 1 on each row, e.g. predict_proba's")
    return values


def write_predictions(file, ids: pd.Series, values: np.ndarray, fmt: str, dataset: dict) -> None:
    """predictions.csv: the id column, then prediction_columns(); quoted by the csv rules, numbers as their
    shortest repr (exact, and written by numpy rather than formatted one by one in Python)."""
    columns = prediction_columns(fmt, dataset["classes"], dataset["target"])
    frame = pd.DataFrame(values.reshape(len(ids), -1), columns=columns)
    frame.insert(0, dataset["id"], ids.to_numpy(), allow_duplicates=True)
    frame.to_csv(file, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)


# ---------------------------------------------------------------------------------------------

def run_code_submission(args: argparse.Namespace, task: dict) -> dict:
    model_class = load_model_class(args.submission)
    fmt = task["prediction_format"]
    totals = {"fit_seconds": 0.0, "predict_seconds": 0.0, "n_train": 0, "n_test": 0}
    written: dict[Path, tuple] = {}
    for dataset in task["datasets"]:
        folder = args.input_data / dataset["folder"]
        # read_table checked the columns: [id, *features, target]. Taking the id and the target out
        # leaves X without copying it, and the training data is let go before the test data is
        # read (the model keeps what it needs): peak memory is one table, not both and a copy.
        X_train = read_table(folder / "train.csv", dataset, with_target=True)
        y_train = X_train.pop(dataset["target"])
        X_train.pop(dataset["id"])
        n_train = len(X_train)
        model = call_participant("Model()", model_class)
        label = f" on {dataset['name']}" if len(task["datasets"]) > 1 else ""

        started = clock()
        call_participant("Model.fit", model.fit, X_train, y_train)
        fit_seconds = clock() - started
        print(f"fit{label}: {n_train} rows in {fit_seconds:.2f} s", flush=True)
        del X_train, y_train

        X_test = read_table(folder / "test.csv", dataset, with_target=False)
        test_ids = X_test.pop(dataset["id"])

        started = clock()
        raw = call_participant("Model.predict", model.predict, X_test)
        predict_seconds = clock() - started
        try:
            values = check_predictions(raw, test_ids, fmt, dataset["classes"])
        except SubmissionError:
            raise
        except Exception as exc:  # objects whose __float__, __str__ or __eq__ raise, and the like
            raise SubmissionError(f"what Model.predict returned could not be read ({described(exc)})",
                                  "return numbers or class labels, e.g. a numpy array") from None
        print(f"predict{label}: {len(X_test)} rows in {predict_seconds:.2f} s", flush=True)

        target = args.output / dataset["folder"] / PREDICTIONS_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, lambda f: write_predictions(f, test_ids, values, fmt, dataset))
        written[target] = fingerprint(target)
        totals["fit_seconds"] += fit_seconds
        totals["predict_seconds"] += predict_seconds
        totals["n_train"] += n_train
        totals["n_test"] += len(X_test)
    for target, was in written.items():  # a later dataset's model code may have removed or rewritten them
        if fingerprint(target) != was:
            raise SubmissionError(f"{target.relative_to(args.output)} was removed or changed after the ingestion program "
                                  "wrote it", "leave the output folder alone in model.py")
    return {**{k: round(v, 6) for k, v in totals.items()},
            "duration": round(totals["fit_seconds"] + totals["predict_seconds"], 6)}


def pass_result_through(args: argparse.Namespace, task: dict) -> dict:
    # The worker also copies a submission without metadata into the output; copying through a
    # temporary file keeps the result identical whichever copy lands last.
    for dataset in task["datasets"]:
        source = args.submission / dataset["folder"] / PREDICTIONS_FILE
        if source.is_symlink() or (dataset["folder"] and source.parent.is_symlink()):
            raise SubmissionError(f"{Path(dataset['folder']) / PREDICTIONS_FILE} in the submission is a symbolic link",
                                  "zip the file itself")
        if not source.is_file():
            raise SubmissionError(f"the result submission has no {Path(dataset['folder']) / PREDICTIONS_FILE}",
                                  f"zip {PREDICTIONS_FILE} itself (one per dataset folder), not the folder that holds it")
        target = args.output / dataset["folder"] / PREDICTIONS_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{PREDICTIONS_FILE}.", suffix=".tmp")
        os.close(fd)
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    print(f"result submission: {PREDICTIONS_FILE} passed through to the scoring program", flush=True)
    return {"duration": 0.0}


def fail(result_path: Path, error: str, code: int, shown: str | None = None, fix: str = "") -> int:
    """Record a failure (what went wrong, how to fix it) for the scoring program and print its ERROR line; both
    survive a model that replaced print, or removed or blocked the output folder (then only the line is left)."""
    shown = shown or (f"{error}; {fix}" if fix else error)
    try:
        write_atomically(result_path, json.dumps({"status": "failed", "error": error, "fix": fix}, indent=2) + "\n")
    except Exception as exc:  # noqa: BLE001 (a folder where the file goes, or json.dumps replaced by the model)
        shown = f"{shown} (and {RESULT_FILE} could not be written: {capped(str(exc), 200)})"
    restore_streams()
    sys.stderr.write(f"ERROR: {shown}\n")
    sys.stderr.flush()
    return code


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keep_streams()
    args.output.mkdir(parents=True, exist_ok=True)
    result_path = args.output / RESULT_FILE
    try:
        task = json.loads((args.input_data / TASK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"ERROR: cannot read {args.input_data / TASK_FILE} ({exc}); run `make data` and rebuild the bundle", file=sys.stderr)
        return 2
    kind = None
    try:
        kind = find_submission_kind(args.submission, task)
        details = run_code_submission(args, task) if kind == "code" else pass_result_through(args, task)
        write_atomically(result_path, json.dumps({"status": "ok", "submission_type": kind, **details}, indent=2) + "\n")
    except SubmissionError as exc:
        return fail(result_path, capped(exc.problem), 1, fix=capped(exc.fix))
    except DataError as exc:  # the participant sees that the fault is not theirs
        error = f"the competition's data could not be read ({exc})"
        return fail(result_path, error, 2, shown=f"{exc}; run `make data` and rebuild the bundle",
                    fix="nothing to change in your submission: please tell the organizers")
    except OSError as exc:  # the model removed or replaced the output folder, or a file where ours go
        return fail(result_path, capped(f"the ingestion program could not write its output ({exc})"), 1,
                    fix="leave the output folder alone in model.py" if kind == "code" else "")
    except Exception as exc:  # noqa: BLE001 (after the model ran: it may have replaced print, open or a library's function)
        if kind != "code":
            raise
        return fail(result_path, capped(f"the ingestion program failed after running model.py ({described(exc)})"), 1,
                    fix="leave Python's and libraries' functions as they are in model.py; if it does, tell the organizers")
    return 0


def end(code: int) -> None:
    """Exit now that everything is written: a thread the model left running would keep the process,
    and so the step, alive until the time limit, and then the whole submission would fail."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 (closed, or replaced by the model with anything)
            pass
    os._exit(code)


if __name__ == "__main__":
    end(main())
