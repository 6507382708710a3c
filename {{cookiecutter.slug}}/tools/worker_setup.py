"""Your own Codabench compute workers for this competition's private queue: `make worker`.

    make worker [WORKERS=2] [GPU=1] [ENGINE=podman] [START=0] [TLS=0|1] [WORKER_IMAGE=image:tag]
    CODABENCH_BROKER_URL=... make worker      # the broker URL from the environment (CI, a script)
    echo "$BROKER_URL" | make worker          # or from standard input without a terminal

Writes worker/.env (the worker's settings, with the queue's broker URL: owner-only, git-ignored, never
zipped, never printed whole) and worker/compose.yaml (WORKERS services of Codabench's compute worker
image, pinned, with the engine's socket, /codabench as the host directory, restarts and log rotation),
checks both with the rules of tools/worker_rules.py, then starts them with the engine's compose
(docker compose, docker-compose, podman compose), or prints the one command that does when none is
here (START=0: only write). The broker URL is asked once: later runs take it from worker/.env.

The queue is competition.yaml's `queue:` (its vhost); the broker URL must end with that same vhost.
Whether the broker speaks TLS is asked of the broker itself (BROKER_USE_SSL=True only then, since any
value of that setting turns TLS on); TLS=1 or TLS=0 decides when it cannot be reached from here.
GPU=1 writes USE_GPU=True and GPU_DEVICE (the CDI device Codabench's worker hands to submissions); the
compose file is the same. docs/compute-workers.md says when and how.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from bundle import ROOT, BundleError, load_competition, phases
from worker_rules import (
    DOCKER_SOCKET,
    GPU_DEVICE,
    HOST_DIRECTORY,
    PODMAN_SOCKET,
    UUID,
    WORKER_IMAGE,
    WORKER_TAG,
    broker_problems,
    compose_problems,
    env_problems,
    read_env,
    shown_url,
)

FOLDER = ROOT / "worker"
BROKER_VARIABLE = "CODABENCH_BROKER_URL"
MAX_WORKERS = 64
CLEANUP_PADDING = 20 * 60  # seconds Codabench adds to a step's limit for the worker's own work (tasks.py:200-202)
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
LOOPBACK = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|::1)$")


class SetupError(Exception):
    """One line for the organizer: what is wrong and the fix."""


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


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
    if not isinstance(queue, str) or not UUID.match(queue):
        raise SetupError(f"competition.yaml's queue {queue!r} is not a vhost (a UUID): copy it from Queue Management "
                         "(the eye icon), quoted")
    return queue.lower(), str(competition.get("docker_image") or ""), max(limits or [600])


def ask_broker_url(queue: str, existing: dict[str, str]) -> str:
    """From CODABENCH_BROKER_URL, else the existing worker/.env, else asked (not echoed) or read from stdin."""
    url = os.environ.get(BROKER_VARIABLE, "").strip()
    if url:
        return url
    if existing.get("BROKER_URL"):
        return existing["BROKER_URL"]
    prompt = f"Broker URL of queue {queue} (Codabench, Queue Management, the eye icon; not shown): "
    if sys.stdin is not None and sys.stdin.isatty():
        try:
            url = getpass.getpass(prompt)
        except EOFError:
            url = ""
    else:
        url = sys.stdin.readline() if sys.stdin is not None else ""
    url = url.strip()
    if not url:
        raise SetupError(f"no broker URL: paste it when asked, or set {BROKER_VARIABLE}, or pipe it in "
                         f"(echo \"$URL\" | make worker)")
    return url


def broker_speaks_tls(url: str, timeout: float = 5.0) -> bool | None:
    """Ask the broker: True when it speaks TLS, False when plain AMQP, None when it cannot be reached or told."""
    parts = urlsplit(url)
    address = (parts.hostname, parts.port or 5672)
    try:
        with socket.create_connection(address, timeout=timeout) as plain:
            plain.settimeout(timeout)
            plain.sendall(AMQP_HEADER)
            first = plain.recv(8)
        if first[:1] == b"\x01" or first.startswith(b"AMQP"):  # Connection.Start, or the broker's own header
            return False
    except OSError:
        pass
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # as the worker connects (celery_config.py)
    try:
        with socket.create_connection(address, timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=parts.hostname) as tls:
            tls.settimeout(timeout)
            tls.sendall(AMQP_HEADER)
            return tls.recv(8)[:1] == b"\x01" or None
    except (OSError, ssl.SSLError):
        return None


def decide_tls(url: str, given: str | None) -> bool:
    if given is not None and given.strip() != "":
        return given.strip().lower() not in ("0", "no", "false", "off")
    host = urlsplit(url).hostname or ""
    answer = broker_speaks_tls(url)
    if answer is None:
        guess = not LOOPBACK.match(host)
        say(f"WARNING: the broker at {host} could not be asked whether it speaks TLS from here; BROKER_USE_SSL is "
            f"{'on, as codabench.org needs' if guess else 'off for a broker on this machine'}: TLS={int(not guess)} if not")
        return guess
    return answer


def env_text(url: str, *, tls: bool, engine: str, gpu: bool) -> str:
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
    if gpu:
        lines += ["USE_GPU=True", f"GPU_DEVICE={GPU_DEVICE}"]
    lines.append("MAX_CACHE_DIR_SIZE_GB=10")
    return "\n".join(lines) + "\n"


def compose_text(*, slug: str, queue: str, workers: int, engine: str, image: str, grace: int) -> str:
    """WORKERS services from one block (YAML anchor): one worker per service, each with its own name."""
    host = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().lower()).strip("-")[:40] or "host"
    if engine == "podman":
        socket_mount = f"/run/user/{os.getuid()}/podman/podman.sock:{PODMAN_SOCKET}:U"
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
        f"name: {slug.replace('_', '-')}-workers\n"
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
    services = "".join(f"  worker-{n}:\n    <<: *worker\n    hostname: {host}-worker-{n}\n" for n in range(1, workers + 1))
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


def write_private(path: Path, text: str) -> None:
    """Owner-only, replaced in one step (a reader never sees half of it)."""
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)


def whole_number(value: str | None, name: str, default: int, low: int, high: int) -> int:
    text = (value or "").strip()
    if not text:
        return default
    if not re.fullmatch(r"[0-9]{1,4}", text) or not low <= int(text) <= high:
        raise SetupError(f"{name}={value!r} is not a whole number from {low} to {high}")
    return int(text)


def setup(*, workers: int, gpu: bool, engine: str, tls: str | None, image: str, folder: Path = FOLDER,
          root: Path = ROOT) -> tuple[Path, Path]:
    """Write and check worker/.env and worker/compose.yaml; refuse (writing nothing) on an error."""
    queue, competition_image, limit = competition_settings(root)
    env_path, compose_path = folder / ".env", folder / "compose.yaml"
    existing, _ = read_env(env_path) if env_path.is_file() else ({}, [])
    url = ask_broker_url(queue, existing)
    problems = broker_problems(url, queue, "broker URL")
    if problems:
        raise SetupError(str(problems[0]).removeprefix("ERROR: "))
    env = env_text(url, tls=decide_tls(url, tls), engine=engine, gpu=gpu)
    compose = compose_text(slug=root.resolve().name, queue=queue, workers=workers, engine=engine, image=image,
                           grace=limit + CLEANUP_PADDING)
    values = dict(line.split("=", 1) for line in env.splitlines() if line and not line.startswith("#"))
    found = env_problems(values, where="worker/.env", queue=queue, image=competition_image)
    found += compose_problems(yaml.safe_load(compose), values, where="worker/compose.yaml")
    errors = [p for p in found if p.error]
    for problem in found:
        say(str(problem))
    if errors:
        raise SetupError(f"{len(errors)} problem(s) above: nothing was written")
    folder.mkdir(exist_ok=True)
    write_private(env_path, env)
    compose_path.write_text(compose, encoding="utf-8")
    say(f"Wrote worker/.env (owner-only; broker {shown_url(url)}) and worker/compose.yaml ({workers} worker"
        f"{'s' if workers != 1 else ''}, {'GPU' if gpu else 'CPU'}, {engine}, {image}).")
    return env_path, compose_path


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
    engine = "podman" if (args.engine or "").strip().lower() == "podman" else "docker"
    try:
        workers = whole_number(args.workers, "WORKERS", 1, 1, MAX_WORKERS)
        _, compose_path = setup(workers=workers, gpu=flag(args.gpu), engine=engine, tls=args.tls, image=args.image.strip())
    except SetupError as error:
        say(f"ERROR: {error}")
        return 1
    except KeyboardInterrupt:
        say("\nERROR: stopped; nothing was written")
        return 1
    if args.start is not None and not flag(args.start, default=True):
        say(f"Not started (START=0). On the machine that runs them: `{compose_hint(engine)} up -d`.")
        return 0
    return start(engine, compose_path)


def flag(value: str | None, default: bool = False) -> bool:
    text = (value or "").strip().lower()
    return default if not text else text not in ("0", "no", "false", "off")


if __name__ == "__main__":
    sys.exit(main())
