"""Smoke test of tests/codabench_site.py: Codabench's own site and compute worker on this machine.

Through the site's HTTP API only, as the upload page and a participant would: token auth, a baked
bundle uploaded and unpacked, and its baseline submission run by the compute worker onto the leaderboard.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from codabench_site import require_site
from conftest import PYTHON, run

pytestmark = pytest.mark.slow

IMAGE = "codalab/codalab-legacy:py312"  # the bake's docker_image; the worker pulls it before each step


def _api(site, token: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{site.url}/api/{path}", headers={"Authorization": f"Token {token}"},
                            timeout=60, **kwargs)


def _upload(site, token: str, path: Path, kind: str) -> dict:
    """The upload page's three steps (POST /api/datasets/, PUT to its signed URL, PUT .../completed/<key>/);
    the answer of the last, with the dataset's key."""
    size = path.stat().st_size
    created = _api(site, token, "POST", "datasets/", data={
        "name": f"{path.stem}-{time.time_ns()}", "type": kind, "request_sassy_file_name": path.name,
        "file_name": path.name, "file_size": size})
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    put = requests.put(created.json()["sassy_url"], data=path.read_bytes(), timeout=60,
                       headers={"Content-Type": "application/zip", "Content-Length": str(size)})
    assert put.status_code == 200, put.text
    completed = _api(site, token, "PUT", f"datasets/completed/{key}/")
    assert completed.status_code == 200, completed.text
    return {"key": key, **completed.json()}


def _poll(get, done, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answer = get()
        if done(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.5)


def test_the_api_takes_the_token_and_refuses_a_wrong_one(codabench_site):
    token = codabench_site.token()
    me = _api(codabench_site, token, "GET", "my_profile/")
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "organizer"
    assert codabench_site.token() == token  # made once
    wrong = _api(codabench_site, "0" * 40, "GET", "my_profile/")
    assert wrong.status_code == 403, wrong.text


def test_a_baked_bundle_is_created_and_its_baseline_is_scored_on_the_leaderboard(codabench_site, bake):
    require_site(image=IMAGE)
    bundle = bake()
    made = run(["make", "bundle", f"PYTHON={PYTHON}"], cwd=bundle)
    assert made.returncode == 0, made.stdout + made.stderr
    site, token = codabench_site, codabench_site.token()

    started = time.monotonic()
    status_id = _upload(site, token, bundle / "dist" / "bundle.zip", "competition_bundle")["status_id"]
    status = _poll(lambda: _api(site, token, "GET", f"competitions/{status_id}/creation_status/").json(),
                   lambda answer: answer.get("status") != "Starting", 120)
    assert status["status"] == "Finished", f"{status}\n{site.log('site-worker')[-3000:]}"
    print(f"upload -> created: {time.monotonic() - started:.1f} s")
    competition = _api(site, token, "GET", f"competitions/{status['resulting_competition']}/").json()
    phase = competition["phases"][0]["id"]

    started = time.monotonic()
    data = _upload(site, token, bundle / "dist" / "submissions" / "sample_code_submission.zip", "submission")["key"]
    submitted = _api(site, token, "POST", "submissions/", data={"phase": phase, "data": data})
    assert submitted.status_code == 201, submitted.text
    submission = submitted.json()["id"]
    final = _poll(lambda: _api(site, token, "GET", f"submissions/{submission}/").json(),
                  lambda answer: answer["status"] in ("Finished", "Failed", "Cancelled"), 600)
    assert final["status"] == "Finished", f"{final}\n{site.log('compute-worker')[-3000:]}"
    print(f"submission -> Finished: {time.monotonic() - started:.1f} s")

    board = _api(site, token, "GET", f"phases/{phase}/get_leaderboard/").json()
    ours = [entry for entry in board["submissions"] if entry["id"] == submission]
    assert ours and ours[0]["scores"], board
