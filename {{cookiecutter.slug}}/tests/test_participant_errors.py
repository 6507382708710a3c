"""A broken submission gets one clear ERROR line, a non-zero exit, and the message on the page.

Names, counts and classes come from the phase's data (dataset.json, test.csv, test_labels.csv),
never typed in here, so the tests hold for the organizer's own data.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import CODE, KIT, RESULTS, ROOT, needs_code
from page import Page

DEV_INPUT = ROOT / "data" / "dev" / "input_data"
DEV_REFERENCE = ROOT / "data" / "dev" / "reference_data"
FINAL = ROOT / "data" / "final"


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("ERROR:")]


def text_table(path: Path) -> pd.DataFrame:
    """A CSV file's cells as the text written in it."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()


def not_a_class(classes: list, metrics) -> str:
    """A label that none of the classes is written as."""
    texts = {metrics.label_text(c) for c in classes}
    label = "not a class"
    while label in texts:
        label += "!"
    return label


# -- code submissions that break ---------------------------------------------------------------
# Each model's source may use VALID: a valid prediction for n = len(X) rows of this format, built
# from what fit received (so it holds for every dataset of the phase).
VALID = {
    "probability": "np.full(n, 0.5)",
    "probabilities": "np.full((n, self.y.nunique()), 1 / self.y.nunique())",
    "label": "np.resize(self.y.to_numpy(), n)",
    "value": "np.full(n, self.y.mean())",
}
MODEL = """import sys
import numpy as np
import pandas as pd


class Model:
    def fit(self, X, y):
        self.y = y
        FIT

    def predict(self, X):
        n = len(X)
        return PREDICT
"""


def model_source(fit: str = "pass", predict: str = "VALID") -> str:
    return MODEL.replace("FIT", fit).replace("PREDICT", predict)


# case: (model.py, formats it applies to (None: all), words of the error: a function of the facts below)
MODELS = {
    "syntax_error": ("class Model(:\n", None, lambda f: "model.py could not be imported: SyntaxError"),
    "no_model_class": ("class Estimator:\n    pass\n", None, lambda f: "defines no class named Model; define class Model with the methods fit(X, y)"),
    "no_predict": ("class Model:\n    def fit(self, X, y):\n        pass\n", None, lambda f: "has no method predict"),
    "fit_raises": (model_source(fit="raise ValueError('bad fit')"), None, lambda f: "Model.fit raised ValueError: bad fit"),
    "exits": (model_source(fit="sys.exit(3)"), None, lambda f: "Model.fit raised SystemExit: 3"),
    "returns_none": (model_source(predict="None"), None, lambda f: "Model.predict returned None"),
    "wrong_length": (model_source(predict="VALID[:-1]"), None, lambda f: f"; return {f['n_test']}"),
    "nan_output": (model_source(predict="np.full(np.shape(VALID), np.nan)"), ("probability", "probabilities", "value"),
                   lambda f: f"returned {f['n_values']} NaN or infinite values"),
    "missing_labels": (model_source(predict="[None] * n"), ("label",), lambda f: f"returned {f['n_test']} missing labels"),
    "wrong_labels": (model_source(predict="np.repeat(BAD_LABEL, n)"), ("label",),
                     lambda f: f"{f['n_test']} of the {f['n_test']} labels Model.predict returned are not a class, the first "
                               f"being {f['bad_label']!r} (for X.iloc[0], id {f['first_id']!r}); return class labels from {f['shown_classes']}"),
    "wrong_class_columns": (model_source(predict="pd.DataFrame(np.full((n, 2), 0.5), columns=[BAD_LABEL, 'nor this one'])"),
                            ("probability", "probabilities"),
                            lambda f: f"returned a DataFrame whose columns are not the classes {f['shown_classes']}"),
    "two_columns": (model_source(predict="np.full((n, 2), 0.5)"), ("probability",),
                    lambda f: "returned two unnamed columns (like predict_proba), which is ambiguous; "
                              "return pd.DataFrame(proba, columns=model.classes_)"),
}


def first_dataset_facts(task: dict, ingestion, metrics) -> dict:
    """What the messages about the first dataset say, from its files."""
    dataset = task["datasets"][0]
    test = text_table(DEV_INPUT / dataset["folder"] / "test.csv")
    n_columns = len(dataset["classes"]) if task["prediction_format"] == "probabilities" else 1
    return {"n_test": len(test), "n_values": len(test) * n_columns, "first_id": test[dataset["id"]].iloc[0],
            "bad_label": not_a_class(dataset["classes"], metrics), "shown_classes": ingestion.shown_classes(dataset["classes"])}


def run_ingestion(ingestion, source: str, tmp_path: Path) -> int:
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "model.py").write_text(source, encoding="utf-8")
    return ingestion.main(["--input-data", str(DEV_INPUT), "--submission", str(submission), "--output", str(tmp_path / "out")])


@needs_code
@pytest.mark.parametrize("case", sorted(MODELS))
def test_broken_code_submission_stops_ingestion_with_one_error_line(case, ingestion, metrics, task, tmp_path, capsys):
    source, formats, words = MODELS[case]
    fmt = task["prediction_format"]
    if formats and fmt not in formats:
        pytest.skip(f"only for the formats {formats}; this competition's is {fmt!r}")
    facts = first_dataset_facts(task, ingestion, metrics)
    source = source.replace("VALID", VALID[fmt]).replace("BAD_LABEL", repr(facts["bad_label"]))
    code = run_ingestion(ingestion, source, tmp_path)
    (line,) = error_lines(capsys.readouterr().err)
    assert code == 1 and words(facts) in line
    result = json.loads((tmp_path / "out" / "ingestion_result.json").read_text())
    assert result["status"] == "failed" and set(result) == {"status", "error", "fix"}
    assert line == f"ERROR: {result['error']}; {result['fix']}"  # the log says both; the error page shows them apart
    assert result["error"] and result["fix"]
    assert not list((tmp_path / "out").rglob("predictions.csv"))


@needs_code
def test_submission_wrapped_in_a_folder_is_explained(ingestion, tmp_path, capsys):
    wrapped = tmp_path / "submission" / "my_model"
    wrapped.mkdir(parents=True)
    (wrapped / "model.py").write_text("class Model: pass\n")
    code = ingestion.main(["--input-data", str(DEV_INPUT), "--submission", str(tmp_path / "submission"), "--output", str(tmp_path / "out")])
    (line,) = error_lines(capsys.readouterr().err)
    assert code == 1 and "wraps everything in the folder 'my_model'" in line


# -- what a working model receives and what ingestion writes -----------------------------------
INSPECTING_MODEL = """import json
import numpy as np
import pandas as pd


class Model:
    def fit(self, X, y):
        with open(LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps({"columns": list(X.columns), "index": type(X.index).__name__, "y_name": y.name,
                                  "y_dtype": str(y.dtype) if pd.api.types.is_numeric_dtype(y) else "text", "n": len(X),
                                  "dtypes": {c: "category" if isinstance(X[c].dtype, pd.CategoricalDtype) else str(X[c].dtype) for c in X.columns},
                                  "categories": {c: [str(v) for v in X[c].cat.categories] for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)},
                                  "missing": {c: int(X[c].isna().sum()) for c in X.columns}}) + "\\n")
        self.y = y
        self.classes = list(pd.unique(y))

    def predict(self, X):
        n = len(X)
        if FORMAT in ("probability", "probabilities"):  # class columns in the reverse order, weights 1..K
            weights = np.arange(1, len(self.classes) + 1) / np.arange(1, len(self.classes) + 1).sum()
            return pd.DataFrame(np.tile(weights, (n, 1)), columns=self.classes[::-1])
        return VALID
"""


@needs_code
def test_the_model_gets_typed_frames_and_its_predictions_are_written_per_dataset(ingestion, metrics, task, tmp_path):
    fmt = task["prediction_format"]
    log = tmp_path / "fit.jsonl"
    source = INSPECTING_MODEL.replace("LOG", repr(str(log))).replace("FORMAT", repr(fmt)).replace("VALID", VALID[fmt])
    assert run_ingestion(ingestion, source, tmp_path) == 0
    fits = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(fits) == len(task["datasets"])
    for dataset, fit in zip(task["datasets"], fits):
        folder = DEV_INPUT / dataset["folder"]
        train = text_table(folder / "train.csv")
        features = [f["name"] for f in dataset["features"]]
        classes = dataset["classes"]
        assert fit["columns"] == features and fit["index"] == "RangeIndex" and fit["n"] == len(train)
        assert fit["y_name"] == dataset["target"]
        if not classes:
            assert fit["y_dtype"] == "float64"
        else:  # the labels as given: integers when all the classes are, else text
            assert fit["y_dtype"] == ("int64" if all(isinstance(c, int) for c in classes) else "text")
        for feature in dataset["features"]:
            name = feature["name"]
            assert fit["missing"][name] == int((train[name] == "").sum())  # an empty cell, and only that, is missing
            if feature["kind"] == "categorical":
                assert fit["dtypes"][name] == "category" and fit["categories"][name] == [str(c) for c in feature["categories"]]
            else:
                assert fit["dtypes"][name] == "float64"

        test = text_table(folder / "test.csv")
        with (tmp_path / "out" / dataset["folder"] / "predictions.csv").open(newline="", encoding="utf-8") as f:
            header, *rows = list(csv.reader(f))
        columns = metrics.prediction_columns(fmt, classes, dataset["target"])
        assert header == [dataset["id"], *columns]
        assert [row[0] for row in rows] == test[dataset["id"]].tolist()
        cells = np.array([row[1:] for row in rows], dtype=object)
        if fmt in ("probability", "probabilities"):
            y_order = list(pd.unique(ingestion.read_table(folder / "train.csv", dataset, with_target=True)[dataset["target"]]))
            weights = np.arange(1, len(y_order) + 1) / np.arange(1, len(y_order) + 1).sum()
            weight = {metrics.label_text(c): w for c, w in zip(y_order[::-1], weights)}
            wanted = [classes[1]] if fmt == "probability" else classes
            expected = np.array([weight[metrics.label_text(c)] for c in wanted])
            assert np.allclose(cells.astype(float), expected, atol=1e-9)
        elif fmt == "label":
            assert set(cells[:, 0]) <= {metrics.label_text(c) for c in classes}
        else:
            assert np.isfinite(cells.astype(float)).all()


# -- the checks of what predict returns, on class lists of every kind ---------------------------
def _ids(n: int) -> pd.Series:
    return pd.Series([f"r{i}" for i in range(n)])


N = 6
CHECKS = [  # (format, classes, what predict returns, words of the refusal or None when accepted)
    ("probability", ["no", "yes"], pd.DataFrame({"yes": np.full(N, 0.8), "no": np.full(N, 0.2)}), None),
    ("probability", ["no", "yes"], np.full((N, 2), 0.5), "two unnamed columns"),
    ("probability", ["no", "yes"], pd.DataFrame(np.full((N, 2), 0.5), columns=["no", "maybe"]), "(missing 'yes'; unexpected 'maybe')"),
    ("probability", [0, 1], pd.DataFrame(np.full((N, 2), 0.5), columns=np.array([0, 1])), None),
    ("probability", [0, 1], np.full(N, 1.5), "returned values outside [0, 1] (from 1.5 to 1.5); return probabilities"),
    ("probabilities", [3, 5, 7, 9], pd.DataFrame(np.tile([0.1, 0.2, 0.3, 0.4], (N, 1)), columns=[9.0, "7", 5, 3]), None),
    ("probabilities", [3, 5, 7, 9], pd.DataFrame(np.full((N, 3), 1 / 3), columns=[3, 5, 7]), "(missing '9')"),
    ("probabilities", [3, 5, 7, 9], np.full((N, 4), 0.3), "do not sum to 1"),
    ("probabilities", [3, 5, 7, 9], np.full((N, 3), 1 / 3), f"returned shape ({N}, 3); return {N} rows of 4 class probabilities"),
    ("label", [f"class {c}" for c in "abcdefghijkl"], np.arange(N), "['class a', 'class b', 'class c', 'class d', 'class e', 'class f', ..., 'class l'] (12 classes)"),
    ("label", [f"class {c}" for c in "abcdefghijkl"], np.arange(N), "; the labels themselves, as in y, not their positions"),
    ("label", ["a", "b"], ["a"] * (N - 1) + ["z"], f"1 of the {N} labels Model.predict returned is not a class, the first being 'z' "
     f"(for X.iloc[{N - 1}], id 'r{N - 1}'); return class labels from ['a', 'b']"),
    ("label", [3, 5], np.full(N, 5.0), None),
    ("label", [3, 5], np.array(["3"] * N), None),
    ("label", [3, 5], np.full(N, np.nan), f"returned {N} missing labels"),
    ("value", [], pd.DataFrame({"anything": np.ones(N)}), None),
    ("value", [], pd.DataFrame(np.ones((N, 2))), f"return {N} values, one per row of X"),
    ("value", [], np.r_[np.inf, np.zeros(N - 1)], "returned 1 NaN or infinite values"),
    ("value", [], ["x"] * N, "returned a list, not numbers; return a numpy array"),
]


@needs_code
@pytest.mark.parametrize("fmt, classes, raw, words", CHECKS)
def test_what_predict_returns_is_checked(ingestion, fmt, classes, raw, words):
    if words is None:
        values = ingestion.check_predictions(raw, _ids(N), fmt, classes)
        assert len(values) == N
        if fmt == "probabilities":  # reordered to the declared classes
            assert np.allclose(values[0], [0.4, 0.3, 0.2, 0.1])
        if fmt == "probability":
            assert np.allclose(values, 0.8 if classes == ["no", "yes"] else 0.5)
        if fmt == "label":
            assert set(values) <= {ingestion.label_text(c) for c in classes}
    else:
        with pytest.raises(ingestion.SubmissionError) as refused:
            ingestion.check_predictions(raw, _ids(N), fmt, classes)
        assert words in str(refused.value)


CLASS_LISTS = [[0, 1], ["no", "yes"], [3, 5, 7, 9], [f"class {c}" for c in "abcdefghij"], ["1", "2.0", "a,b", 'say "x"'], [-1, 10, 7]]


@needs_code
@pytest.mark.parametrize("classes", CLASS_LISTS)
@pytest.mark.parametrize("fmt", ["probability", "probabilities", "label"])
def test_ingestion_writes_the_columns_metrics_defines(ingestion, metrics, fmt, classes):
    # ingestion.py ships alone and keeps its own copy of prediction_columns and label_text.
    assert ingestion.prediction_columns(fmt, classes, "price (k$)") == metrics.prediction_columns(fmt, classes, "price (k$)")
    for value in [*classes, 3, 3.0, "3", np.int64(3), np.float64(3.0), 2.5, True, np.bool_(False), "", " a "]:
        assert ingestion.label_text(value) == metrics.label_text(value)


@needs_code
def test_ingestion_writes_the_value_column_metrics_defines(ingestion, metrics):
    assert ingestion.prediction_columns("value", [], "price (k$)") == metrics.prediction_columns("value", [], "price (k$)")


# -- result files that break the scoring program ------------------------------------------------
def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def rewrite(path: Path, change) -> None:
    rows = change(read_rows(path))
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def first_file(res: Path, task: dict) -> Path:
    return res / task["datasets"][0]["folder"] / "predictions.csv"


def bad_predictions(task: dict, metrics) -> dict:
    """case: (how to change the first dataset's valid file, words of the refusal), from its dataset entry and files."""
    dataset, fmt = task["datasets"][0], task["prediction_format"]
    classes = dataset["classes"]
    n_rows = len(text_table(DEV_REFERENCE / dataset["folder"] / "test_labels.csv"))
    n_values = len(metrics.prediction_columns(fmt, classes, dataset["target"]))
    ids = set(text_table(DEV_REFERENCE / dataset["folder"] / "test_labels.csv")[dataset["id"]])
    unknown_id = "zz999"
    while unknown_id in ids:
        unknown_id += "9"
    bad_label = not_a_class(classes, metrics)
    bad_value, bad_words = {
        "probability": (["1.5"], "probability 1.5 is outside [0, 1]"),
        "probabilities": (["0.9"] * n_values, f"probabilities sum to {np.full(n_values, 0.9).sum():g}, not 1"),
        "label": ([bad_label], f"label {bad_label!r} is not one of the classes"),
        "value": (["inf"], "is not a finite number"),
    }[fmt]

    def first_values(cells):
        return lambda rows: [rows[0], [rows[1][0], *cells]] + rows[2:]

    return {
        "wrong_header": (lambda rows: [[dataset["id"], "score"]] + rows[1:], f"header is {csv_line([dataset['id'], 'score'])!r}, expected"),
        "too_few_rows": (lambda rows: rows[:-1], f"has {n_rows - 1} prediction rows, expected {n_rows}"),
        "not_a_number": (first_values(["abc"] * n_values),
                         "line 2: label 'abc' is not one of the classes" if fmt == "label" else "line 2: 'abc' is not a number"),
        "nan": (first_values(["nan"] * n_values), "line 2:"),
        "out_of_range": (first_values(bad_value), bad_words),
        "unknown_id": (lambda rows: [rows[0], [unknown_id, *rows[1][1:]]] + rows[2:], f"1 ids are not in test.csv (e.g. {unknown_id!r})"),
        "duplicated_id": (lambda rows: [rows[0], rows[2]] + rows[2:], "appears twice"),
        "empty_file": (lambda rows: [], "is empty"),
    }


def run_scoring(scoring, predictions: Path, out: Path) -> int:
    return scoring.main(["--reference", str(DEV_REFERENCE), "--predictions", str(predictions), "--output", str(out)])


@pytest.mark.parametrize("case", ["wrong_header", "too_few_rows", "not_a_number", "nan", "out_of_range", "unknown_id",
                                  "duplicated_id", "empty_file"])
def test_invalid_predictions_get_no_score_and_an_error_page(case, scoring, metrics, task, constant_predictions, tmp_path, capsys):
    change, expected = bad_predictions(task, metrics)[case]
    constant_predictions(tmp_path / "res")
    rewrite(first_file(tmp_path / "res", task), change)
    code = run_scoring(scoring, tmp_path / "res", tmp_path / "out")
    (line,) = error_lines(capsys.readouterr().err)
    assert code == 1 and expected in line
    assert not (tmp_path / "out" / "scores.json").exists()
    page = (tmp_path / "out" / "detailed_results.html").read_text(encoding="utf-8")
    assert "Scoring failed" in page and "What went wrong" in page
    shown_as = "/".join(filter(None, [task["datasets"][0]["folder"], "predictions.csv"]))
    assert f"<dt>File</dt><dd><code>{shown_as}</code></dd>" in page and "<dt>How to fix it</dt>" in page


def test_missing_predictions_file_says_what_was_found(scoring, task, tmp_path, capsys):
    res = tmp_path / "res"
    (res / task["datasets"][0]["folder"] / "nested").mkdir(parents=True)
    assert run_scoring(scoring, res, tmp_path / "out") == 1
    (line,) = error_lines(capsys.readouterr().err)
    assert "predictions.csv not found in the submission output (found: nested)" in line


@needs_code  # in a results-only competition no ingestion program runs, and its result file is ignored
def test_participant_text_stays_text_on_the_error_page(scoring, tmp_path):
    res = tmp_path / "res"
    res.mkdir()
    (res / "ingestion_result.json").write_text(json.dumps({"status": "failed", "error": "<script>alert(1)</script> in fit"}))
    assert run_scoring(scoring, res, tmp_path / "out") == 1
    page = (tmp_path / "out" / "detailed_results.html").read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; in fit" in page


def test_a_script_tag_as_an_id_stays_text(scoring, task, constant_predictions, tmp_path):
    constant_predictions(tmp_path / "res")
    rewrite(first_file(tmp_path / "res", task), lambda rows: [rows[0], ["<script>x</script>", *rows[1][1:]]] + rows[2:])
    assert run_scoring(scoring, tmp_path / "res", tmp_path / "out") == 1
    page = (tmp_path / "out" / "detailed_results.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page


def test_result_zip_is_scored_after_the_workers_unzip(scoring, constant_predictions, tmp_path, no_figures):
    constant_predictions(tmp_path / "made")
    archive = tmp_path / "result.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in (tmp_path / "made").rglob("predictions.csv"):
            z.write(path, path.relative_to(tmp_path / "made").as_posix())
    with zipfile.ZipFile(archive) as z:
        z.extractall(tmp_path / "res")
    assert run_scoring(scoring, tmp_path / "res", tmp_path / "out") == 0
    assert json.loads((tmp_path / "out" / "scores.json").read_text())
    shutil.rmtree(tmp_path / "made")


# -- the Final phase of a competition that takes both kinds scores code only ----------------------
if CODE and RESULTS:  # elsewhere the Final phase takes what the Development phase takes

    def test_the_final_phase_refuses_a_result_submission_and_scores_code(ingestion, scoring, tmp_path, capsys, no_figures):
        """The baseline's predictions of the Final test set are scored when its code made them there, and refused,
        with one line saying how to submit code, when they come as a result submission (the features being hidden,
        only a leak could have made them)."""
        def predict(submission: Path, output: Path) -> Path:
            assert ingestion.main(["--input-data", str(FINAL / "input_data"), "--submission", str(submission),
                                   "--output", str(output)]) == 0
            return output

        def score(predictions: Path, out: Path) -> int:
            return scoring.main(["--reference", str(FINAL / "reference_data"), "--predictions", str(predictions),
                                 "--output", str(out)])

        by_code = predict(KIT / "sample_code_submission", tmp_path / "by_code")
        shutil.copytree(by_code, tmp_path / "results", ignore=shutil.ignore_patterns("ingestion_result.json"))
        as_results = predict(tmp_path / "results", tmp_path / "as_results")
        assert json.loads((as_results / "ingestion_result.json").read_text())["submission_type"] == "result"
        capsys.readouterr()

        assert score(by_code, tmp_path / "scored") == 0 and json.loads((tmp_path / "scored" / "scores.json").read_text())
        assert not error_lines(capsys.readouterr().err)

        assert score(as_results, tmp_path / "refused") == 1
        (line,) = error_lines(capsys.readouterr().err)
        assert line.startswith("ERROR: The Final phase scores code submissions only, and this is a result submission")
        assert "Submit a zip with model.py at its root (see the starting kit" in line
        assert not (tmp_path / "refused" / "scores.json").exists()
        page = Page((tmp_path / "refused" / "detailed_results.html").read_text(encoding="utf-8"))
        problem, fix = page.texts("error")[0], dict(page.definitions)["How to fix it"]
        assert page.texts("status")[0].startswith("Scoring failed") and line == f"ERROR: {problem} {fix}"
