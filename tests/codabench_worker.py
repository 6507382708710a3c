"""Run Codabench's own compute worker on one submission through a baked bundle's phase.

    run = run_codabench_worker(bundle, "Development", submission, workdir, python)
    run.statuses      # [("prediction", "Running", "ingestion_hostname-..."), ..., ("scoring", "Finished", None)]
    run.scores        # what the worker POSTed to upload_submission_scores
    run.prediction_output, run.scoring_output, run.logs, run.detailed_results, run.worker_log

What is real here:
- the worker: `compute_worker/compute_worker.py` (with its `celery_config.py` and the site's
  `src/settings/logs_loguru.py`) extracted unmodified from the Codabench source snapshot in
  ../shared/vendor beside the checkout (or $CODABENCH_SOURCE_TARBALL), imported under its own Python
  (`python`, normally $CODABENCH_WORKER_PYTHON: a venv with the worker's pins) and called
  through its celery task `run_wrapper`, synchronously, once per step as the site queues them;
- the container engine it talks to (dockerd by default), and the image pull it makes before
  every step (here served by dockerd's registry mirror when Docker Hub is out of reach);
- /codabench: the worker's BASE_DIR is hard-coded, so runs and its data cache live there, and
  HOST_DIRECTORY is /codabench too (the worker runs on the host, not in a container).

What stands in: the site. A small HTTP server in the worker's process (started by the driver
below) serves the task's zips at signed-looking URLs, stores what the worker PUTs (output zips,
logs, detailed results), answers the PATCH of `{api}/submissions/{id}/` and the POST of
`{api}/upload_submission_scores/{id}/` (checking the submission's secret, as the site does),
and accepts the worker's websockets on the same host and port, with the bundle's own stand-in
(tools/worker_trial.serve_websocket; the worker derives their URL from the API URL; if one fails
to connect, every exit code it reports becomes 1). The run
arguments are built as the site's `_send_to_compute_worker` builds them
(src/apps/competitions/tasks.py:120-237), on the default queue (time limit capped at 600 s),
and the scoring step is run when the prediction step PATCHes status "Scoring", as the site's
submission serializer queues it. Every request the site got is kept in `WorkerRun.requests`.

Only the first task of the phase is run (a multi-task phase makes one child submission per task
on Codabench). Nothing of Codabench's code is copied here: it is extracted and imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tarfile
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# The snapshot beside the checkout (../shared/vendor), as the facts file names it; or $CODABENCH_SOURCE_TARBALL.
TARBALL = Path(os.environ.get("CODABENCH_SOURCE_TARBALL") or
               Path(__file__).resolve().parents[2] / "shared" / "vendor" / "codabench-c7dbc756.tar.gz")
BASE_DIR = Path("/codabench")  # hard-coded in the worker
REQUIREMENTS = Path(__file__).with_name("codabench-worker-requirements.txt")  # the worker's pins
PIP_LINE = f"pip install -r {REQUIREMENTS}"
# What the worker reads from its environment (compute_worker.py, celery_config.py): none is inherited.
WORKER_ENV = ("BROKER_URL", "BROKER_USE_SSL", "HOST_DIRECTORY", "CONTAINER_ENGINE_EXECUTABLE", "CONTAINER_SOCKET", "USE_GPU",
              "GPU_DEVICE", "COMPETITION_CONTAINER_NETWORK_DISABLED", "COMPETITION_CONTAINER_HTTP_PROXY",
              "COMPETITION_CONTAINER_HTTPS_PROXY", "MAX_CACHE_DIR_SIZE_GB", "CODALAB_IGNORE_CLEANUP_STEP", "LOG_LEVEL",
              "SERIALIZED", "WORKER_BUNDLE_URL_REWRITE")
DEFAULT_IMAGE = "codalab/codalab-legacy:py37"  # the site's default when competition.yaml has no docker_image
MAX_EXECUTION_TIME_LIMIT = 600  # the default queue's cap (tasks.py:117)
DETAIL_NAMES = {"prediction": ("prediction_stdout", "prediction_stderr", "prediction_ingestion_stdout",
                               "prediction_ingestion_stderr"),
                "scoring": ("scoring_stdout", "scoring_stderr", "scoring_ingestion_stdout", "scoring_ingestion_stderr")}
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class WorkerRun:
    statuses: list[tuple[str, str, str | None]]  # (step, status, status_details) of each status PATCH, in order
    scores: dict | None  # the scores POSTed to upload_submission_scores (None: none were)
    prediction_output: Path | None  # the prediction_result zip the worker PUT, unzipped (None: not PUT)
    scoring_output: Path | None  # the scoring_result zip, unzipped
    logs: dict[str, str]  # uploaded stdout/stderr files by run_args name (prediction_stdout, scoring_stderr, ...)
    detailed_results: str | None  # the last detailed_results.html PUT
    worker_log: str  # the worker process's stdout + stderr, colours removed
    requests: list[dict] = field(default_factory=list)  # every HTTP request: step, method, path, status, body/size
    websockets: list[dict] = field(default_factory=list)  # every websocket: step, path, status, messages (text)
    steps: list[dict] = field(default_factory=list)  # per step run: step, run_args, seconds, error (escaped run_wrapper)
    submission_id: int = 0
    seconds: float = 0.0

    @property
    def patches(self) -> list[dict]:
        """Bodies of every PATCH of the submission (status updates, md5, error reports)."""
        return [r["body"] for r in self.requests if r["method"] == "PATCH"]


class WorkerUnavailable(Exception):
    """The worker process did not finish its run (the message's first line says why, then its log's end)."""


def worker_problem(python: str | None, engine: str = "docker") -> str | None:
    """Why Codabench's worker cannot run here with `python`, or None when it can."""
    if not python:
        return f"set CODABENCH_WORKER_PYTHON to a Python 3.13 (the worker's pin) with its packages: {PIP_LINE}"
    if not TARBALL.is_file():
        return f"no Codabench source snapshot at {TARBALL} (set CODABENCH_SOURCE_TARBALL)"
    try:
        done = subprocess.run([python, "-c", "import celery, websockets, docker, loguru, rich, requests, yaml"],
                              capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"CODABENCH_WORKER_PYTHON={python} does not run: {error}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"CODABENCH_WORKER_PYTHON={python} lacks the worker's packages ({last}): {PIP_LINE}"
    try:
        BASE_DIR.mkdir(exist_ok=True)
        probe = BASE_DIR / f".harness-{uuid.uuid4().hex}"
        probe.mkdir()
        probe.rmdir()
    except OSError as error:
        return f"{BASE_DIR} (the worker's hard-coded BASE_DIR) is not writable: {error}"
    if shutil.which(engine) is None:
        return f"no `{engine}` command"
    info = subprocess.run([engine, "info"], capture_output=True, text=True, timeout=60, check=False)
    if info.returncode != 0:
        return f"`{engine} info` failed: {(info.stderr.strip().splitlines() or ['?'])[-1]}"
    return None


def pull_problem(image: str, engine: str = "docker") -> str | None:
    """Why `engine pull image` fails here, or None. The worker pulls before every step, even an image
    it has, and fails the submission when the pull fails: a local-only image is not enough."""
    done = subprocess.run([engine, "pull", "-q", image], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        return f"`{engine} pull {image}` fails (the worker pulls before each step): " \
               f"{(done.stderr.strip().splitlines() or ['?'])[-1]}"
    return None


def require_worker(engine: str = "docker", image: str | None = None) -> str:
    """For tests: the worker's Python from $CODABENCH_WORKER_PYTHON; skip when it cannot run (fail under CI)."""
    import pytest

    python = os.environ.get("CODABENCH_WORKER_PYTHON")
    problem = worker_problem(python, engine) or (pull_problem(image, engine) if image else None)
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run Codabench's worker: {problem}", pytrace=False)
        pytest.skip(f"Codabench's worker: {problem}")
    return python


def extract_worker(dest: Path) -> tuple[Path, Path]:
    """Extract the worker's folder and src/settings from the snapshot: (compute_worker dir, settings dir)."""
    wanted = ("codabench/compute_worker/", "codabench/src/settings/")
    with tarfile.open(TARBALL) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(wanted) and (m.isfile() or m.isdir())]
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(dest, members=members, **extra)
    return dest / "codabench" / "compute_worker", dest / "codabench" / "src" / "settings"


def _zip_folder(folder: Path, target: Path) -> Path:
    """As the site stores a bundle's folder: its contents at the zip root (shutil.make_archive)."""
    return Path(shutil.make_archive(str(target.with_suffix("")), "zip", str(folder)))


def _stored(source: Path, target: Path) -> Path:
    """A task's folder zipped, or a zip shipped as is (Codabench uploads a file as it is)."""
    if source.is_dir():
        return _zip_folder(source, target)
    if source.is_file():
        shutil.copyfile(source, target)
        return target
    raise FileNotFoundError(f"{source} is neither a folder nor a file")


def _phase_and_task(bundle: Path, phase_name: str) -> tuple[dict, dict, dict]:
    competition = yaml.safe_load((bundle / "competition.yaml").read_text(encoding="utf-8"))
    phases = [p for p in competition["phases"] if str(p.get("name", "")).lower() == phase_name.lower()]
    if not phases:
        raise KeyError(f"no phase named {phase_name!r} in {bundle / 'competition.yaml'}")
    phase = phases[0]
    tasks = {task["index"]: task for task in competition["tasks"]}
    return competition, phase, tasks[phase["tasks"][0]]


def build_run_args(competition: dict, phase: dict, task: dict, submission_id: int, secret: str,
                   files: dict[str, str]) -> dict[str, dict]:
    """The run_args of both steps, as the site's _send_to_compute_worker builds them (tasks.py:120-237).

    `files` maps the task's parts (submission, ingestion_program, ...) to stored names; URLs start
    with the placeholder {site}, which the driver replaces with its server's address.
    """
    def url(name: str, permission: str = "r") -> str:
        signature = hashlib.sha256(f"{secret}/{name}/{permission}".encode()).hexdigest()[:16]
        return f"{{site}}/storage/{submission_id}/{name}?permission={permission}&signature={signature}"

    ingestion_only_during_scoring = bool(task.get("ingestion_only_during_scoring", False))
    steps = {}
    for step in ("prediction", "scoring"):
        is_scoring = step == "scoring"
        args = {
            "user_pk": 1,
            "submissions_api_url": "{site}/api",
            "secret": secret,
            "docker_image": competition.get("docker_image") or DEFAULT_IMAGE,
            "execution_time_limit": min(MAX_EXECUTION_TIME_LIMIT, int(phase.get("execution_time_limit") or 600)),
            "id": submission_id,
            "is_scoring": is_scoring,
        }
        if not is_scoring:
            args["prediction_result"] = url("prediction_result.zip", "w")
        else:
            if competition.get("enable_detailed_results"):
                args["detailed_results_url"] = url("detailed_results.html", "w")
            args["prediction_result"] = url("prediction_result.zip", "r")
            args["scoring_result"] = url("scoring_result.zip", "w")
        if "ingestion_program" in files and ingestion_only_during_scoring == is_scoring:
            args["ingestion_program"] = url(files["ingestion_program"])
        if "input_data" in files and (not is_scoring or ingestion_only_during_scoring):
            args["input_data"] = url(files["input_data"])
        if is_scoring and "reference_data" in files:
            args["reference_data"] = url(files["reference_data"])
        args["ingestion_only_during_scoring"] = ingestion_only_during_scoring
        args["program_data"] = url(files["scoring_program"] if is_scoring else files["submission"])
        for name in DETAIL_NAMES[step]:
            args[name] = url(f"{name}.txt", "w")
        steps[step] = args
    return steps


def _unzip(archive: Path, dest: Path) -> Path | None:
    if not archive.is_file():
        return None
    with zipfile.ZipFile(archive) as z:
        z.extractall(dest)
    return dest


def _clean_up_after_killed_worker(output: str, config: dict, engine: str) -> None:
    """What a killed worker leaves: its containers, its run folders and this run's data in its cache."""
    submission_id = config["run_args"]["prediction"]["id"]
    for kind in ("ingestion", "scoring"):  # the worker's container names for this submission
        subprocess.run([engine, "rm", "-f", f"{kind}_uPK-1_sID-{submission_id}"], capture_output=True, check=False)
    for folder in BASE_DIR.glob(f"uPK-1_sID-{submission_id}__*"):
        shutil.rmtree(folder, ignore_errors=True)
    site = re.search(r"stand-in site at (http://\S+)", output)
    for args in config["run_args"].values():
        for key in ("input_data", "reference_data"):
            if site and key in args:  # the worker's cache key: sha256 of the URL without its query
                url = args[key].replace("{site}", site.group(1)).split("?")[0]
                (BASE_DIR / "cache" / hashlib.sha256(url.encode("utf8")).hexdigest()).unlink(missing_ok=True)


def run_codabench_worker(bundle: Path, phase_name: str, submission: Path, workdir: Path, python: str,
                         environment: dict[str, str] | None = None, engine: str = "docker",
                         timeout: float = 600) -> WorkerRun:
    """Run `submission` (folder or zip) through the first task of `phase_name` with Codabench's worker.

    `workdir` receives the extracted worker, the site's storage (storage/), the unzipped outputs
    (prediction_output/, scoring_output/), the driver's config and report. `environment` is added
    to the worker's (e.g. {"COMPETITION_CONTAINER_NETWORK_DISABLED": "true"}); for podman also give
    CONTAINER_SOCKET. Raises WorkerUnavailable when the worker process dies without a report.
    """
    bundle, submission, workdir = Path(bundle).resolve(), Path(submission).resolve(), Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    worker_dir, settings_dir = extract_worker(workdir / "codabench-src")
    storage = workdir / "storage"  # the site's files: what it serves and what the worker PUTs
    shutil.rmtree(storage, ignore_errors=True)
    storage.mkdir()
    (workdir / "report.json").unlink(missing_ok=True)

    competition, phase, task = _phase_and_task(bundle, phase_name)
    files = {"submission": _stored(submission, storage / "submission.zip").name}
    for part in ("ingestion_program", "scoring_program", "input_data", "reference_data"):
        if task.get(part):
            files[part] = _stored(bundle / task[part], storage / f"{part}.zip").name

    submission_id = 10**8 + secrets.randbelow(9 * 10**8)  # per run: names the worker's containers and folders
    secret = str(uuid.uuid4())
    config = {
        "worker_dir": str(worker_dir),
        "settings_dir": str(settings_dir),
        "storage": str(storage),
        "report": str(workdir / "report.json"),
        "bundle_tools": str(bundle / "tools"),
        "run_args": build_run_args(competition, phase, task, submission_id, secret, files),
    }
    (workdir / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    driver = workdir / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")

    env = {key: value for key, value in os.environ.items() if key not in WORKER_ENV}
    no_proxy = ",".join(filter(None, [env.get("NO_PROXY", ""), "127.0.0.1,localhost"]))
    env.update(NO_PROXY=no_proxy, no_proxy=no_proxy, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1",
               HOST_DIRECTORY=str(BASE_DIR), CONTAINER_ENGINE_EXECUTABLE=engine, LOG_LEVEL="INFO")
    env.update(environment or {})

    started = time.monotonic()
    process = subprocess.Popen([python, str(driver), str(workdir / "config.json")], cwd=workdir, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        output = ANSI.sub("", process.communicate()[0].decode("utf-8", "replace"))
        _clean_up_after_killed_worker(output, config, engine)
        raise WorkerUnavailable(f"the worker did not finish in {timeout} s; its log ends:\n{output[-3000:]}")
    seconds = time.monotonic() - started
    worker_log = ANSI.sub("", output.decode("utf-8", "replace"))
    report_file = workdir / "report.json"
    if not report_file.is_file():
        raise WorkerUnavailable(f"the worker process exited with {process.returncode} and no report; its log ends:\n"
                                + worker_log[-3000:])
    report = json.loads(report_file.read_text(encoding="utf-8"))

    statuses = [(r["step"], r["body"]["status"], r["body"].get("status_details"))
                for r in report["requests"] if r["method"] == "PATCH" and "status" in r["body"]]
    scores = [r["body"].get("scores") for r in report["requests"] if r["method"] == "POST" and r["status"] == 200]
    logs = {name: (storage / f"{name}.txt").read_text(encoding="utf-8", errors="replace")
            for step in DETAIL_NAMES.values() for name in step if (storage / f"{name}.txt").is_file()}
    detailed = storage / "detailed_results.html"
    return WorkerRun(
        statuses=statuses,
        scores=scores[-1] if scores else None,
        prediction_output=_unzip(storage / "prediction_result.zip", workdir / "prediction_output"),
        scoring_output=_unzip(storage / "scoring_result.zip", workdir / "scoring_output"),
        logs=logs,
        detailed_results=detailed.read_text(encoding="utf-8", errors="replace") if detailed.is_file() else None,
        worker_log=worker_log,
        requests=report["requests"],
        websockets=report["websockets"],
        steps=report["steps"],
        submission_id=submission_id,
        seconds=seconds,
    )


# The driver runs under the worker's Python: the stand-in site in threads, the worker in the main
# thread (its time limit is a SIGALRM handler). Written to the workdir as driver.py.
DRIVER = r'''"""Stand-in Codabench site, and Codabench's compute worker called once per step (see codabench_worker.py)."""
import hashlib
import json
import os
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

CONFIG = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
sys.path.insert(0, CONFIG["bundle_tools"])
from worker_trial import serve_websocket  # the bundle's stand-in for the site's websocket consumer
STORAGE = Path(CONFIG["storage"])
ARGS = CONFIG["run_args"]["prediction"]
SECRET, SUBMISSION, USER = ARGS["secret"], ARGS["id"], ARGS["user_pk"]
LOCK = threading.Lock()
REQUESTS, SOCKETS = [], []
STEP = ["-"]  # the step being run, recorded with each request


class Site(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _record(self, status, **details):
        with LOCK:
            REQUESTS.append({"step": STEP[0], "method": self.command, "path": self.path, "status": status, **details})

    def _answer(self, status, body=b"{}", content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                chunk = self.rfile.read(size)
                self.rfile.readline()
                if not size:
                    return b"".join(chunks)
                chunks.append(chunk)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _stored(self, permission):
        """The storage file a signed URL names, or None when the URL or its permission is wrong."""
        url = urlsplit(self.path)
        prefix = f"/storage/{SUBMISSION}/"
        name = url.path[len(prefix):]
        if not url.path.startswith(prefix) or not name or "/" in name:
            return None
        query = parse_qs(url.query)
        if query.get("permission") != [permission] or not query.get("signature"):
            return None
        return STORAGE / name

    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self._websocket()
        file = self._stored("r")
        if file is None or not file.is_file():
            self._record(404)
            return self._answer(404)
        data = file.read_bytes()
        self._record(200, size=len(data))
        self._answer(200, data, "application/octet-stream")

    def do_PUT(self):
        data = self._body()
        file = self._stored("w")
        if file is None:
            self._record(403, size=len(data))
            return self._answer(403)
        file.write_bytes(data)
        self._record(200, size=len(data), content_type=self.headers.get("Content-Type"))
        self._answer(200, b"")

    def do_PATCH(self):
        body = {key: values[-1] for key, values in parse_qs(self._body().decode("utf-8"), keep_blank_values=True).items()}
        status = 200 if self.path == f"/api/submissions/{SUBMISSION}/" else 404
        if status == 200 and body.get("secret") != SECRET:
            status = 403
        self._record(status, body=body)
        self._answer(status)

    def do_POST(self):
        raw = self._body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"unparsed": raw.decode("utf-8", "replace")}
        status = 200 if self.path == f"/api/upload_submission_scores/{SUBMISSION}/" else 404
        if status == 200 and body.get("secret") != SECRET:
            status = 403
        elif status == 200 and "scores" not in body:
            status = 400
        self._record(status, body=body)
        self._answer(status, b"")

    def _websocket(self):
        """The site's SubmissionIOConsumer, as the bundle's worker trial serves it: keep what is sent."""
        session = {"step": STEP[0], "path": self.path, "status": None, "messages": [], "opened": time.time(), "closed": None}
        with LOCK:
            SOCKETS.append(session)
        try:
            session["status"] = serve_websocket(self, f"/submission_input/{USER}/{SUBMISSION}/{SECRET}/",
                                                on_text=session["messages"].append)
        finally:
            session["closed"] = time.time()


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    server.daemon_threads = True
    server.block_on_close = False
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_port}"
    print(f"[harness] stand-in site at {site}", flush=True)

    sys.path[:0] = [CONFIG["worker_dir"], CONFIG["settings_dir"]]
    import compute_worker  # Codabench's worker, unmodified

    steps = []
    for step in ("prediction", "scoring"):
        if step == "scoring" and not any(r["step"] == "prediction" and r["method"] == "PATCH"
                                         and r.get("body", {}).get("status") == "Scoring" for r in REQUESTS):
            break  # the site queues the scoring step when the prediction step reports "Scoring"
        args = {key: value.replace("{site}", site) if isinstance(value, str) else value
                for key, value in CONFIG["run_args"][step].items()}
        STEP[0] = step
        print(f"[harness] {step} step", flush=True)
        started, error = time.monotonic(), None
        try:
            compute_worker.run_wrapper(args)
        except Exception:
            error = traceback.format_exc()
            print(error, flush=True)
        steps.append({"step": step, "run_args": args, "seconds": time.monotonic() - started, "error": error})
        # This run's data URLs are never fetched again: drop their entries from the worker's cache.
        for key in ("input_data", "reference_data"):
            if args.get(key):
                digest = hashlib.sha256(args[key].split("?")[0].encode("utf8")).hexdigest()
                Path(compute_worker.CACHE_DIR, digest).unlink(missing_ok=True)
    STEP[0] = "-"
    time.sleep(0.2)  # let the last websocket frames land
    with LOCK:
        report = {"site": site, "steps": steps, "requests": list(REQUESTS), "websockets": [dict(s) for s in SOCKETS]}
    Path(CONFIG["report"]).write_text(json.dumps(report, indent=1), encoding="utf-8")
    server.shutdown()


if __name__ == "__main__":
    main()
'''
