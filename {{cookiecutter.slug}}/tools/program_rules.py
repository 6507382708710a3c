"""Check every program the worker will run: its metadata, its command, the paths it uses.

A program is a folder or a zip in the bundle. The worker looks for `metadata.yaml` (then
`metadata`) at its root, replaces the legacy `$` placeholders, splits the command with
shlex and runs it without a shell from /app/program. Which /app folders exist depends on
the step and the container, so a command that works in one step can point at nothing in
another: the table below is the worker's mount list (codabench-facts §2.3). Every .py file that
runs (the programs', the solutions' and the starting kit's sample code submission) is compiled,
never run: a syntax error stops the program as soon as Python loads the file.
"""

from __future__ import annotations

import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import yaml

from findings import Findings
from images import IMAGES
from import_rules import check_imports
from worker import MAX_METADATA_BYTES, METADATA_NAMES, substitute
from bundle import mappings
from file_rules import conflict_line, inside_paths
from yaml_rules import key
from zips import ENTRY_ERRORS, file_size, list_files, read_file

KIT_SAMPLE = "sample_code_submission/"  # the starting kit's sample code submission, when it has one
MAX_COMPILED = 10 * 1024 * 1024  # bytes; a larger .py file is data, not code worth compiling here
COMPILER = f"Python {sys.version_info.major}.{sys.version_info.minor}"  # the validator's: the image's may differ
SHELL_SYNTAX = re.compile(r"&&|\|\||[|<>;`]|\$\(|(^|\s)cd\s")
APP_PATH = re.compile(r"/app(?:/[^\s'\"=:,;]*)?")
ALWAYS = {"/app/program", "/app/output", "/app/data"}
PLACEHOLDER_HINTS = {
    "$input_data": "`$input_data` is not a placeholder: the worker replaces `$input` inside it",
    "$program": "`$program` becomes /app/ingestion_program in a scoring step that runs the ingestion program, and that is never mounted",
    "/app/ingestion_program": "the ingestion program is mounted at /app/program, not /app/ingestion_program (the docs are wrong)",
    "$hidden": "`$hidden` (/app/input/ref) exists only in the scoring step",
    "$shared": "`$shared` (/app/shared) exists only in the scoring step",
    "$input": "`$input` is /app/input in a program container, and /app/input exists only in the scoring step (CodaLab's "
              "worker gave a code submission its input data there; Codabench mounts them at /app/input_data)",
    "$submission_program": "`$submission_program` (/app/ingested_program) exists only in the ingestion container",
}


def mounted(kind: str, is_scoring: bool, has_input_data: bool, ingestion_during_scoring: bool) -> set[str]:
    """The /app folders a container of this kind has in this step (compute_worker.py volumes)."""
    paths = set(ALWAYS)
    if kind == "ingestion":
        paths.add("/app/ingested_program")
    if is_scoring:
        paths |= {"/app/input", "/app/shared"}
    if has_input_data and (not is_scoring or ingestion_during_scoring):
        paths.add("/app/input_data")
    return paths


def find_metadata(source: Path) -> tuple[str | None, list[str]]:
    names = list_files(source)
    found = next((n for n in METADATA_NAMES if n in names), None)
    return found, names


def nested_metadata(names: list[str]) -> str | None:
    """The wrapping folder that hides metadata.yaml from the worker, if that is the mistake."""
    for name in names:
        path = PurePosixPath(name)
        if path.name in METADATA_NAMES and len(path.parts) == 2:
            return path.parts[0]
    return None


def check_program(source: Path, label: str, where: str, kind: str, step: dict, findings: Findings,
                  python_is_3: bool = False) -> None:
    """One program folder or zip; `step` says which step and container run it, for the mount table."""
    if not source.exists() or (source.is_file() and not zipfile.is_zipfile(source)):
        return  # file_rules reports missing files and non-zips
    metadata_name, names = find_metadata(source)
    if metadata_name is None:
        if kind == "submission":
            return  # no metadata: a result submission, or code that the ingestion program imports
        folder = nested_metadata(names)
        hint = (f"; it is in {folder}/: the program's files must be at the root of {label}" if folder else
                "; found metadata.yml, which the worker does not read" if "metadata.yml" in names else "")
        said = "\"Program directory missing 'metadata.yaml/metadata'\"" if kind == "ingestion" else \
            "nothing, copies the folder to the output, and then fails with 'Could not find scores file, did the scoring program output it?'"
        findings.add("CB030", where, f"no metadata.yaml (or metadata) at the root of {label}{hint}; the worker says {said}",
                     "put metadata.yaml with a `command:` at the program's root", file=label)
        return
    file = f"{label}/{metadata_name}"
    size = file_size(source, metadata_name)
    if size > MAX_METADATA_BYTES:
        findings.add("CB031", "", f"{size:,} bytes; metadata holds a command and a description (the local runner stops "
                     f"above {MAX_METADATA_BYTES:,})", "keep only `command:` and a short `description:`", file=file)
        return
    try:
        metadata = yaml.load(read_file(source, metadata_name).decode("utf-8"), Loader=yaml.FullLoader)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        problem = " ".join(str(exc).split())[:300]
        findings.add("CB031", "", f"not valid YAML: {problem}", "fix the YAML syntax", file=file)
        return
    if not isinstance(metadata, dict):
        findings.add("CB031", "", "metadata must be a mapping with a `command:`", "write `command: python3 /app/program/<script>.py ...`", file=file)
        return
    command = metadata.get("command")
    if command and not isinstance(command, str):
        findings.add("CB031", "command", f"`command` is a {type(command).__name__}; the worker needs one line of text",
                     "write `command: python3 /app/program/<script>.py ...`", file=file)
        return
    if not command:
        if kind != "submission":  # a code submission's metadata may just describe it
            said = "Program directory missing 'command' in metadata" if kind == "ingestion" else "nothing, and no scores are written"
            findings.add("CB035", "command", f"no `command`; the worker says \"{said}\"",
                         "add `command: python3 /app/program/<script>.py ...`", file=file)
        return
    check_command(command, names, file, kind, step, findings, python_is_3)


def check_command(command: str, names: list[str], file: str, kind: str, step: dict, findings: Findings,
                  python_is_3: bool = False) -> None:
    if SHELL_SYNTAX.search(command):
        findings.add("CB032", "command", f"{command!r} uses shell syntax, but the worker runs the command without a shell",
                     "call one program with arguments (or wrap it in `bash -c \"...\"`)", file=file)
    container = "ingestion" if kind == "ingestion" else "program"
    try:
        words = substitute(command, container, step["is_scoring"], step["ingestion_during_scoring"])
    except ValueError as exc:
        findings.add("CB032", "command", f"the worker cannot split {command!r}: {exc}", "balance the quotes", file=file)
        return
    if words and words[0] == "python" and not python_is_3:  # the images described in images.py all have Python 3 there
        findings.add("CB033", "command", "`python` may be Python 2 or missing in legacy images", "use `python3`", file=file)
    available = mounted(container, **{k: step[k] for k in ("is_scoring", "has_input_data", "ingestion_during_scoring")})
    step_name = "scoring" if step["is_scoring"] else "prediction"
    for word in words:
        for path in APP_PATH.findall(word):
            path = path.rstrip("/") or "/app"
            if not any(path == m or path.startswith(m + "/") for m in available):
                cause = next((PLACEHOLDER_HINTS[token] for prefix, tokens in HINTS_BY_PATH for token in tokens
                              if (path == prefix or path.startswith(prefix + "/")) and token in command), "")
                findings.add("CB034", "command", f"{path} is not mounted in the {container} container of the {step_name} step"
                             + (f": {cause}" if cause else ""), f"use paths that exist there: {', '.join(sorted(available))}", file=file)
        script = _script_in_program(word)
        if script and script not in names:
            findings.add("CB036", "command", f"the command runs {word}, but the program has no {script}",
                         f"add {script} to the program or fix the command", file=file)

# Which placeholders can have given an unmounted path, most specific path first: the hint names the right one.
HINTS_BY_PATH = (("/app/input/ref", ("$hidden",)), ("/app/input", ("$input_data", "$input")), ("/app/shared", ("$shared",)),
                 ("/app/ingestion_program", ("/app/ingestion_program", "$program")),
                 ("/app/ingested_program", ("$submission_program",)))


def _script_in_program(word: str) -> str | None:
    """The program-relative name of a .py file the command runs from /app/program (the working dir)."""
    if not word.endswith(".py"):
        return None
    if word.startswith("/app/program/"):
        return word.removeprefix("/app/program/")
    if not word.startswith("/") and "=" not in word:
        return word.removeprefix("./")
    return None


def submitted_modules(c: dict, root: Path) -> frozenset[str]:
    """The modules the solutions and the starting kits bring: what an ingestion program imports from a submission."""
    names = set()
    folders = [s.get("path") for _, s in mappings(c.get("solutions"))] + [p.get("starting_kit") for _, p in mappings(c.get("phases"))]
    for folder in {str(f) for f in folders if f}:
        source = root / folder
        try:
            if source.is_dir() or zipfile.is_zipfile(source):
                names.update(PurePosixPath(n).stem for n in list_files(source) if n.endswith(".py"))
        except (OSError, ValueError, zipfile.BadZipFile):
            continue
    return frozenset(names)


def programs(c: dict) -> list[tuple[str, str, str, dict]]:
    """Each program the worker runs: (path in the bundle, where in competition.yaml, kind, step for the mount table)."""
    found = []
    tasks = {key(t.get("index")): t for _, t in mappings(c.get("tasks"))}
    for i, task in mappings(c.get("tasks")):
        during_scoring = bool(task.get("ingestion_only_during_scoring"))
        has_input = bool(task.get("input_data"))
        if task.get("ingestion_program"):
            step = {"is_scoring": during_scoring, "has_input_data": has_input, "ingestion_during_scoring": during_scoring}
            found.append((str(task["ingestion_program"]), f"tasks[{i}].ingestion_program", "ingestion", step))
        if task.get("scoring_program"):
            step = {"is_scoring": True, "has_input_data": has_input, "ingestion_during_scoring": during_scoring}
            found.append((str(task["scoring_program"]), f"tasks[{i}].scoring_program", "scoring", step))
    for j, solution in mappings(c.get("solutions")):
        listed = solution.get("tasks") if isinstance(solution.get("tasks"), list) else []
        targets = [tasks[key(t)] for t in listed if key(t) in tasks]
        if solution.get("path") and targets:
            step = {"is_scoring": False, "has_input_data": bool(targets[0].get("input_data")), "ingestion_during_scoring": False}
            found.append((str(solution["path"]), f"solutions[{j}].path", "submission", step))
    return found


def python_files(c: dict, root: Path) -> Iterator[tuple[str, str, Path, str]]:
    """(where in competition.yaml, the file as shipped, its folder or zip, its name there) for each .py file that runs on
    Codabench or on a participant's machine: the programs', the solutions', the starting kit's sample code submission.
    Each file once (the baseline solution is the kit's sample), nothing outside the bundle."""
    inside = inside_paths(c, root)
    places = [(where, path, "") for path, where, _, _ in programs(c)]
    places += [(f"phases[{i}].starting_kit", phase.get("starting_kit"), KIT_SAMPLE) for i, phase in mappings(c.get("phases"))]
    seen = set()
    for where, path, under in places:
        source = root / str(path)
        if where not in inside or not source.exists() or (source.is_file() and not zipfile.is_zipfile(source)):
            continue  # file_rules reports paths outside, missing files and non-zips
        for name in list_files(source):
            shipped = f"{path.rstrip('/')}/{name}"
            if name.endswith(".py") and name.startswith(under) and shipped not in seen:
                seen.add(shipped)
                yield where, shipped, source, name


# Python 3's words for Python 2 code (print and exec statements, `except E, e`, 0777)
PYTHON2_SIGNS = ("Missing parentheses in call to", "multiple exception types must be parenthesized",
                 "leading zeros in decimal integer literals")
PYTHON2_FIX = ("make {file} Python 3: print(...) for print, `except E as e`, and files opened 'w' for text, not 'wb' "
               "(`2to3 -w` of Python 3.12 or older converts a file; then run it once: `make run`)")


def syntax_error(data: bytes, name: str) -> tuple[int | None, str] | None:
    """(line or None, Python's own words) when `data` does not compile as a Python file; compiled, never run."""
    try:
        compile(data, name, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:  # also IndentationError, TabError, bytes not in the file's encoding, a NUL byte
        line = getattr(exc, "lineno", None) or (data.count(b"\n", 0, data.find(b"\0")) + 1 if b"\0" in data else None)
        return line, f"{type(exc).__name__}: {getattr(exc, 'msg', exc)}"
    except (RecursionError, MemoryError) as exc:  # nested too deep for the compiler
        return None, f"{type(exc).__name__}: {exc}"
    return None


def check_syntax(c: dict, root: Path, findings: Findings) -> set[Path]:
    """CB038: a .py file that Python cannot compile (a file with merge-conflict markers is CB095's); returns the folders
    and zips that hold one."""
    broken = set()
    for where, shipped, source, name in python_files(c, root):
        try:
            data = read_file(source, name) if file_size(source, name) <= MAX_COMPILED else None
        except (OSError, *ENTRY_ERRORS):
            continue  # an entry of a zip that cannot be read: the worker's unzip fails on it too
        if data is None or conflict_line(data):
            continue
        error = syntax_error(data, shipped)
        if error:
            broken.add(source)
            line, said = error
            at = f" line {line}" if line else ""
            python2 = any(sign in said for sign in PYTHON2_SIGNS)
            findings.add("CB038", where, f"{shipped}{at}: {said} (by {COMPILER}'s compile(); nothing was run): the program "
                         "stops with this error as soon as Python loads the file" + (
                             "; it is Python 2, and every image Codabench runs has Python 3" if python2 else ""),
                         (PYTHON2_FIX.format(file=shipped, at=at) if python2 else
                          f"fix {shipped}{at} (`python3 -m py_compile {shipped}` checks it)"), file=shipped)
    return broken


def check_programs(c: dict, root: Path, findings: Findings) -> None:
    broken = check_syntax(c, root, findings)  # their imports are not read: the syntax error comes first
    image_name = c.get("docker_image")
    image = IMAGES.get(image_name) if isinstance(image_name, str) else None
    imports_checked = set()  # tasks often share a program
    submitted = submitted_modules(c, root)  # what an ingestion program may import from the participant's folder
    for path, where, kind, step in programs(c):
        check_program(root / path, path.rstrip("/"), where, kind, step, findings, python_is_3=image is not None)
        if image and path not in imports_checked and root / path not in broken:
            imports_checked.add(path)
            check_imports(root / path, path.rstrip("/"), where, image_name, image, findings,
                          submitted=submitted if kind == "ingestion" else frozenset())
