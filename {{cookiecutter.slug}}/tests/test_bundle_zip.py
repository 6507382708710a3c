"""bundle.zip and the submission zips have the layout Codabench needs."""

from __future__ import annotations

import zipfile

import pytest

from bundle import referenced_paths
from conftest import ROOT
from make_bundle import SUBMISSIONS, write_bundle, write_submissions

NEVER_SHIPPED = ("tools/", "tests/", "runs/", "dist/", ".venv/")
JUNK = ("__pycache__", ".pyc", ".DS_Store", "__MACOSX", ".ipynb_checkpoints")


@pytest.fixture(scope="module")
def names(tmp_path_factory) -> list[str]:
    target = write_bundle(ROOT, tmp_path_factory.mktemp("dist") / "bundle.zip")
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        return archive.namelist()


def test_competition_yaml_is_at_the_zip_root(names):
    assert "competition.yaml" in names


def test_every_referenced_path_is_in_the_zip(names, competition):
    for where, value in referenced_paths(competition).items():
        value = value.rstrip("/")
        assert value in names or any(n.startswith(value + "/") for n in names), where


def test_organizer_tools_and_junk_are_not_shipped(names):
    assert not [n for n in names if n.startswith(NEVER_SHIPPED) or any(j in n for j in JUNK)]


def test_bundle_zip_is_reproducible(tmp_path):
    first = write_bundle(ROOT, tmp_path / "a.zip").read_bytes()
    assert write_bundle(ROOT, tmp_path / "b.zip").read_bytes() == first


def test_submission_zips_have_their_files_at_the_root(tmp_path, task, settings):
    zips = {path.stem: path for path in write_submissions(ROOT, tmp_path)}
    assert set(zips) == set(SUBMISSIONS[settings["submission_mode"]])
    predictions = {f"{d['folder']}/predictions.csv".lstrip("/") for d in task["datasets"]}
    for name, path in zips.items():
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
        code = name != "sample_result_submission" and settings["submission_mode"] != "result"
        assert ({"model.py"} if code else predictions) <= names, name
        assert "expected_error.txt" not in names
