"""Submissions run end to end through the worker-like runner, and scores.json keeps its contract."""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import scoring
import yaml

from conftest import CODE, KIT, ROOT, needs_code, needs_results
from page import Page

BASELINE = KIT / "sample_code_submission"
RESULT = KIT / "sample_result_submission"
FAILING = KIT / "failing_submission"


def written_keys(columns) -> set[str]:
    return {c["key"] for c in columns if not c.get("computation")}


def expected_error() -> str:
    return (FAILING / "expected_error.txt").read_text(encoding="utf-8").strip()


def visible_text(html: str) -> str:
    """The page's text as a reader sees it: no tags, entities decoded, spaces collapsed."""
    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts: list[str] = []

        def handle_data(self, data):
            self.parts.append(data)

    parser = Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


@needs_code
@pytest.mark.parametrize("phase", ["Development", "Final"])
def test_baseline_finishes_on_every_phase(run_submission, phase):
    runs = run_submission(phase, BASELINE)
    assert [run.status for run in runs] == ["Finished"] * len(runs), [run.message for run in runs]


SAMPLE_RUNS = [("Development", BASELINE), ("Final", BASELINE)] if CODE else [("Development", RESULT)]


@pytest.mark.parametrize("phase,submission", SAMPLE_RUNS, ids=[f"{p}-{s.name}" for p, s in SAMPLE_RUNS])
def test_scores_json_has_exactly_the_leaderboard_keys_as_finite_floats(run_submission, columns, phase, submission):
    for run in run_submission(phase, submission):
        assert run.status == "Finished", run.message
        scores = json.loads((run.scoring_output / "scores.json").read_text())
        assert set(scores) == written_keys(columns)
        for key, value in scores.items():
            assert type(value) is float, key
            assert math.isfinite(value) and abs(value) < 1e10, key


def test_perfect_predictions_beat_a_constant_prediction(perfect, metrics, settings, constant_predictions, tmp_path, no_figures):
    """Every column's direction is right: the test labels themselves score better than predicting a constant.
    (Not the baseline: on a table nobody can predict, such as a stock market's direction, it need not beat one;
    make data reports the baseline's scores to the organizer.)"""
    constant_predictions(tmp_path / "res")
    scores = {}
    for name, predictions in (("perfect", perfect), ("constant", tmp_path / "res")):
        assert scoring.main(["--reference", str(ROOT / "data" / "dev" / "reference_data"),
                             "--predictions", str(predictions), "--output", str(tmp_path / name)]) == 0
        scores[name] = json.loads((tmp_path / name / "scores.json").read_text())
    for column in metrics.written_columns(settings):
        if column.metric is None or column.key not in scores["perfect"]:
            continue
        ours, theirs = scores["perfect"][column.key], scores["constant"][column.key]
        assert (ours > theirs if column.higher_is_better else ours < theirs), (column.key, ours, theirs)


@needs_results
def test_result_submission_finishes_on_development(run_submission, metrics, settings):
    (result,) = run_submission("Development", RESULT)
    assert result.status == "Finished", result.message
    if settings["submission_mode"] == "both":
        (code,) = run_submission("Development", BASELINE)
        for key, value in code.scores.items():
            if key != metrics.DURATION.key:
                assert result.scores[key] == pytest.approx(value, abs=1e-6), key
        assert result.scores[metrics.DURATION.key] == 0.0


@pytest.mark.skipif(not (KIT / "sample_code_submission").exists(), reason="no code baseline")
def test_code_only_competition_refuses_result_submissions(run_submission, settings, tmp_path):
    if settings["submission_mode"] != "code":
        pytest.skip("result submissions are accepted here")
    results = tmp_path / "results"
    results.mkdir()
    (results / "predictions.csv").write_text("id,probability\n")
    (refused,) = run_submission("Development", results)
    assert refused.status == "Failed"
    assert "this competition takes code submissions" in refused.ingestion_stderr


def test_failing_submission_fails_with_its_expected_message(run_submission):
    (run,) = run_submission("Development", FAILING)
    assert run.status == "Failed"
    assert expected_error() in (run.ingestion_stderr + run.scoring_stderr).splitlines()
    assert not (run.scoring_output / "scores.json").exists()


def test_failing_submission_explains_itself_on_the_detailed_results_page(run_submission):
    (run,) = run_submission("Development", FAILING)
    text = visible_text(run.detailed_results.read_text(encoding="utf-8"))
    code = (FAILING / "model.py").exists()  # the prediction step fails; in result-only competitions, scoring does
    assert ("The prediction step failed: this submission gets no score" if code else "Scoring failed") in text
    for part in re.split(r"\. |; ", expected_error().removeprefix("ERROR: ")):  # the page shows problem and fix apart
        assert part.rstrip(".").lower() in text.lower(), part
    html = run.detailed_results.read_text(encoding="utf-8")
    fix = dict(Page(html).definitions)["How to fix it"]
    assert fix[0].isupper() and fix.endswith(".") and "logs" not in fix.split(".")[0]  # the fix itself, not where to look
    (failed,) = re.findall(r'<li class="stage-failed">([^<]*)</li>', html)  # the step that failed is named
    assert failed.startswith("Prediction step" if code else "Checking the predictions")
    assert re.findall(r'<li class="stage-pending">[^<]*\((\w[\w ]*)\)</li>', html) == ["not run"] * html.count('<li class="stage-pending">')


@needs_code
def test_worker_metadata_is_written_by_the_worker_only(run_submission):
    (run,) = run_submission("Development", BASELINE)
    status = yaml.safe_load((run.prediction_output / "metadata").read_text())
    assert set(status) == {"exitCode", "elapsedTime", "ingestionExitCode", "ingestionElapsedTime"}
    assert status["ingestionExitCode"] == 0
    ingestion_result = json.loads((run.prediction_output / "ingestion_result.json").read_text())
    assert ingestion_result["status"] == "ok" and ingestion_result["submission_type"] == "code"
    assert np.isfinite(ingestion_result["duration"])
