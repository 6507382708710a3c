"""Jinja helpers for this template (loaded through `_extensions` in cookiecutter.json).

The leaderboard and metric rules come from the bundle's own `scoring_program/metrics.py`, the
data declaration from `tools/declaration.py` and the generated blocks from `tools/sync.py`, all
imported from this template, so a fresh bake holds exactly what `make sync` would write: there
is no second copy of the metric registry or of data.yaml's format here.
The helpers only format answers the pre-generation hook has already validated.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

from jinja2.ext import Extension

BUNDLE = Path(__file__).resolve().parent / "{{cookiecutter.slug}}"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _tool(name: str):
    sys.path.insert(0, str(BUNDLE / "tools"))
    try:
        return _load(BUNDLE / "tools" / f"{name}.py", f"template_{name}")
    finally:
        sys.path.remove(str(BUNDLE / "tools"))


def _tools():
    return _tool("sync")


METRICS = _load(BUNDLE / "scoring_program" / "metrics.py", "template_metrics")
DECLARATION = _tool("declaration")


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


DESCRIPTIONS = _tool("page_rules").DESCRIPTIONS  # the validator warns (CB130) while a bundle still has one of them


def description(c: dict) -> str:
    """The one-line description: the `_description` answer, else one that fits the task type."""
    return c["_description"] or DESCRIPTIONS[c["task_type"]]


def dataset_rules() -> dict:
    """For the pre-generation hook: which task type each dataset scikit-learn ships is."""
    return {name: task for name, (task, _) in DECLARATION.SKLEARN_SOURCES.items()}


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


def phases(c: dict) -> list[dict]:
    """The two phases' names, dates and submission limits: competition.yaml and the overview page use these."""
    dates = phase_dates(c["start_date"], c["_dev_phase_days"], c["_final_phase_days"])
    return [
        {"index": 0, "name": "Development", "start": dates["dev_start"], "end": dates["dev_end"],
         "max_submissions_per_day": 5, "max_submissions": 100},
        {"index": 1, "name": "Final", "start": dates["final_start"], "end": dates["final_end"],
         "max_submissions_per_day": 1, "max_submissions": 3},
    ]


def phase_table(c: dict) -> str:
    return "\n".join(_tools().phase_table(phases(c)))


def data_yaml(c: dict) -> str:
    """The bundle's data.yaml: the declaration of its data (seeded synthetic, or a dataset scikit-learn ships)."""
    declaration = DECLARATION.default_declaration(c["task_type"], dataset_names(c["datasets_per_phase"]), c["_dataset"])
    return DECLARATION.dump(declaration)


def data_block() -> str:
    """The data page's generated section before `make data` has run."""
    return "\n".join(_tools().DATA_PENDING)


def yaml_string(value: str) -> str:
    """A double-quoted YAML scalar that loads back to exactly `value` (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def markdown_text(value: str) -> str:
    """`value` as literal text in Markdown with raw HTML: HTML-escaped, Markdown specials escaped."""
    return _tools().markdown_text(value)


class BundleExtension(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["yaml_string"] = yaml_string
        environment.filters["markdown_text"] = markdown_text
        for function in (phase_dates, phases, phase_table, dataset_names, primary_metric, leaderboard_yaml, metric_table,
                         leaderboard, prediction_format, metric_rules, description, data_yaml, data_block, dataset_rules):
            environment.globals[function.__name__] = function
