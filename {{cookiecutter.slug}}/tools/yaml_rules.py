"""Rules of competition.yaml that span several fields, with the messages Codabench gives.

Each function reads the loaded yaml and adds findings; none of them assumes the structure
is right (tools/competition.schema.json reports that), so a wrong type never crashes them.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from datetime import date, datetime, timezone

from bundle import mappings
from findings import Findings
from images import PUBLISH_FIX, PUBLISHED, registry_of

MAX_KEY_LENGTH = 36
DEFAULT_QUEUE_LIMIT = 600  # seconds; Codabench's default queue caps execution_time_limit here
CONSUMER_TIMEOUT = 100_000  # seconds: RabbitMQ's consumer_timeout in Codabench's .env_sample (100000000 ms)
GPU_IMAGE = re.compile(r"gpu|cuda", re.IGNORECASE)  # an image that brings CUDA (codalab/codalab-legacy:gpu310, nvidia/cuda)
IGNORED_V15_KEYS = ("has_registration", "end_date", "html", "competition_docker_image", "admin_names",
                    "allow_robot_submissions", "force_submission_to_leaderboard", "whitelist_emails", "published")
IGNORED_PHASE_KEYS = {  # key: (code, why, fix)
    "accepts_only_result_submissions": ("CB055", "documented, but Codabench never reads it: every phase takes any submission", "remove it"),
    "solutions": ("CB055", "the version 2 unpacker ignores solutions listed on a phase", "remove it"),
    "max_submissions_per_person": ("CB045", "Codabench ignores this key: the limit stays at the default 100", "rename it `max_submissions`"),
}
SUBMISSION_RULES = ("Add", "Add_And_Delete", "Add_And_Delete_Multiple", "Force_Last", "Force_Latest_Multiple", "Force_Best")
COMPUTATIONS = ("avg", "sum", "min", "max")
FACT_SHEET_KEYS = {"key", "type", "title", "selection", "is_required", "is_on_leaderboard"}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$")
NUMERIC_DAY_FIRST = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{2,4})$")
WITH_OFFSET = re.compile(r"^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})$")


def key(value: object) -> object:
    """A value usable in a set: a list or mapping where an index belongs is compared by its text."""
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


# -- top level ----------------------------------------------------------------------------
REQUIRED = {
    "title": "title: This field may not be null.",
    "image": "An image for this competition could not be found in the yaml",
    "terms": "A file containing the terms of this competition has not been supplied in the required location",
    "pages": "Unpacking the bundle failed. Here is the error log: 'NoneType' object is not iterable",
    "tasks": "No tasks listed in this competition",
    "phases": "Unable to find any phases for this competition",
    "leaderboards": "Could not find leaderboards in the competition yaml",
}


def _on_this_machine(host: str) -> bool:
    """A registry host that is this machine to whoever resolves it: a worker would look on itself."""
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    if name.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def check_image_name(image: str, findings: Findings) -> None:
    """What the name alone says: a registry on this machine (no worker reaches it), or a codalab image misspelt."""
    registry = registry_of(image)
    if registry and _on_this_machine(registry):
        findings.add("CB024", "docker_image", f"docker_image {image!r} is in a registry on this machine ({registry}): "
                     "Codabench's worker pulls the image before every step and would look for that registry on itself, "
                     "so every submission would fail with \"Pull for ... failed!\"", PUBLISH_FIX)
    elif image not in PUBLISHED:
        close = difflib.get_close_matches(image, PUBLISHED, n=1, cutoff=0.85)
        if close:
            findings.add("CB025", "docker_image", f"docker_image {image!r} is not an image Codabench's workers can pull, but "
                         f"close to {close[0]!r}", f"write `docker_image: {close[0]}` if that is what you meant")


def check_top_level(c: dict, findings: Findings) -> None:
    version = c.get("version")
    if isinstance(version, bool) or str(version) != "2":
        said = ("'HTML pages could not be found in the yaml file' (read as v1.5)" if version is None else
                "'A suitable version could not be found for this competition. Make sure one is supplied in the yaml.'")
        findings.add("CB001", "version", f"version is {version!r}; Codabench says {said}", "write `version: 2`")
    for name, codabench_says in REQUIRED.items():
        if name not in c and not (name == "leaderboards" and "leaderboard" in c):
            findings.add("CB002", name, f"required key {name!r} is missing; Codabench says '{codabench_says}'", f"add `{name}:`")
    if "leaderboard" in c:
        findings.add("CB003", "leaderboard", "`leaderboard:` is the v1.5 name; version 2 reads `leaderboards:`, so Codabench "
                     "says 'Could not find leaderboards in the competition yaml'", "rename it `leaderboards:` (a list)")
    for name in IGNORED_V15_KEYS:
        if name in c:
            findings.add("CB007", name, f"{name!r} is a v1.5 key that a version 2 bundle ignores", "remove it; set this in the Codabench editor")
    image = c.get("docker_image")
    if not image:
        findings.add("CB004", "docker_image", "no docker_image: Codabench runs the old codalab/codalab-legacy:py37 (Python 3.7, scikit-learn 0.21)",
                     "set `docker_image: codalab/codalab-legacy:py312` (or your own pinned image)")
    elif ":" not in str(image).rsplit("/", 1)[-1] or str(image).endswith(":latest"):
        findings.add("CB005", "docker_image", f"docker_image {image!r} is not pinned to a tag: results can change when the image does",
                     "use an explicit tag such as codalab/codalab-legacy:py312")
    if image:
        check_image_name(str(image), findings)
    if c.get("enable_detailed_results") is not True:
        findings.add("CB006", "enable_detailed_results", "detailed results are off: participants will not see detailed_results.html",
                     "set `enable_detailed_results: True`")
    queue = c.get("queue")
    if queue is not None and not (isinstance(queue, str) and UUID.match(queue)):
        findings.add("CB008", "queue", f"queue {queue!r} is not a vhost UUID; Codabench says 'The specified Queue does not exist!'",
                     "copy the queue's vhost (a UUID) from Codabench's queue management page, quoted, or remove `queue:` "
                     "for the default queue")
    if image and GPU_IMAGE.search(str(image)) and not queue:
        findings.add("CB059", "docker_image", f"docker_image {image!r} is a GPU image, and the public queue has no GPU",
                     "set `queue:` to the vhost of a queue with your own GPU workers (make worker GPU=1), or use a CPU image")


def check_time_limit(limit: int, own_queue: bool, where: str, findings: Findings) -> None:
    """The public queue caps a step at 600 s (tasks.py:126); a private queue gives the phase's own limit
    (tasks.py:206), bounded by the 5-day signed URLs (utils/data.py:45) and RabbitMQ's consumer_timeout."""
    if not own_queue and limit > DEFAULT_QUEUE_LIMIT:
        findings.add("CB054", where, f"{limit} s: the default public queue stops every step after {DEFAULT_QUEUE_LIMIT} s",
                     f"keep it at {DEFAULT_QUEUE_LIMIT} or less, or run the competition on your own queue (`queue:`)")
    elif own_queue and limit > CONSUMER_TIMEOUT:
        findings.add("CB058", where, f"{limit} s: a step this long outlives RabbitMQ's consumer_timeout on Codabench's "
                     f"broker ({CONSUMER_TIMEOUT} s in its .env_sample), which hands the submission to another worker "
                     "while it runs, and the 5-day signed URLs of its files", f"keep it under {CONSUMER_TIMEOUT} s")


# -- dates and phases ---------------------------------------------------------------------
def parse_date(value: object, where: str, findings: Findings) -> datetime | None:
    """Read a phase date as Codabench stores it, reporting forms that do not say what they seem to."""
    if isinstance(value, date):  # YAML parsed it: Codabench keeps the day and drops any time of day
        if isinstance(value, datetime) and (value.hour, value.minute, value.second) != (0, 0, 0):
            findings.add("CB040", where, f"{value} is an unquoted date/time: Codabench keeps only the day and stores "
                         f"{value:%Y-%m-%d} 00:00 UTC", f"quote it in UTC: '{value:%Y-%m-%d %H:%M:%S}'")
        return datetime(value.year, value.month, value.day)
    text = str(value).strip()
    if match := ISO_DATE.match(text):
        try:
            return datetime(*(int(g or 0) for g in match.groups()))
        except ValueError:
            pass
    elif match := WITH_OFFSET.match(text):
        findings.add("CB052", where, f"{text!r}: Codabench replaces the offset with UTC instead of converting "
                     f"(it stores {match.group(1)} UTC)", "write the time in UTC without an offset: 'YYYY-MM-DD HH:MM:SS'")
        return datetime.fromisoformat(match.group(1).replace(" ", "T"))
    elif match := NUMERIC_DAY_FIRST.match(text):
        first, second, year = (int(g) for g in match.groups())
        year += 2000 if year < 100 else 0
        month, day = (first, second) if first <= 12 else (second, first)  # dateutil: month first when it can be
        try:
            read = datetime(year, month, day)
        except ValueError:
            read = None
        if read and first <= 12 and second <= 12 and first != second:
            findings.add("CB041", where, f"{text!r} is ambiguous: Codabench reads it month first, as {read:%Y-%m-%d} "
                         f"(not {year:04d}-{second:02d}-{first:02d})", "write it as 'YYYY-MM-DD HH:MM:SS' in UTC, quoted")
            return None
        if read:
            findings.add("CB056", where, f"{text!r}: Codabench reads it as {read:%Y-%m-%d} 00:00 UTC", "write it as "
                         f"'{read:%Y-%m-%d} 00:00:00' (UTC, quoted) so nobody has to guess the order")
            return read
    findings.add("CB041", where, f"{text!r} is not a 'YYYY-MM-DD HH:MM:SS' date; Codabench guesses forms like this one",
                 "write it as 'YYYY-MM-DD HH:MM:SS' in UTC, quoted")
    return None


def phases_in_order(c: dict) -> list[tuple[int, dict]]:
    """The (position, phase) pairs in Codabench's order: by index (0 when absent), stably; the last is the final phase."""
    return sorted(mappings(c.get("phases")), key=lambda item: item[1].get("index", 0) if isinstance(item[1].get("index", 0), int) else 0)


def check_phases(c: dict, findings: Findings) -> None:
    task_indexes = {key(t.get("index")) for _, t in mappings(c.get("tasks"))}
    ordered = phases_in_order(c)
    seen_indexes: set = set()
    previous: tuple[str, datetime | None] | None = None
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # phase dates are UTC, read without a zone
    for position, (i, phase) in enumerate(ordered):
        where, name = f"phases[{i}]", phase.get("name")
        if "index" in phase:
            if key(phase["index"]) in seen_indexes:
                findings.add("CB053", f"{where}.index", f"two phases have index {phase['index']}: they run in the order they are written",
                             "give each phase its own index")
            seen_indexes.add(key(phase["index"]))
        if not name:
            findings.add("CB042", f"{where}.name", "the phase has no name; Codabench says 'name: This field may not be null.'", "add `name:`")
        tasks = phase.get("tasks")
        if not tasks:
            findings.add("CB043", f"{where}.tasks", "Phases must contain at least one task to be valid", "add `tasks: [0]`")
        for t in tasks if isinstance(tasks, list) else []:
            if key(t) not in task_indexes:
                findings.add("CB044", f"{where}.tasks", f"task index {t} is not defined in `tasks:`; Codabench says "
                             f"'Unpacking the bundle failed. Here is the error log: {t}'", "use an index from `tasks:`")
        for ignored, (code, why, fix) in IGNORED_PHASE_KEYS.items():
            if ignored in phase:
                findings.add(code, f"{where}.{ignored}", why, fix)
        limit = phase.get("execution_time_limit")
        if isinstance(limit, int) and not isinstance(limit, bool):
            check_time_limit(limit, bool(c.get("queue")), f"{where}.execution_time_limit", findings)
        if position == 0 and phase.get("auto_migrate_to_this_phase"):
            findings.add("CB046", f"{where}.auto_migrate_to_this_phase",
                         "phases: You cannot auto migrate to the first phase of a competition", "remove it from the first phase")
        if phase.get("start") is None:
            findings.add("CB047", f"{where}.start", "the phase has no start; Codabench fails with \"'<' not supported between "
                         "instances of 'NoneType' and 'datetime.datetime'\"", "add `start: 'YYYY-MM-DD HH:MM:SS'` (UTC, quoted)")
            start = None
        else:
            start = parse_date(phase["start"], f"{where}.start", findings)
        end = parse_date(phase["end"], f"{where}.end", findings) if phase.get("end") else None
        if position < len(ordered) - 1 and not phase.get("end"):
            findings.add("CB048", f"{where}.end", f"Phase: {name} must have an end time because it has a phase after it.",
                         "add `end:` before the next phase's start")
        if start and end and end <= start:
            findings.add("CB049", f"{where}.end", f"phase {name!r} ends ({end}) before it starts ({start})", "move `end` after `start`")
        if end and end < now:
            findings.add("CB057", f"{where}.end", f"phase {name!r} ended on {end:%Y-%m-%d %H:%M} UTC, before now "
                         f"({now:%Y-%m-%d %H:%M} UTC): nobody can submit to it",
                         "move the phases' dates forward in competition.yaml")
        if previous and start and previous[1]:
            previous_name, previous_end = previous
            if start == previous_end:
                findings.add("CB050", f"{where}.start", f"Phases dates conflict. Phase: {name} should start after Phase: {previous_name} has ended",
                             "start the phase at least one second after the previous end")
            elif start < previous_end:
                findings.add("CB051", f"{where}.start", f"Phases must be sequential. Phase: {name} starts before Phase: {previous_name} has ended",
                             "make the phases follow each other without overlap")
        previous = (name, end)


# -- tasks and solutions ------------------------------------------------------------------
def check_tasks(c: dict, findings: Findings) -> None:
    seen = set()
    for i, task in mappings(c.get("tasks")):
        where = f"tasks[{i}]"
        if "index" not in task:
            findings.add("CB020", f"{where}.index", f"ERROR: No index for task: {task.get('name')}", "add `index:`")
        elif key(task["index"]) in seen:
            findings.add("CB021", f"{where}.index", f"ERROR: Duplicate task indexes. Index: {task['index']}", "give each task its own index")
        seen.add(key(task.get("index")))
        if "docker_image" in task:
            findings.add("CB022", f"{where}.docker_image", "Codabench ignores docker_image on a task: one image runs every program",
                         "move it to the top-level `docker_image`")
        if not task.get("scoring_program") and not task.get("key"):
            findings.add("CB023", f"{where}.scoring_program", f"ERROR: Task \"{task.get('name', task.get('index'))}\" does not have a scoring program",
                         "add `scoring_program: scoring_program`")


def check_solutions(c: dict, findings: Findings) -> None:
    task_indexes = {key(t.get("index")) for _, t in mappings(c.get("tasks"))}
    for i, solution in mappings(c.get("solutions")):
        where, name = f"solutions[{i}]", solution.get("name", solution.get("key"))
        if "index" not in solution:
            findings.add("CB026", f"{where}.index", f"ERROR: No index for solution: {name}", "add `index:`")
        tasks = solution.get("tasks")
        if not tasks:
            findings.add("CB027", f"{where}.tasks", f"Could not find tasks for solution: {name}", "add `tasks: [0]`")
        for t in tasks if isinstance(tasks, list) else []:
            if key(t) not in task_indexes:
                findings.add("CB029", f"{where}.tasks", f"task index {t} is not defined; Codabench fails with "
                             "'Unpacking the bundle failed. Here is the error log: 'key''", "use an index from `tasks:`")
        if not solution.get("path") and not solution.get("key"):
            findings.add("CB028", f"{where}.path", f"Solution {name} missing \"path\"", "add `path:` (a folder or zip)")


# -- leaderboard ----------------------------------------------------------------------------
def check_leaderboards(c: dict, findings: Findings) -> None:
    boards = c.get("leaderboards")
    if "leaderboards" not in c:
        return  # CB002 / CB003 already say so
    if not isinstance(boards, list) or not boards or not isinstance(boards[0], dict):
        said = "'Unpacking the bundle failed. Here is the error log: list index out of range'" if boards == [] else "an error"
        findings.add("CB060", "leaderboards", f"leaderboards must be a non-empty list of mappings; Codabench says {said}",
                     "list one leaderboard with its columns")
        return
    if len(boards) > 1:
        findings.add("CB061", "leaderboards", f"{len(boards)} leaderboards: only the first is attached to the phases",
                     "merge the columns into the first leaderboard")
    board = boards[0]
    for field in ("title", "key"):
        if not board.get(field):
            findings.add("CB062", f"leaderboards[0].{field}", f"{field}: This field may not be null.", f"add `{field}:`")
    rule = board.get("submission_rule", "Add")
    if rule not in SUBMISSION_RULES:
        findings.add("CB063", "leaderboards[0].submission_rule", f"submission_rule: \"{rule}\" is not a valid choice.",
                     f"use one of {', '.join(SUBMISSION_RULES)}")
    elif rule == "Add":
        findings.add("CB076", "leaderboards[0].submission_rule", "with `Add` (the default) a finished submission reaches the "
                     "leaderboard only when its participant clicks to add it", "set `submission_rule: Force_Last` (latest counts) or `Force_Best`")
    columns = mappings(board.get("columns"))
    if not columns:
        findings.add("CB064", "leaderboards[0].columns", "Leaderboards require at least 1 column", "add columns")
    keys, indexes = set(), set()
    for j, column in columns:
        where = f"leaderboards[0].columns[{j}]"
        for field in ("key", "title"):
            value = column.get(field)
            if value in (None, ""):
                findings.add("CB065", f"{where}.{field}", f"columns: {field}: This field may not be null.", f"add `{field}:`")
            elif len(str(value)) > MAX_KEY_LENGTH:
                findings.add("CB066", f"{where}.{field}", f"columns: {field}: Ensure this field has no more than 36 characters.",
                             f"shorten {value!r} ({len(str(value))} characters) to 36")
        if key(column.get("key")) in keys:
            findings.add("CB067", f"{where}.key", "Columns must have unique keys!", f"rename the second {column.get('key')!r}")
        if key(column.get("index")) in indexes:
            findings.add("CB068", f"{where}.index", "Columns must have unique indexes!", "renumber the columns")
        keys.add(key(column.get("key")))
        indexes.add(key(column.get("index")))
        if column.get("sorting", "desc") not in ("asc", "desc"):
            findings.add("CB069", f"{where}.sorting", f"sorting: \"{column.get('sorting')}\" is not a valid choice.",
                         "use desc (higher is better) or asc (lower is better)")
    for j, column in columns:
        check_computation(column, f"leaderboards[0].columns[{j}]", indexes, findings)
    primary = board.get("primary_index", 0)
    if columns and key(primary) not in indexes:
        findings.add("CB070", "leaderboards[0].primary_index", f"no column has index {primary!r}: the leaderboard has no ranking column",
                     f"set primary_index to the index of the ranking column (one of {sorted(i for i in indexes if isinstance(i, int))})")


def check_computation(column: dict, where: str, indexes: set, findings: Findings) -> None:
    """Codabench's rules for computed columns (it fills them; scoring must not write them)."""
    computation, sources = column.get("computation"), column.get("computation_indexes")
    if computation is None:
        if sources:
            findings.add("CB071", f"{where}.computation_indexes", "Cannot add computation columns without a computation function set",
                         "add `computation: avg` or remove computation_indexes")
        return
    if computation not in COMPUTATIONS:
        findings.add("CB072", f"{where}.computation", f"computation: \"{computation}\" is not a valid choice.", f"use one of {', '.join(COMPUTATIONS)}")
    if not sources:
        findings.add("CB073", f"{where}.computation_indexes",
                     "Column with computation must have at least 1 column selected for the computation", "list the column indexes")
        return
    others = sorted(i for i in indexes if i != column.get("index") and isinstance(i, int))
    for index in sources if isinstance(sources, list) else [sources]:
        if not isinstance(index, int) or isinstance(index, bool):
            findings.add("CB074", f"{where}.computation_indexes", f"Bad value for index {index!r}", "use column indexes (integers)")
        elif index not in others:
            findings.add("CB075", f"{where}.computation_indexes", f"Column index {index} does not exist in available indexes {others}",
                         "point at other columns of this leaderboard")


# -- fact sheet ---------------------------------------------------------------------------
def check_fact_sheet(c: dict, findings: Findings) -> None:
    sheet = c.get("fact_sheet")
    if sheet is None:
        return
    if not isinstance(sheet, dict):
        findings.add("CB110", "fact_sheet", f"fact_sheet must map question keys to questions, not {type(sheet).__name__}",
                     "write `fact_sheet: {question_key: {key, type, title, selection, is_required, is_on_leaderboard}}`")
        return
    for name, question in sheet.items():
        where = f"fact_sheet.{name}"
        if not isinstance(question, dict):
            findings.add("CB110", where, "a fact sheet question must be a mapping", "write its six keys")
            continue
        if set(question) != FACT_SHEET_KEYS:
            findings.add("CB111", where, f"Missing {FACT_SHEET_KEYS ^ set(question)} values for {name}",
                         "give exactly: key, type, title, selection, is_required, is_on_leaderboard")
        if "key" in question and question["key"] != name:
            findings.add("CB112", f"{where}.key", f"key {question['key']!r} differs from the question's name {name!r}", f"write `key: {name}`")
        if question.get("type") not in ("checkbox", "text", "select", None):
            findings.add("CB113", f"{where}.type", f"type {question.get('type')!r} is not checkbox, text or select", "use checkbox, text or select")
        for flag in ("is_required", "is_on_leaderboard"):
            if isinstance(question.get(flag), bool):
                findings.add("CB114", f"{where}.{flag}", f"{flag} is the YAML boolean {question[flag]}; Codabench compares "
                             "with the string 'true', so it behaves as false", f"quote it: `{flag}: \"{str(question[flag]).lower()}\"`")
