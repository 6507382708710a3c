"""Jinja helpers for this template (loaded through `_extensions` in cookiecutter.json).

The leaderboard and metric rules come from the bundle's own `scoring_program/metrics.py` and
`tools/sync_metrics.py`, imported from this template, so the baked competition.yaml holds
exactly what `make sync` would write: there is no second copy of the metric registry here.
The helpers only format answers the pre-generation hook has already validated.
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

from jinja2.ext import Extension

BUNDLE = Path(__file__).resolve().parent / "{{cookiecutter.slug}}"
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]$|#~])")


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _tools():
    sys.path.insert(0, str(BUNDLE / "tools"))
    try:
        return _load(BUNDLE / "tools" / "sync_metrics.py", "template_sync_metrics")
    finally:
        sys.path.remove(str(BUNDLE / "tools"))


METRICS = _load(BUNDLE / "scoring_program" / "metrics.py", "template_metrics")


def dataset_names(count: str) -> list[str]:
    n = int(count)
    return ["main"] if n == 1 else [f"ds{i}" for i in range(1, n + 1)]


def primary_metric(task_type: str, metric: str) -> str:
    return METRICS.resolve_primary(task_type, metric)


def settings(c: dict) -> dict:
    """The bundle's scoring_program/settings.json, from the answers."""
    return {"title": c["title"], "task_type": c["task_type"], "primary_metric": primary_metric(c["task_type"], c["metric"]),
            "submission_mode": c["submission_mode"], "datasets": dataset_names(c["datasets_per_phase"])}


def leaderboard_yaml(c: dict, indent: str) -> str:
    return "\n".join(_tools().yaml_columns(METRICS, settings(c), indent))


def metric_table(c: dict) -> str:
    return "\n".join(_tools().page_table(METRICS, settings(c)))


def leaderboard(c: dict) -> list:
    return METRICS.leaderboard(settings(c))


def prediction_format(c: dict) -> str:
    return METRICS.prediction_format(settings(c))


DESCRIPTIONS = {
    "binary_classification": "Predict the binary label of each row of a tabular dataset.",
    "multiclass_classification": "Predict the class (0, 1 or 2) of each row of a tabular dataset.",
    "regression": "Predict a numeric target for each row of a tabular dataset.",
}


def description(c: dict) -> str:
    """The one-line description: the `_description` answer, else one that fits the task type."""
    return c["_description"] or DESCRIPTIONS[c["task_type"]]


def expected_header(c: dict) -> str:
    """The header line of a predictions.csv file, as the scoring program checks it."""
    classes = [0, 1, 2] if c["task_type"] == "multiclass_classification" else [0, 1]  # as tools/prepare_data.py writes
    return ",".join(["id", *METRICS.prediction_columns(prediction_format(c), classes)])


def metric_rules() -> dict:
    """For the pre-generation hook: which metrics each task type accepts."""
    return {task: METRICS.applicable(task) for task in METRICS.TASK_TYPES}


def phase_dates(start_date: str, dev_days: str, final_days: str) -> dict[str, str]:
    """Quoted-ready UTC datetimes for the two phases, strictly sequential.

    Codabench drops the time of day of an unquoted YAML datetime and rejects a phase that
    starts exactly when the previous one ends, so each phase ends one second before the
    next begins.
    """
    start = datetime.combine(date.fromisoformat(start_date), time())
    final_start = start + timedelta(days=int(dev_days))
    final_end = final_start + timedelta(days=int(final_days))
    fmt = "%Y-%m-%d %H:%M:%S"
    one_second = timedelta(seconds=1)
    return {
        "dev_start": start.strftime(fmt),
        "dev_end": (final_start - one_second).strftime(fmt),
        "final_start": final_start.strftime(fmt),
        "final_end": (final_end - one_second).strftime(fmt),
    }


def yaml_string(value: str) -> str:
    """A double-quoted YAML scalar that loads back to exactly `value` (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def markdown_text(value: str) -> str:
    """`value` as literal text in Markdown with raw HTML: HTML-escaped, Markdown specials escaped."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", html.escape(value, quote=False))


class BundleExtension(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["yaml_string"] = yaml_string
        environment.filters["markdown_text"] = markdown_text
        for function in (phase_dates, dataset_names, primary_metric, leaderboard_yaml, metric_table, leaderboard,
                         prediction_format, metric_rules, description, expected_header):
            environment.globals[function.__name__] = function
