"""Scale-out on a private queue, measured on Codabench's own site, queues and compute worker.

    python tests/scale_out.py [--submissions 12] [--sleep 20] [--workers 1,2,4] [--workdir DIR]

Needs what the site tier needs (tests/codabench_site.py: CODABENCH_SITE_PYTHON, CODABENCH_WORKER_PYTHON,
docker, PostgreSQL, RabbitMQ, Redis). What it does, as an organizer would:
1. starts Codabench's site without any compute worker, and creates a private queue through its API;
2. bakes the template with that queue's vhost, `make data`, `make worker WORKERS=<most>` (the broker URL piped
   in) and `make upload`;
3. for each number of workers: starts them from worker/.env as worker/compose.yaml would (Codabench's worker
   code, outside a container: the worker image is out of reach here), uploads the submissions (a copy of
   the baseline whose model sleeps --sleep seconds, so that the machine's 2 cores are not what is measured),
   creates them all at once, and waits for the last score; then stops the workers.
It prints, per number of workers, the wall time from the first submission to the last score, the time per
submission, and the speed-up against one worker measured in the same run (the floor), beside the ideal
(the workers' count); and checks that every submission finished once: one score per column, each of its two
steps received by exactly one worker.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from codabench_site import CodabenchSite

TEMPLATE = HERE.parent
RECEIVED = re.compile(r"Task compute_worker_run\[[^\]]+\] received")
RUN_OF = re.compile(r'"id": (\d+),\s*"is_scoring": (true|false)')


def make(bundle: Path, *arguments: str, env: dict, stdin: str | None = None, timeout: int = 1200) -> str:
    done = subprocess.run(["make", "--no-print-directory", *arguments, f"PYTHON={sys.executable}"], cwd=bundle, env=env,
                          input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise SystemExit(f"make {' '.join(arguments)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout + done.stderr


def bake(workdir: Path, vhost: str) -> Path:
    start = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400))
    subprocess.run([sys.executable, "-m", "cookiecutter", str(TEMPLATE), "--no-input", "-o", str(workdir), "-f",
                    f"start_date={start}", f"queue={vhost}", "title=Scale Out"], check=True, capture_output=True)
    bundle = workdir / "scale_out"
    competition = bundle / "competition.yaml"  # an organizer's own limits: dozens of submissions a day here
    text = re.sub(r"max_submissions_per_day: \d+", "max_submissions_per_day: 1000", competition.read_text(encoding="utf-8"))
    competition.write_text(re.sub(r"max_submissions: \d+", "max_submissions: 1000", text), encoding="utf-8")
    return bundle


def sleepy_submission(bundle: Path, seconds: float, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(bundle / "starting_kit" / "sample_code_submission", target)
    model = target / "model.py"
    model.write_text(f"import time\ntime.sleep({seconds})  # a slow model: the worker, not the CPU, is the limit\n"
                     + model.read_text(encoding="utf-8"), encoding="utf-8")
    return target


def steps_received(site: CodabenchSite, names: list[str]) -> dict[tuple[int, bool], int]:
    """(submission id, is_scoring) -> how many times a worker received that step."""
    counts: dict[tuple[int, bool], int] = {}
    for name in names:
        log = re.sub(r"\x1b\[[0-9;]*m", "", site.log(name))
        for match in RUN_OF.finditer(log):
            key = (int(match.group(1)), match.group(2) == "true")
            counts[key] = counts.get(key, 0) + 1
    return counts


def measure(site: CodabenchSite, client, bundle: Path, phase: int, archive: Path, workers: int, submissions: int) -> dict:
    hostnames = [f"scale{workers}-w{n}" for n in range(1, workers + 1)]
    started_workers = time.monotonic()
    names = site.start_workers(bundle / "worker" / ".env", hostnames)
    ready = time.monotonic() - started_workers
    keys = [client.upload_file(archive, "submission", f"sleepy-{workers}-{n}-{time.time()}")[0] for n in range(submissions)]
    started = time.monotonic()
    ids = [int(client.call("POST", "/api/submissions/", {"phase": phase, "data": key}, repeatable=False, ok=(201,))["id"])
           for key in keys]
    finished: dict[int, float] = {}
    states: dict[int, dict] = {}
    while len(finished) < len(ids):
        for one in ids:
            if one in finished:
                continue
            state = client.get(f"/api/submissions/{one}/")
            if state["status"] in ("Failed", "Cancelled") or (state["status"] == "Finished" and state.get("scores")):
                finished[one], states[one] = time.monotonic() - started, state
        if time.monotonic() - started > 3600:
            raise SystemExit(f"{len(ids) - len(finished)} submissions did not finish within an hour")
        time.sleep(0.5)
    for name in names:
        site.stop_worker(name)
    deadline = time.monotonic() + 120
    while any(site.worker_running(name) for name in names) and time.monotonic() < deadline:
        time.sleep(0.2)
    received = steps_received(site, names)
    problems = []
    for one in ids:
        state = states[one]
        columns = [score["column_key"] for score in state.get("scores") or []]
        if state["status"] != "Finished":
            problems.append(f"submission {one} {state['status']}: {state.get('status_details')}")
        if len(columns) != len(set(columns)):
            problems.append(f"submission {one} has duplicated scores: {columns}")
        for scoring in (False, True):
            if received.get((one, scoring), 0) != 1:
                problems.append(f"submission {one}'s {'scoring' if scoring else 'prediction'} step was received "
                                f"{received.get((one, scoring), 0)} times")
    return {"workers": workers, "ready": ready, "wall": max(finished.values()), "first": min(finished.values()),
            "problems": problems}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=12)
    parser.add_argument("--sleep", type=float, default=20.0)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/codabench-scale-out"))
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    with CodabenchSite(args.workdir / "site", compute_workers=0) as site:
        token = site.token("scale-organizer")
        vhost, broker = site.create_queue(token, "scale-out")
        bundle = bake(args.workdir, vhost)
        env = {**os.environ, "CODABENCH_TOKEN": token, "XDG_CONFIG_HOME": str(args.workdir / "config")}
        env.pop("CODABENCH_BROKER_URL", None)
        make(bundle, "sync", env=env)  # the pages say the limits
        make(bundle, "data", env=env)
        make(bundle, "worker", f"WORKERS={max(counts)}", "START=0", env=env, stdin=broker + "\n")
        make(bundle, "upload", f"CODABENCH={site.url}", env=env)
        record = json.loads((bundle / ".codabench" / "live.json").read_text())[site.url]
        sys.path.insert(0, str(bundle / "tools"))
        from codabench_client import Codabench
        from zips import zip_folder

        client = Codabench(site.url, token)
        archive = zip_folder(sleepy_submission(bundle, args.sleep, args.workdir / "sleepy"), args.workdir / "sleepy.zip")
        phase = record["phases"]["Development"]
        results = []
        for workers in counts:
            print(f"{workers} worker(s), {args.submissions} submissions sleeping {args.sleep:g} s...", file=sys.stderr, flush=True)
            results.append(measure(site, client, bundle, phase, archive, workers, args.submissions))
    floor = results[0]
    print(f"\nScale-out on one private queue: {args.submissions} submissions whose model sleeps {args.sleep:g} s, "
          f"Codabench's worker ({os.cpu_count()} cores here)")
    print("| workers | workers ready | first score | last score | per submission | speed-up vs "
          f"{floor['workers']} worker | ideal |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['workers']} | {r['ready']:.1f} s | {r['first']:.0f} s | {r['wall']:.0f} s | "
              f"{r['wall'] / args.submissions:.1f} s | {floor['wall'] / r['wall']:.2f}x | "
              f"{r['workers'] / floor['workers']:.0f}x |")
    problems = [p for r in results for p in r["problems"]]
    print("\nEvery submission finished once (one score per column; each step received by one worker)."
          if not problems else "\nPROBLEMS:\n" + "\n".join(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
