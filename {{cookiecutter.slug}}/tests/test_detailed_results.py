"""detailed_results.html: live from the first second, self-contained, escaped, small."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bundle import load_program_module
from conftest import KIT, ROOT

PNG = b"\x89PNG\r\n\x1a\n"
MAX_BYTES = 300_000


VOID = {"meta", "img", "br", "hr", "link", "input"}


class Page(HTMLParser):
    """What a browser would fetch or run: tags, their URLs, the visible text, and the text of
    each element by CSS class (so a test reads the summary tiles the way a participant does)."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[tuple[str, str]] = []
        self.text: list[str] = []
        self.by_class: dict[str, list[str]] = {}
        self.definitions: list[tuple[str, str]] = []  # (dt, dd) pairs of the definition lists
        self._open: list[list[str]] = []  # classes of each open element
        self.images: list[tuple[str, str]] = []  # (alt, src)
        self._term: str | None = None  # "dt" or "dd" while one is being read
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href"):
                self.urls.append((tag, value or ""))
        if tag == "img":
            self.images.append((dict(attrs).get("alt") or "", dict(attrs).get("src") or ""))
        if tag == "dt":
            self.definitions.append(("", ""))
        if tag in ("dt", "dd"):
            self._term = tag
        if tag not in VOID:
            classes = (dict(attrs).get("class") or "").split()
            for name in classes:
                self.by_class.setdefault(name, []).append("")
            self._open.append(classes)

    def handle_endtag(self, tag):
        if tag not in VOID and self._open:
            self._open.pop()
        if tag in ("dt", "dd"):
            self._term = None

    def handle_data(self, data):
        self.text.append(data)
        if self._term:
            term, value = self.definitions[-1]
            self.definitions[-1] = (term + data, value) if self._term == "dt" else (term, value + data)
        for classes in self._open:
            for name in classes:
                self.by_class[name][-1] += data

    def texts(self, css_class: str) -> list[str]:
        return [" ".join(t.split()) for t in self.by_class.get(css_class, [])]


# The figures each prediction format gets, in page order, per dataset.
FIGURES = {
    "probability": ["ROC curve", "Precision-recall curve", "Confusion matrix", "Predicted probabilities"],
    "probabilities": ["ROC curve", "Precision-recall curve", "Confusion matrix", "Probability of the true class"],
    "label": ["Confusion matrix", "Recall and precision per class"],
    "value": ["Predicted vs true", "Residuals"],
}


def assert_complete_page(html: str) -> Page:
    """What every version of the page must be, whenever the worker happens to upload it."""
    assert html.lstrip().startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    page = Page(html)
    assert page.texts("status") and "Progress" in page.text
    for _, src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    assert not [url for _, url in page.urls if url.startswith(("http:", "https:", "//"))]
    assert len(html.encode("utf-8")) < MAX_BYTES
    return page


@pytest.fixture(scope="module")
def final_run(run_submission, settings):
    submission = "sample_result_submission" if settings["submission_mode"] == "result" else "sample_code_submission"
    (run,) = run_submission("Development", KIT / submission)
    return run


@pytest.fixture(scope="module")
def final_page(final_run) -> str:
    return final_run.detailed_results.read_text(encoding="utf-8")


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


def test_where_points_are_lost_names_what_a_constant_submission_gets_wrong(tmp_path, constant_predictions, task):
    constant_predictions(tmp_path / "res")
    assert run_scoring(tmp_path / "res", tmp_path / "out") == 0
    insight = Page((tmp_path / "out" / "detailed_results.html").read_text(encoding="utf-8")).texts("insights")[0]
    labels = ROOT / "data" / "dev" / "reference_data" / task["datasets"][0]["folder"] / "test_labels.csv"
    targets = [line.split(",")[1] for line in labels.read_text().splitlines()[1:]]
    if task["task_type"] == "regression":  # every prediction is 0.0: the bias is minus the mean
        mean = sum(map(float, targets)) / len(targets)
        assert f"Predictions are {abs(mean):.3g} {'below' if mean > 0 else 'above'} the truth on average" in insight
    else:  # every row gets one class: the biggest other class is the most common mistake
        predicted = 1 if task["prediction_format"] == "probability" else task["classes"][0]
        count, true = max((targets.count(str(c)), c) for c in task["classes"] if c != predicted)
        assert f"Most common mistake: {count} rows of class {true} predicted as {predicted}" in insight


def test_the_baseline_gets_no_warnings(final_page):
    assert "Warnings" not in Page(final_page).text


def test_suspicious_but_valid_predictions_are_scored_with_a_warning(tmp_path, constant_predictions, task):
    constant_predictions(tmp_path / "res")
    first = tmp_path / "res" / task["datasets"][0]["folder"] / "predictions.csv"
    first.write_text("\ufeff" + first.read_text(), encoding="utf-8")
    assert run_scoring(tmp_path / "res", tmp_path / "out") == 0
    page = Page((tmp_path / "out" / "detailed_results.html").read_text(encoding="utf-8"))
    warnings = " ".join(page.texts("caution"))
    assert "byte-order mark" in warnings
    assert warnings.count("has the same prediction") == len(task["datasets"])
    if task["classes"]:
        assert "never predicts class" in warnings


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


# Run in a separate Python by the test below: the real scoring program, with every stage made to
# last at least argv[2] seconds (as on a large dataset), without touching the program's code.
SLOWED_SCORING = """
import sys, time
sys.path.insert(0, sys.argv[1])
import report
advance = report.Report.advance
def slow_advance(self, stage):
    advance(self, stage)
    time.sleep(float(sys.argv[2]))
report.Report.advance = slow_advance
import scoring
sys.exit(scoring.main(sys.argv[3:]))
"""
STAGE_SECONDS = 0.5  # ten times the polling interval below: a loaded 2-core machine still sees each stage


def test_a_separate_reader_sees_the_page_evolve_while_slowed_scoring_runs(tmp_path, constant_predictions):
    """The worker reads the page from outside the scoring program while it runs; so does this test,
    polling the file every 50 ms and keeping each distinct version it reads."""
    constant_predictions(tmp_path / "res")
    page = tmp_path / "out" / "detailed_results.html"
    command = [sys.executable, "-c", SLOWED_SCORING, str(ROOT / "scoring_program"), str(STAGE_SECONDS),
               "--reference", str(ROOT / "data" / "dev" / "reference_data"),
               "--predictions", str(tmp_path / "res"), "--output", str(tmp_path / "out")]
    seen: list[str] = []  # versions read while the scoring process was running, timestamp line removed
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as scoring:
        while scoring.poll() is None:
            if page.is_file():
                html = page.read_text(encoding="utf-8")
                version = re.sub(r"Page written [^<]* UTC", "", html)
                if scoring.poll() is None and (not seen or version != seen[-1]):
                    assert_complete_page(html)
                    seen.append(version)
            time.sleep(0.05)
        out, err = scoring.communicate()
    assert scoring.returncode == 0, err
    assert len(seen) >= 3, [Page(v).texts("status") for v in seen]
    assert Page(seen[0]).texts("status")[0].startswith("Scoring in progress")
    done = [version.count("(done)</li>") for version in seen]  # stages finished, as each version says
    assert done == sorted(done) and done[-1] > done[0]
    assert "Scoring finished." in page.read_text(encoding="utf-8")


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
    page.fail(evil, file=evil, fix=evil, next_step=evil)
    html = page.path.read_text(encoding="utf-8")
    assert "<script>" not in html
    assert html.count("&lt;script&gt;") >= 21

