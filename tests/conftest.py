"""Bake helpers shared by the template tests.

Bakes go through cookiecutter's own API with a throw-away user config, so no test reads or
writes ~/.cookiecutter_replay. Each configuration is baked once per session.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parent.parent
DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def user_config(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(f"cookiecutters_dir: {home / 'cookiecutters'}\nreplay_dir: {home / 'replay'}\n")
    return config


@pytest.fixture(scope="session")
def bake(tmp_path_factory, user_config):
    """bake(**answers) -> path of the generated bundle (answers go in as with --no-input key=value)."""

    def _bake(**answers: str) -> Path:
        # Phases a month from now unless a test names its dates: the validator warns about a phase that has
        # ended (CB057), and the template's own default date will be in the past one day.
        answers.setdefault("start_date", (date.today() + timedelta(days=30)).isoformat())
        out = tmp_path_factory.mktemp("bake")
        project = cookiecutter(
            str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(out), config_file=str(user_config)
        )
        return Path(project)

    return _bake


@pytest.fixture(scope="session")
def default_bundle(bake) -> Path:
    return bake()


def run(command: list[str], cwd: Path, timeout: int = 900, **kwargs) -> subprocess.CompletedProcess:
    """Run a command in a baked bundle; on failure the assertion shows its output."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kwargs)


PYTHON = sys.executable

# Every file of a bake whose submission mode runs code.
CODE_MODE_FILES = {
    ".gitignore",
    ".github/workflows/codabench.yml",
    "Makefile",
    "docs/compute-workers.md",
    "README.md",
    "competition.yaml",
    "data.yaml",
    "logo.png",
    "pytest.ini",
    "requirements.txt",
    "pages/data.md",
    "pages/evaluation.md",
    "pages/overview.md",
    "pages/terms.md",
    "ingestion_program/ingestion.py",
    "ingestion_program/metadata.yaml",
    "scoring_program/settings.json",
    "scoring_program/detailed_results_template.html",
    "scoring_program/errors.py",
    "scoring_program/figures.py",
    "scoring_program/insights.py",
    "scoring_program/standing.py",
    "scoring_program/metadata.yaml",
    "scoring_program/metrics.py",
    "scoring_program/predictions.py",
    "scoring_program/report.py",
    "scoring_program/scoring.py",
    "starting_kit/README.md",
    "starting_kit/requirements.txt",
    "starting_kit/starting_kit.ipynb",
    "starting_kit/failing_submission/expected_error.txt",
    "starting_kit/failing_submission/model.py",
    "starting_kit/sample_code_submission/model.py",
    "tools/benchmark.py",
    "tools/broker.py",
    "tools/bundle.py",
    "tools/bundle_source.py",
    "tools/codabench_client.py",
    "tools/codalab_v15.py",
    "tools/credentials.py",
    "tools/competition.schema.json",
    "tools/data_report.py",
    "tools/declaration.py",
    "tools/executors.py",
    "tools/file_rules.py",
    "tools/findings.py",
    "tools/images.py",
    "tools/import_rules.py",
    "tools/leaderboard.py",
    "tools/live_record.py",
    "tools/make_bundle.py",
    "tools/migrate.py",
    "tools/migrated_tests.py",
    "tools/old_apis.py",
    "tools/page_rules.py",
    "tools/prepare_data.py",
    "tools/program_rules.py",
    "tools/run_local.py",
    "tools/run_rules.py",
    "tools/schema_check.py",
    "tools/split_table.py",
    "tools/splits.py",
    "tools/submit.py",
    "tools/sync.py",
    "tools/tables.py",
    "tools/upload.py",
    "tools/validate_bundle.py",
    "tools/worker.py",
    "tools/worker_check.py",
    "tools/worker_rules.py",
    "tools/worker_setup.py",
    "tools/worker_trial.py",
    "tools/yaml_rules.py",
    "tools/zips.py",
    "tests/conftest.py",
    "tests/page.py",
    "tests/test_bundle_zip.py",
    "tests/test_competition_yaml.py",
    "tests/test_data.py",
    "tests/test_detailed_results.py",
    "tests/test_hostile_inputs.py",
    "tests/test_metrics_agreement.py",
    "tests/test_participant_errors.py",
    "tests/test_prediction_files.py",
    "tests/test_pipeline.py",
    "tests/test_starting_kit.py",
    "tests/test_validator.py",
    "tests/test_where_it_stands.py",
}

# Result-only bundles run no code; their failing submission (and its expected error) is written by `make data`.
RESULT_MODE_REMOVED = {"ingestion_program/ingestion.py", "ingestion_program/metadata.yaml", "starting_kit/failing_submission/model.py",
                       "starting_kit/failing_submission/expected_error.txt"}


def expected_files(submission_mode: str) -> set[str]:
    """The exact files of a fresh bake (data and runs come later, from make)."""
    return CODE_MODE_FILES - RESULT_MODE_REMOVED if submission_mode == "result" else set(CODE_MODE_FILES)


# -- one bake with its data, and its tools imported ------------------------------------------
@pytest.fixture(scope="session")
def bundle(default_bundle, tmp_path_factory) -> Path:
    """The default bake after `make data`, in a copy: default_bundle stays as baked for the other tests."""
    root = tmp_path_factory.mktemp("bundle-tools") / default_bundle.name
    shutil.copytree(default_bundle, root, ignore=shutil.ignore_patterns(".venv", "runs", "dist", "__pycache__", ".pytest_cache"))
    if not (root / "data" / "manifest.json").is_file():
        done = run([PYTHON, "tools/prepare_data.py"], cwd=root)
        assert done.returncode == 0, done.stdout + done.stderr
    return root


TESTED = ("bundle", "executors", "file_rules", "findings", "images", "make_bundle", "run_local", "schema_check", "validate_bundle",
          "worker", "zips")


@pytest.fixture(scope="module")
def tools(bundle) -> SimpleNamespace:
    """The tested modules of the bake's tools/, by name (tools.validate_bundle, tools.worker, ...)."""
    folder = bundle / "tools"
    names = {path.stem for path in folder.glob("*.py")}  # also those the tested ones import later (sync, run_rules, ...)
    saved = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    sys.path.insert(0, str(folder))
    try:
        yield SimpleNamespace(**{name: importlib.import_module(name) for name in TESTED})
    finally:
        sys.path.remove(str(folder))
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


# -- Codabench's own site and compute worker (tests/codabench_site.py) -------------------------
@pytest.fixture(scope="session")
def codabench_site(tmp_path_factory):
    """Codabench's site, its Celery worker and one compute worker on this machine, started on first use
    (about 11 s; 19 s the first time on a machine, which migrates the cached template database) and stopped
    at session end.
    Skipped when something is missing (failed under CI): see codabench_site.require_site."""
    from codabench_site import CodabenchSite, require_site

    require_site()
    with CodabenchSite(tmp_path_factory.mktemp("codabench-site")) as site:
        yield site
