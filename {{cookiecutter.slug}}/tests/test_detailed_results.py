"""detailed_results.html: live from the first second, self-contained, escaped, small."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bundle import load_program_module
from conftest import KIT, ROOT

PNG = b"\x89PNG\r\n\x1a\n"
MAX_BYTES = 300_000


class Page(HTMLParser):
    """What a browser would fetch or run: tags, their URLs, and the visible text."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[tuple[str, str]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href"):
                self.urls.append((tag, value or ""))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def final_page(run_submission, settings) -> str:
    submission = "sample_result_submission" if settings["submission_mode"] == "result" else "sample_code_submission"
    (run,) = run_submission("Development", KIT / submission)
    return run.detailed_results.read_text(encoding="utf-8")


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


def test_page_stays_under_its_size_budget(final_page):
    assert len(final_page.encode("utf-8")) < MAX_BYTES


def test_page_is_written_at_start_and_rewritten_after_every_stage(tmp_path, monkeypatch, constant_predictions):
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
    assert "Scoring in progress" in " ".join(first.text) and "Scores" not in first.text
    for html in versions:
        assert html.rstrip().endswith("</html>")
        Page(html)  # parses
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
    page.show_summary(report.ScoreRow(evil, 0.5, 2, evil, evil))
    page.add_figure(evil, report.Figure(evil, evil, base64.b64encode(PNG).decode()))
    page.fail(evil)
    html = page.path.read_text(encoding="utf-8")
    assert "<script>" not in html
    assert html.count("&lt;script&gt;") >= 10

