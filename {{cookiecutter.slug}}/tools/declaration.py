"""data.yaml, the data declaration: read it, check it, write it back.

data.yaml says once what the data is: where each dataset comes from, its id, target and group
columns, its class labels in order, each feature and its kind, and how the rows are split.
`make data` (tools/prepare_data.py) follows it and writes what the ingestion and scoring
programs read (task.json and dataset.json next to the data), the sample submissions and the
data page. A dataset whose `features` or `classes` are left out gets them from its table, and
data.yaml is written back complete.

Only the standard library and PyYAML here: the template renders data.yaml with `dump`.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

FILE = "data.yaml"
TASK_TYPES = ("binary_classification", "multiclass_classification", "regression")
KINDS = ("numeric", "categorical")
SPLITS = {"train": "train", "dev_test": "Development test", "final_test": "Final test"}
MAX_CLASSES = 50
SKLEARN_SOURCES = {  # name -> (task type, target column name): real data scikit-learn ships, no download
    "breast_cancer": ("binary_classification", "diagnosis"),
    "wine": ("multiclass_classification", "cultivar"),
    "diabetes": ("regression", "progression"),
}
SYNTHETIC = "synthetic"
TOP_KEYS = ("task_type", "seed", "split", "datasets")
SPLIT_KEYS = (*SPLITS, "stratify")
DATASET_KEYS = ("name", "source", "id", "target", "group", "na_values", "missing_target", "classes", "features", "descriptions")
MISSING_TARGET = ("leave_out", "error")  # rows with no target: left out of every split (counted), or refused
DESCRIBED = ("columns", "classes")
MAX_DESCRIPTION = 300  # characters of one description (a line of the data page's table)
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\- ]*$")


class DeclarationError(Exception):
    """data.yaml cannot be followed; the message names the key and the fix."""


@dataclass
class Dataset:
    name: str
    source: str
    target: str
    id: str | None = None  # None: ids are generated
    group: str | None = None  # rows sharing a value stay in one split
    classes: list | None = None  # declared order; None: taken from the table; [] for regression
    features: dict[str, str] | None = None  # name -> kind, in order; None: taken from the table
    na_values: list[str] = field(default_factory=list)  # cell texts that mean missing, besides an empty cell
    missing_target: str = "leave_out"  # or "error"
    descriptions: dict[str, dict[str, str]] = field(default_factory=dict)  # columns|classes -> name -> one line

    @property
    def complete(self) -> bool:
        return self.features is not None and self.classes is not None


@dataclass
class Declaration:
    task_type: str
    seed: int
    split: dict[str, float]  # train, dev_test, final_test -> a fraction of the rows or a number of rows
    stratify: bool = True
    datasets: list[Dataset] = field(default_factory=list)

    @property
    def classification(self) -> bool:
        return self.task_type != "regression"

    @property
    def split_in_rows(self) -> bool:
        return all(isinstance(v, int) for v in self.split.values())


def _closest(key: str, known: tuple[str, ...]) -> str:
    match = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean `{match[0]}`?)" if match else f" (known: {', '.join(known)})"


def _unknown_keys(mapping: dict, known: tuple[str, ...], where: str) -> None:
    for key in mapping:
        if key not in known:
            raise DeclarationError(f"{FILE}: {where}{key!r} is not a key of the declaration{_closest(str(key), known)}")


def _text(value: object, where: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise DeclarationError(f"{FILE}: {where} must be a column name (text), got {value!r}")
    return value


def _classes(value: object, where: str) -> list | None:
    if value is None:
        return None
    if not isinstance(value, list) or any(isinstance(c, bool) or not isinstance(c, (int, str)) for c in value):
        raise DeclarationError(f"{FILE}: {where} must be a list of class labels (whole numbers or text), got {value!r}")
    texts = [str(c) for c in value]
    if len(set(texts)) != len(texts):
        twice = next(t for t in texts if texts.count(t) > 1)
        raise DeclarationError(f"{FILE}: {where} lists the class {twice!r} twice; list each class once")
    return value


def _features(value: object, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise DeclarationError(f"{FILE}: {where} must map each feature column to its kind (numeric or categorical)")
    for name, kind in value.items():
        if kind not in KINDS:
            raise DeclarationError(f"{FILE}: {where}.{name}: kind {kind!r} is not one of {', '.join(KINDS)}; text "
                                   "columns are not supported: drop the column or make it categorical")
    return {str(name): kind for name, kind in value.items()}


def _na_values(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or any(not isinstance(v, str) or not v for v in value):
        raise DeclarationError(f"{FILE}: {where} must be a list of the texts that mean a missing value, like ['?', 'n/a'], "
                               f"got {value!r}")
    return list(value)


def _descriptions(value: object, where: str) -> dict[str, dict[str, str]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DeclarationError(f"{FILE}: {where} must map columns and classes to one-line descriptions")
    _unknown_keys(value, DESCRIBED, f"{where}: ")
    described = {}
    for part, entries in value.items():
        if entries is None:
            continue
        if not isinstance(entries, dict) or any(not isinstance(text, str) or not text.strip() or len(text) > MAX_DESCRIPTION
                                                or any(ord(ch) < 32 or ch in "\x7f\u2028\u2029" for ch in text.strip())
                                                for text in entries.values()):
            raise DeclarationError(f"{FILE}: {where}.{part} must map each {part[:-1] if part == 'columns' else 'class'} "
                                   f"to a one-line description (text, at most {MAX_DESCRIPTION} characters, no line breaks)")
        if entries:
            described[part] = {str(name): text.strip() for name, text in entries.items()}
    return described


def _split(value: object) -> tuple[dict[str, float], bool]:
    if not isinstance(value, dict):
        raise DeclarationError(f"{FILE}: split must map train, dev_test and final_test to fractions or numbers of rows")
    _unknown_keys(value, SPLIT_KEYS, "split: ")
    sizes = {}
    for key in SPLITS:
        size = value.get(key)
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not math.isfinite(size) or size <= 0:
            raise DeclarationError(f"{FILE}: split.{key} must be a fraction of the rows (like 0.2) or a number of rows "
                                   f"(like 400), got {size!r}")
        sizes[key] = size
    kinds = {isinstance(size, int) for size in sizes.values()}
    if len(kinds) > 1:
        raise DeclarationError(f"{FILE}: split mixes fractions and numbers of rows ({sizes}); use one or the other")
    if kinds == {False} and sum(sizes.values()) > 1 + 1e-9:
        raise DeclarationError(f"{FILE}: the split fractions add up to {sum(sizes.values()):g}, more than 1; "
                               "make them add up to 1 (or less, to leave rows out)")
    stratify = value.get("stratify", True)
    if not isinstance(stratify, bool):
        raise DeclarationError(f"{FILE}: split.stratify must be true or false, got {stratify!r}")
    return sizes, stratify


def _dataset(raw: object, position: int) -> Dataset:
    where = f"datasets[{position}]"
    if not isinstance(raw, dict):
        raise DeclarationError(f"{FILE}: {where} must be a mapping with name, source, target, ...")
    _unknown_keys(raw, DATASET_KEYS, f"{where}: ")
    dataset = Dataset(
        name=_text(raw.get("name"), f"{where}.name"),
        source=_text(raw.get("source"), f"{where}.source"),
        target=_text(raw.get("target"), f"{where}.target"),
        id=_text(raw.get("id"), f"{where}.id", optional=True),
        group=_text(raw.get("group"), f"{where}.group", optional=True),
        classes=_classes(raw.get("classes"), f"{where}.classes"),
        features=_features(raw.get("features"), f"{where}.features"),
        na_values=_na_values(raw.get("na_values"), f"{where}.na_values"),
        missing_target=raw.get("missing_target", "leave_out"),
        descriptions=_descriptions(raw.get("descriptions"), f"{where}.descriptions"),
    )
    if dataset.missing_target not in MISSING_TARGET:
        raise DeclarationError(f"{FILE}: {where}.missing_target must be one of {', '.join(MISSING_TARGET)}, "
                               f"got {dataset.missing_target!r}")
    roles = [r for r in (dataset.id, dataset.target, dataset.group) if r]
    for role in roles:
        if roles.count(role) > 1:
            raise DeclarationError(f"{FILE}: {where} uses the column {role!r} for two roles (id, target, group); give each its own column")
        if dataset.features and role in dataset.features:
            raise DeclarationError(f"{FILE}: {where}.features lists {role!r}, which is the id, target or group column; remove it from features")
    for name in dataset.descriptions.get("columns", {}):
        if dataset.features is not None and name not in {*dataset.features, *roles}:
            raise DeclarationError(f"{FILE}: {where}.descriptions.columns names {name!r}, which is not a column of the dataset")
    for label in dataset.descriptions.get("classes", {}):
        if dataset.classes is not None and label not in {str(c) for c in dataset.classes}:
            raise DeclarationError(f"{FILE}: {where}.descriptions.classes names {label!r}, which is not one of its classes "
                                   f"({', '.join(map(str, dataset.classes))}); quote a label that looks like a number (\"01\")")
    if dataset.source.startswith("sklearn:") and dataset.source[len("sklearn:"):] not in SKLEARN_SOURCES:
        raise DeclarationError(f"{FILE}: {where}.source {dataset.source!r} is not one of "
                               f"{', '.join('sklearn:' + n for n in SKLEARN_SOURCES)}")
    return dataset


def parse(raw: object, settings: dict) -> Declaration:
    """Check a loaded data.yaml against itself and against the competition (settings.json)."""
    if not isinstance(raw, dict):
        raise DeclarationError(f"{FILE} must be a mapping with task_type, seed, split and datasets")
    _unknown_keys(raw, TOP_KEYS, "")
    task_type = raw.get("task_type")
    if task_type != settings["task_type"]:
        raise DeclarationError(f"{FILE}: task_type is {task_type!r} but this competition was made for "
                               f"{settings['task_type']!r} (scoring_program/settings.json, which its leaderboard follows); "
                               f"write task_type: {settings['task_type']}")
    seed = raw.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise DeclarationError(f"{FILE}: seed must be a whole number from 0 to 4294967295, got {seed!r}")
    split, stratify = _split(raw.get("split"))
    datasets = [_dataset(item, i) for i, item in enumerate(raw.get("datasets") or [])]
    names = [d.name for d in datasets]
    if names != settings["datasets"]:
        raise DeclarationError(f"{FILE}: datasets are named {names} but the leaderboard has one column per dataset "
                               f"{settings['datasets']} (scoring_program/settings.json); use those names, in that order")
    declaration = Declaration(task_type, seed, split, stratify, datasets)
    for position, dataset in enumerate(datasets):
        check_classes(declaration, dataset, f"datasets[{position}].classes")
    return declaration


def check_classes(declaration: Declaration, dataset: Dataset, where: str, file: str = FILE) -> None:
    """The number of classes the task type needs (when they are known); `file` begins the message."""
    if dataset.classes is None:
        return
    count = len(dataset.classes)
    if not declaration.classification and count:
        raise DeclarationError(f"{file}: {where} lists classes, but this is a regression competition; write classes: []")
    if declaration.task_type == "binary_classification" and count != 2:
        raise DeclarationError(f"{file}: {where} has {count} classes; binary classification needs exactly 2 "
                               "(for more, make a multiclass_classification competition)")
    if declaration.task_type == "multiclass_classification" and not 3 <= count <= MAX_CLASSES:
        raise DeclarationError(f"{file}: {where} has {count} classes; multiclass classification takes 3 to {MAX_CLASSES}"
                               + (" (for 2, make a binary_classification competition)" if count == 2 else ""))


def load(root: Path, settings: dict) -> Declaration:
    path = root / FILE
    if not path.is_file():
        raise DeclarationError(f"{path} is missing: it declares the data (restore it from the template, or run "
                               "`make data SOURCE=table.csv TARGET=column` to write one)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DeclarationError(f"{FILE} is not valid YAML: {' '.join(str(exc).split())}") from None
    return parse(raw, settings)


def scalar(value: object) -> str:
    """A YAML scalar that loads back to `value`: plain when that is safe, else double-quoted (JSON)."""
    if isinstance(value, str) and _PLAIN.match(value) and value == value.strip() and yaml.safe_load(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)


HEADER = """\
# The data of this competition, declared once. `make data` follows this file: it writes every
# phase's input, reference and public data, what the ingestion and scoring programs read about
# them (task.json, dataset.json), the sample submissions and the table on pages/data.md.
#
# {replace}
# make data SOURCE=path/to/table.csv TARGET=column [ID=column] [GROUP=column] [DROP=col1,col2]
#           [NA_VALUES='?,n/a'] [MISSING_TARGET=error] [DATASET=name]
# reads your table (.csv, or .parquet with pyarrow installed) as it is, infers each column's kind
# and the classes, and rewrites the dataset's entry below (with several datasets, add DATASET=name).
# Keep the table out of git and out of the bundle's shipped folders: it holds every answer.
# Edit the entry afterwards (class order, kinds, split, descriptions) and run `make data` again.
"""


def dump(declaration: Declaration) -> str:
    """data.yaml's text, comments included: what `make data` writes back and the template bakes."""
    split = declaration.split
    own = any(d.source != SYNTHETIC and not d.source.startswith("sklearn:") for d in declaration.datasets)
    header = HEADER.replace("{replace}", "To bring in another table (it replaces the dataset's entry below):" if own
                            else "---- REPLACE THIS WITH YOUR OWN DATA ----")
    lines = [header, f"task_type: {declaration.task_type}  # fixed when the competition was made: its leaderboard follows it",
             f"seed: {declaration.seed}  # the same seed and table always give the same files",
             "split:  # " + ("numbers of rows" if declaration.split_in_rows else "fractions of the table's rows (they may add up to less than 1)"),
             f"  train: {split['train']}",
             f"  dev_test: {split['dev_test']}  # scored in the Development phase",
             f"  final_test: {split['final_test']}  # scored in the Final phase",
             f"  stratify: {'true' if declaration.stratify else 'false'}  # classification: every split keeps the classes' shares",
             "datasets:"]
    for dataset in declaration.datasets:
        lines += [f"  - name: {scalar(dataset.name)}",
                  f"    source: {scalar(dataset.source)}  # a .csv or .parquet file (relative to this folder), "
                  f"{SYNTHETIC}, or sklearn:{'|'.join(SKLEARN_SOURCES)}",
                  f"    id: {scalar(dataset.id) if dataset.id else 'null'}  # the id column; null: made-up ids, per dataset",
                  f"    target: {scalar(dataset.target)}",
                  f"    group: {scalar(dataset.group) if dataset.group else 'null'}  # rows with the same value stay in one split",
                  f"    na_values: [{', '.join(scalar(v) for v in dataset.na_values)}]  # cell texts that mean missing, "
                  "besides an empty cell; any other text is kept as written",
                  f"    missing_target: {dataset.missing_target}  # rows with no target: leave_out (counted in the report) or error"]
        if dataset.classes is not None:
            note = "  # in order; the second is the positive class" if declaration.task_type == "binary_classification" else "  # in order"
            labels = ", ".join(scalar(c) for c in dataset.classes)
            lines.append(f"    classes: [{labels}]" + (note if dataset.classes else "  # regression"))
        if dataset.features is not None:
            lines.append("    features:  # column: numeric | categorical")
            lines += [f"      {scalar(name)}: {kind}" for name, kind in dataset.features.items()]
        lines.append("    descriptions:  # one line each, shown on the data page; e.g. columns: {age: in years}")
        for part in DESCRIBED:
            entries = dataset.descriptions.get(part, {})
            lines.append(f"      {part}:" + ("" if entries else " {}"))
            lines += [f"        {scalar(name)}: {scalar(text)}" for name, text in entries.items()]
    return "\n".join(lines) + "\n"


def default_declaration(task_type: str, dataset_names: list[str], source: str = SYNTHETIC) -> Declaration:
    """What a new competition starts with: seeded synthetic data, or a dataset scikit-learn ships."""
    if source == SYNTHETIC:
        classes = {"binary_classification": [0, 1], "multiclass_classification": [0, 1, 2]}.get(task_type, [])
        features = {f"f{j:02d}": "numeric" for j in range(20)}
        datasets = [Dataset(name, SYNTHETIC, "target", classes=list(classes), features=dict(features))
                    for name in dataset_names]
        return Declaration(task_type, 20270104, {"train": 800, "dev_test": 400, "final_test": 400}, True, datasets)
    target = SKLEARN_SOURCES[source][1]
    datasets = [Dataset(name, f"sklearn:{source}", target) for name in dataset_names]
    return Declaration(task_type, 20270104, {"train": 0.6, "dev_test": 0.2, "final_test": 0.2}, True, datasets)
