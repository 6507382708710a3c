"""An organizer's own table comes in with one command: `make data SOURCE=... TARGET=...`.

The tables are written here, by the tests, to cover what real tables have: string labels,
categorical columns, missing values, no id column, a group column, 2 to 10 classes, a
regression target, a semicolon-separated file, a Parquet file. Each bad table must stop
`make data` with one ERROR line naming the problem, and leave data/ and data.yaml as they were.
Fast tier: bring each table in and check what was written. Full tier (`-m slow`): `make test`,
`make run` and `make bundle` on the baked bundle with its own data.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import json
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import PYTHON, run

ROWS = 400


def passengers(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """Binary, string labels, categorical and missing values, a name column that is free text, no id."""
    rng = np.random.RandomState(seed)
    frame = pd.DataFrame({
        "Age": np.where(rng.rand(rows) < 0.1, np.nan, rng.randint(1, 80, rows)),
        "Fare, paid": rng.exponential(30, rows).round(3),
        "Port <of> embarkation": rng.choice(["S", "C", "Q", None], rows, p=[0.6, 0.2, 0.15, 0.05]),
        "Sex": rng.choice(["male", "female"], rows),
        "Name": [f"Passenger {i}" for i in range(rows)],
    })
    frame["Survived"] = np.where((frame["Sex"] == "female") ^ (rng.rand(rows) < 0.2), "yes", "no")
    return frame


def grouped(classes: list, rows: int = ROWS, seed: int = 1) -> pd.DataFrame:
    """Several rows per patient (the group), numeric and categorical features, the given class labels."""
    rng = np.random.RandomState(seed)
    label = rng.randint(0, len(classes), rows)
    return pd.DataFrame({
        "record": [f"R-{i}" for i in range(rows)],
        "patient": [f"p{i // 4:03d}" for i in range(rows)],
        "signal": label + rng.normal(0, 0.6, rows),
        "noise": rng.normal(0, 1, rows),
        "site": rng.choice(["north", "south", "east"], rows),
        "diagnosis": np.asarray(classes, dtype=object)[label],
    })


def houses(rows: int = ROWS, seed: int = 2) -> pd.DataFrame:
    rng = np.random.RandomState(seed)
    area = rng.uniform(30, 200, rows)
    frame = pd.DataFrame({"id": [f"h{i}" for i in range(rows)], "area m²": area, "rooms": rng.randint(1, 7, rows),
                          "district": rng.choice(["old town", "harbour", "hills"], rows)})
    frame["price (k$)"] = (3 * area + rng.normal(0, 20, rows)).round(2)
    return frame


GOOD = {  # table -> (task type, write the table, make data variables, what the bundle must then show)
    "passengers": ("binary_classification", lambda p: passengers().to_csv(p / "passengers.csv", index=False),
                   {"SOURCE": "passengers.csv", "TARGET": "Survived", "DROP": "Name"},
                   {"classes": ["no", "yes"], "kinds": {"Sex": "categorical", "Age": "numeric"}, "id": None}),
    "semicolons": ("binary_classification", lambda p: passengers().drop(columns=["Name"]).to_csv(p / "semi.csv", index=False, sep=";"),
                   {"SOURCE": "semi.csv", "TARGET": "Survived"}, {"classes": ["no", "yes"], "id": None}),
    "four-int-classes-grouped": ("multiclass_classification", lambda p: grouped([3, 5, 7, 9]).to_csv(p / "g.csv", index=False),
                                 {"SOURCE": "g.csv", "TARGET": "diagnosis", "ID": "record", "GROUP": "patient"},
                                 {"classes": [3, 5, 7, 9], "id": "record", "group": "patient"}),
    "ten-string-classes": ("multiclass_classification",
                           lambda p: grouped([f"type {c}" for c in "ABCDEFGHIJ"], rows=600).to_csv(p / "ten.csv", index=False),
                           {"SOURCE": "ten.csv", "TARGET": "diagnosis", "ID": "record", "DROP": "patient"},
                           {"classes": [f"type {c}" for c in "ABCDEFGHIJ"], "id": "record"}),
    "regression-parquet": ("regression", lambda p: houses().to_parquet(p / "houses.parquet"),
                           {"SOURCE": "houses.parquet", "TARGET": "price (k$)"},
                           {"classes": [], "id": "id", "kinds": {"district": "categorical", "rooms": "numeric"}}),
}


def bad_table(path: Path, name: str) -> None:
    frame = passengers().drop(columns=["Name"])
    if name == "one-class":
        frame["Survived"] = "yes"
    elif name == "missing-target":
        frame.loc[[5, 9], "Survived"] = None
    elif name == "rare-class":
        frame.loc[3, "Survived"] = "maybe"
        frame.loc[4, "Survived"] = "maybe"
    elif name == "duplicate-ids":
        frame.insert(0, "ticket", [f"T{i}" for i in range(len(frame))])
        frame.loc[7, "ticket"] = "T3"
    elif name == "question-mark-in-numbers":
        frame["Age"] = frame["Age"].astype(object)
        frame.loc[6, "Age"] = "?"
    elif name == "markers-in-two-columns":  # as the palmerpenguins table writes its missing values
        frame["Age"] = frame["Age"].astype(object).where(frame["Age"].notna(), "NA")
        frame["Fare, paid"] = frame["Fare, paid"].astype(object)
        frame.loc[[11, 12], "Fare, paid"] = "NA"
    elif name == "long-header-duplicate":  # past the first 64 KiB a header used to be read by pandas alone
        frame = pd.concat([frame, pd.DataFrame(0, index=frame.index, columns=[f"c{i:05d}_{'x' * 20}" for i in range(3000)])],
                          axis=1)
        frame.insert(len(frame.columns) - 1, "dup ", 1)
        frame.insert(len(frame.columns) - 1, "dup", 2)
    elif name == "constant-regression-target":
        frame["Fare, paid"] = 3.5
    elif name == "few-labelled":
        frame.loc[10:, "Survived"] = None
    elif name == "na-as-a-label":
        frame["Survived"] = frame["Survived"].astype(object)
        frame.loc[[3, 8], "Survived"] = "NA"
    elif name == "infinite-fare":
        frame["Fare, paid"] = frame["Fare, paid"].astype(float)
        frame.loc[4, "Fare, paid"] = np.inf
    elif name == "huge-group":
        frame["family"] = ["big" if i < 0.85 * len(frame) else f"f{i}" for i in range(len(frame))]
    elif name == "three-classes-in-binary":
        frame["Survived"] = np.random.RandomState(3).choice(["yes", "no", "maybe"], len(frame))
    elif name == "free-text":
        frame["comment"] = [f"note number {i}" for i in range(len(frame))]
    if name == "decimal-commas":
        frame["Fare, paid"] = [f"{value:.2f}".replace(".", ",") for value in frame["Fare, paid"]]  # quoted by to_csv
        frame.to_csv(path, index=False)
    elif name == "gzip":
        path.write_bytes(gzip.compress(frame.to_csv(index=False).encode("utf-8")))
    elif name == "xlsx":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("xl/workbook.xml", "<workbook/>")
    elif name == "utf-16-no-bom":
        path.write_bytes(frame.to_csv(index=False).encode("utf-16-le"))
    elif name == "folder":
        path.mkdir()
    elif name == "corrupt-parquet":
        path.write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    elif name == "infinite-fare":
        frame.to_parquet(path)
    elif name == "latin-1":
        path.write_bytes("Caf\xe9,Survived\n".encode("latin-1") + b"".join(f"{i},yes\n".encode() for i in range(30)))
    elif name == "utf-16":
        path.write_text(frame.to_csv(index=False), encoding="utf-16")
    elif name == "colon-separated":
        path.write_text(frame.drop(columns=["Fare, paid"]).to_csv(index=False, sep=":"), encoding="utf-8")
    elif name == "ragged":
        path.write_text(frame.to_csv(index=False) + "1,2,3,4,5,6,7,8\n", encoding="utf-8")
    elif name == "empty":
        path.write_text("", encoding="utf-8")
    elif name == "note-above-header":  # as scikit-learn's wine_data.csv: "178,13,class_0,class_1,class_2", then rows
        rows = frame.drop(columns=["Fare, paid"]).to_csv(index=False, header=False)
        path.write_text("400,4,no,yes\n" + rows.replace("\n", ",0,1\n"), encoding="utf-8")
    elif name == "quoted-header":  # as statsmodels' anes96.csv: tab-separated, each name in single quotes
        frame.rename(columns=lambda c: f"'{c}'").to_csv(path, index=False, sep="\t", quoting=3, escapechar="\\")
    else:
        frame.to_csv(path, index=False)


BAD = [  # (case, task type, make data variables, the words of the one ERROR line)
    ("no-such-target", "binary_classification", {"TARGET": "Alive"}, "TARGET=Alive is not a column of the table (columns: 'Age'"),
    ("quoted-header", "binary_classification", {"TARGET": "Survived"},
     "\"'Sex'\", \"'Survived'\"; the header writes it \"'Survived'\": pass it so); pass TARGET=<column>"),
    ("no-such-id", "binary_classification", {"TARGET": "Survived", "ID": "ticket"}, "the id column 'ticket' is not in the table"),
    ("one-class", "binary_classification", {"TARGET": "Survived"}, "has a single class ('yes')"),
    ("missing-target", "binary_classification", {"TARGET": "Survived", "MISSING_TARGET": "error"},
     "is missing in 2 rows (first: line 7)"),
    ("rare-class", "multiclass_classification", {"TARGET": "Survived"}, "the class 'maybe' has 2 rows: every split (train, Development test, Final test) needs at least one"),
    ("duplicate-ids", "binary_classification", {"TARGET": "Survived", "ID": "ticket"}, "repeated values (first: 'T3' on line 5 and line 9)"),
    ("huge-group", "binary_classification", {"TARGET": "Survived", "GROUP": "family"}, "groups of 'family' must never straddle splits"),
    ("free-text", "binary_classification", {"TARGET": "Survived"}, "DROP='comment'"),
    ("labels-in-regression", "regression", {"TARGET": "Survived"}, "this competition is a regression"),
    ("three-classes-in-binary", "binary_classification", {"TARGET": "Survived"}, "table.csv: the target 'Survived' has 3 classes; binary classification needs exactly 2"),  # the table's, not data.yaml's
    ("latin-1", "binary_classification", {"TARGET": "Survived"}, "line 1: byte 0xe9 is not UTF-8"),
    ("utf-16", "binary_classification", {"TARGET": "Survived"}, "the file is UTF-16 text; save it as UTF-8"),
    ("colon-separated", "binary_classification", {"TARGET": "Survived"}, "found a single column"),
    ("ragged", "binary_classification", {"TARGET": "Survived"}, "Expected 5 fields"),
    ("empty", "binary_classification", {"TARGET": "Survived"}, "is empty"),
    ("note-above-header", "binary_classification", {"TARGET": "no"},
     "line 2 has 6 values, and the header (line 1) names 4 columns: the others would be lost"),
    # From a corpus of odd tables: each message names the real problem and its fix.
    ("question-mark-in-numbers", "binary_classification", {"TARGET": "Survived"},
     "the column 'Age' holds numbers but also '?' (1 row, first: line 8 of 'Age'); if that means a missing value, pass NA_VALUES='?'"),
    ("markers-in-two-columns", "binary_classification", {"TARGET": "Survived"},
     "the columns 'Age', 'Fare, paid' hold numbers but also 'NA' ("),
    ("na-as-a-label", "binary_classification", {"TARGET": "Survived"},
     "has 3 classes; binary classification needs exactly 2 (for more, make a multiclass_classification competition) "
     "('NA', 'no', 'yes'); if 'NA' means a missing target, pass NA_VALUES='NA'"),
    ("long-header-duplicate", "binary_classification", {"TARGET": "Survived"}, "the column name 'dup' appears 2 times"),
    ("drop-the-target", "binary_classification", {"TARGET": "Survived", "DROP": "Survived"},
     "DROP names 'Survived', which is the TARGET; leave it out of DROP"),
    ("constant-regression-target", "regression", {"TARGET": "Fare, paid"},
     "the target 'Fare, paid' has a single value (3.5) in every labelled row: there is nothing to predict"),
    ("few-labelled", "binary_classification", {"TARGET": "Survived"},
     "only 10 rows have a 'Survived' (390 have none, first: line 12); a competition needs at least 20 labelled rows"),
    ("missing-target-bogus", "binary_classification", {"TARGET": "Survived", "MISSING_TARGET": "bogus"},
     "MISSING_TARGET=bogus is not one of leave_out, error"),
    ("decimal-commas", "binary_classification", {"TARGET": "Survived"}, "holds numbers with decimal commas ('"),
    ("gzip", "binary_classification", {"TARGET": "Survived"}, "the file is gzip-compressed"),
    ("xlsx", "binary_classification", {"TARGET": "Survived"}, "is a zip archive (an Excel .xlsx workbook is one)"),
    ("utf-16-no-bom", "binary_classification", {"TARGET": "Survived"}, "UTF-16 text without a byte-order mark"),
    ("folder", "binary_classification", {"TARGET": "Survived"}, "is a folder; give the table file in it"),
    ("corrupt-parquet", "binary_classification", {"TARGET": "Survived", "SOURCE": "table.parquet"},
     "is not a readable Parquet file"),
    ("infinite-fare", "binary_classification", {"TARGET": "Survived", "SOURCE": "table.parquet"},
     "the numeric column 'Fare, paid' holds inf (row 5)"),
    ("id-is-target", "binary_classification", {"TARGET": "Survived", "ID": "Survived"}, "ID=Survived is also the TARGET"),
    ("group-is-target", "binary_classification", {"TARGET": "Survived", "GROUP": "Survived"}, "GROUP=Survived is also the TARGET"),
    ("no-target-given", "binary_classification", {}, "no TARGET was given, and the current target 'target' is not a column"),
    ("inside-data", "binary_classification", {"TARGET": "Survived", "SOURCE": "data/table.csv"}, "inside the bundle's data/ folder"),
]


def make_data(bundle: Path, variables: dict[str, str]):
    return run(["make", "data", f"PYTHON={PYTHON}", *[f"{k}={v}" for k, v in variables.items()]], cwd=bundle)


def tree_digest(bundle: Path) -> str:
    digest = hashlib.sha256((bundle / "data.yaml").read_bytes())
    for path in sorted((bundle / "data").rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(bundle).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def baked_for(bake):
    cache: dict[tuple, Path] = {}

    def _bake(task_type: str, mode: str = "both") -> Path:
        if (task_type, mode) not in cache:
            cache[(task_type, mode)] = bake(task_type=task_type, submission_mode=mode)
        return cache[(task_type, mode)]

    return _bake


@pytest.fixture(scope="module")
def brought_in(baked_for, tmp_path_factory):
    """brought_in(case) -> the bundle folder after `make data SOURCE=...` with that good table."""
    cache: dict[str, Path] = {}

    def _bring(case: str) -> Path:
        if case not in cache:
            task_type, write, variables, _ = GOOD[case]
            bundle = tmp_path_factory.mktemp(case) / "bundle"
            shutil.copytree(baked_for(task_type, "result" if case == "regression-parquet" else "both"), bundle)
            write(bundle)
            done = make_data(bundle, variables)
            assert done.returncode == 0, done.stdout + done.stderr
            cache[case] = bundle
        return cache[case]

    return _bring


@pytest.mark.parametrize("case", sorted(GOOD))
def test_a_table_comes_in_with_its_own_columns_and_labels(brought_in, case):
    bundle = brought_in(case)
    _, _, variables, expected = GOOD[case]
    declared = yaml.safe_load((bundle / "data.yaml").read_text(encoding="utf-8"))["datasets"][0]
    assert declared["source"] == variables["SOURCE"] and declared["target"] == variables["TARGET"]
    assert declared["classes"] == expected["classes"]
    assert declared["id"] == expected["id"] and declared["group"] == expected.get("group")
    for column, kind in expected.get("kinds", {}).items():
        assert declared["features"][column] == kind
    assert variables.get("DROP", "@") not in declared["features"]
    info = json.loads((bundle / "data" / "dev" / "reference_data" / "dataset.json").read_text(encoding="utf-8"))
    (entry,) = info["datasets"]
    assert entry["classes"] == expected["classes"] and entry["target"] == variables["TARGET"]
    train = pd.read_csv(bundle / "data" / "dev" / "public_data" / "train.csv", dtype=str, keep_default_na=False)
    assert list(train.columns) == [entry["id"], *declared["features"], variables["TARGET"]]
    page = (bundle / "pages" / "data.md").read_text(encoding="utf-8")
    for column in [*declared["features"], variables["TARGET"]]:
        assert f"<code>{column.replace('<', '&lt;').replace('>', '&gt;').replace('$', '&#36;')}</code>" in page, column
    for label in expected["classes"]:
        assert f"<code>{label}</code>" in page
    assert "Run `make data`" not in page


@pytest.mark.parametrize("case", sorted(GOOD))
def test_bringing_the_same_table_in_again_gives_the_same_bytes(brought_in, case):
    bundle = brought_in(case)
    before = tree_digest(bundle)
    done = make_data(bundle, GOOD[case][2])
    assert done.returncode == 0, done.stderr
    assert tree_digest(bundle) == before
    assert run([PYTHON, "tools/prepare_data.py", "--check"], cwd=bundle).returncode == 0


def test_groups_never_straddle_splits(brought_in):
    bundle = brought_in("four-int-classes-grouped")
    patients = {}
    for phase, kind, name in (("dev", "public_data", "train.csv"), ("dev", "reference_data", "test_labels.csv"),
                              ("final", "reference_data", "test_labels.csv")):
        ids = set(pd.read_csv(bundle / "data" / phase / kind / name, dtype=str)["record"])
        patients[(phase, name)] = {f"p{int(record[2:]) // 4:03d}" for record in ids}
    parts = list(patients.values())
    assert all(not a & b for i, a in enumerate(parts) for b in parts[i + 1:])


def test_the_sklearn_datasets_bake_into_real_competitions(bake):
    for task_type, dataset, label in (("binary_classification", "breast_cancer", "malignant"),
                                      ("multiclass_classification", "wine", "class_2"), ("regression", "diabetes", None)):
        bundle = bake(task_type=task_type, _dataset=dataset)
        done = run([PYTHON, "tools/prepare_data.py"], cwd=bundle)
        assert done.returncode == 0, done.stderr
        declared = yaml.safe_load((bundle / "data.yaml").read_text(encoding="utf-8"))["datasets"][0]
        assert declared["source"] == f"sklearn:{dataset}" and len(declared["features"]) >= 10
        assert (label in declared["classes"]) if label else declared["classes"] == []


@pytest.mark.parametrize("case,task_type,variables,words", BAD, ids=[b[0] for b in BAD])
def test_a_bad_table_stops_make_data_with_one_line_and_changes_nothing(baked_for, tmp_path, case, task_type, variables, words):
    bundle = tmp_path / "bundle"
    shutil.copytree(baked_for(task_type), bundle)
    assert make_data(bundle, {}).returncode == 0
    variables = {"SOURCE": "table.csv", **variables}
    if variables["SOURCE"].startswith("data/"):
        shutil.copy(bundle / "data" / "dev" / "public_data" / "train.csv", bundle / variables["SOURCE"])
    else:
        bad_table(bundle / variables["SOURCE"], case)
    before = tree_digest(bundle)
    done = make_data(bundle, variables)
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR: ")]
    assert done.returncode != 0 and len(errors) == 1, done.stdout + done.stderr
    assert words in errors[0], errors[0]
    assert "Traceback" not in done.stderr and "np.float64" not in done.stderr
    assert tree_digest(bundle) == before
    assert not list(bundle.glob(".data.*"))


def test_a_large_table_gets_a_warning_with_its_size(baked_for, tmp_path, monkeypatch, capsys):
    bundle = tmp_path / "bundle"
    shutil.copytree(baked_for("binary_classification"), bundle)
    monkeypatch.syspath_prepend(str(bundle / "tools"))
    for name in ("prepare_data", "bundle", "declaration", "tables", "file_rules", "sync"):
        sys.modules.pop(name, None)
    prepare_data = importlib.import_module("prepare_data")
    monkeypatch.setattr(prepare_data, "ROOT", bundle)
    monkeypatch.setattr(prepare_data, "LARGE_DATA", 10_000)
    assert prepare_data.main([]) == 0
    out = capsys.readouterr().out
    assert "WARNING: data/dev/input_data is " in out and "KiB" in out and "15 GB quota" in out
    for name in ("prepare_data", "bundle", "declaration", "tables", "file_rules", "sync"):
        sys.modules.pop(name, None)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["passengers", "ten-string-classes"])
def test_a_bundle_on_its_own_data_passes_test_run_and_bundle(brought_in, case):
    bundle = brought_in(case)
    for target in ("test", "run", "bundle"):
        done = run(["make", target, f"PYTHON={PYTHON}"], cwd=bundle)
        assert done.returncode == 0, f"make {target}\n" + done.stdout[-3000:] + done.stderr[-3000:]
    declared = yaml.safe_load((bundle / "data.yaml").read_text(encoding="utf-8"))["datasets"][0]
    runs = sorted((bundle / "runs").glob("*/task0/scoring/output/detailed_results.html"))
    page = runs[-1].read_text(encoding="utf-8")
    assert all(str(label) in page for label in declared["classes"])


@pytest.mark.slow
@pytest.mark.parametrize("case", ["four-int-classes-grouped", "regression-parquet", "semicolons"])
def test_a_bundle_on_its_own_data_runs_and_builds(brought_in, case):
    bundle = brought_in(case)
    for target in ("run", "bundle"):
        done = run(["make", target, f"PYTHON={PYTHON}"], cwd=bundle)
        assert done.returncode == 0, f"make {target}\n" + done.stdout[-3000:] + done.stderr[-3000:]
