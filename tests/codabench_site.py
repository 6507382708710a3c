"""Codabench's own site and compute worker, unmodified, on this machine: only infrastructure is swapped.

    with CodabenchSite(workdir) as site:      # or site.start() ... site.stop()
        token = site.token()                  # an organizer's DRF token (Authorization: Token <token>)
        requests.get(f"{site.url}/api/my_profile/", headers={"Authorization": f"Token {token}"})
        site.django("from competitions.models import Submission; print(Submission.objects.count())")
        site.log("compute-worker")

What is real: the site (src/ of the Codabench source snapshot, extracted unmodified from
$CODABENCH_SOURCE_TARBALL, or used in place from $CODABENCH_SOURCE, an unpacked checkout of that
commit) with its own settings module `settings.base`, configured only through the environment variables
it reads, as upstream's .env does; served as ASGI by uvicorn (the worker needs its websockets); its
Celery worker on queue `site-worker` (it unpacks bundles and dispatches submissions); and
Codabench's compute worker (compute_worker/, under $CODABENCH_WORKER_PYTHON) as a real Celery worker
on queue `compute-worker`, running submissions in docker with the competition's docker_image.

What is swapped, each a private instance with free ports, so that two stacks can run at once:
- PostgreSQL: a cluster of its own (Debian's server binaries; run as the `postgres` user when we are
  root, since PostgreSQL refuses root, in a temporary folder that user can reach), copied from a
  migrated template cluster that is built once per cache key (see CodabenchSite.cache);
- RabbitMQ: a node of its own (own node name, AMQP, distribution and management ports, its own epmd,
  mnesia and config), with the management plugin enabled for it alone (Codabench's private queues
  use the management API: RABBITMQ_MANAGEMENT_PORT is a setting, so nothing is tied to 15672);
- Redis for the cache and the channel layer (the worker's websocket consumer needs django_redis);
- storage: Codabench's storage classes and make_url_sassy speak only S3, GCS and Azure, so the site
  keeps STORAGE_TYPE=s3 and its AWS_S3_ENDPOINT_URL points at a local moto server (two buckets, see
  PRIVATE_BUCKET): this is the local stand-in for the signed storage URLs. Moto does not check
  signatures; the URLs it is given are the ones Codabench signs.
- e-mail: Django's locmem backend.
Not run: celery beat (upstream's site worker has -B: periodic phase migrations and clean-ups).

Submission ids start at a number derived from the site's port (unique among running stacks), since
the worker names its containers and its folders under /codabench (its hard-coded BASE_DIR) after
them. stop() kills every process group it started, removes what the worker left for this stack
(containers, run folders, cache entries of this stack's files) and the private data folders; the
logs stay in <workdir>/logs.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import functools
import hashlib
import html
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from codabench_worker import BASE_DIR, TARBALL, WORKER_ENV, pull_problem, worker_problem

REQUIREMENTS = Path(__file__).with_name("codabench-site-requirements.txt")  # the site's pins, and moto[server]
PIP_LINE = f"pip install -r {REQUIREMENTS}"
SITE_MODULES = "django, celery, channels, channels_redis, django_redis, storages, boto3, psycopg2, uvicorn, moto.server, flask"
ID_BLOCK = 10**6  # submission ids of a stack: [site port * ID_BLOCK, (site port + 1) * ID_BLOCK)
WORKER_RUN = re.compile(r"uPK-\d+_sID-(\d+)")  # the worker's name for a run: containers, folders (compute_worker.py)
# Not upstream's .env_sample names (public, private): make_url_sassy cuts a file's key at the first occurrence
# of the private bucket's name (utils/data.py:52), so with `private` a file named my_private_model.zip gets a
# signed URL for `_model.zip`. These names are unlikely in a file's name.
PUBLIC_BUCKET, PRIVATE_BUCKET = "codabench-public", "codabench-private"
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 never goes through a proxy


class SiteUnavailable(Exception):
    """The stack could not be started: the first line says why, then the end of the log concerned."""


def _say(message: str) -> None:
    print(f"[codabench-site] {message}", file=sys.stderr, flush=True)


def _http(url: str, method: str = "GET", data: bytes | None = None, auth: str | None = None,
          timeout: float = 5) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method=method)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with _DIRECT.open(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _descendants(pids: list[int]) -> set[int]:
    """Every process below these (from /proc; none where there is no /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _tail(text: str, size: int = 3000) -> str:
    return text[-size:]


# -- what is needed ------------------------------------------------------------------------------
def _postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs (initdb, postgres, psql): PATH, else Debian's newest."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                         if p.parent.name.isdigit() else 0, reverse=True)
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "postgres", "psql")):
            return folder
    return None


def _rabbitmq_server() -> str | None:
    """RabbitMQ's own start script (Debian's /usr/sbin wrapper would switch to the rabbitmq user)."""
    debian = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
    return str(debian) if debian.is_file() else shutil.which("rabbitmq-server")


def _source_dir() -> Path | None:
    value = os.environ.get("CODABENCH_SOURCE")
    return Path(value).resolve() if value else None


def _site_problem(python: str | None) -> str | None:
    if not python:
        return f"set CODABENCH_SITE_PYTHON to a Python 3.13 with the site's packages: {PIP_LINE}"
    check = f"import sys; assert sys.version_info[:2] == (3, 13), sys.version; import {SITE_MODULES}"
    try:
        done = subprocess.run([python, "-c", check], capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"CODABENCH_SITE_PYTHON={python} does not run: {error}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"CODABENCH_SITE_PYTHON={python} is not a Python 3.13 with the site's packages ({last}): {PIP_LINE}"
    return None


def _worker_python_problem(python: str | None, source: Path | None) -> str | None:
    """worker_problem (tests/codabench_worker.py), which also wants the tarball; with CODABENCH_SOURCE
    and no tarball, its remaining checks (packages, /codabench, docker) are made here."""
    problem = worker_problem(python)
    if not problem or not python or TARBALL.is_file() or source is None:
        return problem
    done = subprocess.run([python, "-c", "import celery, websockets, docker, loguru, rich, requests, yaml"],
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        return f"CODABENCH_WORKER_PYTHON={python} lacks the worker's packages: tests/codabench-worker-requirements.txt"
    if not os.access(BASE_DIR if BASE_DIR.exists() else BASE_DIR.parent, os.W_OK):
        return f"{BASE_DIR} (the worker's hard-coded BASE_DIR) is not writable"
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True, timeout=60,
                                                          check=False).returncode != 0:
        return "no working `docker` (`docker info` fails)"
    return None


def site_needs() -> tuple[dict, str | None]:
    """What the stack uses here, and why it cannot run (None when it can). Checked once per process
    and environment (it starts both Pythons and asks docker)."""
    needs, problem = _site_needs(*(os.environ.get(key) for key in ("CODABENCH_SITE_PYTHON", "CODABENCH_WORKER_PYTHON",
                                                                     "CODABENCH_SOURCE", "CODABENCH_SOURCE_TARBALL", "PATH")))
    return dict(needs), problem


@functools.cache
def _site_needs(*_environment) -> tuple[dict, str | None]:
    needs = {
        "site_python": os.environ.get("CODABENCH_SITE_PYTHON"),
        "worker_python": os.environ.get("CODABENCH_WORKER_PYTHON"),
        "source": _source_dir() or TARBALL,
        "postgres_bin": _postgres_bin(),
        "rabbitmq_server": _rabbitmq_server(),
        "epmd": shutil.which("epmd"),
        "redis_server": shutil.which("redis-server"),
        "docker": shutil.which("docker"),
    }
    source = _source_dir()
    if source is not None and not all((source / part).exists() for part in ("src", "compute_worker", "manage.py")):
        return needs, f"CODABENCH_SOURCE={source} is not an unpacked Codabench checkout (src/, compute_worker/, manage.py)"
    if source is None and not TARBALL.is_file():
        return needs, (f"no Codabench source snapshot at {TARBALL} (set CODABENCH_SOURCE_TARBALL, or CODABENCH_SOURCE "
                       "to an unpacked checkout of that commit)")
    missing = [debian for key, debian in (("postgres_bin", "postgresql"), ("rabbitmq_server", "rabbitmq-server"),
                                          ("epmd", "rabbitmq-server"), ("redis_server", "redis-server"))
               if not needs[key]]
    if missing:
        return needs, f"missing servers; Debian: apt-get install {' '.join(dict.fromkeys(missing))}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return needs, "running as root, and there is no `postgres` user to run PostgreSQL as (it refuses root)"
    problem = _site_problem(needs["site_python"]) or _worker_python_problem(needs["worker_python"], source)
    return needs, problem


def require_site(image: str | None = None) -> dict:
    """For tests: what the stack uses (site_needs); skip when something is missing, fail under CI.
    With `image`, also that the worker can pull it (it pulls before every step)."""
    import pytest

    needs, problem = site_needs()
    if problem is None and image:
        problem = pull_problem(image)
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run Codabench's site: {problem}", pytrace=False)
        pytest.skip(f"Codabench's site: {problem}")
    return needs


# -- the stack -----------------------------------------------------------------------------------
class CodabenchSite:
    """Codabench's site, its Celery worker and `compute_workers` compute workers, on private infrastructure.

    workdir: the extracted source (codabench-src/), logs/ (kept after stop, emptied by the next start) and
    the private run folder; one running stack per workdir.
    cache: where migrated template clusters are kept ($CODABENCH_SITE_CACHE, else
    ~/.cache/codabench-template/site); one per PostgreSQL version, migrations and site packages.
    """

    def __init__(self, workdir: Path, *, compute_workers: int = 1, cache: Path | None = None):
        self.workdir = Path(workdir).resolve()
        self.compute_workers = compute_workers
        self.cache = Path(cache or os.environ.get("CODABENCH_SITE_CACHE")
                          or Path.home() / ".cache" / "codabench-template" / "site")
        self.logs = self.workdir / "logs"
        self.url = ""
        self.ports: dict[str, int] = {}
        self.timings: dict[str, float] = {}  # seconds: "template" (when built), "start"
        self._processes: dict[str, subprocess.Popen] = {}
        self._log_of: dict[str, str] = {}
        self._private: list[Path] = []
        self._needs: dict = {}
        self._source: Path | None = None
        self._env: dict[str, str] = {}
        self._tokens: dict[str, str] = {}
        self._stopping: set[str] = set()  # workers stopped on purpose (stop_worker)
        self._started = False

    # -- public --
    def __enter__(self):
        if not self._started:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def broker_url(self) -> str:
        return f"pyamqp://guest:guest@127.0.0.1:{self.ports['amqp']}//"

    @property
    def management_url(self) -> str:
        """RabbitMQ's management API (user guest, password guest)."""
        return f"http://127.0.0.1:{self.ports['management']}"

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        atexit.register(self.stop)
        started = time.monotonic()
        try:
            self._start()
        except BaseException as error:
            self.stop()
            if isinstance(error, SiteUnavailable) or not isinstance(error, Exception):
                raise
            raise SiteUnavailable(f"starting Codabench's site failed: {error!r}") from error
        self.timings["start"] = time.monotonic() - started
        _say(f"up at {self.url} in {self.timings['start']:.1f} s (logs in {self.logs})")

    def token(self, username: str = "organizer", password: str | None = None) -> str:
        """The user's DRF token; the user (e-mail <username>@example.com) and the token are made when missing.
        A given password is set (also on an existing user); a new user without one gets a random one."""
        if password is None and username in self._tokens:
            return self._tokens[username]
        code = (
            "from profiles.models import User\n"
            "from rest_framework.authtoken.models import Token\n"
            f"name, password = {username!r}, {password!r}\n"
            "user = User.objects.filter(username=name).first()\n"
            "if user is None:\n"
            "    user = User.objects.create_user(username=name, email=name + '@example.com',\n"
            f"                                    password=password or {secrets.token_urlsafe(24)!r})\n"
            "elif password is not None:\n"
            "    user.set_password(password)\n"
            "    user.save()\n"
            "print('TOKEN', Token.objects.get_or_create(user=user)[0].key)\n"
        )
        output = self.django(code)
        found = re.findall(r"^TOKEN (\S+)$", output, re.MULTILINE)
        if not found:
            raise RuntimeError(f"no token in the output of manage.py shell:\n{_tail(output)}")
        self._tokens[username] = found[-1]
        return found[-1]

    def django(self, code: str, timeout: float = 300) -> str:
        """Run `code` in Codabench's Django context (manage.py shell --no-imports -c: import what it uses);
        its stdout. RuntimeError, with the end of stderr, on failure."""
        if not self._env:
            raise RuntimeError("the site is not started")
        done = subprocess.run([self._needs["site_python"], "manage.py", "shell", "--no-imports", "-c", code],
                              cwd=self._source, env=self._env, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"manage.py shell -c failed with {done.returncode}:\n{_tail(done.stderr)}")
        return done.stdout

    def log(self, name: str) -> str:
        """A component's log: site, site-worker, compute-worker (all of them; or compute-worker-<n>),
        rabbitmq, postgres, redis, storage; also migrate (when the template cluster was built here)."""
        if name == "compute-worker":
            files = sorted(self.logs.glob("compute-worker-*.log"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
            if len(files) == 1:
                return files[0].read_text(errors="replace")
            return "".join(f"== {p.stem} ==\n{p.read_text(errors='replace')}" for p in files)
        file = self.logs / f"{name}.log"
        return file.read_text(errors="replace") if file.is_file() else ""

    def create_queue(self, token: str, name: str) -> tuple[str, str]:
        """A private queue made through Codabench's own API (POST /api/queues/, as Queue Management does):
        (its vhost, its broker URL). RabbitMQ's vhost and the owner's account are made by Codabench's code."""
        request = urllib.request.Request(f"{self.url}/api/queues/", method="POST",
                                         data=json.dumps({"name": name, "is_public": False}).encode(),
                                         headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
        try:
            with _DIRECT.open(request, timeout=60) as answer:
                queue = json.loads(answer.read())
        except urllib.error.HTTPError as error:  # e.g. "User has reached queue limit!" (5 per account)
            raise RuntimeError(f"POST /api/queues/ answered {error.code}: {error.read()[:300]!r}") from None
        return queue["vhost"], queue["broker_url"]

    def start_workers(self, env_file: Path, hostnames: list[str], wait: bool = True) -> list[str]:
        """Codabench's compute worker, one process per hostname, with the settings of `env_file` (a worker's .env, as
        `make worker` writes it) and the command of the worker image (`celery -A compute_worker worker -Q compute-worker
        -n compute-worker@$HOSTNAME --concurrency=1`): what worker/compose.yaml starts, outside a container, since the
        image is out of reach here. The names of the processes (their logs: log(name)); with `wait`, until each logs
        Celery's "ready." line, once it consumes the queue of the file's vhost (RabbitMQ's management API would say
        so up to 5 s late)."""
        settings = {}
        for line in Path(env_file).read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                settings[key] = value
        env = {**self._worker_env(), **settings}
        names = []
        for hostname in hostnames:
            name = f"own-worker-{hostname}"
            self._spawn(name, [self._needs["worker_python"], "-m", "celery", "-A", "compute_worker", "worker", "-Q",
                               "compute-worker", "-l", "info", "-n", f"compute-worker@{hostname}", "--concurrency=1"],
                        cwd=self._source / "compute_worker", env={**env, "HOSTNAME": hostname})
            names.append(name)
        for name, hostname in zip(names, hostnames) if wait else ():  # Celery's line once it consumes the queue
            self._wait(name, lambda name=name, hostname=hostname: f"compute-worker@{hostname} ready." in self.log(name), 120)
        return names

    def stop_worker(self, name: str, kill: bool = False) -> None:
        """As `docker stop` (SIGTERM: Celery's warm shutdown, which first finishes the running task) or, with kill, as
        `docker kill` or a machine that dies (SIGKILL to the worker and its pool: the task's message was not acked)."""
        process = self._processes[name]
        if kill:
            self._kill([name], grace=0)
        else:
            self._stopping.add(name)  # it may exit now: not a failure of the stack (_wait)
            os.kill(process.pid, signal.SIGTERM)  # docker stop signals the container's main process only

    def worker_running(self, name: str) -> bool:
        process = self._processes.get(name)
        return process is not None and process.poll() is None

    def stop(self) -> None:
        """Stop everything started, remove the private folders and what the worker left for this stack."""
        if not self._started:
            return
        self._started = False
        atexit.unregister(self.stop)
        try:
            if "storage" in self._processes:
                self._forget_cached_files()
        finally:
            # the workers and the site first (while their broker is up), then the servers
            self._kill([n for n in self._processes if n.startswith(("compute-worker", "own-worker", "site"))])
            self._kill(list(self._processes))
            self._processes.clear()
            if "site" in self.ports:
                self._clean_worker_leftovers()
            for folder in self._private:
                shutil.rmtree(folder, ignore_errors=True)
            self._private.clear()
            self._env = {}
            self._tokens.clear()

    # -- start --
    def _start(self) -> None:
        self._needs, problem = site_needs()
        if problem:
            raise SiteUnavailable(f"Codabench's site cannot run here: {problem}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.logs, ignore_errors=True)
        self.logs.mkdir()
        self._source = self._unpacked_source()
        names = ["site", "postgres", "redis", "storage", "amqp", "distribution", "management", "epmd"]
        self.ports = dict(zip(names, _free_ports(len(names))))
        self.url = f"http://127.0.0.1:{self.ports['site']}"
        run = Path(tempfile.mkdtemp(prefix="run-", dir=self.workdir))
        self._private.append(run)
        self._env = self._site_env(run)
        self._clean_worker_leftovers()  # of a stack that had this port and died

        self._start_redis(run)
        self._start_storage()
        self._start_rabbitmq(run)
        template = self._template_cluster()
        self._start_postgres(template)
        self._spawn("site", [self._needs["site_python"], "-m", "uvicorn", "asgi:application", "--host", "127.0.0.1",
                             "--port", str(self.ports["site"])], cwd=self._source / "src", env=self._env)
        self._wait("storage", lambda: _http(f"http://127.0.0.1:{self.ports['storage']}/")[0] == 200, 60)
        for bucket in (PUBLIC_BUCKET, PRIVATE_BUCKET):  # moto checks no signature: a plain CreateBucket
            status, body = _http(f"http://127.0.0.1:{self.ports['storage']}/{bucket}", method="PUT", data=b"")
            if status != 200:
                raise SiteUnavailable(f"storage: creating bucket {bucket} answered {status}: {body[:300]!r}")
        # once RabbitMQ takes connections (a Celery worker that finds none retries 2, 4, 6... s later)
        self._wait("rabbitmq", lambda: _listening(self.ports["amqp"]), 120)
        self._spawn("site-worker", [self._needs["site_python"], "-m", "celery", "-A", "celery_config", "worker",
                                    "-Q", "site-worker", "-l", "info", "-n", f"site-worker-{self.ports['site']}@%h",
                                    "--concurrency=2"], cwd=self._source / "src", env=self._env)
        for number in range(1, self.compute_workers + 1):
            self._spawn(f"compute-worker-{number}", [
                self._needs["worker_python"], "-m", "celery", "-A", "compute_worker", "worker", "-Q", "compute-worker",
                "-l", "info", "-n", f"compute-worker-{number}-{self.ports['site']}@%h", "--concurrency=1"],
                cwd=self._source / "compute_worker", env=self._worker_env())
        self._wait("rabbitmq management", lambda: _http(f"{self.management_url}/api/overview", auth="guest:guest")[0] == 200, 120)
        self._wait("site", lambda: _http(f"{self.url}/api/competitions/")[0] < 500, 120)
        self._wait("site-worker", lambda: self._consumers("site-worker") >= 1, 120)
        if self.compute_workers:
            self._wait("compute-worker", lambda: self._consumers("compute-worker") >= self.compute_workers, 120)

    def _unpacked_source(self) -> Path:
        source = _source_dir()
        if source is not None:
            return source
        target = self.workdir / "codabench-src"
        done = target / ".extracted"
        if not done.is_file():
            shutil.rmtree(target, ignore_errors=True)
            with tarfile.open(TARBALL) as tar:
                extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(target, **extra)
            done.write_text(str(TARBALL))
        return target / "codabench"

    def _site_env(self, run: Path) -> dict[str, str]:
        """The site's environment: what upstream's .env sets, for this stack. Nothing else is inherited
        (Codabench's settings read dozens of variables) but the basics of a process."""
        env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")
               if key in os.environ}
        (run / "codalab_tmp").mkdir()
        p = self.ports
        env.update({
            "PYTHONPATH": str(self._source / "src"), "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "settings.base",
            "SECRET_KEY": secrets.token_urlsafe(32), "DEBUG": "False", "LOG_LEVEL": "INFO",
            "DOMAIN_NAME": f"127.0.0.1:{p['site']}", "SITE_DOMAIN": self.url,
            "SUBMISSIONS_API_URL": f"{self.url}/api",
            "DATABASE_URL": f"postgres://codabench@127.0.0.1:{p['postgres']}/codabench",
            "REDIS_URL": f"redis://127.0.0.1:{p['redis']}",
            "BROKER_URL": self.broker_url,
            "RABBITMQ_HOST": "127.0.0.1", "RABBITMQ_PORT": str(p["amqp"]), "RABBITMQ_MANAGEMENT_PORT": str(p["management"]),
            "RABBITMQ_DEFAULT_USER": "guest", "RABBITMQ_DEFAULT_PASS": "guest",
            "STORAGE_TYPE": "s3", "AWS_ACCESS_KEY_ID": "testkey", "AWS_SECRET_ACCESS_KEY": "testsecret",
            "AWS_STORAGE_BUCKET_NAME": PUBLIC_BUCKET, "AWS_STORAGE_PRIVATE_BUCKET_NAME": PRIVATE_BUCKET,
            "AWS_S3_ENDPOINT_URL": f"http://127.0.0.1:{p['storage']}/", "AWS_QUERYSTRING_AUTH": "False",
            "TEMP_SUBMISSION_STORAGE": str(run / "codalab_tmp"),
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        })
        return env

    def _worker_env(self) -> dict[str, str]:
        """The compute worker's: this environment without what the worker reads (WORKER_ENV), then its settings."""
        env = {key: value for key, value in os.environ.items() if key not in WORKER_ENV}
        no_proxy = ",".join(filter(None, [env.get("NO_PROXY", ""), "127.0.0.1,localhost"]))
        env.update(NO_PROXY=no_proxy, no_proxy=no_proxy, PYTHONUNBUFFERED="1", LOG_LEVEL="INFO",
                   PYTHONPATH=os.pathsep.join([str(self._source / "compute_worker"), str(self._source / "src" / "settings")]),
                   BROKER_URL=self.broker_url, HOST_DIRECTORY=str(BASE_DIR), CONTAINER_ENGINE_EXECUTABLE="docker")
        return env

    def _spawn(self, name: str, argv: list[str], *, cwd: Path, env: dict[str, str], as_postgres: bool = False,
               log: str | None = None) -> subprocess.Popen:
        user = {"user": "postgres", "group": "postgres", "extra_groups": []} if as_postgres and os.geteuid() == 0 else {}
        with open(self.logs / f"{log or name}.log", "ab") as out:
            process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True, **user)
        self._processes[name] = process
        self._log_of[name] = log or name
        return process

    def _wait(self, name: str, ready, timeout: float) -> None:
        """Until ready() is true; SiteUnavailable when it is not in time, or when any process started has exited."""
        started, deadline = time.monotonic(), time.monotonic() + timeout
        while True:
            for other, process in self._processes.items():
                if process.poll() is not None and other not in self._stopping:
                    raise SiteUnavailable(f"{other} exited with {process.returncode} while {name} was starting; "
                                          f"its log ends:\n" + _tail(self.log(self._log_of[other])))
            try:
                if ready():
                    _say(f"{name} ready ({time.monotonic() - started:.1f} s)")
                    return
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                log = self._log_of.get(name, name)
                raise SiteUnavailable(f"{name} was not ready after {timeout:.0f} s; its log ends:\n" + _tail(self.log(log)))
            time.sleep(0.1)

    def _consumers(self, queue: str, vhost: str = "/") -> int:
        status, body = _http(f"{self.management_url}/api/queues/{urllib.parse.quote(vhost, safe='')}/{queue}", auth="guest:guest")
        return json.loads(body).get("consumers", 0) if status == 200 else 0

    def _start_redis(self, run: Path) -> None:
        folder = run / "redis"
        folder.mkdir()
        self._spawn("redis", [self._needs["redis_server"], "--port", str(self.ports["redis"]), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", str(folder)], cwd=folder, env=self._env)

    def _start_storage(self) -> None:
        self._spawn("storage", [self._needs["site_python"], "-m", "moto.server", "-H", "127.0.0.1",
                                "-p", str(self.ports["storage"])], cwd=self.workdir, env=self._env)

    def _start_rabbitmq(self, run: Path) -> None:
        """A node of its own: own name, ports, epmd, mnesia, config and plugins file; run as we are."""
        folder = run / "rabbitmq"
        (folder / "home").mkdir(parents=True)  # HOME: its own Erlang cookie
        p = self.ports
        (folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{p['amqp']}\n"
            f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {p['management']}\n"
            "consumer_timeout = 100000000\n")  # upstream's WORKER_CONNECTION_TIMEOUT (.env_sample)
        (folder / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (folder / "rabbitmq-env.conf").write_text("")
        self._spawn("epmd", [self._needs["epmd"], "-port", str(p["epmd"]), "-address", "127.0.0.1"], cwd=folder,
                    env=self._env, log="rabbitmq")
        self._wait("epmd", lambda: _listening(p["epmd"]), 30)
        env = {**self._env, "HOME": str(folder / "home"), "ERL_EPMD_PORT": str(p["epmd"]),
               "RABBITMQ_NODENAME": f"codabench-{p['site']}@localhost", "RABBITMQ_DIST_PORT": str(p["distribution"]),
               "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
               "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
               "RABBITMQ_ADVANCED_CONFIG_FILE": str(folder / "advanced.config"),
               "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
               "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"), "RABBITMQ_LOG_BASE": str(folder / "log"),
               "RABBITMQ_LOGS": "-", "RABBITMQ_PID_FILE": str(folder / "pid"),
               # our epmd or none (no stray daemon); distribution on 127.0.0.1 only
               "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}"}
        self._spawn("rabbitmq", [self._needs["rabbitmq_server"]], cwd=folder, env=env)

    # -- PostgreSQL --
    def _postgres_folder(self) -> Path:
        """A private folder the server's user owns: under the system's temporary folder when we are root
        (the postgres user cannot reach into root's folders), else in the workdir."""
        root = os.geteuid() == 0
        folder = Path(tempfile.mkdtemp(prefix="codabench-site-pg-", dir=None if root else self.workdir))
        self._private.append(folder)
        if root:
            shutil.chown(folder, "postgres", "postgres")
        return folder

    def _postgres(self, name: str, data: Path, port: int, log: str = "postgres") -> None:
        bin_dir = self._needs["postgres_bin"]
        self._spawn(name, [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(data),
                           "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                           "-c", "full_page_writes=off"], cwd=data, env=self._env, as_postgres=True, log=log)

    def _psql(self, port: int, sql: str, database: str = "codabench") -> subprocess.CompletedProcess:
        return subprocess.run([str(self._needs["postgres_bin"] / "psql"), "-h", "127.0.0.1", "-p", str(port),
                               "-U", "codabench", "-d", database, "-X", "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                              capture_output=True, text=True, timeout=60, check=False, env=self._env)

    def _template_key(self) -> str:
        digest = hashlib.sha256()
        version = subprocess.run([str(self._needs["postgres_bin"] / "postgres"), "--version"], capture_output=True,
                                 text=True, check=False).stdout
        digest.update(version.encode())
        for migration in sorted(self._source.glob("src/apps/*/migrations/*.py")):
            digest.update(str(migration.relative_to(self._source)).encode() + migration.read_bytes())
        venv = Path(self._needs["site_python"]).parent.parent  # its packages also bring migrations
        digest.update(" ".join(sorted(p.name for p in venv.glob("lib/python3*/site-packages/*.dist-info"))).encode())
        return digest.hexdigest()[:16]

    def _template_cluster(self) -> Path:
        """A stopped cluster with database `codabench` migrated, from the cache; built when missing."""
        template = self.cache / f"postgres-{self._template_key()}"
        if (template / "PG_VERSION").is_file():
            return template
        self.cache.mkdir(parents=True, exist_ok=True)
        with open(self.cache / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another stack may be building it
            if not (template / "PG_VERSION").is_file():
                started = time.monotonic()
                _say(f"building the migrated template cluster {template} (once; about 20 s)")
                self._build_template(template)
                self.timings["template"] = time.monotonic() - started
                _say(f"template cluster built ({self.timings['template']:.1f} s)")
        return template

    def _build_template(self, template: Path) -> None:
        folder = self._postgres_folder()
        data = folder / "data"
        user = {"user": "postgres", "group": "postgres", "extra_groups": []} if os.geteuid() == 0 else {}
        done = subprocess.run([str(self._needs["postgres_bin"] / "initdb"), "-D", str(data), "-U", "codabench",
                               "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"], cwd=folder, env=self._env,
                              capture_output=True, text=True, timeout=300, check=False, **user)
        if done.returncode != 0:
            raise SiteUnavailable(f"initdb failed: {_tail(done.stdout + done.stderr)}")
        port = _free_ports(1)[0]
        self._postgres("template-postgres", data, port, log="migrate")
        try:
            self._wait("template-postgres", lambda: self._psql(port, "select 1", "postgres").returncode == 0, 60)
            created = self._psql(port, "create database codabench", "postgres")
            if created.returncode != 0:
                raise SiteUnavailable(f"create database failed: {created.stderr.strip()}")
            env = {**self._env, "DATABASE_URL": f"postgres://codabench@127.0.0.1:{port}/codabench"}
            with open(self.logs / "migrate.log", "ab") as out:
                migrate = subprocess.run([self._needs["site_python"], "manage.py", "migrate", "--no-input"],
                                         cwd=self._source, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=900,
                                         check=False)
            if migrate.returncode != 0:
                raise SiteUnavailable(f"manage.py migrate failed with {migrate.returncode}; its log ends:\n"
                                      + _tail(self.log("migrate")))
        finally:
            self._kill(["template-postgres"])
        partial = self.cache / f".{template.name}-{uuid.uuid4().hex}"
        subprocess.run(["cp", "-a", str(data), str(partial)], check=True)
        partial.rename(template)
        shutil.rmtree(folder, ignore_errors=True)
        self._private.remove(folder)

    def _start_postgres(self, template: Path) -> None:
        data = self._postgres_folder()
        subprocess.run(["cp", "-a", f"{template}/.", str(data)], check=True)
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "postgres:postgres", str(data)], check=True)
        self._postgres("postgres", data, self.ports["postgres"])
        self._wait("postgres", lambda: self._psql(self.ports["postgres"], "select 1").returncode == 0, 60)
        first = self.ports["site"] * ID_BLOCK  # the worker names containers and folders after submission ids
        done = self._psql(self.ports["postgres"], f"select setval('competitions_submission_id_seq', {first})")
        if done.returncode != 0:
            raise SiteUnavailable(f"setting the first submission id failed: {done.stderr.strip()}")

    # -- stop --
    def _kill(self, names: list[str], grace: float = 10) -> None:
        """Stop these processes, their groups and every descendant (Erlang's helpers start sessions of their
        own): SIGTERM, but SIGINT for PostgreSQL (its fast shutdown) and SIGKILL for RabbitMQ (its state
        is thrown away; a clean stop takes 6 s); SIGKILL for what is left after `grace` seconds."""
        processes = [(name, self._processes.pop(name)) for name in names if name in self._processes]
        family = _descendants([process.pid for _, process in processes])
        for name, process in processes:
            how = {"postgres": signal.SIGINT, "rabbitmq": signal.SIGKILL}.get(name.rsplit("-", 1)[-1], signal.SIGTERM)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, how)
        deadline = time.monotonic() + grace
        for _, process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
        for _, process in processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):  # prefork children, postgres backends
                os.killpg(process.pid, signal.SIGKILL)
        for pid in family:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for _, process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)

    def _forget_cached_files(self) -> None:
        """Drop this stack's files from the worker's cache (/codabench/cache/<sha256 of the URL without query>)."""
        storage = f"http://127.0.0.1:{self.ports['storage']}"
        try:
            status, body = _http(f"{storage}/{PRIVATE_BUCKET}?list-type=2&max-keys=100000")
        except OSError:
            return
        if status != 200:
            return
        for key in re.findall(r"<Key>([^<]*)</Key>", body.decode("utf-8", "replace")):
            url = f"{storage}/{PRIVATE_BUCKET}/{urllib.parse.quote(html.unescape(key), safe='/~')}"  # as botocore signs it
            (BASE_DIR / "cache" / hashlib.sha256(url.encode()).hexdigest()).unlink(missing_ok=True)

    def _clean_worker_leftovers(self) -> None:
        """Containers and run folders the worker left for this stack's submission ids (a killed worker's)."""
        first = self.ports["site"] * ID_BLOCK
        mine = range(first, first + ID_BLOCK)
        if self._needs.get("docker"):
            listed = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                                    timeout=60, check=False)
            names = [n for n in listed.stdout.split() if (m := WORKER_RUN.search(n)) and int(m.group(1)) in mine]
            if names:
                subprocess.run(["docker", "rm", "-f", *names], capture_output=True, timeout=120, check=False)
        for folder in BASE_DIR.glob("uPK-*_sID-*__*"):
            if (m := WORKER_RUN.search(folder.name)) and int(m.group(1)) in mine:
                shutil.rmtree(folder, ignore_errors=True)
