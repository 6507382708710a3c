"""Shared fixtures: the bundle's tools on sys.path, data prepared once, each pipeline run once.

Runs go to pytest's temporary folders, never into the bundle's runs/ folder.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(1, str(ROOT / "scoring_program"))

import declaration as declaration_module  # noqa: E402
import prepare_data  # noqa: E402
from bundle import find_phase, leaderboard_columns, load_competition, load_program_module  # noqa: E402
from executors import EngineError, PullFailed, default_engine, default_network, default_pull, make_executor  # noqa: E402
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


@pytest.fixture(scope="session")
def ingestion():
    """The ingestion program as a module (its main() runs it in this process)."""
    return load_program_module(ROOT / "ingestion_program", "ingestion")


@pytest.fixture(scope="session")
def scoring():
    """The scoring program as a module (its main() runs it in this process)."""
    return load_program_module(ROOT / "scoring_program", "scoring")


SETTINGS = json.loads((ROOT / "scoring_program" / "settings.json").read_text(encoding="utf-8"))
CODE = SETTINGS["submission_mode"] != "result"  # code submissions are run
RESULTS = SETTINGS["submission_mode"] != "code"  # result submissions are accepted
needs_code = pytest.mark.skipif(not CODE, reason="this competition takes result submissions only")
needs_results = pytest.mark.skipif(not RESULTS, reason="this competition takes code submissions only")


@pytest.fixture(scope="session")
def settings() -> dict:
    return SETTINGS


@pytest.fixture(scope="session")
def task(data) -> dict:
    """What prepare_data wrote about the Development data: formats, and per dataset its columns and classes."""
    return json.loads((ROOT / "data" / "dev" / "reference_data" / "dataset.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def declaration(data):
    """data.yaml, the one declaration of the data (make data has completed it)."""
    return declaration_module.load(ROOT, SETTINGS)


def reference_ids(dataset: dict, phase: str = "dev") -> list[str]:
    path = ROOT / "data" / phase / "reference_data" / dataset["folder"] / "test_labels.csv"
    return pd.read_csv(path, dtype=str, keep_default_na=False)[dataset["id"]].tolist()


@pytest.fixture(scope="session")
def constant_predictions(task):
    """write(res_dir) puts a valid, constant prediction file for every dataset in res_dir."""
    from metrics import label_text, prediction_columns

    fmt = task["prediction_format"]

    def value(dataset: dict) -> list[str]:
        classes = dataset["classes"]
        if fmt == "probabilities":
            return [f"{1 / len(classes):.10f}"] * len(classes)
        return [{"probability": "0.5", "label": label_text(classes[0]) if classes else "", "value": "0.0"}[fmt]]

    def write(res: Path) -> None:
        for dataset in task["datasets"]:
            target = res / dataset["folder"] / "predictions.csv"
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f, lineterminator="\n")
                writer.writerow([dataset["id"], *prediction_columns(fmt, dataset["classes"], dataset["target"])])
                writer.writerows([row_id, *value(dataset)] for row_id in reference_ids(dataset))

    return write


@pytest.fixture(scope="session")
def perfect(tmp_path_factory, task, data) -> Path:
    """Development predictions that are the test labels themselves (probability 1 for the true class)."""
    import numpy as np
    from predictions import class_indexes, format_predictions

    res = tmp_path_factory.mktemp("perfect")
    for d in task["datasets"]:
        labels = pd.read_csv(ROOT / "data" / "dev" / "reference_data" / d["folder"] / "test_labels.csv", dtype=str,
                             keep_default_na=False)
        truth = labels[d["target"]].to_numpy()
        if task["prediction_format"] in ("probability", "probabilities"):
            values = np.eye(len(d["classes"]))[class_indexes(truth, d["classes"])]
        else:
            values = truth.astype(float) if task["prediction_format"] == "value" else truth
        text = format_predictions(labels[d["id"]], values, task["prediction_format"], d["classes"], d["target"], d["id"])
        (res / d["folder"]).mkdir(parents=True, exist_ok=True)
        (res / d["folder"] / "predictions.csv").write_text(text, encoding="utf-8")
    return res


@pytest.fixture(scope="session", autouse=True)
def data() -> Path:
    """The phases' data; written once if `make data` has not run yet."""
    if not (ROOT / "data" / "manifest.json").is_file():
        prepare_data.prepare(ROOT)
    return ROOT / "data"


def pytest_report_header(config) -> str:
    engine = default_engine()
    if engine == "local":
        return "programs run with: this machine's Python (ENGINE=docker or podman: in the competition's image)"
    pulled = "the image pulled once for the session" if default_pull() == "always" else "the image here, not pulled"
    return f"programs run with: {engine} in the competition's image, network {default_network()}, {pulled}"


@pytest.fixture(scope="session")
def executor_for(competition, tmp_path_factory):
    """executor_for(workspace): how the steps run; `make test ENGINE=docker` runs them in docker_image.
    The image is pulled once for the session (the worker pulls before each step, and fails alike), not before
    each of the suite's many steps; PULL=never skips it."""
    engine, image = default_engine(), competition.get("docker_image")
    try:
        make_executor(engine, tmp_path_factory.mktemp("pull"), image, echo=None).pull()
    except PullFailed as failed:
        pytest.exit(f"ERROR: {failed}: {failed.cause}", returncode=2)
    except EngineError as exc:  # every run would fail the same way: say it once
        pytest.exit(f"ERROR: {exc}", returncode=2)

    def _make(workspace: Path):
        try:
            return make_executor(engine, workspace, image, echo=None, pull=None if engine == "local" else "never")
        except EngineError as exc:  # every run would fail the same way: say it once
            pytest.exit(f"ERROR: {exc}", returncode=2)

    return _make


@pytest.fixture(scope="session")
def run_submission(tmp_path_factory, competition, columns, executor_for):
    """run_submission(phase_name, submission_path) -> the phase's task runs, cached per pair."""
    cache = {}

    def _run(phase_name: str, submission: Path):
        key = (phase_name, str(submission))
        if key not in cache:
            workspace = tmp_path_factory.mktemp(f"{phase_name}-{submission.name}")
            phase = find_phase(competition, phase_name, ROOT)
            cache[key] = run_phase(phase, submission, workspace, executor_for(workspace), columns)
        return cache[key]

    return _run


@pytest.fixture(scope="session")
def final_run(run_submission, settings):
    """The sample submission (the baseline) run through the Development phase, once."""
    submission = "sample_result_submission" if settings["submission_mode"] == "result" else "sample_code_submission"
    (run,) = run_submission("Development", KIT / submission)
    return run


@pytest.fixture(scope="session")
def final_page(final_run) -> str:
    return final_run.detailed_results.read_text(encoding="utf-8")


@pytest.fixture
def no_figures(monkeypatch):
    """For scoring runs whose figures no test reads: drawing them costs about a second per dataset
    (test_detailed_results draws and checks them)."""
    import figures

    monkeypatch.setattr(figures, "figures_for", lambda *args: ([], []))
