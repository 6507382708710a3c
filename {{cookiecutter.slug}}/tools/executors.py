"""How one container of a compute-worker step is executed.

The worker runs each program in a Docker container with folders mounted under /app. An
executor takes the same description (command, mounts, working directory) and runs it. This is
the one piece to swap to run the steps elsewhere.

- `LocalExecutor` runs the command with a local Python: it builds a folder whose `app/`
  subfolders are links to the mounted folders and rewrites `/app/...` arguments to point there,
  so the programs see the same layout and the same paths as on Codabench. Quick, but the
  programs run with your permissions, your packages and your network.
- `ContainerExecutor` runs it in the competition's `docker_image` with docker or podman, mounted,
  started and locked down as the worker does it (codabench-facts §2.3-2.5; compute_worker.py at
  Codabench c7dbc756): only the step's /app folders, `-w /app/program` (:1043), the worker's
  environment (:1044-1048), its dropped capabilities (:963-978) and `no-new-privileges` (:980-983).
  The network is on, as on the worker unless its admin sets COMPETITION_CONTAINER_NETWORK_DISABLED
  (:1017-1019, :1049); `network=False` (NETWORK=off) is that worker. The image is pulled before
  every step, as the worker does (:1180, three tries 5 s apart, :544-576); `pull="never"`
  (PULL=never) skips it, for an organizer who knows the image is published but has no registry here.

`make_executor` picks one from `ENGINE` (local, docker or podman), `NETWORK` and `PULL`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from images import PUBLISH_FIX, registry_of

# Only what the worker passes into its containers (plus what a local process needs to start): compute_worker.py:1044-1048,
# with the proxies its admin may set (COMPETITION_CONTAINER_HTTP(S)_PROXY, :1022-1034), empty by default.
WORKER_ENVIRONMENT = {"PYTHONUNBUFFERED": "1", "http_proxy": "", "https_proxy": ""}
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
    def pull(self) -> None: ...  # before each step, outside its time limit; PullFailed when the worker's pull would fail

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

    def pull(self) -> None:
        """Nothing to pull: the programs run with this machine's Python."""

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
        with _SigtermWatch() as watch:
            try:
                process = subprocess.Popen(
                    command,
                    cwd=root / container.workdir.lstrip("/"),
                    env=environment,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    start_new_session=True,  # so a time-out stops the whole process group
                )
            except (FileNotFoundError, PermissionError) as exc:  # the container exits 127 (126) the same way
                return Completed(exit_code=127 if isinstance(exc, FileNotFoundError) else 126, elapsed=0.0, stdout="",
                                 stderr=f"could not start {command[0]!r}: {exc.strerror}\n")
            # the time limit covers the whole step and all it started
            return _supervise(process, container.name, timeout, self.echo, lambda: _stop_everything(process, mark), watch)


def _supervise(process: subprocess.Popen, name: str, timeout: float, echo: IO[str] | None, stop,
               watch: "_SigtermWatch") -> Completed:
    """Echo and collect a started step's output, stop it at the time limit (or on SIGTERM), and wait."""
    started = time.monotonic()
    out: list[str] = []
    err: list[str] = []
    pumps = [
        threading.Thread(target=_pump, args=(process.stdout, out, echo, f"  [{name}] ")),
        threading.Thread(target=_pump, args=(process.stderr, err, echo, f"  [{name} stderr] ")),
    ]
    for pump in pumps:
        pump.daemon = True  # a process that escaped every kill must not keep the runner alive
        pump.start()
    timed_out = False
    watch.stop = stop
    try:
        if watch.received:  # before the step was watched
            stop()
        process.wait(timeout=max(timeout, 0.01))
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        stop()
        process.wait()
    for pump in pumps:
        pump.join(PUMP_GRACE)
    stderr = "".join(err)
    if watch.received:
        stderr += ("\nThe local runner received SIGTERM during this step (from the submission, or from outside) "
                   "and stopped the step.\n")
    return Completed(
        exit_code=None if timed_out else process.returncode,
        elapsed=time.monotonic() - started,
        stdout="".join(out),
        stderr=stderr,
        timed_out=timed_out,
    )


class _SigtermWatch:
    """While a step runs, SIGTERM (a submission may signal its parent) stops the step instead of the runner.
    Entered before the step's process starts, so that a signal sent at once is not lost between the start and the
    supervision (seen on a loaded machine). Signals are handled in the main thread only."""

    def __init__(self) -> None:
        self.received = False
        self.stop = lambda: None  # set by _supervise once the process exists
        self._restore = lambda: None

    def __enter__(self) -> "_SigtermWatch":
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, self._handle)
            self._restore = lambda: signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        return self

    def _handle(self, signum, frame) -> None:
        self.received = True
        self.stop()

    def __exit__(self, *exc) -> None:
        self._restore()


# The compute worker's container settings (compute_worker.py; codabench-facts §2.5).
DROPPED_CAPABILITIES = ("AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
                        "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT")
RELABELLED = ("/app/program", "/app/output")  # the worker mounts these two with SELinux's "z"
ENGINES = ("local", "docker", "podman")
ENGINE_VARIABLE = "CODABENCH_ENGINE"  # what `make ... ENGINE=docker` sets for the tools and the tests
NETWORK_VARIABLE, NETWORKS = "CODABENCH_NETWORK", ("on", "off")  # `make ... NETWORK=off`
PULL_VARIABLE, PULLS = "CODABENCH_PULL", ("always", "never")  # `make ... PULL=never`
# `docker run` / `podman run` exit with 125-127 when the container could not start, and say why in their own words;
# the image lacking the command is the bundle's fault (the worker fails the same way), anything else is the engine's.
ENGINE_EXITS = (125, 126, 127)
ENGINE_SAYS = re.compile(r"^(docker: Error|Error: )", re.M)
COMMAND_MISSING = re.compile(r"executable file not found|no such file or directory", re.I)
ENGINE_TIMEOUT = 60.0  # seconds for `info`, `inspect` and `rm`; a pull has PULL_TIMEOUT
PULL_TIMEOUT = 3600.0
# The worker's pull: three tries, 5 s apart (compute_worker.py:546, :576), then the submission fails with this (:572).
PULL_TRIES, PULL_PAUSE = 3, 5.0
PULL_FAILED = "Pull for {image} failed! Check the logs for more information"
# What an engine says when it never reached a registry, as opposed to a registry that answered "no such image".
UNREACHABLE = re.compile(r"dial tcp|no such host|i/o timeout|connection refused|network is unreachable|"
                         r"TLS handshake|server misbehaving|temporary failure|timed? ?out", re.I)


class EngineError(Exception):
    """The container engine cannot run the steps (missing, not started, no image): nothing ran."""


class PullFailed(Exception):
    """The image could not be pulled before a step: the worker fails the submission with `str(self)`;
    `reason` says why and `fix` what to do, in this template's words. `refused`: a registry answered that it does
    not give the image out (every submission would fail); otherwise none could be reached from here."""

    def __init__(self, image: str, reason: str, fix: str, here: bool, refused: bool):
        super().__init__(PULL_FAILED.format(image=image))
        self.reason, self.fix = reason, fix
        self.here = here  # the image is on this machine all the same
        self.refused = refused

    @property
    def cause(self) -> str:
        return f"{self.reason}; {self.fix}"


def _engine_call(engine: str, *args: str, timeout: float = ENGINE_TIMEOUT) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([engine, *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EngineError(f"`{engine} {args[0]}` did not answer within {timeout:.0f} s: is the engine running?") from None


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _why_not_pulled(engine: str, image: str, said: str, here: bool) -> tuple[str, str]:
    """What a failed pull means for the competition, from what the engine said: (reason, fix)."""
    if UNREACHABLE.search(said):
        return (f"{engine} could not reach the registry of {image} ({said}), and Codabench's worker pulls the image "
                "before every step and fails the submission when it cannot",
                "connect this machine and run again, or, if you know the image is published, run with PULL=never"
                + ("" if here else " once it is here"))
    where = "it exists only on this machine (or is private)" if here else "it is not on this machine either"
    return (f"the registry does not give out {image} ({said}): {where}, so every submission would fail on Codabench "
            f"with \"{PULL_FAILED.format(image=image)}\"", PUBLISH_FIX)


def registry_reference(engine: str, image: str) -> str:
    """The name to pull: as given, except that podman is given Docker Hub's full name for a short one, which the
    worker's docker client gets from podman's Docker API without asking (podman's own CLI would ask which registry)."""
    if engine != "podman" or registry_of(image):
        return image
    return f"docker.io/{image}" if "/" in image else f"docker.io/library/{image}"


def pull_image(engine: str, image: str, echo: IO[str] | None = None) -> None:
    """Pull as the worker does before each step: up to three tries, PULL_PAUSE seconds apart; PullFailed after the last."""
    pause = PULL_PAUSE
    if echo is not None:
        print(f"Pulling {image} (before the step's time limit starts, as the worker does)", file=echo, flush=True)
    said = ""
    for attempt in range(1, PULL_TRIES + 1):
        pulled = _engine_call(engine, "pull", "--quiet", registry_reference(engine, image), timeout=PULL_TIMEOUT)
        if pulled.returncode == 0:
            return
        said = last_line(pulled.stderr)
        if attempt < PULL_TRIES:
            if echo is not None:
                print(f"  the pull failed ({said}); try {attempt + 1} of {PULL_TRIES} in {pause:g} s, as the worker does",
                      file=echo, flush=True)
            time.sleep(pause)
    here = _engine_call(engine, "image", "inspect", image).returncode == 0
    raise PullFailed(image, *_why_not_pulled(engine, image, said, here), here=here, refused=not UNREACHABLE.search(said))


class ContainerExecutor:
    """Run each container in the competition's image, as the worker does, with docker or podman.

    `network`: True as on a worker that leaves COMPETITION_CONTAINER_NETWORK_DISABLED unset (compute_worker.py:1017-1019,
    :1049), False as on one that sets it. `pull`: "always" pulls before every step, as the worker does (:1180); "never"
    uses the image already here. After a failed pull, the later steps of the run fail at once with the same
    report: the worker would try again and fail the same way, and ten more seconds a step tell nothing more.
    """

    def __init__(self, engine: str, image: str, workspace: Path, echo: IO[str] | None = sys.stdout,
                 network: bool = True, pull: str = "always"):
        self.engine = engine
        self.image = image
        self.workspace = workspace
        self.echo = echo
        self.network = network
        self.pull_policy = pull
        self._failed_pull: PullFailed | None = None

    def prepare(self) -> None:
        """Check the engine (and, with PULL=never, that the image is here) before any step; EngineError says what is missing."""
        if shutil.which(self.engine) is None:
            other = "podman" if self.engine == "docker" else "docker"
            raise EngineError(f"ENGINE={self.engine}: there is no `{self.engine}` command on this machine; install it "
                              f"(or use ENGINE={other}), or leave ENGINE out to run with the local Python")
        info = _engine_call(self.engine, "info")
        if info.returncode != 0:
            raise EngineError(f"`{self.engine} info` failed ({last_line(info.stderr)}): start the engine "
                              "(e.g. `sudo systemctl start docker`) and check that your user may use it")
        if self.pull_policy == "never" and _engine_call(self.engine, "image", "inspect", self.image).returncode != 0:
            load = " (from docker: `docker save IMAGE | podman load`)" if self.engine == "podman" else ""
            raise EngineError(f"PULL=never, and {self.engine} has no {self.image} here: build or load it{load}, "
                              "or leave PULL out to pull it before each step as the worker does")

    def pull(self) -> None:
        """Before each step, outside its time limit: the worker's pull (PullFailed when it fails), unless PULL=never."""
        if self.pull_policy == "never":
            return
        if self._failed_pull is None:
            try:
                pull_image(self.engine, self.image, self.echo)
                return
            except PullFailed as failed:
                self._failed_pull = failed
        raise self._failed_pull

    def _mount_options(self, container: Container) -> list[str]:
        empty_data = self.workspace / "worker-data"  # the worker host's data folder: nothing here, read-only
        empty_data.mkdir(parents=True, exist_ok=True)
        options = ["-v", f"{_mountable(empty_data)}:/app/data:ro"]
        for target, source in container.mounts.items():
            _writable_by_root(source)
            relabel = ":z" if target in RELABELLED and self.engine == "docker" else ""
            options += ["-v", f"{_mountable(source)}:{target}{relabel}"]
        return options

    def command(self, container: Container, name: str) -> list[str]:
        """The `docker run` command line for one container of a step."""
        security = ["--security-opt", "no-new-privileges"]
        if self.engine == "podman":
            security += ["--security-opt", "label=disable"]
        arguments = [self.engine, "run", "--rm", "--name", name, "--pull", "never", "--userns", "host", *security]
        arguments += [f"--cap-drop={capability}" for capability in DROPPED_CAPABILITIES]
        if not self.network:  # the worker's network_disabled=True (compute_worker.py:1049)
            arguments += ["--network", "none"]
        for variable, value in container.environment.items():
            arguments += ["-e", f"{variable}={value}"]
        arguments += [*self._mount_options(container), "-w", container.workdir, self.image, *container.command]
        return arguments

    def run(self, container: Container, timeout: float) -> Completed:
        name = f"codabench-{os.getpid()}-{re.sub(r'[^a-z0-9]+', '-', container.name.lower())}-{time.monotonic_ns()}"
        with _SigtermWatch() as watch:
            process = subprocess.Popen(self.command(container, name), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, stdin=subprocess.DEVNULL)

            def stop() -> None:
                if process.poll() is None:
                    _engine_call(self.engine, "rm", "--force", name)

            completed = _supervise(process, container.name, timeout, self.echo, stop, watch)
        self._hand_back(set(container.mounts.values()))
        if (completed.exit_code in ENGINE_EXITS and ENGINE_SAYS.search(completed.stderr)
                and not COMMAND_MISSING.search(completed.stderr)):
            raise EngineError(f"{self.engine} could not start the {container.name} container: {last_line(completed.stderr)}")
        return completed

    def _hand_back(self, mounted: set[Path]) -> None:
        """What the containers' root wrote belongs to root on the host when the engine runs as root and you do
        not: give it back to you, with a throwaway container (the step's own ones have no CHOWN)."""
        uid, gid = os.getuid(), os.getgid()
        if uid == 0 or not any(_owned_by_other(path, uid) for path in mounted):
            return
        folders = sorted(mounted)
        mounts = [option for i, folder in enumerate(folders) for option in ("-v", f"{_mountable(folder)}:/m/{i}")]
        targets = [f"/m/{i}" for i in range(len(folders))]
        _engine_call(self.engine, "run", "--rm", "--pull", "never", "--network", "none", "--entrypoint", "chown",
                     *mounts, self.image, "-R", f"{uid}:{gid}", *targets)


def _mountable(path: Path) -> str:
    text = str(path.resolve())
    if ":" in text or "," in text:
        raise EngineError(f"{text}: a folder mounted into a container cannot have ':' or ',' in its path; "
                          "run from a folder whose path has neither")
    return text


def _writable_by_root(folder: Path) -> None:
    """Without DAC_OVERRIDE the container's root may write only where the owner lets everyone write, when the
    folder is yours and not root's (docker run by a user): open the step's copies (never your own files)."""
    if os.getuid() == 0:
        return
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o777 if path.is_dir() else 0o666)


def _owned_by_other(folder: Path, uid: int) -> bool:
    return any(path.lstat().st_uid != uid for path in [folder, *folder.rglob("*")])


def default_engine() -> str:
    return os.environ.get(ENGINE_VARIABLE) or "local"


def default_network() -> str:
    return os.environ.get(NETWORK_VARIABLE) or "on"


def default_pull() -> str:
    return os.environ.get(PULL_VARIABLE) or "always"


def check_settings(engine: str, network: str, pull: str) -> None:
    """EngineError for a value of ENGINE, NETWORK or PULL that is none of the known ones (make passes them as typed)."""
    for name, value, known in (("ENGINE", engine, ENGINES), ("NETWORK", network, NETWORKS), ("PULL", pull, PULLS)):
        if value not in known:
            raise EngineError(f"{name}={value!r} is not one of {', '.join(known)}")


def make_executor(engine: str, workspace: Path, image: str | None, python: str = sys.executable,
                  echo: IO[str] | None = sys.stdout, network: str | None = None, pull: str | None = None) -> Executor:
    """The executor for ENGINE: `local` (this machine's Python), `docker` or `podman` (the competition's image).
    NETWORK (on, off) and PULL (always, never) default to $CODABENCH_NETWORK and $CODABENCH_PULL, else on and always."""
    network, pull = network or default_network(), pull or default_pull()
    check_settings(engine, network, pull)
    if engine == "local":
        if network == "off":
            raise EngineError("NETWORK=off needs ENGINE=docker or podman: the local engine runs the programs with "
                              "this machine's network")
        if pull == "never":
            raise EngineError("PULL=never needs ENGINE=docker or podman: the local engine pulls no image")
        return LocalExecutor(workspace, python=python, echo=echo)
    if python != sys.executable:
        raise EngineError(f"--python has no effect with ENGINE={engine}: the image's python3 runs the programs")
    if not image:
        raise EngineError("competition.yaml has no docker_image: name the image the steps run in")
    executor = ContainerExecutor(engine, image, workspace, echo=echo, network=network == "on", pull=pull)
    executor.prepare()
    return executor
