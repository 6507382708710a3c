"""The default bundle works as a new organizer would use it: make test, make run, make bundle."""

from __future__ import annotations

import zipfile

import pytest

from conftest import PYTHON, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def made(default_bundle):
    """`make test-all` first (the slow tests included): it writes the data the other targets use."""
    done = run(["make", "test-all", f"PYTHON={PYTHON}"], cwd=default_bundle)
    return default_bundle, done


def test_make_test_all_runs_the_generated_suite_and_it_passes(made):
    _, done = made
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert " passed" in done.stdout and " failed" not in done.stdout


def test_make_run_prints_the_baseline_scores(made):
    bundle, _ = made
    done = run(["make", "run", f"PYTHON={PYTHON}"], cwd=bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Development task: Finished" in done.stdout
    assert "ROC AUC" in done.stdout and "detailed results:" in done.stdout


def test_make_bundle_writes_a_zip_with_competition_yaml_at_the_root(made):
    bundle, _ = made
    done = run(["make", "bundle", f"PYTHON={PYTHON}"], cwd=bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(bundle / "dist" / "bundle.zip") as archive:
        names = archive.namelist()
    assert "competition.yaml" in names
    assert not any(n.startswith(("tools/", "tests/", "runs/", "dist/")) or "__pycache__" in n for n in names)
    for name in ("sample_code_submission", "sample_result_submission", "failing_submission"):
        with zipfile.ZipFile(bundle / "dist" / "submissions" / f"{name}.zip") as archive:
            assert all("/" not in n for n in archive.namelist())


def test_make_without_a_target_lists_the_commands(default_bundle):
    done = run(["make"], cwd=default_bundle)
    assert done.returncode == 0
    for target in ("data", "run", "test", "validate", "bundle"):
        assert f"make {target}" in done.stdout


def test_make_validate_rejects_an_unquoted_datetime(made, tmp_path):
    bundle, _ = made
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(bundle, broken, ignore=shutil.ignore_patterns("runs", "dist", ".venv"))
    yaml_path = broken / "competition.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("start: '2027-01-04 00:00:00'", "start: 2027-01-04 12:30:00"))
    done = run(["make", "validate", f"PYTHON={PYTHON}"], cwd=broken)
    assert done.returncode != 0
    assert "CB040" in done.stdout and "Codabench keeps only the day and stores 2027-01-04 00:00 UTC" in done.stdout
