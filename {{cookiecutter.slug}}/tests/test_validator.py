"""This competition passes the validator: the folder and the built zip without a finding, but for
the template's placeholder text (CB130) until you replace it with your own, and phases whose end
has passed (CB057), a matter of the calendar: `make validate` lists both before an upload.

The validator itself (a corpus of broken bundles, one rule each, and its run of a solution) is
the same in every bundle, so the template that generated this one tests it, once. That this
competition's solution writes the scores.json its leaderboard shows is in test_pipeline.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT
from validate_bundle import validate

PLACEHOLDER, ENDED = "CB130", "CB057"  # warnings naming the page and phrase to replace, or the phase that ended


def beyond_placeholders(findings) -> list[str]:
    return [str(f) for f in findings if f.code not in (PLACEHOLDER, ENDED)]


def test_this_bundle_validates_without_a_finding_but_its_placeholder_text():
    assert beyond_placeholders(validate(ROOT)) == []


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory) -> Path:
    from make_bundle import write_bundle

    return write_bundle(ROOT, tmp_path_factory.mktemp("dist") / "bundle.zip")


def test_the_built_zip_validates_without_a_finding_but_its_placeholder_text(built_zip):
    assert beyond_placeholders(validate(built_zip)) == []
