"""A broken submission gets one clear ERROR line, a non-zero exit, and the message on the page."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from bundle import load_program_module
from conftest import CODE, ROOT, needs_code

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
        "class Model:\n    def fit(self, X, y):\n        pass\n    def predict(self, X):\n        return X[:-1, :1]\n",
        "; expected 400",
    ),
    "nan_output": (
        "import numpy as np\nclass Model:\n    def fit(self, X, y):\n        pass\n    def predict(self, X):\n"
        "        return np.full(SHAPE, np.nan)\n",
        "NaN or infinite values",
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


@needs_code
@pytest.mark.parametrize("case", sorted(MODELS))
def test_broken_code_submission_stops_ingestion_with_one_error_line(case, ingestion, task, tmp_path, capsys):
    source, expected = MODELS[case]
    shape = f"(len(X), {len(task['classes'])})" if task["prediction_format"] == "probabilities" else "len(X)"
    source = source.replace("SHAPE", shape)
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "model.py").write_text(source)
    code = ingestion.main(["--input-data", str(DEV_INPUT), "--submission", str(submission), "--output", str(tmp_path / "out")])
    (line,) = error_lines(capsys.readouterr().err)
    assert code == 1 and expected in line
    result = json.loads((tmp_path / "out" / "ingestion_result.json").read_text())
    assert result == {"status": "failed", "error": line.removeprefix("ERROR: ")}
    assert not list((tmp_path / "out").rglob("predictions.csv"))


@needs_code
def test_submission_wrapped_in_a_folder_is_explained(ingestion, tmp_path, capsys):
    wrapped = tmp_path / "submission" / "my_model"
    wrapped.mkdir(parents=True)
    (wrapped / "model.py").write_text("class Model: pass\n")
    code = ingestion.main(["--input-data", str(DEV_INPUT), "--submission", str(tmp_path / "submission"), "--output", str(tmp_path / "out")])
    (line,) = error_lines(capsys.readouterr().err)
    assert code == 1 and "wraps everything in the folder 'my_model'" in line


def first_file(res: Path, task: dict) -> Path:
    return res / task["datasets"][0]["folder"] / "predictions.csv"


def rewrite(path: Path, change) -> None:
    lines = change(path.read_text().splitlines())
    path.write_text("".join(line + "\n" for line in lines))


def bad_value(task: dict) -> tuple[str, str]:
    """A value the format refuses, and the words of the refusal."""
    return {"probability": ("1.5", "outside [0, 1]"), "probabilities": ("0.9,0.9,0.9", "probabilities sum to 2.7, not 1"),
            "label": ("7", "is not one of the classes"), "value": ("inf", "finite number")}[task["prediction_format"]]


def bad_predictions(task: dict) -> dict:
    def first_value(new):
        return lambda lines: [lines[0], lines[1].split(",")[0] + "," + new] + lines[2:]

    value, words = bad_value(task)
    n_values = len(task["classes"]) if task["prediction_format"] == "probabilities" else 1
    return {
        "wrong_header": (lambda lines: ["id,score"] + lines[1:], "header is 'id,score', expected"),
        "too_few_rows": (lambda lines: lines[:-1], "has 399 prediction rows, expected 400"),
        "not_a_number": (first_value(",".join(["abc"] * n_values)), "line 2: 'abc' is not a number"),
        "nan": (first_value(",".join(["nan"] * n_values)), "line 2:"),
        "out_of_range": (first_value(value), words),
        "unknown_id": (lambda lines: [lines[0], "zz999," + lines[1].split(",", 1)[1]] + lines[2:], "1 ids are not in test.csv (e.g. 'zz999')"),
        "duplicated_id": (lambda lines: [lines[0], lines[2]] + lines[2:], "appears twice"),
        "empty_file": (lambda lines: [], "is empty"),
    }


def run_scoring(scoring, predictions: Path, out: Path) -> int:
    return scoring.main(["--reference", str(DEV_REFERENCE), "--predictions", str(predictions), "--output", str(out)])


@pytest.mark.parametrize("case", ["wrong_header", "too_few_rows", "not_a_number", "nan", "out_of_range", "unknown_id",
                                  "duplicated_id", "empty_file"])
def test_invalid_predictions_get_no_score_and_an_error_page(case, scoring, task, constant_predictions, tmp_path, capsys):
    change, expected = bad_predictions(task)[case]
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
    rewrite(first_file(tmp_path / "res", task), lambda lines: [lines[0], "<script>x</script>," + lines[1].split(",", 1)[1]] + lines[2:])
    assert run_scoring(scoring, tmp_path / "res", tmp_path / "out") == 1
    page = (tmp_path / "out" / "detailed_results.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page


def test_result_zip_is_scored_after_the_workers_unzip(scoring, constant_predictions, tmp_path):
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
