"""metrics.py, the leaderboard, the evaluation page and scores.json say the same thing."""

from __future__ import annotations

import shutil

from conftest import ROOT
from sync_metrics import out_of_sync


def test_leaderboard_columns_are_exactly_the_declared_columns(columns, metrics):
    declared = [(c.key, c.title, c.sorting, c.precision, i) for i, c in enumerate(metrics.COLUMNS)]
    in_yaml = [(c["key"], c["title"], c["sorting"], c["precision"], c["index"]) for c in sorted(columns, key=lambda c: c["index"])]
    assert in_yaml == declared


def test_primary_metric_ranks_the_leaderboard(competition, metrics):
    board = competition["leaderboards"][0]
    primary = next(c for c in board["columns"] if c["index"] == board["primary_index"])
    assert primary["key"] == metrics.PRIMARY.key


def test_generated_blocks_are_in_sync():
    assert out_of_sync(ROOT) == []


def test_evaluation_page_explains_every_column(metrics):
    page = (ROOT / "pages" / "evaluation.md").read_text(encoding="utf-8")
    for column in metrics.COLUMNS:
        assert column.title in page and column.description in page


def test_a_changed_metric_is_reported_as_drift(tmp_path):
    copy = tmp_path / "bundle"
    copy.mkdir()
    for name in ("competition.yaml", "pages", "scoring_program"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, copy / name)
    metrics_file = copy / "scoring_program" / "metrics.py"
    text = metrics_file.read_text(encoding="utf-8")
    metrics_file.write_text(text.replace('title="Accuracy",', 'title="Accuracy (share)",', 1), encoding="utf-8")
    assert out_of_sync(copy) == ["competition.yaml", "pages/evaluation.md"]
