"""Submit to this bundle's competition on Codabench, as its "My Submissions" page does, and wait for the scores.

    make submit [SUBMISSION=baseline|folder|zip] [PHASE=first phase] [CODABENCH=...] [COMPETITION=id]
    python tools/submit.py [--submission baseline] [--phase first] [--server URL] [--competition ID]

The baseline (the starting kit's sample submission) is sent when SUBMISSION is not given; a folder
is zipped with its files at the root, as the worker expects. The steps: ask Codabench whether this
account may submit to the phase, upload a dataset of type submission, create the submission on
the phase, then follow its status (Submitted, Running, Scoring, Finished or Failed) and print its
scores and its place on the phase's leaderboard. A failed submission prints its status, the
reason Codabench gives and the last lines of its error logs; the command then exits non-zero.
The competition is the one `make upload` recorded in .codabench/live.json, or COMPETITION=id.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import live_record
from bundle import ROOT, BundleError, first_phase_name, load_competition
from codabench_client import FAILURES, Codabench, CodabenchError, MaybeSent, failure
from credentials import find_token
from leaderboard import leaderboard_rows, score_text
from run_local import default_submission, submission_problem
from zips import zip_folder

WAIT = 3600  # seconds: a submission queued behind others on the public queue can wait a long time
POLL = 2.0
TERMINAL = {"Finished", "Failed", "Cancelled"}
SCORES_WAIT = 30  # seconds from "Finished" to the scores on the leaderboard (a fraction of a second here)
LOG_LINES = 15


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def submission_zip(given: str | None, scratch: Path, variable: str = "SUBMISSION") -> Path:
    """The zip to send for SUBMISSION (baseline when empty): a zip as it is, a folder zipped with its files at the root;
    either checked as the runner checks a submission (run_local.submission_problem)."""
    if not given or given == "baseline":
        try:
            folder = default_submission(load_competition(ROOT))
        except BundleError as exc:
            raise CodabenchError(str(exc)) from None
        if not folder.is_dir():
            raise CodabenchError(f"no baseline at {folder.relative_to(ROOT)}: run `make data` first")
    else:
        folder = Path(given).expanduser()
        if not folder.is_absolute():
            folder = Path.cwd() / folder
        if not folder.exists():
            raise CodabenchError(f"{variable}={given}: no such file or folder (looked for {folder}; or baseline)")
        if folder.is_file() and folder.suffix.lower() != ".zip":
            raise CodabenchError(f"{variable}={given} is a file but not a .zip: give a zip or a folder (or baseline)")
    problem = submission_problem(folder)
    if problem:
        raise CodabenchError(f"{variable}={given} is not a zip Codabench can open: {problem}" if folder.is_file() else
                             f"{variable}={given} cannot be sent: {problem}")
    if folder.is_file():
        with zipfile.ZipFile(folder) as archive:
            if not any(not name.endswith("/") for name in archive.namelist()):
                raise CodabenchError(f"{variable}={given} is an empty zip")
        return folder
    target = zip_folder(folder, scratch / f"{folder.name}.zip", skip=("expected_error.txt",))
    if target.stat().st_size <= 22:  # an empty zip: its end record only
        raise CodabenchError(f"{folder} holds no files to submit")
    return target


def phase_submission_ids(client: Codabench, phase: int, file_name: str) -> set[int]:
    """Ids of the phase's top submissions (not a task's child) of this file name that this account may see."""
    answer = client.get(f"/api/submissions/?phase={phase}")
    rows = answer.get("results", []) if isinstance(answer, dict) else answer
    return {row["id"] for row in rows if not row.get("parent") and row.get("filename") == file_name}


def create_submission(client: Codabench, phase: int, key: str, file_name: str) -> int:
    """POST the submission; when its answer was lost, look for it on the site instead of submitting twice."""
    before = phase_submission_ids(client, phase, file_name)
    try:
        return int(client.call("POST", "/api/submissions/", {"phase": phase, "data": key}, repeatable=False,
                               ok=(201,))["id"])
    except MaybeSent:
        say("  the answer to the submission was lost: looking for it on the site")
        for _ in range(15):
            new = phase_submission_ids(client, phase, file_name) - before
            if len(new) == 1:
                return new.pop()
            time.sleep(POLL)
        raise CodabenchError("the submission got no answer and does not appear on the phase: look at the phase's "
                             "My Submissions on the site before submitting again") from None


def wait_for(client: Codabench, submission: int, wait: float) -> dict:
    started, last = time.monotonic(), None
    while True:
        state = client.get(f"/api/submissions/{submission}/")
        status = state.get("status")
        if status != last:
            say(f"  {status} ({time.monotonic() - started:.0f} s)")
            last = status
        if status in TERMINAL:
            return state
        if time.monotonic() - started > wait:
            hint = (" no compute worker has taken it yet (the competition's queue may be busy or have no worker)"
                    if status in ("Submitting", "Submitted") else "")
            raise CodabenchError(f"submission {submission} is still {status} after {wait / 60:.0f} min:{hint}; it goes "
                                 f"on without this command: `make leaderboard` shows it once it is scored")
        time.sleep(POLL)


def log_tails(client: Codabench, submission: int, ids: list[int]) -> list[str]:
    """The last lines of each non-empty error log of the submission (and of its children, per task)."""
    lines = []
    for one in ids:
        for log in client.get(f"/api/submissions/{one}/get_details/").get("logs") or []:
            if not log.get("name", "").endswith("stderr") or not log.get("data_file"):
                continue
            try:
                text = client.fetch(log["data_file"]).decode("utf-8", "replace")
            except CodabenchError:
                continue
            tail = [line for line in text.splitlines() if line.strip()][-LOG_LINES:]
            if tail:
                lines.append(f"  last lines of {log['name']}{f' (submission {one})' if one != submission else ''}:")
                lines.extend(f"    {line}" for line in tail)
    return lines


def submit(server: str, given: str | None, phase_name: str, *, competition: int | None = None,
           wait: float = WAIT) -> tuple[dict, int, dict]:
    """Send the submission and wait for it: (its final state, the competition, the phase)."""
    client = Codabench(server, find_token(server), say=say)
    competition, phase = live_record.competition_and_phase(client, competition, phase_name)
    allowed = client.get(f"/api/can_make_submission/{phase['id']}/")
    if not allowed.get("can"):
        raise CodabenchError(f"Codabench does not take a submission to {phase_name} from this account: "
                             f"{allowed.get('reason') or 'no reason given'}")
    with tempfile.TemporaryDirectory(prefix="codabench-submit-") as scratch:
        archive = submission_zip(given, Path(scratch))
        say(f"Submitting {archive.name} to {phase_name} of competition {competition} on {client.server}")
        name = f"{archive.stem} {time.strftime('%Y-%m-%d %H:%M:%S')} {os.getpid()}"
        key, _ = client.upload_file(archive, "submission", name)
        file_name = client.sent_name(archive)
    submission = create_submission(client, phase["id"], key, file_name)
    say(f"  submission {submission} created; waiting for the compute worker")
    return wait_for(client, submission, wait), competition, phase


def scored(client: Codabench, phase: int, ids: list[int]) -> tuple[list[dict], dict, list[dict], int | None]:
    """(the submission's scores, the board, its rows, the submission's place), once Codabench has them all.

    Codabench's worker marks a submission Finished before it posts the scores (compute_worker.py:1303, then
    run_wrapper's push_scores), so "Finished" can come a moment before the scores and the leaderboard entry.
    """
    deadline = time.monotonic() + SCORES_WAIT
    while True:
        found = {score.get("id"): score for one in ids for score in client.get(f"/api/submissions/{one}/").get("scores") or []}
        scores = list(found.values())  # a parent holds its children's scores too
        board, rows = leaderboard_rows(client, phase)
        keys = {column["key"] for task in board.get("tasks") or [] for column in task.get("columns") or []
                if not column.get("hidden")}
        place = next((row["rank"] for row in rows if set(row["ids"]) & set(ids)), None)
        if (keys <= {score.get("column_key") for score in scores} and place is not None) or time.monotonic() > deadline:
            return sorted(scores, key=lambda score: score.get("index", 0)), board, rows, place
        time.sleep(POLL / 2)


def submit_and_report(server: str, given: str | None, phase_name: str, competition: int | None = None,
                      wait: float = WAIT) -> int:
    try:
        state, competition, phase = submit(server, given, phase_name, competition=competition, wait=wait)
        client = Codabench(server, find_token(server))
        ids = [state["id"]] + list(state.get("children") or [])
        if state["status"] != "Finished":
            print(f"ERROR: submission {state['id']} {state['status']}: "
                  f"{state.get('status_details') or 'Codabench gives no reason'}", file=sys.stderr)
            for line in log_tails(client, state["id"], ids):
                print(line, file=sys.stderr)
            return 1
        scores, board, rows, place = scored(client, phase["id"], ids)
        print(f"Submission {state['id']} finished on {phase_name}:")
        for score in scores:
            print(f"  {score['column_key']}: {score_text(score['score'])}")
        if place is None:
            print(f"  not on the {phase_name} leaderboard (yet: see `make leaderboard`): a Force_Last leaderboard shows "
                  "each account's latest submission only (one sent after this one replaces it there), an Add one only "
                  "those put there on the site")
        else:
            print(f"  place {place} of {len(rows)} on the {phase_name} leaderboard ({board['title']}): "
                  f"{client.page(competition)}")
        return 0
    except KeyboardInterrupt:
        print("\nERROR: stopped waiting; a submission already created goes on (make leaderboard)", file=sys.stderr)
        return 1
    except FAILURES as error:
        return failure(server, error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=os.environ.get("MK_CODABENCH") or None)
    parser.add_argument("--submission", default=os.environ.get("MK_SUBMISSION") or None,
                        help="baseline (default), or a folder or zip")
    parser.add_argument("--phase", default=os.environ.get("MK_PHASE") or first_phase_name())
    parser.add_argument("--competition", default=os.environ.get("MK_COMPETITION") or None,
                        help="a competition id (default: the one `make upload` recorded)")
    parser.add_argument("--wait", type=float, default=WAIT, help="seconds to wait for the scores")
    args = parser.parse_args(argv)
    try:
        server = live_record.server_for(args.server)
        competition = live_record.competition_id(args.competition)
    except CodabenchError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    return submit_and_report(server, args.submission, args.phase, competition, args.wait)


if __name__ == "__main__":
    sys.exit(main())
