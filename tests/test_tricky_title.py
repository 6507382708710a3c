"""A title full of quotes, backslashes, braces, HTML and non-ASCII survives the bake exactly.

Answers typed at the prompt are not rendered as templates (only --no-input key=value and
extra_context are), so this bakes interactively, feeding the answers on standard input. Template
markup itself (two braces, a brace and % or #) is refused by the hook: `cruft update` would render it.
"""

from __future__ import annotations

import json
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from conftest import PYTHON, TEMPLATE, run

TITLE = 'Défi "quoted" \\ { braces } 100% #1 <script>alert(1)</script> $5 & co'


class TextCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def tricky_bundle(tmp_path_factory, user_config) -> Path:
    out = tmp_path_factory.mktemp("tricky")
    answers = TITLE + "\n" + "\n" * 8  # the title, then Enter for the 8 other questions
    done = run([sys.executable, "-m", "cookiecutter", str(TEMPLATE), "-o", str(out), "--config-file", str(user_config)],
               cwd=out, input=answers)
    assert done.returncode == 0, done.stdout + done.stderr
    (bundle,) = [p for p in out.iterdir() if p.is_dir()]
    return bundle


def test_title_round_trips_exactly_through_competition_yaml(tricky_bundle):
    competition = yaml.safe_load((tricky_bundle / "competition.yaml").read_text(encoding="utf-8"))
    assert competition["title"] == TITLE


def test_slug_is_derived_and_valid(tricky_bundle):
    assert tricky_bundle.name == "defi_quoted_braces_100_1_script_alert_1"  # slugify, at most 40 characters


def test_scoring_program_reads_the_exact_title(tricky_bundle):
    settings = json.loads((tricky_bundle / "scoring_program" / "settings.json").read_text(encoding="utf-8"))
    assert settings["title"] == TITLE


def test_pages_show_the_title_as_text_not_markup(tricky_bundle):
    overview = (tricky_bundle / "pages" / "overview.md").read_text(encoding="utf-8")
    assert "<script>" not in overview and "&lt;script&gt;" in overview
    assert "\\$5" in overview  # KaTeX would otherwise start math at $


@pytest.mark.slow
def test_detailed_results_page_escapes_the_title(tricky_bundle):
    for command in (["tools/prepare_data.py"], ["tools/run_local.py", "--quiet"]):
        done = run([PYTHON, *command], cwd=tricky_bundle)
        assert done.returncode == 0, done.stdout + done.stderr
    (page,) = (tricky_bundle / "runs").glob("*/task0/scoring/output/detailed_results.html")
    html = page.read_text(encoding="utf-8")
    collector = TextCollector()
    collector.feed(html)
    assert "script" not in collector.tags
    assert TITLE in "".join(collector.text)  # escaped in the markup, exact once parsed
