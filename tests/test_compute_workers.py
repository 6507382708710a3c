"""make worker and make worker-check: your own compute workers on a private queue.

The fast tests hold the files `make worker` writes to the compose specification (as check-jsonschema vendors
it) and to the rules of Codabench's worker, and give each failure Codabench's organizers met (its issues) to
`make worker-check`: one line each, naming the key and the fix, never the broker's password. The slow ones,
in test_going_live.py's tier, run everything on Codabench's own site, RabbitMQ queues and compute worker.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import PYTHON

VHOST = "0b6a9f3e-5c1d-4e2f-9a7b-3c8d1e2f4a5b"
PASSWORD = "9d1b5e77-secret-f00d"
BROKER = f"pyamqp://2f0c6a8e-user:{PASSWORD}@codabench.example:5672/{VHOST}"


def make(bundle: Path, *arguments: str, stdin: str | None = None, env: dict | None = None,
         timeout: int = 600) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "CODABENCH_BROKER_URL"}
    environment.update(PYTHONDONTWRITEBYTECODE="1", **(env or {}))
    return subprocess.run(["make", "--no-print-directory", *arguments, f"PYTHON={PYTHON}"], cwd=bundle, env=environment,
                          input=stdin if stdin is not None else "", capture_output=True, text=True, timeout=timeout,
                          check=False)


def output(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def queued(bake) -> Path:
    return bake(queue=VHOST, slug="on_own_queue")


@pytest.fixture
def bundle(queued, tmp_path) -> Path:
    root = tmp_path / queued.name
    shutil.copytree(queued, root, ignore=shutil.ignore_patterns(".venv", "runs", "dist", "__pycache__", "worker"))
    return root


def check(bundle: Path, env_file: Path) -> subprocess.CompletedProcess:
    """make worker-check's file checks (no broker, engine or trial) on an .env (and the compose file beside it)."""
    return subprocess.run([PYTHON, "tools/worker_check.py", "--static", f"--env-file={env_file}"], cwd=bundle,
                          capture_output=True, text=True, timeout=120, check=False)


def problem_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.startswith(("ERROR:", "WARNING:"))]


def test_make_worker_writes_a_checked_env_and_a_compose_file_for_n_workers(bundle):
    done = make(bundle, "worker", "WORKERS=3", "START=0", "TLS=1", stdin=BROKER + "\n")
    assert done.returncode == 0, output(done)
    assert PASSWORD not in output(done) and "2f0c6a8e-user:***@codabench.example" in done.stderr

    env_file = bundle / "worker" / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if line and not line.startswith("#"))
    assert values == {"BROKER_URL": BROKER, "BROKER_USE_SSL": "True", "HOST_DIRECTORY": "/codabench",
                      "CONTAINER_ENGINE_EXECUTABLE": "docker", "MAX_CACHE_DIR_SIZE_GB": "10"}

    compose = yaml.safe_load((bundle / "worker" / "compose.yaml").read_text())
    schema_file = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    errors = [e.message for e in jsonschema.validators.validator_for(schema)(schema).iter_errors(compose)]
    assert errors == []
    services = compose["services"]
    assert list(services) == ["worker-1", "worker-2", "worker-3"]
    assert len({s["hostname"] for s in services.values()}) == 3
    for service in services.values():
        assert service["image"] == "codalab/codabench-compute-worker:v1.24"
        assert service["env_file"] == ".env" and service["restart"] == "unless-stopped"
        assert service["volumes"] == ["/codabench:/codabench", "/var/run/docker.sock:/var/run/docker.sock"]
        assert service["logging"]["options"] == {"max-size": "50m", "max-file": "3"}
        assert service["stop_grace_period"] == f"{600 + 1200}s"  # the phase's limit and the worker's 20 minutes
    assert "Not started (START=0)" in done.stderr

    # what make worker wrote passes make worker-check's rules
    assert problem_lines(check(bundle, env_file)) == []
    # the broker URL never travels: git ignores the .env, and the zip holds neither it nor the folder
    subprocess.run(["git", "init", "-q"], cwd=bundle, check=True)
    ignored = subprocess.run(["git", "check-ignore", "worker/.env", "worker/compose.yaml"], cwd=bundle,
                             capture_output=True, text=True, check=False).stdout.split()
    assert ignored == ["worker/.env"]
    built = make(bundle, "bundle")
    assert built.returncode == 0, output(built)
    for archive in (bundle / "dist").rglob("*.zip"):
        with zipfile.ZipFile(archive) as opened:
            assert not any(name.startswith("worker/") for name in opened.namelist())
            assert all(PASSWORD.encode() not in opened.read(name) for name in opened.namelist())


def test_gpu_podman_and_a_second_run_that_reuses_the_url(bundle):
    first = make(bundle, "worker", "START=0", "TLS=0", stdin=BROKER + "\n")
    assert first.returncode == 0, output(first)
    again = make(bundle, "worker", "WORKERS=2", "GPU=1", "ENGINE=podman", "START=0", "TLS=0")  # no URL given: the .env's
    assert again.returncode == 0, output(again)
    text = (bundle / "worker" / ".env").read_text()
    assert f"BROKER_URL={BROKER}\n" in text and "BROKER_USE_SSL" not in text
    assert "USE_GPU=True\nGPU_DEVICE=nvidia.com/gpu=all\n" in text
    assert "CONTAINER_ENGINE_EXECUTABLE=podman\nCONTAINER_SOCKET=unix:///run/user/1000/podman/podman.sock\n" in text
    # a GPU for a CPU image: said, not refused
    assert "WARNING: worker/.env: USE_GPU: is True, and the competition's image codalab/codalab-legacy:py312" in again.stderr
    compose = yaml.safe_load((bundle / "worker" / "compose.yaml").read_text())
    service = compose["services"]["worker-2"]
    assert service["volumes"][1].endswith(":/run/user/1000/podman/podman.sock:U")
    assert service["security_opt"] == ["label=disable"] and service["userns_mode"] == "host"


@pytest.mark.parametrize("given,says", [
    (BROKER + BROKER, "holds two URLs (pasted twice?)"),
    (BROKER.replace(VHOST, "1c2d3e4f-0000-4000-8000-000000000000"), "but competition.yaml sends submissions to queue"),
    (BROKER.rsplit("/", 1)[0] + "/", "ends without a vhost: that is the public default queue"),
    (BROKER.replace("codabench.example", "rabbit"), "names the host `rabbit`"),
    (BROKER.replace(":5672", ""), "has no port (Codabench #467)"),
    ("my-gpu-queue", "is not pyamqp://<user>:<password>@<host>:<port>/<vhost>"),
])
def test_a_broker_url_that_cannot_work_is_refused_and_nothing_is_written(bundle, given, says):
    done = make(bundle, "worker", "START=0", "TLS=1", stdin=given + "\n")
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and says in errors[0], done.stderr
    assert PASSWORD not in output(done)
    assert not (bundle / "worker").exists()


def test_without_a_queue_make_worker_says_how_to_get_one(default_bundle, tmp_path):
    root = tmp_path / default_bundle.name
    shutil.copytree(default_bundle, root, ignore=shutil.ignore_patterns(".venv", "runs", "dist"))
    done = make(root, "worker", stdin=BROKER + "\n")
    assert done.returncode != 0 and not (root / "worker").exists()
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("ERROR:")]
    assert "competition.yaml has no `queue:`" in line and "Queue Management" in line


GOOD_ENV = f"BROKER_URL={BROKER}\nBROKER_USE_SSL=True\nHOST_DIRECTORY=/codabench\n"


@pytest.mark.parametrize("env,says", [
    # Codabench issues: the failures organizers met with their own workers (../shared/codabench-workers.md §4)
    (GOOD_ENV.replace(BROKER, BROKER + BROKER), ".env: BROKER_URL: holds two URLs (pasted twice?)"),  # #1473
    (GOOD_ENV.replace("/codabench\n", "/srv/codabench\n"), ".env: HOST_DIRECTORY: is '/srv/codabench'"),  # #2379
    (GOOD_ENV.replace("HOST_DIRECTORY=/codabench\n", ""), ".env: HOST_DIRECTORY: is missing"),  # #602
    (GOOD_ENV.replace("=True", "=False"), ".env: BROKER_USE_SSL: is 'False', and any value turns TLS on"),
    (GOOD_ENV + "WORKER_CONCURRENCY=4\n", (".env: WORKER_CONCURRENCY: is not a setting of Codabench's worker. "
                                           "One worker runs one submission at a time")),
    (GOOD_ENV.replace(BROKER, BROKER.replace(VHOST, "my-gpu-queue")), "ends in 'my-gpu-queue', which is not a queue's vhost"),
    (GOOD_ENV + "USE_GPU=yes\n", ".env: USE_GPU: is 'yes', which the worker reads as false"),
    (GOOD_ENV + "GPU_DEVICE=all\n", ".env: GPU_DEVICE: 'all' is not a CDI device name"),
    (GOOD_ENV + "LOG_LEVEL=info # or debug\n", ".env:4: LOG_LEVEL: a comment after the value"),
    (GOOD_ENV + "MAX_CACHE_DIR_SIZE_GB=10GB\n", ".env: MAX_CACHE_DIR_SIZE_GB: is '10GB', not a number"),
    (GOOD_ENV + 'LOG_LEVEL="debug"\n', ".env:4: LOG_LEVEL: the quotes are part of the value"),
    (GOOD_ENV + "CONTAINER_ENGINE_EXECUTABLE=nerdctl\n", "CONTAINER_ENGINE_EXECUTABLE: is 'nerdctl'"),
])
def test_worker_check_names_each_known_failure_in_one_line(bundle, tmp_path, env, says):
    env_file = tmp_path / "mine" / ".env"
    env_file.parent.mkdir()
    env_file.write_text(env)
    env_file.chmod(0o600)
    done = check(bundle, env_file)
    lines = problem_lines(done)
    assert done.returncode == (1 if any(line.startswith("ERROR") for line in lines) else 0)
    assert len(lines) == 1 and says in lines[0], lines
    assert PASSWORD not in output(done)


def test_worker_check_reads_a_queue_given_by_name_in_competition_yaml(bundle, tmp_path):  # Codabench #855
    competition = bundle / "competition.yaml"
    competition.write_text(competition.read_text().replace(f"queue: '{VHOST}'", "queue: L2RPN-30CPU"))
    env_file = tmp_path / ".env"
    env_file.write_text(GOOD_ENV)
    env_file.chmod(0o600)
    lines = problem_lines(check(bundle, env_file))
    assert lines == ["ERROR: competition.yaml: queue: 'L2RPN-30CPU' is not a vhost. Copy it from Queue Management, quoted"]


@pytest.mark.parametrize("edit,says", [
    (lambda s: s.update(image="codalab/competitions-v2-compute-worker:gpu1.1"), "is the worker's old image"),  # #2399
    (lambda s: s.update(runtime="nvidia"), "uses `runtime: nvidia`"),
    (lambda s: s.update(volumes=["/codabench:/codabench"]), "the docker socket is not mounted"),
    (lambda s: s.update(volumes=["/data/cb:/codabench", "/var/run/docker.sock:/var/run/docker.sock"]),
     "mounts /data/cb at /codabench, but HOST_DIRECTORY is /codabench"),
    (lambda s: s.update(image="codalab/codabench-compute-worker:latest"), "is not pinned"),
    (lambda s: s.pop("env_file"), "does not read .env"),
    (lambda s: s.pop("restart"), "restart: a worker that stops is not started again"),
])
def test_worker_check_reads_the_compose_file_beside_the_env(bundle, tmp_path, edit, says):
    made = make(bundle, "worker", "START=0", "TLS=1", stdin=BROKER + "\n")
    assert made.returncode == 0, output(made)
    folder = bundle / "worker"
    compose = yaml.safe_load((folder / "compose.yaml").read_text())
    service = compose["services"]["worker-1"]
    compose["services"]["worker-1"] = service = {k: v for k, v in service.items()}  # the anchor's merge, written out
    edit(service)
    (folder / "compose.yaml").write_text(yaml.safe_dump(compose))
    lines = problem_lines(check(bundle, folder / ".env"))
    assert len(lines) == 1 and says in lines[0] and "services.worker-1" in lines[0], lines


@pytest.mark.parametrize("text,says", [
    ("\ufeff" + GOOD_ENV, None),  # docker drops a byte-order mark, and so does the check
    (GOOD_ENV.replace("=/codabench", "=/codabench\t"), ".env:3: HOST_DIRECTORY: spaces around the = or after the value"),
    ("  " + GOOD_ENV.replace("\n", "\r\n"), None),  # leading spaces and CRLF: docker drops them too
    ("export " + GOOD_ENV, ".env:1: `export` is shell syntax"),
])
def test_env_files_are_read_as_docker_reads_them(bundle, tmp_path, text, says):
    env_file = tmp_path / ".env"
    env_file.write_text(text, encoding="utf-8")
    env_file.chmod(0o600)
    lines = problem_lines(check(bundle, env_file))
    assert lines == ([] if says is None else [line for line in lines if says in line]) and len(lines) == (says is not None)


def test_an_env_file_others_can_read_and_a_folder_are_named(bundle, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(GOOD_ENV)
    env_file.chmod(0o644)
    (line,) = problem_lines(check(bundle, env_file))
    assert line.startswith("WARNING: .env: can be read by other users") and f"Run `chmod 600 {env_file}`" in line
    done = check(bundle, tmp_path)
    assert done.returncode == 1 and "is a folder. Give the .env file itself" in done.stdout


ODD_PASSWORD = "to?p#se/cr:et"


@pytest.mark.parametrize("url", [
    f"pyamqp://user:{ODD_PASSWORD}@codabench.example:5672/{VHOST}",  # a parser error would quote part of it
    f'"pyamqp://user:{PASSWORD}@codabench.example:5672/{VHOST}"',  # quoted, so the scheme is not pyamqp
    f"pyamqp:/user:{PASSWORD}@codabench.example:5672/{VHOST}",
    f"pyamqp:user:{PASSWORD}@codabench.example:5672/{VHOST}",
    f"pyamqp:://user:{PASSWORD}@codabench.example:5672/{VHOST}",
    f"pyamqp:///user:{PASSWORD}@codabench.example:5672/{VHOST}",
    f"pyamqp://user:{PASSWORD}",
    f"pyamqp://user:{PASSWORD} @codabench.example:5672/{VHOST}",
    f"amqps://user:{PASSWORD}@codabench.example:5671/{VHOST}",
    f"pyamqp://user:{PASSWORD}@codabench.example:5672/{VHOST}pyamqp://user:{PASSWORD}@x:5672/{VHOST}",
])
def test_no_message_holds_the_password(bundle, tmp_path, url):
    done = make(bundle, "worker", "START=0", "TLS=1", stdin=url + "\n")
    env_file = tmp_path / ".env"
    env_file.write_text(f"BROKER_URL={url}\nHOST_DIRECTORY=/codabench\n")
    env_file.chmod(0o600)
    checked = check(bundle, env_file)
    for said in (output(done), output(checked)):
        assert all(part not in said for part in ("se/cr", "p#se", PASSWORD)), said
    assert "Traceback" not in output(done) + output(checked)
    assert len([line for line in problem_lines(checked) if "BROKER_URL" in line]) == 1, problem_lines(checked)


@pytest.mark.parametrize("variable,says", [
    ("TLS=maybe", "TLS='maybe' is not one of"), ("ENGINE=nerdctl", "ENGINE='nerdctl' is not one of"),
    ("START=abc", "START='abc' is not one of"), ("GPU=2", "GPU='2' is not one of"),
    ("WORKERS=65", "WORKERS='65' is not a whole number from 1 to 64"),
])
def test_a_setting_of_make_worker_that_means_nothing_is_refused(bundle, variable, says):
    done = make(bundle, "worker", variable, stdin=BROKER + "\n")
    assert done.returncode != 0 and not (bundle / "worker").exists()
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("ERROR:")]
    assert says in line


def test_a_second_run_keeps_what_it_is_not_told_and_takes_a_new_url(bundle):
    assert make(bundle, "worker", "WORKERS=2", "GPU=each", "START=0", "TLS=1", stdin=BROKER + "\n").returncode == 0
    env_file = bundle / "worker" / ".env"
    env_file.write_text(env_file.read_text() + "COMPETITION_CONTAINER_NETWORK_DISABLED=True\n")
    compose = yaml.safe_load((bundle / "worker" / "compose.yaml").read_text())
    assert [s["environment"]["GPU_DEVICE"] for s in compose["services"].values()] == ["nvidia.com/gpu=0", "nvidia.com/gpu=1"]

    other = BROKER.replace(PASSWORD, "a-new-password")
    again = make(bundle, "worker", "START=0", "TLS=1", stdin=other + "\n")  # the URL of a recreated queue, piped in
    assert again.returncode == 0, output(again)
    text = env_file.read_text()
    assert f"BROKER_URL={other}\n" in text and "USE_GPU=True\n" in text
    assert "COMPETITION_CONTAINER_NETWORK_DISABLED=True\n" in text  # a key added by hand stays
    assert len(yaml.safe_load((bundle / "worker" / "compose.yaml").read_text())["services"]) == 2
    assert "from standard input" in again.stderr and "BROKER_URL: pyamqp://2f0c6a8e-user:***@" in again.stderr
    assert "a-new-password" not in output(again)


@pytest.mark.parametrize("service", [
    {"deploy": [1]}, {"logging": {"options": [1]}}, {"volumes": 5}, {"env_file": 3},
])
def test_a_compose_file_of_odd_shapes_gets_lines_not_a_traceback(bundle, tmp_path, service):
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / ".env").write_text(GOOD_ENV)
    (folder / ".env").chmod(0o600)
    (folder / "compose.yaml").write_text(yaml.safe_dump({"services": {"w": {"image": "x", **service}}}))
    done = check(bundle, folder / ".env")
    assert done.returncode == 1 and problem_lines(done) and "Traceback" not in output(done), output(done)


@pytest.mark.parametrize("image", ["docker.io/codalab/codabench-compute-worker:v1.24",
                                   "codalab/codabench-compute-worker@sha256:" + "a" * 64])
def test_a_worker_image_by_full_name_or_digest_is_the_worker(bundle, image):
    done = make(bundle, "worker", "START=0", "TLS=1", f"WORKER_IMAGE={image}", stdin=BROKER + "\n")
    assert done.returncode == 0 and not problem_lines(done), output(done)


def test_without_compose_make_worker_prints_the_command_to_start_them(bundle, tmp_path):
    alone = tmp_path / "bin"  # a PATH with make and nothing else: no docker, no docker-compose
    alone.mkdir()
    (alone / "make").symlink_to(shutil.which("make"))
    done = make(bundle, "worker", "TLS=1", stdin=BROKER + "\n", env={"PATH": str(alone)})
    assert done.returncode == 0, output(done)
    assert "No docker compose here: start the workers on the machine that will run them with " \
           "`docker compose -f worker/compose.yaml up -d`" in done.stderr


def test_the_amqp_login_ends_within_its_time_on_a_hostile_broker(bundle):
    """A server that trickles bytes, announces a 4 GB frame, or says nothing: one line each, within the timeout."""
    import socket
    import sys
    import threading
    import time

    sys.path.insert(0, str(bundle / "tools"))
    try:
        from broker import amqp_login
    finally:
        sys.path.remove(str(bundle / "tools"))

    def serve(behaviour):
        server = socket.create_server(("127.0.0.1", 0))

        def run():
            connection, _ = server.accept()
            try:
                connection.recv(8)
                if behaviour == "trickle":
                    for byte in b"\x01\x00\x00\x00\x00\x01\x00" * 10:
                        connection.sendall(bytes([byte]))
                        time.sleep(0.5)
                elif behaviour == "huge":
                    connection.sendall(b"\x01\x00\x00\xff\xff\xff\xff")
                    time.sleep(3)
                else:
                    time.sleep(3)
            except OSError:  # the client gave up: what is tested
                pass
            finally:
                connection.close()

        threading.Thread(target=run, daemon=True).start()
        return server.getsockname()[1]

    for behaviour in ("trickle", "huge", "silent"):
        port = serve(behaviour)
        started = time.monotonic()
        said = amqp_login(f"pyamqp://u:{PASSWORD}@127.0.0.1:{port}/{VHOST}", tls=False, timeout=2)
        assert time.monotonic() - started < 3 and said and PASSWORD not in said, (behaviour, said)


# -- on Codabench's own site, queues and compute worker (tests/codabench_site.py) -----------------------------
def worker_logs(site, names: list[str]) -> dict[str, str]:
    return {name: site.log(name) for name in names}


def steps_run(site, names: list[str], submission: int) -> list[tuple[str, bool]]:
    """(worker, is_scoring) for every step of `submission` a worker received, from the workers' own logs."""
    import re

    found = []
    for name, log in worker_logs(site, names).items():
        plain = re.sub(r"\x1b\[[0-9;]*m", "", log)
        found += [(name, m.group(1) == "true") for m in re.finditer(rf'"id": {submission},\s*"is_scoring": (true|false)', plain)]
    return found


@pytest.fixture
def own_queue(codabench_site, bake, tmp_path):
    """A private queue made through Codabench's API, a bundle baked for it with its data, and an organizer's token."""
    token = codabench_site.token("queue-owner")
    vhost, broker = codabench_site.create_queue(token, f"queue-{tmp_path.name[-12:]}")
    baked = bake(queue=vhost, slug=f"own_{tmp_path.name[-8:].lower().replace('-', '_')}")
    bundle = tmp_path / baked.name
    shutil.copytree(baked, bundle, ignore=shutil.ignore_patterns(".venv", "runs", "dist", "__pycache__"))
    done = make(bundle, "data")
    assert done.returncode == 0, output(done)
    env = {"CODABENCH_TOKEN": token, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    return bundle, broker, env


def hostnames(bundle: Path) -> list[str]:
    """The workers worker/compose.yaml starts, by their hostname (the worker's name on Codabench)."""
    return [s["hostname"] for s in yaml.safe_load((bundle / "worker" / "compose.yaml").read_text())["services"].values()]


@pytest.mark.slow
def test_own_workers_on_a_private_queue_run_submissions_in_parallel(codabench_site, own_queue, tmp_path):
    """The issue's Done: a private queue, make worker WORKERS=2, worker-check, upload, four submits in parallel."""
    bundle, broker, env = own_queue
    site = codabench_site
    made = make(bundle, "worker", "WORKERS=2", "START=0", stdin=broker + "\n", env=env)  # the organizer pastes the URL
    assert made.returncode == 0, output(made)
    assert "Not started (START=0)" in made.stderr and "WARNING" not in made.stderr  # the broker was asked: no guess
    assert "BROKER_USE_SSL" not in (bundle / "worker" / ".env").read_text()  # the broker said it speaks plain AMQP

    # make worker-check: the broker login, the image, the disk, and the baseline through the worker's code
    from codabench_worker import extract_worker

    worker_dir, settings_dir = extract_worker(tmp_path / "worker-code")
    check_env = {**env, "CODABENCH_WORKER_PATH": os.pathsep.join([str(worker_dir), str(settings_dir)]),
                 "CODABENCH_WORKER_PYTHON": os.environ["CODABENCH_WORKER_PYTHON"]}
    checked = make(bundle, "worker-check", env=check_env)
    assert checked.returncode == 0, output(checked)
    assert "ok: the broker took the login and opened the queue's vhost" in checked.stdout
    assert "ok: the baseline ran through Codabench's worker code" in checked.stdout
    assert "ok: the scores equal the baseline's in data/ (make data)" in checked.stdout
    # the same check on a copy of the .env with a wrong password, then a vhost the broker does not have
    for wrong, says in ((broker.replace(broker.split(":")[2].split("@")[0], "not-the-password"),
                         "the broker refused the user and password of BROKER_URL (ACCESS_REFUSED)"),
                        (broker.rsplit("/", 1)[0] + f"/{VHOST}", f"NOT_ALLOWED - vhost {VHOST} not found")):
        mine = tmp_path / "mine"
        mine.mkdir(exist_ok=True)
        (mine / ".env").write_text((bundle / "worker" / ".env").read_text().replace(broker, wrong))
        (mine / ".env").chmod(0o600)
        competition = (bundle / "competition.yaml").read_text()
        if VHOST in wrong:
            (bundle / "competition.yaml").write_text(competition.replace(broker.rsplit("/", 1)[1], VHOST))
        failed = make(bundle, "worker-check", f"ENV_FILE={mine / '.env'}", env=check_env)
        (bundle / "competition.yaml").write_text(competition)
        assert failed.returncode != 0 and says in failed.stdout, output(failed)
        assert "not-the-password" not in output(failed) and broker.split(":")[2].split("@")[0] not in output(failed)

    uploaded = make(bundle, "upload", f"CODABENCH={site.url}", env=env)
    assert uploaded.returncode == 0, output(uploaded)
    names = site.start_workers(bundle / "worker" / ".env", hostnames(bundle))
    try:
        submits = [subprocess.Popen(["make", "--no-print-directory", "submit", f"PYTHON={PYTHON}"], cwd=bundle,
                                    env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                   for _ in range(4)]
        outputs = [p.communicate(timeout=900)[0] for p in submits]
    finally:
        for name in names:
            site.stop_worker(name)
    assert [p.returncode for p in submits] == [0, 0, 0, 0], "\n".join(outputs)
    ids = [int(next(line.split()[1] for line in out.splitlines() if line.startswith("Submission ")))
           for out in outputs]
    # every step ran once, on the organizer's workers: none on the site's public-queue worker
    runs = {one: steps_run(site, names, one) for one in ids}
    assert all(sorted(scoring for _, scoring in steps) == [False, True] for steps in runs.values()), runs
    assert all(str(one) not in site.log("compute-worker") for one in ids)
    assert {worker for steps in runs.values() for worker, _ in steps} == set(names)  # both took submissions
    board = make(bundle, "leaderboard", env=env)
    assert board.returncode == 0 and "queue-owner" in board.stdout, output(board)


def sleepy(bundle: Path, seconds: int) -> Path:
    folder = bundle / "sleepy_submission"
    shutil.copytree(bundle / "starting_kit" / "sample_code_submission", folder)
    model = folder / "model.py"
    model.write_text(f"import time\ntime.sleep({seconds})  # the worker, not the CPU, is the limit\n" + model.read_text())
    return folder


def wait_until_running(site, names: list[str], submission: int, timeout: float = 120) -> str:
    """The worker that runs `submission`'s prediction step, once its container runs."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        steps = steps_run(site, names, submission)
        running = subprocess.run(["docker", "ps", "--filter", f"name=_sID-{submission}$", "--format", "{{.Names}}"],
                                 capture_output=True, text=True, check=False).stdout.split()
        if steps and running:
            return steps[0][0]
        time.sleep(0.3)
    raise AssertionError(f"submission {submission} never ran: {worker_logs(site, names)}")


@pytest.mark.slow
def test_a_stopped_worker_finishes_its_submission_a_killed_one_loses_it(codabench_site, own_queue):
    """docker stop (SIGTERM: Celery's warm shutdown) lets the running step finish; nothing runs twice. docker kill:
    RabbitMQ redelivers the step (task_acks_late) to the other worker on this machine at once, which cannot start the
    submission's container while the killed worker's still runs under the same name: the step ends empty and the
    submission Failed (Codabench #2433 is the same redelivery)."""
    import time

    bundle, broker, env = own_queue
    site = codabench_site
    assert make(bundle, "worker", "WORKERS=2", "START=0", stdin=broker + "\n", env=env).returncode == 0
    assert make(bundle, "upload", f"CODABENCH={site.url}", env=env).returncode == 0
    folder = sleepy(bundle, 15)
    names = site.start_workers(bundle / "worker" / ".env", hostnames(bundle))
    try:
        def submit() -> subprocess.Popen:
            return subprocess.Popen(["make", "--no-print-directory", "submit", f"SUBMISSION={folder}", f"PYTHON={PYTHON}"],
                                    cwd=bundle, env={**os.environ, **env}, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)

        def submission_of(process: subprocess.Popen) -> int:
            line = process.stdout.readline()
            while "created; waiting" not in line:
                assert line, "make submit ended before the submission was made"
                line = process.stdout.readline()
            return int(line.split("submission ")[1].split()[0])

        stopped = submit()
        first = submission_of(stopped)
        runner = wait_until_running(site, names, first)
        site.stop_worker(runner)  # docker stop
        out = stopped.communicate(timeout=600)[0]
        assert stopped.returncode == 0 and f"Submission {first} finished" in out, out
        assert sorted(scoring for _, scoring in steps_run(site, names, first)) == [False, True]
        deadline = time.monotonic() + 60
        while site.worker_running(runner) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not site.worker_running(runner), "the stopped worker did not leave after its step"

        replacement = site.start_workers(bundle / "worker" / ".env", ["replacement-worker"])
        names += replacement
        killed = submit()
        second = submission_of(killed)
        runner = wait_until_running(site, names, second)
        site.stop_worker(runner, kill=True)  # docker kill, or the machine is lost
        out = killed.communicate(timeout=600)[0]
        predictions = [worker for worker, scoring in steps_run(site, names, second) if not scoring]
        assert len(predictions) == 2 and runner in predictions and len(set(predictions)) == 2, predictions
        assert killed.returncode != 0 and f"submission {second} Failed" in out, out
    finally:
        for name in names:
            if site.worker_running(name):
                site.stop_worker(name)


@pytest.mark.slow
def test_the_known_failures_fail_on_codabench_worker_and_worker_check_names_them(codabench_site, own_queue, tmp_path):
    """Each .env mistake of Codabench's issues, given to Codabench's own worker: what it does, and the line of
    make worker-check (its file checks) that names it first."""
    import time

    bundle, broker, env = own_queue
    site = codabench_site
    assert make(bundle, "worker", "START=0", stdin=broker + "\n", env=env).returncode == 0
    good = (bundle / "worker" / ".env").read_text()
    cases = {  # the .env, make worker-check's line, and what Codabench's worker logs
        "doubled": (good.replace(broker, broker + broker), "BROKER_URL: holds two URLs (pasted twice?)",
                    "consumer: Cannot connect to amqp://"),  # #1473: the vhost with a second URL glued on
        "ssl-false": (good + "BROKER_USE_SSL=False\n", "BROKER_USE_SSL: is 'False', and any value turns TLS on",
                      "[SSL: WRONG_VERSION_NUMBER]"),  # TLS to a plain broker
    }
    started = {}
    for name, (text, says, _) in cases.items():
        env_file = tmp_path / name / ".env"
        env_file.parent.mkdir()
        env_file.write_text(text)
        env_file.chmod(0o600)
        lines = problem_lines(check(bundle, env_file))
        assert len(lines) == 1 and says in lines[0], lines
        started[name] = site.start_workers(env_file, [f"bad-{name}"], wait=False)[0]
    time.sleep(20)  # a worker that can serve is ready in about 5 s
    for name, worker in started.items():
        log = site.log(worker)
        assert f"compute-worker@bad-{name} ready." not in log and cases[name][2] in log, log[-2000:]
        site.stop_worker(worker, kill=True)

    # HOST_DIRECTORY other than /codabench (#2379): the worker runs, and the submission's programs are not found
    wrong = tmp_path / "host-directory" / ".env"
    wrong.parent.mkdir()
    wrong.write_text(good.replace("HOST_DIRECTORY=/codabench", f"HOST_DIRECTORY={tmp_path / 'elsewhere'}"))
    wrong.chmod(0o600)
    (lines,) = [problem_lines(check(bundle, wrong))]
    assert len(lines) == 1 and "HOST_DIRECTORY: is " in lines[0] and "(Codabench #2142, #2379)" in lines[0], lines
    assert make(bundle, "upload", f"CODABENCH={site.url}", env=env).returncode == 0
    (worker,) = site.start_workers(wrong, ["bad-host-directory"])
    try:
        done = make(bundle, "submit", env=env, timeout=600)
    finally:
        site.stop_worker(worker, kill=True)
    assert done.returncode != 0 and "Failed" in done.stderr, output(done)
