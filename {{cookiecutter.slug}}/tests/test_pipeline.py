"""Submissions run end to end through the worker-like runner, and scores.json keeps its contract."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from conftest import KIT

BASELINE = KIT / "sample_code_submission"
RESULT = KIT / "sample_result_submission"
FAILING = KIT / "failing_submission"


def non_computed_keys(columns) -> set[str]:
    return {c["key"] for c in columns if not c.get("computation")}


@pytest.mark.parametrize("phase", ["Development", "Final"])
def test_baseline_finishes_on_every_phase(run_submission, phase):
    runs = run_submission(phase, BASELINE)
    assert [run.status for run in runs] == ["Finished"] * len(runs), [run.message for run in runs]


@pytest.mark.parametrize("phase", ["Development", "Final"])
def test_scores_json_has_exactly_the_leaderboard_keys_as_finite_floats(run_submission, columns, phase):
    for run in run_submission(phase, BASELINE):
        scores = json.loads((run.scoring_output / "scores.json").read_text())
        assert set(scores) == non_computed_keys(columns)
        for key, value in scores.items():
            assert type(value) is float, key
            assert math.isfinite(value) and abs(value) < 1e10, key


def test_baseline_beats_chance_clearly(run_submission, metrics):
    (run,) = run_submission("Development", BASELINE)
    assert run.scores[metrics.PRIMARY.key] > 0.6


def test_result_submission_scores_like_the_code_that_made_it(run_submission, metrics):
    (code,) = run_submission("Development", BASELINE)
    (result,) = run_submission("Development", RESULT)
    assert result.status == "Finished", result.message
    assert result.scores[metrics.PRIMARY.key] == pytest.approx(code.scores[metrics.PRIMARY.key], abs=1e-9)
    assert result.scores[metrics.DURATION.key] == 0.0


def test_failing_submission_fails_with_its_expected_message(run_submission):
    (run,) = run_submission("Development", FAILING)
    expected = (FAILING / "expected_error.txt").read_text(encoding="utf-8").strip()
    assert run.status == "Failed"
    assert expected in run.ingestion_stderr.splitlines()
    assert not (run.scoring_output / "scores.json").exists()


def test_failing_submission_explains_itself_on_the_detailed_results_page(run_submission):
    (run,) = run_submission("Development", FAILING)
    expected = (FAILING / "expected_error.txt").read_text(encoding="utf-8").strip().removeprefix("ERROR: ")
    page = run.detailed_results.read_text(encoding="utf-8")
    assert expected.replace("'", "&#x27;") in page
    assert "Scoring failed" in page


def test_worker_metadata_is_written_by_the_worker_only(run_submission):
    (run,) = run_submission("Development", BASELINE)
    status = yaml.safe_load((run.prediction_output / "metadata").read_text())
    assert set(status) == {"exitCode", "elapsedTime", "ingestionExitCode", "ingestionElapsedTime"}
    assert status["ingestionExitCode"] == 0
    ingestion_result = json.loads((run.prediction_output / "ingestion_result.json").read_text())
    assert ingestion_result["status"] == "ok" and ingestion_result["submission_type"] == "code"
