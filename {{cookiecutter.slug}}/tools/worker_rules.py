"""What a compute worker's `.env` and compose file must say for Codabench's worker to serve this competition.

Used by `make worker` on what it writes and by `make worker-check` on any `.env` (ENV_FILE=path).
Each problem is one line naming the file and the key, what goes wrong and the fix; the broker's password
is never part of one (see `shown_url`). The rules come from Codabench's worker at the snapshot the
template is tested on (compute_worker.py, celery_config.py at c7dbc756) and from the failures its
organizers reported (Codabench issues #467, #677, #690, #855, #1455, #1473, #2142, #2379, #2399).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from yaml_rules import GPU_IMAGE

WORKER_IMAGE = "codalab/codabench-compute-worker"
WORKER_TAG = "v1.24"  # the release of the worker code the template is tested against (Codabench c7dbc756)
LEGACY_IMAGES = ("codalab/competitions-v2-compute-worker", "codalab/codabench_worker_podman")
HOST_DIRECTORY = "/codabench"  # the worker's BASE_DIR is hard-coded; another host path fails (#2379)
DOCKER_SOCKET = "/var/run/docker.sock"
PODMAN_SOCKET = "/run/user/1000/podman/podman.sock"  # where the worker looks inside its container (compute_worker.py:79)
GPU_DEVICE = "nvidia.com/gpu=all"
VHOST = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # a vhost as Codabench makes it
CDI_DEVICE = re.compile(r"^[a-z0-9][a-z0-9.-]*/[a-z0-9][a-z0-9._-]*=[A-Za-z0-9_.:-]+$")
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Every setting the worker reads (compute_worker.py, celery_config.py), with what it means.
KNOWN_KEYS = {
    "BROKER_URL": "the queue's broker URL",
    "BROKER_USE_SSL": "TLS to the broker when set to anything",
    "HOST_DIRECTORY": "the host folder mounted at /codabench",
    "CONTAINER_ENGINE_EXECUTABLE": "docker or podman",
    "CONTAINER_SOCKET": "the engine's socket inside the worker",
    "USE_GPU": "true gives submissions the GPU",
    "GPU_DEVICE": "the CDI device given to submissions",
    "COMPETITION_CONTAINER_NETWORK_DISABLED": "true: submissions run without network",
    "COMPETITION_CONTAINER_HTTP_PROXY": "http_proxy inside submissions",
    "COMPETITION_CONTAINER_HTTPS_PROXY": "https_proxy inside submissions",
    "MAX_CACHE_DIR_SIZE_GB": "size of the data cache before it is emptied",
    "CODALAB_IGNORE_CLEANUP_STEP": "keep each submission's folder (debugging)",
    "LOG_LEVEL": "the worker's log level",
    "SERIALIZED": "JSON logs",
    "WORKER_BUNDLE_URL_REWRITE": "FROM|TO rewrite of file URLs (local sites)",
    "HOSTNAME": "the worker's name on the server status page",
    # read by the libraries the worker downloads and uploads with (requests, urllib)
    **dict.fromkeys(("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"), "a proxy"),
}
# Settings people add that the worker never reads, and what to do instead.
NOT_SETTINGS = {
    "WORKER_CONCURRENCY": "one worker runs one submission at a time (celery_config.py: worker_concurrency = 1); "
                          "run more workers instead: make worker WORKERS=N",
    "CONCURRENCY": "one worker runs one submission at a time; run more workers instead: make worker WORKERS=N",
    "QUEUE": "the queue is the vhost at the end of BROKER_URL",
    "DOCKER_IMAGE": "the image comes from the competition (competition.yaml's docker_image)",
}
FALSE_WORDS = {"false", "0", "no", "off", "none"}


@dataclass(frozen=True)
class Problem:
    where: str  # file: key (or file alone)
    message: str
    fix: str
    error: bool = True

    def __str__(self) -> str:
        return f"{'ERROR' if self.error else 'WARNING'}: {self.where}: {self.message}. {self.fix[:1].upper()}{self.fix[1:]}"


SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/{1,2}")  # where a URL's user part starts ("pyamqp://", or one slash)
BOUNDARY = re.compile(r"[\s\"']")


def _password_spans(text: str) -> list[tuple[int, int]]:
    """Where the password of every URL in `text` is (user:password@host), however odd the URL: a password with /, ?
    or #, one slash after the scheme, quotes around it, or a URL pasted twice."""
    spans = []
    starts = [m.end() for m in SCHEME.finditer(text)]
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(text)
        boundary = BOUNDARY.search(text, start, end)
        end = boundary.start() if boundary else end
        at = text.rfind("@", start, end)
        colon = text.find(":", start, at) if at != -1 else -1
        if colon != -1 and colon + 1 < at and text[colon + 1:at] != "<password>":  # not the shape in a message
            spans.append((colon + 1, at))
    return spans


def redact(text: str, *urls: str) -> str:
    """`text` with the password of every URL in it replaced by ***; the passwords of `urls` too wherever they appear
    alone (as in a parser's message), when they are long enough not to be any word's letters."""
    for start, end in reversed(_password_spans(text)):
        text = f"{text[:start]}***{text[end:]}"
    alone = {url[start:end] for url in urls if url for start, end in _password_spans(url)}
    for password in sorted((p for p in alone if len(p) >= 6), key=len, reverse=True):
        text = text.replace(password, "***")
    return text


def shown_url(url: str) -> str:
    """A broker URL as it may be printed: rebuilt from its parts with *** for the password, when it is a well-formed
    pyamqp://user:password@host:port/vhost; otherwise not shown at all (an odd URL hides its password in odd places)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "(a URL that is not well formed)"
    if not (parts.scheme and parts.username and parts.password and parts.hostname and port) or any(c.isspace() for c in url):
        return "(a URL that is not well formed)"
    return f"{parts.scheme}://{parts.username}:***@{parts.hostname}:{port}{parts.path}"


def read_env(path: Path) -> tuple[dict[str, str], list[Problem]]:
    """An env file as `docker run --env-file` reads it (KEY=VALUE lines, taken literally; a byte-order mark, leading
    spaces and CRLF line ends are dropped, as docker does), with the lines that an engine would read otherwise
    reported once each. The values returned are what was meant (quotes and a trailing comment removed), so that one
    mistake is not reported again by every rule that reads the value."""
    values: dict[str, str] = {}
    problems: list[Problem] = []
    if path.is_dir():
        return {}, [Problem(str(path), "is a folder", "give the .env file itself (ENV_FILE=path/to/.env)")]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = "not UTF-8 text" if isinstance(error, UnicodeDecodeError) else (error.strerror or str(error))
        return {}, [Problem(str(path), f"cannot be read ({reason})", "write it again with make worker")]
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip()  # docker trims a line's start only: what ends it is part of the value
        if not stripped.strip() or stripped.startswith("#"):
            continue
        where = f"{path.name}:{number}"
        if stripped.startswith("export "):
            problems.append(Problem(where, "`export` is shell syntax: docker run --env-file takes the whole line's "
                                    "first word as the name", "write KEY=VALUE without export"))
            stripped = stripped.removeprefix("export ").lstrip()
        key, equals, value = stripped.partition("=")
        if not equals or not KEY.match(key.strip()):
            problems.append(Problem(where, "not a KEY=VALUE line", "write it as KEY=VALUE, or start it with # to keep it as a comment"))
            continue
        if key != key.strip() or value != value.strip():
            problems.append(Problem(f"{where}: {key.strip()}", "spaces around the = or after the value become part of "
                                    "the name or the value for docker run --env-file", "remove them"))
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            problems.append(Problem(f"{where}: {key}", "the quotes are part of the value for docker run --env-file",
                                    "write the value without quotes"))
            value = value[1:-1]
        elif comment := re.search(r"\s+#", value):
            problems.append(Problem(f"{where}: {key}", "a comment after the value is part of the value for docker run "
                                    "--env-file", "put the comment on its own line"))
            value = value[:comment.start()]
        if key in values:
            problems.append(Problem(f"{where}: {key}", "set twice; the last one wins", "keep one line", error=False))
        values[key] = value
    return values, problems


def broker_problems(url: str, queue: str | None, where: str) -> list[Problem]:
    """The broker URL against its shape, pyamqp://<user>:<password>@<host>:<port>/<vhost> (queues/models.py:31-35).
    No message holds the password, nor a parser's own words (they may quote it)."""
    at = f"{where}: BROKER_URL" if where else "BROKER_URL"
    fix = "copy it again, once and whole, from Codabench's Queue Management (the eye icon of your queue)"
    if not url:
        return [Problem(at, "is missing or empty: the worker has no queue to listen to", fix)]
    if url.count("://") > 1:
        return [Problem(at, "holds two URLs (pasted twice?); the worker then listens to a vhost that does not exist and "
                        "dies with RestartFreqExceeded (Codabench #1473)", fix)]
    shape = "is not pyamqp://<user>:<password>@<host>:<port>/<vhost>"
    if any(c.isspace() for c in url):
        return [Problem(at, "holds a space or a line break", fix)]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return [Problem(at, f"{shape}: its host or port cannot be read", fix)]
    if parts.scheme not in ("pyamqp", "amqp"):
        said = " (amqps: TLS is BROKER_USE_SSL's business)" if parts.scheme == "amqps" else ""
        return [Problem(at, f"{shape}{said}", fix)]
    if not parts.netloc or "@" not in parts.netloc:  # pyamqp:u:p@h, pyamqp:/u:p@h, pyamqp:///u:p@h, no user at all
        return [Problem(at, f"{shape}: the // after {parts.scheme}: or the user and password are missing", fix)]
    problems = []
    if not parts.username or parts.password is None:
        problems.append(Problem(at, "has no user and password", fix))
    if not parts.hostname:
        problems.append(Problem(at, "has no host", fix))
    elif parts.hostname == "rabbit":
        problems.append(Problem(at, "names the host `rabbit`, the site's own name for its broker, which no outside "
                                "worker reaches (Codabench #677, #690)", fix))
    if parts.hostname and not port:
        problems.append(Problem(at, "has no port (Codabench #467)", fix))
    vhost = parts.path.removeprefix("/")
    if not vhost or vhost == "/":
        problems.append(Problem(at, "ends without a vhost: that is the public default queue, not yours", fix))
    elif not VHOST.fullmatch(vhost):
        shown = repr(vhost) if len(vhost) <= 60 and "@" not in vhost and ":" not in vhost else "text"
        problems.append(Problem(at, f"ends in {shown}, which is not a queue's vhost (a lowercase UUID, as Codabench "
                                "makes them; RabbitMQ takes a vhost's name exactly)", fix))
    elif queue and vhost != queue.lower():
        problems.append(Problem(at, f"is for queue {vhost}, but competition.yaml sends submissions to queue {queue}: "
                                "these workers would never get them", "give that queue's broker URL (CODABENCH_BROKER_URL"
                                "=... make worker, or pipe it in), or fix `queue:`"))
    if parts.query or parts.fragment:
        problems.append(Problem(at, "has text after the vhost", fix))
    return problems


def env_problems(env: dict[str, str], *, where: str, queue: str | None, image: str | None) -> list[Problem]:
    """Every rule on the values of a worker's `.env`; queue and image are competition.yaml's."""
    problems = broker_problems(env.get("BROKER_URL", ""), queue, where)
    for key in env:
        if key in NOT_SETTINGS:
            problems.append(Problem(f"{where}: {key}", "is not a setting of Codabench's worker", NOT_SETTINGS[key]))
        elif key not in KNOWN_KEYS:
            problems.append(Problem(f"{where}: {key}", "is not a setting of Codabench's worker, which ignores it",
                                    f"remove it (its settings: {', '.join(sorted(KNOWN_KEYS))})", error=False))
    ssl = env.get("BROKER_USE_SSL")
    if ssl and ssl.lower() in FALSE_WORDS:
        problems.append(Problem(f"{where}: BROKER_USE_SSL", f"is {ssl!r}, and any value turns TLS on "
                                "(celery_config.py: `if os.environ.get('BROKER_USE_SSL', False)`)",
                                "remove the line for a broker without TLS; write True for one with TLS"))
    host_directory = env.get("HOST_DIRECTORY")
    if not host_directory:
        problems.append(Problem(f"{where}: HOST_DIRECTORY", "is missing: the worker then mounts /tmp/codabench/ into "
                                "submissions while its files are in /codabench, and programs are not found (Codabench #602)",
                                f"write HOST_DIRECTORY={HOST_DIRECTORY}"))
    elif host_directory.rstrip("/") != HOST_DIRECTORY:
        problems.append(Problem(f"{where}: HOST_DIRECTORY", f"is {host_directory!r}: the worker keeps its files in "
                                f"{HOST_DIRECTORY} inside its container and hands the host path to the engine, which works "
                                f"only when both are {HOST_DIRECTORY} (Codabench #2142, #2379)",
                                f"write HOST_DIRECTORY={HOST_DIRECTORY} and mount {HOST_DIRECTORY}:{HOST_DIRECTORY}"))
    engine = env.get("CONTAINER_ENGINE_EXECUTABLE", "docker")
    if engine.lower() not in ("docker", "podman"):
        problems.append(Problem(f"{where}: CONTAINER_ENGINE_EXECUTABLE", f"is {engine!r}; the worker knows docker and "
                                "podman only: it starts without an engine, and every submission fails with 'Pull for "
                                "<image> failed!'", "write docker or podman"))
    gpu = env.get("USE_GPU", "false")
    if gpu.lower() not in ("true", "false"):
        problems.append(Problem(f"{where}: USE_GPU", f"is {gpu!r}, which the worker reads as false (only 'true' turns "
                                "the GPU on)", "write True or False"))
    use_gpu = gpu.lower() == "true"
    device = env.get("GPU_DEVICE")
    if device is not None and not CDI_DEVICE.match(device):
        problems.append(Problem(f"{where}: GPU_DEVICE", f"{device!r} is not a CDI device name (vendor/class=name)",
                                f"write {GPU_DEVICE} (`nvidia-ctk cdi list` shows the names)"))
    if image and GPU_IMAGE.search(image) and not use_gpu:
        problems.append(Problem(f"{where}: USE_GPU", f"is not True, and the competition's image {image} is a GPU image: "
                                "submissions would run without the GPU", "write USE_GPU=True (make worker GPU=1)"))
    elif image and use_gpu and not GPU_IMAGE.search(image):
        problems.append(Problem(f"{where}: USE_GPU", f"is True, and the competition's image {image} looks like a CPU "
                                "image: submissions get the GPU but probably cannot use it",
                                "use an image with CUDA (codalab/codalab-legacy:gpu310), or USE_GPU=False", error=False))
    network = env.get("COMPETITION_CONTAINER_NETWORK_DISABLED")
    if network and network.lower() not in ("true", "false"):
        problems.append(Problem(f"{where}: COMPETITION_CONTAINER_NETWORK_DISABLED", f"is {network!r}; only 'true' "
                                "takes the network away", "write True or False"))
    cache = env.get("MAX_CACHE_DIR_SIZE_GB")
    if cache is not None and not re.fullmatch(r"[0-9]+(\.[0-9]+)?", cache):
        problems.append(Problem(f"{where}: MAX_CACHE_DIR_SIZE_GB", f"is {cache!r}, not a number: the worker stops as "
                                "it starts (float() of it, compute_worker.py:173)", "write a number of gigabytes, e.g. 10"))
    return problems


def _mounts(service: dict) -> dict[str, str]:
    """A service's bind mounts, container path -> host path (short and long syntax)."""
    found = {}
    volumes = service.get("volumes")
    for volume in volumes if isinstance(volumes, list) else []:
        if isinstance(volume, str):
            parts = volume.split(":")
            if len(parts) >= 2:
                found[parts[1]] = parts[0]
        elif isinstance(volume, dict) and volume.get("target"):
            found[str(volume["target"])] = str(volume.get("source", ""))
    return found


def compose_problems(compose: object, env: dict[str, str], *, where: str, env_name: str = ".env") -> list[Problem]:
    """The worker services of a compose file against Codabench's reference compose (its docs' Setup page)."""
    if not isinstance(compose, dict) or not isinstance(compose.get("services"), dict) or not compose["services"]:
        return [Problem(where, "has no services", "write it again with make worker")]
    problems = []
    engine = env.get("CONTAINER_ENGINE_EXECUTABLE", "docker").lower()
    names = []
    for name, service in compose["services"].items():
        at = f"{where}: services.{name}"
        if not isinstance(service, dict):
            problems.append(Problem(at, "is not a mapping", "write it again with make worker"))
            continue
        image = str(service.get("image", ""))
        named, _, digest = image.partition("@")
        repository, _, tag = named.rpartition(":") if ":" in named.rsplit("/", 1)[-1] else (named, "", "")
        repository = repository.removeprefix("docker.io/").removeprefix("index.docker.io/")
        tag = tag or ("digest" if digest else "")
        if repository in LEGACY_IMAGES:
            problems.append(Problem(f"{at}.image", f"{image} is the worker's old image, which fails on today's site "
                                    "('Failure updating submission data', Codabench #2399)",
                                    f"use {WORKER_IMAGE}:{WORKER_TAG}"))
        elif repository != WORKER_IMAGE:
            problems.append(Problem(f"{at}.image", f"{image or 'none'} is not Codabench's compute worker",
                                    f"use {WORKER_IMAGE}:{WORKER_TAG}"))
        elif tag in ("", "latest"):
            problems.append(Problem(f"{at}.image", f"{image} is not pinned: every pull may bring another worker",
                                    f"pin a release, e.g. {WORKER_IMAGE}:{WORKER_TAG}", error=False))
        deploy = service.get("deploy")
        if service.get("runtime") == "nvidia" or (isinstance(deploy, dict) and deploy.get("resources")):
            problems.append(Problem(at, "uses `runtime: nvidia` or `deploy.resources`, the GPU settings of the old worker "
                                    "images; today's worker hands the GPU to submissions itself (USE_GPU, GPU_DEVICE)",
                                    "remove them and set USE_GPU=True in the .env", error=False))
        env_files = service.get("env_file") or []
        env_files = [env_files] if isinstance(env_files, str) else env_files if isinstance(env_files, list) else []
        if not any(str(f.get("path") if isinstance(f, dict) else f).endswith(env_name) for f in env_files):
            problems.append(Problem(f"{at}.env_file", f"does not read {env_name}: the worker gets no BROKER_URL",
                                    f"add `env_file: {env_name}`"))
        mounts = _mounts(service)
        host_side = mounts.get(HOST_DIRECTORY)
        if host_side is None:
            problems.append(Problem(f"{at}.volumes", f"nothing is mounted at {HOST_DIRECTORY}, where the worker keeps "
                                    "submissions", f"mount {HOST_DIRECTORY}:{HOST_DIRECTORY}"))
        elif env.get("HOST_DIRECTORY") and host_side.rstrip("/") != env["HOST_DIRECTORY"].rstrip("/"):
            problems.append(Problem(f"{at}.volumes", f"mounts {host_side} at {HOST_DIRECTORY}, but HOST_DIRECTORY is "
                                    f"{env['HOST_DIRECTORY']}: submissions would not find their files",
                                    f"use {HOST_DIRECTORY} for both"))
        socket = (env.get("CONTAINER_SOCKET") or "").removeprefix("unix://") or (
            PODMAN_SOCKET if engine == "podman" else DOCKER_SOCKET)
        if "://" not in socket and socket not in mounts:  # tcp://: an engine over the network, nothing to mount
            problems.append(Problem(f"{at}.volumes", f"the {engine} socket is not mounted at {socket}: the worker cannot "
                                    "start submissions", f"mount the host's {engine} socket at {socket}"))
        if service.get("restart") not in ("unless-stopped", "always"):
            problems.append(Problem(f"{at}.restart", "a worker that stops is not started again (after a reboot, say)",
                                    "add `restart: unless-stopped`", error=False))
        logging = service.get("logging")
        options = logging.get("options") if isinstance(logging, dict) else None
        if not (isinstance(options, dict) and options.get("max-size")):
            problems.append(Problem(f"{at}.logging", "logs grow without limit and fill the disk",
                                    "add logging options max-size: 50m, max-file: '3'", error=False))
        names.append((service.get("container_name"), service.get("hostname")))
    duplicates = (("container_name", "container name: only one of them can run", "remove container_name, or give each its own"),
                  ("hostname", "hostname: Codabench shows them as one worker, and Celery warns of a duplicate node name",
                   "give each its own hostname"))
    for index, (key, what, fix) in enumerate(duplicates):
        taken = [pair[index] for pair in names if pair[index]]
        if len(taken) != len(set(taken)):
            problems.append(Problem(f"{where}: {key}", f"two services have one {what}", fix))
    return problems
