"""The default bundle works as a new organizer would use it: make test, make run, make bundle."""

from __future__ import annotations

import re
import shutil
import zipfile

import pytest

from conftest import PYTHON, run

pytestmark = pytest.mark.slow


def test_make_test_all_run_and_bundle_work_as_a_new_organizer_runs_them(default_bundle):
    """One walk, in the order the README gives (one test, so that parallel workers never run it twice):
    `make test-all` (the slow tests included; it writes the data the other targets use), `make run`, `make bundle`."""
    done = run(["make", "test-all", f"PYTHON={PYTHON}"], cwd=default_bundle)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert " passed" in done.stdout and " failed" not in done.stdout

    done = run(["make", "run", f"PYTHON={PYTHON}"], cwd=default_bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Development task: Finished" in done.stdout
    assert "ROC AUC" in done.stdout and "detailed results:" in done.stdout

    done = run(["make", "bundle", f"PYTHON={PYTHON}"], cwd=default_bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(default_bundle / "dist" / "bundle.zip") as archive:
        names = archive.namelist()
    assert "competition.yaml" in names
    assert not any(n.startswith(("tools/", "tests/", "runs/", "dist/")) or "__pycache__" in n for n in names)
    for name in ("sample_code_submission", "sample_result_submission", "failing_submission"):
        with zipfile.ZipFile(default_bundle / "dist" / "submissions" / f"{name}.zip") as archive:
            assert all("/" not in n for n in archive.namelist())


def test_make_without_a_target_lists_the_commands(default_bundle):
    done = run(["make"], cwd=default_bundle)
    assert done.returncode == 0
    for target in ("data", "run", "test", "validate", "bundle"):
        assert f"make {target}" in done.stdout


def test_make_validate_rejects_an_unquoted_datetime(default_bundle, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(default_bundle, broken, ignore=shutil.ignore_patterns("runs", "dist", ".venv"))
    yaml_path = broken / "competition.yaml"
    text = yaml_path.read_text()
    day = re.search(r"start: '(\d{4}-\d\d-\d\d) 00:00:00'", text).group(1)
    yaml_path.write_text(text.replace(f"start: '{day} 00:00:00'", f"start: {day} 12:30:00", 1))
    done = run(["make", "validate", f"PYTHON={PYTHON}"], cwd=broken)
    assert done.returncode != 0
    assert "CB040" in done.stdout and f"Codabench keeps only the day and stores {day} 00:00 UTC" in done.stdout
