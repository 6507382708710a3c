"""make migrate on CodaLab's official Iris bundle, checked by what Codabench's own site stores.

One `make migrate SOURCE=<Iris zip>` in a fresh bake, then `make upload`: the competition Codabench unpacks from
the migrated bundle has the phases, dates, limits, leaderboard, pages and terms that the ORIGINAL v1.5
competition.yaml declares (read from inside the zip). The same zip uploaded as it is goes through Codabench's own
v1.5 unpacker (src/apps/competitions/unpackers/v1.py), and the second test records, as facts, what that unpacker
stores differently; the migration exists to fix these:
- every phase start loses its time of day: v1.5 dates are unquoted YAML timestamps, and get_datetime
  (utils.py) keeps only the date of a datetime (2020-01-15 18:53 becomes 2020-01-15 00:00);
- a phase ends one day before the next one starts (v1.py: next start minus one day), not just before it;
- the leaderboard's submission_rule is the default `Add` (participants post to it by hand): the unpacker reads
  no force_submission_to_leaderboard;
- the pages are titled after the `html:` keys, in the yaml's order (data, evaluation, overview).

Codabench's site is the one of tests/codabench_site.py (the `codabench_site` fixture); no submission is run.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import time
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
import yaml
from test_going_live import make
from test_migrate import apply_fixes

pytestmark = pytest.mark.slow

# CodaLab's official Iris bundle (codalab-competitions, codalab/Iris/iris_competition_bundle.zip), as the shared
# folder beside the checkout keeps it; or $CODALAB_IRIS_BUNDLE.
IRIS = Path(os.environ.get("CODALAB_IRIS_BUNDLE") or Path(__file__).resolve().parents[2] / "shared" / "vendor"
            / "codalab-v1.5-examples" / "Iris__iris_competition_bundle.zip")
TOKEN_NAME = "CODABENCH_TOKEN"
KINDS = ("scoring_program", "ingestion_program", "input_data", "reference_data")

# What Codabench stored for competition `pk`, as one JSON line (stored() prepends pk and kinds). Each task file is
# the zip the unpacker put in storage: its size and the sha256 of each of its files, read back from storage.
STORED = """
import hashlib, io, json, zipfile
from competitions.models import Competition

def entries(data):
    with data.data_file.open("rb") as file:
        content = file.read()
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        files = {item.filename: hashlib.sha256(archive.read(item)).hexdigest()
                 for item in archive.infolist() if not item.is_dir()}
    return {"size": len(content), "entries": files}

c = Competition.objects.get(pk=pk)
board = c.phases.order_by("index").first().leaderboard
print(json.dumps({
    "title": c.title, "docker_image": c.docker_image, "registration_auto_approve": c.registration_auto_approve,
    "terms": c.terms,
    "pages": [{"title": page.title, "content": page.content} for page in c.pages.order_by("index")],
    "phases": [{"name": p.name, "start": p.start.isoformat(), "end": p.end.isoformat() if p.end else None,
                "max_submissions_per_day": p.max_submissions_per_day,
                "max_submissions_per_person": p.max_submissions_per_person,
                "execution_time_limit": p.execution_time_limit, "auto_migrate": p.auto_migrate_to_this_phase,
                "tasks": [{kind: entries(getattr(t, kind)) for kind in kinds if getattr(t, kind)} for t in p.tasks.all()]}
               for p in c.phases.order_by("index")],
    "boards": len({p.leaderboard_id for p in c.phases.all()}),
    "board": {"rule": board.submission_rule,
              "columns": [[col.key, col.title, col.sorting, col.precision, col.hidden]
                          for col in board.columns.order_by("index")]},
}))
"""


def stored(site, pk: int) -> dict:
    return json.loads(site.django(f"pk, kinds = {int(pk)}, {KINDS!r}\n{STORED}").strip().splitlines()[-1])


def when(value) -> datetime:
    """A stored ISO date, or a v1.5 start_date as YAML loads it (a datetime; naive ones are UTC), as aware UTC."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


@pytest.fixture(scope="module")
def iris() -> dict:
    """The original v1.5 competition.yaml, and every other file of the zip by name."""
    if not IRIS.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have CodaLab's Iris bundle at {IRIS} (or set CODALAB_IRIS_BUNDLE)", pytrace=False)
        pytest.skip(f"no CodaLab Iris bundle at {IRIS} (set CODALAB_IRIS_BUNDLE)")
    with zipfile.ZipFile(IRIS) as archive:
        files = {name: archive.read(name) for name in archive.namelist() if not name.endswith("/")}
    return {"yaml": yaml.safe_load(files.pop("competition.yaml")), "files": files}


def phases_of(declared: dict) -> list[dict]:
    return sorted(declared["phases"].values(), key=lambda phase: phase["phasenumber"])


def zip_entries(data: bytes) -> dict[str, str]:
    """sha256 of each file of a zip held in memory, by name."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {item.filename: hashlib.sha256(archive.read(item)).hexdigest()
                for item in archive.infolist() if not item.is_dir()}


def text(data: bytes) -> str:
    """A page's text as Codabench stores it: its serializers (DRF CharField, trim_whitespace) strip the ends, so
    Iris's evaluation.html is stored without its final newline, from the original zip and the migrated bundle alike."""
    return data.decode("utf-8").strip()


def output(done: subprocess.CompletedProcess) -> str:
    return (done.stdout + done.stderr)[-3000:]


def test_the_migrated_iris_bundle_is_unpacked_as_its_v15_yaml_says(codabench_site, bake, iris):
    bundle = bake()
    token = codabench_site.token("migrating-organizer")
    migrated = make(bundle, "migrate", f"SOURCE={IRIS}")  # no START: the original dates are kept
    assert migrated.returncode == 0, output(migrated)
    assert not (bundle / "data.yaml").exists()  # the competition ships its own data: make upload builds the zip itself
    uploaded = make(bundle, "upload", f"CODABENCH={codabench_site.url}", token=token)
    assert token not in uploaded.stdout + uploaded.stderr, "make upload printed the token"
    assert uploaded.returncode == 0, output(uploaded)
    record = json.loads((bundle / ".codabench" / "live.json").read_text())[codabench_site.url]
    assert "pending" not in record and f"Competition {record['competition']} is on Codabench" in uploaded.stdout
    have = stored(codabench_site, record["competition"])

    declared, files = iris["yaml"], iris["files"]
    assert have["title"] == declared["title"] == "Iris"
    assert have["docker_image"] == declared["competition_docker_image"] == "codalab/codalab-legacy:py37"
    assert declared["has_registration"] is False and have["registration_auto_approve"] is True

    # Phases in phasenumber order, each starting at its v1.5 start_date to the minute; each ends one minute
    # before the next starts, and the last never ends (end_date: null).
    phases = phases_of(declared)
    assert [phase["name"] for phase in have["phases"]] == [phase["label"] for phase in phases] == ["Development", "Final"]
    starts = [when(phase["start_date"]) for phase in phases]
    assert starts == [datetime(2020, 1, 15, 18, 53, tzinfo=timezone.utc), datetime(2020, 2, 15, 18, 53, tzinfo=timezone.utc)]
    assert [when(phase["start"]) for phase in have["phases"]] == starts
    assert declared["end_date"] is None and have["phases"][-1]["end"] is None
    for phase, next_start in zip(have["phases"], starts[1:]):
        assert when(phase["end"]) == next_start - timedelta(minutes=1), phase["name"]
    for want, phase in zip(phases, have["phases"]):
        assert phase["max_submissions_per_day"] == want["max_submissions_per_day"], phase["name"]
        assert phase["max_submissions_per_person"] == want["max_submissions"], phase["name"]
        assert phase["execution_time_limit"] == want["execution_time_limit"], phase["name"]
        assert phase["auto_migrate"] == bool(want.get("auto_migration", False)), phase["name"]

    # Each phase's task has its programs and data stored (none empty); each phase's reference data is the
    # original's zip, file for file, so Final's differs from Development's.
    for want, phase in zip(phases, have["phases"]):
        (task,) = phase["tasks"]
        assert sorted(task) == sorted(KINDS), phase["name"]
        assert all(task[kind]["size"] > 0 and task[kind]["entries"] for kind in KINDS), phase["name"]
        assert task["reference_data"]["entries"] == zip_entries(files[want["reference_data"]]), phase["name"]
    development, final = (phase["tasks"][0]["reference_data"]["entries"] for phase in have["phases"])
    assert development != final

    # One leaderboard, shared by the phases: force_submission_to_leaderboard is Force_Last; columns in rank order.
    assert declared["force_submission_to_leaderboard"] is True
    assert have["boards"] == 1 and have["board"]["rule"] == "Force_Last"
    columns = sorted(declared["leaderboard"]["columns"].items(), key=lambda item: item[1]["rank"])
    assert have["board"]["columns"] == [[key, column["label"], column.get("sort", "desc"), column.get("numeric_format", 2),
                                         bool(column.get("hidden", False))] for key, column in columns]
    assert [column[0] for column in have["board"]["columns"]] == ["set1_score", "Duration"]

    # Pages and terms: the original HTML files' text (as Codabench keeps any text: see text()).
    html = declared["html"]
    assert [page["title"] for page in have["pages"]] == ["Overview", "Evaluation", "Data"]
    for page in have["pages"]:
        assert page["content"] == text(files[html[page["title"].lower()]]), page["title"]
    assert have["terms"] == text(files[html["terms"]])


def upload_as_is(site, token: str, path: Path) -> int:
    """The upload page's steps (tests/test_codabench_site.py, codabench-api.md): the competition's id."""
    def api(method: str, route: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{site.url}/api/{route}", headers={"Authorization": f"Token {token}"},
                                timeout=60, **kwargs)

    created = api("POST", "datasets/", data={"name": f"{path.stem}-{time.time_ns()}", "type": "competition_bundle",
                                             "request_sassy_file_name": path.name, "file_name": path.name,
                                             "file_size": path.stat().st_size})
    assert created.status_code == 201, created.text
    put = requests.put(created.json()["sassy_url"], data=path.read_bytes(), timeout=60,
                       headers={"Content-Type": "application/zip", "Content-Length": str(path.stat().st_size)})
    assert put.status_code == 200, put.text
    completed = api("PUT", f"datasets/completed/{created.json()['key']}/")
    assert completed.status_code == 200, completed.text
    status_id, deadline = completed.json()["status_id"], time.monotonic() + 180
    while True:
        status = api("GET", f"competitions/{status_id}/creation_status/").json()
        if status.get("status") != "Starting" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status.get("status") == "Finished", f"{status}\n{site.log('site-worker')[-3000:]}"
    return status["resulting_competition"]


def test_codabench_unpacks_the_original_v15_zip_with_other_dates_and_rule(codabench_site, iris):
    """What the migration fixes: the same Iris zip, uploaded as it is, through Codabench's own v1.5 unpacker."""
    have = stored(codabench_site, upload_as_is(codabench_site, codabench_site.token("v15-organizer"), IRIS))
    declared = iris["yaml"]
    phases = phases_of(declared)
    starts = [when(phase["start_date"]) for phase in phases]

    # What it keeps as the yaml says.
    assert have["title"] == declared["title"] and have["docker_image"] == declared["competition_docker_image"]
    assert have["registration_auto_approve"] is True
    assert [phase["name"] for phase in have["phases"]] == [phase["label"] for phase in phases]
    assert have["phases"][-1]["end"] is None
    assert [phase["max_submissions_per_day"] for phase in have["phases"]] == [p["max_submissions_per_day"] for p in phases]

    # The starts lose their time of day: 2020-01-15 18:53 UTC is stored as 2020-01-15 00:00 UTC.
    assert [when(phase["start"]) for phase in have["phases"]] == [start.replace(hour=0, minute=0) for start in starts]
    assert all(start.hour == 18 and start.minute == 53 for start in starts)
    # A phase ends a whole day before the next starts (2020-02-14 00:00), not a minute before.
    assert when(have["phases"][0]["end"]) == when(have["phases"][1]["start"]) - timedelta(days=1)
    assert when(have["phases"][0]["end"]) == datetime(2020, 2, 14, tzinfo=timezone.utc)
    # The leaderboard is posted to by hand (`Add`), though the yaml says force_submission_to_leaderboard: true.
    assert declared["force_submission_to_leaderboard"] is True and have["board"]["rule"] == "Add"
    # The pages are titled after the html: keys, in the yaml's order (their text is the files', as above).
    assert [page["title"] for page in have["pages"]] == ["data", "evaluation", "overview"]
    assert all(page["content"] == text(iris["files"][declared["html"][page["title"]]]) for page in have["pages"])


def test_a_migrated_bundle_on_the_current_image_is_scored_by_codabench_worker_as_by_make_run(codabench_site, bake):
    """IMAGE=current and the report's fixes: `make upload SUBMIT=baseline` runs the Iris sample code submission on
    Codabench's own compute worker, in the image, and its score is the one `make run` gives here."""
    bundle = bake()
    start = f"{datetime.now(timezone.utc) - timedelta(days=1):%Y-%m-%d %H:%M}"  # the Development phase is open
    migrated = make(bundle, "migrate", f"SOURCE={IRIS}", "IMAGE=current", f"START={start}")
    assert migrated.returncode == 0, output(migrated)
    apply_fixes(bundle, migrated.stdout)
    local = make(bundle, "run", "ENGINE=docker", "PULL=never")
    assert local.returncode == 0, output(local)
    newest = max((bundle / "runs").iterdir(), key=lambda path: path.stat().st_mtime)
    (scores_file,) = newest.glob("task*/scoring/output/scores.txt")
    here = yaml.safe_load(scores_file.read_text())

    token = codabench_site.token("migrating-organizer-2")
    done = make(bundle, "upload", f"CODABENCH={codabench_site.url}", "SUBMIT=baseline", token=token, timeout=1200)
    assert done.returncode == 0, output(done) + codabench_site.log("compute-worker")[-3000:]
    assert "Finished" in done.stderr and "place 1 of 1 on the Development leaderboard" in done.stdout, output(done)
    printed = dict(line.strip().split(": ", 1) for line in done.stdout.splitlines()
                   if line.startswith("  ") and ": " in line and not line.strip().startswith("phases"))
    assert abs(float(printed["set1_score"]) - here["set1_score"]) <= 1e-6, (printed, here)  # printed to 6 places
    assert float(printed["Duration"]) > 0  # the scoring program read the worker's metadata, as on CodaLab
