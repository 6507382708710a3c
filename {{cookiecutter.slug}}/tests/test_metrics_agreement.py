"""metrics.py, the leaderboard, the evaluation page and scores.json say the same thing."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
from sklearn import metrics as sk

from conftest import ROOT
from predictions import Predictions, class_indexes
from sync import out_of_sync


def test_leaderboard_columns_are_exactly_the_declared_columns(columns, metrics, settings):
    declared = [(c.key, c.title, c.sorting, c.precision, i) for i, c in enumerate(metrics.leaderboard(settings))]
    in_yaml = [(c["key"], c["title"], c["sorting"], c["precision"], c["index"]) for c in sorted(columns, key=lambda c: c["index"])]
    assert in_yaml == declared


def test_primary_metric_ranks_the_leaderboard(competition, metrics, settings):
    board = competition["leaderboards"][0]
    ranking = next(c for c in board["columns"] if c["index"] == board["primary_index"])
    primary = metrics.leaderboard_metrics(settings)[0]
    assert ranking["key"] in (primary.key, f"{primary.key}_mean")
    assert ranking["sorting"] == primary.sorting


def test_computed_columns_average_the_per_dataset_columns(columns, settings):
    computed = [c for c in columns if c.get("computation")]
    if len(settings["datasets"]) == 1:
        assert computed == []
        return
    (mean,) = computed
    per_dataset = {c["index"] for c in columns if c["key"].endswith(tuple(f"_{d}" for d in settings["datasets"]))}
    assert mean["computation"] == "avg" and set(mean["computation_indexes"]) == per_dataset


def test_generated_blocks_are_in_sync():
    assert out_of_sync(ROOT) == []


def test_evaluation_page_explains_every_column(metrics, settings):
    page = (ROOT / "pages" / "evaluation.md").read_text(encoding="utf-8")
    for column in metrics.leaderboard(settings):
        assert column.title in page and column.description in page


def test_a_changed_metric_is_reported_as_drift(tmp_path, metrics, settings):
    copy = tmp_path / "bundle"
    copy.mkdir()
    for name in ("competition.yaml", "pages", "scoring_program", "data"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, copy / name)
    metrics_file = copy / "scoring_program" / "metrics.py"
    text = metrics_file.read_text(encoding="utf-8")
    primary = metrics.leaderboard_metrics(settings)[0]
    declaration = f'Metric(key="{primary.key}", title="{primary.title}",'
    assert declaration in text
    metrics_file.write_text(text.replace(declaration, f'Metric(key="{primary.key}", title="{primary.title} v2",'), encoding="utf-8")
    assert out_of_sync(copy) == ["competition.yaml", "pages/evaluation.md"]


def test_a_class_label_is_the_text_a_csv_file_holds(metrics):
    assert [metrics.label_text(v) for v in (3, 3.0, "3", np.int64(3), np.float32(3.0), True, 2.5, "yes")] == \
        ["3", "3", "3", "3", "3", "True", "2.5", "yes"]
    assert metrics.prediction_columns("probability", ["no", "yes"], "survived") == ["proba_yes"]
    assert metrics.prediction_columns("probabilities", [2, 0, "a, b"], "kind") == ["proba_2", "proba_0", "proba_a, b"]
    assert metrics.prediction_columns("label", [0, 1], "kind") == metrics.prediction_columns("value", [], "kind") == ["kind"]


def test_labels_match_classes_as_text_and_whole_numbers_as_integer_classes():
    assert class_indexes(["b", " a ", "c d", "x", ""], ["a", "b", "c d"]).tolist() == [1, 0, 2, -1, -1]
    assert class_indexes(["3", "3.0", "+4", "4.5", "five"], [4, 3]).tolist() == [1, 1, 0, -1, -1]
    assert class_indexes(["3.0"], ["3"]).tolist() == [-1]  # text classes are matched as text


# Declared orders that are not sorted: the scoring program's class indexes must not depend on sorting.
STRING_CLASSES = {"binary": ["yes", "no"], "multiclass": ["versicolor", "setosa", "a, b", "<b>&"]}


@pytest.mark.parametrize("kind", sorted(STRING_CLASSES))
def test_metrics_on_string_labels_equal_scikit_learns(kind, metrics):
    """Every classification metric, computed as the scoring program does (class indexes in the declared
    order), equals scikit-learn's on the same labels as strings (where its columns follow sorted labels)."""
    classes = STRING_CLASSES[kind]
    rng = np.random.default_rng(1)
    n, k = 500, len(classes)
    truth = rng.integers(0, k, n)
    proba = rng.dirichlet(np.ones(k), n)
    proba[np.arange(n), truth] += 0.3
    proba /= proba.sum(axis=1, keepdims=True)
    y = np.array(classes, dtype=object)[truth]  # the labels as strings
    order = np.argsort(classes)  # scikit-learn wants probability columns in sorted label order
    ranked = sorted(classes)
    if k == 2:
        predictions = Predictions("probability", proba[:, 1])
        predicted = np.where(proba[:, 1] >= metrics.THRESHOLD, classes[1], classes[0])
        expected_proba = proba[:, order]
        expected = {"roc_auc": sk.roc_auc_score(y == classes[1], proba[:, 1])}
    else:
        predictions = Predictions("probabilities", proba)
        predicted = np.array(classes, dtype=object)[proba.argmax(axis=1)]
        expected_proba = proba[:, order]
        expected = {"roc_auc": sk.roc_auc_score(y, expected_proba, multi_class="ovr", labels=ranked)}
    expected.update({
        "accuracy": sk.accuracy_score(y, predicted),
        "balanced_accuracy": sk.balanced_accuracy_score(y, predicted),
        "macro_f1": sk.f1_score(y, predicted, average="macro", labels=classes, zero_division=0),
        "log_loss": sk.log_loss(y, expected_proba, labels=ranked),
    })
    kinds = ("binary_classification", "multiclass_classification")
    for key, metric in metrics.REGISTRY.items():
        if not set(kinds) & set(metric.task_types):
            continue
        assert metric.compute(truth, predictions.view(metric.needs), classes) == pytest.approx(expected[key]), key


def _inputs(metric, kind: str, rng, n: int = 400):
    """(truth, predictions as the metric needs them, classes) for one kind: perfect, inverted or random."""
    if "regression" in metric.task_types:
        truth = rng.normal(size=n)
        values = {"perfect": truth, "inverted": -truth * 5, "random": rng.normal(size=n)}[kind]
        return truth, Predictions("value", values), []
    classes = [0, 1, 2]
    truth = rng.integers(0, 3, n)
    onehot = np.eye(3)[truth]
    proba = {"perfect": onehot, "inverted": (1 - onehot) / 2, "random": rng.dirichlet(np.ones(3), n)}[kind]
    return truth, Predictions("probabilities", proba), classes


def test_every_metric_stays_within_its_declared_bounds_and_a_perfect_prediction_scores_its_best(metrics):
    rng = np.random.default_rng(7)
    for key, metric in metrics.REGISTRY.items():
        assert metric.worst == (metric.minimum if metric.higher_is_better else metric.maximum), key
        for kind in ("perfect", "inverted", "random"):
            truth, predictions, classes = _inputs(metric, kind, rng)
            value = metric.compute(truth, predictions.view(metric.needs), classes)
            assert metric.minimum <= value <= metric.maximum, (key, kind, value)
            if kind == "perfect":
                assert value == pytest.approx(metric.best, abs=1e-9), key
            else:  # anything less than perfect scores worse than the best
                assert (value < metric.best) if metric.higher_is_better else (value > metric.best), (key, kind, value)


def test_a_metric_declared_with_impossible_bounds_is_refused(metrics):
    accuracy = metrics.REGISTRY["accuracy"]
    with pytest.raises(ValueError, match="minimum < maximum"):
        dataclasses.replace(accuracy, minimum=1.0, maximum=0.0)
