"""detailed_results.html: live from the first second, self-contained, escaped, small."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import subprocess
import sys
import time
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from bundle import load_program_module
from conftest import KIT, ROOT
from metrics import THRESHOLD, label_text
from predictions import format_predictions, label_shown

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


def test_where_points_are_lost_names_what_a_constant_submission_gets_wrong(tmp_path, constant_predictions, task):
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


CLASS_ROW = re.compile(r"<tr><td>(.*?)</td><td>(\d+)</td><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>")


def class_tables(html: str) -> list[list[tuple[str, ...]]]:
    """The rows (label as in the HTML, true rows, predicted rows, precision, recall) of each per-class table."""
    return [CLASS_ROW.findall(block) for block in re.findall(r'<div class="class-table">(.*?)</table>', html)]


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
ODD_LABELS = ["<b>&", "a, b", 'c$x$ "q"', "no", "<i>yes</i>"]
MAX_DATASETS = 5  # the most a phase may have (the template's datasets_per_phase answer)

ODD = {  # scenario: (task type, primary metric, classes per dataset, datasets)
    "binary": ("binary_classification", "auto", 2, 1),
    "labels": ("multiclass_classification", "auto", 5, 1),
    "fifty_classes_five_datasets": ("multiclass_classification", "log_loss", 50, MAX_DATASETS),  # the page's largest case
    "regression": ("regression", "auto", 0, 1),
}


def odd_phase(tmp_path: Path, metrics, task_type: str, primary: str, n_classes: int, n_datasets: int):
    """Reference data, shuffled predictions and settings of a phase with odd names; its datasets
    with their true class indexes (or values) and predictions."""
    names = ["main"] if n_datasets == 1 else [f"ds{k}" for k in range(n_datasets)]
    settings = {"title": "Odd <labels>", "task_type": task_type, "primary_metric": primary,
                "submission_mode": "result", "datasets": names}
    fmt = metrics.prediction_format(settings)
    rng = np.random.default_rng(0)
    n = 600
    ids = np.array([f"r{i}, <{i}>" for i in range(n)], dtype=object)
    datasets = []
    for k, name in enumerate(names):
        long_names = [f"a rather long class name {i} of dataset <{k}>" for i in range(len(ODD_LABELS), n_classes)]
        classes = (ODD_LABELS + long_names)[:n_classes]
        dataset = {"name": name, "folder": "" if n_datasets == 1 else name, "id": 'row "id", text',
                   "target": "kind <k>" if classes else "price (k$) <t>", "classes": classes, "features": [],
                   "rows": {"train": 0, "test": n}}
        if classes:
            truth = rng.integers(0, len(classes), n)
            truth[:len(classes)] = np.arange(len(classes))  # every class has rows
            proba = rng.dirichlet(np.ones(len(classes)), n)
            proba[np.arange(n), truth] += 0.5
            proba /= proba.sum(axis=1, keepdims=True)
            target = [label_text(classes[i]) for i in truth]
            values = {"probability": proba[:, 1], "probabilities": proba,
                      "label": np.array(classes, dtype=object)[proba.argmax(axis=1)]}[fmt]
        else:
            truth = rng.normal(100, 20, n)
            values = truth + rng.normal(3, 10, n)
            target = [repr(float(v)) for v in truth]
        (tmp_path / "ref" / dataset["folder"]).mkdir(parents=True, exist_ok=True)
        with (tmp_path / "ref" / dataset["folder"] / "test_labels.csv").open("w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows([[dataset["id"], dataset["target"]], *zip(ids, target)])
        order = rng.permutation(n)
        text = format_predictions(ids[order], values[order], fmt, classes, dataset["target"], dataset["id"])
        if fmt == "probabilities":  # columns in another order than the declared one are matched by name
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
            text = frame[[frame.columns[0], *frame.columns[1:][::-1]]].to_csv(index=False, lineterminator="\n")
        (tmp_path / "res" / dataset["folder"]).mkdir(parents=True, exist_ok=True)
        (tmp_path / "res" / dataset["folder"] / "predictions.csv").write_text(text, encoding="utf-8")
        datasets.append((dataset, truth, values))
    (tmp_path / "ref" / "dataset.json").write_text(json.dumps({
        "phase": "Development", "task_type": task_type, "prediction_format": fmt, "submission_mode": "result",
        "datasets": [d for d, _, _ in datasets]}))
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    return fmt, datasets


@pytest.mark.parametrize("scenario", sorted(ODD))
def test_odd_labels_are_scored_by_name_and_shown_as_text(scenario, tmp_path, monkeypatch, metrics):
    """A phase whose labels and column names are markup, commas, quotes and dollars; predictions in
    another row order (and, for probabilities, another column order) than the reference."""
    fmt, datasets = odd_phase(tmp_path, metrics, *ODD[scenario])
    scoring = load_program_module(ROOT / "scoring_program", "scoring")
    monkeypatch.setattr(scoring, "SETTINGS", tmp_path / "settings.json")
    assert scoring.main(["--reference", str(tmp_path / "ref"), "--predictions", str(tmp_path / "res"),
                         "--output", str(tmp_path / "out")]) == 0
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    html = (tmp_path / "out" / "detailed_results.html").read_text(encoding="utf-8")
    assert_complete_page(html)  # among others: under MAX_BYTES
    captions = " ".join(Page(html).texts("how-to-read"))
    tables = class_tables(html)
    assert len(tables) == (len(datasets) if datasets[0][0]["classes"] else 0)
    for k, (dataset, truth, values) in enumerate(datasets):
        classes, suffix = dataset["classes"], f"_{dataset['name']}" if len(datasets) > 1 else ""
        if classes:  # accuracy from the labels as text, without the scoring program's class indexes
            names = np.array(classes, dtype=object)
            predicted = names[values.argmax(axis=1)] if fmt == "probabilities" else (
                np.where(values >= THRESHOLD, classes[1], classes[0]) if fmt == "probability" else values)
            if f"accuracy{suffix}" in scores:
                assert scores[f"accuracy{suffix}"] == pytest.approx(np.mean(predicted == names[truth]))
            else:  # several datasets: only the primary metric (log loss here) per dataset; scikit-learn's
                order = np.argsort(names.astype(str))  # columns in sorted label order
                assert scores[f"log_loss{suffix}"] == pytest.approx(log_loss(names[truth], values[:, order], labels=list(names[order])))
            assert [row[0] for row in tables[k]] == [escape(label_text(c)) for c in classes]
            assert [int(row[1]) for row in tables[k]] == np.bincount(truth, minlength=len(classes)).tolist()
            for label in classes[:len(ODD_LABELS)]:
                assert escape(label) in html
            assert "<b>&" not in html and "<i>yes" not in html and "<0>" not in html
            if len(classes) > 10:
                assert f"Only the 10 most frequent of the {len(classes)} classes are drawn" in captions
                assert "counts are not printed" in captions
        else:
            assert scores[f"rmse{suffix}"] == pytest.approx(float(np.sqrt(np.mean((values - truth) ** 2))))
            assert f"Predictions of {dataset['target']!r} are" in " ".join(Page(html).texts("insights"))
            assert escape(repr(dataset["target"])) in html and "<t>" not in html


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
    page.add_class_table(evil, [report.ClassRow(evil, 3, 2, 0.5, None)], evil)
    page.fail(evil, file=evil, fix=evil, next_step=evil)
    html = page.path.read_text(encoding="utf-8")
    assert "<script>" not in html
    assert html.count("&lt;script&gt;") >= 23

