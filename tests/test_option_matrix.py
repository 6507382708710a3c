"""Every supported combination of options bakes a correct bundle; every unsupported one is refused.

The lists are explicit so a reviewer sees what is promised. Together the supported ones cover
every task type, every metric, every submission mode and 1 to 5 datasets per phase.
Fast tier (default): bake, exact file set, no template syntax, validator clean but for data
that `make data` writes. Full tier (`-m slow`): each combination's own `make test` and `make bundle`.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
import yaml
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from conftest import PYTHON, TEMPLATE, expected_files, run

SUPPORTED = [
    # (task_type, metric, submission_mode, datasets_per_phase)
    ("binary_classification", "auto", "both", 1),
    ("binary_classification", "roc_auc", "code", 1),
    ("binary_classification", "accuracy", "result", 1),
    ("binary_classification", "log_loss", "both", 3),
    ("binary_classification", "macro_f1", "code", 2),
    ("binary_classification", "balanced_accuracy", "result", 5),
    ("multiclass_classification", "auto", "code", 1),
    ("multiclass_classification", "log_loss", "both", 1),
    ("multiclass_classification", "roc_auc", "result", 2),
    ("multiclass_classification", "macro_f1", "both", 3),
    ("multiclass_classification", "balanced_accuracy", "code", 5),
    ("regression", "auto", "both", 1),
    ("regression", "mae", "code", 3),
    ("regression", "r2", "result", 1),
    ("regression", "rmse", "both", 5),
]

UNSUPPORTED = [
    # (answers, the ERROR line the pre-generation hook prints)
    ({"task_type": "regression", "metric": "roc_auc"},
     "metric 'roc_auc' does not apply to regression. Choose one of: auto, rmse, mae, r2."),
    ({"task_type": "regression", "metric": "accuracy"},
     "metric 'accuracy' does not apply to regression. Choose one of: auto, rmse, mae, r2."),
    ({"task_type": "binary_classification", "metric": "rmse"},
     "metric 'rmse' does not apply to binary_classification. Choose one of: auto, roc_auc, accuracy, "
     "balanced_accuracy, macro_f1, log_loss."),
    ({"task_type": "multiclass_classification", "metric": "r2"},
     "metric 'r2' does not apply to multiclass_classification. Choose one of: auto, roc_auc, accuracy, "
     "balanced_accuracy, macro_f1, log_loss."),
    ({"datasets_per_phase": "0"}, "datasets_per_phase '0' is not a whole number from 1 to 5. Write it like 3."),
    ({"datasets_per_phase": "6"}, "datasets_per_phase '6' is not a whole number from 1 to 5. Write it like 3."),
]

# What each column must do, written out independently of metrics.py: desc = higher is better.
SORTING = {"roc_auc": "desc", "accuracy": "desc", "balanced_accuracy": "desc", "macro_f1": "desc", "log_loss": "asc",
           "rmse": "asc", "mae": "asc", "r2": "desc", "duration": "asc"}
DEFAULT_METRIC = {"binary_classification": "roc_auc", "multiclass_classification": "accuracy", "regression": "rmse"}
JINJA = re.compile(r"\{\{|\{%|%\}|\{#|#\}")


def combination_id(combination) -> str:
    task, metric, mode, datasets = combination
    return f"task:{task.split('_')[0]}-metric:{metric}-mode:{mode}-datasets:{datasets}"


def unsupported_id(case) -> str:
    return "-".join(f"{k.split('_')[0]}:{v}" for k, v in case[0].items())


@pytest.fixture(scope="module")
def baked(tmp_path_factory, user_config):
    """One bake per combination, shared by both tiers."""
    cache: dict[tuple, Path] = {}

    def _bake(combination) -> Path:
        if combination not in cache:
            task, metric, mode, datasets = combination
            out = tmp_path_factory.mktemp(combination_id(combination).replace(":", "_"))
            answers = {"task_type": task, "metric": metric, "submission_mode": mode, "datasets_per_phase": str(datasets)}
            cache[combination] = Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers,
                                                   output_dir=str(out), config_file=str(user_config)))
        return cache[combination]

    return _bake


@pytest.mark.parametrize("combination", SUPPORTED, ids=[combination_id(c) for c in SUPPORTED])
def test_supported_combination_bakes_exactly_its_files(baked, combination):
    bundle = baked(combination)
    files = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert files == expected_files(combination[2])
    leftovers = [f for f in files if f.endswith((".py", ".md", ".yaml", ".json", ".txt", ".html"))
                 and JINJA.search((bundle / f).read_text(encoding="utf-8"))]
    assert leftovers == []


@pytest.mark.parametrize("combination", SUPPORTED, ids=[combination_id(c) for c in SUPPORTED])
def test_supported_combination_has_the_leaderboard_its_options_call_for(baked, combination):
    task, metric, mode, datasets = combination
    competition = yaml.safe_load((baked(combination) / "competition.yaml").read_text(encoding="utf-8"))
    columns = competition["leaderboards"][0]["columns"]
    primary = DEFAULT_METRIC[task] if metric == "auto" else metric
    ranking = columns[competition["leaderboards"][0]["primary_index"]]
    assert ranking["key"] == (primary if datasets == 1 else f"{primary}_mean")
    for column in columns:
        metric_key = re.sub(r"_(mean|ds\d)$", "", column["key"])
        assert column["sorting"] == SORTING[metric_key], column
    assert ("duration" in {c["key"] for c in columns}) == (mode != "result")
    tasks = competition["tasks"]
    assert all(("ingestion_program" in t) == (mode != "result") for t in tasks)
    if datasets > 1:
        (mean,) = [c for c in columns if c.get("computation")]
        assert mean["computation"] == "avg" and len(mean["computation_indexes"]) == datasets


@pytest.mark.parametrize("combination", SUPPORTED, ids=[combination_id(c) for c in SUPPORTED])
def test_supported_combination_passes_the_validator_before_data(baked, combination):
    done = run([PYTHON, "tools/validate_bundle.py", "--json"], cwd=baked(combination))
    findings = json.loads(done.stdout)
    errors = [f for f in findings if f["severity"] == "error"]
    # Before `make data` the only errors are the data folders it writes.
    assert errors and all(f["code"] == "CB011" and f["fix"] == "run `make data`" for f in errors), errors


@pytest.mark.parametrize("case", UNSUPPORTED, ids=[unsupported_id(c) for c in UNSUPPORTED])
def test_unsupported_combination_is_refused_by_the_hook(case, tmp_path, user_config, capfd):
    answers, message = case
    with pytest.raises(FailedHookException):
        cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(tmp_path), config_file=str(user_config))
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("ERROR: ")]
    assert errors == [f"ERROR: {message}"]


# The default answers' bundle runs `make test-all`, `make run` and `make bundle` in test_generated_bundle.py:
# its suite is not run a second time here.
DEFAULT_ANSWERS = ("binary_classification", "auto", "both", 1)
OWN_SUITE = [c for c in SUPPORTED if c != DEFAULT_ANSWERS]


def test_the_default_answers_are_a_supported_combination():
    answers = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
    default = {key: value[0] if isinstance(value, list) else value for key, value in answers.items()}  # a choice: its first
    assert DEFAULT_ANSWERS == (default["task_type"], default["metric"], default["submission_mode"],
                               int(default["datasets_per_phase"]))
    assert DEFAULT_ANSWERS in SUPPORTED and len(OWN_SUITE) == len(SUPPORTED) - 1


@pytest.mark.slow
@pytest.mark.parametrize("combination", OWN_SUITE, ids=[combination_id(c) for c in OWN_SUITE])
def test_supported_combination_passes_its_own_suite_and_builds(baked, combination):
    bundle = baked(combination)
    done = run(["make", "test", f"PYTHON={PYTHON}"], cwd=bundle)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " failed" not in done.stdout and " error" not in done.stdout
    done = run(["make", "bundle", f"PYTHON={PYTHON}"], cwd=bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(bundle / "dist" / "bundle.zip") as archive:
        assert "competition.yaml" in archive.namelist()
