"""Run the bundle's solution through the worker-like pipeline and compare scores.json with the leaderboard.

The one contract no static check can prove: the scoring program must write a number for
every non-computed column key. A missing key leaves an empty cell (which can even rank
first), an unknown key is dropped silently, and NaN loses the whole score upload.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from bundle import BundleError, leaderboard_columns, mappings, phases
from executors import PullFailed, default_engine, default_network, default_pull, make_executor
from findings import Findings
from run_local import check_scores, run_phase


def check_scores_by_running(c: dict, root: Path, findings: Findings, python: str = sys.executable,
                            engine: str | None = None, network: str | None = None, pull: str | None = None) -> None:
    """`engine`: local (default, or $CODABENCH_ENGINE), docker or podman; `network` and `pull` as for run_local
    (default $CODABENCH_NETWORK, $CODABENCH_PULL); EngineError when it cannot run."""
    solutions = [(j, s) for j, s in mappings(c.get("solutions")) if s.get("path") and (root / str(s["path"])).exists()]
    if not solutions:
        findings.add("CB125", "solutions", "no solution to run, so the keys the scoring program writes were not compared with the leaderboard",
                     "add a baseline under `solutions:` (path + tasks)")
        return
    j, solution = solutions[0]
    try:
        phase = next(p for p in phases(c, root) if {t.index for t in p.tasks} & set(solution.get("tasks") or []))
    except (BundleError, KeyError, TypeError, StopIteration) as exc:
        findings.add("CB120", f"solutions[{j}]", f"could not find a phase that runs this solution's tasks ({exc!r})",
                     "list the solution's tasks in a phase")
        return
    columns = leaderboard_columns(c)
    phase = replace(phase, tasks=tuple(t for t in phase.tasks if t.index in solution["tasks"]))
    engine, network, pull = engine or default_engine(), network or default_network(), pull or default_pull()
    options = "" if engine == "local" else f" --engine {engine}" + (" --network off" if network == "off" else "") + (
        " --pull never" if pull == "never" else "")
    where = "" if engine == "local" else f" in {c.get('docker_image')} ({options.strip()})"
    print(f"Running solution {solution['path']} on phase {phase.name!r}{where} to read the scores it gets...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="validate_run_") as scratch:
        executor = make_executor(engine, Path(scratch), c.get("docker_image"), python=python, echo=None,
                                 network=network, pull=pull)
        try:
            executor.pull()  # the worker pulls before every step (compute_worker.py:1180)
        except PullFailed as failed:
            not_run = "" if failed.here else "; the solution was not run, so its scores were not compared either"
            findings.add("CB126" if failed.refused else "CB127", "docker_image", failed.reason + not_run, failed.fix)
            if not failed.here:
                return
            executor.pull_policy = "never"  # still compare the scores, with the image here
        for run in run_phase(phase, root / str(solution["path"]), Path(scratch), executor, columns):
            problems = check_scores(run.scores, columns) if run.scores else []
            for code, message in problems:
                findings.add(code, "leaderboards[0].columns", f"{run.task}: {message}",
                             "make the scoring program write exactly the non-computed column keys, as finite numbers")
            if run.status != "Finished" and not problems:
                detail = (run.scoring_stderr or run.ingestion_stderr).strip().splitlines()[-1:] or [""]
                said = f"; it said: {detail[0]}" if detail[0] else ""
                findings.add("CB120", f"solutions[{j}].path", f"{run.task}: {run.message}{said}",
                             f"run `python tools/run_local.py --submission {solution['path']}{options}` and fix what it reports")
