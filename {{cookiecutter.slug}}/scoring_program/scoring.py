"""Scoring program: check the predictions, compute the leaderboard columns, explain the result.

On Codabench it runs in the scoring step with the reference data at /app/input/ref, the
prediction step's output at /app/input/res and its own output at /app/output (see
metadata.yaml). Locally, pass other folders with the same options:

    python3 scoring.py --reference REF_DIR --predictions RES_DIR --output OUT_DIR

It writes `scores.json` (exactly the non-computed leaderboard keys of metrics.py) and `detailed_results.html`,
which it creates when it starts and rewrites after every stage. Invalid predictions give a
one-line error on stderr, an error page, and exit code 1: never a silent zero.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from pathlib import Path

import metrics
from errors import PredictionError, capped
from report import PREDICTION_STEP, Report, ScoreRow, Summary

# numpy, pandas and matplotlib (figures, predictions) take about a second to import, so
# `score` imports them after the first "scoring in progress" page is written, and matplotlib
# only once the predictions are valid: an error page comes without waiting for it.

SCORES_FILE = "scores.json"
INGESTION_RESULT = "ingestion_result.json"  # written by the ingestion program
DATASET_INFO = "dataset.json"  # written by tools/prepare_data.py into the reference data; the starting kit's
# notebook writes its own for its local run, with `baseline_phase`: the phase whose test set gave the scores of the
# baseline.json it copies there from the public data (the page then says they come from other rows).
FINAL_PHASE = "Final"  # the phase in the Final reference data's dataset.json
SETTINGS = Path(__file__).with_name("settings.json")

# Codabench stores scores as Decimal(max_digits=20, decimal_places=10).
MAX_ABS_SCORE = 1e10


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path, default=Path("/app/input/ref"), help="reference data folder")
    parser.add_argument("--predictions", type=Path, default=Path("/app/input/res"), help="prediction step output")
    parser.add_argument("--output", type=Path, default=Path("/app/output"), help="where scores and page go")
    return parser.parse_args(argv)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


MAX_INGESTION_RESULT = 1024 * 1024  # the ingestion program writes a few hundred bytes
WORKER_METADATA = "metadata"  # the compute worker writes it into the prediction output after the step


def read_ingestion(res: Path, settings: dict) -> dict:
    """What the ingestion program wrote about the prediction step, or {} when there is nothing to read.

    A results-only competition runs no ingestion program, so a file of that name came in the
    participant's zip: it is ignored. Otherwise a file that is not the ingestion program's (not a
    JSON object, or megabytes long) is reported as the participant's, never trusted.
    """
    path = res / INGESTION_RESULT
    if settings.get("submission_mode") == "result" or not path.is_file():
        return {}
    try:
        if path.is_symlink() or path.stat().st_size > MAX_INGESTION_RESULT:
            raise ValueError("a link, or too large")
        ingestion = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(ingestion, dict):
            raise ValueError("not a JSON object")
        duration = float(ingestion.get("duration", 0.0))
        if not 0.0 <= duration < MAX_ABS_SCORE:
            raise ValueError(f"a duration of {duration!r} seconds")
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError, OSError) as exc:
        return {"status": "failed", "error": f"{INGESTION_RESULT} in the prediction output is not the ingestion "
                f"program's ({capped(str(exc), 200)}); do not put a file of that name in your submission"}
    return ingestion


def ingestion_exit_code(res: Path) -> int | None:
    """The ingestion program's exit code as the worker recorded it in the prediction output (None locally)."""
    path = res / WORKER_METADATA
    if not path.is_file() or path.is_symlink():
        return None
    with path.open("rb") as f:
        found = re.search(rb"^ingestionExitCode:\s*(-?\d+)\s*$", f.read(4096), re.MULTILINE)
    return int(found.group(1)) if found else None


def sentence(text: str) -> str:
    """A message from the ingestion program as one capped sentence ending with a full stop."""
    text = capped(str(text)).rstrip().rstrip(".")
    return text + "." if text else text


def describe_submission(ingestion: dict) -> str:
    """What the first page can say about the submission before anything is scored."""
    if ingestion.get("status") == "failed":
        return "failed in the prediction step"
    return f"{ingestion['submission_type']} submission" if ingestion.get("submission_type") else "unknown"


def check_ingestion(ingestion: dict, report: Report, settings: dict, exit_code: int | None) -> dict[str, str]:
    """Surface an ingestion failure (Codabench ignores ingestion's exit code); return what to show about it."""
    if ingestion.get("status") == "failed":
        fix = ingestion.get("fix") if isinstance(ingestion.get("fix"), str) and ingestion.get("fix").strip() else \
            "read the prediction step's log (on Codabench: your submission's logs): it shows the full error and any traceback"
        raise PredictionError(f"The prediction step stopped: {sentence(ingestion.get('error') or 'no message')}",
                              fix=sentence(fix[0].upper() + fix[1:]))
    if ingestion and exit_code and settings["submission_mode"] != "result":  # the worker's record, which no submission can write
        raise PredictionError(f"The prediction step failed: the ingestion program exited with code {exit_code} after "
                              f"writing {INGESTION_RESULT}, so its output cannot be trusted.",
                              fix="The prediction step's logs show what happened last; a model must not end the process itself.")
    if ingestion.get("submission_type") == "code":
        return {"Ingestion (fit and predict)": f"{float(ingestion.get('duration', 0.0)):.2f} s"}
    if ingestion or settings["submission_mode"] == "result":  # results-only competitions have no ingestion
        return {"Ingestion": "none: predictions are scored as submitted"}
    if exit_code is not None:  # the worker ran the step, and the ingestion program never got to write its result
        # A signal shows as minus its number locally, and as 128 plus it through docker on the worker.
        signal = -exit_code if exit_code < 0 else exit_code - 128 if exit_code > 128 else None
        how = ("was killed (signal 9: out of memory, or the model killed it)" if signal == 9 else
               f"was stopped by signal {signal}" if signal else f"exited with code {exit_code}")
        raise PredictionError(f"The prediction step ended before the ingestion program wrote {INGESTION_RESULT}: it {how}, "
                              "so the predictions may be missing or incomplete.",
                              fix="Make sure model.py does not end the process itself (os._exit, os.kill, signal handlers) "
                              "and fits in the memory the phase allows; the prediction step's logs show what happened last.")
    report.warn(f"{INGESTION_RESULT} is missing from the prediction output, so the duration is reported as 0.")
    return {}


def check_submission_type(ingestion: dict, settings: dict, info: dict) -> None:
    """Refuse a result submission in the Final phase of a competition that takes both kinds: that phase scores code
    only, as its test features are not published (a result submission could not predict them)."""
    if settings.get("submission_mode") == "both" and info.get("phase") == FINAL_PHASE \
            and ingestion.get("submission_type") == "result":
        raise PredictionError("The Final phase scores code submissions only, and this is a result submission: "
                              "the Final test set's features are not published; Codabench runs your model on them.",
                              fix="Submit a zip with model.py at its root (see the starting kit: "
                              "sample_code_submission/, or the code_submission.zip its notebook writes).")


def finite_score(key: str, value: float) -> float:
    """Refuse values Codabench cannot store: NaN or infinity would leave the submission without scores."""
    if not math.isfinite(value) or abs(value) >= MAX_ABS_SCORE:
        raise ValueError(f"column {key!r} computed {value!r}; Codabench needs a finite number below 1e10")
    return value


def storable(metric: metrics.Metric, reference, prediction, shown_as: str) -> float:
    """The metric's value, checked as finite_score does; beyond what Codabench stores, the participant's
    error when their values caused it: finite but huge predictions (1e12, 1e308) overflow a squared error."""
    import numpy as np

    y_true = reference.target
    with np.errstate(over="ignore", invalid="ignore"):
        value = metric.compute(y_true, prediction.view(metric.needs), reference.classes)
    if not metric.minimum <= value <= metric.maximum and not math.isnan(value):
        raise ValueError(f"{metric.key} computed {value!r}, outside its declared bounds [{metric.minimum}, {metric.maximum}] "
                         "in metrics.py: the metric's function or its bounds are wrong")
    try:
        return finite_score(metric.key, value)
    except ValueError:
        if prediction.fmt != "value":  # probabilities and labels cannot do this: the organizer's problem
            raise
    with np.errstate(over="ignore", invalid="ignore"):
        worst = int(np.nanargmax(np.abs(prediction.values - np.asarray(y_true, float))))
    low, high = float(np.min(y_true)), float(np.max(y_true))
    raise PredictionError(
        f"{shown_as}: {metric.title} comes out as {value:g}, which Codabench cannot store (a leaderboard score "
        f"is a finite number below 1e10): id {str(reference.ids[worst])!r} is predicted {prediction.values[worst]:g} "
        f"for a true value of {y_true[worst]:g}.", file=shown_as,
        fix=f"Predict values on the scale of the target (its test values run from {low:g} to {high:g}).")


def write_scores(output_dir: Path, scores: dict[str, float]) -> None:
    (output_dir / SCORES_FILE).write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")


def row(column: metrics.Column | metrics.Metric, value: float) -> ScoreRow:
    return ScoreRow(column.title, value, column.precision, "higher" if column.sorting == "desc" else "lower", column.description)


def stages_for(datasets: list[dict], settings: dict) -> list[str]:
    """What the page's progress list shows. The prediction step ran before scoring: it is listed (and marked
    failed when it was what failed) in competitions that run code."""
    names = [f" ({d['name']})" if len(datasets) > 1 else "" for d in datasets]
    step = [PREDICTION_STEP] if settings.get("submission_mode") != "result" else []
    return ["Reading the reference data", *step, "Checking the predictions"] + [
        step + name for name in names for step in ("Computing the scores", "Drawing the figures")]


def leaderboard_row(settings: dict, scores: dict[str, float]) -> list[ScoreRow]:
    """Every leaderboard column as Codabench will show it, the ranking one first."""
    def value(column: metrics.Column) -> float:
        if column.computation:  # Codabench fills it from the listed columns
            return metrics.COMPUTATIONS[column.computation]([scores[k] for k in column.computation_keys])
        return scores[column.key]

    return [row(column, value(column)) for column in metrics.leaderboard(settings)]


def ranking_sentence(settings: dict, datasets: list[dict]) -> str:
    ranking = metrics.leaderboard(settings)[0]
    how = f", the mean of the {len(datasets)} datasets' columns computed by Codabench" if ranking.computation else ""
    better = "higher" if ranking.higher_is_better else "lower"
    return f"{ranking.title} ranks it ({better} is better{how})."


def score(args: argparse.Namespace, report: Report, settings: dict, info: dict, ingestion: dict,
          started: float) -> dict[str, float]:
    from insights import class_table, insights_for
    from predictions import PREDICTIONS_FILE, label_rule, read_predictions, read_reference
    from standing import read_baseline, summary, where_it_stands

    task_type, fmt = info["task_type"], info["prediction_format"]
    datasets = info["datasets"]  # each with its own id column, target column and classes
    several = len(datasets) > 1

    report.advance("Reading the reference data")
    references = {d["name"]: read_reference(args.reference / d["folder"], d) for d in datasets}

    if PREDICTION_STEP in report.stages:
        report.advance(PREDICTION_STEP)
    details = check_ingestion(ingestion, report, settings, ingestion_exit_code(args.predictions))
    report.advance("Checking the predictions")
    check_submission_type(ingestion, settings, info)
    predictions = {}
    shown_as = {d["name"]: f"{d['folder']}/{PREDICTIONS_FILE}" if d["folder"] else PREDICTIONS_FILE for d in datasets}
    for d in datasets:
        model_output = ""  # a code submission's file was written by the ingestion program: warnings name the model's output
        if ingestion.get("submission_type") == "code":
            model_output = "Model.predict's output" + (f" on {d['name']}" if several else "")
        predictions[d["name"]] = read_predictions(args.predictions / d["folder"], references[d["name"]], fmt, shown_as[d["name"]],
                                                  model_output)
        for warning in predictions[d["name"]].warnings:
            report.warn(warning)
    counts = [len(r.ids) for r in references.values()]
    details = {"Predictions scored": f"{sum(counts)} rows" + (f" ({' + '.join(map(str, counts))})" if several else ""),
               **details}

    written = {c.key: c for c in metrics.written_columns(settings)}
    scores: dict[str, float] = {}
    firsts = []  # each dataset's ranking metric against the baseline
    for d in datasets:
        suffix, section = (f" ({d['name']})", d["name"]) if several else ("", "")
        report.advance("Computing the scores" + suffix)
        reference, prediction = references[d["name"]], predictions[d["name"]]
        classes = reference.classes
        values = {m.key: storable(m, reference, prediction, shown_as[d["name"]]) for m in metrics.leaderboard_metrics(settings)}
        for key, value in values.items():
            column_key = f"{key}_{d['name']}" if several else key
            if column_key in written:
                scores[column_key] = value
        report.add_insights(section, insights_for(task_type, reference, prediction))
        if classes:
            report.add_class_table(section, class_table(reference, prediction), label_rule(fmt, classes))
        report.show_scores(section, [row(m, values[m.key]) for m in metrics.leaderboard_metrics(settings)])
        baseline, problem = read_baseline(args.reference, d["name"])
        standings, notes = where_it_stands(metrics.leaderboard_metrics(settings), reference, prediction, values, baseline,
                                           len(datasets), info.get("baseline_phase", ""))
        report.show_standing(section, standings, notes + ([problem] if problem else []))
        firsts.append(standings[0])
        report.advance("Drawing the figures" + suffix)
        import figures  # matplotlib takes a second to load: not before the predictions passed their checks

        drawings, notes = figures.figures_for(task_type, reference, prediction)
        for note in notes:
            report.add_note(section, note)
        for draw in drawings:
            report.add_figure(section, draw())
    if metrics.DURATION.key in written:
        scores[metrics.DURATION.key] = finite_score(metrics.DURATION.key, float(ingestion.get("duration", 0.0)))
    write_scores(args.output, scores)

    details["Scoring"] = f"{time.monotonic() - started:.1f} s"
    report.show_summary(Summary(leaderboard_row(settings, scores), ranking_sentence(settings, datasets), details,
                                *summary(firsts)))
    return scores


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    settings = read_json(SETTINGS)
    info = read_json(args.reference / DATASET_INFO)
    ingestion = read_ingestion(args.predictions, settings)
    datasets = info.get("datasets") or [{"name": "main", "folder": ""}]
    report = Report(args.output, title=f"{settings.get('title', 'Competition')}: detailed results",
                    stages=stages_for(datasets, settings))
    if info.get("phase"):
        report.add_fact("Phase", info["phase"])
    report.add_fact("Submission", describe_submission(ingestion))
    # One dataset has the internal name "main": say "1" rather than show it.
    report.add_fact("Datasets to score", ", ".join(d["name"] for d in datasets) if len(datasets) > 1 else "1")
    report.start()
    try:
        if not info:
            raise FileNotFoundError(f"{args.reference / DATASET_INFO} is missing; run `make data` and rebuild the bundle")
        scores = score(args, report, settings, info, ingestion, started)
    except PredictionError as exc:
        report.fail(exc.problem, file=exc.file, fix=exc.fix,
                    next_step="Fix the submission and submit again; a failed submission does not count against your limit.")
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # an organizer-side problem: say so, keep the page readable
        report.fail(capped(f"The scoring program itself failed ({type(exc).__name__}: {exc})."),
                    fix="Nothing to change in your submission: please tell the organizers, quoting this message.")
        print(capped(f"ERROR: scoring program failed: {type(exc).__name__}: {exc}"), file=sys.stderr)
        raise
    report.finish()
    print("Scores: " + ", ".join(f"{k}={v:.6g}" for k, v in scores.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
