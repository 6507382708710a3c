"""Codabench's own compute worker, unmodified, against the template's runner (`make run ENGINE=docker`).

The worker runs through tests/codabench_worker.py (a stand-in site, the real worker code, dockerd).
It needs $CODABENCH_WORKER_PYTHON, a Python with the worker's pins (see PIP_LINE there), a
writable /codabench and a docker that can pull the bundle's image; without them this skips and
says why (with CI set, it fails).
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
from pathlib import Path

import pytest
import yaml
from codabench_worker import require_worker, run_codabench_worker
from conftest import PYTHON, run

pytestmark = pytest.mark.slow

# Seconds the submission spent in fit and predict, measured by ingestion: differs from run to run.
TIMED = {"duration"}


def test_the_worker_and_run_local_agree_on_the_baseline(bundle, tmp_path):
    competition = yaml.safe_load((bundle / "competition.yaml").read_text(encoding="utf-8"))
    python = require_worker("docker", competition["docker_image"])
    submission = bundle / "starting_kit" / "sample_code_submission"

    worker = run_codabench_worker(bundle, "Development", submission, tmp_path / "worker", python)

    assert [(step, status) for step, status, _ in worker.statuses] == [
        ("prediction", "Running"), ("prediction", "Preparing"), ("prediction", "Scoring"),
        ("scoring", "Running"), ("scoring", "Finished")], worker.worker_log[-5000:]
    assert all(step["error"] is None for step in worker.steps), [step["error"] for step in worker.steps]
    columns = [c["key"] for c in competition["leaderboards"][0]["columns"] if not c.get("computation")]
    assert worker.scores is not None and set(columns) <= set(worker.scores), (worker.scores, columns)

    local = run([PYTHON, "tools/run_local.py", "--engine", "docker", "--quiet", "--phase", "Development",
                 "--submission", str(submission), "--runs", str(tmp_path / "runs")], cwd=bundle)
    assert local.returncode == 0, local.stdout + local.stderr
    newest = max((tmp_path / "runs").iterdir(), key=lambda path: path.stat().st_mtime)
    (task,) = sorted(newest.glob("task*"))
    local_scores = json.loads((task / "scoring" / "output" / "scores.json").read_text(encoding="utf-8"))

    assert set(worker.scores) == set(local_scores)
    for key, value in local_scores.items():
        if key in TIMED:
            assert math.isfinite(worker.scores[key]) and 0 <= worker.scores[key] < 60, (key, worker.scores[key])
        else:
            assert worker.scores[key] == value, (key, worker.scores[key], value)

    # Both runners hand scoring the same files, and keep the same ones from scoring.
    def names(folder: Path) -> set[str]:
        return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}

    assert names(worker.prediction_output) == names(task / "prediction" / "output")
    assert names(worker.scoring_output) == names(task / "scoring" / "output")


# -- a probe submission: what each container sees, under the worker and under `make run ENGINE=docker` ------------
PROBE = r'''
import json, os, pathlib, socket, time

HERE = pathlib.Path(__file__).resolve().parent


def listing(path):
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        return type(exc).__name__


def reach(target):
    try:
        socket.create_connection((target["host"], target["port"]), timeout=5).close()
        return "reached the host"
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def data_writable():
    try:
        open("/app/data/probe", "w").close()
        return "yes"
    except OSError as exc:
        return exc.strerror


def record(name, seconds=0.0):
    started = time.time()
    time.sleep(seconds)
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    seen = {
        "start": started, "end": time.time(), "cwd": os.getcwd(), "uid": os.getuid(), "app": listing("/app"),
        "input": listing("/app/input"), "environment": dict(os.environ), "capabilities": status["CapEff"].strip(),
        "no_new_privs": status["NoNewPrivs"].strip(), "interfaces": sorted(n for _, n in socket.if_nameindex()),
        "network": reach(json.loads((HERE / "probe_target.json").read_text())), "data_writable": data_writable(),
    }
    (pathlib.Path("/app/output") / f"probe_{name}.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    record("program", 3)
'''
LOAD_PROBE = '''

import importlib.util as _util, pathlib as _pathlib
_spec = _util.spec_from_file_location("probe", _pathlib.Path(__file__).with_name("probe.py"))
_probe = _util.module_from_spec(_spec)
_spec.loader.exec_module(_probe)
_probe.record("model")  # when ingestion imports model.py
_predict = Model.predict


def _recorded_predict(self, X):
    predicted = _predict(self, X)
    _probe.record("predict")  # when ingestion has its predictions: near its end
    return predicted


Model.predict = _recorded_predict
'''


PROGRAM_FIRST = "program ended, then ingestion imported model.py"
INGESTION_FIRST = "ingestion predicted, then the program started"


def probe_submission(bundle: Path, folder: Path, port: int) -> Path:
    """The baseline, with its own command (probe.py, 3 s) and a model.py that records what ingestion's container sees."""
    folder.mkdir(parents=True)
    baseline = bundle / "starting_kit" / "sample_code_submission"
    (folder / "model.py").write_text((baseline / "model.py").read_text(encoding="utf-8") + LOAD_PROBE, encoding="utf-8")
    (folder / "probe.py").write_text(PROBE, encoding="utf-8")
    (folder / "metadata.yaml").write_text("command: python3 probe.py\n", encoding="utf-8")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as outward:
        outward.connect(("10.255.255.255", 9))  # no packet is sent: this only picks the host's outward address
        host = outward.getsockname()[0]
    (folder / "probe_target.json").write_text(json.dumps({"host": host, "port": port}), encoding="utf-8")
    return folder


def observations(output: Path) -> dict:
    """What the probe saw, in terms both runners must share (container ids and times aside)."""
    seen = {name: json.loads((output / f"probe_{name}.json").read_text()) for name in ("program", "model", "predict")}
    predicted = seen.pop("predict")["end"]
    metadata = yaml.safe_load((output / "metadata").read_text())
    found = {"order": PROGRAM_FIRST if seen["model"]["start"] >= seen["program"]["end"] else
             INGESTION_FIRST if seen["program"]["start"] >= predicted else "overlapped",
             "metadata": {key: ("null" if value is None else type(value).__name__ if key.endswith("Time") else value)
                          for key, value in metadata.items()}}
    for name, view in seen.items():
        environment = view.pop("environment")
        found[name] = {**{k: v for k, v in view.items() if k not in ("start", "end")},
                       "environment": sorted(set(environment) - {"HOSTNAME"}),
                       "proxies": [environment.get("http_proxy"), environment.get("https_proxy")],
                       "interfaces": "lo only" if view["interfaces"] == ["lo"] else "lo and a network"}
    return found


def _flat(found: dict, prefix: str = "") -> dict[str, str]:
    rows = {}
    for key, value in found.items():
        if isinstance(value, dict):
            rows.update(_flat(value, f"{prefix}{key}."))
        else:
            rows[f"{prefix}{key}"] = json.dumps(value) if not isinstance(value, str) else value
    return rows


def _answer_all(server: socket.socket) -> None:
    """Take every connection the probes make, until the test closes the server."""
    try:
        while True:
            connection, _ = server.accept()
            connection.close()
    except OSError:  # closed, or no probe came within the timeout
        pass


@pytest.mark.parametrize("network", ["on", "off"])
def test_a_probe_sees_the_same_under_the_worker_and_under_make_run(network, bundle, tmp_path):
    """Network, environment, order, mounts, user, capabilities and the worker's metadata, side by side. NETWORK=off is
    a worker started with COMPETITION_CONTAINER_NETWORK_DISABLED=true."""
    competition = yaml.safe_load((bundle / "competition.yaml").read_text(encoding="utf-8"))
    python = require_worker("docker", competition["docker_image"])
    server = socket.create_server(("0.0.0.0", 0))
    server.settimeout(60)
    threading.Thread(target=_answer_all, args=(server,), daemon=True).start()
    probe = probe_submission(bundle, tmp_path / "probe", server.getsockname()[1])
    try:
        environment = {"COMPETITION_CONTAINER_NETWORK_DISABLED": "true"} if network == "off" else {}
        worker = run_codabench_worker(bundle, "Development", probe, tmp_path / "worker", python, environment=environment)
        local = run([PYTHON, "tools/run_local.py", "--engine", "docker", "--network", network, "--quiet",
                     "--submission", str(probe), "--runs", str(tmp_path / "runs")], cwd=bundle)
    finally:
        server.close()
    assert local.returncode == 0, local.stdout + local.stderr
    assert worker.statuses[-1][1] == "Finished", worker.worker_log[-5000:]
    (task,) = sorted(next((tmp_path / "runs").iterdir()).glob("task*"))
    theirs, ours = observations(worker.prediction_output), observations(task / "prediction" / "output")

    table = Path(os.environ.get("CODABENCH_PROBE_TABLE", tmp_path / "table.md"))
    with table.open("a", encoding="utf-8") as out:  # the side-by-side view (the closing note of issue 22 shows it)
        out.write(f"\n| network {network} | Codabench's worker | make run ENGINE=docker |\n|---|---|---|\n")
        for key, value in _flat(theirs).items():
            out.write(f"| {key} | {value} | {_flat(ours).get(key, '(none)')} |\n")
    # One after the other in both. The worker's order is a race (its two websocket handshakes, compute_worker.py:697,
    # decide which blocking log loop runs first): the program first on a quiet worker, ingestion first at times under
    # load. The runner keeps the usual order.
    assert ours.pop("order") == PROGRAM_FIRST
    assert theirs.pop("order") in (PROGRAM_FIRST, INGESTION_FIRST)
    assert ours == theirs
    assert theirs["program"]["network"] == ("reached the host" if network == "on" else "Network is unreachable")
    assert theirs["model"]["proxies"] == ["", ""]
    assert theirs["metadata"]["elapsedTime"] == "float"
