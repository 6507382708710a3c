"""Container mode (`ENGINE=docker` or `podman`): every step runs in the competition's image, laid
out and locked down like Codabench's compute worker (codabench-facts §2.3-2.7).

These tests need a container engine and the bundle's image, codalab/codalab-legacy:py312, that the
engine can pull (the worker pulls it before every step). CI has no Docker Hub: it builds a stand-in
for that image from Debian packages (.ci/standin-image), serves it from a local registry (Debian's
docker-registry) that docker and podman use as their Docker Hub mirror, and runs these tests with
both. Where no engine or image is here, they skip and say why; with CI set, that is a failure
instead. CODABENCH_TEST_ENGINES=docker limits them to one.

Each restriction is shown twice where it can be: the same submission is run locally (where it
gets through: that is the gap the container closes) and in the container (where it fails).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from conftest import PYTHON, run

pytestmark = pytest.mark.slow

IMAGE = "codalab/codalab-legacy:py312"
# Linux capability numbers of the 14 the worker drops (linux/capability.h): none may remain.
DROPPED = {"CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6, "SETUID": 7, "SETPCAP": 8,
           "NET_BIND_SERVICE": 10, "NET_RAW": 13, "SYS_CHROOT": 18, "MKNOD": 27, "AUDIT_WRITE": 29, "SETFCAP": 31}


def _engine_problem(engine: str) -> str | None:
    """Why `engine` cannot run these tests here, or None when it can."""
    if shutil.which(engine) is None:
        return f"no `{engine}` command"
    try:
        info = subprocess.run([engine, "info"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return f"`{engine} info` did not answer in 60 s"
    if info.returncode != 0:
        return f"`{engine} info` failed: {(info.stderr.strip().splitlines() or ['?'])[-1]}"
    if subprocess.run([engine, "image", "inspect", IMAGE], capture_output=True).returncode != 0:
        return f"{engine} has no {IMAGE}: build the stand-in with `.ci/standin-image {engine}`"
    reference = f"docker.io/{IMAGE}" if engine == "podman" else IMAGE  # as the worker's docker client asks podman
    pulled = subprocess.run([engine, "pull", "--quiet", reference], capture_output=True, text=True, timeout=600)
    if pulled.returncode != 0:
        return (f"{engine} cannot pull {IMAGE}, and the worker pulls before every step: serve it from a registry "
                f"mirror as .ci/run does ({(pulled.stderr.strip().splitlines() or ['?'])[-1]})")
    return None


ENGINES = [e for e in os.environ.get("CODABENCH_TEST_ENGINES", "docker,podman").split(",") if e]
PROBLEMS = {engine: _engine_problem(engine) for engine in ENGINES}


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    problem = PROBLEMS[request.param]
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the container tests with {request.param}: {problem}", pytrace=False)
        pytest.skip(f"{request.param}: {problem}")
    return request.param


@pytest.fixture(scope="module")
def competition(tools, bundle) -> dict:
    return tools.bundle.load_competition(bundle)


@pytest.fixture(scope="module")
def phase(tools, bundle, competition):
    return tools.bundle.find_phase(competition, "Development", bundle)


@pytest.fixture(scope="module")
def columns(tools, competition) -> list[dict]:
    return tools.bundle.leaderboard_columns(competition)


def run_in(tools, engine: str, phase, columns, submission: Path, workspace: Path, **options):
    """The phase's one task run of `submission`, with `engine` (local, docker or podman)."""
    workspace.mkdir(parents=True, exist_ok=True)
    if engine == "local":
        executor = tools.executors.LocalExecutor(workspace, echo=None)
    else:
        executor = tools.executors.ContainerExecutor(engine, IMAGE, workspace, echo=None, **options)
        executor.prepare()
    (task_run,) = tools.run_local.run_phase(phase, submission, workspace, executor, columns)
    return task_run


def said(task_run) -> str:
    return "\n".join([task_run.message, task_run.ingestion_stderr, task_run.scoring_stderr])


def submission_that(bundle: Path, folder: Path, action: str) -> Path:
    """The baseline, whose predict first does `action` (one line of Python)."""
    folder.mkdir(parents=True)
    baseline = (bundle / "starting_kit" / "sample_code_submission" / "model.py").read_text(encoding="utf-8")
    (folder / "model.py").write_text(
        f"{baseline}\n\n_Baseline = Model\n\n\nclass Model(_Baseline):\n    def predict(self, X):\n"
        f"        {action}\n        return super().predict(X)\n", encoding="utf-8")
    return folder


def program(folder: Path, command: str, **scripts: str) -> Path:
    """A program folder: metadata.yaml with `command`, and scripts by name (name_py -> name.py)."""
    folder.mkdir(parents=True)
    (folder / "metadata.yaml").write_text(yaml.safe_dump({"command": command}), encoding="utf-8")
    for name, text in scripts.items():
        (folder / name.replace("_py", ".py")).write_text(text, encoding="utf-8")
    return folder


# -- the bundle's own submissions --------------------------------------------------------------
@pytest.mark.parametrize("phase_name", ["Development", "Final"])
def test_the_baseline_gets_the_same_scores_in_the_image(engine, bundle, phase_name):
    local = run([PYTHON, "tools/run_local.py", "--phase", phase_name, "--quiet"], cwd=bundle)
    contained = run([PYTHON, "tools/run_local.py", "--phase", phase_name, "--quiet", "--engine", engine], cwd=bundle)
    assert contained.returncode == 0, contained.stdout + contained.stderr
    assert f"in {IMAGE} ({engine})" in contained.stdout
    scores = [line for line in contained.stdout.splitlines() if "is better" in line]
    assert scores and scores[:3] == [line for line in local.stdout.splitlines() if "is better" in line][:3]


def test_the_result_submission_is_copied_to_the_output_and_scored(engine, tools, bundle, phase, columns, tmp_path):
    result = bundle / "starting_kit" / "sample_result_submission"
    task_run = run_in(tools, engine, phase, columns, result, tmp_path / "run")
    assert task_run.status == "Finished", said(task_run)
    for path in (p for p in result.rglob("*") if p.is_file()):  # copied by the worker, before the ingestion ran
        assert (task_run.prediction_output / path.relative_to(result)).read_bytes() == path.read_bytes()
    metadata = yaml.safe_load((task_run.prediction_output / "metadata").read_text())  # the worker's, after the step
    assert metadata["exitCode"] is None and metadata["ingestionExitCode"] == 0
    assert metadata["elapsedTime"] == metadata["ingestionElapsedTime"] > 0  # compute_worker.py:1350


def test_the_failing_submission_fails_with_its_message(engine, bundle):
    done = run([PYTHON, "tools/run_local.py", "--submission", "starting_kit/failing_submission", "--quiet",
                "--engine", engine], cwd=bundle)
    assert done.returncode == 1, done.stdout + done.stderr
    problem = (bundle / "starting_kit" / "failing_submission" / "expected_error.txt").read_text().removeprefix("ERROR: ")
    assert f"The prediction step stopped: {problem.split('; ')[0]}" in done.stdout, done.stdout


# -- what a submission can reach -------------------------------------------------------------
def test_the_prediction_step_cannot_read_the_reference_data(engine, tools, bundle, phase, columns, tmp_path):
    labels = next((bundle / "data" / "dev" / "reference_data").rglob("test_labels.csv"))
    cheat = submission_that(bundle, tmp_path / "cheat", f"open({str(labels)!r}).read()")
    local = run_in(tools, "local", phase, columns, cheat, tmp_path / "local")
    assert local.status == "Finished", said(local)  # locally it reads the bundle's answers
    contained = run_in(tools, engine, phase, columns, cheat, tmp_path / "contained")
    assert contained.status == "Failed"
    assert "No such file or directory" in said(contained) and "test_labels.csv" in said(contained)


def test_the_network_is_on_as_on_the_worker_and_off_with_network_off(engine, tools, bundle, phase, columns, tmp_path):
    """compute_worker.py:1017-1019, :1049: network_disabled only when the worker sets COMPETITION_CONTAINER_NETWORK_DISABLED."""
    server = socket.create_server(("0.0.0.0", 0))
    server.settimeout(30)
    connections = []
    threading.Thread(target=lambda: connections.append(server.accept()), daemon=True).start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 9))  # no packet is sent: this only picks the host's outward address
        host = probe.getsockname()[0]
    caller = submission_that(bundle, tmp_path / "caller",
                             f"__import__('socket').create_connection(({host!r}, {server.getsockname()[1]}), timeout=10).close()")
    as_the_worker = run_in(tools, engine, phase, columns, caller, tmp_path / "default")
    assert as_the_worker.status == "Finished", said(as_the_worker)  # it reached this machine, as on the worker
    assert len(connections) == 1
    cut = run_in(tools, engine, phase, columns, caller, tmp_path / "off", network=False)
    server.close()
    assert cut.status == "Failed"
    assert "Network is unreachable" in said(cut)
    assert len(connections) == 1


def test_network_off_reaches_the_container_from_make_run(engine, bundle):
    done = run(["make", "run", f"ENGINE={engine}", "NETWORK=off", f"PYTHON={PYTHON}", "ARGS=--quiet"], cwd=bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"in {IMAGE} ({engine}); no network (NETWORK=off)" in done.stdout


def test_the_submission_cannot_write_outside_its_run(engine, tools, bundle, phase, columns, tmp_path):
    target = tmp_path / "outside" / "escaped.txt"
    target.parent.mkdir()
    writer = submission_that(bundle, tmp_path / "writer", f"open({str(target)!r}, 'w').write('escaped')")
    local = run_in(tools, "local", phase, columns, writer, tmp_path / "local")
    assert local.status == "Finished" and target.read_text() == "escaped"  # locally, anywhere you may write
    target.unlink()
    contained = run_in(tools, engine, phase, columns, writer, tmp_path / "contained")
    assert contained.status == "Failed"
    assert "No such file or directory" in said(contained)
    assert not target.exists()
    read_only = submission_that(bundle, tmp_path / "read-only", "open('/app/data/x', 'w').write('x')")
    assert "Read-only file system" in said(run_in(tools, engine, phase, columns, read_only, tmp_path / "data"))


# -- the worker's layout, environment and limits ---------------------------------------------
PROBE = r"""
import json, os, socket, sys
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
def listing(path):
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        return type(exc).__name__
print(json.dumps({
    "cwd": os.getcwd(), "argv": sys.argv[1:], "app": listing("/app"), "input": listing("/app/input"),
    "uid": os.getuid(), "capabilities": int(status["CapEff"].strip(), 16), "no_new_privs": status["NoNewPrivs"].strip(),
    "environment": sorted(os.environ), "proxies": [os.environ.get("http_proxy"), os.environ.get("https_proxy")],
    "unbuffered": os.environ.get("PYTHONUNBUFFERED"), "marker": os.environ.get("CODABENCH_TEST_MARKER"),
    "interfaces": sorted(name for _, name in socket.if_nameindex()),
}))
"""


def view(completed) -> dict:
    assert completed.exit_code == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_each_container_sees_the_worker_layout_and_nothing_more(engine, tools, phase, tmp_path, monkeypatch):
    monkeypatch.setenv("CODABENCH_TEST_MARKER", "from the host")
    worker, executor = tools.worker, tools.executors.ContainerExecutor(engine, IMAGE, tmp_path / "x", echo=None)
    probe = "python3 probe.py $input $output $hidden"
    task = replace(phase.tasks[0], ingestion_program=program(tmp_path / "ingestion", probe, probe_py=PROBE),
                   scoring_program=program(tmp_path / "scoring", probe, probe_py=PROBE))
    prediction = worker.run_prediction_step(task, phase, program(tmp_path / "submission", probe, probe_py=PROBE),
                                            tmp_path / "run", executor)
    scoring = worker.run_scoring_step(task, phase, prediction.output, tmp_path / "run", executor)
    views = {"submission": view(prediction.containers["submission"]), "ingestion": view(prediction.containers["ingestion"]),
             "scoring": view(scoring.containers["scoring"])}
    assert views["submission"]["app"] == ["data", "input_data", "output", "program"]  # no reference data
    assert views["submission"]["input"] == "FileNotFoundError"
    assert views["ingestion"]["app"] == ["data", "ingested_program", "input_data", "output", "program"]
    assert views["scoring"]["app"] == ["data", "input", "output", "program", "shared"]
    assert views["scoring"]["input"] == ["ref", "res"]
    assert views["ingestion"]["argv"] == ["/app/input_data", "/app/output", "/app/input/ref"]  # the worker's `$` words
    assert views["scoring"]["argv"] == ["/app/input", "/app/output", "/app/input/ref"]
    image_environment = json.loads(subprocess.run([engine, "image", "inspect", "-f", "{{json .Config.Env}}", IMAGE],
                                                  capture_output=True, text=True).stdout)
    expected_environment = {line.split("=", 1)[0] for line in image_environment} | {
        "PYTHONUNBUFFERED", "http_proxy", "https_proxy", "HOSTNAME", "HOME"}  # the worker's (:1044-1048), the engine's
    for name, seen in views.items():
        assert seen["cwd"] == "/app/program", name
        assert seen["unbuffered"] == "1" and seen["proxies"] == ["", ""] and seen["marker"] is None, name
        assert set(seen["environment"]) <= expected_environment | {"container", "TERM"}, name  # podman adds these two
        assert seen["uid"] == 0, name  # the image's user, as on the worker
        assert seen["capabilities"] & sum(1 << bit for bit in DROPPED.values()) == 0, name
        assert seen["no_new_privs"] == "1", name
        assert seen["interfaces"] != ["lo"], name  # a network, as on the worker by default


ORDER = r"""
import json, pathlib, sys, time
output, name, seconds = pathlib.Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
started = time.time()
time.sleep(seconds)
(output / f"{name}.json").write_text(json.dumps({"start": started, "end": time.time()}))
"""


def test_the_submissions_program_runs_to_its_end_before_the_ingestion_container_starts(engine, tools, phase, tmp_path):
    """As on the worker (compute_worker.py:1186-1195, serialised by the log loop at :734): the files each writes
    say when it started and ended. The host's clock and the containers' are one."""
    executor = tools.executors.ContainerExecutor(engine, IMAGE, tmp_path / "x", echo=None)
    task = replace(phase.tasks[0], ingestion_program=program(tmp_path / "ingestion", "python3 order.py /app/output ingestion 0",
                                                             order_py=ORDER))
    submission = program(tmp_path / "submission", "python3 order.py /app/output submission 3", order_py=ORDER)
    step = tools.worker.run_prediction_step(task, phase, submission, tmp_path / "run", executor)
    assert {name: c.exit_code for name, c in step.containers.items()} == {"submission": 0, "ingestion": 0}
    seen = {name: json.loads((step.output / f"{name}.json").read_text()) for name in ("submission", "ingestion")}
    assert seen["ingestion"]["start"] >= seen["submission"]["end"] >= seen["submission"]["start"] + 3


def test_the_time_limit_stops_the_step_and_removes_its_containers(engine, tools, phase, tmp_path):
    sleeper = program(tmp_path / "sleeper", "python3 -c 'import time; time.sleep(120)'")
    started = time.monotonic()
    with pytest.raises(tools.worker.StepFailed, match="Execution Time Limit exceeded. Limit was 3 seconds"):
        tools.worker.run_prediction_step(replace(phase.tasks[0], ingestion_program=None), replace(phase, execution_time_limit=3),
                                         sleeper, tmp_path / "run", tools.executors.ContainerExecutor(engine, IMAGE, tmp_path, echo=None))
    assert time.monotonic() - started < 30
    left = subprocess.run([engine, "ps", "--all", "--quiet", "--filter", f"name=codabench-{os.getpid()}-"],
                          capture_output=True, text=True)
    assert left.stdout.strip() == ""


def test_a_package_the_image_lacks_fails_there_with_the_worker_error(engine, bundle, tmp_path):
    """`hypothesis` is in the test environment, not in the image: locally all is well, in the image it is not."""
    root = tmp_path / bundle.name
    shutil.copytree(bundle, root, ignore=shutil.ignore_patterns("runs", "dist", "__pycache__"))
    figures = root / "scoring_program" / "figures.py"
    figures.write_text(figures.read_text(encoding="utf-8") + "\nimport hypothesis\n", encoding="utf-8")
    local = run([PYTHON, "tools/run_local.py", "--quiet"], cwd=root)
    assert local.returncode == 0, local.stdout + local.stderr
    contained = run([PYTHON, "tools/run_local.py", "--quiet", "--engine", engine], cwd=root)
    assert contained.returncode == 1
    assert "scoring program exited with code 1: Failed, no scores are uploaded" in contained.stdout
    assert "ModuleNotFoundError: No module named 'hypothesis'" in contained.stdout
    warned = run([PYTHON, "tools/validate_bundle.py"], cwd=root)
    line = len(figures.read_text(encoding="utf-8").splitlines())
    assert "CB037" in warned.stdout and f"scoring_program/figures.py:{line} imports 'hypothesis'" in warned.stdout


def test_a_user_who_is_not_root_gets_writable_outputs_and_their_files_back(bundle):
    """Docker's root in the container, without DAC_OVERRIDE, writes only where the owner lets everyone; what it writes
    is root's on the host until the runner hands it back to the user."""
    problem = PROBLEMS.get("docker") or ("" if os.getuid() == 0 else "needs root to act as another user")
    if problem or shutil.which("setpriv") is None:
        pytest.skip(problem or "no setpriv")
    import grp
    try:
        docker_gid = grp.getgrnam("docker").gr_gid
    except KeyError:
        pytest.skip("no docker group")
    if os.stat("/var/run/docker.sock").st_gid != docker_gid:
        pytest.skip("the docker socket is not the docker group's")
    nobody = 65534
    home = Path(tempfile.mkdtemp(prefix="codabench-not-root-"))  # pytest's own folders are private to root
    try:
        home.chmod(0o755)
        root = home / bundle.name
        shutil.copytree(bundle, root, ignore=shutil.ignore_patterns("runs", "dist", "__pycache__"))
        (home / "tmp").mkdir()
        for path in [home, *home.rglob("*")]:
            os.chown(path, nobody, docker_gid, follow_symlinks=False)
        as_nobody = ["setpriv", f"--reuid={nobody}", f"--regid={docker_gid}", "--clear-groups"]
        environment = {"PATH": os.environ["PATH"], "HOME": str(home), "TMPDIR": str(home / "tmp")}
        done = subprocess.run([*as_nobody, PYTHON, "tools/run_local.py", "--quiet", "--engine", "docker"], cwd=root,
                              env=environment, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr  # ingestion and scoring could write their outputs
        others = [p for p in (root / "runs").rglob("*") if p.lstat().st_uid != nobody]
        assert others == [], others[:3]
        removed = subprocess.run([*as_nobody, "rm", "-r", str(root / "runs")], capture_output=True, text=True, env=environment)
        assert removed.returncode == 0, removed.stderr
    finally:
        shutil.rmtree(home, ignore_errors=True)


# -- the organizer's commands ----------------------------------------------------------------
def test_the_bundle_suite_passes_with_make_test_engine(engine, bundle):
    """`make test ENGINE=...`: the bundle's own tests run their submissions in the image."""
    done = run(["make", "test", f"ENGINE={engine}", f"PYTHON={PYTHON}"], cwd=bundle)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1]


class Logged:
    """The engine's command, with every call it gets logged: the order of pulls and runs."""

    def __init__(self, engine: str, folder: Path):
        folder.mkdir()
        self.log = folder / "calls"
        wrapper = folder / engine
        wrapper.write_text(f'#!/bin/sh\necho "$1" >>{self.log}\nexec {shutil.which(engine)} "$@"\n')
        wrapper.chmod(0o755)

    def calls(self) -> list[str]:
        return [c for c in self.log.read_text().split() if c in ("pull", "run")]


def test_the_image_is_pulled_before_each_step_as_the_worker_does(engine, tools, phase, columns, bundle, tmp_path, monkeypatch):
    logged = Logged(engine, tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    code = bundle / "starting_kit" / "sample_code_submission"
    assert run_in(tools, engine, phase, columns, code, tmp_path / "always").status == "Finished"
    assert logged.calls() == ["pull", "run", "pull", "run"]  # compute_worker.py:1180, in each step's prepare()
    logged.log.unlink()
    assert run_in(tools, engine, phase, columns, code, tmp_path / "never", pull="never").status == "Finished"
    assert logged.calls() == ["run", "run"]


def test_a_registry_out_of_reach_fails_the_step_after_the_workers_three_tries(engine, tools, phase, columns, bundle, tmp_path):
    """compute_worker.py:544-576: three tries 5 s apart, then "Pull for ... failed!", even with the image here."""
    unreachable = "localhost:1/codabench-template/only-here:1"
    subprocess.run([engine, "tag", IMAGE, unreachable], check=True, capture_output=True)
    try:
        executor = tools.executors.ContainerExecutor(engine, unreachable, tmp_path / "x", echo=None)
        started = time.monotonic()
        with pytest.raises(tools.worker.StepFailed) as failure:
            tools.worker.run_prediction_step(phase.tasks[0], phase, bundle / "starting_kit" / "sample_code_submission",
                                             tmp_path / "run", executor)
        assert 10 <= time.monotonic() - started < 60
        assert str(failure.value) == f"Pull for {unreachable} failed! Check the logs for more information"
        assert f"{engine} could not reach the registry of {unreachable}" in failure.value.cause
        assert "PULL=never" in failure.value.cause
        started = time.monotonic()  # the run's later steps fail at once: the worker would fail the same way
        with pytest.raises(tools.worker.StepFailed):
            tools.worker.run_scoring_step(phase.tasks[0], phase, tmp_path, tmp_path / "run2", executor)
        assert time.monotonic() - started < 5
    finally:
        subprocess.run([engine, "rmi", unreachable], capture_output=True)


@pytest.fixture
def registry(tmp_path):
    """A registry of our own (Debian's docker-registry) on a free port: it answers, and has none of our images."""
    binary = shutil.which("docker-registry")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have docker-registry (Debian package docker-registry)", pytrace=False)
        pytest.skip("no docker-registry (Debian package docker-registry)")
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    (tmp_path / "registry.yml").write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                                           f"    rootdirectory: {tmp_path / 'blobs'}\nhttp:\n  addr: 127.0.0.1:{port}\n")
    server = subprocess.Popen([binary, "serve", str(tmp_path / "registry.yml")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()


def test_an_image_only_this_machine_has_is_reported_as_such(registry, tools, bundle, tmp_path):
    """Docker only: it trusts a plain-HTTP registry on 127.0.0.1 by default. `make run` fails as every submission
    would on Codabench, says why; PULL=never runs with the image here; `make validate` refuses it (CB126) and still
    runs the solution."""
    if PROBLEMS.get("docker"):
        pytest.skip(f"docker: {PROBLEMS['docker']}")
    only_here = f"{registry}/only-here:1"
    subprocess.run(["docker", "tag", IMAGE, only_here], check=True, capture_output=True)
    try:
        root = tmp_path / bundle.name
        shutil.copytree(bundle, root, ignore=shutil.ignore_patterns("runs", "dist", "__pycache__"))
        yaml_path = root / "competition.yaml"
        yaml_path.write_text(yaml_path.read_text(encoding="utf-8").replace(IMAGE, only_here), encoding="utf-8")
        failed = run([PYTHON, "tools/run_local.py", "--quiet", "--engine", "docker"], cwd=root)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert f"Pull for {only_here} failed! Check the logs for more information" in failed.stdout
        assert f"the registry does not give out {only_here}" in failed.stdout
        assert "it exists only on this machine (or is private), so every submission would fail on Codabench" in failed.stdout
        offline = run(["make", "run", "ENGINE=docker", "PULL=never", f"PYTHON={PYTHON}", "ARGS=--quiet"], cwd=root)
        assert offline.returncode == 0, offline.stdout + offline.stderr
        assert "the image here, not pulled (PULL=never)" in offline.stdout
        named = run([PYTHON, "tools/validate_bundle.py", "--run", "--engine", "docker"], cwd=root)
        assert named.returncode == 1 and "CB024" in named.stdout  # the name alone says it: a registry here
        findings = tools.findings.Findings()  # the pull check itself, which any registry's refusal reaches
        importlib.import_module("run_rules").check_scores_by_running(
            tools.bundle.load_competition(root), root, findings, engine="docker")
        (refused,) = [f for f in findings if f.code == "CB126"]
        assert refused.severity == "error" and "exists only on this machine" in refused.message
        assert "push it to a public registry" in refused.fix
        assert [f.code for f in findings if f.code != "CB126"] == []  # the solution ran, with the image here
    finally:
        subprocess.run(["docker", "rmi", only_here], capture_output=True)


def test_an_image_whose_registry_is_out_of_reach_is_a_warning_and_the_solution_still_runs(engine, bundle, tmp_path):
    """No registry answered: nothing is known of the image on Codabench (CB127, a warning). The image is here, so the
    solution runs; a typo'd image that is not here either is not run, and the finding says so."""
    unreachable = "registry.invalid/codabench-template/here-only:1"  # .invalid never resolves (RFC 2606)
    subprocess.run([engine, "tag", IMAGE, unreachable], check=True, capture_output=True)
    try:
        root = tmp_path / bundle.name
        shutil.copytree(bundle, root, ignore=shutil.ignore_patterns("runs", "dist", "__pycache__"))
        yaml_path = root / "competition.yaml"
        original = yaml_path.read_text(encoding="utf-8")
        yaml_path.write_text(original.replace(IMAGE, unreachable), encoding="utf-8")
        warned = run([PYTHON, "tools/validate_bundle.py", "--run", "--engine", engine], cwd=root)
        assert warned.returncode == 0, warned.stdout + warned.stderr
        (line,) = [line for line in warned.stdout.splitlines() if "CB127" in line]
        assert line.startswith("WARNING") and f"{engine} could not reach the registry of {unreachable}" in line
        assert "CB120" not in warned.stdout and "CB126" not in warned.stdout
        missing = unreachable.replace("here-only", "nowhere")
        yaml_path.write_text(original.replace(IMAGE, missing), encoding="utf-8")
        unchecked = run([PYTHON, "tools/validate_bundle.py", "--run", "--engine", engine], cwd=root)
        (line,) = [line for line in unchecked.stdout.splitlines() if "CB127" in line]
        assert "the solution was not run, so its scores were not compared either" in line
    finally:
        subprocess.run([engine, "rmi", unreachable], capture_output=True)


def test_a_failing_solution_is_reported_with_the_command_that_shows_it(engine, bundle, tmp_path):
    root = tmp_path / bundle.name
    shutil.copytree(bundle, root, ignore=shutil.ignore_patterns("runs", "dist", "__pycache__"))
    caller = submission_that(bundle, root / "starting_kit" / "calls_out",
                             "__import__('socket').create_connection(('10.255.255.1', 9), timeout=3)")
    yaml_path = root / "competition.yaml"
    yaml_path.write_text(yaml_path.read_text(encoding="utf-8").replace(
        "path: starting_kit/sample_code_submission", f"path: starting_kit/{caller.name}"), encoding="utf-8")
    done = run([PYTHON, "tools/validate_bundle.py", "--run", "--engine", engine, "--network", "off"], cwd=root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "CB120" in done.stdout and "Network is unreachable" in done.stdout
    assert f"tools/run_local.py --submission starting_kit/calls_out --engine {engine} --network off" in done.stdout


def test_pull_never_without_the_image_says_so(engine, tools, tmp_path):
    executor = tools.executors.ContainerExecutor(engine, "localhost:1/codabench-template-none:1", tmp_path, echo=None,
                                                 pull="never")
    with pytest.raises(tools.executors.EngineError, match=r"PULL=never, and .+ has no localhost:1/codabench-template-none:1 here"):
        executor.prepare()


@pytest.mark.parametrize("wanted", ["docker", "podman"])
def test_without_the_engine_each_command_says_so_in_one_line(wanted, bundle, tmp_path):
    """No engine fixture: this holds on any machine. PATH holds only make."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "make").symlink_to(shutil.which("make"))
    environment = {**os.environ, "PATH": str(tmp_path / "bin")}
    expected = (f"ERROR: ENGINE={wanted}: there is no `{wanted}` command on this machine; install it (or use "
                f"ENGINE={'podman' if wanted == 'docker' else 'docker'}), or leave ENGINE out to run with the local Python")
    for target in ("run", "validate", "bundle"):
        done = subprocess.run(["make", target, f"ENGINE={wanted}", f"PYTHON={PYTHON}"], cwd=bundle, env=environment,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode != 0, target
        errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
        assert errors and errors[0].startswith(expected), (target, done.stderr)
        assert "Traceback" not in done.stdout + done.stderr, target
