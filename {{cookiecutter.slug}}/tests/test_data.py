"""Seeded data: reproducible, as listed in the manifest, and no answer leaks to participants."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

import prepare_data
from conftest import ROOT


def read_ids(path) -> list[str]:
    with path.open(newline="") as f:
        return [row[0] for row in list(csv.reader(f))[1:]]


def test_data_matches_its_manifest():
    assert prepare_data.check(ROOT) == []


def test_same_seed_gives_the_same_bytes(tmp_path):
    manifests = []
    for name in ("a", "b"):
        copy = tmp_path / name
        shutil.copytree(ROOT / "starting_kit" / "sample_code_submission", copy / "starting_kit" / "sample_code_submission")
        shutil.copytree(ROOT / "scoring_program", copy / "scoring_program")
        manifests.append(prepare_data.prepare(copy))
    assert manifests[0] == manifests[1]
    assert manifests[0]["files"] == json.loads((ROOT / "data" / "manifest.json").read_text())["files"]


def test_reference_data_does_not_leak(tmp_path):
    prepare_data.check_no_leak(ROOT / "data")
    copy = tmp_path / "data"
    shutil.copytree(ROOT / "data", copy)
    (labels,) = list((copy / "dev" / "reference_data").rglob("test_labels.csv"))[:1]
    shutil.copy(labels, copy / "dev" / "public_data" / "labels.csv")
    with pytest.raises(prepare_data.LeakError, match="identical"):
        prepare_data.check_no_leak(copy)


@pytest.mark.parametrize("phase", ["dev", "final"])
def test_test_features_have_no_target_and_match_the_reference_ids(phase, task):
    for dataset in task["datasets"]:
        shown = [ROOT / "data" / phase / kind / dataset["folder"] / "test.csv" for kind in ("input_data", "public_data")]
        shown = [path for path in shown if path.exists()]
        assert shown, f"no test.csv for {phase}/{dataset['name']}"
        for test_csv in shown:
            assert "target" not in test_csv.read_text().splitlines()[0].split(",")
            assert read_ids(test_csv) == read_ids(ROOT / "data" / phase / "reference_data" / dataset["folder"] / "test_labels.csv")


def test_phases_are_scored_on_different_rows(task):
    folder = task["datasets"][0]["folder"]
    dev = set(read_ids(ROOT / "data" / "dev" / "reference_data" / folder / "test_labels.csv"))
    final = set(read_ids(ROOT / "data" / "final" / "reference_data" / folder / "test_labels.csv"))
    train = set(read_ids(ROOT / "data" / "dev" / "public_data" / folder / "train.csv"))
    assert not dev & final and not (dev | final) & train
