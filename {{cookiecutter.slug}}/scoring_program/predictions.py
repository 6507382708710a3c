"""Read the reference labels and check a participant's predictions against them.

A prediction file is a CSV whose first column is the dataset's id column (its real name, from
dataset.json) and whose other columns depend on the format (set in the phase's data,
dataset.json, from what the leaderboard's metrics need; see `metrics.prediction_columns`):
    probability    <id>,proba_<positive class>        probability of the positive class, classes[1]
    probabilities  <id>,proba_<class>,...             one probability per class, summing to 1
    label          <id>,<target>                      the predicted class label
    value          <id>,<target>                      the predicted number (regression)
Rows may come in any order: they are matched to the reference by id. Columns are matched by
name, so probability columns in another order than the declared one are accepted too.

Class labels are text in the files; a label is a class when `metrics.label_text` writes them
the same way (3, 3.0 and "3" are one class). Inside the scoring program classes are their
indexes 0..K-1 in the declared order: `Reference.target` and `Predictions.view("labels")` hold
indexes, probabilities are columns in the declared order.

Every problem becomes a `PredictionError` that tells the participant what is wrong, where
(file, line, column and value of the first bad row, and how many rows share the problem), and
how to fix it. The scoring program shows it on stderr and in the detailed results page, and
exits non-zero: an invalid file never gets a score. Things that can be scored but are probably
a mistake (a constant prediction, a class never predicted, certainty of 0 or 1, an Excel
byte-order mark) become warnings on the page instead.

Reading is done twice over only when something is wrong. A well-formed file is read once by
pandas' C parser into typed columns (floats, and ids as whole numbers when the reference's are)
and checked with numpy, which costs about what reading it alone does, even at 10 M rows. Any
doubt in that fast reading (a cell that is not a number, an unknown id, a ragged or blank line,
spaces around a cell, a byte-order mark...) sends the file to the careful reading, which reads
every cell as text and checks column by column: it says what is wrong, or accepts the file with
exactly the values the fast reading would have given. Neither ever loops over rows in Python.
An id column of whole numbers is matched by value (7, 007 and +7 are the same id); any other id
is matched as text.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from errors import PredictionError
from metrics import THRESHOLD, label_text, prediction_columns

PREDICTIONS_FILE = "predictions.csv"
REFERENCE_FILE = "test_labels.csv"
MAX_QUOTED_ROWS = 3  # enough to see a pattern, short enough to read
MAX_LISTED_CLASSES = 10  # class lists in messages are shortened beyond this
SUM_TOLERANCE = 1e-3
BOM = "\ufeff"  # Excel's "CSV UTF-8" starts the file with it
EMPTY_LAST_CELL = (b",\n", b",\r", b',""\n', b',""\r')
FORMAT_HELP = {
    "probability": "the probability of the positive class {positive}, a number from 0 to 1",
    "probabilities": "one probability per class, each from 0 to 1, summing to 1",
    "label": "a class label",
    "value": "a finite number",
}
MAKE_DATA = "run `make data` and rebuild the bundle"
SCAN_BLOCK = 1 << 24  # bytes read at a time when looking for spaces around cells
PADDING = [w + d for w in (b" ", b"\t") for d in (b",", b"\n", b"\r", b'"')] + \
          [d + w for w in (b" ", b"\t") for d in (b",", b"\n", b'"')]


@dataclass
class Reference:
    ids: np.ndarray  # in the order of test_labels.csv: int64 when all are whole numbers, else text
    target: np.ndarray  # class indexes 0..K-1 in the declared order, or numbers for regression
    classes: list = field(default_factory=list)  # the declared classes ([] for regression)
    id_name: str = "id"
    target_name: str = "target"


@dataclass
class Predictions:
    fmt: str
    values: np.ndarray  # aligned with Reference.ids; (n,) or (n, classes) for "probabilities"; indexes for "label"
    warnings: list[str] = field(default_factory=list)  # scored anyway, shown on the page
    _labels: np.ndarray | None = field(default=None, repr=False, compare=False)

    def view(self, needs: str) -> np.ndarray:
        """The predictions as a metric needs them: labels (class indexes), probabilities or values."""
        if needs == "labels" and self.fmt in ("probability", "probabilities"):
            if self._labels is None:  # computed once: every label metric, insight and figure reads them
                self._labels = ((self.values >= THRESHOLD).astype(np.intp) if self.fmt == "probability"  # index 1: positive
                                else self.values.argmax(axis=1))
            return self._labels
        return self.values


# -- helpers shared by the readers and the writer ---------------------------------------------
def csv_line(cells: list[str]) -> str:
    """One CSV line as Python's csv module writes it (quoted when needed), without the newline."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()


def label_shown(value) -> str:
    """A class label in a sentence: integers as they are, any other label quoted (it may hold spaces or commas)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return label_text(value)
    return repr(label_text(value))


def class_list(classes: list) -> str:
    """The classes for a message: labels as `label_shown` writes them, the list shortened when long."""
    shown = ", ".join(label_shown(c) for c in classes[:MAX_LISTED_CLASSES])
    more = len(classes) - MAX_LISTED_CLASSES
    return shown + (f", \N{HORIZONTAL ELLIPSIS} ({more} more, {len(classes)} classes in all)" if more > 0 else "")


def _all_ints(classes: list) -> bool:
    return bool(classes) and all(isinstance(c, int) and not isinstance(c, bool) for c in classes)


def class_indexes(texts, classes: list) -> np.ndarray:
    """The index in `classes` of each label text, -1 when it is not a class.

    A text matches when it is the class's `label_text`, possibly with spaces around it; when the
    classes are integers, a whole number written otherwise (3.0, +3) matches too.
    """
    texts = pd.Series(texts, dtype=object).reset_index(drop=True).astype(str)
    names = pd.Index([label_text(c) for c in classes], dtype=object)
    found = names.get_indexer(texts.to_numpy(dtype=object))
    missing = np.flatnonzero(found < 0)
    if len(missing):
        stripped = texts.iloc[missing].str.strip()
        found[missing] = names.get_indexer(stripped.to_numpy(dtype=object))
        missing = np.flatnonzero(found < 0)
    if len(missing) and _all_ints(classes):
        numbers = pd.to_numeric(texts.iloc[missing].str.strip(), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(numbers) & (np.abs(numbers) < 2.0 ** 53) & (numbers == np.round(numbers))
        if whole.any():
            as_text = numbers[whole].astype(np.int64).astype(str).astype(object)
            found[missing[whole]] = names.get_indexer(as_text)
    return found


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _lines_listed(lines: np.ndarray) -> str:
    listed = ", ".join(str(int(line)) for line in lines[:MAX_QUOTED_ROWS])
    return listed + (", \N{HORIZONTAL ELLIPSIS}" if len(lines) > MAX_QUOTED_ROWS else "")


def _problem(bad: np.ndarray, lines: np.ndarray, describe) -> str | None:
    """`line N: <what is wrong with the first bad row>`, and how many rows share the problem."""
    rows = np.flatnonzero(bad)
    if not len(rows):
        return None
    text = f"line {int(lines[rows[0]])}: {describe(int(rows[0]))}"
    if len(rows) > 1:
        text += f" ({len(rows)} lines like this: {_lines_listed(lines[rows])})"
    return text


def label_rule(fmt: str, classes: list) -> str:
    """How a predicted label comes from predictions of this format, in words."""
    if fmt == "probability":
        return f"probability of {label_shown(classes[1])} >= {THRESHOLD:g}"
    return {"probabilities": "the most probable class", "label": "as submitted"}.get(fmt, "")


def scan(path: Path) -> tuple[bool, int]:
    """Whether the file needs the careful reading: a cell may start or end with a space or tab (which
    it strips), it has a byte-order mark, a NUL byte (pandas' C parser ends a cell there, so
    "0<NUL>5" would read as 0) or an empty last cell; and how many line breaks it has. Read in
    blocks, never whole."""
    previous, doubtful, lines = b"\n", False, 0
    with path.open("rb") as f:
        while block := f.read(SCAN_BLOCK):
            lines += block.count(b"\n")
            if not doubtful and previous.endswith(b"\n") and block.startswith(BOM.encode()):
                doubtful = True
            joined = previous + block
            if not doubtful and (b" " in joined or b"\t" in joined) and any(needle in joined for needle in PADDING):
                doubtful = True
            # A line ending in a comma (or in ,"") has an empty last cell: with index_col=False pandas drops
            # it without a word, so "id,0.5," would pass as "id,0.5".
            doubtful = doubtful or b"\x00" in block or any(end in joined for end in EMPTY_LAST_CELL)
            previous = block[-3:]
    return doubtful or previous[-1:] in (b" ", b"\t", b",") or previous.endswith(b',""'), lines


def _read_typed(path: Path) -> pd.DataFrame | None:
    """The file read once by pandas' C parser, each column's type inferred, or None when that is not possible.
    (Inferring costs half the memory of asking for float64 columns, which pandas reads as text first.)"""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a column of mixed kinds is refused below, not warned about
            # With index_col=False pandas drops the extra values of a first row that has too many, and
            # only warns: that row is the careful reading's to explain, not to score.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(path, na_filter=False, index_col=False, skip_blank_lines=False,
                               engine="c", encoding="utf-8")
    except (ValueError, TypeError, pd.errors.ParserError, pd.errors.EmptyDataError, pd.errors.ParserWarning,
            UnicodeDecodeError, OverflowError):
        return None


def _typed_ids(column: pd.Series) -> np.ndarray | None:
    """Ids as whole numbers (int64) or as text, as read by the C parser; None for any other kind."""
    if column.dtype == np.int64:
        return column.to_numpy()
    if _text(column):
        return column.to_numpy(dtype=object)
    return None


def _text(column: pd.Series) -> bool:
    """A column of text only (object in pandas 2, the string dtype in pandas 3)."""
    return column.dtype != bool and pd.api.types.infer_dtype(column, skipna=False) == "string"


def _typed_numbers(frame: pd.DataFrame, columns: list[str]) -> np.ndarray | None:
    """The columns as a float array when every one was read as numbers and all are finite, else None."""
    if not all(frame[name].dtype in (np.float64, np.int64) for name in columns):
        return None
    values = frame[columns].to_numpy(dtype=float)
    return values if np.isfinite(values).all() else None


def _typed_classes(column: pd.Series, classes: list) -> np.ndarray | None:
    """Class indexes of a typed label column when every label is a class as written, else None."""
    if column.dtype == np.int64 and _all_ints(classes):
        found = pd.Index(classes, dtype=np.int64).get_indexer(column.to_numpy())
    elif _text(column):
        found = pd.Index([label_text(c) for c in classes], dtype=object).get_indexer(column.to_numpy(dtype=object))
    else:
        return None
    return None if (found < 0).any() else found


# -- the reference -----------------------------------------------------------------------------
def _typed_reference(path: Path, dataset: dict) -> Reference | None:
    """The reference read once into typed columns; None when the careful reading must decide."""
    if scan(path)[0]:
        return None
    id_name, target_name, classes = dataset["id"], dataset["target"], list(dataset["classes"])
    frame = _read_typed(path)
    if frame is None or list(frame.columns) != [id_name, target_name]:
        return None
    ids = _typed_ids(frame[id_name])
    if ids is None or not pd.Index(ids).is_unique:
        return None
    if classes:
        target = _typed_classes(frame[target_name], classes)
    else:
        target = _typed_numbers(frame, [target_name])
        target = target[:, 0] if target is not None else None
    if target is None:
        return None
    return Reference(ids=ids, target=target, classes=classes, id_name=id_name, target_name=target_name)


def read_reference(folder: Path, dataset: dict) -> Reference:
    """Read `test_labels.csv` (columns: the dataset's id and target) from the reference data folder.

    `dataset` is the dataset's entry of dataset.json (`id`, `target`, `classes`). Anything wrong
    here is the organizer's problem, not the participant's: the message says how to fix the data.
    """
    path = folder / REFERENCE_FILE
    if not path.is_file():
        # An organizer problem, not a participant one: say so plainly.
        raise FileNotFoundError(f"reference file {path} is missing; {MAKE_DATA}")
    missing_keys = [key for key in ("id", "target", "classes") if key not in dataset]
    if missing_keys:
        raise ValueError(f"dataset.json has no {', '.join(missing_keys)} for dataset {dataset.get('name')!r}; {MAKE_DATA}")
    id_name, target_name, classes = dataset["id"], dataset["target"], list(dataset["classes"])
    texts = [label_text(c) for c in classes]
    if len(set(texts)) != len(texts):
        raise ValueError(f"dataset.json declares the same class twice for dataset {dataset.get('name')!r} "
                         f"({class_list(classes)}); {MAKE_DATA}")
    typed = _typed_reference(path, dataset)
    if typed is not None:
        return typed
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig")
    if id_name not in frame.columns or target_name not in frame.columns:
        raise ValueError(f"reference file {path} has the columns {list(frame.columns)}, expected {id_name!r} and "
                         f"{target_name!r} as dataset.json says; {MAKE_DATA}")
    ids = frame[id_name].str.strip()
    duplicated = ids.duplicated().to_numpy()
    if duplicated.any():
        first = int(np.flatnonzero(duplicated)[0])
        raise ValueError(f"reference file {path} line {first + 2}: id {ids.iloc[first]!r} appears twice; {MAKE_DATA}")
    lines = np.arange(2, len(frame) + 2)
    if classes:
        target = class_indexes(frame[target_name], classes)
        problem = _problem(target < 0, lines, lambda i: f"target {frame[target_name].iloc[i]!r} is not one of the "
                           f"classes dataset.json declares ({class_list(classes)})")
    else:
        target = pd.to_numeric(frame[target_name].str.strip(), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        problem = _problem(~np.isfinite(target), lines, lambda i: f"target {frame[target_name].iloc[i]!r} is not a finite number")
    if problem:
        raise ValueError(f"reference file {path} {problem}; {MAKE_DATA}")
    return Reference(ids=ids.to_numpy(dtype=object), target=target, classes=classes, id_name=id_name, target_name=target_name)


# -- writing predictions -----------------------------------------------------------------------
def format_predictions(ids, values, fmt: str, classes: list, target: str, id_name: str, *,
                       indexes: bool = False) -> str:
    """The text of a prediction file in the format participants submit (used by the tools and the notebook).

    `values`, one entry per id, by format:
      probability    the probability of the positive class classes[1], shape (n,); a (n, 2) array in
                     the declared class order is accepted too (its second column is used)
      probabilities  a (n, K) array of probabilities in the declared class order
      label          the predicted class LABELS as a model returns them (ints or strings, matched with
                     `label_text`); with `indexes=True`, class indexes 0..K-1 in the declared order
      value          numbers, shape (n,)
    For the probability formats, a DataFrame with one column per class named by its label (any
    order, as `pd.DataFrame(model.predict_proba(X), columns=model.classes_)` gives) is put in the
    declared order first. The header is written with the csv module, cells with pandas (numbers as
    their shortest repr).
    """
    columns = [id_name, *prediction_columns(fmt, classes, target)]
    if isinstance(values, pd.DataFrame) and fmt in ("probability", "probabilities"):
        by_label = {label_text(column): column for column in values.columns}
        missing = [c for c in classes if label_text(c) not in by_label]
        if missing:
            raise ValueError(f"the probabilities have no column for the class(es) {class_list(missing)}")
        values = values[[by_label[label_text(c)] for c in classes]].to_numpy(dtype=float)
    ids = pd.Series(np.asarray(ids, dtype=object)).astype(str)
    if fmt == "label":
        raw = np.asarray(values)
        if indexes:
            found = np.asarray(raw, dtype=np.int64)
            found = np.where((found >= 0) & (found < len(classes)), found, -1)
        else:
            found = class_indexes(raw.ravel(), classes)
        if (found < 0).any():
            first = raw.ravel()[int(np.flatnonzero(found < 0)[0])]
            raise ValueError(f"{int(np.sum(found < 0))} predicted labels are not classes (e.g. {first!r}); "
                             f"the classes are {class_list(classes)}")
        names = np.array([label_text(c) for c in classes], dtype=object)
        cells = pd.DataFrame({0: names[found]})
    else:
        array = np.asarray(values, dtype=float)
        if fmt == "probability" and array.ndim == 2 and array.shape[1] == 2:
            array = array[:, 1]
        if fmt != "probabilities" and array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        expected = (len(ids), len(classes)) if fmt == "probabilities" else (len(ids),)
        if array.shape != expected:
            raise ValueError(f"{fmt} predictions have the shape {array.shape}, expected {expected}")
        cells = pd.DataFrame(array.reshape(len(ids), -1))
    if len(cells) != len(ids):
        raise ValueError(f"{len(cells)} predictions for {len(ids)} ids")
    body = pd.concat([ids.rename("id"), cells], axis=1)
    return csv_line(columns) + "\n" + body.to_csv(header=False, index=False, lineterminator="\n")


# -- reading predictions -----------------------------------------------------------------------
def _decode(path: Path, shown_as: str) -> tuple[str, list[str]]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise PredictionError(f"{shown_as} is not UTF-8 text (line {line} has the byte {data[exc.start:exc.start + 1]!r}, "
                              "which UTF-8 does not allow there).", file=shown_as,
                              fix="Write it as a plain UTF-8 CSV file, e.g. with pandas' DataFrame.to_csv(index=False).") from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise PredictionError(f"{shown_as}: line {line} holds a NUL byte (\\x00); a CSV file is text and cannot hold one.", file=shown_as,
                              fix="Write it as a plain UTF-8 CSV file, e.g. with pandas' DataFrame.to_csv(index=False).")
    if text.startswith(BOM):
        return text[len(BOM):], [f"{shown_as} starts with a byte-order mark (Excel's \"CSV UTF-8\" adds one); it was ignored."]
    return text, []


def _read_cells(text: str, shown_as: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Every cell as text (header row included), and the line numbers of rows with too many values."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = pd.read_csv(io.StringIO(text), header=None, dtype=str, keep_default_na=False, na_filter=False,
                                skip_blank_lines=False, on_bad_lines="warn", engine="c")
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise PredictionError(f"{shown_as} is not a valid CSV file ({' '.join(str(exc).split())}).", file=shown_as,
                                  fix="Write it with a CSV writer, e.g. pandas' DataFrame.to_csv(index=False); "
                                  "a quote opened in a cell must be closed.") from None
    skipped = [(int(line), int(saw)) for w in caught
               for line, saw in re.findall(r"[Ss]kipping line (\d+): expected \d+ fields, saw (\d+)", str(w.message))]
    return frame, np.array(sorted(skipped), dtype=int).reshape(-1, 2)


def _match_header(header: list[str], columns: list[str], shown_as: str) -> list[int]:
    """The position in the file of each expected column; the columns may come in any order."""
    found = [cell.strip() for cell in header]
    expected = [name.strip() for name in columns]
    if found == expected:
        return list(range(len(columns)))
    if sorted(found) == sorted(expected) and len(set(found)) == len(found):
        return [found.index(name) for name in expected]
    missing = [name for name in expected if name not in found]
    extra = [name for name in found if name not in expected]
    details = "; ".join(part for part in (f"missing: {', '.join(map(repr, missing))}" if missing else "",
                                          f"not expected: {', '.join(map(repr, extra))}" if extra else "",
                                          "a column appears twice" if len(set(found)) < len(found) else "") if part)
    raise PredictionError(f"{shown_as} line 1: header is {csv_line(header)!r}, expected {csv_line(columns)!r}"
                          + (f" ({details})." if details else "."),
                          file=shown_as, fix=f"Make the first line exactly `{csv_line(columns)}`.")


def _numbers(cells: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The cells as floats, and where a cell is not a number at all (nan and inf are numbers here)."""
    numbers = np.empty(cells.shape, dtype=float)
    not_number = np.zeros(cells.shape, dtype=bool)
    for j, column in enumerate(cells.columns):
        parsed = pd.to_numeric(cells[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)  # spaces around are fine
        numbers[:, j] = parsed
        missing = np.flatnonzero(np.isnan(parsed))
        if len(missing):  # "nan" is a number (refused later as not finite); "abc" and "" are not
            text = cells[column].iloc[missing].str.strip().str.lower().str.lstrip("+-")
            not_number[missing, j] = ~text.eq("nan").to_numpy(dtype=bool)
    return numbers, not_number


def _match_ids(ids: pd.Series, reference_ids: np.ndarray) -> np.ndarray:
    """The position of each row's id among the reference ids, -1 when it is not one (spaces around ignored).
    Whole-number reference ids are matched by value, as the fast reading does."""
    if reference_ids.dtype.kind == "i":
        text = ids.str.strip()
        whole = text.str.fullmatch(r"[+-]?[0-9]{1,18}").to_numpy(dtype=bool)
        position = np.full(len(ids), -1, dtype=np.intp)
        position[whole] = pd.Index(reference_ids).get_indexer(text[whole].astype(np.int64).to_numpy())
        return position
    index = pd.Index(reference_ids, dtype=object)
    position = index.get_indexer(ids.to_numpy(dtype=object))
    unmatched = np.flatnonzero(position < 0)
    if len(unmatched):
        position[unmatched] = index.get_indexer(ids.iloc[unmatched].str.strip().to_numpy(dtype=object))
    return position


def read_predictions(folder: Path, reference: Reference, fmt: str, shown_as: str = PREDICTIONS_FILE,
                     model_output: str = "") -> Predictions:
    """Parse `predictions.csv` and check it against the reference ids, column by column.

    `shown_as` is how messages name the file (e.g. `ds2/predictions.csv` when a phase has
    several datasets), so the participant knows which of their files to fix. The id column,
    the target and the classes come from `reference` (that is, from dataset.json). For a code
    submission, `model_output` names what the warnings are about ("Model.predict's output").
    """
    path = folder / PREDICTIONS_FILE
    if path.is_symlink():  # it would read whatever the link points to, a system file included
        raise PredictionError(f"{shown_as} is a symbolic link, not a file.", file=shown_as,
                              fix=f"Put the file itself in the submission: zip {PREDICTIONS_FILE}, not a link to it.")
    typed = None
    if path.is_file():
        doubtful, lines = scan(path)
        expected = len(reference.ids) + 1
        if lines > 2 * expected + 100:  # far more lines than rows: say so before parsing (and storing) them all
            header = csv_line([reference.id_name, *prediction_columns(fmt, reference.classes, reference.target_name)])
            raise PredictionError(f"{shown_as} has {lines} lines, expected {expected} (the header `{header}` and one row "
                                  f"per test id).", file=shown_as,
                                  fix="Write one row per test id, with no blank lines and nothing below the rows.")
        typed = None if doubtful else _typed_predictions(path, reference, fmt)
    if typed is None:
        return read_predictions_carefully(folder, reference, fmt, shown_as, model_output)
    values, rows = typed
    predictions = Predictions(fmt=fmt, values=values)
    predictions.warnings += suspicious(predictions, reference, lambda i: int(rows[i] if rows is not None else i) + 2,
                                       shown_as, model_output)
    return predictions


def _typed_predictions(path: Path, reference: Reference, fmt: str) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The values of a well-formed file aligned with the reference, read once into typed columns, and
    the file's row of each reference row (None: the same order); None as soon as anything needs the
    careful reading (which then explains it or accepts it). The caller has checked with scan() that
    no cell is padded with spaces."""
    value_columns = prediction_columns(fmt, reference.classes, reference.target_name)
    columns = [reference.id_name, *value_columns]
    numeric = fmt != "label"
    frame = _read_typed(path)
    if frame is None or len(frame) != len(reference.ids) or sorted(frame.columns) != sorted(columns) \
            or frame.columns[0] != reference.id_name:
        return None
    ids = _typed_ids(frame[reference.id_name])
    if ids is None or ids.dtype != reference.ids.dtype:
        return None
    if numeric:
        values = _typed_numbers(frame, value_columns)
        del frame
        if values is None:
            return None
        if fmt in ("probability", "probabilities") and ((values < 0.0).any() or (values > 1.0).any()):
            return None
        if fmt == "probabilities" and (np.abs(values.sum(axis=1) - 1.0) > SUM_TOLERANCE).any():
            return None
        values = values if fmt == "probabilities" else values[:, 0]
    else:
        values = _typed_classes(frame[value_columns[0]], reference.classes)
        del frame
        if values is None:
            return None
    if np.array_equal(ids, reference.ids):  # the usual case: the rows in the order of test.csv
        return values, None
    index = pd.Index(ids)
    rows = index.get_indexer(reference.ids) if index.is_unique else None
    if rows is None or (rows < 0).any():
        return None
    return values[rows], rows


def read_predictions_carefully(folder: Path, reference: Reference, fmt: str, shown_as: str = PREDICTIONS_FILE,
                               model_output: str = "") -> Predictions:
    """Read every cell as text and check it: the first bad line, its column and value, how many lines
    share the problem. The reading of a file the fast one gave up on, and what the tests compare it with."""
    path = folder / PREDICTIONS_FILE
    classes = reference.classes
    value_columns = prediction_columns(fmt, classes, reference.target_name)
    columns = [reference.id_name, *value_columns]
    header_text = csv_line(columns)
    help_text = FORMAT_HELP[fmt].format(positive=label_shown(classes[1]) if fmt == "probability" else "")
    expected_row = f"Each row is an id from test.csv (column {reference.id_name!r}), then {help_text}"
    if fmt == "label":
        expected_row += f" (one of {class_list(classes)})"
    if not path.is_file():
        found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        raise PredictionError(
            f"{shown_as} not found in the submission output (found: {', '.join(found) or 'nothing'}).",
            file=shown_as, fix=f"A result submission must be a zip with {PREDICTIONS_FILE} at its root, not inside a folder.")
    text, warnings_found = _decode(path, shown_as)
    if not text.strip():
        raise PredictionError(f"{shown_as} is empty.", file=shown_as,
                              fix=f"It needs the header `{header_text}` and one row per test id.")
    if not text.partition("\n")[0].strip():
        raise PredictionError(f"{shown_as} line 1 is empty, expected the header {header_text!r}.", file=shown_as,
                              fix=f"Make the first line exactly `{header_text}`, with no blank line above it.")
    frame, skipped = _read_cells(text, shown_as)
    header = [str(cell) for cell in frame.iloc[0].tolist()]
    if len(skipped) and skipped[0, 0] == 1:  # the header itself cannot be skipped, but be safe
        skipped = skipped[1:]
    order = _match_header(header, columns, shown_as)
    body = frame.iloc[1:, order].reset_index(drop=True)
    body.columns = columns
    lines = np.arange(2, len(body) + 2)

    # The shape of the file: blank lines and lines with too many values.
    maybe_blank = np.flatnonzero((body[reference.id_name] == "").to_numpy(dtype=bool))
    blank = np.zeros(len(body), dtype=bool)
    blank[maybe_blank] = (body.iloc[maybe_blank] == "").all(axis=1).to_numpy(dtype=bool)
    structure = [p for p in (
        _problem(blank, lines, lambda i: "the line is empty"),
        f"line {skipped[0, 0]}: expected {len(columns)} values ({header_text}), got {skipped[0, 1]}"
        + (f" ({len(skipped)} lines like this: {_lines_listed(skipped[:, 0])})" if len(skipped) > 1 else "")
        if len(skipped) else None) if p]
    if structure:
        raise PredictionError(f"{shown_as}: " + "; ".join(structure) + ".", file=shown_as,
                              fix=f"Write one row per test id with {len(columns)} values ({header_text}) and no blank line.")

    ids = body[reference.id_name]
    position = _match_ids(ids, reference.ids)  # where each row's id is in the reference
    known = position >= 0
    repeated = known & pd.Series(position).duplicated().to_numpy(dtype=bool)  # a known id seen on an earlier line

    def shown_id(i: int) -> str:
        return repr(ids.iloc[i].strip())

    if len(body) != len(reference.ids):
        covered = np.zeros(len(reference.ids), dtype=bool)
        covered[position[known]] = True
        details = []
        if not covered.all():
            details.append(f"{_count(int(np.sum(~covered)), 'test id has', 'test ids have')} no prediction "
                           f"(e.g. {str(reference.ids[~covered][0])!r})")
        if not known.all():
            first = int(np.flatnonzero(~known)[0])
            details.append(f"{_count(int(np.sum(~known)), 'row has an id', 'rows have ids')} that {'is' if np.sum(~known) == 1 else 'are'} "
                           f"not in test.csv (e.g. {shown_id(first)} on line {lines[first]})")
        if repeated.any():
            first = int(np.flatnonzero(repeated)[0])
            details.append(f"{_count(int(repeated.sum()), 'row repeats', 'rows repeat')} an id (e.g. {shown_id(first)} on line {lines[first]})")
        raise PredictionError(
            f"{shown_as} has {len(body)} prediction rows, expected {len(reference.ids)} (one per row of test.csv)"
            + (f": {'; '.join(details)}." if details else "."),
            file=shown_as, fix="Predict every row of test.csv, once each, and write nothing else below the header.")

    problems = [_problem(repeated, lines, lambda i: f"id {shown_id(i)} appears twice (also on line "
                         f"{lines[np.flatnonzero(position == position[i])[0]]})")]
    cells = body[value_columns]

    def cell(i: int, j: int) -> str:
        return cells.iloc[i, j]

    def where(i: int, bad: np.ndarray) -> tuple[int, str]:
        """The first bad column of row i, and a name for it in a message."""
        j = int(np.flatnonzero(bad[i])[0])
        return j, f" (column {value_columns[j]!r})"

    if fmt == "label":
        values = class_indexes(cells.iloc[:, 0], classes)
        listed = f"({class_list(classes)})" if len(classes) <= MAX_LISTED_CLASSES else f"({len(classes)} classes, listed below)"
        problems.append(_problem(values < 0, lines, lambda i: f"label {cell(i, 0)!r} is not one of the classes {listed}"
                                 if cell(i, 0).strip() else f"no label in column {value_columns[0]!r} (an empty cell or a short line)"))
    else:
        numbers, not_number = _numbers(cells)

        def not_a_number(i: int) -> str:
            j, name = where(i, not_number)
            if not cell(i, j).strip():
                return f"no value in column {value_columns[j]!r} (an empty cell or a short line)"
            return f"{cell(i, j)!r} is not a number{name}"

        infinite = ~np.isfinite(numbers) & ~not_number

        def not_finite(i: int) -> str:
            j, name = where(i, infinite)
            return f"{cell(i, j)!r} is not a finite number{name}; every value must be a finite number"

        problems += [_problem(not_number.any(axis=1), lines, not_a_number),
                     _problem(infinite.any(axis=1), lines, not_finite)]
        valid = ~(not_number | infinite).any(axis=1)
        if fmt in ("probability", "probabilities"):
            with np.errstate(invalid="ignore"):
                outside = ((numbers < 0.0) | (numbers > 1.0)) & valid[:, None]

            def out_of_range(i: int) -> str:
                j, name = where(i, outside)
                return f"probability {cell(i, j).strip()} is outside [0, 1]{name}"

            problems.append(_problem(outside.any(axis=1), lines, out_of_range))
        if fmt == "probabilities":
            sums = numbers.sum(axis=1)
            wrong_sum = valid & ~outside.any(axis=1) & (np.abs(sums - 1.0) > SUM_TOLERANCE)
            problems.append(_problem(wrong_sum, lines, lambda i: f"probabilities sum to {sums[i]:.10g}, not 1"))
        values = numbers if fmt == "probabilities" else numbers[:, 0]
    problems = [p for p in problems if p][:MAX_QUOTED_ROWS]
    if problems:
        raise PredictionError(f"{shown_as}: " + "; ".join(problems) + ".", file=shown_as, fix=expected_row + ".")

    if not known.all():
        covered = np.zeros(len(reference.ids), dtype=bool)
        covered[position[known]] = True
        first = int(np.flatnonzero(~known)[0])
        raise PredictionError(
            f"{shown_as}: {int(np.sum(~known))} ids are not in test.csv (e.g. {shown_id(first)}) and "
            f"{int(np.sum(~covered))} test ids have no prediction (e.g. {str(reference.ids[~covered][0])!r}); "
            f"the first unknown id is on line {lines[first]}.",
            file=shown_as, fix=f"Copy the id column {reference.id_name!r} of test.csv.")
    rows = np.empty(len(position), dtype=int)
    rows[position] = np.arange(len(position))  # the file's row of each reference id
    predictions = Predictions(fmt=fmt, values=values[rows], warnings=warnings_found)
    predictions.warnings += suspicious(predictions, reference, lambda i: int(lines[rows[i]]), shown_as, model_output)
    return predictions


def suspicious(predictions: Predictions, reference: Reference, line_of, shown_as: str, model_output: str = "") -> list[str]:
    """Valid predictions that are probably a mistake: worth a warning, not a refusal. `line_of(i)` is the file's
    line of the i-th value (values are in the reference's order). With `model_output` (a code submission: the
    ingestion program wrote the file from Model.predict's output, in the order of X), the warnings name that
    output and rows of X, not a file the participant never wrote."""
    classes = reference.classes
    if model_output:
        subject = model_output
        def where(i: int) -> str:
            return f"X.iloc[{i}], id {str(reference.ids[i])!r}"
    else:
        subject = shown_as
        def where(i: int) -> str:
            return f"line {line_of(i)}"
    found: list[str] = []
    values, fmt = predictions.values, predictions.fmt
    if len(values) > 1 and np.all(values == values[0]):
        found.append(f"every row of {subject} has the same prediction: a model that cannot tell rows apart "
                     "scores like chance on ranking metrics such as ROC AUC.")
    if fmt != "value":
        counts = np.bincount(predictions.view("labels"), minlength=len(classes))
        never = [classes[i] for i in np.flatnonzero(counts == 0)]
        if never:
            rule = f" ({label_rule(fmt, classes)})" if fmt != "label" else ""
            found.append(f"{subject} never predicts class {class_list(never)}{rule}: every row of "
                         f"{'that class' if len(never) == 1 else 'those classes'} counts as a mistake for accuracy and F1.")
    if fmt in ("probability", "probabilities"):
        certain = np.flatnonzero(np.any((values == 0.0) | (values == 1.0), axis=1) if values.ndim == 2 else (values == 0.0) | (values == 1.0))
        if len(certain):
            found.append(f"{len(certain)} rows of {subject} give a probability of exactly 0 or 1 (e.g. "
                         f"{where(int(certain[0]))}): one such row that is wrong costs log loss about 34.5 on its own; "
                         "clip probabilities to [0.001, 0.999] unless you are sure.")
    return found
