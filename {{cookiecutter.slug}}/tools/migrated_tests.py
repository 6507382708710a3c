"""This competition's checks (written by `make migrate` as tests/test_competition.py; `make test` runs them).

The bundle passes Codabench's rules, and every solution (the sample submissions) is scored on every phase,
through the programs as Codabench's compute worker runs them, with a finite number in each leaderboard column.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from bundle import leaderboard_columns, load_competition, phases
from executors import make_executor
from run_local import run_phase
from validate_bundle import validate

COMPETITION = load_competition(ROOT)
PHASES = phases(COMPETITION, ROOT)
SOLUTIONS = [solution["path"] for solution in COMPETITION.get("solutions") or []]


def test_the_bundle_meets_codabench_rules():
    findings = validate(ROOT)
    assert not findings.errors, "\n".join(str(finding) for finding in findings.errors)


def test_there_is_a_sample_submission_to_run():
    assert SOLUTIONS, "no solutions in competition.yaml: add a sample submission (make migrate SAMPLES=...)"


@pytest.mark.parametrize("phase", PHASES, ids=[phase.name for phase in PHASES])
@pytest.mark.parametrize("solution", SOLUTIONS)
def test_each_solution_is_scored_on_each_phase(solution, phase, tmp_path):
    columns = leaderboard_columns(COMPETITION)
    executor = make_executor("local", tmp_path, COMPETITION.get("docker_image"), python=sys.executable, echo=None)
    runs = run_phase(phase, ROOT / solution, tmp_path, executor, columns)
    for run in runs:
        assert run.status == "Finished", f"{solution} on {phase.name}: {run.message}\n{run.scoring_stderr[-2000:]}"
        for column in columns:
            if not column.get("computation"):
                assert math.isfinite(float(run.scores[column["key"]])), (column["key"], run.scores)
