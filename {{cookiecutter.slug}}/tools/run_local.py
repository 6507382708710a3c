"""Run a submission through a phase locally, the way Codabench's compute worker does.

    python tools/run_local.py                                   # the sample submission, Development phase
    python tools/run_local.py --phase final --submission path/to/submission.zip
    python tools/run_local.py --python /path/to/python3.12      # the programs' interpreter
    python tools/run_local.py --engine docker                   # in docker_image, locked down like the worker
    python tools/run_local.py --engine docker --network off     # as a worker without network
    python tools/run_local.py --engine docker --pull never      # with the image here, no registry asked

It runs the prediction step (ingestion) then the scoring step of every task of the phase,
in a worker-like folder layout under runs/, prints the scores as the leaderboard would show
them and where the detailed results page is, and exits 1 if Codabench would show no score.
With --engine docker (or podman; `make run ENGINE=docker`) every program runs in the
competition's docker_image, pulled before each step and started as Codabench's worker starts
it: only the step's folders, the worker's dropped capabilities and environment, and a network
unless --network off (`NETWORK=off`).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from bundle import (COMPETITION_YAML, ROOT, BundleError, Phase, find_phase, leaderboard_columns, load_competition,
                    load_program_module, template_programs)
from executors import ENGINES, NETWORKS, PULLS, EngineError, Executor, default_engine, default_network, default_pull, make_executor
from file_rules import human
from images import IMAGES
from worker import StepFailed, read_scores, run_prediction_step, run_scoring_step


def default_submission(competition: dict, root: Path = ROOT) -> Path:
    """The first solution of competition.yaml: the baseline code submission, or its predictions when the
    competition takes results only (a migrated competition's first sample submission)."""
    for solution in competition.get("solutions") or []:
        if isinstance(solution, dict) and isinstance(solution.get("path"), str):
            return root / solution["path"]
    raise BundleError(f"{COMPETITION_YAML} lists no solution to run by default: pass one (make run SUBMISSION=folder-or-zip)")

MAX_ABS_SCORE = 1e10
# What a submission zip may unpack to here: a zip bomb (a few KiB declaring gigabytes) is refused from
# its directory, before a byte is unpacked. Codabench's worker has no limit but its disk.
MAX_ENTRIES = 100_000
MAX_UNPACKED = 10 * 1024**3


@dataclass
class TaskRun:
    task: str
    status: str  # "Finished" or "Failed", as Codabench would show it
    message: str = ""
    cause: str = ""  # why, when the runner knows better than the programs' own output
    scores: dict = field(default_factory=dict)
    ingestion_stderr: str = ""
    scoring_stderr: str = ""
    prediction_output: Path | None = None
    scoring_output: Path | None = None

    @property
    def detailed_results(self) -> Path | None:
        page = self.scoring_output / "detailed_results.html" if self.scoring_output else None
        return page if page and page.is_file() else None


def new_run_folder(runs: Path, name: str) -> Path:
    """runs/<name>-<UTC time>, made here and now: a second run started in the same second gets -2, never the first's."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    runs.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        folder = runs / (f"{name}-{stamp}" + (f"-{attempt}" if attempt > 1 else ""))
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise OSError(f"{runs}: a thousand runs named {name}-{stamp} already; clear runs/ (make clean)")


def check_scores(scores: dict, columns: list[dict]) -> list[tuple[str, str]]:
    """What Codabench would silently drop or show as an empty cell, as (validator code, message)."""
    problems = []
    for column in columns:
        if column.get("computation"):
            if column["key"] in scores:
                problems.append(("CB124", f"{column['key']!r} is a computed column: Codabench overwrites what scoring writes"))
            continue
        if column["key"] not in scores:
            problems.append(("CB121", f"scores.json has no {column['key']!r}: that leaderboard cell would be empty "
                                      "(and an empty primary score can rank first)"))
            continue
        value = scores[column["key"]]
        try:
            number = float(value)
        except (TypeError, ValueError):
            problems.append(("CB123", f"{column['key']!r} = {value!r} is not a number"))
            continue
        if not math.isfinite(number) or abs(number) >= MAX_ABS_SCORE:
            problems.append(("CB123", f"{column['key']!r} = {value!r}: Codabench stores only finite numbers below 1e10"))
    known = {c["key"] for c in columns}
    problems += [("CB122", f"{key!r} matches no leaderboard column: Codabench drops it") for key in scores if key not in known]
    return problems


def run_phase(
    phase: Phase,
    submission: Path,
    workspace: Path,
    executor: Executor,
    columns: list[dict],
    progress: Callable[[str], None] = lambda message: None,
) -> list[TaskRun]:
    """Run the submission on every task of the phase (Codabench makes one child run per task)."""
    runs = []
    for task in phase.tasks:
        task_dir = workspace / f"task{task.index}"
        run = TaskRun(task=task.name, status="Failed")
        try:
            progress(f"{task.name}: prediction step (ingestion program)")
            prediction = run_prediction_step(task, phase, submission, task_dir, executor)
            run.prediction_output = prediction.output
            if "ingestion" in prediction.containers:
                run.ingestion_stderr = prediction.containers["ingestion"].stderr
            progress(f"{task.name}: scoring step (scoring program)")
            scoring = run_scoring_step(task, phase, prediction.output, task_dir, executor)
            run.scoring_output = scoring.output
            if "scoring" in scoring.containers:
                run.scoring_stderr = scoring.containers["scoring"].stderr
            if scoring.failure:
                raise StepFailed(scoring.failure)
            run.scores = read_scores(scoring.output)
            problems = check_scores(run.scores, columns)
            if problems:
                raise StepFailed("; ".join(message for _, message in problems))
            run.status = "Finished"
        except StepFailed as exc:
            run.message, run.cause = str(exc), exc.cause
        except OSError as exc:  # a file of the submission it cannot read, a full disk
            run.message = f"the local run could not copy or write a file: {exc}"
        runs.append(run)
    return runs


def computations() -> dict:
    """Codabench's computed columns, as this template's scoring program declares them; a competition with other
    programs (a migrated one) computes them the same way, as Codabench does: from the columns' values."""
    if template_programs(ROOT):
        return load_program_module(ROOT / "scoring_program", "metrics").COMPUTATIONS
    return {"avg": lambda values: sum(values) / len(values), "sum": sum, "min": min, "max": max}


def format_scores(scores: dict, columns: list[dict]) -> str:
    """The scores as the leaderboard shows them, computed columns included (Codabench fills those)."""
    width = max(len(str(c["title"])) for c in columns)
    by_index = {c["index"]: c for c in columns}
    lines = []
    for column in sorted(columns, key=lambda c: c["index"]):
        note = ""
        if column.get("computation"):
            sources = [float(scores[by_index[i]["key"]]) for i in column.get("computation_indexes") or []]
            value = computations()[column["computation"]](sources) if sources else None
            note = ", computed by Codabench"
        else:
            value = float(scores[column["key"]]) if column["key"] in scores else None
        if value is not None:
            better = "lower is better" if column.get("sorting", "desc") == "asc" else "higher is better"
            shown = f"{value:.{int(column.get('precision', 2))}f}"  # as the leaderboard rounds
            lines.append(f"  {column['title']:<{width}}  {shown:>12}   ({better}{note})")
    return "\n".join(lines)


# The libraries whose old versions the legacy images keep, as images.py names them and as pip knows them.
COMPARED = {"numpy": "numpy", "pyyaml": "PyYAML", "pandas": "pandas", "scikit-learn": "scikit-learn", "scipy": "scipy"}
FAR = 4  # minor versions apart (numpy 1.17 and 1.26): APIs were removed in between


def library_gap(python: str, image: str | None) -> str | None:
    """A note when the local engine's Python has much newer libraries than the competition's image (a CodaLab
    bundle's codalab-legacy:py37 has numpy 1.17 and PyYAML 5.1): old programs may stop, or catch the error and
    write another score, here and not in the image. None when the image is unknown or close to the local Python."""
    known = IMAGES.get(image or "")
    if known is None:
        return None
    wanted = {name: known.version(name) for name in COMPARED if known.version(name)}
    names = list(wanted)
    code = ("import importlib.metadata as m, json, sys\nv = {}\nfor n in sys.argv[1:]:\n    try: v[n] = m.version(n)\n"
            "    except m.PackageNotFoundError: pass\nprint(json.dumps(v))")
    try:
        done = subprocess.run([python, "-c", code, *[COMPARED[n] for n in names]], capture_output=True, text=True, timeout=30)
        local = json.loads(done.stdout or "{}")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None

    def parts(version: str) -> tuple[int, int]:
        numbers = [int(x) for x in re.findall(r"\d+", version)[:2]] + [0, 0]
        return numbers[0], numbers[1]

    far = []
    for name in names:
        here = local.get(COMPARED[name])
        if here is None:
            continue
        (major, minor), (old_major, old_minor) = parts(here), parts(wanted[name])
        if major > old_major or (major == old_major and minor - old_minor >= FAR):
            far.append(f"{name} {here} here, {wanted[name]} in the image")
    if not far:
        return None
    return (f"the programs run on this machine's Python with much newer libraries than {image} ({'; '.join(far)}): "
            "code written for the image may fail, or catch the error and write another score, here only; "
            "`make run ENGINE=docker` runs them in the image (MIGRATION.md names the lines it found)")


def last_error_line(stderr: str) -> str:
    """The programs' own one-line message (ERROR: ...), else the last line of a traceback (e.g. a package
    that the image lacks: "ModuleNotFoundError: No module named 'xgboost'")."""
    lines = stderr.splitlines()
    said = [line for line in lines if line.startswith("ERROR:")]
    if said:
        return said[-1]
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        raised = [line for line in lines if line.strip() and not line.startswith((" ", "\t"))]
        return raised[-1] if raised else ""
    for index, line in enumerate(lines):  # a file that does not compile: Python names it, with no traceback
        if line.startswith(("SyntaxError: ", "IndentationError: ", "TabError: ")):
            where = [re.match(r'\s*File "(.+)", line (\d+)', earlier) for earlier in lines[:index]]
            found = [m for m in where if m]
            return f"{found[-1].group(1)}, line {found[-1].group(2)}: {line}" if found else line
    return ""


def submission_problem(path: Path) -> str | None:
    """What is wrong with a submission given to the runner, before anything runs: it must be a
    folder or a readable zip, as Codabench takes a zip."""
    if path.is_dir():
        links = [p for p in path.rglob("*") if p.is_symlink()]
        if links:
            return (f"submission {path} holds a link ({links[0].relative_to(path)} -> {links[0].readlink()}); "
                    "Codabench takes a zip of files: put the file itself there")
        return None
    if not path.is_file():  # a named pipe or a device: reading it could wait forever
        return f"submission {path} is neither a folder nor a file (a pipe or a device?): pass a folder or a zip"
    if not zipfile.is_zipfile(path):
        if path.suffix.lower() != ".zip":
            return (f"submission {path} is a single file, not a folder or a zip: pass the folder that holds it, "
                    f"or zip it first (python -m zipfile -c submission.zip {path.name})")
        return f"submission {path} is not a zip file (it may be truncated or something else renamed .zip)"
    try:
        with zipfile.ZipFile(path) as archive:
            return _unpacking_problem(path, archive.infolist()) or _damaged(path, archive.testzip())
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, ValueError) as exc:
        return f"submission {path} cannot be read as a zip ({exc})"


def _unpacking_problem(path: Path, entries: list[zipfile.ZipInfo]) -> str | None:
    if len(entries) > MAX_ENTRIES:
        return f"submission {path} holds {len(entries):,} files (limit {MAX_ENTRIES:,}): zip only what the submission needs"
    unpacked = sum(entry.file_size for entry in entries)
    room = min(MAX_UNPACKED, shutil.disk_usage(tempfile.gettempdir()).free)
    if unpacked > room:
        packed = max(1, path.stat().st_size)
        return (f"submission {path} unpacks to {human(unpacked)} ({unpacked / packed:,.0f} times its size), more than "
                f"the {human(room)} a local run allows: zip only what the submission needs")
    return None


def _damaged(path: Path, name: str | None) -> str | None:
    return f"submission {path}: {name!r} is damaged inside the zip; zip the submission again" if name else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", default=None, help="phase name (prefix is enough) or index (default: the first)")
    parser.add_argument("--submission", type=Path, default=None, help="submission folder or zip (default: the sample)")
    parser.add_argument("--python", default=sys.executable, help="Python that runs the programs (local engine)")
    parser.add_argument("--engine", choices=ENGINES, default=default_engine(),
                        help="local: this machine's Python; docker or podman: the competition's docker_image, like the worker")
    parser.add_argument("--network", choices=NETWORKS, default=default_network(),
                        help="with docker or podman: on, as Codabench's worker by default; off, as a worker that sets "
                             "COMPETITION_CONTAINER_NETWORK_DISABLED")
    parser.add_argument("--pull", choices=PULLS, default=default_pull(),
                        help="with docker or podman: always pull the image before each step, as the worker does; never: "
                             "use the image here (when you know it is published)")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs", help="where run folders are kept")
    parser.add_argument("--quiet", action="store_true", help="do not echo the programs' output")
    args = parser.parse_args(argv)
    try:
        competition = load_competition()
        phase = find_phase(competition, args.phase if args.phase is not None else "0")
        args.submission = args.submission or default_submission(competition)
    except BundleError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    if not args.submission.exists():
        print(f"ERROR: submission {args.submission} does not exist; pass a folder or a zip with --submission", file=sys.stderr)
        return 2
    problem = submission_problem(args.submission)
    if problem:
        print(f"ERROR: {problem}", file=sys.stderr)
        return 2
    missing = [str(t.input_data) for t in phase.tasks if t.input_data and not t.input_data.exists()]
    if missing:
        print(f"ERROR: {missing[0]} does not exist; run `make data` (python tools/prepare_data.py) first", file=sys.stderr)
        return 2

    image = competition.get("docker_image")
    # The steps run in a folder outside the bundle, on copies of what the worker mounts: a submission
    # finds no path to the bundle's reference data from where it runs (only a container hides it
    # completely: see README, "How the local runner mimics Codabench"). The run is kept in runs/.
    scratch = Path(tempfile.mkdtemp(prefix="codabench-run-"))
    try:
        executor = make_executor(args.engine, scratch, image, python=args.python, echo=None if args.quiet else sys.stdout,
                                 network=args.network, pull=args.pull)
    except EngineError as exc:  # nothing ran: nothing to keep
        shutil.rmtree(scratch, ignore_errors=True)
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    workspace = new_run_folder(args.runs, re.sub(r"[^\w.-]+", "-", f"{phase.name.lower()}-{args.submission.stem}"))
    where = "" if args.engine == "local" else f" in {image} ({args.engine})" + (
        "; no network (NETWORK=off)" if args.network == "off" else "") + (
        "; the image here, not pulled (PULL=never)" if args.pull == "never" else "")
    print(f"Running {args.submission} on phase {phase.name!r}{where}; the run is kept in {workspace}")
    own_programs = template_programs(ROOT)  # this template's, tested on both
    gap = library_gap(args.python, image) if args.engine == "local" and not own_programs else None
    if gap:
        print(f"note: {gap}", flush=True)
    columns = leaderboard_columns(competition)
    try:
        runs = run_phase(phase, args.submission, scratch, executor, columns, progress=lambda m: print(m, flush=True))
    except EngineError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nInterrupted; what the run wrote so far is kept in {workspace}", file=sys.stderr)
        return 130
    finally:
        for child in scratch.iterdir():
            shutil.move(str(child), workspace / child.name)
        scratch.rmdir()

    def kept(path: Path | None) -> Path | None:  # where a step's folder is now, in runs/
        return workspace / path.relative_to(scratch) if path else None

    runs = [replace(run, prediction_output=kept(run.prediction_output), scoring_output=kept(run.scoring_output)) for run in runs]

    for run in runs:
        print(f"\n{run.task}: {run.status}")
        if run.status == "Finished":
            print(format_scores(run.scores, columns))
        else:
            print(f"  {run.message}")
            cause = run.cause or last_error_line(run.scoring_stderr) or last_error_line(run.ingestion_stderr)
            if cause:
                print(f"  {cause}")
        if run.detailed_results:
            print(f"  detailed results: {run.detailed_results}")
    return 0 if all(run.status == "Finished" for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
