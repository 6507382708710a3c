"""How one container of a compute-worker step is executed.

The worker runs each program in a Docker container with folders mounted under /app. An
executor takes the same description (command, mounts, working directory) and runs it. This is
the one piece to swap to run the steps elsewhere, e.g. in a container built like the worker's.

`LocalExecutor` runs the command with a local Python: it builds a folder whose `app/`
subfolders are links to the mounted folders and rewrites `/app/...` arguments to point there,
so the programs see the same layout and the same paths as on Codabench.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

# Only what the worker passes into its containers (plus what a local process needs to start).
WORKER_ENVIRONMENT = {"PYTHONUNBUFFERED": "1"}
KEPT_FROM_HOST = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")  # HOME and TMPDIR point inside the run instead
STEP_MARK = "CODABENCH_LOCAL_STEP"  # in every process of a step, children included: how leftovers are found
PUMP_GRACE = 5.0  # seconds to wait for the output of a step whose processes are all stopped
_APP_PATH = re.compile(r"(^|=)/app(?=/|$)")


@dataclass
class Container:
    """One program to run, as the compute worker describes it to Docker."""

    name: str  # e.g. "ingestion", for logs
    command: list[str]  # already split with shlex, placeholders substituted
    mounts: dict[str, Path]  # container path (/app/...) -> host folder
    workdir: str = "/app/program"
    environment: dict[str, str] = field(default_factory=lambda: dict(WORKER_ENVIRONMENT))


@dataclass
class Completed:
    exit_code: int | None  # None when stopped at the time limit
    elapsed: float
    stdout: str
    stderr: str
    timed_out: bool = False


class Executor(Protocol):
    def run(self, container: Container, timeout: float) -> Completed: ...


def _leftovers(mark: str) -> list[int]:
    """Processes still carrying a step's mark in their environment (Linux /proc): children it started,
    in its session or in a new one, that outlived it."""
    found = []
    needle = f"{STEP_MARK}={mark}".encode()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if int(entry.name) != os.getpid() and needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except (OSError, ValueError):  # gone, or not ours to read
            continue
    return found


def _stop_everything(process: subprocess.Popen, mark: str) -> None:
    """Stop the step's process group and every process that carries its mark, wherever it went."""
    for _ in range(3):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        stray = _leftovers(mark)
        for pid in stray:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if not stray:
            return
        time.sleep(0.05)


def _pump(stream: IO[str], sink: list[str], echo: IO[str] | None, prefix: str) -> None:
    for line in stream:
        sink.append(line)
        if echo is not None:
            echo.write(f"{prefix}{line}")
            echo.flush()


class LocalExecutor:
    """Run containers as local processes, with /app/... mapped onto a scratch folder."""

    def __init__(self, workspace: Path, python: str = sys.executable, echo: IO[str] | None = sys.stdout):
        self.workspace = workspace
        self.python = python
        self.echo = echo

    def _app_root(self, container: Container) -> Path:
        root = self.workspace / f"{container.name}-root"
        for container_path, host_path in container.mounts.items():
            link = root / container_path.lstrip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink():
                link.unlink()
            link.symlink_to(host_path.resolve(), target_is_directory=True)
        return root

    def _local_command(self, container: Container, root: Path) -> list[str]:
        command = [_APP_PATH.sub(lambda m: m.group(1) + str(root / "app"), arg) for arg in container.command]
        if command and command[0] in ("python", "python3"):
            command[0] = self.python
        return command

    def run(self, container: Container, timeout: float) -> Completed:
        root = self._app_root(container)
        command = self._local_command(container, root)
        environment = {k: os.environ[k] for k in KEPT_FROM_HOST if k in os.environ}
        environment.update(container.environment)
        mark = f"{os.getpid()}-{container.name}-{time.monotonic_ns()}"
        home = self.workspace / f"{container.name}-home"
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        environment.update({STEP_MARK: mark, "HOME": str(home), "TMPDIR": str(home / "tmp"),  # no writes to the user's home
                            "MPLCONFIGDIR": str(self.workspace / "matplotlib")})
        workdir = root / container.workdir.lstrip("/")
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # so a time-out stops the whole process group
        )
        out: list[str] = []
        err: list[str] = []
        pumps = [
            threading.Thread(target=_pump, args=(process.stdout, out, self.echo, f"  [{container.name}] ")),
            threading.Thread(target=_pump, args=(process.stderr, err, self.echo, f"  [{container.name} stderr] ")),
        ]
        for pump in pumps:
            pump.daemon = True  # a process that escaped every kill must not keep the runner alive
            pump.start()
        timed_out, terminated = False, []
        restore = _on_sigterm(lambda: (terminated.append(True), _stop_everything(process, mark)))
        try:
            process.wait(timeout=max(timeout, 0.01))
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _stop_everything(process, mark)  # the time limit covers the whole step and all it started
            process.wait()
            restore()
        for pump in pumps:
            pump.join(PUMP_GRACE)
        stderr = "".join(err)
        if terminated:
            stderr += ("\nThe local runner received SIGTERM during this step (from the submission, or from outside) "
                       "and stopped the step.\n")
        return Completed(
            exit_code=None if timed_out else process.returncode,
            elapsed=time.monotonic() - started,
            stdout="".join(out),
            stderr=stderr,
            timed_out=timed_out,
        )


def _on_sigterm(callback):
    """While a step runs, SIGTERM (a submission may signal its parent) stops the step instead of the runner.
    Returns what restores the previous handler. Signals are handled in the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: callback())
    return lambda: signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
