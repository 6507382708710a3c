"""CodaLab competition bundles (competition.yaml without `version`, or version 1.5): what Codabench's own
v1.5 unpacker refuses or changes, and how each v1.5 key maps to this template's version 2.

Two users: `make validate BUNDLE=old.zip` reports a v1.5 bundle before an upload (`check`), and `make migrate`
writes the version 2 competition (`to_v2`). Both read the same rules, from the sources codalab-facts.md cites:
CodaLab's unpacker and models (what the bundle meant, with CodaLab's defaults) and Codabench's V15Unpacker at
c7dbc756 (src/apps/competitions/unpackers/v1.py, base_unpacker.py: what Codabench would do with it as it is).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

from findings import Findings
from yaml_rules import GPU_IMAGE

V15_VERSIONS = ("1", "1.5")
# CodaLab's model defaults (codalab-competitions models.py), which a v1.5 bundle relied on by leaving a key out.
CODALAB_DEFAULTS = {"max_submissions": 100, "max_submissions_per_day": 999, "execution_time_limit": 300}
CODALAB_IMAGE = "codalab/codalab-legacy:latest"  # settings.DOCKER_DEFAULT_WORKER_IMAGE, when the bundle names none
CODABENCH_V15_IMAGE = "codalab/codalab-legacy:py37"  # what Codabench's v1.5 unpacker puts in its place
FILE_KEYS = ("ingestion_program", "input_data", "scoring_program", "reference_data", "public_data", "starting_kit")
TASK_KEYS = FILE_KEYS[:4]
MAX_KEY = 36  # a v2 leaderboard column's key and title (CodaLab allowed 50)
PHASE_GAP = timedelta(minutes=1)  # a migrated phase ends this long before the next one starts
UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>")
PAGE_TITLES = {"terms": "Terms", "overview": "Overview", "evaluation": "Evaluation", "data": "Data"}

# Top-level v1.5 keys (CodaLab's Competition model fields) with no version 2 equivalent, and what to do instead.
NO_EQUIVALENT = {
    "admin_names": "ignored by CodaLab too; add them as collaborators in the competition's editor on Codabench",
    "allow_teams": "Codabench has no competition switch for teams; participants form teams on their profile",
    "enable_teams": "Codabench has no competition switch for teams; participants form teams on their profile",
    "anonymous_leaderboard": "Codabench shows participants' names; no bundle key hides them",
    "disallow_leaderboard_modifying": "the leaderboard's submission_rule decides what participants may change",
    "enable_per_submission_metadata": "Codabench has no per-submission metadata form",
    "show_datasets_from_yaml": "Codabench lists the phases' public data and starting kit on the Files tab",
    "hide_top_three": "Codabench has no such switch",
    "hide_chart": "Codabench has no such switch",
    "url_redirect": "Codabench has no such switch",
    "allow_organizer_teams": "Codabench has no such switch",
    "datasets": "external links: put them on a page (the Data page is the usual place)",
}
# v1.5 keys read under another name: (v2 key, how the value changes)
RENAMED = {
    "enable_forum": "forum_enabled",
    "allow_public_submissions": "can_participants_make_submissions_public",
}
# Keys Codabench's v1.5 unpacker also reads with their version 2 names: kept as they are.
SAME_NAME = ("reward", "enable_detailed_results", "show_detailed_results_in_submission_panel",
             "show_detailed_results_in_leaderboard", "auto_run_submissions", "make_programs_available",
             "make_input_data_available", "contact_email")
PHASE_NO_EQUIVALENT = {
    "color": "Codabench draws phases in its own colors",
    "leaderboard_management_mode": "hide the leaderboard from participants in the editor (leaderboard: hidden)",
    "max_submission_size": "Codabench limits a submission by its own quota, not per phase",
    "participant_max_storage_use": "Codabench limits storage per user, not per phase",
    "delete_submissions_except_best_and_last": "Codabench has no such switch",
    "disable_custom_docker_image": "Codabench runs every program in docker_image; participants cannot choose one",
    "datasets": "external links: put them on a page (the Data page is the usual place)",
}
PHASE_IMAGES = ("scoring_program_docker_image", "ingestion_program_docker_image", "default_docker_image")
PHASE_SAME_NAME = ("hide_output", "hide_prediction_output", "hide_score_output")


class MigrationError(Exception):
    """The v1.5 bundle cannot become a working version 2 one; the message names the key and the fix."""


@dataclass
class Report:
    """What became of each v1.5 key: kept as it was, mapped (renamed, converted or defaulted), with no
    equivalent (ignored, with what to do instead), or to fix before the competition works."""
    lines: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, v1.5 key, what happened)

    def kept(self, key: str, text: str) -> None:
        self.lines.append(("kept", key, text))

    def mapped(self, key: str, text: str) -> None:
        self.lines.append(("mapped", key, text))

    def dropped(self, key: str, text: str) -> None:
        self.lines.append(("no equivalent", key, text))

    def fix(self, key: str, text: str) -> None:
        self.lines.append(("to fix", key, text))

    def of(self, kind: str) -> list[tuple[str, str]]:
        return [(key, text) for k, key, text in self.lines if k == kind]


def is_v15(competition: dict) -> bool:
    """A CodaLab bundle: Codabench picks its v1.5 unpacker for `version` absent, 1 or 1.5 (tasks.py:382-392); one
    that also has a v1.5 shape (html, leaderboard or numbered phases) is read as such here."""
    if "version" in competition and str(competition["version"]) not in V15_VERSIONS:
        return False
    return "html" in competition or "leaderboard" in competition or isinstance(competition.get("phases"), dict)


def _shown(value: object) -> str:
    if isinstance(value, (bool, int, float)):
        return str(value)
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


# -- dates -------------------------------------------------------------------------------------------
def parse_date(value: object, key: str) -> datetime:
    """A v1.5 date as CodaLab read it (localize_datetime): a YAML date is midnight, a naive time is UTC, an aware
    one is converted to UTC; a string must read as YYYY-MM-DD[ HH:MM[:SS]][offset]. Returned naive, in UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, datetime.min.time())
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise MigrationError(f"{key}: {value!r} is not a date CodaLab could read; write it as YYYY-MM-DD HH:MM:SS "
                                 "(UTC)") from None
    else:
        raise MigrationError(f"{key}: {value!r} is not a date; write it as YYYY-MM-DD HH:MM:SS (UTC)")
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def utc(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}"


# -- the bundle's parts --------------------------------------------------------------------------------
def inside(root: Path, value: object, key: str) -> Path:
    """The bundle's file a v1.5 value names; MigrationError for a path that leaves the bundle (`../`, absolute, a
    link out): Codabench would read its own server's files there, a migration would copy this machine's."""
    path = root / str(value)
    if PurePosixPath(str(value)).is_absolute() or not path.resolve().is_relative_to(root.resolve()):
        raise MigrationError(f"{key}: {value!r} leads outside the bundle; name a file inside it")
    try:
        path.stat()
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        raise MigrationError(f"{key}: {_shown(value)} cannot be a file's name ({getattr(exc, 'strerror', None) or exc})") from None
    return path


def phases_in_order(competition: dict) -> list[tuple[str, dict]]:
    """(v1.5 key such as `phases.1`, the phase) sorted by phasenumber, as both unpackers order them."""
    phases = competition.get("phases")
    if not isinstance(phases, dict) or not phases:
        raise MigrationError("phases: a v1.5 bundle numbers its phases (`phases:` then `1:` with the first phase's keys); none is there")
    listed = []
    for name, phase in phases.items():
        key = f"phases.{name}"
        if not isinstance(phase, dict):
            raise MigrationError(f"{key} is not a mapping of the phase's keys")
        number = phase.get("phasenumber", name)
        if isinstance(number, str) and number.strip().isdigit():
            number = int(number)  # CodaLab's integer field took '1' (Codabench's own unpacker sorts it as text)
        if not isinstance(number, int) or isinstance(number, bool):
            raise MigrationError(f"{key}.phasenumber: {number!r} is not a whole number; number the phases 1, 2, ...")
        listed.append((number, key, phase))
    numbers = [number for number, _, _ in listed]
    if len(set(numbers)) != len(numbers):
        raise MigrationError(f"phases: two phases have the phasenumber {max(set(numbers), key=numbers.count)}; "
                             "number them 1, 2, ...")
    return [(key, phase) for _, key, phase in sorted(listed, key=lambda item: item[0])]


def columns_in_order(competition: dict) -> list[tuple[str, dict, str]]:
    """(column key, column, its leaderboard's key) in leaderboard then column rank, as the page showed them."""
    board = competition.get("leaderboard")
    if not isinstance(board, dict):
        raise MigrationError("leaderboard: missing; Codabench says 'Could not find leaderboard in the competition yaml'. "
                             "Declare `leaderboard: {leaderboards: ..., columns: ...}`")
    boards, columns = board.get("leaderboards"), board.get("columns")
    if not isinstance(boards, dict) or not boards:
        raise MigrationError("leaderboard.leaderboards: missing or empty; Codabench says 'Could not find leaderboards "
                             "declared on the competition leaderboard'")
    if not isinstance(columns, dict) or not columns:
        raise MigrationError("leaderboard.columns: missing or empty; Codabench says 'Could not find columns declared "
                             "on the competition leaderboard'")
    by_label = {}
    for order, (name, spec) in enumerate(boards.items()):
        if not isinstance(spec, dict) or "label" not in spec:
            raise MigrationError(f"leaderboard.leaderboards.{name}: needs a label (and a rank)")
        by_label[str(spec["label"]).lower()] = (_rank(spec, order), str(name))
    listed = []
    for order, (key, spec) in enumerate(columns.items()):
        where = f"leaderboard.columns.{key}"
        if not isinstance(spec, dict):
            raise MigrationError(f"{where} is not a mapping (label, leaderboard, rank, ...)")
        board_of = spec.get("leaderboard")
        label = board_of.get("label") if isinstance(board_of, dict) else None
        if label is None:
            raise MigrationError(f"{where}.leaderboard: missing; write `leaderboard: *RESULTS` (the alias of the "
                                 "leaderboard it belongs to)")
        if str(label).lower() not in by_label:
            raise MigrationError(f"{where}.leaderboard: no leaderboard is labelled {label!r}")
        rank, board_name = by_label[str(label).lower()]
        listed.append(((rank, _rank(spec, order)), str(key), spec, board_name))
    return [(key, spec, board) for _, key, spec, board in sorted(listed, key=lambda item: item[0])]


def _rank(spec: dict, order: int) -> tuple[int, int]:
    rank = spec.get("rank")
    return (rank if isinstance(rank, int) and not isinstance(rank, bool) else 1_000_000, order)


def file_values(competition: dict, root: Path | None = None) -> list[tuple[str, str, str]]:
    """(v1.5 key, file role, value) of every program, data and kit entry, in phase order; with `root`, each checked
    to lie inside the bundle."""
    found = []
    for key, phase in phases_in_order(competition):
        for role in FILE_KEYS:
            if phase.get(role) not in (None, ""):
                found.append((f"{key}.{role}", role, str(phase[role])))
                inside(root, phase[role], f"{key}.{role}") if root is not None else None
    return found


# -- the mapping -----------------------------------------------------------------------------------
@dataclass
class Migrated:
    competition: dict  # version 2, paths as `place` gave them
    report: Report
    pages: list[tuple[str, str]]  # (v1.5 file, title): the html entries, terms first


def to_v2(v15: dict, root: Path, place: Callable[[str, str], str], baked: dict | None = None,
          image: str | None = None, start: datetime | None = None) -> Migrated:
    """The version 2 competition a v1.5 one means, with a report line per v1.5 key. `place(role, value)` gives the
    path a file entry gets in the new bundle (the validator keeps the v1.5 value); `baked` is this bundle's
    competition.yaml (its contact_email, queue and docker_image); `image`, when given, replaces the v1.5 image;
    `start`, when given, moves every date so that the first phase starts then (intervals and times kept).
    MigrationError when the bundle cannot become a working one."""
    baked = baked or {}
    report = Report()
    out: dict = {"version": 2}
    file_values(v15, root)  # every entry inside the bundle
    _top_level(v15, out, report, baked, image, root)
    pages = _pages(v15, root, out, report)
    phases = phases_in_order(v15)
    _phases(phases, v15, out, report, place, start)
    _leaderboard(v15, phases, out, report)
    return Migrated(out, report, pages)


def _top_level(v15: dict, out: dict, report: Report, baked: dict, image: str | None, root: Path) -> None:
    if "version" in v15:
        report.mapped("version", f"{v15['version']!r} -> 2 (this template's format)")
    title = v15.get("title")
    if not isinstance(title, str) or not title.strip():
        raise MigrationError("title: missing or empty; CodaLab showed an untitled competition, Codabench refuses one "
                             "('title: This field may not be null.'): give the competition a title")
    out["title"] = title
    report.kept("title", _shown(title))
    description = v15.get("description")
    if description not in (None, ""):
        out["description"] = str(description)
        html = " with HTML: Codabench renders it as Markdown with raw HTML, so the tags still work" \
            if HTML_TAG.search(str(description)) else ""
        report.kept("description", f"{_shown(description)}{html}")
    if "image" in v15:
        out["image"] = str(v15["image"])
        inside(root, out["image"], "image")
        report.kept("image", f"{v15['image']} (the logo file, copied as it is)")
    else:
        out["image"] = "logo.png"
        report.mapped("image", "absent: CodaLab made it optional, Codabench requires a logo; this bundle's logo.png "
                               "is kept, replace it with yours")
    for key in ("contact_email", "queue"):
        if baked.get(key) and key not in v15:
            out[key] = baked[key]
            report.mapped(key, f"absent in v1.5: {baked[key]!r}, from this bundle's answers")
    if "queue" in v15:
        out["queue"] = v15["queue"]
        report.kept("queue", repr(v15["queue"]))
    _image(v15, out, report, baked, image)
    if "has_registration" in v15:
        out["registration_auto_approve"] = not bool(v15["has_registration"])
        report.mapped("has_registration", f"{v15['has_registration']!r} -> registration_auto_approve: "
                      f"{out['registration_auto_approve']}")
    else:
        out["registration_auto_approve"] = True
        report.mapped("has_registration", "absent: on CodaLab anyone could take part at once -> "
                      "registration_auto_approve: True (Codabench's own v1.5 unpacker would make everyone wait for "
                      "approval)")
    if "enable_detailed_results" not in v15:
        report.mapped("enable_detailed_results", "absent: off, CodaLab's default (participants see no detailed results "
                      "page; True shows the one the scoring program writes)")
    for key in SAME_NAME:
        if key in v15 and key not in ("contact_email",):
            out[key] = v15[key]
            report.kept(key, repr(v15[key]))
    for key, new in RENAMED.items():
        if key in v15:
            out[new] = bool(v15[key])
            report.mapped(key, f"{v15[key]!r} -> {new}: {out[new]}")
    if "start_date" in v15:
        report.dropped("start_date", "CodaLab replaced it with the first phase's start; the phases keep their dates")
    for key, instead in NO_EQUIVALENT.items():
        if key in v15:
            report.dropped(key, f"{_shown(v15[key])}: {instead}")
    handled = {"version", "title", "description", "image", "queue", "competition_docker_image", "has_registration",
               "start_date", "end_date", "force_submission_to_leaderboard", "html", "phases", "leaderboard",
               *SAME_NAME, *RENAMED, *NO_EQUIVALENT}
    for key in v15:
        if key not in handled:
            report.dropped(str(key), "not a key CodaLab or Codabench reads (CodaLab refused unknown keys): left out")


def _image(v15: dict, out: dict, report: Report, baked: dict, image: str | None) -> None:
    given = v15.get("competition_docker_image")
    if image:
        out["docker_image"] = image
        was = repr(given) if given else f"absent (CodaLab ran {CODALAB_IMAGE})"
        report.mapped("competition_docker_image", f"{was} -> docker_image: {image!r}, as asked (IMAGE=)")
    elif given:
        out["docker_image"] = str(given)
        report.kept("competition_docker_image", f"-> docker_image: {given!r}")
    else:
        out["docker_image"] = CODALAB_IMAGE
        current = baked.get("docker_image") or "codalab/codalab-legacy:py312"
        report.mapped("competition_docker_image", f"absent: CodaLab ran its default, {CODALAB_IMAGE!r}, and so does "
                      f"this bundle (Codabench's own v1.5 unpacker would pick {CODABENCH_V15_IMAGE!r}); "
                      f"`make migrate IMAGE=current` moves to {current!r}")
    if GPU_IMAGE.search(out["docker_image"]) and not out.get("queue"):
        report.fix("competition_docker_image", f"{out['docker_image']!r} needs a GPU, and Codabench's public queue has "
                   "none: run it on your own GPU workers (bake with a queue, or add `queue: <vhost>`; "
                   "docs/compute-workers.md)")


def _pages(v15: dict, root: Path, out: dict, report: Report) -> list[tuple[str, str]]:
    html = v15.get("html")
    if not isinstance(html, dict):
        raise MigrationError("html: missing; Codabench says 'HTML pages could not be found in the yaml file'. "
                             "List the pages: `html: {overview: overview.html, terms: terms.html, ...}`")
    if "terms" not in html:
        raise MigrationError("html.terms: missing; Codabench says 'A file containing the terms of the competition "
                             "could not be located for this competition'. Add `terms: terms.html`")
    pages = []
    for name, value in html.items():
        key = f"html.{name}"
        if not isinstance(value, str) or not inside(root, value, key).is_file():
            raise MigrationError(f"{key}: {value!r} is not a file of the bundle; Codabench says 'Could not find file "
                                 f"for page: {name}'")
        try:
            text = (root / value).read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MigrationError(f"{key}: {value} is not UTF-8 text (byte {exc.start}); CodaLab and Codabench read "
                                 "pages as UTF-8: save it as UTF-8") from None
        title = PAGE_TITLES.get(str(name), str(name).replace("_", " ").strip().capitalize())
        if not text.strip():
            if name == "terms":
                raise MigrationError(f"{key}: {value} is empty; Codabench refuses empty terms: write them")
            report.dropped(key, f"{value} is empty: Codabench refuses an empty page, so it is left out")
            continue
        form = "HTML kept as HTML (Codabench renders a page as Markdown with raw HTML)" if HTML_TAG.search(text) \
            else "text"
        if name == "terms":
            report.mapped(key, f"{value} -> terms, {form}")
        else:
            report.mapped(key, f"{value} -> page {title!r}, {form}")
        pages.append((value, title))
    order = list(PAGE_TITLES.values())  # CodaLab's tabs: overview, evaluation, data (Get Data), then the others
    pages.sort(key=lambda page: order.index(page[1]) if page[1] in order else len(order))
    return pages


def _phases(phases: list[tuple[str, dict]], v15: dict, out: dict, report: Report,
            place: Callable[[str, str], str], start: datetime | None) -> None:
    starts = []
    for key, phase in phases:
        for required in ("label", "start_date"):
            if phase.get(required) in (None, ""):
                raise MigrationError(f"{key}.{required}: missing; Codabench's v1.5 unpacker stops with the error log "
                                     f"{required!r}: add it")
        starts.append(parse_date(phase["start_date"], f"{key}.start_date"))
    end = None
    if v15.get("end_date") not in (None, "", "null"):
        end = parse_date(v15["end_date"], "end_date")
        if end <= starts[-1]:
            raise MigrationError(f"end_date: {utc(end)} is not after the last phase's start ({utc(starts[-1])}); "
                                 "Codabench refuses a phase that ends before it starts: move end_date")
    if start is not None:
        shift = start - starts[0]
        starts = [moment + shift for moment in starts]
        end = end + shift if end is not None else None
        report.mapped("phases", f"every date moved by {shift.days} days and {shift.seconds // 60} minutes (START=): "
                      f"the first phase starts {utc(start)}, the intervals between dates are kept")
    out["tasks"], out["phases"] = [], []
    for index, (key, phase) in enumerate(phases):
        name = str(phase["label"])
        task = {"index": index, "name": f"{name} task"}
        if phase.get("description"):
            task["description"] = str(phase["description"])
        new = {"index": index, "name": name}
        report.kept(f"{key}.label", f"-> phases[{index}].name {name!r}")
        if phase.get("description"):
            new["description"] = str(phase["description"])
            report.kept(f"{key}.description", _shown(phase["description"]))
        new["start"] = utc(starts[index])
        raw = phase["start_date"]
        timed = isinstance(raw, datetime) or (isinstance(raw, str) and len(raw.strip()) > 10)
        if start is not None:
            report.mapped(f"{key}.start_date", f"{raw} -> start '{new['start']}' (UTC, moved by START=)")
        else:
            report.mapped(f"{key}.start_date", f"{raw} -> start '{new['start']}' (UTC" + (
                ", time of day kept: Codabench's own v1.5 unpacker keeps only the day)" if timed else ")"))
        if index + 1 < len(phases):
            following = starts[index + 1]
            if following - PHASE_GAP <= starts[index]:
                raise MigrationError(f"{phases[index + 1][0]}.start_date: the phase starts less than "
                                     f"{PHASE_GAP.seconds // 60} minute after {key} ({utc(starts[index])}); phases "
                                     "follow one another: move one of the starts")
            new["end"] = utc(following - PHASE_GAP)
            report.mapped(f"{phases[index + 1][0]}.start_date", f"-> phases[{index}].end '{new['end']}': a v1.5 phase "
                          "runs until the next starts (Codabench's own v1.5 unpacker would end it a day earlier, "
                          f"{following - timedelta(days=1):%Y-%m-%d %H:%M})")
        elif end is not None:
            new["end"] = utc(end)
            report.mapped("end_date", f"{v15['end_date']} -> phases[{index}].end '{new['end']}' (UTC)")
        elif "end_date" in v15:
            report.mapped("end_date", f"null -> the last phase, {name!r}, never ends")
        new["tasks"] = [index]
        _phase_limits(key, phase, index, new, report)
        _phase_files(key, phase, index, task, new, report, place)
        _phase_rest(key, phase, index, new, task, out, report, last=index + 1 == len(phases))
        out["tasks"].append(task)
        out["phases"].append(new)


def _phase_limits(key: str, phase: dict, index: int, new: dict, report: Report) -> None:
    original = phase
    if "max_submissions_per_person" in phase:  # Codabench's name, found in bundles written from its docs
        if "max_submissions" in phase:
            report.dropped(f"{key}.max_submissions_per_person", f"{_shown(phase['max_submissions_per_person'])}: "
                           "max_submissions says it already")
        else:
            phase = {**phase, "max_submissions": phase["max_submissions_per_person"]}
            report.mapped(f"{key}.max_submissions_per_person", f"{_shown(phase['max_submissions'])} -> max_submissions "
                          "(the key Codabench reads)")
    for v15_key, v2_key in (("max_submissions", "max_submissions"), ("max_submissions_per_day", "max_submissions_per_day"),
                            ("execution_time_limit", "execution_time_limit")):
        value = phase.get(v15_key)
        if value is None:
            new[v2_key] = CODALAB_DEFAULTS[v15_key]
            report.mapped(f"{key}.{v15_key}", f"absent: CodaLab's default, {new[v2_key]}")
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise MigrationError(f"{key}.{v15_key}: {value!r} is not a whole number of "
                                 f"{'seconds' if 'time' in v15_key else 'submissions'}")
        new[v2_key] = value
        if v15_key == "max_submissions" and "max_submissions_per_person" in phase and "max_submissions" not in original:
            continue  # said with max_submissions_per_person
        if v15_key == "max_submissions_per_day" and value == 0:
            report.fix(f"{key}.{v15_key}", "0: CodaLab took no submission in this phase, Codabench reads 0 as no daily "
                       "limit; set the phase's dates so it takes none, or a limit")
        else:
            report.kept(f"{key}.{v15_key}", str(value))
    if phase.get("auto_migration"):
        if index == 0:
            report.dropped(f"{key}.auto_migration", "on the first phase: CodaLab ignored it, Codabench refuses it")
        else:
            new["auto_migrate_to_this_phase"] = True
            report.mapped(f"{key}.auto_migration", "True -> auto_migrate_to_this_phase: True")
    elif "auto_migration" in phase:
        report.kept(f"{key}.auto_migration", repr(phase["auto_migration"]))


def _phase_files(key: str, phase: dict, index: int, task: dict, new: dict, report: Report,
                 place: Callable[[str, str], str]) -> None:
    for role in FILE_KEYS:
        value = phase.get(role)
        if value in (None, ""):
            continue
        placed = place(role, str(value))
        (task if role in TASK_KEYS else new)[role] = placed
        where = f"tasks[{index}].{role}" if role in TASK_KEYS else f"phases[{index}].{role}"
        report.mapped(f"{key}.{role}", f"{value} -> {where}: {placed}")
    if "scoring_program" not in task:
        report.fix(f"{key}.scoring_program", "missing: every submission would fail ('Program is missing.'); add the "
                   "scoring program")
    if "reference_data" not in task:
        report.fix(f"{key}.reference_data", "missing: CodaLab refused such a bundle ('No reference data was supplied "
                   "with the competition bundle!'); add it if the scoring program reads $input/ref")
    if phase.get("ingestion_program_only_during_scoring"):
        task["ingestion_only_during_scoring"] = True
        report.mapped(f"{key}.ingestion_program_only_during_scoring", "-> tasks[].ingestion_only_during_scoring: True")


def _phase_rest(key: str, phase: dict, index: int, new: dict, task: dict, out: dict, report: Report,
                last: bool) -> None:
    scoring_only = phase.get("is_scoring_only", True)
    if "ingestion_program" in task and scoring_only:
        report.fix(f"{key}.is_scoring_only", f"{scoring_only!r}{' (CodaLab default)' if 'is_scoring_only' not in phase else ''}"
                   " with an ingestion program: CodaLab never ran it, Codabench runs it for every submission")
    else:
        report.dropped(f"{key}.is_scoring_only", f"{scoring_only!r}{' (absent: CodaLab default)' if 'is_scoring_only' not in phase else ''}: "
                       "Codabench decides per submission: one with a metadata command runs, others are scored as results")
    for name in PHASE_SAME_NAME:
        if name in phase:
            new[name] = bool(phase[name])
            report.kept(f"{key}.{name}", repr(phase[name]))
    if phase.get("leaderboard_management_mode") == "default":
        report.kept(f"{key}.leaderboard_management_mode", "'default': the leaderboard is shown, as on Codabench")
    for name, instead in PHASE_NO_EQUIVALENT.items():
        if name in phase and not (name == "leaderboard_management_mode" and phase[name] == "default"):
            report.dropped(f"{key}.{name}", f"{_shown(phase[name])}: {instead}")
    for name in PHASE_IMAGES:
        if phase.get(name) and phase[name] != out.get("docker_image"):
            report.dropped(f"{key}.{name}", f"{phase[name]!r}: Codabench runs every program of every phase in "
                           f"docker_image ({out.get('docker_image')!r}); put what it needs there")
    if phase.get("phase_never_ends"):
        if not last:
            report.dropped(f"{key}.phase_never_ends", "a phase followed by another ends when the next starts")
        else:
            new.pop("end", None)
            report.mapped(f"{key}.phase_never_ends", "True -> the phase has no end")
    handled = {"phasenumber", "label", "description", "start_date", "max_submissions", "max_submissions_per_day",
               "max_submissions_per_person",
               "execution_time_limit", "auto_migration", "is_scoring_only", "ingestion_program_only_during_scoring",
               "force_best_submission_to_leaderboard", "phase_never_ends", *FILE_KEYS, *PHASE_SAME_NAME,
               *PHASE_NO_EQUIVALENT, *PHASE_IMAGES}
    for name in phase:
        if name not in handled:
            report.dropped(f"{key}.{name}", "not a phase key CodaLab reads (it refused unknown ones): left out")


def _leaderboard(v15: dict, phases: list[tuple[str, dict]], out: dict, report: Report) -> None:
    listed = columns_in_order(v15)
    boards = v15["leaderboard"]["leaderboards"]
    first = next(iter(boards))
    board = {"index": 0, "title": str(boards[first].get("label", first))[:64], "key": str(first)[:36]}
    report.mapped(f"leaderboard.leaderboards.{first}", f"-> leaderboards[0] (title {board['title']!r}, key "
                  f"{board['key']!r})")
    for other in list(boards)[1:]:
        report.mapped(f"leaderboard.leaderboards.{other}", "its columns join leaderboards[0]: a Codabench phase shows "
                      "one leaderboard (Codabench's own v1.5 unpacker would leave them off every phase)")
    board["submission_rule"] = _submission_rule(v15, phases, report)
    columns, index_of = [], {}
    for index, (key, spec, _) in enumerate(listed):
        index_of[key] = index
        where = f"leaderboard.columns.{key}"
        if len(key) > MAX_KEY:
            raise MigrationError(f"{where}: the key is {len(key)} characters, Codabench takes {MAX_KEY}; the scoring "
                                 "program writes it to scores.txt: shorten it in both")
        title = str(spec.get("label", key))
        column = {"index": index, "key": key, "title": title[:MAX_KEY]}
        said = [f"-> columns[{index}] key {key!r}"]
        said.append(f"title {column['title']!r}" + (f" (label shortened from {len(title)} to {MAX_KEY} characters)"
                                                     if len(title) > MAX_KEY else ""))
        sort = spec.get("sort")
        if sort is not None and str(sort).lower() not in ("asc", "desc"):
            raise MigrationError(f"{where}.sort: {sort!r}; write asc (lower is better) or desc (higher is better)")
        column["sorting"] = str(sort).lower() if sort else "desc"
        said.append(f"sorting {column['sorting']}" + ("" if sort else " (absent: CodaLab's default)"))
        precision = spec.get("numeric_format", 2)
        try:
            column["precision"] = max(1, min(10, int(precision)))
        except (TypeError, ValueError):
            raise MigrationError(f"{where}.numeric_format: {precision!r} is not a number of decimals") from None
        said.append(f"precision {column['precision']}" + ("" if "numeric_format" in spec else " (absent: 2)"))
        if spec.get("hidden"):
            column["hidden"] = True
            said.append("hidden")
        report.mapped(where, ", ".join(said))
        if "label" not in spec:
            report.mapped(f"{where}.label", f"absent: the title is the key, {key!r}")
        columns.append((column, spec, where))
    for column, spec, where in columns:
        if "column_group" in spec:
            report.dropped(f"{where}.column_group", "Codabench shows one row of column titles")
        if "computed" in spec:
            _computed(column, spec["computed"], index_of, where, report)
    board["columns"] = [column for column, _, _ in columns]
    chosen = [column["index"] for column, spec, _ in columns if spec.get("selection_default")]
    shown = [column for column, _, _ in columns if not column.get("hidden")]
    board["primary_index"] = chosen[0] if chosen else (shown or board["columns"])[0]["index"]
    primary = next(c for c in board["columns"] if c["index"] == board["primary_index"])
    how = "selection_default" if chosen else "the first column by rank" + (", hidden ones aside" if shown != [
        c for c, _, _ in columns] else "")
    report.mapped("leaderboard.columns", f"ranked by {primary['key']!r} ({how}) -> primary_index: {board['primary_index']}")
    out["leaderboards"] = [board]


def _computed(column: dict, computed: object, index_of: dict, where: str, report: Report) -> None:
    if not isinstance(computed, dict):
        raise MigrationError(f"{where}.computed: write it as a mapping: `operation: Avg` and `fields: a, b`")
    operation = str(computed.get("operation", "")).lower()
    fields = [name.strip() for name in str(computed.get("fields", "")).split(",") if name.strip()]
    unknown = [name for name in fields if name not in index_of]
    if unknown:
        raise MigrationError(f"{where}.computed.fields: {unknown[0]!r} is not a column of the leaderboard")
    if operation not in ("avg", "max"):
        report.dropped(f"{where}.computed", f"{computed.get('operation')!r}: Codabench computes avg, sum, min or max of "
                       "the columns' values only: a plain column now, the scoring program must write it")
        return
    column["computation"] = operation
    column["computation_indexes"] = [index_of[name] for name in fields]
    if operation == "avg":
        report.mapped(f"{where}.computed", f"Avg of {', '.join(fields)} -> computation: avg. CodaLab averaged the "
                      "columns' ranks, Codabench averages their values: check it still orders as you mean")
    else:
        report.mapped(f"{where}.computed", f"Max of {', '.join(fields)} -> computation: max (CodaLab showed no value)")
    weights = computed.get("weights")
    if weights not in (None, "") and len({str(w).strip() for w in str(weights).split(",")}) > 1:
        report.dropped(f"{where}.computed.weights", f"{weights!r}: Codabench weighs every column equally")


def _submission_rule(v15: dict, phases: list[tuple[str, dict]], report: Report) -> str:
    best = [key for key, phase in phases if phase.get("force_best_submission_to_leaderboard")]
    if best:
        rule = "Force_Best"
        report.mapped(f"{best[0]}.force_best_submission_to_leaderboard", "-> submission_rule: Force_Best (one "
                      "leaderboard rule for all phases on Codabench)")
    elif v15.get("force_submission_to_leaderboard"):
        rule = "Force_Last"
        report.mapped("force_submission_to_leaderboard", "True -> submission_rule: Force_Last (Codabench's own v1.5 "
                      "unpacker would make participants post each result by hand)")
    else:
        rule = "Add_And_Delete"
        report.mapped("force_submission_to_leaderboard", f"{v15.get('force_submission_to_leaderboard', 'absent')}: "
                      "participants chose what to show -> submission_rule: Add_And_Delete")
    return rule


# -- the validator on a v1.5 bundle -----------------------------------------------------------------------
def check(v15: dict, root: Path, findings: Findings) -> dict | None:
    """What Codabench's v1.5 unpacker would refuse (with its words), and what it would silently change, before an
    upload; the version 2 competition it means (file values as they are) for the program and file rules, or None."""
    version = v15.get("version")
    if version is not None and str(version) not in V15_VERSIONS:
        return None
    for key, value, problem in file_problems(v15, root):
        findings.add("CB140", key, problem, f"put the zip {value!r} in the bundle, or fix the name", file="competition.yaml")
    try:
        migrated = to_v2(v15, root, lambda role, value: value)
    except MigrationError as exc:
        key, _, message = str(exc).partition(": ")
        findings.add("CB141", key, message, "fix it in competition.yaml, or migrate with `make migrate`, which says "
                     "more")
        return None
    for key, text in migrated.report.of("to fix"):
        code = "CB150" if key.endswith(".scoring_program") else "CB142"
        findings.add(code, key, text, "fix it before the upload (`make migrate` keeps the rest as it was)")
    _silent_changes(v15, migrated.competition, findings)
    image = migrated.competition["docker_image"]
    if GPU_IMAGE.search(image) and not migrated.competition.get("queue"):
        findings.add("CB059", "competition_docker_image", f"{image!r} is a GPU image, and the bundle names no queue: "
                     "Codabench's public queue has no GPU", "run it on your own GPU workers: add `queue: <vhost>` "
                     "(docs/compute-workers.md)")
    return migrated.competition


def file_problems(v15: dict, root: Path) -> list[tuple[str, str, str]]:
    """(v1.5 key, value, what Codabench would say) for each program, data or kit entry the bundle lacks."""
    try:
        entries = file_values(v15)
    except MigrationError:
        return []  # said once, by to_v2
    problems = []
    for key, role, value in entries:
        try:
            if inside(root, value, key).exists():
                continue
        except MigrationError:
            continue  # said once, by to_v2
        if UUID.match(value):
            problems.append((key, value, f"{value!r} is the key of a dataset on the CodaLab server: Codabench says "
                             f"'Cannot find {role} with key: \"{value}\"' (its datasets are not CodaLab's)"))
        else:
            problems.append((key, value, f"{value!r} is not in the bundle: Codabench says 'Cannot find dataset: "
                             f"\"{value}\"'"))
    return problems


def _silent_changes(v15: dict, v2: dict, findings: Findings) -> None:
    """What Codabench's own v1.5 unpacker would do differently from CodaLab, without a word."""
    for key, phase in phases_in_order(v15):
        if isinstance(phase["start_date"], datetime) and phase["start_date"].time() != datetime.min.time():
            findings.add("CB143", f"{key}.start_date", f"{phase['start_date']}: Codabench's v1.5 unpacker keeps only the "
                         "day (00:00 UTC)", "migrate (`make migrate` keeps the time), or quote it: "
                         f"'{parse_date(phase['start_date'], key):%Y-%m-%d %H:%M:%S}'")
    if len(v2["phases"]) > 1:
        findings.add("CB144", "phases", "Codabench's v1.5 unpacker ends each phase a day before the next starts: no "
                     "phase takes submissions for that day", "migrate (`make migrate` ends a phase a minute before "
                     "the next), or accept the gap")
    if "has_registration" not in v15:
        findings.add("CB145", "has_registration", "absent: CodaLab let anyone take part, Codabench's v1.5 unpacker makes "
                     "every participant wait for your approval", "write `has_registration: false` to keep CodaLab's way")
    if v15.get("force_submission_to_leaderboard") or any(p.get("force_best_submission_to_leaderboard")
                                                         for _, p in phases_in_order(v15)):
        findings.add("CB146", "force_submission_to_leaderboard", "Codabench's v1.5 unpacker ignores it: participants "
                     "would post each result to the leaderboard by hand", "migrate (`make migrate` sets the "
                     "leaderboard's submission_rule), or tell participants")
    for column in v2["leaderboards"][0]["columns"]:
        if column.get("computation") or "computed" in v15["leaderboard"]["columns"].get(column["key"], {}):
            findings.add("CB147", f"leaderboard.columns.{column['key']}.computed", "Codabench's v1.5 unpacker ignores "
                         "`computed`: the column stays empty", "migrate (`make migrate` maps Avg to computation: avg)")
    if len(v15["leaderboard"]["leaderboards"]) > 1:
        findings.add("CB148", "leaderboard.leaderboards", "Codabench's v1.5 unpacker gives every phase the first "
                     "leaderboard only: the others' columns are never shown", "migrate (one leaderboard with every "
                     "column), or move the columns to the first")
    if "competition_docker_image" not in v15:
        findings.add("CB149", "competition_docker_image", f"absent: CodaLab ran {CODALAB_IMAGE}, Codabench runs "
                     f"{CODABENCH_V15_IMAGE} (Python 3.7)", "name the image the programs need")
