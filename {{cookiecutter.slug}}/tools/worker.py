"""Run one submission through a phase the way Codabench's compute worker does.

What is reproduced, from the worker's source at the commit codabench-facts names
(compute_worker.py at Codabench c7dbc756; the line numbers below are that file's):
- each step downloads its pieces into a fresh folder (:1129-1172); folders are zipped and
  extracted, so permission bits are lost as on the worker (:662-663);
- the image is pulled before each step, outside its time limit (:1178-1180); a failed pull
  fails the step with the worker's message (:572), see executors.pull_image;
- a program's command comes from `metadata.yaml` (else `metadata`) at the root of its folder
  (:847-850), gets the legacy `$` placeholders replaced (:264-286), is split with shlex and run
  without a shell, from /app/program (:1043);
- in the prediction step, a submission without metadata is copied into the output (:853-860:
  that is how result submissions reach scoring) and the ingestion program runs on it; a
  submission with a command runs first, to its end, and the ingestion program after it. The
  worker puts both in one asyncio.gather (:1190-1195), but the log loop (:734) of the one that
  starts first never yields, so they run one after the other; its log says "Running scoring
  program, and then ingestion program" (:1186). Which starts first is a race between their two
  websocket handshakes (:697): the submission's program on a quiet worker (8 of 8 runs here),
  ingestion at times on a loaded one (3 of 10 with the CPU busy). This runner keeps the usual
  order; neither program should rely on the other having run;
- one time limit covers a whole step (:1197-1198); on expiry the step fails with the worker's
  message (:1204). Stricter than the worker here: at that commit its alarm is raised inside the
  log loop, whose `except Exception` (:755) swallows it, so a slow step runs to its end and is
  scored; the worker means to stop it, and so does this runner;
- after each step the worker writes `output/metadata` (:1344-1369) and fails if a program wrote
  it; its `elapsedTime` is the ingestion's when the submission ran nothing of its own (:1350);
- the scores are read from `scores.json` (else `scores.txt`) at the top of the scoring output (:1313-1331).
How each container runs (a local process, or the competition's image) is the executor's business.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bundle import Phase, Task
from executors import Completed, Container, Executor, PullFailed
from zips import extract

METADATA_EXISTS = (
    "Error, the output directory already contains a metadata file. This file is used "
    "to store exitCode and other data, do not write to this file manually."
)


class StepFailed(Exception):
    """The step ended as Failed on Codabench; the message is what the worker reports, `cause` why, when known."""

    def __init__(self, message: str, cause: str = ""):
        super().__init__(message)
        self.cause = cause


def _pull(executor: Executor) -> None:
    """The worker's pull before the step (compute_worker.py:1180): a failure fails the step, as there."""
    try:
        executor.pull()
    except PullFailed as failed:
        raise StepFailed(str(failed), failed.cause) from None


@dataclass
class StepResult:
    name: str
    output: Path
    containers: dict[str, Completed] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failure: str | None = None  # set when the worker would mark the submission Failed


METADATA_NAMES = ("metadata.yaml", "metadata")  # the worker's lookup order, at the program's root
MAX_METADATA_BYTES = 64 * 1024  # a command line and a description


def read_metadata(program: Path, role: str) -> dict | None:
    """The worker's lookup: metadata.yaml first, then metadata; None when neither exists.

    The worker reads it with yaml.FullLoader and no bounds; here a metadata file that is not small
    UTF-8 YAML, or whose command is not text, fails the step with what is wrong (the validator's
    program_rules checks the same for CB031).
    """
    for name in METADATA_NAMES:
        path = program / name
        if path.is_file():
            if path.stat().st_size > MAX_METADATA_BYTES:
                raise StepFailed(f"the {role}'s {name} is {path.stat().st_size:,} bytes; it holds a command and a "
                                 f"description (limit {MAX_METADATA_BYTES:,} bytes)")
            try:
                loaded = yaml.load(path.read_bytes().decode("utf-8"), Loader=yaml.FullLoader)
            except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
                problem = " ".join(str(exc).split())[:300]
                raise StepFailed(f"the {role}'s {name} is not valid UTF-8 YAML ({problem}): write `command: ...`") from None
            if not isinstance(loaded, dict):
                return {}
            if "command" in loaded and not isinstance(loaded["command"], (str, type(None))):
                raise StepFailed(f"the {role}'s {name}: `command` is a {type(loaded['command']).__name__}; "
                                 "write it as one line of text")
            return loaded
    return None


def substitute(command: str, kind: str, is_scoring: bool, ingestion_during_scoring: bool = False) -> list[str]:
    """Replace the legacy placeholders exactly as the worker does (plain str.replace, this order).

    `$program` points at the never-mounted /app/ingestion_program in both containers of a
    scoring step that runs the ingestion program (`ingestion_only_during_scoring: true`).
    """
    replacements = [
        ("$input", "/app/input_data" if kind == "ingestion" else "/app/input"),
        ("$output", "/app/output"),
        ("$program", "/app/ingestion_program" if ingestion_during_scoring and is_scoring else "/app/program"),
        ("$ingestion_program", "/app/program"),
        ("$hidden", "/app/input/ref"),
        ("$shared", "/app/shared"),
        ("$submission_program", "/app/ingested_program"),
        ("$tmp", "/app/output"),
        ("$predictions", "/app/input/res" if is_scoring else "/app/output"),
    ]
    for placeholder, value in replacements:
        command = command.replace(placeholder, value)
    return shlex.split(command)


def _write_worker_metadata(output: Path, program: Completed | None, ingestion: Completed | None) -> None:
    path = output / "metadata"
    if path.exists():
        raise StepFailed(METADATA_EXISTS)
    status = {
        "exitCode": program.exit_code if program else None,
        # "for v1.5 compat", the ingestion's time when the program has none (compute_worker.py:1349-1350)
        "elapsedTime": (program.elapsed if program else None) or (ingestion.elapsed if ingestion else None),
        "ingestionExitCode": ingestion.exit_code if ingestion else None,
        "ingestionElapsedTime": ingestion.elapsed if ingestion else None,
    }
    path.write_text(yaml.dump(status, default_flow_style=False), encoding="utf-8")


def _run_in_order(executor: Executor, containers: list[Container], deadline: float, limit: int) -> dict[str, Completed]:
    """Run the step's containers one after the other, as the worker's blocking log loop makes them run (the
    submission's own program, then ingestion), under one time limit for the whole step."""
    done: dict[str, Completed] = {}
    for container in containers:
        done[container.name] = executor.run(container, timeout=deadline - time.monotonic())
        if done[container.name].timed_out:
            raise StepFailed(f"Execution Time Limit exceeded. Limit was {limit} seconds")
    return done


def _program_container(name: str, program: Path, mounts: dict[str, Path], is_scoring: bool,
                       result: StepResult) -> Container | None:
    """The worker's rule for the "program" container (the submission, or the scoring program).

    No metadata: the folder is copied into the output (how result submissions reach scoring), before
    anything starts. Metadata without a command: nothing runs. Otherwise the command is to run.
    """
    metadata = read_metadata(program, {"scoring": "scoring program"}.get(name, name))
    if metadata is None:
        result.notes.append(f"{name} has no metadata at its root: copied to the output")
        shutil.copytree(program, result.output, dirs_exist_ok=True)
        return None
    if not metadata.get("command"):
        result.notes.append(f"{name} metadata has no command: not run")
        return None
    return Container(name, substitute(str(metadata["command"]), "program", is_scoring=is_scoring), mounts)


def run_prediction_step(task: Task, phase: Phase, submission: Path, workspace: Path, executor: Executor) -> StepResult:
    step = workspace / "prediction"
    program, output = step / "program", step / "output"
    extract(submission, program)
    output.mkdir(parents=True)
    mounts = {"/app/program": program, "/app/output": output}
    if task.input_data:
        extract(task.input_data, step / "input_data")
        mounts["/app/input_data"] = step / "input_data"
    if task.ingestion_program:
        extract(task.ingestion_program, step / "ingestion_program")
    result = StepResult("prediction", output)
    _pull(executor)  # after the downloads, before the timer (compute_worker.py:1178-1180)
    deadline = time.monotonic() + phase.execution_time_limit

    # the submission's own program first, then ingestion (compute_worker.py:1186-1195)
    containers = [c for c in [_program_container("submission", program, mounts, False, result)] if c]
    if task.ingestion_program:
        ingestion_dir = step / "ingestion_program"
        ingestion_metadata = read_metadata(ingestion_dir, "ingestion program")
        if ingestion_metadata is None:
            raise StepFailed("Program directory missing 'metadata.yaml/metadata'")
        if not ingestion_metadata.get("command"):
            raise StepFailed("Program directory missing 'command' in metadata")
        command = substitute(str(ingestion_metadata["command"]), "ingestion", is_scoring=False)
        ingestion_mounts = {**mounts, "/app/program": ingestion_dir, "/app/ingested_program": program}
        containers.append(Container("ingestion", command, ingestion_mounts))
    result.containers.update(_run_in_order(executor, containers, deadline, phase.execution_time_limit))
    _write_worker_metadata(output, result.containers.get("submission"), result.containers.get("ingestion"))
    return result


def read_scores(output: Path) -> dict:
    """The worker reads only the top of the scoring output: scores.json, else scores.txt."""
    if (output / "scores.json").is_file():
        try:
            scores = json.loads((output / "scores.json").read_text(encoding="utf-8"))
        except ValueError:
            raise StepFailed("Could not decode scores json properly, it contains an error.") from None
    elif (output / "scores.txt").is_file():
        scores = yaml.load((output / "scores.txt").read_text(encoding="utf-8"), Loader=yaml.Loader)
    else:
        raise StepFailed("Could not find scores file, did the scoring program output it?")
    if isinstance(scores, str) and re.match(r"^[\w.-]+:\S", scores):
        key, _, value = scores.partition(":")
        raise StepFailed(f"scores.txt holds {scores[:60]!r}, which Codabench reads as one string, not a score: "
                         f"YAML needs a space after the colon; write `{key}: {value.split()[0] if value.split() else ''}`")
    if not isinstance(scores, dict):
        raise StepFailed("the scores file must hold a flat mapping {column_key: number}")
    return scores


def run_scoring_step(task: Task, phase: Phase, predictions: Path, workspace: Path, executor: Executor) -> StepResult:
    step = workspace / "scoring"
    program, output, shared = step / "program", step / "output", step / "shared"
    extract(task.scoring_program, program)
    extract(predictions, step / "input" / "res")
    if task.reference_data:
        extract(task.reference_data, step / "input" / "ref")
    output.mkdir(parents=True)
    shared.mkdir(parents=True)
    result = StepResult("scoring", output)
    mounts = {"/app/program": program, "/app/output": output, "/app/input": step / "input", "/app/shared": shared}
    _pull(executor)
    deadline = time.monotonic() + phase.execution_time_limit
    scoring = _program_container("scoring", program, mounts, True, result)
    result.containers.update(_run_in_order(executor, [scoring] if scoring else [], deadline, phase.execution_time_limit))
    completed = result.containers.get("scoring")
    if completed and completed.exit_code != 0:
        result.failure = f"scoring program exited with code {completed.exit_code}: Failed, no scores are uploaded"
        return result
    _write_worker_metadata(output, result.containers.get("scoring"), None)
    return result
