"""The detailed results page in a real browser, the way Codabench shows it.

Codabench shows `detailed_results.html` in an iframe from a signed storage URL, so nothing the
page refers to besides itself can load there. Headless Chromium (Debian's `chromium`, driven by
Playwright) opens the final page of a default and of a regression bake and two error pages, with
every network request refused and JavaScript off. It records failed requests and console
errors, checks that every image decoded and that nothing overflows a 600 px iframe, and saves
screenshots at 600 and 1400 px under pytest's temporary folder. `SCREENSHOT_DIR=docs` also
writes the default bake's final page there, as the README shows it.

Without Chromium or Playwright the tests skip, except in CI (`CI` set), where they fail.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import PYTHON, run

pytestmark = pytest.mark.slow

WIDTHS = (600, 1400)  # the narrowest and widest iframe Codabench gives the page
SCRIPT_ID = "<script>alert(1)</script>"  # a participant's id that must stay text
SCRIPT_FILE = "<script>alert(1).csv"  # a participant's file name that must stay text (no / allowed)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def unavailable(reason: str) -> None:
    """Skip where the browser is missing, but never in CI: there a skipped browser test hides a regression."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser tests (.ci/run installs Debian's chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        unavailable("no chromium on PATH (apt-get install chromium)")
    with sync_playwright() as playwright:  # each launch gets a fresh, temporary profile
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@dataclass
class Visit:
    """What the browser did while showing one page at one width."""

    failed_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    images: list[tuple[str, int]] = field(default_factory=list)  # (alt, natural width)
    overflow: int = 0  # pixels the page is wider than the viewport
    scripts: int = 0
    text: str = ""


def visit(browser, page_file: Path, width: int, screenshot: Path) -> Visit:
    """Open the page offline with JavaScript off, as a sandboxed iframe would, and record what went wrong."""
    seen = Visit()
    context = browser.new_context(java_script_enabled=False, offline=True, viewport={"width": width, "height": 900})

    def only_the_page_itself(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            seen.failed_requests.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_page_itself)
    page = context.new_page()
    page.on("requestfailed", lambda request: seen.failed_requests.append(request.url))
    page.on("console", lambda message: message.type == "error" and seen.console_errors.append(message.text))
    page.on("pageerror", lambda error: seen.console_errors.append(str(error)))
    page.goto(page_file.as_uri(), wait_until="load")
    seen.images = [tuple(pair) for pair in page.evaluate("[...document.images].map(i => [i.alt, i.naturalWidth])")]
    seen.overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    seen.scripts = page.evaluate("document.scripts.length")
    seen.text = page.evaluate("document.body.innerText")
    page.screenshot(path=str(screenshot), full_page=True)
    context.close()
    return seen


def prepared(bake, **answers: str) -> Path:
    """A baked bundle with its data written, as after `make data`."""
    bundle = bake(**answers)
    done = run([PYTHON, "tools/prepare_data.py"], cwd=bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    return bundle


def scored_page(bundle: Path, submission: Path, runs: Path) -> Path:
    """Run a submission through the Development phase like the worker; return its detailed results page."""
    run([PYTHON, "tools/run_local.py", "--quiet", "--submission", str(submission), "--runs", str(runs)], cwd=bundle)
    (page,) = runs.glob("*/task0/scoring/output/detailed_results.html")
    return page


def script_id_submission(bundle: Path, folder: Path) -> Path:
    """The sample result submission with a `<script>` id in place of the first test id."""
    shutil.copytree(bundle / "starting_kit" / "sample_result_submission", folder)
    predictions = folder / "predictions.csv"
    header, first, *rest = predictions.read_text().splitlines()
    predictions.write_text("\n".join([header, SCRIPT_ID + "," + first.split(",", 1)[1], *rest]) + "\n")
    return folder


def script_file_submission(folder: Path) -> Path:
    """A submission holding only a file whose name is `<script>...`, so the error lists it."""
    folder.mkdir()
    (folder / SCRIPT_FILE).write_text("id,probability\n")
    return folder


@pytest.fixture(scope="module")
def pages(bake, tmp_path_factory) -> dict[str, Path]:
    """The pages a participant would see, by case name."""
    work = tmp_path_factory.mktemp("pages")
    default = prepared(bake)
    regression = prepared(bake, task_type="regression", datasets_per_phase="3")
    return {
        "default-final": scored_page(default, default / "starting_kit" / "sample_code_submission", work / "default"),
        "regression-final": scored_page(regression, regression / "starting_kit" / "sample_code_submission", work / "regression"),
        "error-script-id": scored_page(default, script_id_submission(default, work / "script-id"), work / "runs-id"),
        "error-script-file": scored_page(default, script_file_submission(work / "script-file"), work / "runs-file"),
    }


CASES = ["default-final", "regression-final", "error-script-id", "error-script-file"]


@pytest.fixture(scope="module")
def visits(browser, pages, screenshots) -> dict[tuple[str, int], Visit]:
    found = {(case, width): visit(browser, pages[case], width, screenshots / f"{case}-{width}.png")
             for case in CASES for width in WIDTHS}
    if os.environ.get("SCREENSHOT_DIR"):
        for width in WIDTHS:
            shutil.copyfile(screenshots / f"default-final-{width}.png", Path(os.environ["SCREENSHOT_DIR"]) / f"detailed-results-{width}.png")
    return found


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("case", CASES)
def test_page_loads_offline_without_a_failed_request_or_console_error(visits, case, width):
    seen = visits[case, width]
    assert seen.failed_requests == []
    assert seen.console_errors == []
    assert seen.scripts == 0


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("case", ["default-final", "regression-final"])
def test_every_figure_decodes_in_the_browser(visits, case, width):
    images = visits[case, width].images
    assert len(images) >= 2
    assert [alt for alt, natural_width in images if natural_width == 0] == []


@pytest.mark.parametrize("case", CASES)
def test_nothing_overflows_a_600_px_iframe(visits, case):
    assert visits[case, 600].overflow == 0


def test_final_page_reads_as_a_result(visits):
    text = visits["default-final", 1400].text
    for words in ("Scoring finished.", "Summary", "ROC AUC", "Predictions scored", "Scoring", "ROC curve"):
        assert words in text


@pytest.mark.parametrize("case,shown,failed", [("error-script-id", SCRIPT_ID, "Scoring failed"),
                                               ("error-script-file", SCRIPT_FILE, "The prediction step failed")])
def test_error_page_shows_participant_script_as_text(visits, case, shown, failed):
    text = visits[case, 1400].text
    assert f"{failed}: this submission gets no score" in text and "What went wrong" in text
    assert shown in text


def test_screenshots_are_saved_for_every_page_and_width(visits, screenshots):
    assert sorted(p.name for p in screenshots.glob("*.png")) == sorted(f"{c}-{w}.png" for c in CASES for w in WIDTHS)


def test_the_browser_check_catches_an_external_image_and_a_broken_one(browser, pages, tmp_path):
    """The checks above can fail: a page with a remote image and an undecodable one is caught."""
    broken = tmp_path / "broken.html"
    html = pages["default-final"].read_text(encoding="utf-8")
    broken.write_text(html.replace("</main>", '<img alt="remote" src="https://example.com/x.png">'
                                              '<img alt="garbage" src="data:image/png;base64,AAAA"></main>'))
    seen = visit(browser, broken, 600, tmp_path / "broken.png")
    assert any("example.com" in url for url in seen.failed_requests)
    assert {alt for alt, width in seen.images if width == 0} == {"remote", "garbage"}
