"""Read a dataset's source table and infer what data.yaml leaves out: the kinds of columns, the classes.

A source is a .csv file (any of , ; tab | as delimiter, UTF-8 with or without a byte-order
mark), a .parquet file (needs pyarrow), `sklearn:<name>` (a real dataset scikit-learn ships,
no download) or `synthetic` (seeded numbers). Anything that cannot be read is a `TableError`
whose message names the file, the line or column, and the fix.

In a CSV file a cell is missing only when it is empty or one of the dataset's declared
`na_values`, and the id, target, group and categorical columns are read as text, so labels
such as `None` or `NA` and ids such as `007` arrive as written (the other columns are parsed as
numbers where they are numbers, which is as fast as pandas reads; a column pandas would make
true/false is read again as text).
A first column with no name (the row index pandas and R write) is set aside, and numbers with
decimal commas in a `;`- or tab-separated file (a spreadsheet's European export) are read as
numbers; both are said in the data report.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
import unicodedata
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
CODES = 20  # a column with at most this many different numbers and a few words among them is a category
SYNTHETIC_ROWS = 1600  # synthetic data with a split in fractions (beside a real table in another dataset)
INDEX_COLUMN = "index_column"  # table.attrs key: the unnamed first column, a row index (left out of the features)
DECIMAL_COMMA = "decimal_comma"  # table.attrs key: the columns read with decimal commas
_DECIMAL_COMMA = re.compile(r"[+-]?\d+(,\d+)?([eE][+-]?\d+)?")
_WHOLE_NUMBER = re.compile(r"0|-?[1-9]\d*")


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

    rows = int(sum(declaration.split.values())) if declaration.split_in_rows else SYNTHETIC_ROWS
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
    if head.startswith(b"\x1f\x8b"):
        raise TableError(f"{path}: the file is gzip-compressed, not a CSV text; decompress it first "
                         f"(`gunzip -c {path.name} > table.csv`) and give that file")
    if head.startswith(b"PK\x03\x04"):
        raise TableError(f"{path}: the file is a zip archive (an Excel .xlsx workbook is one), not a CSV text; "
                         "export the sheet as CSV (UTF-8), or unzip the table out of it")
    if head.count(b"\x00") > len(head) // 4:
        raise TableError(f"{path}: the file is UTF-16 text without a byte-order mark (every other byte is 0); "
                         "save it as UTF-8 (e.g. `iconv -f UTF-16LE -t UTF-8`)")
    if b"\x00" in head:
        line = head[:head.index(b"\x00")].count(b"\n") + 1
        raise TableError(f"{path} line {line}: the file holds a NUL byte, so it is not a text table; export it again as CSV")
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


def missing_source(path: Path, example: str) -> TableError:
    if path.is_dir():
        return TableError(f"{path} is a folder; give the table file in it (SOURCE={example})")
    return TableError(f"{path} does not exist; give SOURCE={example}, relative to the bundle folder (where data.yaml "
                      "is) or absolute, or correct the dataset's source in data.yaml")


def longer_rows(path: Path, encoding: str, delimiter: str, named: int) -> TableError:
    """pandas keeps only as many values of a line as the header names (with index_col=False): the first longer line."""
    with path.open(encoding=encoding, newline="") as f:
        for number, row in enumerate(csv.reader(f, delimiter=delimiter), start=1):
            if len(row) > named:
                return TableError(f"{path} line {number} has {len(row)} values, and the header (line 1) names {named} "
                                  "columns: the others would be lost. Give every column a name in the header (is line 1 "
                                  "a note rather than the header?)")
    return TableError(f"{path}: some lines have more values than the header names columns; name every column")


def read_csv(path: Path, na_values: list[str] = (), text_columns: set[str] = frozenset(), auto_id: bool = False) -> pd.DataFrame:
    """The table: a cell is missing when empty or one of `na_values`; `text_columns` (and with `auto_id` a column
    called id, which may become the id) and every column that is not all numbers keep their cells' text as written."""
    if not path.is_file():
        raise missing_source(path, "path/to/table.csv")
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    if not head.strip():
        raise TableError(f"{path} is empty; it needs a header line and one line per row")
    encoding = _check_encoding(path, head)
    delimiter = _delimiter(path, head)
    with path.open(encoding=encoding, newline="") as f:  # the whole header, however long, quoted line breaks included
        raw = next(csv.reader(f, delimiter=delimiter), [])
    header = [name.strip() for name in raw]
    unnamed_index = len(header) > 1 and not header[0]  # pandas' to_csv() and R's write.csv() write the row index so
    trailing = len(header) > 2 and not header[-1]  # a delimiter that ends every line, the header's too
    check_header(path, header[1 if unnamed_index else 0:len(header) - trailing], first=2 if unnamed_index else 1)
    texts = {name for name in raw if name.strip() in text_columns or (auto_id and is_id_name(name))}
    # index_col=False: a delimiter ending every line is an empty last column, never a reason to take column 1 as the index
    options = dict(sep=delimiter, encoding=encoding, keep_default_na=False, na_values=["", *na_values], skipinitialspace=False,
                   index_col=False)
    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            table = pd.read_csv(path, dtype={name: str for name in texts}, low_memory=False, **options)
            if any(issubclass(w.category, pd.errors.ParserWarning) and "Length of header" in str(w.message) for w in said):
                raise longer_rows(path, encoding, delimiter, len(raw))
            flags = [name for name in table.columns if pd.api.types.is_bool_dtype(table[name])
                     or pd.api.types.infer_dtype(table[name], skipna=True) == "boolean"]
            if flags:  # True/true/TRUE would all become True: read those columns again, as written
                again = pd.read_csv(path, usecols=flags, dtype=str, **options)
                for name in flags:
                    table[name] = again[name]
    except pd.errors.ParserError as exc:
        raise TableError(f"{path}: {' '.join(str(exc).split())}; every line needs as many {delimiter!r}-separated "
                         "values as the header (quote values that contain the delimiter)") from None
    if trailing:
        last = table.columns[-1]
        if table[last].notna().any():
            raise TableError(f"{path} line 1: column {len(header)} has no name but holds values (first: line "
                             f"{int(np.flatnonzero(table[last].notna())[0]) + 2}); name every column in the header")
        table = table.drop(columns=[last])
    table.columns = [str(c).strip() for c in table.columns]
    if table.shape[1] == 1:
        raise TableError(f"{path}: found a single column {table.columns[0][:60]!r}; the delimiter is not one of "
                         "comma, semicolon, tab or | (or the file has one column); save it as a comma-separated CSV")
    if unnamed_index:
        table.attrs[INDEX_COLUMN] = table.columns[0]
    if delimiter != ",":
        table.attrs[DECIMAL_COMMA] = read_decimal_commas(table, {name.strip() for name in texts})
    return table


def read_decimal_commas(table: pd.DataFrame, texts: set[str]) -> list[str]:
    """Columns whose every value is a number written with a decimal comma (3,5) become numbers (3.5), in place;
    not the id, target, group or categorical columns (`texts`), which stay as written."""
    converted = []
    for name in table.columns:
        present = table[name].dropna()
        if name in texts or not len(present) or pd.api.types.infer_dtype(present, skipna=True) != "string":
            continue
        if present.str.contains(",", regex=False).any() and present.str.fullmatch(_DECIMAL_COMMA).all():
            table[name] = table[name].str.replace(",", ".", regex=False)
            converted.append(name)
    return converted


def is_id_name(name: str) -> bool:
    """A column called id (any case), which make data takes as the id when none is given."""
    return name.strip().lower() == "id"


def has_control(text: str) -> bool:
    """A control character (a line break, a tab, ...): a no-break or zero-width space is not one."""
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def check_header(path: Path, names: list[str], first: int = 1) -> None:
    for position, name in enumerate(names, start=first):
        if not name:
            raise TableError(f"{path} line 1: column {position} has no name; name every column in the header")
        if has_control(name):
            raise TableError(f"{path} line 1: column {position} name {name!r} has control characters; rename it")
        if names.count(name) > 1:
            raise TableError(f"{path} line 1: the column name {name!r} appears {names.count(name)} times; "
                             "give every column its own name")


def read_parquet(path: Path, na_values: list[str] = ()) -> pd.DataFrame:
    if not path.is_file():
        raise missing_source(path, "path/to/table.parquet")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise TableError(f"{path}: reading .parquet needs pyarrow (`pip install pyarrow`), or save the table as CSV") from None
    try:
        table = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise TableError(f"{path} is not a readable Parquet file ({type(exc).__name__}: {' '.join(str(exc).split())[:300]}); "
                         "write it again (pandas: DataFrame.to_parquet) or save the table as CSV") from None
    if not isinstance(table.index, pd.RangeIndex):  # an index pandas stored with the table: its columns, if named
        table = table.reset_index(drop=all(name is None for name in table.index.names))
    check_header(path, [str(c) for c in table.columns])
    table.columns = [str(c) for c in table.columns]
    for name in table.columns:
        column = table[name]  # dates, durations, lists and mappings: their text, as a CSV file would hold them
        nested = column.dtype == object and column.map(lambda v: isinstance(v, (list, dict, tuple, set, np.ndarray))).any()
        if nested or pd.api.types.is_datetime64_any_dtype(column) or pd.api.types.is_timedelta64_dtype(column):
            table[name] = column.map(str, na_action="ignore") if nested else column.astype(str).where(column.notna())
    for name in table.columns:  # the declared texts mean missing in text columns, as in a CSV file
        if na_values and not pd.api.types.is_numeric_dtype(table[name]):
            table[name] = table[name].mask(table[name].isin(na_values))
    return table


def read_source(declaration: Declaration, dataset: Dataset, root: Path, seed: int) -> pd.DataFrame:
    """The dataset's whole table, as its source gives it."""
    if dataset.source == SYNTHETIC:
        return synthetic_table(declaration, dataset, seed)
    if dataset.source.startswith("sklearn:"):
        return sklearn_table(dataset)
    path = Path(dataset.source)
    path = Path(os.path.normpath(path if path.is_absolute() else root / path))  # where it is looked for, without ../
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        text = {dataset.id, dataset.target, dataset.group} - {None}
        text |= {name for name, kind in (dataset.features or {}).items() if kind == "categorical"}
        table = read_csv(path, dataset.na_values, text, auto_id=dataset.id is None)
    elif suffix in (".parquet", ".pq"):
        table = read_parquet(path, dataset.na_values)
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


def numbers(column: pd.Series) -> pd.Series:
    """A column's values as numbers: NaN where a value is missing or is not a number (nor is 'nan' or 'inf')."""
    try:  # numbers, or text that is all numbers: the fast conversion (a third of to_numeric's time)
        values = column.astype("float64")
    except (ValueError, TypeError):
        values = pd.to_numeric(column, errors="coerce").astype("float64")
    return values.where(np.isfinite(values))


def not_numbers(column: pd.Series) -> pd.Series:
    """The present values of a column that are not finite numbers."""
    return column[numbers(column).isna() & column.notna()]


def infer_kind(column: pd.Series) -> str:
    """numeric, categorical, or text (refused)."""
    if pd.api.types.is_bool_dtype(column):
        return "categorical"
    if pd.api.types.is_numeric_dtype(column):
        return "numeric"
    present = column.dropna()
    if len(present) and not_numbers(present).empty:
        return "numeric"
    return "categorical" if present.nunique() <= max_categories(len(column)) else "text"


def rows_text(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")


def spoilt_numbers(table: pd.DataFrame, names: list[str], where: str, place) -> str | None:
    """One line for the columns among `names` that hold numbers spoilt by a few marker texts ('?', 'NA': at most
    three, in at most half the rows, among more than CODES different numbers) or by decimal commas, with the fix
    (NA_VALUES=...); None when there are none."""
    commas, spoilt, markers = [], [], {}  # markers: text -> [rows, first (column, row)]
    for name in names:
        present = table[name].dropna()
        if pd.api.types.is_numeric_dtype(present) or present.empty:
            continue
        others = not_numbers(present)
        if others.empty:
            continue
        if present.astype(str).str.fullmatch(_DECIMAL_COMMA).all():
            commas.append((name, others.iloc[0], others.index[0]))
            continue
        texts = others.unique()
        if len(texts) > 3 or len(others) > len(present) / 2 or numbers(present).nunique() <= CODES:
            continue  # text, or codes with a few words among them (a category): not a column of numbers
        spoilt.append(name)
        for text in texts:
            rows = others.index[others == text]
            entry = markers.setdefault(text, [0, (name, rows[0])])
            entry[0] += len(rows)
    if commas:
        name, text, row = commas[0]
        columns = ", ".join(repr(c[0]) for c in commas)
        return (f"{where}: {'the column' if len(commas) == 1 else 'the columns'} {columns} "
                f"{'holds' if len(commas) == 1 else 'hold'} numbers with decimal commas "
                f"({text!r} on {place(row)} of {name!r}) in a comma-separated file; save the table with decimal points, or "
                "with ';' as the delimiter (make data then reads decimal commas)")
    if not markers:
        return None
    shown = ", ".join(f"{text!r} ({rows_text(rows)}, first: {place(row)} of {column!r})"
                      for text, (rows, (column, row)) in markers.items())
    one = len(spoilt) == 1
    return (f"{where}: {'the column' if one else 'the columns'} {', '.join(map(repr, spoilt))} {'holds' if one else 'hold'} "
            f"numbers but also {shown}; if that means a missing value, pass NA_VALUES={','.join(map(str, markers))!r} (kept "
            f"in data.yaml), otherwise fix those cells or leave {'it' if one else 'them'} out with DROP={','.join(spoilt)!r}")


def infer_features(table: pd.DataFrame, dataset: Dataset, dropped: list[str], where: str,
                   place=lambda row: f"row {row + 1}") -> tuple[dict[str, str], dict[str, str]]:
    """Each feature column's kind, and the columns left out with the reason (the unnamed row index, constant columns)."""
    roles = {dataset.id, dataset.target, dataset.group} - {None}
    unknown = [name for name in dropped if name not in table.columns]
    if unknown:
        raise TableError(f"{where}: DROP names {', '.join(map(repr, unknown))}, which the table does not have "
                         f"({columns_named(unknown[0], table.columns)})")
    for name in dropped:
        if name in roles:
            role = "TARGET" if name == dataset.target else "ID" if name == dataset.id else "GROUP"
            raise TableError(f"{where}: DROP names {name!r}, which is the {role}; leave it out of DROP")
    left_out = {name: "left out with DROP" for name in dropped}
    index = table.attrs.get(INDEX_COLUMN)  # "" when the header's first cell is blank but for spaces
    if index is not None and index not in roles and index not in dropped:
        left_out[index] = "column 1 has no name: a row index, as pandas and R write it"
    candidates = [name for name in table.columns if name not in roles and name not in left_out]
    for name in candidates:
        present = table[name].dropna()
        if present.empty or (present == present.iloc[0]).all():
            left_out[name] = (f"a single value ({shown_value(present.iloc[0])})" if len(present) else "empty in every row") \
                + ": it tells no row from another"
    kinds = {name: infer_kind(table[name]) for name in candidates if name not in left_out}
    fix = spoilt_numbers(table, [name for name, kind in kinds.items() if kind != "numeric"], where, place)
    if fix:
        raise TableError(fix)
    text = [name for name, kind in kinds.items() if kind == "text"]
    if text:
        examples = "; ".join(f"{name!r}: {table[name].nunique()} distinct values" for name in text[:5])
        unique = [name for name in text if table[name].notna().all() and not table[name].duplicated().any()]
        as_id = f", or pass ID={unique[0]!r} if it identifies the rows" if unique and not dataset.id else ""
        raise TableError(f"{where}: {len(text)} column(s) hold free text or identifiers, which make data does not turn "
                         f"into features ({examples}); leave them out with DROP={','.join(text)!r}{as_id} (or clean them "
                         "into categories in your table)")
    if not kinds:
        raise TableError(f"{where}: no feature column is left besides the id, target and group columns"
                         + (f" (left out: {shorten_list(left_out)})" if left_out else ""))
    return kinds, {name: reason for name, reason in left_out.items() if name not in dropped}


def shown_value(value) -> str:
    """A value for a message as the table has it: 3.5, 'text' (numpy scalars as plain Python values)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def infer_classes(target: pd.Series, declaration: Declaration, where: str) -> list:
    """The target's labels in sorted order (numbers as ints, else text), checked against the task type."""
    present = target.dropna()
    if not declaration.classification:
        return []
    numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    if not numeric and len(present) and not_numbers(present).empty:  # numbers written as text
        texts = present.astype(str)
        if texts.str.fullmatch(_WHOLE_NUMBER).all():  # 1, 2, 3 are numbers; 01, 02 and 1.0 stay labels as written
            return check_class_count(sorted(int(v) for v in texts.unique()), where)
        if not np.all(np.mod(numbers(present), 1) == 0):
            numeric = True  # decimals: said to be a regression target below
    if numeric:
        values = numbers(present).to_numpy(dtype=float)
        if not np.all(values == np.round(values)):
            raise TableError(f"{where}: the target holds numbers with decimals ({shorten_list(np.unique(values)[:5])}, ...): "
                             "it looks like a regression target; choose a target of classes, or make a regression competition")
        labels = sorted(int(v) for v in np.unique(values))
    else:
        labels = sorted(np.unique(as_text(present).to_numpy(dtype=str)).tolist())
    return check_class_count(labels, where)


def check_class_count(labels: list, where: str) -> list:
    if len(labels) > MAX_CLASSES:
        raise TableError(f"{where}: the target has {len(labels)} different values; classification takes at most "
                         f"{MAX_CLASSES} classes (is it a regression target, or an identifier?)")
    return labels


def columns_named(name: str, columns, limit: int = 8) -> str:
    """"columns: 'a', 'b', ...", and the one `name` probably meant when only quotes, spaces or case set them apart
    (statsmodels' anes96.csv writes its header as 'vote')."""
    def bare(text: str) -> str:
        return str(text).strip().strip("'\"`").strip().casefold()

    close = [str(c) for c in columns if bare(c) == bare(name) and str(c) != name]
    hint = f"; the header writes it {close[0]!r}: pass it so" if len(close) == 1 else ""
    return f"columns: {shorten_list(columns, limit)}{hint}"


def shorten_list(values, limit: int = 8) -> str:
    values = [str(v) for v in values]
    shown = ", ".join(repr(v) if not v.lstrip("-").replace(".", "", 1).isdigit() else v for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")
