"""Where a score stands: the baseline's scores from `make data` beside the submission's, each metric's
95 % bootstrap interval, and one sentence on whether the gap is larger than the noise. None of it may
change scores.json."""

from __future__ import annotations

import json
import shutil
from html import unescape
from pathlib import Path

import numpy as np
import pytest

from bundle import load_program_module
from conftest import ROOT
from page import Page, standing_tables

BASELINE = "baseline.json"


def baseline_scores(phase: str = "dev") -> dict:
    return json.loads((ROOT / "data" / phase / "reference_data" / BASELINE).read_text(encoding="utf-8"))["datasets"]


def score(predictions: Path, out: Path, reference: Path = ROOT / "data" / "dev" / "reference_data") -> tuple[dict, str]:
    scoring = load_program_module(ROOT / "scoring_program", "scoring")
    assert scoring.main(["--reference", str(reference), "--predictions", str(predictions), "--output", str(out)]) == 0
    return (json.loads((out / "scores.json").read_text(encoding="utf-8")),
            (out / "detailed_results.html").read_text(encoding="utf-8"))


def sentences(html: str) -> list[str]:
    return Page(html).texts("standing")


def test_every_phase_has_the_baselines_scores_for_every_leaderboard_metric_of_every_dataset(metrics, settings, task):
    keys = {m.key for m in metrics.leaderboard_metrics(settings)}
    for phase in ("dev", "final"):
        scores = baseline_scores(phase)
        assert set(scores) == {d["name"] for d in task["datasets"]}
        for dataset, values in scores.items():
            assert set(values) == keys, f"data/{phase}/reference_data/{BASELINE} has {sorted(values)}, not the leaderboard's " \
                f"{sorted(keys)}: run `make data` after changing the metrics"
            for key, value in values.items():
                assert metrics.REGISTRY[key].minimum <= value <= metrics.REGISTRY[key].maximum


def test_the_baselines_scores_are_what_the_scoring_program_gives_the_sample_submission(final_run, final_page, metrics,
                                                                                           settings, task):
    """make data scores the starting kit's baseline as the leaderboard would: run through the pipeline, the
    sample submission (that baseline) gets the very same numbers, and the page says it equals the baseline."""
    scores = json.loads((final_run.scoring_output / "scores.json").read_text(encoding="utf-8"))
    several = len(task["datasets"]) > 1
    for d in task["datasets"]:
        for metric in metrics.leaderboard_metrics(settings):
            key = f"{metric.key}_{d['name']}" if several else metric.key
            if key in scores:
                assert scores[key] == pytest.approx(baseline_scores()[d["name"]][metric.key], abs=1e-12), key
    for table in standing_tables(final_page):
        assert all(difference == "the same" for *_, difference in table)
    assert all("equals the baseline's" in s for s in sentences(final_page)), sentences(final_page)


def test_each_score_has_a_95_percent_interval_around_it_and_the_same_one_every_time(final_page, perfect, tmp_path, task,
                                                                                  no_figures):
    tables = standing_tables(final_page)
    assert len(tables) == len(task["datasets"]) and all(tables)
    for table in tables:
        for title, value, interval, baseline, _ in table:
            low, high = (float(x) for x in unescape(interval).split("\N{EN DASH}"))
            assert low <= float(value) <= high and low < high, (title, value, interval)
            assert baseline != "\N{EN DASH}"
    notes = " ".join(Page(final_page).texts("table-note"))
    assert "95 % interval: the middle 95 % of the scores of 200 resamples" in notes
    _, again = score(perfect, tmp_path / "1")
    _, once_more = score(perfect, tmp_path / "2")
    assert standing_tables(again) == standing_tables(once_more)


def test_a_better_submission_is_told_it_beats_the_baseline_by_more_than_the_noise(perfect, tmp_path, metrics, settings,
                                                                                   no_figures):
    _, html = score(perfect, tmp_path)
    for table in standing_tables(html):
        assert all(difference.endswith("better") for *_, difference in table), table
    primary = metrics.leaderboard_metrics(settings)[0]
    found = sentences(html)
    assert found and all("better than the baseline" in s for s in found), found
    assert any(f"Your {primary.title}" in s and "larger than the noise" in s for s in found), found


def test_a_constant_submission_is_told_it_is_worse_than_the_baseline(constant_predictions, tmp_path, metrics, settings,
                                                                       no_figures):
    constant_predictions(tmp_path / "res")
    _, html = score(tmp_path / "res", tmp_path / "out")
    primary = metrics.leaderboard_metrics(settings)[0]
    rows = [row for table in standing_tables(html) for row in table if row[0] == primary.title]
    assert rows and all(row[4].endswith("worse") for row in rows), rows
    assert all("worse than the baseline" in s for s in sentences(html)), sentences(html)


@pytest.mark.parametrize("baseline", ["missing", "broken"])
def test_without_usable_baseline_scores_the_page_says_so_and_scores_json_is_unchanged(baseline, perfect, tmp_path, no_figures):
    expected, _ = score(perfect, tmp_path / "with")
    reference = tmp_path / "reference"
    shutil.copytree(ROOT / "data" / "dev" / "reference_data", reference)
    if baseline == "missing":
        (reference / BASELINE).unlink()
    else:
        (reference / BASELINE).write_text('{"datasets": {"other": {"x": NaN}}}', encoding="utf-8")
    scores, html = score(perfect, tmp_path / "without", reference)
    assert scores == expected
    notes = " ".join(Page(html).texts("table-note"))
    assert ("No baseline scores came with the reference data" in notes) if baseline == "missing" else \
        ("baseline.json is unusable" in notes and "tell the organizers" in notes)
    assert not sentences(html)
    for table in standing_tables(html):
        assert all(row[3] == "&ndash;" and row[2] != "\N{EN DASH}" for row in table), table


def test_large_test_sets_draw_fewer_rows_per_resample_and_the_interval_keeps_its_width(metrics, monkeypatch):
    """Above the budget, resamples draw fewer rows and the spread is narrowed by the square root of the
    ratio: the interval is about as wide as the one from resampling every row (at a fraction of the cost)."""
    standing = load_program_module(ROOT / "scoring_program", "standing")
    assert standing.rows_per_resample(1_000_000, 1, 1) == standing.ROWS_PER_RESAMPLE
    assert standing.rows_per_resample(1_000_000, 10, 1) == standing.ROWS_PER_RESAMPLE // 10
    assert standing.rows_per_resample(1_000_000, 1, 5) == standing.ROWS_PER_RESAMPLE // 5
    assert standing.rows_per_resample(300, 50, 5) == 80
    rng = np.random.default_rng(3)
    rows = 4 * standing.ROWS_PER_RESAMPLE
    truth = rng.integers(0, 2, rows)
    labels = np.where(rng.random(rows) < 0.8, truth, 1 - truth)
    accuracy = metrics.REGISTRY["accuracy"]
    value = {"accuracy": accuracy.compute(truth, labels, [0, 1])}
    narrowed = standing.bootstrap([(accuracy, labels)], truth, [0, 1], value)["accuracy"]
    assert narrowed.drawn == standing.ROWS_PER_RESAMPLE and narrowed.rows == rows
    monkeypatch.setattr(standing, "ROWS_PER_RESAMPLE", rows)  # a budget that resamples every row
    full = standing.bootstrap([(accuracy, labels)], truth, [0, 1], value)["accuracy"]
    assert full.drawn == rows
    width = (full.high - full.low)
    assert narrowed.high - narrowed.low == pytest.approx(width, rel=0.2)
    assert width == pytest.approx(2 * 1.96 * np.sqrt(0.8 * 0.2 / rows), rel=0.2)  # the normal approximation's
    assert "narrowed by" in standing.how_computed(narrowed) and "narrowed" not in standing.how_computed(full)


def test_a_rare_class_keeps_a_perfect_submission_perfect_in_every_resample(metrics):
    """Resamples are drawn within each class, as the test set was split: a resample that lost a class of two
    rows would score macro F1 for a class nobody could predict, and a perfect submission would look like noise."""
    standing = load_program_module(ROOT / "scoring_program", "standing")
    truth = np.array([0] * 60 + [1] * 38 + [2] * 2)
    macro_f1 = metrics.REGISTRY["macro_f1"]
    value = {"macro_f1": macro_f1.compute(truth, truth, [0, 1, 2])}
    interval = standing.bootstrap([(macro_f1, truth)], truth, [0, 1, 2], value)["macro_f1"]
    assert value["macro_f1"] == 1 and interval.low == interval.high == 1


def test_a_baseline_scored_on_other_rows_is_an_indication_not_a_test():
    """The starting kit's local page compares with the baseline's Development score, computed on other rows."""
    standing = load_program_module(ROOT / "scoring_program", "standing")
    interval = standing.Interval(low=1.0, high=1.0, rows=34, drawn=34, resamples=1000)
    here = standing.Standing("ROC AUC", 1.0, 4, True, 0.9744, interval).sentence()
    other = standing.Standing("ROC AUC", 1.0, 4, True, 0.9744, interval, baseline_phase="Development").sentence()
    assert "larger than the noise" in here
    assert other == ("Your ROC AUC, 1.0000, is 0.0256 better than the baseline's 0.9744 (its Development phase score, "
                     "on other rows: an indication, not a test).")
