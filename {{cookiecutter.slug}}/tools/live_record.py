"""Where this bundle is live: .codabench/live.json, written by `make upload`, read by submit and leaderboard.

    {"https://www.codabench.org": {"competition": 12, "url": ".../competitions/12/", "phases": {"Development": 30},
                                   "bundle_sha256": "...", "uploaded": "2026-12-03T12:00:00Z",
                                   "pending": {"status_id": 7, "bundle_sha256": "...", "uploaded": "..."}}}

One entry per Codabench site: the competition made from the bundle, and `pending` from the moment
Codabench took an upload until it answered, so that a command stopped meanwhile resumes the wait
instead of uploading again (a refused upload removes `pending` and keeps the competition). The
folder is git-ignored and never zipped (make_bundle ships only what competition.yaml names); it
holds no token.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bundle import ROOT
from codabench_client import DEFAULT_SERVER, Codabench, CodabenchError, NotFound, normalize_server

RECORD = ROOT / ".codabench" / "live.json"


def read(path: Path = RECORD) -> dict:
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CodabenchError(f"{path} is damaged ({error}): fix or delete it (deleting only forgets where the bundle "
                             f"is live; the competition stays on Codabench)") from None
    if not isinstance(record, dict) or not all(isinstance(entry, dict) for entry in record.values()):
        raise CodabenchError(f"{path} is damaged (not a record of sites and competitions): fix or delete it (deleting "
                             f"only forgets where the bundle is live; the competition stays on Codabench)")
    return record


def write(server: str, entry: dict | None, path: Path = RECORD) -> None:
    """Set (or with None, forget) the entry of `server`, replacing the file in one step."""
    record = read(path)
    if entry is None:
        record.pop(server, None)
    else:
        record[server] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, path)


def server_for(given: str | None, path: Path = RECORD) -> str:
    """CODABENCH= when given; else the one site this bundle is live on; else codabench.org."""
    if given and given.strip():
        return normalize_server(given)
    sites = list(read(path))
    if len(sites) > 1:
        raise CodabenchError(f"this bundle is live on {len(sites)} sites ({', '.join(sites)}): say which with CODABENCH=")
    return sites[0] if sites else DEFAULT_SERVER


def live_entry(server: str, path: Path = RECORD) -> dict:
    """The entry of a competition Codabench created on `server`, or a CodabenchError saying to upload first."""
    record = read(path)
    entry = record.get(server)
    if not entry or not entry.get("competition"):
        elsewhere = [site for site, other in record.items() if site != server and other.get("competition")]
        where = f" (it is live on {', '.join(elsewhere)}: CODABENCH= that)" if elsewhere else ""
        pending = " (its upload is still being unpacked: run `make upload` to wait for it)" if entry else ""
        raise CodabenchError(f"this bundle has no competition on {server} yet{pending}{where}: `make upload` creates it "
                             f"(or name one with COMPETITION=id)")
    return entry


def competition_and_phase(client: Codabench, competition: int | None, phase_name: str) -> tuple[int, dict]:
    """(competition id, the phase named `phase_name` as Codabench has it): the recorded competition by default."""
    recorded = competition is None
    if recorded:
        competition = live_entry(client.server)["competition"]
    try:
        phases = client.get(f"/api/competitions/{competition}/")["phases"]
    except NotFound:
        if recorded:
            raise CodabenchError(f"competition {competition}, where `make upload` put this bundle, is no longer on "
                                 f"{client.server} (deleted there?): `make upload NEW=1` makes a new one") from None
        raise CodabenchError(f"{client.server} has no competition {competition} that this account may see: check "
                             f"COMPETITION= (the number in its address)") from None
    matches = [phase for phase in phases if phase["name"] == phase_name] or [
        phase for phase in phases if phase["name"].casefold() == phase_name.strip().casefold()]
    if len(matches) == 1:
        return competition, matches[0]
    names = ", ".join(phase["name"] for phase in phases)
    raise CodabenchError(f"competition {competition} has no phase {phase_name!r}: PHASE= one of {names}")


def competition_id(value: str | None) -> int | None:
    """COMPETITION= as a number (None when not given)."""
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise CodabenchError(f"COMPETITION={value} is not a competition id (a number: the one in its address)") from None
