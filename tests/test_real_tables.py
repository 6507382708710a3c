"""Real tables as they come: `make data` takes them without clean-up and says what it did.

The tables are written here to look like real ones (a survey with unlabelled answers and many
respondents alike, a clinic table with a copied label and a row number, a wage table saved with
its pandas index and a log of the target, a spreadsheet's European export), each brought into a
fresh bake with `make data SOURCE=... TARGET=...` and nothing else. Each test asserts what was
kept, grouped, left out and said, in data/, data.yaml and the data report (data/summary.json).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import PYTHON, run

UNLABELLED = 29


def survey(rows: int = 480, seed: int = 5) -> pd.DataFrame:
    """Answers from a few low-cardinality questions, so that many respondents answer alike (with equal and with
    different severities); `NA` is a real answer ("not asked"), `None` a real label; some answers are unlabelled."""
    rng = np.random.RandomState(seed)
    score = rng.randint(0, 4, rows)
    frame = pd.DataFrame({
        "respondent": [f"{i:03d}" for i in range(rows)],
        "age": rng.choice(["18-29", "30-49", "50+"], rows),
        "sex": rng.choice(["f", "m"], rows),
        "smoker": rng.choice(["yes", "no", "NA"], rows),
        "score": score,
        "country": "NZ",
        "severity": np.array(["None", "Mild", "Severe"])[np.clip((score + rng.randint(0, 2, rows)) // 2, 0, 2)],
    })
    frame.loc[rng.choice(rows, UNLABELLED, replace=False), "severity"] = ""
    return frame


def clinic(rows: int = 600, seed: int = 6) -> pd.DataFrame:
    """Labels written with leading zeros, a copy of the label under another name, a row number, a sparse column."""
    rng = np.random.RandomState(seed)
    label = rng.randint(0, 3, rows)
    return pd.DataFrame({
        "visit": np.arange(rows),
        "signal": label + rng.normal(0, 0.8, rows),
        "noise": rng.normal(0, 1, rows),
        "lab_rate": np.where(rng.rand(rows) < 0.7, np.nan, rng.normal(5, 1, rows)).round(2),
        "code": np.array(["A1", "B2", "C3"])[label],
        "outcome": np.array(["01", "02", "03"])[label],
    })


def wages(rows: int = 500, seed: int = 7) -> pd.DataFrame:
    rng = np.random.RandomState(seed)
    frame = pd.DataFrame({"educ": rng.randint(8, 20, rows), "exper": rng.randint(0, 40, rows),
                          "tenure": rng.randint(0, 20, rows).astype(object)})
    frame["wage"] = np.exp(0.08 * frame["educ"] + 0.02 * frame["exper"] + rng.normal(0, 0.4, rows)).round(2)
    frame["lwage"] = np.log(frame["wage"]).round(6)
    frame.loc[rng.choice(rows, 12, replace=False), "tenure"] = "?"
    return frame


def make_data(bundle: Path, variables: dict[str, str]):
    return run(["make", "data", f"PYTHON={PYTHON}", *[f"{k}={v}" for k, v in variables.items()]], cwd=bundle)


def report_of(bundle: Path) -> dict:
    (dataset,) = json.loads((bundle / "data" / "summary.json").read_text(encoding="utf-8"))["datasets"]
    return dataset["report"]


def declared(bundle: Path) -> dict:
    return yaml.safe_load((bundle / "data.yaml").read_text(encoding="utf-8"))["datasets"][0]


def read_text_table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def split_tables(bundle: Path, target: str) -> dict[str, pd.DataFrame]:
    """Each split's rows with the target, as written (text)."""
    tables = {"train": read_text_table(bundle / "data" / "dev" / "input_data" / "train.csv")}
    for phase, name in (("dev", "dev_test"), ("final", "final_test")):
        features = read_text_table(bundle / "data" / phase / "input_data" / "test.csv")
        labels = read_text_table(bundle / "data" / phase / "reference_data" / "test_labels.csv")
        tables[name] = features.merge(labels, on=features.columns[0], validate="one_to_one")
    return tables


@pytest.fixture(scope="module")
def brought(bake, tmp_path_factory):
    """brought(name) -> (bundle, make data's output) for each table, baked and brought in once."""
    cases = {
        "survey": ({"task_type": "multiclass_classification"}, lambda d: survey().to_csv(d / "survey.csv", index=False),
                   {"SOURCE": "survey.csv", "TARGET": "severity", "ID": "respondent"}),
        "clinic": ({"task_type": "multiclass_classification"}, lambda d: clinic().to_csv(d / "clinic.csv", index=False),
                   {"SOURCE": "clinic.csv", "TARGET": "outcome"}),
        "wages": ({"task_type": "regression"}, lambda d: wages().to_csv(d / "tables" / "wages.csv"),  # with its index
                  {"SOURCE": "{outside}/tables/wages.csv", "TARGET": "wage", "NA_VALUES": "?"}),
    }
    cache = {}

    def _bring(name: str):
        if name not in cache:
            answers, write, variables = cases[name]
            place = tmp_path_factory.mktemp(name)
            (place / "tables").mkdir()
            bundle = place / "bundle"
            shutil.copytree(bake(**answers), bundle)
            write(place if name == "wages" else bundle)
            variables = {k: v.replace("{outside}", str(place)) for k, v in variables.items()}
            done = make_data(bundle, variables)
            assert done.returncode == 0, done.stdout + done.stderr
            cache[name] = (bundle, done.stdout)
        return cache[name]

    return _bring


def test_unlabelled_rows_are_left_out_and_counted_and_no_labelled_row_is_lost(brought):
    bundle, output = brought("survey")
    table = survey()
    unlabelled = np.flatnonzero(table["severity"] == "")
    said = f"{UNLABELLED} rows have no 'severity': left out (first: line {unlabelled[0] + 2})"
    assert report_of(bundle)["left_out"] == [said]
    assert said in output
    written = pd.concat(split_tables(bundle, "severity").values())
    labelled = table[table["severity"] != ""]
    assert sorted(written["respondent"]) == sorted(labelled["respondent"])  # every labelled row, ids as written: 000, 001, ...
    assert report_of(bundle)["rows_read"] == len(table) and sum(report_of(bundle)["rows"].values()) == len(labelled)


def test_text_is_kept_as_the_table_writes_it(brought):
    bundle, _ = brought("survey")
    assert declared(bundle)["classes"] == ["Mild", "None", "Severe"]  # `None` is a label, not a missing value
    train = read_text_table(bundle / "data" / "dev" / "public_data" / "train.csv")
    assert "NA" in set(train["smoker"]) and "" not in set(train["smoker"])  # `NA` is an answer
    info = json.loads((bundle / "data" / "dev" / "reference_data" / "dataset.json").read_text(encoding="utf-8"))
    smoker = next(f for f in info["datasets"][0]["features"] if f["name"] == "smoker")
    assert smoker["categories"] == ["NA", "no", "yes"]
    assert {"000", "007"} <= set(pd.concat(split_tables(bundle, "severity").values())["respondent"])


def test_identical_feature_rows_share_a_split_and_the_report_says_so_truthfully(brought):
    bundle, _ = brought("survey")
    tables = split_tables(bundle, "severity")
    features = ["age", "sex", "smoker", "score"]
    rows = {name: set(map(tuple, frame[features].to_numpy())) for name, frame in tables.items()}
    assert not rows["train"] & rows["dev_test"] and not rows["train"] & rows["final_test"]
    assert not rows["dev_test"] & rows["final_test"]
    (together,) = report_of(bundle)["kept_together"]
    labelled = survey()[survey()["severity"] != ""]
    twins = int(labelled.duplicated(features, keep=False).sum())
    differing = int((labelled.groupby(features)["severity"].nunique() > 1).sum())
    assert together.startswith(f"{twins:,} rows share exactly their features with another row")
    assert f"{differing:,} of these sets have different targets" in together
    assert "leak" not in together  # the answers of such rows may differ: nothing is said to leak
    sizes = report_of(bundle)["rows"]
    total = sum(sizes.values())
    assert abs(sizes["train"] - total / 2) < 0.1 * total  # the bake's split (1/2, 1/4, 1/4) is kept with whole sets


def test_a_constant_column_is_left_out_with_a_notice(brought):
    bundle, output = brought("survey")
    assert "country" not in declared(bundle)["features"]
    assert report_of(bundle)["columns_left_out"] == {"country": "a single value ('NZ'): it tells no row from another"}
    assert "column left out: 'country'" in output


def test_a_copied_label_a_row_number_and_a_sparse_column_are_warned_about(brought):
    bundle, output = brought("clinic")
    assert declared(bundle)["classes"] == ["01", "02", "03"]  # labels written with leading zeros stay so
    labels = read_text_table(bundle / "data" / "dev" / "reference_data" / "test_labels.csv")
    assert set(labels["outcome"]) == {"01", "02", "03"}
    warnings = report_of(bundle)["warnings"]
    leak = [w for w in warnings if w.startswith("target leakage suspect: the feature 'code'")]
    assert leak and "DROP='code'" in leak[0] and "balanced accuracy of 1.000" in leak[0]
    assert not any("'signal'" in w or "'noise'" in w for w in warnings)  # a good feature is not a suspect
    assert any(w.startswith("the feature 'visit' has a different whole number in almost every row") and "ID='visit'" in w
               for w in warnings)
    assert any(w.startswith("the feature 'lab_rate' is missing in 7") for w in warnings)
    assert f"WARNING: {leak[0]}" in output


def test_a_monotone_transform_of_the_target_is_a_leakage_suspect(brought):
    bundle, _ = brought("wages")
    (leak,) = [w for w in report_of(bundle)["warnings"] if w.startswith("target leakage suspect")]
    assert "'lwage'" in leak and "rank correlation of 1.000" in leak and "DROP='lwage'" in leak


def test_a_table_saved_with_its_index_and_marker_texts_comes_in(brought):
    bundle, _ = brought("wages")
    entry = declared(bundle)
    assert "Unnamed: 0" not in entry["features"] and entry["na_values"] == ["?"]
    assert "REPLACE THIS WITH YOUR OWN DATA" not in (bundle / "data.yaml").read_text(encoding="utf-8")
    train = read_text_table(bundle / "data" / "dev" / "input_data" / "train.csv")
    assert train["educ"].str.fullmatch(r"\d+").all()  # whole numbers stay whole: 12, not 12.0
    assert report_of(bundle)["columns_left_out"] == {"Unnamed: 0": "column 1 has no name: a row index, as pandas and R write it"}
    summary = json.loads((bundle / "data" / "summary.json").read_text(encoding="utf-8"))["datasets"][0]
    tenure = next(f for f in summary["features"] if f["name"] == "tenure")
    assert tenure["kind"] == "numeric" and 0 < tenure["missing"] < 0.05  # the 12 '?' cells, missing as declared


def test_the_source_is_kept_relative_so_the_bundle_moves_with_its_table(brought, tmp_path):
    bundle, _ = brought("wages")
    assert declared(bundle)["source"] == "../tables/wages.csv"
    moved = tmp_path / "elsewhere"
    shutil.copytree(bundle.parent, moved, ignore=shutil.ignore_patterns(".venv"))
    done = run(["make", "data", f"PYTHON={PYTHON}"], cwd=moved / "bundle")
    assert done.returncode == 0, done.stderr
    alone = tmp_path / "alone" / "bundle"
    shutil.copytree(bundle, alone, ignore=shutil.ignore_patterns(".venv"))
    done = run([PYTHON, "tools/prepare_data.py"], cwd=alone)
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("ERROR:")]
    assert f"{tmp_path / 'alone' / 'tables' / 'wages.csv'} does not exist; give SOURCE=" in error
    assert "relative to the bundle folder" in error


def test_a_spreadsheets_european_export_is_read_with_its_decimal_commas(bake, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(bake(), bundle)
    rng = np.random.RandomState(8)
    weight = rng.normal(70, 12, 300).round(1)
    frame = pd.DataFrame({"weight": [f"{w:.1f}".replace(".", ",") for w in weight], "height": rng.randint(150, 200, 300),
                          "label": np.where(weight + rng.normal(0, 8, 300) > 70, "heavy", "light")})
    frame.to_csv(bundle / "export.csv", sep=";", index=False)
    done = make_data(bundle, {"SOURCE": "export.csv", "TARGET": "label"})
    assert done.returncode == 0, done.stderr
    assert declared(bundle)["features"]["weight"] == "numeric"
    assert report_of(bundle)["notes"] == ["read with decimal commas (3,5 as 3.5): 'weight'"]
    written = pd.concat(split_tables(bundle, "label").values())
    assert sorted(written["weight"].astype(float)) == sorted(weight)


def test_a_column_whose_values_each_cover_a_run_of_rows_is_named_as_a_likely_group(bake, tmp_path):
    """As statsmodels' modechoice.csv: four rows (one per travel mode) for each of 210 people, one after the other."""
    bundle = tmp_path / "bundle"
    shutil.copytree(bake(), bundle)
    rng = np.random.RandomState(11)
    people, modes = 120, 4
    frame = pd.DataFrame({"individual": np.repeat(np.arange(1, people + 1), modes), "mode": np.tile(np.arange(1, modes + 1), people),
                          "income": np.repeat(rng.randint(10, 80, people), modes), "cost": rng.randint(5, 90, people * modes)})
    frame["choice"] = (rng.rand(len(frame)) < 0.3).astype(int)
    frame.to_csv(bundle / "trips.csv", sep=";", index=False)
    assert make_data(bundle, {"SOURCE": "trips.csv", "TARGET": "choice"}).returncode == 0
    (warning,) = [w for w in report_of(bundle)["warnings"] if "looks like the id of groups" in w]
    assert warning.startswith("the feature 'individual' looks like the id of groups of rows: each of its 120 values covers "
                              "4.0 consecutive rows") and "pass GROUP='individual'" in warning
    assert make_data(bundle, {"SOURCE": "trips.csv", "TARGET": "choice", "GROUP": "individual"}).returncode == 0
    assert [w for w in report_of(bundle)["warnings"] if "groups of rows" in w] == []
    frame.sample(frac=1, random_state=3).to_csv(bundle / "shuffled.csv", sep=";", index=False)  # no runs: no suspicion
    assert make_data(bundle, {"SOURCE": "shuffled.csv", "TARGET": "choice"}).returncode == 0
    assert declared(bundle).get("group") is None and "individual" in declared(bundle)["features"]
    assert [w for w in report_of(bundle)["warnings"] if "groups of rows" in w] == []


def test_a_real_table_in_one_dataset_beside_synthetic_ones(bake, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(bake(datasets_per_phase="3", task_type="multiclass_classification"), bundle)
    clinic().drop(columns=["code"]).to_csv(bundle / "clinic.csv", index=False)
    done = make_data(bundle, {"SOURCE": "clinic.csv", "TARGET": "outcome", "DATASET": "ds2"})
    assert done.returncode == 0, done.stdout + done.stderr
    sources = [d["source"] for d in yaml.safe_load((bundle / "data.yaml").read_text(encoding="utf-8"))["datasets"]]
    assert sources == ["synthetic", "clinic.csv", "synthetic"]


def test_after_make_data_the_data_are_up_to_date_for_make(brought):
    bundle, _ = brought("clinic")
    assert (bundle / "data" / "manifest.json").stat().st_mtime_ns >= (bundle / "data.yaml").stat().st_mtime_ns
    done = run(["make", "-q", "data/manifest.json", f"PYTHON={PYTHON}"], cwd=bundle)
    assert done.returncode == 0, "make would run make data again"


def test_an_edited_baseline_is_caught_and_the_message_names_the_command(bake, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(bake(), bundle)
    assert run([PYTHON, "tools/prepare_data.py"], cwd=bundle).returncode == 0
    model = bundle / "starting_kit" / "sample_code_submission" / "model.py"
    model.write_text(model.read_text(encoding="utf-8").replace("max_iter=1000", "max_iter=1000, C=0.1"), encoding="utf-8")
    done = run([PYTHON, "tools/prepare_data.py", "--check"], cwd=bundle)
    assert done.returncode == 1
    assert "holds the baseline's scores computed before starting_kit/sample_code_submission changed: run `make data`" \
        in done.stderr
    validated = run([PYTHON, "tools/validate_bundle.py"], cwd=bundle)
    assert validated.returncode == 1 and "CB082" in validated.stdout + validated.stderr
    assert run(["make", "-q", "data/manifest.json", f"PYTHON={PYTHON}"], cwd=bundle).returncode == 1  # make sees it too
    assert run([PYTHON, "tools/prepare_data.py"], cwd=bundle).returncode == 0
    assert run([PYTHON, "tools/prepare_data.py", "--check"], cwd=bundle).returncode == 0


def rare_class_table(rows: int = 800, seed: int = 9) -> pd.DataFrame:
    """Three classes, the third rare and indistinguishable from the others: an unweighted baseline never predicts it."""
    rng = np.random.RandomState(seed)
    label = rng.choice(["common", "usual", "rare"], rows, p=[0.55, 0.4, 0.05])
    signal = np.where(label == "common", 0.0, np.where(label == "usual", 2.0, 1.0)) + rng.normal(0, 0.7, rows)
    return pd.DataFrame({"signal": signal.round(4), "noise": rng.normal(0, 1, rows).round(4), "kind": label})


@pytest.fixture(scope="module")
def rare_class_bundle(bake, tmp_path_factory):
    bundle = tmp_path_factory.mktemp("rare") / "bundle"
    shutil.copytree(bake(task_type="multiclass_classification"), bundle)  # accuracy: the unweighted baseline
    rare_class_table().to_csv(bundle / "kinds.csv", index=False)
    done = make_data(bundle, {"SOURCE": "kinds.csv", "TARGET": "kind"})
    assert done.returncode == 0, done.stdout + done.stderr
    return bundle, done.stdout


def test_a_class_the_baseline_never_predicts_is_a_warning_of_make_data(rare_class_bundle):
    _, output = rare_class_bundle
    assert "WARNING: the baseline's predictions on Development: " in output and "never predicts class 'rare'" in output


@pytest.mark.slow
def test_a_bundle_whose_baseline_never_predicts_a_class_passes_its_own_tests(rare_class_bundle):
    bundle, _ = rare_class_bundle
    done = run(["make", "test", f"PYTHON={PYTHON}"], cwd=bundle)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.parametrize("metric,balanced", [("accuracy", False), ("balanced_accuracy", True), ("macro_f1", True)])
def test_the_baseline_weighs_classes_as_the_metric_does(bake, metric, balanced):
    model = (bake(task_type="multiclass_classification", metric=metric) / "starting_kit" / "sample_code_submission" / "model.py")
    assert ('class_weight="balanced"' in model.read_text(encoding="utf-8")) == balanced


def test_a_class_of_three_rows_gets_one_in_every_split(bake, tmp_path):
    """Dealt out stratified at 1/2, 1/4, 1/4, three rows could fall train, Development, train: one is moved."""
    bundle = tmp_path / "bundle"
    shutil.copytree(bake(task_type="multiclass_classification"), bundle)
    frame = clinic().drop(columns=["code"])
    frame.loc[[5, 50, 500], "outcome"] = "04"
    frame.to_csv(bundle / "clinic.csv", index=False)
    done = make_data(bundle, {"SOURCE": "clinic.csv", "TARGET": "outcome"})
    assert done.returncode == 0, done.stderr
    tables = split_tables(bundle, "outcome")
    assert all((frame_["outcome"] == "04").sum() == 1 for frame_ in tables.values())
    assert {name: len(frame_) for name, frame_ in tables.items()} == report_of(bundle)["rows"] == \
        {"train": 300, "dev_test": 150, "final_test": 150}  # the split's sizes are kept
    assert any(w.startswith("the class '04' has few rows (train 1, Development test 1, Final test 1)")
               for w in report_of(bundle)["warnings"])


def test_descriptions_of_columns_and_classes_reach_the_data_page(bake, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(bake(task_type="multiclass_classification"), bundle)
    clinic().drop(columns=["code", "visit"]).to_csv(bundle / "clinic.csv", index=False)
    assert make_data(bundle, {"SOURCE": "clinic.csv", "TARGET": "outcome"}).returncode == 0
    text = (bundle / "data.yaml").read_text(encoding="utf-8")
    described = text.replace("      columns: {}", '      columns:\n        lab_rate: "cells per µl | fasting"')
    described = described.replace("      classes: {}", '      classes:\n        "02": "mild"')
    (bundle / "data.yaml").write_text(described, encoding="utf-8")
    assert make_data(bundle, {}).returncode == 0
    page = (bundle / "pages" / "data.md").read_text(encoding="utf-8")
    assert "| <code>lab_rate</code> | feature | numeric |" in page and "cells per µl \\| fasting |" in page
    assert "| Class | train | Development test | Final test | Meaning |" in page and "| mild |" in page
    (bundle / "data.yaml").write_text(described.replace("lab_rate: \"cells", "lab_rates: \"cells"), encoding="utf-8")
    done = make_data(bundle, {})
    assert "descriptions.columns names 'lab_rates', which is not a column of the dataset" in done.stderr


def test_true_and_false_stay_as_written(bake, tmp_path):
    """pandas reads true/TRUE/false as booleans (written back True/False): such a column is read again as text."""
    bundle = tmp_path / "bundle"
    shutil.copytree(bake(), bundle)
    rng = np.random.RandomState(10)
    pd.DataFrame({"flag": rng.choice(["true", "false", "TRUE"], 200), "x": rng.normal(size=200).round(3),
                  "label": rng.choice(["a", "b"], 200)}).to_csv(bundle / "flags.csv", index=False)
    assert make_data(bundle, {"SOURCE": "flags.csv", "TARGET": "label"}).returncode == 0
    written = pd.concat(split_tables(bundle, "label").values())
    assert set(written["flag"]) == {"true", "false", "TRUE"} and declared(bundle)["features"]["flag"] == "categorical"
    before = (bundle / "data" / "dev" / "input_data" / "train.csv").read_bytes()
    assert make_data(bundle, {}).returncode == 0  # from data.yaml now: the same bytes
    assert (bundle / "data" / "dev" / "input_data" / "train.csv").read_bytes() == before


def test_odd_files_come_in_right(bake, tmp_path):
    """A delimiter ending every line, true/false/blank in a ;-separated file, a column called id with leading zeros,
    a no-break space in a name: the columns stay where they are and the text as written, run after run."""
    bundle = tmp_path / "bundle"
    shutil.copytree(bake(task_type="regression"), bundle)
    rng = np.random.RandomState(11)
    frame = pd.DataFrame({"id": [f"{i:05d}" for i in range(120)], "price": (rng.randn(120) * 10 + 100).round(2),
                          "area\u00a0m2": rng.randint(20, 200, 120), "city": rng.choice(list("PLM"), 120),
                          "flag": rng.choice(["True", "False", ""], 120)})
    lines = frame.to_csv(index=False, sep=";").splitlines()
    (bundle / "odd.csv").write_text("\n".join(line + ";" for line in lines) + "\n", encoding="utf-8")
    done = make_data(bundle, {"SOURCE": "odd.csv", "TARGET": "price"})
    assert done.returncode == 0, done.stderr
    written = pd.concat(split_tables(bundle, "price").values()).set_index("id").sort_index()
    expected = frame.set_index("id").sort_index()
    assert list(written.index) == list(expected.index)  # 00000 ..., ids as written
    assert written["price"].astype(float).tolist() == expected["price"].tolist()  # not shifted by the last ';'
    assert written["city"].tolist() == expected["city"].tolist()
    assert set(written["flag"]) == {"True", "False", ""}
    before = (bundle / "data" / "dev" / "input_data" / "train.csv").read_bytes()
    assert make_data(bundle, {}).returncode == 0 and (bundle / "data" / "dev" / "input_data" / "train.csv").read_bytes() == before


def test_a_copied_label_is_a_suspect_even_with_a_rare_class(bake, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(bake(task_type="multiclass_classification"), bundle)
    rng = np.random.RandomState(12)
    label = rng.choice(["a", "b", "c", "rare"], 1000, p=[0.4, 0.35, 0.245, 0.005])
    frame = pd.DataFrame({"signal": rng.normal(size=1000).round(3), "code": pd.Series(label).map({"a": 0, "b": 1, "c": 2, "rare": 3}),
                          "kind": label})
    frame.loc[np.flatnonzero(label == "rare")[:0], "kind"] = "rare"
    if (label == "rare").sum() < 3:
        frame.loc[:2, "kind"], frame.loc[:2, "code"] = "rare", 3
    frame.to_csv(bundle / "kinds.csv", index=False)
    done = make_data(bundle, {"SOURCE": "kinds.csv", "TARGET": "kind"})
    assert done.returncode == 0, done.stderr
    assert any(w.startswith("target leakage suspect: the feature 'code'") for w in report_of(bundle)["warnings"])


def test_a_page_without_its_markers_stops_make_data_before_anything_is_written(bake, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(bake(), bundle)
    assert make_data(bundle, {}).returncode == 0
    page = bundle / "pages" / "data.md"
    page.write_text("\n".join(line for line in page.read_text(encoding="utf-8").splitlines() if "END data tables" not in line),
                    encoding="utf-8")
    manifest = (bundle / "data" / "manifest.json").read_bytes()
    clinic().to_csv(bundle / "clinic.csv", index=False)
    done = make_data(bundle, {"SOURCE": "clinic.csv", "TARGET": "outcome"})
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("ERROR:")]
    assert "pages/data.md: expected one '<!-- BEGIN data tables" in error and "restore those marker lines" in error
    assert (bundle / "data" / "manifest.json").read_bytes() == manifest and "clinic.csv" not in (bundle / "data.yaml").read_text()


@pytest.mark.parametrize("edit,words", [
    ("      x: numeric", "features lists 'label', which is the id, target or group column"),
    ("      classes: {}", "descriptions.classes names '1', which is not one of its classes"),
    ("      columns: {}", "to a one-line description (text, at most 300 characters, no line breaks)"),
])
def test_a_bad_edit_of_data_yaml_is_one_line(bake, tmp_path, edit, words):
    bundle = tmp_path / "bundle"
    shutil.copytree(bake(), bundle)
    rng = np.random.RandomState(13)
    pd.DataFrame({"x": rng.normal(size=100), "label": rng.choice(["no", "yes"], 100)}).to_csv(bundle / "t.csv", index=False)
    assert make_data(bundle, {"SOURCE": "t.csv", "TARGET": "label"}).returncode == 0
    text = (bundle / "data.yaml").read_text(encoding="utf-8")
    replacement = {"      x: numeric": "      x: numeric\n      label: categorical",
                   "      classes: {}": "      classes:\n        1: first",
                   "      columns: {}": '      columns:\n        x: "first\\rsecond"'}[edit]
    assert edit in text
    (bundle / "data.yaml").write_text(text.replace(edit, replacement), encoding="utf-8")
    done = make_data(bundle, {})
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR:")]
    assert done.returncode != 0 and len(errors) == 1 and words in errors[0], done.stderr
    assert "Traceback" not in done.stderr


def test_a_count_spread_over_a_wide_range_is_not_taken_for_a_row_number(bake, tmp_path):
    """Career totals (ISLP's Hitters: CAtBat, 263 rows, 19 to 14,053) differ in almost every row, like a row number,
    but are not packed like one: no warning; a row number beside them is still named."""
    bundle = tmp_path / "bundle"
    shutil.copytree(bake(task_type="regression"), bundle)
    rng = np.random.RandomState(14)
    frame = pd.DataFrame({"career": rng.choice(np.arange(19, 14053), 263, replace=False), "row": np.arange(1, 264),
                          "salary": rng.gamma(2, 300, 263).round(1)})
    frame.to_csv(bundle / "hitters.csv", index=False)
    assert make_data(bundle, {"SOURCE": "hitters.csv", "TARGET": "salary"}).returncode == 0
    warnings = report_of(bundle)["warnings"]
    assert not any("'career'" in w for w in warnings)
    assert any(w.startswith("the feature 'row' has a different whole number in almost every row") for w in warnings)
