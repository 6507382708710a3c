"""Read a dataset's source table and infer what data.yaml leaves out: the kinds of columns, the classes.

A source is a .csv file (any of , ; tab | as delimiter, UTF-8 with or without a byte-order
mark), a .parquet file (needs pyarrow), `sklearn:<name>` (a real dataset scikit-learn ships,
no download) or `synthetic` (seeded numbers). Anything that cannot be read is a `TableError`
whose message names the file, the line or column, and the fix.
"""

from __future__ import annotations

import codecs
import csv
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bundle import ROOT, load_program_module
from declaration import MAX_CLASSES, SKLEARN_SOURCES, SYNTHETIC, Dataset, Declaration

# How a label, id or category is written in the competition's files (3, 3.0 and "3" are the same):
# the scoring program's own definition, so that the data and the scoring never disagree.
label_text = load_program_module(ROOT / "scoring_program", "metrics").label_text

DELIMITERS = ",;\t|"
SNIFF_BYTES = 64 * 1024
BOMS = {codecs.BOM_UTF32_LE: "UTF-32", codecs.BOM_UTF32_BE: "UTF-32", codecs.BOM_UTF16_LE: "UTF-16", codecs.BOM_UTF16_BE: "UTF-16"}
MIN_ROWS = 20


class TableError(Exception):
    """The table cannot be used as it is; the message says where and how to fix it."""


def as_text(column: pd.Series) -> pd.Series:
    """A column's values as the text written to the competition's files (missing stays missing)."""
    if pd.api.types.is_integer_dtype(column) and not column.isna().any():
        return column.astype("int64").astype(str).astype(object)
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return column.map(label_text, na_action="ignore").astype(object)
    text = column.astype(object)
    if pd.api.types.infer_dtype(text, skipna=True) in ("string", "empty"):
        return text  # already text (what read_csv gives): no per-value conversion
    return text.map(str, na_action="ignore")


# -- sources ------------------------------------------------------------------------------------
def synthetic_table(declaration: Declaration, dataset: Dataset, seed: int) -> pd.DataFrame:
    """Seeded numbers with the declared features and classes (rows: the split's numbers of rows)."""
    from sklearn.datasets import make_classification, make_regression

    if not declaration.split_in_rows:
        raise TableError(f"{dataset.name}: synthetic data needs the split in numbers of rows (like train: 800)")
    rows = int(sum(declaration.split.values()))
    names = list(dataset.features or {})
    if any(kind != "numeric" for kind in (dataset.features or {}).values()) or not names:
        raise TableError(f"{dataset.name}: synthetic data has numeric features only; declare them as numeric")
    if declaration.classification:
        X, y = make_classification(n_samples=rows, n_features=len(names), n_informative=min(8, len(names)),
                                   n_redundant=min(4, max(0, len(names) - 8)), n_classes=len(dataset.classes),
                                   n_clusters_per_class=1, flip_y=0.03, class_sep=0.8, random_state=seed)
        target = pd.Series(np.asarray(dataset.classes, dtype=object)[y])
    else:
        X, y = make_regression(n_samples=rows, n_features=len(names), n_informative=min(10, len(names)), noise=25.0,
                               random_state=seed)
        target = pd.Series(np.round(y, 6))
    table = pd.DataFrame(np.round(X, 6), columns=names)
    table[dataset.target] = target.infer_objects()
    return table


def sklearn_table(dataset: Dataset) -> pd.DataFrame:
    from sklearn import datasets as shipped

    name = dataset.source.split(":", 1)[1]
    bunch = getattr(shipped, f"load_{name}")(as_frame=True)
    table = bunch.frame.rename(columns={"target": SKLEARN_SOURCES[name][1]})
    target = table.columns[-1]
    if SKLEARN_SOURCES[name][0] != "regression":  # the class names scikit-learn gives, not 0..K-1
        table[target] = np.asarray(bunch.target_names, dtype=object)[table[target].to_numpy()]
    return table


def _check_encoding(path: Path, head: bytes) -> str:
    for bom, name in BOMS.items():
        if head.startswith(bom):
            raise TableError(f"{path}: the file is {name} text; save it as UTF-8 (e.g. `iconv -f {name} -t UTF-8`)")
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                where = offset + exc.start
                with path.open("rb") as again:
                    line = again.read(where).count(b"\n") + 1
                byte = chunk[exc.start:exc.start + 1].hex()
                raise TableError(f"{path} line {line}: byte 0x{byte} is not UTF-8 (the file is probably Latin-1 or "
                                 "Windows-1252); save it as UTF-8 (e.g. `iconv -f latin1 -t UTF-8`)") from None
            offset += len(chunk)
    return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"


def _delimiter(path: Path, head: bytes) -> str:
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff")
    lines = text.splitlines()[:50]
    if len(lines) > 1 and not text.endswith("\n"):
        lines = lines[:-1]  # the last line may be cut in the middle
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise TableError(f"{path} does not exist; give SOURCE=path/to/table.csv (relative to the bundle folder)")
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    if not head.strip():
        raise TableError(f"{path} is empty; it needs a header line and one line per row")
    encoding = _check_encoding(path, head)
    delimiter = _delimiter(path, head)
    header = next(csv.reader([head.decode("utf-8", errors="ignore").lstrip("\ufeff").splitlines()[0]], delimiter=delimiter))
    check_header(path, [name.strip() for name in header])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = pd.read_csv(path, sep=delimiter, encoding=encoding, low_memory=False, skipinitialspace=False)
    except pd.errors.ParserError as exc:
        raise TableError(f"{path}: {' '.join(str(exc).split())}; every line needs as many {delimiter!r}-separated "
                         "values as the header (quote values that contain the delimiter)") from None
    table.columns = [str(c).strip() for c in table.columns]
    if table.shape[1] == 1:
        raise TableError(f"{path}: found a single column {table.columns[0][:60]!r}; the delimiter is not one of "
                         "comma, semicolon, tab or | (or the file has one column); save it as a comma-separated CSV")
    return table


def check_header(path: Path, names: list[str]) -> None:
    for position, name in enumerate(names, start=1):
        if not name:
            raise TableError(f"{path} line 1: column {position} has no name; name every column in the header")
        if any(ch in name for ch in "\r\n\t") or not name.isprintable():
            raise TableError(f"{path} line 1: column {position} name {name!r} has control characters; rename it")
        if names.count(name) > 1:
            raise TableError(f"{path} line 1: the column name {name!r} appears {names.count(name)} times; "
                             "give every column its own name")


def read_parquet(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise TableError(f"{path} does not exist; give SOURCE=path/to/table.parquet (relative to the bundle folder)")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise TableError(f"{path}: reading .parquet needs pyarrow (`pip install pyarrow`), or save the table as CSV") from None
    try:
        table = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise TableError(f"{path} is not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    check_header(path, [str(c) for c in table.columns])
    table.columns = [str(c) for c in table.columns]
    return table


def read_source(declaration: Declaration, dataset: Dataset, root: Path, seed: int) -> pd.DataFrame:
    """The dataset's whole table, as its source gives it."""
    if dataset.source == SYNTHETIC:
        return synthetic_table(declaration, dataset, seed)
    if dataset.source.startswith("sklearn:"):
        return sklearn_table(dataset)
    path = Path(dataset.source)
    path = path if path.is_absolute() else root / path
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        table = read_csv(path)
    elif suffix in (".parquet", ".pq"):
        table = read_parquet(path)
    else:
        raise TableError(f"{path}: {suffix or 'no extension'} is not a table format make data reads; give a .csv or .parquet file")
    if len(table) < MIN_ROWS:
        raise TableError(f"{path} has {len(table)} rows; a competition needs at least {MIN_ROWS} to split into "
                         "train, Development test and Final test")
    return table


# -- inference ------------------------------------------------------------------------------------
def max_categories(rows: int) -> int:
    """More distinct values than this and a text column is free text (or an identifier), not a category."""
    return min(1000, max(20, rows // 20))


def infer_kind(column: pd.Series) -> str:
    """numeric, categorical, or text (refused)."""
    if pd.api.types.is_bool_dtype(column):
        return "categorical"
    if pd.api.types.is_numeric_dtype(column):
        return "numeric"
    present = column.dropna()
    if len(present) and pd.to_numeric(present, errors="coerce").notna().all():
        return "numeric"
    return "categorical" if present.nunique() <= max_categories(len(column)) else "text"


def infer_features(table: pd.DataFrame, dataset: Dataset, dropped: list[str], where: str) -> dict[str, str]:
    roles = {dataset.id, dataset.target, dataset.group} - {None}
    unknown = [name for name in dropped if name not in table.columns]
    if unknown:
        raise TableError(f"{where}: DROP names {', '.join(map(repr, unknown))}, which the table does not have "
                         f"(columns: {shorten_list(table.columns)})")
    kinds = {name: infer_kind(table[name]) for name in table.columns if name not in roles and name not in dropped}
    text = [name for name, kind in kinds.items() if kind == "text"]
    if text:
        examples = "; ".join(f"{name!r}: {table[name].nunique()} distinct values" for name in text[:5])
        unique = [name for name in text if table[name].notna().all() and not table[name].duplicated().any()]
        as_id = f", or pass ID={unique[0]!r} if it identifies the rows" if unique and not dataset.id else ""
        raise TableError(f"{where}: {len(text)} column(s) hold free text or identifiers, which make data does not turn "
                         f"into features ({examples}); leave them out with DROP={','.join(text)!r}{as_id} (or clean them "
                         "into categories in your table)")
    if not kinds:
        raise TableError(f"{where}: no feature column is left besides the id, target and group columns")
    return kinds


def infer_classes(target: pd.Series, declaration: Declaration, where: str) -> list:
    """The target's labels in sorted order (numbers as ints, else text), checked against the task type."""
    present = target.dropna()
    if not declaration.classification:
        return []
    numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    if numeric:
        values = present.to_numpy(dtype=float)
        if not np.all(values == np.round(values)):
            raise TableError(f"{where}: the target holds numbers with decimals ({shorten_list(np.unique(values)[:5])}, ...): "
                             "it looks like a regression target; choose a target of classes, or make a regression competition")
        labels = sorted(int(v) for v in np.unique(values))
    else:
        labels = sorted(np.unique(as_text(present).to_numpy(dtype=str)).tolist())
    if len(labels) > MAX_CLASSES:
        raise TableError(f"{where}: the target has {len(labels)} different values; classification takes at most "
                         f"{MAX_CLASSES} classes (is it a regression target, or an identifier?)")
    return labels


def shorten_list(values, limit: int = 8) -> str:
    values = [str(v) for v in values]
    shown = ", ".join(repr(v) if not v.lstrip("-").replace(".", "", 1).isdigit() else v for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")
