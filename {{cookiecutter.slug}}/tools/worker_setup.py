"""Your own Codabench compute workers for this competition's private queue: `make worker`.

    make worker [WORKERS=2] [GPU=1|each] [ENGINE=podman] [START=0] [TLS=0|1] [WORKER_IMAGE=image:tag]
    CODABENCH_BROKER_URL=... make worker      # the broker URL from the environment (CI, a script)
    echo "$BROKER_URL" | make worker          # or from standard input without a terminal

Writes worker/.env (the worker's settings, with the queue's broker URL: owner-only, git-ignored, never
zipped, never printed whole) and worker/compose.yaml (WORKERS services of Codabench's compute worker
image, pinned, with the engine's socket, /codabench as the host directory, restarts and log rotation),
checks both with the rules of tools/worker_rules.py and the broker itself (tools/broker.py: TLS, login,
vhost), then starts them with the engine's compose (docker compose, docker-compose, podman compose), or
prints the one command that does when none is here (START=0: only write). Nothing is written when a
check fails.

The queue is competition.yaml's `queue:` (its vhost); the broker URL must end with that same vhost. The
URL is asked once: a later run keeps the one in worker/.env unless one is given (the environment or
standard input), and keeps the settings it does not change (GPU, engine, the number of workers, and any
key added by hand), saying what changed. Whether the broker speaks TLS is asked of the broker
(BROKER_USE_SSL=True only then: any value of that setting turns TLS on); TLS=1 or TLS=0 decides only when
it cannot be reached from here. GPU=1 (or all) gives every worker's submissions every GPU through the CDI
device Codabench's worker requests (USE_GPU, GPU_DEVICE); GPU=each gives worker n the GPU n-1.
docs/compute-workers.md says when and how.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import select
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from broker import amqp_login, broker_speaks_tls
from bundle import ROOT, BundleError, load_competition, phases
from worker_rules import (
    DOCKER_SOCKET,
    GPU_DEVICE,
    HOST_DIRECTORY,
    KNOWN_KEYS,
    PODMAN_SOCKET,
    WORKER_IMAGE,
    WORKER_TAG,
    broker_problems,
    compose_problems,
    env_problems,
    read_env,
    redact,
    shown_url,
)
from yaml_rules import UUID

FOLDER = ROOT / "worker"
BROKER_VARIABLE = "CODABENCH_BROKER_URL"
MAX_WORKERS = 64
CLEANUP_PADDING = 20 * 60  # seconds Codabench adds to a step's limit for the worker's own work (tasks.py:200-202)
LOOPBACK = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|::1)$")
YES, NO = ("1", "yes", "true", "on"), ("0", "no", "false", "off")
GPU_CHOICES = {"": None, **dict.fromkeys(NO, "none"), **dict.fromkeys((*YES, "all"), "all"), "each": "each"}
STDIN_WAIT = 2.0  # seconds to wait for a piped broker URL when worker/.env already has one
# The settings make worker writes itself; any other known key found in worker/.env is kept as it is.
MANAGED = ("BROKER_URL", "BROKER_USE_SSL", "HOST_DIRECTORY", "CONTAINER_ENGINE_EXECUTABLE", "CONTAINER_SOCKET",
           "USE_GPU", "GPU_DEVICE")


class SetupError(Exception):
    """One line for the organizer: what is wrong and the fix."""


def say(line: str, *secrets: str) -> None:
    print(redact(line, *secrets), file=sys.stderr, flush=True)


def competition_settings(root: Path = ROOT) -> tuple[str, str, int]:
    """competition.yaml's queue (vhost), docker_image and longest execution_time_limit."""
    try:
        competition = load_competition(root)
        limits = [phase.execution_time_limit for phase in phases(competition, root)]
    except BundleError as error:
        raise SetupError(str(error)) from None
    queue = competition.get("queue")
    if not queue:
        raise SetupError("competition.yaml has no `queue:`, so its submissions go to Codabench's public queue and your "
                         "workers would never get them: create a queue (Codabench, Queue Management), then add "
                         "`queue: '<its vhost>'` to competition.yaml and upload the competition (docs/compute-workers.md)")
    if not isinstance(queue, str) or not UUID.fullmatch(queue):
        raise SetupError(f"competition.yaml's queue {queue!r} is not a vhost (a UUID): copy it from Queue Management "
                         "(the eye icon), quoted")
    return queue.lower(), str(competition.get("docker_image") or ""), max(limits or [600])


def piped_line() -> str:
    """A line given on standard input without a terminal (echo "$URL" | make worker); empty when none comes."""
    if sys.stdin is None or sys.stdin.closed or sys.stdin.isatty():
        return ""
    try:
        ready, _, _ = select.select([sys.stdin], [], [], STDIN_WAIT)
    except (OSError, ValueError):  # not a selectable stream: read it
        ready = [sys.stdin]
    return sys.stdin.readline().strip() if ready else ""


def broker_url(queue: str, existing: dict[str, str]) -> tuple[str, str]:
    """(the URL, where it came from): CODABENCH_BROKER_URL, else standard input, else worker/.env, else asked."""
    url = os.environ.get(BROKER_VARIABLE, "").strip()
    if url:
        return url, BROKER_VARIABLE
    url = piped_line()
    if url:
        return url, "standard input"
    if existing.get("BROKER_URL"):
        return existing["BROKER_URL"], "worker/.env"
    if sys.stdin is not None and not sys.stdin.closed and sys.stdin.isatty():
        try:
            url = getpass.getpass(f"Broker URL of queue {queue} (Codabench, Queues, the eye icon; not shown): ").strip()
        except EOFError:
            url = ""
    if not url:
        raise SetupError(f"no broker URL: paste it when asked, or set {BROKER_VARIABLE}, or pipe it in "
                         f"(echo \"$URL\" | make worker)")
    return url, "you"


def choice(value: str | None, name: str, allowed: dict[str, str | None]) -> str | None:
    """A variable's meaning from its allowed spellings (any case); None when not given; SetupError otherwise."""
    text = (value or "").strip().lower()
    if text not in allowed:
        shown = ", ".join(k for k, meaning in allowed.items() if k and meaning)
        raise SetupError(f"{name}={value!r} is not one of {shown}")
    return allowed[text]


def check_broker(url: str, tls_given: bool | None) -> tuple[bool, str | None]:
    """(BROKER_USE_SSL, a warning): what the broker speaks, and that it takes the login and opens the vhost."""
    host = urlsplit(url).hostname or ""
    speaks_tls = broker_speaks_tls(url)
    if speaks_tls is None:
        tls = tls_given if tls_given is not None else not LOOPBACK.match(host)
        return tls, (f"the broker at {host} could not be reached from here: its login was not checked, and "
                     f"BROKER_USE_SSL is {'on' if tls else 'off'}" + ("" if tls_given is not None else
                     f" ({'as codabench.org needs' if tls else 'for a broker on this machine'}; TLS={int(not tls)} "
                     "if not)") + ": run make worker-check on the workers' machine")
    if tls_given is not None and tls_given != speaks_tls:
        raise SetupError(f"TLS is {'on' if tls_given else 'off'}, but the broker at {host} speaks "
                         f"{'TLS' if speaks_tls else 'plain AMQP'}: "
                         f"the workers could not connect. Leave TLS out (make worker asks the broker)")
    refused = amqp_login(url, speaks_tls)
    if refused:
        raise SetupError(f"broker URL: {refused}: copy the URL again from Codabench's Queues page (the eye icon)")
    return speaks_tls, None


def env_text(url: str, *, tls: bool, engine: str, gpu: str, kept: dict[str, str]) -> str:
    lines = [
        "# Codabench compute worker settings, written by `make worker` (docs/compute-workers.md).",
        "# BROKER_URL holds your queue's password: never commit, share or paste this file.",
        "# Values are bare (no quotes, no comment after a value): docker run --env-file keeps both.",
        f"BROKER_URL={url}",
    ]
    if tls:
        lines.append("BROKER_USE_SSL=True")
    lines += [f"HOST_DIRECTORY={HOST_DIRECTORY}", f"CONTAINER_ENGINE_EXECUTABLE={engine}"]
    if engine == "podman":
        lines.append(f"CONTAINER_SOCKET=unix://{PODMAN_SOCKET}")
    if gpu != "none":
        lines += ["USE_GPU=True", f"GPU_DEVICE={GPU_DEVICE}"]
    kept = {"MAX_CACHE_DIR_SIZE_GB": "10", **kept}
    lines += [f"{key}={value}" for key, value in kept.items()]
    return "\n".join(lines) + "\n"


def compose_text(*, slug: str, queue: str, workers: int, engine: str, image: str, grace: int, gpu: str = "none") -> str:
    """WORKERS services from one block (YAML anchor): one worker per service, each with its own name."""
    host = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().lower()).strip("-")[:40] or "host"
    if engine == "podman":
        host_socket = "/run/podman/podman.sock" if os.getuid() == 0 else f"/run/user/{os.getuid()}/podman/podman.sock"
        socket_mount = f"{host_socket}:{PODMAN_SOCKET}:U"
        extra = ("  security_opt: [label=disable]\n  userns_mode: host\n  cap_drop: [ALL]\n")
        data = f"{HOST_DIRECTORY}:{HOST_DIRECTORY}:U,z"
    else:
        socket_mount, extra, data = f"{DOCKER_SOCKET}:{DOCKER_SOCKET}", "", f"{HOST_DIRECTORY}:{HOST_DIRECTORY}"
    command = compose_hint(engine)
    head = (
        f"# Codabench compute workers for queue {queue}, written by `make worker WORKERS={workers}`.\n"
        "# Their settings, with the broker URL, are in .env beside this file (never commit that one).\n"
        f"# Start: {command} up -d   Stop: {command} down   Logs: {command} logs -f\n"
        "# docs/compute-workers.md: how many workers, GPUs, disk, and what each failure means.\n"
        f"name: {re.sub(r'[^a-z0-9_-]+', '-', slug.lower()).strip('-_') or 'competition'}-workers\n"
        "x-worker: &worker\n"
        f"  image: {image}\n"
        "  env_file: .env\n"
        "  volumes:\n"
        f"    - {data}\n"
        f"    - {socket_mount}\n"
        f"{extra}"
        "  restart: unless-stopped\n"
        "  # Stopped, a worker first finishes the submission it runs (the phase's time limit and 20 minutes for its\n"
        "  # files); killed, RabbitMQ gives that submission to another worker, which runs it again from the start.\n"
        f"  stop_grace_period: {grace}s\n"
        "  logging:\n"
        "    options:\n"
        "      max-size: 50m\n"
        "      max-file: \"3\"\n"
        "services:\n"
    )
    services = "".join(f"  worker-{n}:\n    <<: *worker\n    hostname: {host}-worker-{n}\n"
                       + (f"    environment:\n      GPU_DEVICE: nvidia.com/gpu={n - 1}\n" if gpu == "each" else "")
                       for n in range(1, workers + 1))
    return head + services


def compose_hint(engine: str) -> str:
    return f"{engine} compose -f worker/compose.yaml"


def compose_command(engine: str) -> list[str] | None:
    """The engine's compose here: `docker compose`, else docker-compose (podman: `podman compose`, podman-compose)."""
    candidates = ([["podman", "compose"], ["podman-compose"]] if engine == "podman"
                  else [["docker", "compose"], ["docker-compose"]])
    for command in candidates:
        if shutil.which(command[0]) is None:
            continue
        try:
            done = subprocess.run([*command, "version"], capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return command
    return None


def replace_files(files: dict[Path, tuple[str, int]]) -> None:
    """Write every file (text, mode) beside its target first, then put them all in place: a failure leaves the old
    files as they were and no partial copy behind."""
    partials = {}
    try:
        for path, (text, mode) in files.items():
            partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
            partials[partial] = path
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(partial, mode)
        for partial, path in partials.items():
            os.replace(partial, path)
    finally:
        for partial in partials:
            partial.unlink(missing_ok=True)


def whole_number(value: str | None, name: str, default: int, low: int, high: int) -> int:
    text = (value or "").strip()
    if not text:
        return default
    if not re.fullmatch(r"[0-9]{1,4}", text) or not low <= int(text) <= high:
        raise SetupError(f"{name}={value!r} is not a whole number from {low} to {high}")
    return int(text)


def previous_settings(folder: Path) -> tuple[dict[str, str], int | None]:
    """The existing worker/.env's values (empty when there is none) and worker/compose.yaml's number of services."""
    env_path, compose_path = folder / ".env", folder / "compose.yaml"
    existing = read_env(env_path)[0] if env_path.is_file() else {}
    workers = None
    if compose_path.is_file():
        try:
            services = (yaml.safe_load(compose_path.read_text(encoding="utf-8")) or {}).get("services")
            workers = len(services) if isinstance(services, dict) and services else None
        except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
            workers = None
    return existing, workers


def setup(*, workers: str | None, gpu: str | None, engine: str | None, tls: bool | None, image: str,
          folder: Path = FOLDER, root: Path = ROOT) -> Path:
    """Write and check worker/.env and worker/compose.yaml; refuse (writing nothing) on an error. Settings not
    given are those of the files already there."""
    queue, competition_image, limit = competition_settings(root)
    env_path, compose_path = folder / ".env", folder / "compose.yaml"
    existing, previous_workers = previous_settings(folder)
    count = whole_number(workers, "WORKERS", previous_workers or 1, 1, MAX_WORKERS)
    engine = engine or existing.get("CONTAINER_ENGINE_EXECUTABLE", "docker").lower()
    if engine not in ("docker", "podman"):
        engine = "docker"
    if gpu is None:
        gpu = "all" if existing.get("USE_GPU", "").lower() == "true" else "none"
        if gpu == "all" and previous_workers and compose_path.is_file() and "GPU_DEVICE: nvidia.com/gpu=" in \
                compose_path.read_text(encoding="utf-8", errors="replace"):
            gpu = "each"
    url, source = broker_url(queue, existing)
    problems = broker_problems(url, queue, "")
    if problems:
        raise SetupError(redact(str(problems[0]).removeprefix("ERROR: "), url))
    use_tls, warning = check_broker(url, tls)
    if warning:
        say(f"WARNING: {warning}", url)
    kept = {k: v for k, v in existing.items() if k in KNOWN_KEYS and k not in MANAGED}
    env = env_text(url, tls=use_tls, engine=engine, gpu=gpu, kept=kept)
    compose = compose_text(slug=root.resolve().name, queue=queue, workers=count, engine=engine, image=image,
                           grace=limit + CLEANUP_PADDING, gpu=gpu)
    values = dict(line.split("=", 1) for line in env.splitlines() if line and not line.startswith("#"))
    found = env_problems(values, where="worker/.env", queue=queue, image=competition_image)
    found += compose_problems(yaml.safe_load(compose), values, where="worker/compose.yaml")
    for problem in found:
        say(str(problem), url)
    errors = [p for p in found if p.error]
    if errors:
        raise SetupError(f"{len(errors)} problem(s) above: nothing was written")
    changes = describe_changes(existing, values, previous_workers, count, compose_path, compose)
    try:
        folder.mkdir(exist_ok=True)
        replace_files({env_path: (env, 0o600), compose_path: (compose, 0o644)})
    except OSError as error:
        raise SetupError(f"cannot write {folder.relative_to(root)}/ ({error.strerror or error}): nothing was "
                         "changed") from None
    say(f"Wrote worker/.env (owner-only; broker {shown_url(url)}, from {source}) and worker/compose.yaml ({count} "
        f"worker{'s' if count != 1 else ''}, {'GPU: ' + gpu if gpu != 'none' else 'CPU'}, {engine}, {image}).", url)
    for change in changes:
        say(f"  {change}", url)
    return compose_path


def describe_changes(before: dict[str, str], after: dict[str, str], workers_before: int | None, workers: int,
                     compose_path: Path, compose: str) -> list[str]:
    """What a new run changes in files that were there: each setting, the number of workers, edits by hand."""
    if not before:
        return []
    changes = [f"{key}: {'(none)' if key not in before else shown_url(before[key])} -> "
               f"{'(none)' if key not in after else shown_url(after[key])}"
               for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]
    if workers_before and workers_before != workers:
        changes.append(f"workers: {workers_before} -> {workers}")
    if compose_path.is_file() and compose_path.read_text(encoding="utf-8", errors="replace") != compose:
        changes.append("worker/compose.yaml rewritten for these settings (anything of your own belongs in a "
                       "compose.override.yaml beside it, which docker compose reads too)")
    env_path = compose_path.with_name(".env")
    ours = set(env_text("", tls=False, engine="docker", gpu="none", kept={}).splitlines())
    comments = [line for line in env_path.read_text(encoding="utf-8", errors="replace").splitlines()
                if line.lstrip().startswith("#") and line not in ours] if env_path.is_file() else []
    if comments:
        changes.append(f"{len(comments)} comment line(s) of your own in worker/.env are not kept (the settings are)")
    return changes


def start(engine: str, compose_path: Path) -> int:
    command = compose_command(engine)
    hint = compose_hint(engine)
    if command is None:
        say(f"No {engine} compose here: start the workers on the machine that will run them with `{hint} up -d` "
            "(copy the worker/ folder there; docs/compute-workers.md).")
        return 0
    say(f"Starting them: {' '.join(command)} -f worker/compose.yaml up -d")
    done = subprocess.run([*command, "-f", str(compose_path), "up", "-d"], check=False)
    if done.returncode != 0:
        say(f"ERROR: `{' '.join(command)} up -d` failed (above); `make worker-check` says what this machine lacks")
        return 1
    say(f"Started. `{hint} logs -f` shows them take submissions; `make worker-check` checks this machine.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default=os.environ.get("MK_WORKERS"))
    parser.add_argument("--gpu", default=os.environ.get("MK_GPU"))
    parser.add_argument("--engine", default=os.environ.get("CODABENCH_ENGINE"))
    parser.add_argument("--tls", default=os.environ.get("MK_TLS"))
    parser.add_argument("--start", default=os.environ.get("MK_START"))
    parser.add_argument("--image", default=os.environ.get("MK_WORKER_IMAGE") or f"{WORKER_IMAGE}:{WORKER_TAG}")
    args = parser.parse_args(argv)
    yes_no = {"": None, **dict.fromkeys(YES, "yes"), **dict.fromkeys(NO, "no")}
    try:
        # ENGINE=local is make run's default: not a choice of engine for workers
        engine = choice(args.engine, "ENGINE", {"": None, "local": None, "docker": "docker", "podman": "podman"})
        tls = choice(args.tls, "TLS", yes_no)
        start_them = choice(args.start, "START", yes_no) != "no"
        compose_path = setup(workers=args.workers, gpu=choice(args.gpu, "GPU", GPU_CHOICES), engine=engine,
                             tls=None if tls is None else tls == "yes", image=args.image.strip())
        engine = engine or read_env(compose_path.with_name(".env"))[0].get("CONTAINER_ENGINE_EXECUTABLE", "docker")
    except SetupError as error:
        say(f"ERROR: {error}")
        return 1
    except KeyboardInterrupt:
        say("\nERROR: stopped; nothing was written")
        return 1
    if not start_them:
        say(f"Not started (START=0). On the machine that runs them: `{compose_hint(engine)} up -d`.")
        return 0
    return start(engine, compose_path)


if __name__ == "__main__":
    sys.exit(main())
