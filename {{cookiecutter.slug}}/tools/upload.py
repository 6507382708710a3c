"""Upload dist/bundle.zip to Codabench, as its upload page does, and wait until the competition exists.

    make upload [CODABENCH=https://www.codabench.org] [SUBMIT=baseline] [NEW=1]
    python tools/upload.py [--server URL] [--bundle dist/bundle.zip] [--submit baseline] [--new]

`make upload` validates and builds the zip first (`make bundle`). Then: create a dataset of type
competition_bundle, PUT the zip to the storage URL Codabench returns, mark the upload completed,
and poll the creation status until Codabench has unpacked it, printing its own text when it
refuses the bundle. The competition's id, address, phases and the zip's SHA-256 go to
.codabench/live.json (tools/live_record.py) so that `make submit` and `make leaderboard` know where
to go, and so that the same bundle is not made into a second competition by accident: Codabench
makes a new competition for every upload (it cannot update one from a bundle), so uploading again
to a site that already has one from this bundle needs NEW=1. With SUBMIT=baseline the bundle's
baseline is then submitted to PHASE (Development), so it is the first entry of the leaderboard.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

import live_record
from bundle import ROOT
from codabench_client import (
    DEFAULT_SERVER,
    FAILURES,
    Codabench,
    CodabenchError,
    CompletionLost,
    NotFound,
    failure,
    normalize_server,
)
from credentials import find_token
from file_rules import human, sha256

UNPACK_TIMEOUT = 900  # seconds; a 100 MB bundle took 7 s to unpack on a quiet site (the public one queues uploads)
EVIDENCE_WAIT = 60  # seconds to look for a competition after the completion's answer was lost
POLL = 1.0


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def phases_of(client: Codabench, competition: int) -> dict[str, int]:
    return {phase["name"]: phase["id"] for phase in client.get(f"/api/competitions/{competition}/")["phases"]}


def my_competition_ids(client: Codabench) -> set[int]:
    answer = client.get("/api/competitions/?mine=true")
    rows = answer.get("results", []) if isinstance(answer, dict) else answer
    return {row["id"] for row in rows}


def refuse_second(entry: dict) -> CodabenchError:
    return CodabenchError(f"competition {entry['competition']} ({entry.get('url', '?')}) was already made from this bundle on "
                          f"{entry.get('uploaded', '?')[:10]}, and Codabench makes a new competition for every upload: "
                          f"nothing was uploaded. To make another one, `make upload NEW=1` (the old one stays: delete "
                          f"it on the site if you no longer want it); to change the live one, edit it on the site")


def wait_for_unpacking(client: Codabench, status_id: int, timeout: float) -> int:
    """The id of the competition Codabench made from the upload whose creation status is `status_id`."""
    started = said = time.monotonic()
    while True:
        status = client.get(f"/api/competitions/{status_id}/creation_status/")
        if status.get("status") == "Finished" and status.get("resulting_competition"):
            return int(status["resulting_competition"])
        if status.get("status") == "Failed":
            raise CodabenchError(f"Codabench could not create the competition: {status.get('details') or 'no reason given'}")
        now = time.monotonic()
        if now - started > timeout:
            raise CodabenchError(f"Codabench has not finished unpacking after {timeout / 60:.0f} min (status "
                                 f"{status.get('status')!r}): its site worker may be busy; `make upload` again waits "
                                 f"for this same upload (nothing is sent twice)")
        if now - said >= 5:
            say(f"  Codabench is unpacking the bundle ({now - started:.0f} s)")
            said = now
        time.sleep(POLL)


def look_for_lost_completion(client: Codabench, before: int, title: str) -> int | None:
    """After the answer to "upload completed" was lost: the competition it made (an id above `before` with the
    bundle's title, among the user's own), if one appears within a minute."""
    say(f"  looking on the site for the competition the upload made ({EVIDENCE_WAIT} s at most) before doing anything "
        f"again")
    deadline = time.monotonic() + EVIDENCE_WAIT
    while time.monotonic() < deadline:
        for competition in sorted(competition for competition in my_competition_ids(client) if competition > before):
            if client.get(f"/api/competitions/{competition}/").get("title") == title:
                return competition
        time.sleep(2 * POLL)
    return None


def not_visible(entry: dict, server: str) -> CodabenchError:
    return CodabenchError(f"competition {entry['competition']}, where `make upload` put this bundle, is not visible to "
                          f"this account on {server} (deleted there, or the token is another account's): if it was "
                          f"deleted, `make upload NEW=1` makes a new one")


def still_there(client: Codabench, competition: int) -> bool:
    try:
        client.get(f"/api/competitions/{competition}/")
    except NotFound:
        return False
    return True


def bundle_title() -> str:
    from bundle import load_competition  # only now: a missing competition.yaml is make bundle's to report

    return str(load_competition(ROOT).get("title", ""))


def upload(server: str, bundle: Path, *, new: bool = False, timeout: float = UNPACK_TIMEOUT) -> dict:
    """Upload `bundle` to `server` (or resume an unfinished upload) and record the competition: its entry."""
    if not bundle.is_file():
        raise CodabenchError(f"no {bundle}: `make upload` builds it (or `make bundle`)")
    client = Codabench(server, find_token(server), say=say)
    digest = sha256(bundle)
    record = live_record.read()
    entry = record.get(client.server) or {}
    pending = entry.get("pending") or {}
    if pending and new:
        say(f"Forgetting the unfinished upload of {pending.get('uploaded', '?')} (NEW=1): if Codabench finishes it, it "
            f"is a competition of its own")
        entry = {key: value for key, value in entry.items() if key != "pending"}
        live_record.write(client.server, entry or None)
        pending = {}
    if pending and "status_id" not in pending:  # stopped, or its answer lost, while asking Codabench to take it
        competition = look_for_lost_completion(client, int(pending.get("before", 0)), bundle_title())
        if competition is None:
            raise CodabenchError(f"the upload of {pending.get('uploaded', '?')} went unanswered and no competition "
                                 f"from it has appeared: look at {client.server}/competitions/management/ (`make "
                                 f"upload` looks again; `make upload NEW=1` uploads anew)")
        return record_live(client, competition, pending.get("bundle_sha256", digest))
    if pending:
        say(f"Resuming the wait for the upload of {pending.get('uploaded', '?')} to {client.server} "
            f"(creation status {pending['status_id']})")
        status_id, digest = int(pending["status_id"]), pending.get("bundle_sha256", digest)
    else:
        if entry.get("competition") and not new:
            raise refuse_second(entry) if still_there(client, entry["competition"]) else not_visible(entry, client.server)
        for site, other in record.items():
            if site != client.server and other.get("bundle_sha256") == digest:
                say(f"(This same bundle is also competition {other.get('competition')} on {site}.)")
        sent = send(client, bundle, digest, entry)
        if isinstance(sent, dict):  # the completion's answer was lost, and the competition was found
            return sent
        status_id = sent
    started = time.monotonic()
    try:
        competition = wait_for_unpacking(client, status_id, timeout)
    except CodabenchError as error:
        if str(error).startswith("Codabench could not create"):  # nothing was made: forget the upload, keep the rest
            kept = {key: value for key, value in entry.items() if key != "pending"}
            live_record.write(client.server, kept or None)
        raise
    say(f"  unpacked in {time.monotonic() - started:.1f} s")
    return record_live(client, competition, digest)


def send(client: Codabench, bundle: Path, digest: str, entry: dict) -> int | dict:
    """Upload the zip: the creation status id to wait on, or (answer lost, competition found) its recorded entry.
    The upload is recorded as pending before Codabench is asked to take it, so that nothing stops it being found."""
    title = bundle_title()
    say(f"Uploading {bundle.name} ({human(bundle.stat().st_size)}) to {client.server}")
    started = time.monotonic()
    before = max(my_competition_ids(client), default=0)
    name = f"{title} bundle {digest[:8]} {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M:%S}"
    pending = {"bundle_sha256": digest, "before": before, "uploaded": _now()}

    def remember(key: str) -> None:
        live_record.write(client.server, {**entry, "pending": {**pending, "dataset": key}})

    try:
        key, answer = client.upload_file(bundle, "competition_bundle", name, before_completion=remember)
    except CompletionLost:
        say("  the answer to the upload's completion was lost")
        competition = look_for_lost_completion(client, before, title)
        if competition is None:
            raise CodabenchError(f"the upload's completion got no answer and no new competition appeared in "
                                 f"{EVIDENCE_WAIT} s: `make upload` looks again (nothing is sent twice); look at "
                                 f"{client.server}/competitions/management/, and `make upload NEW=1` uploads anew") from None
        return record_live(client, competition, digest)
    status_id = answer.get("status_id") if isinstance(answer, dict) else None
    if not isinstance(status_id, int):
        raise CodabenchError(f"{client.server} took the upload but gave no creation status ({str(answer)[:100]}): "
                             f"`make upload` looks for the competition it made")
    live_record.write(client.server, {**entry, "pending": {**pending, "dataset": key, "status_id": status_id}})
    say(f"  uploaded in {time.monotonic() - started:.1f} s; Codabench is unpacking it")
    return status_id


def record_live(client: Codabench, competition: int, digest: str) -> dict:
    entry = {"competition": competition, "url": client.page(competition),
             "phases": phases_of(client, competition), "bundle_sha256": digest, "uploaded": _now()}
    live_record.write(client.server, entry)
    return entry


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check(server: str, new: bool, submit: str | None, phase: str) -> None:
    """What can be refused before the bundle is built: the token, SUBMIT and PHASE, a second upload without NEW."""
    from bundle import load_competition

    client = Codabench(server, find_token(server), say=say)
    if submit:
        from submit import submission_zip

        with tempfile.TemporaryDirectory(prefix="codabench-check-") as scratch:
            submission_zip(submit, Path(scratch), variable="SUBMIT")
        phases = [str(declared.get("name")) for declared in load_competition(ROOT).get("phases") or []]
        if phase.strip().casefold() not in {name.casefold() for name in phases}:
            raise CodabenchError(f"competition.yaml has no phase {phase!r} to submit to: PHASE= one of {', '.join(phases)}")
    entry = live_record.read().get(client.server) or {}
    live_record.write(client.server, entry or None)  # the record can be written: an upload never goes unrecorded
    if entry.get("competition") and not new and not entry.get("pending"):
        raise refuse_second(entry) if still_there(client, entry["competition"]) else not_visible(entry, client.server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=os.environ.get("MK_CODABENCH") or None,
                        help="the Codabench site (default: https://www.codabench.org)")
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "bundle.zip")
    parser.add_argument("--new", action="store_true", default=yes(os.environ.get("MK_NEW")),
                        help="upload even though this site already has a competition from this bundle")
    parser.add_argument("--submit", default=os.environ.get("MK_SUBMIT") or None,
                        help="then submit this (baseline, or a folder or zip) to --phase")
    parser.add_argument("--phase", default=os.environ.get("MK_PHASE") or "Development")
    parser.add_argument("--timeout", type=float, default=UNPACK_TIMEOUT, help="seconds to wait for the unpacking")
    parser.add_argument("--check", action="store_true", help="only check what can be refused before the bundle is built")
    args = parser.parse_args(argv)
    server = DEFAULT_SERVER
    try:
        server = normalize_server(args.server) if args.server else DEFAULT_SERVER
        if args.check:
            check(server, args.new, args.submit, args.phase)
            return 0
        entry = upload(server, args.bundle, new=args.new, timeout=args.timeout)
    except KeyboardInterrupt:
        try:
            pending = (live_record.read().get(server) or {}).get("pending")
        except CodabenchError:
            pending = None
        print("\nERROR: stopped; " + ("Codabench may have taken the bundle: `make upload` again finds it or waits for "
                                      "it (nothing is sent twice)" if pending else
                                      "Codabench had not been asked to take the bundle: nothing was created"),
              file=sys.stderr)
        return 1
    except FAILURES as error:
        return failure(server, error)
    phases = ", ".join(f"{name} (id {phase})" for name, phase in entry["phases"].items())
    print(f"Competition {entry['competition']} is on Codabench: {entry['url']}")
    print(f"  phases: {phases}")
    print("  It is unpublished: only you see it. Check it on the site, then publish it (README: Going live).")
    if args.submit:
        from submit import submit_and_report

        if submit_and_report(server, args.submit, args.phase) != 0:
            print(f"The competition is live all the same; submit again with `make submit` "
                  f"(SUBMISSION={args.submit} PHASE={args.phase}).", file=sys.stderr)
            return 1
    return 0


def yes(value: str | None) -> bool:
    """NEW=1, yes, true: yes; empty, 0, no, false: no."""
    return (value or "").strip().lower() not in ("", "0", "no", "false", "off")


if __name__ == "__main__":
    sys.exit(main())
