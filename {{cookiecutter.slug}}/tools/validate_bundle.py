"""Check this bundle against what Codabench's unpacker and compute worker really require.

    python tools/validate_bundle.py          # human-readable findings; exit 1 on any error
    python tools/validate_bundle.py --json   # the same findings for machines

Every finding has a stable code, a severity, the file and yaml path, the message Codabench
itself would give where it gives one, and the fix. Run by `make validate` and `make bundle`.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import yaml

from bundle import ROOT, BundleError, load_competition, referenced_paths

MAX_KEY_LENGTH = 36
IGNORED_V15_KEYS = ("leaderboard", "has_registration", "end_date", "html", "competition_docker_image",
                    "admin_names", "allow_robot_submissions", "force_submission_to_leaderboard")
SUBMISSION_RULES = {"Add", "Add_And_Delete", "Add_And_Delete_Multiple", "Force_Last", "Force_Latest_Multiple", "Force_Best"}
SHELL_SYNTAX = re.compile(r"&&|\|\||[|<>;`]|\$\(|^cd\s|\bcd\s")
DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
WRITTEN_BY_MAKE_DATA = ("data/", "starting_kit/sample_result_submission")
IMAGE_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpeg", b"GIF87a": "gif", b"GIF89a": "gif"}


@dataclass
class Finding:
    code: str
    severity: str  # "error": Codabench rejects or breaks; "warning": works, but probably not as meant
    file: str
    path: str  # where in the yaml, e.g. phases[1].start
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file} {self.path}".strip()
        return f"{self.severity.upper():7} {self.code} {where}: {self.message}\n        fix: {self.fix}"


class Checker:
    def __init__(self, root: Path):
        self.root = root
        self.findings: list[Finding] = []

    def add(self, code: str, severity: str, path: str, message: str, fix: str, file: str = "competition.yaml") -> None:
        self.findings.append(Finding(code, severity, file, path, message, fix))

    # -- top level ---------------------------------------------------------------------
    def check_top_level(self, c: dict) -> None:
        if str(c.get("version")) != "2" or isinstance(c.get("version"), float):
            self.add("CB001", "error", "version", f"version is {c.get('version')!r}; Codabench says "
                     "'A suitable version could not be found for this competition.' or reads the file as v1.5",
                     "write `version: 2`")
        required = {
            "title": "title: This field may not be null.",
            "image": "An image for this competition could not be found in the yaml",
            "terms": "A file containing the terms of this competition has not been supplied in the required location",
            "pages": "'NoneType' object is not iterable",
            "tasks": "No tasks listed in this competition",
            "phases": "Unable to find any phases for this competition",
            "leaderboards": "Could not find leaderboards in the competition yaml",
        }
        for key, codabench_says in required.items():
            if key not in c:
                self.add("CB002", "error", key, f"required key {key!r} is missing; Codabench says '{codabench_says}'",
                         f"add `{key}:` (see the Codabench v2 bundle format)")
        for key in IGNORED_V15_KEYS:
            if key in c:
                fix = "rename it `leaderboards:` (a list)" if key == "leaderboard" else "remove it; set this in the Codabench editor"
                self.add("CB003", "error" if key == "leaderboard" else "warning", key,
                         f"{key!r} is a v1.5 key that a version 2 bundle ignores", fix)
        image = c.get("docker_image")
        if not image:
            self.add("CB004", "warning", "docker_image", "no docker_image: Codabench runs the old codalab/codalab-legacy:py37",
                     "set `docker_image: codalab/codalab-legacy:py312` (or your own pinned image)")
        elif ":" not in str(image).rsplit("/", 1)[-1] or str(image).endswith(":latest") or len(str(image)) > 128:
            self.add("CB005", "warning", "docker_image", f"docker_image {image!r} is not pinned to a tag (or is over 128 characters)",
                     "use an explicit tag such as codalab/codalab-legacy:py312")
        if c.get("enable_detailed_results") is not True:
            self.add("CB006", "warning", "enable_detailed_results", "detailed results are off: participants will not see detailed_results.html",
                     "set `enable_detailed_results: True`")

    # -- files ---------------------------------------------------------------------------
    def check_files(self, c: dict) -> None:
        for where, value in referenced_paths(c).items():
            path = self.root / value
            if value.endswith("/"):
                self.add("CB010", "warning", where, f"{value!r} ends with '/': Codabench then zips it next to its parent",
                         "drop the trailing slash")
            if not path.exists():
                fix = "run `make data`" if value.startswith(WRITTEN_BY_MAKE_DATA) else "create it or fix the path (relative to competition.yaml)"
                self.add("CB011", "error", where, f"{value!r} does not exist; Codabench says 'Cannot find dataset: \"{value}\"' or 'Unable to find page'", fix)
            elif path.is_file() and path.stat().st_size == 0:
                self.add("CB012", "error", where, f"{value!r} is empty; Codabench says '{value} is empty, it must contain content.'",
                         "write its content")
            elif path.is_dir() and not any(p.is_file() for p in path.rglob("*")):
                self.add("CB012", "error", where, f"{value!r} is an empty folder", "put its files in it")
        logo = self.root / str(c.get("image", ""))
        if c.get("image") and logo.is_file():
            head = logo.read_bytes()[:16]
            kind = next((k for sig, k in IMAGE_SIGNATURES.items() if head.startswith(sig)), None)
            if kind is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                kind = "webp"
            if kind is None:
                self.add("CB013", "error", "image", "the logo is not a PNG, JPEG, GIF or WEBP image (by its bytes); "
                         "Codabench says 'logo: Please upload a valid image.'", "save the logo as PNG")

    # -- tasks and programs --------------------------------------------------------------
    def check_tasks(self, c: dict) -> None:
        seen = set()
        for i, task in enumerate(c.get("tasks") or []):
            where = f"tasks[{i}]"
            if not isinstance(task, dict):
                self.add("CB020", "error", where, "a task must be a mapping", "write index, name, scoring_program, ...")
                continue
            if "index" not in task:
                self.add("CB020", "error", f"{where}.index", f"ERROR: No index for task: {task.get('name')}", "add `index:`")
            elif task["index"] in seen:
                self.add("CB021", "error", f"{where}.index", f"ERROR: Duplicate task indexes. Index: {task['index']}", "give each task its own index")
            seen.add(task.get("index"))
            if "docker_image" in task:
                self.add("CB022", "warning", f"{where}.docker_image", "Codabench ignores docker_image on a task",
                         "move it to the top-level `docker_image`")
            if not task.get("scoring_program"):
                self.add("CB023", "error", f"{where}.scoring_program", f"ERROR: Task \"{task.get('name')}\" does not have a scoring program",
                         "add `scoring_program: scoring_program`")
            for key, kind in (("ingestion_program", "ingestion"), ("scoring_program", "program")):
                if task.get(key):
                    self.check_program(self.root / str(task[key]), f"{where}.{key}", kind)

    def check_program(self, folder: Path, where: str, kind: str) -> None:
        if not folder.is_dir():
            return  # reported by check_files (a zip is checked when it is built)
        meta_path = next((folder / n for n in ("metadata.yaml", "metadata") if (folder / n).is_file()), None)
        rel = meta_path.relative_to(self.root).as_posix() if meta_path else folder.relative_to(self.root).as_posix()
        if meta_path is None:
            self.add("CB030", "error", where, "no metadata.yaml (or metadata) at the program's root; the worker says "
                     "\"Program directory missing 'metadata.yaml/metadata'\"", "add metadata.yaml with a `command:`", file=rel)
            return
        try:
            meta = yaml.safe_load(meta_path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            self.add("CB031", "error", "", f"not valid YAML: {exc}".replace("\n", " "), "fix the YAML syntax", file=rel)
            return
        command = meta.get("command") if isinstance(meta, dict) else None
        if not command:
            self.add("CB031", "error", "command", "no `command`; the worker says \"Program directory missing 'command' in metadata\"",
                     "add `command: python3 /app/program/<script>.py ...`", file=rel)
            return
        if SHELL_SYNTAX.search(str(command)):
            self.add("CB032", "error", "command", f"{command!r} uses shell syntax, but the worker runs the command without a shell",
                     "call one program with arguments (or wrap it in `bash -c \"...\"`)", file=rel)
        words = shlex.split(str(command))
        if words and words[0] == "python":
            self.add("CB033", "warning", "command", "`python` may be Python 2 or missing in legacy images", "use `python3`", file=rel)
        if kind == "program" and "$input_data" in str(command):
            self.add("CB034", "error", "command", "$input_data is not a placeholder: the worker turns it into /app/input_data_data",
                     "use /app/input_data (or $input in the ingestion program)", file=rel)

    # -- phases ----------------------------------------------------------------------------
    def parse_date(self, value: object, where: str) -> datetime | None:
        if isinstance(value, datetime) or (value is not None and not isinstance(value, str) and hasattr(value, "year")):
            self.add("CB040", "error", where, f"{value} is an unquoted date/time: Codabench keeps only the day and drops the time",
                     f"quote it in UTC: '{value:%Y-%m-%d %H:%M:%S}'" if hasattr(value, "hour") else f"quote it: '{value} 00:00:00'")
            return datetime(value.year, value.month, value.day)
        for fmt in DATETIME_FORMATS:
            try:
                return datetime.strptime(str(value), fmt)
            except ValueError:
                pass
        self.add("CB041", "error", where, f"{value!r} is not a 'YYYY-MM-DD HH:MM:SS' date; Codabench reads forms like 8-7-2019 month first",
                 "write it as 'YYYY-MM-DD HH:MM:SS' in UTC, quoted")
        return None

    def check_phases(self, c: dict) -> None:
        task_indexes = {t.get("index") for t in c.get("tasks") or [] if isinstance(t, dict)}
        raw_phases = [p for p in c.get("phases") or [] if isinstance(p, dict)]
        ordered = sorted(enumerate(raw_phases), key=lambda item: item[1].get("index", 0))
        previous = None
        for position, (i, phase) in enumerate(ordered):
            where = f"phases[{i}]"
            name = phase.get("name")
            if not name:
                self.add("CB042", "error", f"{where}.name", "phase has no name", "add `name:`")
            if not phase.get("tasks"):
                self.add("CB043", "error", f"{where}.tasks", "Phases must contain at least one task to be valid", "add `tasks: [0]`")
            for t in phase.get("tasks") or []:
                if t not in task_indexes:
                    self.add("CB044", "error", f"{where}.tasks", f"task index {t} is not defined; Codabench says "
                             f"'Unpacking the bundle failed. Here is the error log: {t}'", "use an index from `tasks:`")
            if "max_submissions_per_person" in phase:
                self.add("CB045", "warning", f"{where}.max_submissions_per_person", "Codabench ignores this key", "rename it `max_submissions`")
            if position == 0 and phase.get("auto_migrate_to_this_phase"):
                self.add("CB046", "error", f"{where}.auto_migrate_to_this_phase",
                         "phases: You cannot auto migrate to the first phase of a competition", "remove it from the first phase")
            start = self.parse_date(phase.get("start"), f"{where}.start") if "start" in phase else None
            if "start" not in phase:
                self.add("CB047", "error", f"{where}.start", "phase has no start", "add `start: 'YYYY-MM-DD HH:MM:SS'`")
            end = self.parse_date(phase["end"], f"{where}.end") if phase.get("end") else None
            if position < len(ordered) - 1 and not phase.get("end"):
                self.add("CB048", "error", f"{where}.end", f"Phase: {name} must have an end time because it has a phase after it.",
                         "add `end:` before the next phase's start")
            if start and end and end <= start:
                self.add("CB049", "error", f"{where}.end", f"phase {name!r} ends before it starts", "move `end` after `start`")
            if previous and start and previous[1]:
                prev_name, prev_end = previous
                if start == prev_end:
                    self.add("CB050", "error", f"{where}.start", f"Phases dates conflict. Phase: {name} should start after Phase: {prev_name} has ended",
                             "start the phase at least one second after the previous end")
                elif start < prev_end:
                    self.add("CB051", "error", f"{where}.start", f"Phases must be sequential. Phase: {name}starts before Phase: {prev_name} has ended",
                             "make the phases follow each other without overlap")
            previous = (name, end)

    # -- leaderboard -----------------------------------------------------------------------
    def check_leaderboards(self, c: dict) -> None:
        boards = c.get("leaderboards")
        if not isinstance(boards, list) or not boards:
            if "leaderboards" in c:
                self.add("CB060", "error", "leaderboards", "leaderboards must be a non-empty list", "list one leaderboard")
            return
        if len(boards) > 1:
            self.add("CB061", "warning", "leaderboards", "only the first leaderboard is attached to the phases", "merge them into one")
        board = boards[0]
        for key in ("title", "key"):
            if not board.get(key):
                self.add("CB062", "error", f"leaderboards[0].{key}", f"the leaderboard needs a {key}", f"add `{key}:`")
        rule = board.get("submission_rule", "Add")
        if rule not in SUBMISSION_RULES:
            self.add("CB063", "error", "leaderboards[0].submission_rule", f"unknown submission_rule {rule!r}", f"use one of {sorted(SUBMISSION_RULES)}")
        columns = board.get("columns") or []
        if not columns:
            self.add("CB064", "error", "leaderboards[0].columns", "Leaderboards require at least 1 column", "add columns")
        keys, indexes = set(), set()
        for j, column in enumerate(columns):
            where = f"leaderboards[0].columns[{j}]"
            for field in ("key", "title"):
                value = str(column.get(field, ""))
                if not value:
                    self.add("CB065", "error", f"{where}.{field}", f"column has no {field}", f"add `{field}:`")
                elif len(value) > MAX_KEY_LENGTH:
                    self.add("CB066", "error", f"{where}.{field}", f"columns: {field}: Ensure this field has no more than 36 characters.",
                             f"shorten {value!r} to 36 characters")
            if column.get("key") in keys:
                self.add("CB067", "error", f"{where}.key", "Columns must have unique keys!", "rename the duplicate key")
            if column.get("index") in indexes:
                self.add("CB068", "error", f"{where}.index", "Columns must have unique indexes!", "renumber the columns")
            keys.add(column.get("key"))
            indexes.add(column.get("index"))
            if column.get("sorting", "desc") not in ("asc", "desc"):
                self.add("CB069", "error", f"{where}.sorting", f"sorting {column.get('sorting')!r} is not asc or desc", "use asc (lower is better) or desc")
        for j, column in enumerate(columns):
            self.check_computation(column, f"leaderboards[0].columns[{j}]", indexes)
        if board.get("primary_index", 0) not in indexes:
            self.add("CB070", "error", "leaderboards[0].primary_index", f"no column has index {board.get('primary_index', 0)}",
                     "set primary_index to the index of the ranking column")

    def check_computation(self, column: dict, where: str, indexes: set) -> None:
        """Codabench's rules for computed columns (it fills them; scoring must not write them)."""
        computation, sources = column.get("computation"), column.get("computation_indexes")
        if computation is None:
            if sources:
                self.add("CB071", "error", f"{where}.computation_indexes", "Cannot add computation columns without a computation function set",
                         "add `computation: avg` or remove computation_indexes")
            return
        if computation not in ("avg", "sum", "min", "max"):
            self.add("CB072", "error", f"{where}.computation", f"computation {computation!r} is not avg, sum, min or max", "use avg")
        if not sources:
            self.add("CB073", "error", f"{where}.computation_indexes",
                     "Column with computation must have at least 1 column selected for the computation", "list the column indexes")
            return
        for index in sources:
            if not isinstance(index, int):
                self.add("CB074", "error", f"{where}.computation_indexes", f"Bad value for index {index!r}", "use column indexes (integers)")
            elif index not in indexes or index == column.get("index"):
                self.add("CB075", "error", f"{where}.computation_indexes",
                         f"Column index {index} does not exist in available indexes {sorted(i for i in indexes if i != column.get('index'))}",
                         "point at other columns of this leaderboard")

    # -- this bundle's own contracts ---------------------------------------------------------
    def check_sources_of_truth(self) -> None:
        try:
            from sync_metrics import out_of_sync
            stale = out_of_sync(self.root)
        except Exception as exc:  # a broken metrics.py or missing markers
            self.add("CB080", "error", "", f"could not compare with scoring_program/metrics.py: {exc}", "fix metrics.py or the BEGIN/END markers",
                     file="scoring_program/metrics.py")
            return
        for name in stale:
            self.add("CB081", "error", "", "out of sync with scoring_program/metrics.py: the scores written and the leaderboard would differ",
                     "run `make sync`", file=name)
        if (self.root / "data").is_dir():
            from prepare_data import check
            for problem in check(self.root):
                self.add("CB082", "error", "", problem, "run `make data` again (it is deterministic)", file="data/manifest.json")


def validate(root: Path = ROOT) -> list[Finding]:
    checker = Checker(root)
    try:
        competition = load_competition(root)
    except BundleError as exc:
        checker.add("CB000", "error", "", str(exc), "fix the file so it parses as a YAML mapping")
        return checker.findings
    checker.check_top_level(competition)
    checker.check_files(competition)
    checker.check_tasks(competition)
    checker.check_phases(competition)
    checker.check_leaderboards(competition)
    checker.check_sources_of_truth()
    return checker.findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print findings as JSON")
    args = parser.parse_args(argv)
    findings = validate()
    errors = [f for f in findings if f.severity == "error"]
    if args.json:
        print(json.dumps([asdict(f) for f in findings], indent=2))
    else:
        for finding in findings:
            print(finding)
        print(f"{len(errors)} error(s), {len(findings) - len(errors)} warning(s)" if findings else "competition.yaml and its files look valid for Codabench.")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
