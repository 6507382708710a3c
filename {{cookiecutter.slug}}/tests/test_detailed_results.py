"""detailed_results.html: live from the first second, self-contained, escaped, small."""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path

import pandas as pd
import pytest

from bundle import load_program_module
from conftest import KIT, ROOT
from metrics import THRESHOLD, label_text
from page import MAX_BYTES, PNG, Page, assert_complete_page, class_tables
from predictions import label_shown

# The figures each prediction format gets, in page order, per dataset.
FIGURES = {
    "probability": ["ROC curve", "Precision-recall curve", "Confusion matrix", "Predicted probabilities"],
    "probabilities": ["ROC curve", "Precision-recall curve", "Confusion matrix", "Probability of the true class"],
    "label": ["Confusion matrix", "Recall and precision per class"],
    "value": ["Predicted vs true", "Residuals"],
}


def run_scoring(predictions: Path, out: Path) -> int:
    scoring = load_program_module(ROOT / "scoring_program", "scoring")
    return scoring.main(["--reference", str(ROOT / "data" / "dev" / "reference_data"), "--predictions", str(predictions),
                         "--output", str(out)])


def test_figures_are_embedded_png_images(final_page):
    images = [url for tag, url in Page(final_page).urls if tag == "img"]
    assert len(images) >= 2
    for url in images:
        assert url.startswith("data:image/png;base64,")
        assert base64.b64decode(url.split(",", 1)[1]).startswith(PNG)


def test_page_loads_nothing_from_outside(final_page):
    page = Page(final_page)
    assert not {"script", "link", "iframe"} & set(page.tags)
    assert all(not url.startswith(("http://", "https://", "//")) for _, url in page.urls)
    assert "@import" not in final_page and "url(" not in final_page


def test_page_shows_every_metric_of_every_dataset(final_page, metrics, settings, task):
    text = " ".join(Page(final_page).text)
    for metric in metrics.leaderboard_metrics(settings):
        assert text.count(metric.title) >= len(task["datasets"]), metric.title
    if len(task["datasets"]) > 1:
        assert all(f"Dataset {d['name']}" in text for d in task["datasets"])
    assert "Scoring finished." in text


def test_summary_shows_the_leaderboard_row_as_codabench_will(final_page, final_run, metrics, settings):
    scores = json.loads((final_run.scoring_output / "scores.json").read_text())
    expected = []
    for column in metrics.leaderboard(settings):
        keys = column.computation_keys or (column.key,)
        expected.append((column.title, f"{sum(scores[k] for k in keys) / len(keys):.{column.precision}f}"))
    page = Page(final_page)
    assert list(zip(page.texts("tile-title"), page.texts("tile-value"))) == expected
    assert page.texts("tile-note")[0].startswith("ranks")


def test_summary_counts_the_predictions_and_times_ingestion_and_scoring(final_page, task, settings):
    summary = dict(Page(final_page).definitions)
    rows = sum(len((ROOT / "data" / "dev" / "reference_data" / d["folder"] / "test_labels.csv").read_text().splitlines()) - 1
               for d in task["datasets"])
    assert summary["Predictions scored"].startswith(f"{rows} rows")
    assert summary["Scoring"].endswith(" s") and float(summary["Scoring"][:-2]) > 0
    ingestion = "Ingestion (fit and predict)" if settings["submission_mode"] != "result" else "Ingestion"
    assert summary[ingestion]


def test_figures_follow_the_task_and_each_says_how_to_read_it(final_page, task):
    page = Page(final_page)
    assert [alt for alt, _ in page.images] == FIGURES[task["prediction_format"]] * len(task["datasets"])
    captions = page.texts("how-to-read")
    assert len(captions) == len(page.images)
    for (title, _), caption in zip(page.images, captions):
        assert caption.startswith(f"{title}.") and len(caption) > len(title) + 40, caption
    notes = " ".join(page.texts("note"))
    assert ("need probabilities" in notes) == (task["prediction_format"] == "label")


def test_each_dataset_says_where_points_are_lost(final_page, task):
    insights = Page(final_page).texts("insights")
    assert len(insights) == len(task["datasets"])
    assert all(text.startswith("Where points are lost") and len(text) > 60 for text in insights)


def reference_frame(dataset: dict, phase: str = "dev") -> pd.DataFrame:
    """A dataset's test_labels.csv, every cell as the text written."""
    path = ROOT / "data" / phase / "reference_data" / dataset["folder"] / "test_labels.csv"
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def constant_class(task: dict, dataset: dict):
    """The class every row gets from constant_predictions: the positive one for probability 0.5
    (THRESHOLD is 0.5), the first declared class otherwise (uniform probabilities: argmax is the first)."""
    if task["prediction_format"] == "probability" and 0.5 >= THRESHOLD:
        return dataset["classes"][1]
    return dataset["classes"][0]


def test_where_points_are_lost_names_what_a_constant_submission_gets_wrong(tmp_path, constant_predictions, task, no_figures):
    constant_predictions(tmp_path / "res")
    assert run_scoring(tmp_path / "res", tmp_path / "out") == 0
    insights = Page((tmp_path / "out" / "detailed_results.html").read_text(encoding="utf-8")).texts("insights")
    assert len(insights) == len(task["datasets"])
    for dataset, insight in zip(task["datasets"], insights):
        targets = reference_frame(dataset)[dataset["target"]]
        if task["task_type"] == "regression":  # every prediction is 0.0: the bias is minus the mean
            mean = float(targets.astype(float).mean())
            words = f"Predictions of {dataset['target']!r} are {abs(mean):.3g} {'below' if mean > 0 else 'above'} the truth on average"
            assert words in insight
            continue
        # every row gets one class: the most frequent other class (the first declared on a tie) is the most common mistake
        predicted = constant_class(task, dataset)
        counts = targets.value_counts()
        others = [(int(counts.get(label_text(c), 0)), c) for c in dataset["classes"] if c != predicted]
        count = max(n for n, _ in others)
        true = next(c for n, c in others if n == count)
        assert f"Most common mistake: {count} rows of class {label_shown(true)} predicted as {label_shown(predicted)}" in insight


def test_each_classification_dataset_has_a_table_per_class(final_page, task):
    tables = class_tables(final_page)
    if task["task_type"] == "regression":
        assert tables == []
        return
    assert len(tables) == len(task["datasets"])
    for dataset, rows in zip(task["datasets"], tables):
        counts = reference_frame(dataset)[dataset["target"]].value_counts()
        assert [row[0] for row in rows] == [escape(label_text(c)) for c in dataset["classes"]]  # declared order
        assert [int(row[1]) for row in rows] == [int(counts.get(label_text(c), 0)) for c in dataset["classes"]]
        assert sum(int(row[2]) for row in rows) == len(reference_frame(dataset))
        for _, support, predicted, precision, recall in rows:
            assert (precision == "\N{EN DASH}") == (predicted == "0") and (recall == "\N{EN DASH}") == (support == "0")


def test_regression_insights_name_the_target_column(final_page, task):
    if task["task_type"] != "regression":
        pytest.skip("classification: the per-class table names the classes")
    insights = Page(final_page).texts("insights")
    for dataset, insight in zip(task["datasets"], insights):
        assert f"Predictions of {dataset['target']!r} are" in insight


# Labels, ids and target names an organizer's data may have: markup, commas, quotes, dollars (mathtext).
def test_the_baseline_is_warned_only_of_what_make_data_reported(final_page):
    """What the page warns the baseline of (a class it never predicts on this data) is the data's luck, not the
    competition's fault: make data reports it to the organizer (data/summary.json), and the page says no more."""
    summary = json.loads((ROOT / "data" / "summary.json").read_text(encoding="utf-8"))
    prefix = "the baseline's predictions on Development: "
    reported = [w[len(prefix):] for d in summary["datasets"] for w in d["report"]["warnings"] if w.startswith(prefix)]
    page = Page(final_page)
    if not reported:
        assert "Warnings" not in page.text
        return
    shown = " ".join(page.texts("warnings"))
    for warning in reported:
        assert finding(warning) in shown, (warning, shown)


def finding(warning: str) -> str:
    """A warning without what it calls the predictions (a file, or Model.predict's output)."""
    for words in (" never predicts ", " has the same prediction"):
        if words in warning:
            return warning[warning.index(words):]
    return warning


def test_suspicious_but_valid_predictions_are_scored_with_a_warning(tmp_path, constant_predictions, task, no_figures):
    constant_predictions(tmp_path / "res")
    first = tmp_path / "res" / task["datasets"][0]["folder"] / "predictions.csv"
    first.write_text("\ufeff" + first.read_text(), encoding="utf-8")
    assert run_scoring(tmp_path / "res", tmp_path / "out") == 0
    page = Page((tmp_path / "out" / "detailed_results.html").read_text(encoding="utf-8"))
    warnings = " ".join(page.texts("caution"))
    assert "byte-order mark" in warnings
    assert warnings.count("has the same prediction") == len(task["datasets"])
    for dataset in task["datasets"]:
        if dataset["classes"]:  # the classes no row is predicted as are named by their labels
            never = [c for c in dataset["classes"] if c != constant_class(task, dataset)]
            assert f"never predicts class {label_shown(never[0])}" in warnings


def test_page_stays_under_its_size_budget(final_page):
    assert len(final_page.encode("utf-8")) < MAX_BYTES


def test_page_is_written_at_start_and_rewritten_after_every_stage(tmp_path, monkeypatch, constant_predictions, task):
    scoring = load_program_module(ROOT / "scoring_program", "scoring")
    report = load_program_module(ROOT / "scoring_program", "report")
    versions: list[str] = []
    original = scoring.Report.write

    def recording_write(self):
        original(self)
        versions.append(Path(self.path).read_text(encoding="utf-8"))

    monkeypatch.setattr(scoring.Report, "write", recording_write)
    res = tmp_path / "res"
    constant_predictions(res)
    code = scoring.main(["--reference", str(ROOT / "data" / "dev" / "reference_data"), "--predictions", str(res),
                         "--output", str(tmp_path / "out")])
    assert code == 0
    assert len(versions) >= 5
    first = Page(versions[0])
    first_text = " ".join(first.text)
    assert "Scoring in progress" in first_text and "Scores" not in first.text
    assert "Phase: Development" in first_text and "Submission:" in first_text
    names = [d["name"] for d in task["datasets"]]
    assert f"Datasets to score: {', '.join(names) if len(names) > 1 else '1'}" in first_text
    for html in versions:
        assert_complete_page(html)
    assert "Scoring finished." in versions[-1]
    assert report.PAGE_NAME == "detailed_results.html"
    assert not list((tmp_path / "out").glob(".detailed_results.*"))  # no temporary file left behind


def test_every_text_field_of_the_page_is_escaped(tmp_path):
    report = load_program_module(ROOT / "scoring_program", "report")
    evil = "<script>alert(1)</script>"
    page = report.Report(tmp_path, title=evil, stages=[evil, "second"])
    page.add_fact(evil, evil)
    page.warn(evil)
    page.show_scores(evil, [report.ScoreRow(evil, 0.5, 2, evil, evil)])
    page.show_summary(report.Summary([report.ScoreRow(evil, 0.5, 2, evil, evil)], evil, {evil: evil}))
    page.add_figure(evil, report.Figure(evil, evil, base64.b64encode(PNG).decode()))
    page.add_note(evil, evil)
    page.add_insights(evil, [evil])
    page.add_class_table(evil, [report.ClassRow(evil, 3, 2, 0.5, None)], evil)
    page.fail(evil, file=evil, fix=evil, next_step=evil)
    html = page.path.read_text(encoding="utf-8")
    assert "<script>" not in html
    assert html.count("&lt;script&gt;") >= 23

