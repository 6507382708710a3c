"""Shared fixtures: the bundle's tools on sys.path, data prepared once, each pipeline run once.

Runs go to pytest's temporary folders, never into the bundle's runs/ folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import prepare_data  # noqa: E402
from bundle import find_phase, leaderboard_columns, load_competition, load_program_module  # noqa: E402
from executors import LocalExecutor  # noqa: E402
from run_local import run_phase  # noqa: E402

KIT = ROOT / "starting_kit"


@pytest.fixture(scope="session")
def competition() -> dict:
    return load_competition(ROOT)


@pytest.fixture(scope="session")
def columns(competition) -> list[dict]:
    return leaderboard_columns(competition)


@pytest.fixture(scope="session")
def metrics():
    return load_program_module(ROOT / "scoring_program", "metrics")


@pytest.fixture(scope="session", autouse=True)
def data() -> Path:
    """The phases' data; written once if `make data` has not run yet."""
    if not (ROOT / "data" / "manifest.json").is_file():
        prepare_data.prepare(ROOT)
        prepare_data.write_sample_result(ROOT, ROOT / "data")
    return ROOT / "data"


@pytest.fixture(scope="session")
def run_submission(tmp_path_factory, competition, columns):
    """run_submission(phase_name, submission_path) -> the phase's task runs, cached per pair."""
    cache = {}

    def _run(phase_name: str, submission: Path):
        key = (phase_name, str(submission))
        if key not in cache:
            workspace = tmp_path_factory.mktemp(f"{phase_name}-{submission.name}")
            phase = find_phase(competition, phase_name, ROOT)
            cache[key] = run_phase(phase, submission, workspace, LocalExecutor(workspace, echo=None), columns)
        return cache[key]

    return _run


@pytest.fixture(scope="session")
def phase_names(competition) -> list[str]:
    return [phase["name"] for phase in competition["phases"]]
