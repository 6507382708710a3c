"""Can this machine serve the competition's queue? `make worker-check [ENV_FILE=path] [PHASE=first phase]`.

Checks, each problem one line naming the file and the key, and the fix (the broker's password is never shown):
1. the worker's `.env` (worker/.env, written by `make worker`, or ENV_FILE=path, one you already have) and the
   compose file beside it, against the rules of tools/worker_rules.py (Codabench's worker code and the
   failures its organizers met: a queue by name, a URL pasted twice, HOST_DIRECTORY, BROKER_USE_SSL=False...);
2. the broker: it answers, speaks TLS exactly when BROKER_USE_SSL says so, takes the user and password and
   opens the queue's vhost (an AMQP login, nothing published or consumed);
3. this machine: the container engine answers, the competition's image is pulled as the worker pulls it
   before every step, the disk under HOST_DIRECTORY has room for it, and with USE_GPU the GPU is visible
   inside the image through the CDI device the worker asks for;
4. the baseline, run through Codabench's own compute worker code (tools/worker_trial.py) in the worker
   image of worker/compose.yaml, with this .env, /codabench and the engine's socket: the competition's image
   pulled, both steps run in containers, the scores posted, before any real submission reaches the queue.
   CODABENCH_WORKER_PATH (folders with compute_worker.py and its logs_loguru.py) and CODABENCH_WORKER_PYTHON
   run that same code outside a container instead: the template's tests do, where the image is out of reach.
Exit 0 when the machine can serve the competition; 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from broker import amqp_login
from bundle import ROOT, BundleError, find_phase, first_phase_name, load_competition
from executors import EngineError, PullFailed, last_line, pull_image
from run_local import default_submission
from worker_rules import (
    GPU_DEVICE,
    HOST_DIRECTORY,
    WORKER_IMAGE,
    WORKER_TAG,
    Problem,
    compose_problems,
    env_problems,
    read_env,
    redact,
)
from yaml_rules import UUID
from zips import zip_folder

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
TRIAL = Path(__file__).with_name("worker_trial.py")
TRIAL_TIMEOUT_PADDING = 1800  # seconds beyond the phase's time limit, twice (two steps), for pulls and files
GIB = 1024**3
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}  # docker info says the kernel's name, inspect Go's
# What `info` calls the engine's version and the machine's architecture (Go templates' field paths).
INFO_FIELDS = {"docker": ("ServerVersion", "Architecture"), "podman": ("Version.Version", "Host.Arch")}
CDI_SINCE = {"docker": (25,), "podman": (5, 4, 2)}  # the versions that hand a CDI device to a container (GPUs)


class Report:
    """Prints each finding as it comes, never with the broker's password (`secret`: the URL it is in)."""

    def __init__(self) -> None:
        self.errors = 0
        self.secret = ""

    def problem(self, problem: Problem) -> None:
        self.errors += problem.error
        print(redact(str(problem), self.secret), flush=True)

    def add(self, where: str, message: str, fix: str, error: bool = True) -> None:
        self.problem(Problem(where, message, fix, error))

    def ok(self, line: str) -> None:
        print(redact(f"ok: {line}", self.secret), flush=True)


# -- this machine --------------------------------------------------------------------------------
def engine_of(env: dict[str, str]) -> str:
    return env.get("CONTAINER_ENGINE_EXECUTABLE", "docker").lower()


def run_quietly(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return subprocess.CompletedProcess(argv, 127, "", f"{argv[0]}: command not found")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", f"`{' '.join(argv[:2])}` did not answer in {timeout:.0f} s")


def fields(*names: str) -> str:
    """A Go template for the engine's --format that prints these fields, in double braces (written as \\x7b and
    \\x7d: the template's checks read double braces in a shipped file as markup left behind)."""
    return " ".join(f"\x7b\x7b.{name}\x7d\x7d" for name in names)


def check_machine(env: dict[str, str], image: str, report: Report) -> bool:
    """Engine, image, disk and GPU; True when the engine and the image are there (the trial can run)."""
    engine = engine_of(env)
    info = run_quietly([engine, "info", "--format", fields(*INFO_FIELDS[engine])], timeout=60)
    if info.returncode != 0:
        report.add(f"this machine: {engine}", f"does not answer ({last_line(info.stderr)}): the worker starts every "
                   "submission through it", f"install and start {engine}, and let this user use it")
        return False
    version, machine_arch = (info.stdout.split() + ["", ""])[:2]
    report.ok(f"{engine} {version} answers")
    started = time.monotonic()
    try:
        pull_image(engine, image, echo=sys.stdout)
    except PullFailed as error:
        report.add(f"competition.yaml: docker_image {image}", error.reason, error.fix)
        return False
    except EngineError as error:
        report.add(f"this machine: {engine}", str(error), f"start {engine}")
        return False
    inspected = run_quietly([engine, "image", "inspect", "--format", fields("Size", "Architecture"), image])
    size, arch = (inspected.stdout.split() + ["", ""])[:2]
    image_bytes = int(size) if size.isdigit() else 0
    if arch and machine_arch and ARCHITECTURES.get(arch, arch) != ARCHITECTURES.get(machine_arch, machine_arch):
        report.add(f"competition.yaml: docker_image {image}", f"is built for {arch}, and this machine is {machine_arch}: "
                   "every program would fail with 'exec format error' (Codabench #1828)",
                   f"use a tag of the image built for {machine_arch} (most workers are amd64)")
        return False
    report.ok(f"{image} pulled as the worker pulls it before every step ({time.monotonic() - started:.0f} s, "
              f"{image_bytes / GIB:.1f} GiB)")
    check_disk(env, image_bytes, report)
    if env.get("USE_GPU", "").lower() == "true":
        return check_gpu(engine, version, env.get("GPU_DEVICE") or GPU_DEVICE, image, report)
    return True


def check_disk(env: dict[str, str], image_bytes: int, report: Report) -> None:
    folder = Path(env.get("HOST_DIRECTORY") or HOST_DIRECTORY)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    cache = float(env.get("MAX_CACHE_DIR_SIZE_GB") or 10) * GIB
    wanted = 2 * image_bytes + cache + 5 * GIB  # a new image beside the old one, the data cache, the runs
    if free < image_bytes:
        report.add(f"this machine: {folder}", f"has {free / GIB:.1f} GiB free, less than the image's "
                   f"{image_bytes / GIB:.1f} GiB: the next pull fails (Codabench #1845)",
                   "free disk (`docker system prune -af`), or add some")
    elif free < wanted:
        report.add(f"this machine: {folder}", f"has {free / GIB:.1f} GiB free; the image, a new version of it, the "
                   f"data cache and the runs want about {wanted / GIB:.0f} GiB",
                   "free disk, and prune daily (docs/compute-workers.md)", error=False)
    else:
        report.ok(f"{free / GIB:.0f} GiB free under {folder}")


def check_gpu(engine: str, version: str, device: str, image: str, report: Report) -> bool:
    """The worker hands submissions the GPU as the CDI device GPU_DEVICE (compute_worker.py:984-1000); False when no
    submission would see it."""
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:3])
    if numbers and numbers < CDI_SINCE[engine]:
        report.add(f"this machine: {engine} {version}", "cannot hand a GPU to a container as a CDI device, which is how "
                   "Codabench's worker asks for it", f"use {engine} {'.'.join(map(str, CDI_SINCE[engine]))} or later "
                   "(docs/compute-workers.md, GPUs)")
        return False
    done = run_quietly([engine, "run", "--rm", "--device", device, "--entrypoint", "nvidia-smi", image, "-L"], timeout=300)
    if done.returncode == 0 and "GPU" in done.stdout:
        report.ok(f"the GPU is visible inside {image}: {last_line(done.stdout)}")
        return True
    if "executable file not found" in done.stderr or "no such file" in done.stderr.lower():
        report.add(f"competition.yaml: docker_image {image}", "has no nvidia-smi, so the GPU could not be looked for "
                   "inside it", "use a CUDA image such as codalab/codalab-legacy:gpu310", error=False)
        return True
    report.add(f"this machine: GPU {device}", f"is not visible inside {image} ({last_line(done.stderr or done.stdout)})",
               "install the NVIDIA Container Toolkit, run `sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`, "
               "and enable CDI in the engine (docs/compute-workers.md, GPUs)")
    return False


# -- the baseline through the worker's code -------------------------------------------------------------
def trial_plan(folder: Path, phase_name: str, competition: dict) -> dict:
    phase = find_phase(competition, phase_name)
    task = phase.tasks[0]
    files = {"submission": zip_folder(default_submission(competition), folder / "submission.zip"),
             "scoring_program": zip_folder(task.scoring_program, folder / "scoring_program.zip")}
    for name in ("ingestion_program", "input_data", "reference_data"):
        path = getattr(task, name)
        if path is not None:
            files[name] = zip_folder(path, folder / f"{name}.zip")
    shutil.copy2(TRIAL, folder / TRIAL.name)
    declared = next((t for t in competition.get("tasks") or [] if isinstance(t, dict) and t.get("index") == task.index), {})
    return {"docker_image": competition["docker_image"], "execution_time_limit": phase.execution_time_limit,
            "detailed_results": bool(competition.get("enable_detailed_results")),
            "ingestion_only_during_scoring": bool(declared.get("ingestion_only_during_scoring")), "files": {k: str(v) for k, v in files.items()},
            "report": str(folder / "report.json"), "reference": str(task.reference_data) if task.reference_data else ""}


def trial_command(env_path: Path, env: dict[str, str], worker_image: str, folder: Path) -> tuple[list[str], dict, str]:
    """(argv, environment, cwd) that run worker_trial.py with the worker's code: in its image, or outside it."""
    plan = str(folder / "plan.json")
    path = os.environ.get("CODABENCH_WORKER_PATH")
    if path:
        folders = [p for p in path.split(os.pathsep) if p]
        python = os.environ.get("CODABENCH_WORKER_PYTHON") or sys.executable
        environment = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        environment.update(env, PYTHONPATH=os.pathsep.join(folders), PYTHONUNBUFFERED="1")
        return [python, str(folder / TRIAL.name), plan], environment, folders[0]
    engine = engine_of(env)
    socket_path = (env.get("CONTAINER_SOCKET") or "").removeprefix("unix://")
    host_socket = "/var/run/docker.sock" if engine == "docker" else f"/run/user/{os.getuid()}/podman/podman.sock"
    # The worker image keeps compute_worker.py at / (logs_loguru.py beside its Python, in /.venv/bin; /app in
    # Codabench's own compose, which mounts the code there): the trial imports it from any of them.
    argv = [engine, "run", "--rm", "--name", f"codabench-worker-check-{os.getpid()}", "--env-file", str(env_path),
            "-e", "PYTHONPATH=/:/app:/.venv/bin", "-v", f"{env.get('HOST_DIRECTORY') or HOST_DIRECTORY}:/codabench",
            "-v", f"{host_socket}:{socket_path or host_socket}", "-v", f"{folder}:{folder}", "-w", "/",
            "--entrypoint", "python", worker_image, str(folder / TRIAL.name), plan]
    return argv, dict(os.environ), str(folder)


def run_trial(env_path: Path, env: dict[str, str], worker_image: str, competition: dict, phase: str, report: Report) -> None:
    work = ROOT / "runs" / "worker-check"
    work.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="trial-", dir=work))
    try:
        plan = trial_plan(folder, phase, competition)
        (folder / "plan.json").write_text(json.dumps(plan, indent=1), encoding="utf-8")
        argv, environment, cwd = trial_command(env_path, env, worker_image, folder)
        where = "outside a container (CODABENCH_WORKER_PATH)" if "CODABENCH_WORKER_PATH" in os.environ else f"in {worker_image}"
        print(f"Running the baseline on {phase} through Codabench's compute worker code {where}...", flush=True)
        started = time.monotonic()
        timeout = 2 * plan["execution_time_limit"] + TRIAL_TIMEOUT_PADDING
        try:
            done = subprocess.run(argv, env=environment, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            if argv[1:3] == ["run", "--rm"]:  # the client is gone, not its container
                run_quietly([argv[0], "rm", "-f", argv[4]])
            report.add("the worker trial", f"did not end within {timeout} s", f"look at `{engine_of(env)} ps` for the "
                       "submission's containers it left")
            return
        except FileNotFoundError as error:
            report.add("the worker trial", f"could not start ({error})", "install the container engine")
            return
        seconds = time.monotonic() - started
        result = Path(plan["report"])
        if done.returncode != 0 or not result.is_file():
            report.add("the worker trial", f"Codabench's worker code did not run ({last_line(done.stderr)})",
                       f"check that {worker_image} can be pulled here (`docker pull {worker_image}`)")
            return
        judge_trial(json.loads(result.read_text(encoding="utf-8")), plan, seconds, report)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def judge_trial(result: dict, plan: dict, seconds: float, report: Report) -> None:
    statuses = [e for e in result["events"] if e.get("status")]
    scores = next((e["scores"] for e in reversed(result["events"]) if "scores" in e), None)
    failed = next((e for e in statuses if e["status"] == "Failed"), None)
    if failed is not None or not statuses or statuses[-1]["status"] != "Finished" or not scores:
        why = (failed or {}).get("details") or (statuses[-1]["status"] if statuses else "no status at all")
        logs = [text.strip().splitlines()[-1] for name, text in result.get("logs", {}).items() if "stderr" in name and text.strip()]
        report.add("the worker trial", f"the baseline ended {why!r} on Codabench's worker here"
                   + (f"; its stderr ends: {logs[-1]}" if logs else ""),
                   "fix what it names; the same would happen to every submission on this machine")
        return
    shown = ", ".join(f"{k} {v:.6g}" if isinstance(v, (int, float)) else f"{k} {v}" for k, v in scores.items())
    report.ok(f"the baseline ran through Codabench's worker code in {seconds:.0f} s: {shown}")
    baseline = Path(plan["reference"]) / "baseline.json"
    if baseline.is_file():
        expected = json.loads(baseline.read_text(encoding="utf-8"))["datasets"]
        several = len(expected) > 1
        differ = [f"{key} {scores[key]:.6g} (make data: {value:.6g})"
                  for dataset, values in expected.items() for metric, value in values.items()
                  if (key := f"{metric}_{dataset}" if several else metric) in scores
                  and isinstance(scores[key], (int, float)) and not math.isclose(scores[key], value, rel_tol=1e-6, abs_tol=1e-9)]
        if differ:
            report.add("the worker trial", f"scores differ from the baseline's in data/: {'; '.join(differ)}",
                       "the image's libraries differ from this machine's? make run ENGINE=docker runs in the image", error=False)
        else:
            report.ok("the scores equal the baseline's in data/ (make data)")


# -- main ----------------------------------------------------------------------------------------
def compose_beside(env_path: Path) -> Path | None:
    return next((env_path.parent / name for name in COMPOSE_NAMES if (env_path.parent / name).is_file()), None)


def check(env_path: Path, phase: str, report: Report, machine: bool = True) -> None:
    try:
        competition = load_competition(ROOT)
        find_phase(competition, phase)
    except BundleError as error:
        report.add("competition.yaml", str(error), "fix it, then run make worker-check again")
        return
    queue = competition.get("queue")
    image = str(competition.get("docker_image") or "")
    if not queue:
        report.add("competition.yaml: queue", "is missing: submissions go to the public queue, never to these workers",
                   "add `queue: '<the vhost of your queue>'` and upload the competition")
    elif not isinstance(queue, str) or not UUID.fullmatch(queue):
        report.add("competition.yaml: queue", f"{queue!r} is not a vhost", "copy it from Queue Management, quoted")
    if env_path.is_dir():
        report.add(str(env_path), "is a folder", "give the .env file itself (ENV_FILE=path/to/.env)")
        return
    if not env_path.is_file():
        report.add(str(env_path), "not found", "run `make worker` (it writes worker/.env), or give ENV_FILE=path")
        return
    env, problems = read_env(env_path)
    report.secret = env.get("BROKER_URL", "")
    if os.name == "posix" and env_path.is_file() and env_path.stat().st_mode & 0o077:
        problems.append(Problem(env_path.name, "can be read by other users of this machine, and its BROKER_URL is your "
                                "queue's password", f"run `chmod 600 {env_path}`", error=False))
    vhost = queue if isinstance(queue, str) and UUID.fullmatch(queue) else None
    problems += env_problems(env, where=env_path.name, queue=vhost, image=image)
    compose_path = compose_beside(env_path)
    compose, worker_image = None, f"{WORKER_IMAGE}:{WORKER_TAG}"
    if compose_path is not None:
        try:
            compose = yaml.safe_load(compose_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            problems.append(Problem(compose_path.name, f"is not readable YAML ({str(error).splitlines()[0]})",
                                    "write it again with make worker"))
        else:
            problems += compose_problems(compose, env, where=compose_path.name, env_name=env_path.name)
            services = compose.get("services") if isinstance(compose, dict) else None
            images = [s.get("image") for s in (services or {}).values() if isinstance(s, dict) and s.get("image")]
            worker_image = str(images[0]) if images else worker_image
    for problem in problems:
        report.problem(problem)
    if not problems:
        report.ok(f"{env_path.name} and {compose_path.name} follow every rule" if compose_path else
                  f"{env_path.name} follows every rule (no compose file beside it)")
    if report.errors or not machine:
        return
    why = amqp_login(env["BROKER_URL"], tls=bool(env.get("BROKER_USE_SSL")))
    if why:
        about_tls = "TLS" in why
        report.add(f"{env_path.name}: {'BROKER_USE_SSL' if about_tls else 'BROKER_URL'}", why,
                   "write BROKER_USE_SSL=True only for a broker that speaks TLS (make worker asks it)" if about_tls
                   else "copy the URL again from Codabench's Queues page (the eye icon)")
        return
    report.ok(f"the broker took the login and opened the queue's vhost{' over TLS' if env.get('BROKER_USE_SSL') else ''}")
    if check_machine(env, image, report):
        run_trial(env_path, env, worker_image, competition, phase, report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-file", type=Path, default=Path(os.environ.get("MK_ENV_FILE") or ROOT / "worker" / ".env"))
    parser.add_argument("--phase", default=os.environ.get("MK_PHASE") or first_phase_name())
    parser.add_argument("--static", action="store_true", help="check the files only: no broker, engine or trial")
    args = parser.parse_args(argv)
    report = Report()
    env_path = args.env_file.expanduser()
    if not env_path.is_absolute():
        env_path = Path.cwd() / env_path
    try:
        check(env_path, args.phase, report, machine=not args.static)
    except KeyboardInterrupt:
        print("\nERROR: stopped", file=sys.stderr)
        return 1
    if report.errors:
        print(f"{report.errors} problem(s): this machine cannot serve the competition's queue yet.", file=sys.stderr)
        return 1
    print("This machine can serve the competition's queue." if not args.static else "The files follow every rule.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
