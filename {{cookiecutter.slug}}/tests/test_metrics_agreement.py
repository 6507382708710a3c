"""metrics.py, the leaderboard, the evaluation page and scores.json say the same thing."""

from __future__ import annotations

import shutil

from conftest import ROOT
from sync import out_of_sync


def test_leaderboard_columns_are_exactly_the_declared_columns(columns, metrics, settings):
    declared = [(c.key, c.title, c.sorting, c.precision, i) for i, c in enumerate(metrics.leaderboard(settings))]
    in_yaml = [(c["key"], c["title"], c["sorting"], c["precision"], c["index"]) for c in sorted(columns, key=lambda c: c["index"])]
    assert in_yaml == declared


def test_primary_metric_ranks_the_leaderboard(competition, metrics, settings):
    board = competition["leaderboards"][0]
    ranking = next(c for c in board["columns"] if c["index"] == board["primary_index"])
    primary = metrics.leaderboard_metrics(settings)[0]
    assert ranking["key"] in (primary.key, f"{primary.key}_mean")
    assert ranking["sorting"] == primary.sorting


def test_computed_columns_average_the_per_dataset_columns(columns, settings):
    computed = [c for c in columns if c.get("computation")]
    if len(settings["datasets"]) == 1:
        assert computed == []
        return
    (mean,) = computed
    per_dataset = {c["index"] for c in columns if c["key"].endswith(tuple(f"_{d}" for d in settings["datasets"]))}
    assert mean["computation"] == "avg" and set(mean["computation_indexes"]) == per_dataset


def test_generated_blocks_are_in_sync():
    assert out_of_sync(ROOT) == []


def test_evaluation_page_explains_every_column(metrics, settings):
    page = (ROOT / "pages" / "evaluation.md").read_text(encoding="utf-8")
    for column in metrics.leaderboard(settings):
        assert column.title in page and column.description in page


def test_a_changed_metric_is_reported_as_drift(tmp_path, metrics, settings):
    copy = tmp_path / "bundle"
    copy.mkdir()
    for name in ("competition.yaml", "pages", "scoring_program", "data"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, copy / name)
    metrics_file = copy / "scoring_program" / "metrics.py"
    text = metrics_file.read_text(encoding="utf-8")
    primary = metrics.leaderboard_metrics(settings)[0]
    declaration = f'Metric("{primary.key}", "{primary.title}",'
    assert declaration in text
    metrics_file.write_text(text.replace(declaration, f'Metric("{primary.key}", "{primary.title} v2",'), encoding="utf-8")
    assert out_of_sync(copy) == ["competition.yaml", "pages/evaluation.md"]
