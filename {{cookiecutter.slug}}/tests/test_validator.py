"""This competition passes the validator: the folder and the built zip without a finding.

The validator itself (a corpus of broken bundles, one rule each, and its run of a solution) is
the same in every bundle, so the template that generated this one tests it, once. That this
competition's solution writes the scores.json its leaderboard shows is in test_pipeline.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT
from validate_bundle import validate


def test_this_bundle_validates_without_a_single_finding():
    assert [str(f) for f in validate(ROOT)] == []


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory) -> Path:
    from make_bundle import write_bundle

    return write_bundle(ROOT, tmp_path_factory.mktemp("dist") / "bundle.zip")


def test_the_built_zip_validates_without_a_finding(built_zip):
    assert [str(f) for f in validate(built_zip)] == []
