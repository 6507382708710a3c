"""The scoring program on phases no bake has: labels and column names that are markup, commas,
quotes and dollars; 50 classes in each of 5 datasets (the detailed results page's largest case);
and a run slowed down and read from outside while it writes its page, as the worker reads it.

The program is the same in every bake (it follows settings.json and dataset.json), so these run
once here, on the template's sources (copied into a bake without rendering) with the settings
each scenario writes; a bake's own tests check its competition.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import subprocess
import sys
import time
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from conftest import PYTHON, TEMPLATE

BUNDLE = TEMPLATE / "{{cookiecutter.slug}}"
SCORING = BUNDLE / "scoring_program"
sys.path.insert(0, str(SCORING))

import scoring  # noqa: E402
from metrics import THRESHOLD, label_text, prediction_format  # noqa: E402
from predictions import format_predictions  # noqa: E402


def _bundle_test_helper(name: str):
    """A helper module of the bundle's tests (standard library only), loaded under its own name."""
    spec = importlib.util.spec_from_file_location(f"bundle_tests_{name}", BUNDLE / "tests" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


page = _bundle_test_helper("page")
Page, assert_complete_page, class_tables = page.Page, page.assert_complete_page, page.class_tables


ODD_LABELS = ["<b>&", "a, b", 'c$x$ "q"', "no", "<i>yes</i>"]
MAX_DATASETS = 5  # the most a phase may have (the template's datasets_per_phase answer)

ODD = {  # scenario: (task type, primary metric, classes per dataset, datasets)
    "binary": ("binary_classification", "auto", 2, 1),
    "labels": ("multiclass_classification", "auto", 5, 1),
    "fifty_classes_five_datasets": ("multiclass_classification", "log_loss", 50, MAX_DATASETS),  # the page's largest case
    "regression": ("regression", "auto", 0, 1),
}


def odd_phase(tmp_path: Path, task_type: str, primary: str, n_classes: int, n_datasets: int):
    """Reference data, shuffled predictions and settings of a phase with odd names; its datasets
    with their true class indexes (or values) and predictions."""
    names = ["main"] if n_datasets == 1 else [f"ds{k}" for k in range(n_datasets)]
    settings = {"title": "Odd <labels>", "task_type": task_type, "primary_metric": primary,
                "submission_mode": "result", "datasets": names}
    fmt = prediction_format(settings)
    rng = np.random.default_rng(0)
    n = 600
    ids = np.array([f"r{i}, <{i}>" for i in range(n)], dtype=object)
    datasets = []
    for k, name in enumerate(names):
        long_names = [f"a rather long class name {i} of dataset <{k}>" for i in range(len(ODD_LABELS), n_classes)]
        classes = (ODD_LABELS + long_names)[:n_classes]
        dataset = {"name": name, "folder": "" if n_datasets == 1 else name, "id": 'row "id", text',
                   "target": "kind <k>" if classes else "price (k$) <t>", "classes": classes, "features": [],
                   "rows": {"train": 0, "test": n}}
        if classes:
            truth = rng.integers(0, len(classes), n)
            truth[:len(classes)] = np.arange(len(classes))  # every class has rows
            proba = rng.dirichlet(np.ones(len(classes)), n)
            proba[np.arange(n), truth] += 0.5
            proba /= proba.sum(axis=1, keepdims=True)
            target = [label_text(classes[i]) for i in truth]
            values = {"probability": proba[:, 1], "probabilities": proba,
                      "label": np.array(classes, dtype=object)[proba.argmax(axis=1)]}[fmt]
        else:
            truth = rng.normal(100, 20, n)
            values = truth + rng.normal(3, 10, n)
            target = [repr(float(v)) for v in truth]
        (tmp_path / "ref" / dataset["folder"]).mkdir(parents=True, exist_ok=True)
        with (tmp_path / "ref" / dataset["folder"] / "test_labels.csv").open("w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows([[dataset["id"], dataset["target"]], *zip(ids, target)])
        order = rng.permutation(n)
        text = format_predictions(ids[order], values[order], fmt, classes, dataset["target"], dataset["id"])
        if fmt == "probabilities":  # columns in another order than the declared one are matched by name
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
            text = frame[[frame.columns[0], *frame.columns[1:][::-1]]].to_csv(index=False, lineterminator="\n")
        (tmp_path / "res" / dataset["folder"]).mkdir(parents=True, exist_ok=True)
        (tmp_path / "res" / dataset["folder"] / "predictions.csv").write_text(text, encoding="utf-8")
        datasets.append((dataset, truth, values))
    (tmp_path / "ref" / "dataset.json").write_text(json.dumps({
        "phase": "Development", "task_type": task_type, "prediction_format": fmt, "submission_mode": "result",
        "datasets": [d for d, _, _ in datasets]}))
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    return fmt, datasets


@pytest.mark.parametrize("scenario", sorted(ODD))
def test_odd_labels_are_scored_by_name_and_shown_as_text(scenario, tmp_path, monkeypatch):
    """A phase whose labels and column names are markup, commas, quotes and dollars; predictions in
    another row order (and, for probabilities, another column order) than the reference."""
    fmt, datasets = odd_phase(tmp_path, *ODD[scenario])
    monkeypatch.setattr(scoring, "SETTINGS", tmp_path / "settings.json")
    assert scoring.main(["--reference", str(tmp_path / "ref"), "--predictions", str(tmp_path / "res"),
                         "--output", str(tmp_path / "out")]) == 0
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    html = (tmp_path / "out" / "detailed_results.html").read_text(encoding="utf-8")
    assert_complete_page(html)  # among others: under MAX_BYTES
    captions = " ".join(Page(html).texts("how-to-read"))
    tables = class_tables(html)
    assert len(tables) == (len(datasets) if datasets[0][0]["classes"] else 0)
    for k, (dataset, truth, values) in enumerate(datasets):
        classes, suffix = dataset["classes"], f"_{dataset['name']}" if len(datasets) > 1 else ""
        if classes:  # accuracy from the labels as text, without the scoring program's class indexes
            names = np.array(classes, dtype=object)
            predicted = names[values.argmax(axis=1)] if fmt == "probabilities" else (
                np.where(values >= THRESHOLD, classes[1], classes[0]) if fmt == "probability" else values)
            if f"accuracy{suffix}" in scores:
                assert scores[f"accuracy{suffix}"] == pytest.approx(np.mean(predicted == names[truth]))
            else:  # several datasets: only the primary metric (log loss here) per dataset; scikit-learn's
                order = np.argsort(names.astype(str))  # columns in sorted label order
                assert scores[f"log_loss{suffix}"] == pytest.approx(log_loss(names[truth], values[:, order], labels=list(names[order])))
            assert [row[0] for row in tables[k]] == [escape(label_text(c)) for c in classes]
            assert [int(row[1]) for row in tables[k]] == np.bincount(truth, minlength=len(classes)).tolist()
            for label in classes[:len(ODD_LABELS)]:
                assert escape(label) in html
            assert "<b>&" not in html and "<i>yes" not in html and "<0>" not in html
            if len(classes) > 10:
                assert f"Only the 10 most frequent of the {len(classes)} classes are drawn" in captions
                assert "counts are not printed" in captions
        else:
            assert scores[f"rmse{suffix}"] == pytest.approx(float(np.sqrt(np.mean((values - truth) ** 2))))
            assert f"Predictions of {dataset['target']!r} are" in " ".join(Page(html).texts("insights"))
            assert escape(repr(dataset["target"])) in html and "<t>" not in html




# Run in a separate Python by the test below: the real scoring program, with every stage made to
# last at least argv[2] seconds (as on a large dataset), without touching the program's code.
SLOWED_SCORING = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
import report
advance = report.Report.advance
def slow_advance(self, stage):
    advance(self, stage)
    time.sleep(float(sys.argv[2]))
report.Report.advance = slow_advance
import scoring
scoring.SETTINGS = Path(sys.argv[3])
sys.exit(scoring.main(sys.argv[4:]))
"""
STAGE_SECONDS = 0.5  # ten times the polling interval below: a loaded 2-core machine still sees each stage


def test_a_separate_reader_sees_the_page_evolve_while_slowed_scoring_runs(tmp_path):
    """The worker reads the page from outside the scoring program while it runs; so does this test,
    polling the file every 50 ms and keeping each distinct version it reads."""
    odd_phase(tmp_path, *ODD["binary"])
    page = tmp_path / "out" / "detailed_results.html"
    command = [PYTHON, "-c", SLOWED_SCORING, str(SCORING), str(STAGE_SECONDS), str(tmp_path / "settings.json"),
               "--reference", str(tmp_path / "ref"),
               "--predictions", str(tmp_path / "res"), "--output", str(tmp_path / "out")]
    seen: list[str] = []  # versions read while the scoring process was running, timestamp line removed
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as scoring:
        while scoring.poll() is None:
            if page.is_file():
                html = page.read_text(encoding="utf-8")
                version = re.sub(r"Page written [^<]* UTC", "", html)
                if scoring.poll() is None and (not seen or version != seen[-1]):
                    assert_complete_page(html)
                    seen.append(version)
            time.sleep(0.05)
        out, err = scoring.communicate()
    assert scoring.returncode == 0, err
    assert len(seen) >= 3, [Page(v).texts("status") for v in seen]
    assert Page(seen[0]).texts("status")[0].startswith("Scoring in progress")
    done = [version.count("(done)</li>") for version in seen]  # stages finished, as each version says
    assert done == sorted(done) and done[-1] > done[0]
    assert "Scoring finished." in page.read_text(encoding="utf-8")
