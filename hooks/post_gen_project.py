"""Keep only what the chosen options need, then check that competition.yaml loads.

Offline and deterministic (cruft runs it again on every update): it removes files and moves
one baseline into place, nothing else. Data are not generated here: that needs numpy and
scikit-learn, which cookiecutter's own environment may lack, so `make data` writes them.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import yaml  # cookiecutter depends on PyYAML

SUBMISSION_MODE = json.loads(r'''{{ cookiecutter.submission_mode | tojson }}''')
PREDICTION_FORMAT = json.loads(r'''{{ prediction_format(cookiecutter) | tojson }}''')
PRIMARY_METRIC = json.loads(r'''{{ primary_metric(cookiecutter.task_type, cookiecutter.metric) | tojson }}''')
# Metrics that weigh every class alike get a baseline that weighs them alike in training too, so that a
# rare class is still predicted; plain accuracy gets the unweighted one, which it rewards.
CLASS_BALANCED_METRICS = ("balanced_accuracy", "macro_f1")


def keep_baseline(kit: Path, prediction_format: str, metric: str) -> None:
    """The baseline that returns what this competition scores becomes the sample submission."""
    target = kit / "sample_code_submission" / "model.py"
    target.parent.mkdir(exist_ok=True)
    # One baseline returns class probabilities for both formats: for two classes the ingestion
    # program takes the positive class's column from its DataFrame.
    name = {"probability": "probabilities"}.get(prediction_format, prediction_format)
    if name == "label" and metric in CLASS_BALANCED_METRICS:
        name = "balanced_label"
    source = kit / "baselines" / f"{name}.py"
    if source.exists():
        shutil.move(str(source), str(target))
    shutil.rmtree(kit / "baselines", ignore_errors=True)


def remove_code_submission_parts(root: Path) -> None:
    """Result-only competitions have no ingestion program and no failing code: `make data` writes
    their failing submission (predictions one row short) and the error it expects."""
    shutil.rmtree(root / "ingestion_program", ignore_errors=True)
    for name in ("model.py", "expected_error.txt"):
        (root / "starting_kit" / "failing_submission" / name).unlink(missing_ok=True)


def check_competition_yaml(path: Path) -> str | None:
    try:
        competition = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return f"the generated {path} does not parse ({exc})"
    if str(competition.get("version")) != "2":
        return f"the generated {path} has no `version: 2`"
    return None


def main() -> int:
    root = Path.cwd()
    keep_baseline(root / "starting_kit", PREDICTION_FORMAT, PRIMARY_METRIC)
    if SUBMISSION_MODE == "result":
        remove_code_submission_parts(root)
    problem = check_competition_yaml(root / "competition.yaml")
    if problem:
        print(f"ERROR: {problem}; please report this as a template bug.", file=sys.stderr)
        return 1
    print(f"Created {root.name}/. Next: cd {root.name} && make test   (see README.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
