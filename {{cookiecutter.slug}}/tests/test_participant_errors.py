"""A broken submission gets one clear ERROR line, a non-zero exit, and the message on the page."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from bundle import load_program_module
from conftest import ROOT

DEV_INPUT = ROOT / "data" / "dev" / "input_data"
DEV_REFERENCE = ROOT / "data" / "dev" / "reference_data"

MODELS = {
    "syntax_error": ("class Model(:\n", "model.py could not be imported: SyntaxError"),
    "no_model_class": ("class Estimator:\n    pass\n", "must define a class named Model"),
    "no_predict": ("class Model:\n    def fit(self, X, y):\n        pass\n", "has no method predict"),
    "fit_raises": (
        "class Model:\n    def fit(self, X, y):\n        raise ValueError('bad fit')\n    def predict(self, X):\n        return X[:, 0]\n",
        "Model.fit raised ValueError: bad fit",
    ),
    "wrong_length": (
        "class Model:\n    def fit(self, X, y):\n        pass\n    def predict(self, X):\n        return [0.5] * (len(X) - 1)\n",
        "expected 400 values, one per test row",
    ),
    "nan_output": (
        "class Model:\n    def fit(self, X, y):\n        pass\n    def predict(self, X):\n        return [float('nan')] * len(X)\n",
        "returned 400 NaN or infinite values",
    ),
    "exits": (
        "import sys\nclass Model:\n    def fit(self, X, y):\n        sys.exit(3)\n    def predict(self, X):\n        return X[:, 0]\n",
        "Model.fit raised SystemExit: 3",
    ),
}


@pytest.fixture(scope="module")
def ingestion():
    return load_program_module(ROOT / "ingestion_program", "ingestion")


@pytest.fixture(scope="module")
def scoring():
    return load_program_module(ROOT / "scoring_program", "scoring")


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("ERROR:")]


@pytest.mark.parametrize("case", sorted(MODELS))
def test_broken_code_submission_stops_ingestion_with_one_error_line(case, ingestion, tmp_path, capsys):
    source, expected = MODELS[case]
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "model.py").write_text(source)
    code = ingestion.main(["--input-data", str(DEV_INPUT), "--submission", str(submission), "--output", str(tmp_path / "out")])
    (line,) = error_lines(capsys.readouterr().err)
    assert code == 1 and expected in line
    result = json.loads((tmp_path / "out" / "ingestion_result.json").read_text())
    assert result == {"status": "failed", "error": line.removeprefix("ERROR: ")}
    assert not (tmp_path / "out" / "predictions.csv").exists()


def test_submission_wrapped_in_a_folder_is_explained(ingestion, tmp_path, capsys):
    wrapped = tmp_path / "submission" / "my_model"
    wrapped.mkdir(parents=True)
    (wrapped / "model.py").write_text("class Model: pass\n")
    code = ingestion.main(["--input-data", str(DEV_INPUT), "--submission", str(tmp_path / "submission"), "--output", str(tmp_path / "out")])
    (line,) = error_lines(capsys.readouterr().err)
    assert code == 1 and "wraps everything in the folder 'my_model'" in line


def write_predictions(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "predictions.csv").write_text(text)
    return folder


def valid_rows() -> list[str]:
    ids = [line.split(",")[0] for line in (DEV_REFERENCE / "test_labels.csv").read_text().splitlines()[1:]]
    return [f"{i},0.5" for i in ids]


BAD_PREDICTIONS = {
    "wrong_header": (lambda rows: "id,score\n" + "\n".join(rows), "header is 'id,score', expected 'id,probability'"),
    "too_few_rows": (lambda rows: "id,probability\n" + "\n".join(rows[:-1]), "has 399 prediction rows, expected 400"),
    "not_a_number": (lambda rows: "id,probability\n" + "\n".join([rows[0].split(",")[0] + ",abc"] + rows[1:]), "line 2: probability 'abc' is not a number"),
    "nan": (lambda rows: "id,probability\n" + "\n".join([rows[0].split(",")[0] + ",nan"] + rows[1:]), "line 2: probability is 'nan'"),
    "above_one": (lambda rows: "id,probability\n" + "\n".join([rows[0].split(",")[0] + ",1.5"] + rows[1:]), "probability 1.5 is outside [0, 1]"),
    "unknown_id": (lambda rows: "id,probability\n" + "\n".join(["zz999,0.5"] + rows[1:]), "1 ids are not in test.csv (e.g. 'zz999')"),
    "duplicated_id": (lambda rows: "id,probability\n" + "\n".join([rows[1]] + rows[1:]), "appears twice"),
    "empty_file": (lambda rows: "", "is empty"),
}


def run_scoring(scoring, predictions: Path, out: Path) -> int:
    return scoring.main(["--reference", str(DEV_REFERENCE), "--predictions", str(predictions), "--output", str(out)])


@pytest.mark.parametrize("case", sorted(BAD_PREDICTIONS))
def test_invalid_predictions_get_no_score_and_an_error_page(case, scoring, tmp_path, capsys):
    make, expected = BAD_PREDICTIONS[case]
    res = write_predictions(tmp_path / "res", make(valid_rows()))
    code = run_scoring(scoring, res, tmp_path / "out")
    (line,) = error_lines(capsys.readouterr().err)
    assert code == 1 and expected in line
    assert not (tmp_path / "out" / "scores.json").exists()
    page = (tmp_path / "out" / "detailed_results.html").read_text(encoding="utf-8")
    assert "Scoring failed" in page and "What went wrong" in page


def test_missing_predictions_file_says_what_was_found(scoring, tmp_path, capsys):
    res = tmp_path / "res"
    (res / "nested").mkdir(parents=True)
    assert run_scoring(scoring, res, tmp_path / "out") == 1
    (line,) = error_lines(capsys.readouterr().err)
    assert "predictions.csv not found in the submission output (found: nested)" in line


def test_participant_text_stays_text_on_the_error_page(scoring, tmp_path, capsys):
    res = tmp_path / "res"
    res.mkdir()
    (res / "ingestion_result.json").write_text(json.dumps({"status": "failed", "error": "<script>alert(1)</script> in fit"}))
    assert run_scoring(scoring, res, tmp_path / "out") == 1
    page = (tmp_path / "out" / "detailed_results.html").read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; in fit" in page


def test_a_script_tag_as_an_id_stays_text(scoring, tmp_path, capsys):
    rows = valid_rows()
    res = write_predictions(tmp_path / "res", "id,probability\n" + "\n".join(["<script>x</script>,0.5"] + rows[1:]))
    assert run_scoring(scoring, res, tmp_path / "out") == 1
    page = (tmp_path / "out" / "detailed_results.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page


def test_result_submission_zip_is_scored(scoring, metrics, tmp_path):
    """A result zip as a participant uploads it, extracted as the worker does."""
    archive = tmp_path / "result.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("predictions.csv", "id,probability\n" + "\n".join(valid_rows()) + "\n")
    with zipfile.ZipFile(archive) as z:
        z.extractall(tmp_path / "res")
    assert run_scoring(scoring, tmp_path / "res", tmp_path / "out") == 0
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert scores[metrics.PRIMARY.key] == 0.5  # a constant prediction ranks no better than chance
