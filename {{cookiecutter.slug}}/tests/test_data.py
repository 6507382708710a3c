"""The data follow data.yaml: reproducible, as listed in the manifest, split as declared, nothing leaks.

Every count, column and label here comes from data.yaml (the declaration) or from what
`make data` wrote next to the data; none is typed in.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

import declaration as declaration_module
import prepare_data
from bundle import load_program_module
from conftest import ROOT, SETTINGS
from declaration import SPLITS

PHASE_TEST = {"dev": "dev_test", "final": "final_test"}


def read(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def files_of(phase: str, dataset: dict) -> dict[str, pd.DataFrame]:
    base = ROOT / "data" / phase
    found = {}
    for kind in ("input_data", "public_data"):
        for name in ("train.csv", "test.csv"):
            path = base / kind / dataset["folder"] / name
            if path.exists():
                found[f"{kind}/{name}"] = read(path)
    found["reference"] = read(base / "reference_data" / dataset["folder"] / "test_labels.csv")
    return found


def test_data_matches_its_manifest_and_declaration():
    assert prepare_data.check(ROOT) == []


def copy_for_prepare(target) -> None:
    """What prepare_data reads (and writes beside data/) in a fresh folder, the table too if it is a file in the bundle."""
    for name in ("scoring_program", "starting_kit", "pages", "data.yaml", "competition.yaml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("sample_result_submission", "__pycache__"))
        else:
            shutil.copy(source, target / name)
    for dataset in declaration_module.load(ROOT, SETTINGS).datasets:
        if not dataset.source.startswith(("sklearn:", "synthetic", "/")):
            (target / dataset.source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / dataset.source, target / dataset.source)


def test_the_same_declaration_gives_the_same_bytes(tmp_path):
    manifests = []
    for name in ("a", "b"):
        copy = tmp_path / name
        copy.mkdir()
        copy_for_prepare(copy)
        manifests.append(prepare_data.prepare(copy))
    assert manifests[0] == manifests[1]
    assert manifests[0]["files"] == json.loads((ROOT / "data" / "manifest.json").read_text())["files"]


def test_reference_data_does_not_leak(tmp_path):
    prepare_data.check_no_leak(ROOT / "data")
    copy = tmp_path / "data"
    shutil.copytree(ROOT / "data", copy)
    labels = next((copy / "dev" / "reference_data").rglob("test_labels.csv"))
    shutil.copy(labels, copy / "dev" / "public_data" / "labels.csv")
    with pytest.raises(prepare_data.LeakError, match="identical"):
        prepare_data.check_no_leak(copy)


def test_every_phase_describes_its_data_as_data_yaml_declares_it(declaration):
    for phase in ("dev", "final"):
        info = json.loads((ROOT / "data" / phase / "reference_data" / "dataset.json").read_text(encoding="utf-8"))
        assert info["task_type"] == declaration.task_type
        assert [d["name"] for d in info["datasets"]] == [d.name for d in declaration.datasets]
        for entry, declared in zip(info["datasets"], declaration.datasets):
            assert entry["target"] == declared.target and entry["classes"] == declared.classes
            assert [(f["name"], f["kind"]) for f in entry["features"]] == list(declared.features.items())
            if declared.id:
                assert entry["id"] == declared.id
        for kind in ("input_data", "public_data"):
            path = ROOT / "data" / phase / kind / "task.json"
            if path.exists():
                assert json.loads(path.read_text(encoding="utf-8")) == {k: v for k, v in info.items() if k != "phase"}


@pytest.mark.parametrize("phase", ["dev", "final"])
def test_files_have_the_declared_columns_and_the_test_ids_match_the_reference(phase, task):
    for dataset in task["datasets"]:
        features = [f["name"] for f in dataset["features"]]
        files = files_of(phase, dataset)
        for name, frame in files.items():
            if name.endswith("train.csv"):
                assert list(frame.columns) == [dataset["id"], *features, dataset["target"]]
            elif name.endswith("test.csv"):
                assert list(frame.columns) == [dataset["id"], *features]
                assert frame[dataset["id"]].tolist() == files["reference"][dataset["id"]].tolist()
        assert list(files["reference"].columns) == [dataset["id"], dataset["target"]]


@pytest.mark.parametrize("phase", ["dev", "final"])
def test_rows_per_split_are_as_declared_and_as_dataset_json_says(phase, declaration):
    info = json.loads((ROOT / "data" / phase / "reference_data" / "dataset.json").read_text(encoding="utf-8"))
    summary = json.loads((ROOT / "data" / "summary.json").read_text(encoding="utf-8"))
    for entry, stats in zip(info["datasets"], summary["datasets"]):
        files = files_of(phase, entry)
        assert len(files["reference"]) == entry["rows"]["test"] == stats["rows"][PHASE_TEST[phase]]
        train = files.get("public_data/train.csv")
        assert len(train) == entry["rows"]["train"] == stats["rows"]["train"]
        if declaration.split_in_rows:
            assert stats["rows"] == {name: declaration.split[name] for name in SPLITS}
        else:
            total = sum(stats["rows"].values()) / sum(declaration.split.values())
            # Rows kept together (a GROUP, or identical features) are dealt out a whole set at a time, so a split
            # may miss its share by part of a set: up to 1 % of the rows; otherwise by rounding, per class.
            whole_sets = bool(stats["group"] or stats["report"].get("kept_together"))
            slack = max(1 + len(entry["classes"]), 0.01 * sum(stats["rows"].values()) if whole_sets else 0)
            for name in SPLITS:
                assert abs(stats["rows"][name] - declaration.split[name] * total) <= slack, (name, stats["rows"])


def test_labels_are_the_declared_classes_in_every_split(declaration, task):
    from metrics import label_text

    for entry, declared in zip(task["datasets"], declaration.datasets):
        if not declared.classes:
            continue
        texts = {label_text(c) for c in declared.classes}
        train = read(ROOT / "data" / "dev" / "public_data" / entry["folder"] / "train.csv")[entry["target"]]
        for phase in ("dev", "final"):
            labels = files_of(phase, entry)["reference"][entry["target"]]
            assert set(labels) == texts == set(train)  # every class in every split: stratified
            if declaration.stratify:
                share = labels.value_counts(normalize=True) - train.value_counts(normalize=True)
                assert share.abs().max() < 0.05 + 2 / len(labels)


def test_phases_are_scored_on_different_rows(task):
    for dataset in task["datasets"]:
        dev = set(files_of("dev", dataset)["reference"][dataset["id"]])
        final = set(files_of("final", dataset)["reference"][dataset["id"]])
        train = set(read(ROOT / "data" / "dev" / "public_data" / dataset["folder"] / "train.csv")[dataset["id"]])
        assert not dev & final and not (dev | final) & train


@pytest.mark.skipif(not (ROOT / "ingestion_program").exists(), reason="no ingestion program (results only)")
def test_the_model_gets_the_frames_prepare_data_meant(task):
    """What ingestion reads from the files is what prepare_data had in memory (types, categories, missing values)."""
    ingestion = load_program_module(ROOT / "ingestion_program", "ingestion")
    for entry in task["datasets"]:
        folder = ROOT / "data" / "dev" / "input_data" / entry["folder"]
        frame = pd.read_csv(folder / "train.csv", dtype=str, keep_default_na=False, na_values=[""])
        expected_X, expected_y = prepare_data.model_inputs(ingestion_typed(frame, entry), entry)
        read = ingestion.read_table(folder / "train.csv", entry, with_target=True)
        X, y = read[[f["name"] for f in entry["features"]]], read[entry["target"]]
        pd.testing.assert_frame_equal(X, expected_X, check_dtype=True)
        assert y.tolist() == expected_y.tolist()


def ingestion_typed(frame: pd.DataFrame, entry: dict) -> pd.DataFrame:
    """The file's text read back into the file form prepare_data writes: numbers as floats, the rest as text."""
    if not entry["classes"]:
        frame[entry["target"]] = frame[entry["target"]].astype("float64")
    for feature in entry["features"]:
        if feature["kind"] == "numeric":
            frame[feature["name"]] = frame[feature["name"]].astype("float64")
        else:
            frame[feature["name"]] = frame[feature["name"]].astype(object)
    return frame
