"""The bundle's generic tools, tested once here rather than in every bundle.

tools/validate_bundle.py (with its rules) and the local runner (tools/worker.py, run_local.py,
executors.py) are the same in every bake, so their tests run here, on the default bake with its
data; the bundle's own suite keeps what checks its competition (it validates without a finding but
the template's placeholder text, its zip too, and its solution writes the scores.json its
leaderboard shows). A fresh bake warns about that placeholder text (CB130) until the organizer
replaces it; the tests that expect not a single finding use `finished`, the bake once they have.

The validator catches each way a bundle breaks: a corpus of broken copies, one rule each. Every
case copies the bundle, makes one edit, and asserts the finding's code and the words Codabench
(or the fix) would use. A test checks that every rule in tools/findings.py has a case here, so a
new rule cannot ship untested. The local runner fails where Codabench's compute worker fails,
with the worker's words.

The tests import the bake's tools/ as its own tests do (on sys.path); the modules leave sys.path
and sys.modules with this file's last test, so other bakes' tools can be imported afterwards.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import yaml

from conftest import PYTHON, run


@pytest.fixture(scope="module")
def validate(tools) -> Callable:
    return tools.validate_bundle.validate


@pytest.fixture(scope="module")
def rules(tools) -> dict:
    return tools.findings.RULES


@pytest.fixture(scope="module")
def code_mode(bundle) -> bool:
    """The bake runs code submissions (it has an ingestion program)."""
    settings = json.loads((bundle / "scoring_program" / "settings.json").read_text(encoding="utf-8"))
    return settings["submission_mode"] != "result"


@pytest.fixture(scope="module")
def competition(tools, bundle) -> dict:
    return tools.bundle.load_competition(bundle)


@pytest.fixture(scope="module")
def finished(bundle, tmp_path_factory) -> Path:
    """The bundle once the organizer has written their own description and pages: not a single finding."""
    root = copy_bundle(bundle, tmp_path_factory.mktemp("finished"), with_tools=True)
    write_own_texts(root)
    return root


# -- the validator: one broken copy per rule -------------------------------------------------
COPIED_ALWAYS_SKIPPED = (".venv", "runs", "dist", "tests", ".pytest_cache", "__pycache__")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'


@dataclass
class Case:
    id: str
    edit: Callable[[dict, Path], None]  # breaks the copy: the loaded yaml (written back afterwards) and its folder
    code: str
    says: str  # words the finding's message or fix must contain
    needs_code: bool = False  # needs the ingestion program (not in result-only bundles)
    rewrite: bool = True  # write the edited yaml back (False: the edit changed the text itself)


OWN_CONTRACTS = {"CB080", "CB081", "CB082", "CB083", "CB084"}  # checked only on a bundle made from this template, with its tools/


def copy_bundle(root: Path, tmp_path: Path, with_tools: bool = False) -> Path:
    """A copy of the bundle at root to break. Without tools/ it is validated as any bundle
    (rewriting the yaml drops the BEGIN/END markers that this template's own contracts look for)."""
    target = tmp_path / "bundle"
    skipped = COPIED_ALWAYS_SKIPPED if with_tools else (*COPIED_ALWAYS_SKIPPED, "tools")
    shutil.copytree(root, target, ignore=lambda folder, names: [n for n in names if n in skipped and Path(folder) == root or n == "__pycache__"])
    return target


def write_yaml(root: Path, competition: dict) -> None:
    (root / "competition.yaml").write_text(yaml.safe_dump(competition, sort_keys=False, allow_unicode=True), encoding="utf-8")


def edit_text(root: Path, pattern: str, replacement: str, file: str = "competition.yaml") -> None:
    path = root / file
    text, count = re.subn(pattern, replacement, path.read_text(encoding="utf-8"), count=1)
    assert count == 1, f"{pattern!r} not found in {file}"
    path.write_text(text, encoding="utf-8")


def set_command(root: Path, program: str, command: str) -> None:
    (root / program / "metadata.yaml").write_text(yaml.safe_dump({"command": command}), encoding="utf-8")


def columns(c: dict) -> list[dict]:
    return c["leaderboards"][0]["columns"]


def first_metric(c: dict) -> dict:
    return next(col for col in columns(c) if not col.get("computation") and col["key"] != "duration")


def plain(c: dict) -> dict:
    """The last column that Codabench does not compute."""
    return [col for col in columns(c) if not col.get("computation")][-1]


def zip_as(folder: Path, target: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + path.relative_to(folder).as_posix())
    return target


def fact_sheet(**question) -> dict:
    base = {"key": "method", "type": "text", "title": "Method", "selection": "", "is_required": "false", "is_on_leaderboard": "false"}
    return {"method": {**base, **question}}


VHOST = "0b6a9f3e-5c1d-4e2f-9a7b-3c8d1e2f4a5b"  # a queue's vhost, as Queue Management shows it


def pop(mapping: dict, key: str) -> None:
    del mapping[key]


BILLION_LAUGHS = "lol:\n  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"  {chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))


def _yaml_bytes(root: Path) -> bytes:
    return (root / "competition.yaml").read_bytes()


def _write_bytes(root: Path, name: str, data: bytes) -> None:
    (root / name).write_bytes(data)


def _append(root: Path, text: str) -> None:
    with (root / "competition.yaml").open("a", encoding="utf-8") as f:
        f.write(text)


def _add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def _set_mode(root: Path, mode: str) -> None:
    """Say in the scoring program's settings.json what participants submit (code, result or both)."""
    path = root / "scoring_program" / "settings.json"
    path.write_text(json.dumps({**json.loads(path.read_text(encoding="utf-8")), "submission_mode": mode}), encoding="utf-8")


def write_own_texts(root: Path) -> None:
    """What the organizer does before uploading: their own description and pages instead of the template's placeholders."""
    own = "Forecast which loans default, from a year of repayments."
    edit_text(root, r'(?m)^description: ".*"$', f'description: "{own}"')
    edit_text(root, r"(?m)^Predict the .* of each row of a tabular dataset\.$", own, file="pages/overview.md")
    edit_text(root, r"\nOrganizers: edit this page[^\n]*\n", "\n", file="pages/terms.md")


def _prepend_line(path: Path, line: str) -> None:
    path.write_text(f"{line}\n" + path.read_text(encoding="utf-8"), encoding="utf-8")


def _link(path: Path, target: str) -> None:
    """Replace a file or folder of the copy with a link to `target` outside the bundle."""
    shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    path.symlink_to(target)


CASES = [
    # the whole yaml
    Case("yaml-broken", lambda c, r: (r / "competition.yaml").write_text("version: 2\ntitle: [unclosed\n"), "CB000", "not valid YAML",
         rewrite=False),
    # Hostile or careless files: each one finding, no crash, no stall, nothing read outside the bundle.
    Case("yaml-latin-1", lambda c, r: _write_bytes(r, "competition.yaml", "# caf\u00e9\n".encode("latin-1") + _yaml_bytes(r)),
         "CB000", "line 1 has the byte b'\\xe9'", rewrite=False),
    Case("yaml-utf-16", lambda c, r: _write_bytes(r, "competition.yaml", _yaml_bytes(r).decode().encode("utf-16")),
         "CB000", "is UTF-16 text", rewrite=False),
    Case("yaml-nested-10000", lambda c, r: _append(r, "deep: " + "[" * 10_000 + "]" * 10_000 + "\n"), "CB000",
         "nests lists or mappings", rewrite=False),
    Case("yaml-nested-150", lambda c, r: _append(r, "deep: " + "[" * 150 + "]" * 150 + "\n"), "CB000",
         "more than 100 deep", rewrite=False),
    Case("yaml-alias-bomb", lambda c, r: _append(r, BILLION_LAUGHS), "CB000", "through its YAML aliases", rewrite=False),
    Case("yaml-50-mb-comment", lambda c, r: _append(r, "#" + "x" * 50_000_000 + "\n"), "CB000", "a competition.yaml is a few KiB",
         rewrite=False),
    Case("yaml-python-tag", lambda c, r: _append(r, "evil: !!python/object/apply:os.system ['true']\n"), "CB000",
         "not valid YAML", rewrite=False),
    Case("yaml-two-documents", lambda c, r: _append(r, "---\nversion: 2\n"), "CB000", "not valid YAML", rewrite=False),
    Case("yaml-a-list", lambda c, r: _write_bytes(r, "competition.yaml", b"- version: 2\n"), "CB000", "must hold a mapping",
         rewrite=False),
    Case("yaml-empty", lambda c, r: _write_bytes(r, "competition.yaml", b""), "CB000", "must hold a mapping", rewrite=False),
    Case("yaml-only-a-bom", lambda c, r: _write_bytes(r, "competition.yaml", b"\xef\xbb\xbf"), "CB000", "must hold a mapping",
         rewrite=False),
    Case("yaml-unhashable-key", lambda c, r: _append(r, "? [a, b]\n: c\n"), "CB000", "not valid YAML", rewrite=False),
    Case("yaml-nul-byte", lambda c, r: _append(r, "# \x00\n"), "CB000", "not valid YAML", rewrite=False),
    Case("yaml-duplicate-key", lambda c, r: _write_bytes(r, "competition.yaml", _yaml_bytes(r).replace(b"title:", b"title: x\ntitle:", 1)),
         "CB105", "the key 'title' is written twice", rewrite=False),
    Case("terms-absolute", lambda c, r: c.update(terms="/etc/passwd"), "CB009", "'/etc/passwd' is an absolute path"),
    Case("input-data-absolute", lambda c, r: c["tasks"][0].update(input_data="/etc"), "CB009", "is an absolute path"),
    Case("logo-dot-dot", lambda c, r: c.update(image="../../../../etc/hostname"), "CB009", "leads outside the bundle"),
    Case("terms-link-outside", lambda c, r: _link(r / c["terms"], "/etc/passwd"), "CB009", "leads outside the bundle"),
    Case("data-link-outside", lambda c, r: _link(r / c["phases"][0]["public_data"], "/etc"), "CB009", "leads outside the bundle"),
    Case("link-inside-a-program", lambda c, r: (r / c["tasks"][0]["scoring_program"] / "notes.txt").symlink_to("/etc/passwd"),
         "CB009", "is a link to '/etc/passwd', outside"),
    Case("version-2.0", lambda c, r: c.update(version=2.0), "CB001", "A suitable version could not be found"),
    Case("version-missing", lambda c, r: pop(c, "version"), "CB001", "HTML pages could not be found in the yaml file"),
    Case("pages-missing", lambda c, r: pop(c, "pages"), "CB002", "'NoneType' object is not iterable"),
    Case("image-missing", lambda c, r: pop(c, "image"), "CB002", "An image for this competition could not be found in the yaml"),
    Case("leaderboard-singular", lambda c, r: c.update(leaderboard=c.pop("leaderboards")), "CB003",
         "Could not find leaderboards in the competition yaml"),
    Case("docker-image-missing", lambda c, r: pop(c, "docker_image"), "CB004", "codalab-legacy:py37"),
    Case("docker-image-latest", lambda c, r: c.update(docker_image="codalab/codalab-legacy:latest"), "CB005", "not pinned"),
    Case("docker-image-on-this-machine", lambda c, r: c.update(docker_image="127.0.0.1:5000/codalab/codalab-legacy:py312"),
         "CB024", "in a registry on this machine (127.0.0.1:5000)"),
    Case("docker-image-on-localhost", lambda c, r: c.update(docker_image="localhost:5000/mine:1"), "CB024", "(localhost:5000)"),
    Case("phase-already-ended", lambda c, r: c["phases"][0].update(start="2020-01-06 00:00:00", end="2020-03-01 23:59:59"),
         "CB057", "phase 'Development' ended on 2020-03-01 23:59 UTC"),
    Case("docker-image-misspelt", lambda c, r: c.update(docker_image="codalab/codalab-legcy:py312"), "CB025",
         "write `docker_image: codalab/codalab-legacy:py312`"),
    Case("detailed-results-off", lambda c, r: c.update(enable_detailed_results=False), "CB006", "enable_detailed_results: True"),
    Case("v15-key", lambda c, r: c.update(has_registration=True), "CB007", "v1.5 key"),
    Case("queue-by-name", lambda c, r: c.update(queue="my-gpu-queue"), "CB008", "The specified Queue does not exist!"),
    Case("queue-as-a-yaml-integer", lambda c, r: c.update(queue=12345), "CB008", "quoted"),
    Case("gpu-image-on-the-public-queue", lambda c, r: c.update(docker_image="codalab/codalab-legacy:gpu310"), "CB059",
         "the public queue has no GPU"),
    # files
    Case("trailing-slash-over-a-zip", lambda c, r: (c["tasks"][0].update(scoring_program="scoring_program/"),
                                                    zip_as(r / "scoring_program", r / "scoring_program.zip")), "CB010",
         "overwriting the scoring_program.zip shipped in the bundle"),
    Case("terms-missing", lambda c, r: c.update(terms="pages/rules.md"), "CB011", "Unable to find page: pages/rules.md"),
    Case("terms-empty", lambda c, r: (r / "pages" / "terms.md").write_text(""), "CB012", "pages/terms.md is empty, it must contain content."),
    Case("logo-svg", lambda c, r: (r / "logo.png").write_bytes(SVG), "CB013", "logo: Please upload a valid image."),
    Case("page-without-title", lambda c, r: pop(c["pages"][0], "title"), "CB014", "title: This field may not be null."),
    Case("program-file-not-zip", lambda c, r: ((r / "scoring.zip").write_text("not a zip"), c["tasks"][0].update(scoring_program="scoring.zip")),
         "CB015", "Bad or empty zip file"),
    Case("terms-latin1", lambda c, r: (r / "pages" / "terms.md").write_bytes("Règles".encode("latin-1")), "CB016", "not UTF-8"),
    Case("large-solution", lambda c, r: (r / c["solutions"][0]["path"] / "weights.bin").open("wb").truncate(60 * 1024 * 1024),
         "CB017", "every approved participant downloads it"),
    Case("reference-in-public-data", lambda c, r: shutil.copy(next((r / "data/dev/reference_data").rglob("test_labels.csv")),
                                                             r / "data/dev/public_data/answers.csv"), "CB018", "participants can read it"),
    Case("data-zip-wrapped", lambda c, r: c["tasks"][0].update(
        reference_data=zip_as(r / "data/dev/reference_data", r / "ref.zip", prefix="reference_data/").name), "CB019", "inside reference_data/"),
    # tasks and solutions
    Case("task-without-index", lambda c, r: pop(c["tasks"][1], "index"), "CB020", "ERROR: No index for task"),
    Case("task-index-twice", lambda c, r: c["tasks"][1].update(index=0), "CB021", "ERROR: Duplicate task indexes. Index: 0"),
    Case("task-docker-image", lambda c, r: c["tasks"][0].update(docker_image="python:3.12"), "CB022", "top-level `docker_image`"),
    Case("task-without-scoring", lambda c, r: pop(c["tasks"][0], "scoring_program"), "CB023", "does not have a scoring program"),
    Case("solution-without-index", lambda c, r: pop(c["solutions"][0], "index"), "CB026", "ERROR: No index for solution"),
    Case("solution-without-tasks", lambda c, r: pop(c["solutions"][0], "tasks"), "CB027", "Could not find tasks for solution"),
    Case("solution-without-path", lambda c, r: pop(c["solutions"][0], "path"), "CB028", 'missing "path"'),
    Case("solution-unknown-task", lambda c, r: c["solutions"][0].update(tasks=[0, 7]), "CB029", "task index 7 is not defined"),
    # programs
    Case("scoring-without-metadata", lambda c, r: (r / "scoring_program" / "metadata.yaml").unlink(), "CB030",
         "Could not find scores file, did the scoring program output it?"),
    Case("ingestion-metadata-a-list", lambda c, r: (r / "ingestion_program" / "metadata.yaml").write_text("- python3\n- ingestion.py\n"),
         "CB031", "must be a mapping", needs_code=True),
    Case("metadata-alias-bomb", lambda c, r: (r / "scoring_program" / "metadata.yaml").write_text(
        BILLION_LAUGHS + "command: *i\n"), "CB031", "`command` is a list"),
    Case("metadata-a-megabyte", lambda c, r: (r / "scoring_program" / "metadata.yaml").write_text(
        "command: python3 /app/program/scoring.py\n#" + "x" * 1_000_000 + "\n"), "CB031", "1,000,0"),
    Case("metadata-not-utf-8", lambda c, r: (r / "scoring_program" / "metadata.yaml").write_bytes(b"command: caf\xe9\n"),
         "CB031", "not valid YAML"),
    Case("metadata-command-a-number", lambda c, r: (r / "scoring_program" / "metadata.yaml").write_text("command: 3\n"),
         "CB031", "`command` is a int"),
    Case("command-with-shell", lambda c, r: set_command(r, "scoring_program", "cd /app/program && python3 scoring.py"), "CB032", "without a shell"),
    Case("command-python2", lambda c, r: (set_command(r, "scoring_program", "python /app/program/scoring.py"),
                                          c.update(docker_image="codalab/codalab-legacy:py3")), "CB033", "use `python3`"),
    Case("input-data-placeholder", lambda c, r: set_command(r, "ingestion_program", "python3 /app/program/ingestion.py --input-data $input_data"),
         "CB034", "/app/input_data_data", needs_code=True),
    Case("docs-ingestion-path", lambda c, r: set_command(r, "ingestion_program", "python3 /app/ingestion_program/ingestion.py"),
         "CB034", "mounted at /app/program, not /app/ingestion_program", needs_code=True),
    Case("program-during-scoring", lambda c, r: (c["tasks"][0].update(ingestion_only_during_scoring=True),
                                                 set_command(r, "ingestion_program", "python3 $program/ingestion.py")),
         "CB034", "/app/ingestion_program", needs_code=True),
    Case("hidden-in-prediction", lambda c, r: set_command(r, "ingestion_program", "python3 /app/program/ingestion.py $hidden"),
         "CB034", "exists only in the scoring step", needs_code=True),
    Case("metadata-without-command", lambda c, r: (r / "scoring_program" / "metadata.yaml").write_text("description: scorer\n"),
         "CB035", "no `command`"),
    Case("script-not-in-program", lambda c, r: set_command(r, "scoring_program", "python3 /app/program/score.py"), "CB036", "has no score.py"),
    Case("program-syntax-error", lambda c, r: (r / "scoring_program" / "helpers.py").write_text("import os\n\ndef f(:\n    pass\n"),
         "CB038", "scoring_program/helpers.py line 3: SyntaxError: invalid syntax", rewrite=False),
    Case("ingestion-indentation", lambda c, r: _prepend_line(r / "ingestion_program" / "ingestion.py", "  stray = 1"), "CB038",
         "ingestion_program/ingestion.py line 1: IndentationError: unexpected indent", needs_code=True, rewrite=False),
    Case("sample-submission-not-utf-8", lambda c, r: (pop(c, "solutions"), (r / "starting_kit" / "sample_code_submission" / "model.py")
                                                      .write_bytes(b"class Model:\n    name = 'caf\xe9'\n")),
         "CB038", "starting_kit/sample_code_submission/model.py line 2: SyntaxError: (unicode error) 'utf-8' codec can't decode",
         needs_code=True),
    Case("import-the-image-lacks", lambda c, r: _add_line(r / "scoring_program" / "figures.py", "import xgboost.sklearn"), "CB037",
         "scoring_program/figures.py:"),
    # result submissions need the test features in every phase that takes them
    Case("result-mode-final-without-test-features", lambda c, r: _set_mode(r, "result"), "CB085",
         "phase 'Final' takes result submissions (submission_mode \"result\" in scoring_program/settings.json), but its public "
         "data data/final/public_data lacks test.csv (dataset 'main')", rewrite=False),
    Case("result-mode-phase-without-public-data", lambda c, r: (_set_mode(r, "result"), pop(c["phases"][1], "public_data")), "CB085",
         "phase 'Final' takes result submissions"),
    Case("dev-without-test-features", lambda c, r: (r / "data" / "dev" / "public_data" / "test.csv").unlink(), "CB085",
         "phase 'Development' takes result submissions (submission_mode \"both\"", rewrite=False),
    # phases and dates
    Case("unquoted-datetime", lambda c, r: edit_text(r, r"start: '(\d{4}-\d\d-\d\d) [\d:]+'", r"start: \1 12:30:00"), "CB040",
         "Codabench keeps only the day and stores", rewrite=False),
    Case("day-first-date", lambda c, r: c["phases"][1].update(end="8-7-2031"), "CB041", "month first, as 2031-08-07 (not 2031-07-08)"),
    Case("phase-without-name", lambda c, r: pop(c["phases"][0], "name"), "CB042", "name: This field may not be null."),
    Case("phase-without-tasks", lambda c, r: pop(c["phases"][0], "tasks"), "CB043", "Phases must contain at least one task to be valid"),
    Case("phase-unknown-task", lambda c, r: c["phases"][0].update(tasks=[7]), "CB044", "Here is the error log: 7"),
    Case("max-submissions-per-person", lambda c, r: c["phases"][1].update(max_submissions_per_person=3), "CB045", "`max_submissions`"),
    Case("auto-migrate-first", lambda c, r: c["phases"][0].update(auto_migrate_to_this_phase=True), "CB046",
         "You cannot auto migrate to the first phase of a competition"),
    Case("phase-without-start", lambda c, r: pop(c["phases"][0], "start"), "CB047", "'<' not supported"),
    Case("phase-without-end", lambda c, r: pop(c["phases"][0], "end"), "CB048", "must have an end time because it has a phase after it."),
    Case("phase-ends-before-start", lambda c, r: c["phases"][0].update(end="2000-01-01 00:00:00"), "CB049", "ends"),
    Case("phases-touch", lambda c, r: c["phases"][1].update(start=c["phases"][0]["end"]), "CB050", "Phases dates conflict. Phase: Final"),
    Case("phases-overlap", lambda c, r: c["phases"][1].update(start=c["phases"][0]["start"]), "CB051", "Phases must be sequential. Phase: Final starts before"),
    Case("date-with-offset", lambda c, r: c["phases"][1].update(end=c["phases"][1]["end"].replace(" ", "T") + "+02:00"), "CB052",
         "replaces the offset"),
    Case("us-style-date", lambda c, r: c["phases"][1].update(end="12-31-2031"), "CB056", "reads it as 2031-12-31 00:00 UTC"),
    Case("phase-index-twice", lambda c, r: c["phases"][1].update(index=0), "CB053", "two phases have index 0"),
    Case("time-limit-an-hour", lambda c, r: c["phases"][0].update(execution_time_limit=3600), "CB054", "600 s"),
    Case("time-limit-two-days-on-own-queue", lambda c, r: (c.update(queue=VHOST), c["phases"][0].update(execution_time_limit=172800)),
         "CB058", "consumer_timeout"),
    Case("result-only-phase-flag", lambda c, r: c["phases"][0].update(accepts_only_result_submissions=True), "CB055", "never reads it"),
    # leaderboard
    Case("leaderboards-empty", lambda c, r: c.update(leaderboards=[]), "CB060", "list index out of range"),
    Case("two-leaderboards", lambda c, r: c["leaderboards"].append(dict(c["leaderboards"][0], key="other")), "CB061", "only the first"),
    Case("leaderboard-without-key", lambda c, r: pop(c["leaderboards"][0], "key"), "CB062", "key: This field may not be null."),
    Case("submission-rule-typo", lambda c, r: c["leaderboards"][0].update(submission_rule="Force_Latest"), "CB063", "is not a valid choice"),
    Case("no-columns", lambda c, r: c["leaderboards"][0].update(columns=[]), "CB064", "Leaderboards require at least 1 column"),
    Case("column-without-title", lambda c, r: pop(columns(c)[0], "title"), "CB065", "columns: title: This field may not be null."),
    Case("column-key-37-chars", lambda c, r: first_metric(c).update(key="k" * 37), "CB066", "Ensure this field has no more than 36 characters."),
    Case("column-key-twice", lambda c, r: columns(c)[-1].update(key=columns(c)[0]["key"]), "CB067", "Columns must have unique keys!"),
    Case("column-index-twice", lambda c, r: columns(c)[-1].update(index=columns(c)[0]["index"]), "CB068", "Columns must have unique indexes!"),
    Case("sorting-up", lambda c, r: columns(c)[0].update(sorting="up"), "CB069", "is not a valid choice"),
    Case("primary-index-99", lambda c, r: c["leaderboards"][0].update(primary_index=99), "CB070", "no column has index 99"),
    Case("computation-indexes-alone", lambda c, r: plain(c).update(computation_indexes=[0]), "CB071",
         "Cannot add computation columns without a computation function set"),
    Case("computation-median", lambda c, r: plain(c).update(computation="median", computation_indexes=[0]), "CB072", "median"),
    Case("computation-without-indexes", lambda c, r: plain(c).update(computation="avg", computation_indexes=[]), "CB073",
         "Column with computation must have at least 1 column selected"),
    Case("computation-index-text", lambda c, r: plain(c).update(computation="avg", computation_indexes=["first"]), "CB074",
         "Bad value for index 'first'"),
    Case("computation-index-99", lambda c, r: plain(c).update(computation="avg", computation_indexes=[99]), "CB075",
         "Column index 99 does not exist in available indexes"),
    Case("submission-rule-add", lambda c, r: c["leaderboards"][0].update(submission_rule="Add"), "CB076", "clicks"),
    # the template's own contracts
    Case("metrics-unreadable", lambda c, r: (r / "scoring_program" / "metrics.py").write_text("METRICS = (\n"), "CB080", "metrics.py",
         rewrite=False),
    Case("leaderboard-drifts-from-metrics", lambda c, r: edit_text(r, r"precision: \d+", "precision: 9"), "CB081", "make sync",
         rewrite=False),
    Case("data-edited-after-make-data", lambda c, r: next((r / "data/dev/reference_data").rglob("test_labels.csv")).write_text("id\n1\n"),
         "CB082", "make data", rewrite=False),
    Case("declaration-edited-after-make-data", lambda c, r: edit_text(r, r"seed: \d+", "seed: 7", file="data.yaml"),
         "CB082", "data.yaml changed since `make data`", rewrite=False),
    Case("data-page-edited", lambda c, r: edit_text(r, r"\| `train.csv` \| [\d,]+", "| `train.csv` | 12", file="pages/data.md"),
         "CB083", "make sync", rewrite=False),
    Case("phase-dates-changed", lambda c, r: edit_text(r, r"start: '(\d{4})-", r"start: '2031-"), "CB084", "make sync",
         rewrite=False),
    # structure (JSON Schema)
    Case("wrong-type", lambda c, r: c["phases"][0].update(max_submissions="ten"), "CB100", "text where Codabench expects integer"),
    Case("unknown-value", lambda c, r: c.update(competition_type="contest"), "CB101", "'benchmark'"),
    Case("task-without-name", lambda c, r: pop(c["tasks"][0], "name"), "CB102", "a task needs `name`"),
    Case("key-typo", lambda c, r: c["phases"][0].update(max_submission=c["phases"][0].pop("max_submissions")), "CB103",
         "did you mean `max_submissions`?"),
    Case("email-malformed", lambda c, r: c.update(contact_email="organizers at example.org"), "CB104", "does not match"),
    # fact sheet
    Case("fact-sheet-a-list", lambda c, r: c.update(fact_sheet=["method"]), "CB110", "must map question keys"),
    Case("fact-sheet-missing-keys", lambda c, r: c.update(fact_sheet={"method": {"key": "method", "type": "text", "title": "Method"}}),
         "CB111", "values for method"),
    Case("fact-sheet-key-differs", lambda c, r: c.update(fact_sheet=fact_sheet(key="approach")), "CB112", "write `key: method`"),
    Case("fact-sheet-type", lambda c, r: c.update(fact_sheet=fact_sheet(type="radio")), "CB113", "checkbox, text or select"),
    # files not meant to ship
    Case("template-update-reject", lambda c, r: (r / "scoring_program" / "figures.py.rej").write_text("@@ -1 +1 @@\n"), "CB094",
         "scoring_program/figures.py.rej: a leftover of a template update", rewrite=False),
    Case("participant-zip-in-the-kit", lambda c, r: (r / "starting_kit" / "my_submission.zip").write_bytes(b"PK\x05\x06" + bytes(18)),
         "CB094", "starting_kit/my_submission.zip: a zip inside a program or the starting kit", rewrite=False),
    Case("editor-backup", lambda c, r: (r / "scoring_program" / "scoring.py~").write_text("old"), "CB094", "an editor's backup",
         rewrite=False),
    Case("hidden-file", lambda c, r: (r / "starting_kit" / ".env").write_text("TOKEN=secret"), "CB094", "starting_kit/.env: a hidden file",
         rewrite=False),
    Case("merge-conflict-in-a-page", lambda c, r: (r / "pages" / "overview.md").write_text(
        "# Overview\n<<<<<<< ours\nOur words\n=======\nTheir words\n>>>>>>> theirs\n"), "CB095", "pages/overview.md line 2", rewrite=False),
    Case("merge-conflict-in-a-program", lambda c, r: (r / "scoring_program" / "figures.py").write_text(
        "import os\n\n<<<<<<< ours\nA = 1\n=======\nA = 2\n>>>>>>> theirs\n"), "CB095", "scoring_program/figures.py line 3",
         rewrite=False),
    Case("fact-sheet-boolean", lambda c, r: c.update(fact_sheet=fact_sheet(is_required=True)), "CB114", "behaves as false"),
]
ZIP_CODES = {"CB090", "CB091", "CB092", "CB093", "CB096"}  # tested below, on zips
PAGE_CODES = {"CB130"}  # a fresh bake holds the template's placeholder text: tested below, on it
# CB120, CB123, CB125 below; CB121, CB122, CB124 by the bundle's own tests/test_validator.py
# (test_running_the_solution_compares_scores_json_with_the_columns: its solution against its leaderboard)
RUN_CODES = {"CB120", "CB121", "CB122", "CB123", "CB124", "CB125"}
CONTAINER_CODES = {"CB126", "CB127"}  # tests/test_container_mode.py: images no registry gives out, or none could say


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_validator_reports_the_broken_rule(case, bundle, validate, rules, code_mode, tmp_path):
    if case.needs_code and not code_mode:
        pytest.skip("this competition takes result submissions only: no ingestion program")
    root = copy_bundle(bundle, tmp_path, with_tools=case.code in OWN_CONTRACTS)
    competition = yaml.safe_load((root / "competition.yaml").read_text(encoding="utf-8"))
    case.edit(competition, root)
    if case.rewrite:
        write_yaml(root, competition)
    findings = validate(root)
    matching = [f for f in findings if f.code == case.code]
    assert matching, f"no {case.code} in {[str(f) for f in findings]}"
    assert any(case.says in f"{f.message} {f.fix}" for f in matching), [str(f) for f in matching]
    assert all(f.severity == rules[case.code][0] and f.file and f.fix for f in matching)


def test_own_queue_lifts_the_public_cap_and_takes_a_gpu_image(bundle, validate, tmp_path):
    root = copy_bundle(bundle, tmp_path)
    competition = yaml.safe_load((root / "competition.yaml").read_text(encoding="utf-8"))
    competition["phases"][0]["execution_time_limit"] = 3600
    competition["docker_image"] = "codalab/codalab-legacy:gpu310"
    write_yaml(root, competition)
    assert {"CB054", "CB059"} <= {f.code for f in validate(root)}
    competition["queue"] = VHOST
    write_yaml(root, competition)
    assert not {"CB054", "CB059", "CB008"} & {f.code for f in validate(root)}


def test_imports_the_image_has_own_or_guarded_are_not_reported(bundle, validate, tmp_path):
    root = copy_bundle(bundle, tmp_path)
    figures = root / "scoring_program" / "figures.py"
    _add_line(figures, "import json, sklearn.metrics\nimport metrics\nfrom matplotlib import pyplot\n"
                       "try:\n    import xgboost\nexcept ImportError:\n    xgboost = None")
    assert [f.message for f in validate(root) if f.code == "CB037"] == []
    _add_line(figures, "import xgboost")
    assert [f.code for f in validate(root) if f.code == "CB037"] == ["CB037"]
    edit_text(root, r"codalab-legacy:py312", "codalab-legacy:py39")  # Anaconda underneath: its list proves nothing
    assert [f.code for f in validate(root) if f.code == "CB037"] == []


def test_an_unquoted_day_loses_nothing_and_is_not_reported(finished, validate, tmp_path):
    root = copy_bundle(finished, tmp_path)
    edit_text(root, r"start: '(\d{4}-\d\d-\d\d) 00:00:00'", r"start: \1")
    assert [str(f) for f in validate(root)] == []


HOSTILE_SOURCES = {  # a program file: (its bytes, what CB038 says, or None when Python reads it)
    "a NUL byte": (b"x = 1\ny = 2\x00\n", "helpers.py line 2: SyntaxError: source code string cannot contain null bytes"),
    "nested too deep for the compiler": (b"x = " + b"1 + " * 100_000 + b"1\n", "helpers.py: RecursionError: maximum recursion depth"),
    "an unknown coding": (b"# -*- coding: klingon -*-\nx = 1\n", "helpers.py: SyntaxError: unknown encoding: klingon"),
    "tabs and spaces mixed": (b"if True:\n\tx = 1\n        y = 2\n", "helpers.py line 3: TabError: inconsistent use of tabs"),
    "a byte-order mark": (b"\xef\xbb\xbfx = 1\n", None),
    "latin-1 with its coding line": (b"# -*- coding: latin-1 -*-\nx = 'caf\xe9'\n", None),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_SOURCES))
def test_a_program_file_is_compiled_never_run_and_never_crashes_the_validator(name, bundle, validate, tmp_path):
    data, says = HOSTILE_SOURCES[name]
    root = copy_bundle(bundle, tmp_path)
    ran = tmp_path / "ran"
    (root / "scoring_program" / "helpers.py").write_bytes(data + f"open({str(ran)!r}, 'w')\n".encode())
    found = [f"{f.message} {f.fix}" for f in validate(root) if f.code == "CB038"]
    assert not ran.exists()
    if says is None:
        assert found == []
    else:
        assert len(found) == 1 and f"scoring_program/{says}" in found[0], found


def test_a_program_file_with_merge_markers_is_named_once_not_twice(bundle, validate, tmp_path):
    root = copy_bundle(bundle, tmp_path)
    (root / "scoring_program" / "figures.py").write_text("import os\n\n<<<<<<< ours\nA = 1\n=======\nA = 2\n>>>>>>> theirs\n")
    assert [f.code for f in validate(root) if f.code in ("CB038", "CB095")] == ["CB095"]


@pytest.mark.parametrize("image", ["codalab/codalab-legacy:py312", "codalab/codalab-legacy:gpu310", "ghcr.io/me/model:1.0",
                                   "registry.example.org:5000/team/image:2", "myorg/mine:1"])
def test_an_image_name_that_workers_can_pull_is_not_reported(image, bundle, validate, tmp_path):
    root = copy_bundle(bundle, tmp_path)
    edit_text(root, r"codalab/codalab-legacy:py312", image)
    assert [str(f) for f in validate(root) if f.code in ("CB024", "CB025")] == []


def test_the_corpus_breaks_every_rule_once_at_least(rules):
    codalab = {f"CB{n}" for n in range(140, 151)}  # a CodaLab (v1.5) bundle's rules: tests/test_migrate.py
    covered = {case.code for case in CASES} | ZIP_CODES | PAGE_CODES | RUN_CODES | CONTAINER_CODES | codalab
    assert set(rules) - covered == set()
    assert len(CASES) >= 40


# -- zips, as Codabench unpacks them -------------------------------------------------------
@pytest.fixture(scope="module")
def built_zip(tools, finished, tmp_path_factory) -> Path:
    return tools.make_bundle.write_bundle(finished, tmp_path_factory.mktemp("dist") / "bundle.zip")


def rezip(source: Path, target: Path, prefix: str = "", extra: dict[str, bytes] | None = None, without: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            if name not in without:
                new.writestr(prefix + name, old.read(name))
        for name, data in (extra or {}).items():
            new.writestr(name, data)
    return target


def test_a_zip_of_the_folder_is_refused_as_codabench_does(built_zip, validate, tmp_path):
    findings = validate(rezip(built_zip, tmp_path / "wrapped.zip", prefix="my_bundle/"))
    (finding,) = findings  # the bundle inside is fine: the wrapping folder is the only problem
    assert finding.code == "CB091" and finding.severity == "error"
    assert "competition.yaml is missing from zip, check your folder structure" in finding.message
    assert "it is in my_bundle/" in finding.message and "zip the folder's contents" in finding.fix


def test_macosx_entries_are_harmless_as_on_codabench(built_zip, validate, tmp_path):
    junk = {"__MACOSX/._competition.yaml": b"\x00\x05\x16\x07", "__MACOSX/pages/._terms.md": b"\x00", ".DS_Store": b"\x00"}
    findings = validate(rezip(built_zip, tmp_path / "mac.zip", extra=junk))
    assert [(f.code, f.severity) for f in findings] == [("CB092", "warning")]
    assert "Codabench ignores them" in findings[0].message


def test_a_program_zip_with_a_nested_folder_has_no_metadata_at_its_root(bundle, validate, tmp_path):
    root = copy_bundle(bundle, tmp_path)
    competition = yaml.safe_load((root / "competition.yaml").read_text(encoding="utf-8"))
    zip_as(root / "scoring_program", root / "scoring_program.zip", prefix="scoring_program/")
    competition["tasks"][0]["scoring_program"] = "scoring_program.zip"
    write_yaml(root, competition)
    (finding,) = [f for f in validate(root) if f.code == "CB030"]
    assert "it is in scoring_program/: the program's files must be at the root of scoring_program.zip" in finding.message


def test_a_program_zip_with_files_at_its_root_is_fine(bundle, validate, tmp_path):
    root = copy_bundle(bundle, tmp_path)
    competition = yaml.safe_load((root / "competition.yaml").read_text(encoding="utf-8"))
    zip_as(root / "scoring_program", root / "scoring_program.zip")
    competition["tasks"][0]["scoring_program"] = "scoring_program.zip"
    write_yaml(root, competition)
    assert [str(f) for f in validate(root) if f.code.startswith("CB03")] == []


def test_a_file_that_is_not_a_zip_is_refused(validate, tmp_path):
    upload = tmp_path / "bundle.zip"
    upload.write_text("competition.yaml")
    (finding,) = validate(upload)
    assert finding.code == "CB090" and "Bad zip file uploaded." in finding.message


def test_a_stray_inside_an_uploaded_zip_is_reported_too(built_zip, validate, tmp_path):
    findings = validate(rezip(built_zip, tmp_path / "strays.zip", extra={"scoring_program/metrics.py.orig": b"x" * 100,
                                                                        "scoring_program/.#metrics.py": b"x"}))
    assert [f.code for f in findings] == ["CB094", "CB094"]
    assert {f.message.split(":")[0] for f in findings} == {"scoring_program/metrics.py.orig", "scoring_program/.#metrics.py"}


def test_a_setext_heading_is_not_a_merge_conflict(bundle, validate, tmp_path):
    root = copy_bundle(bundle, tmp_path)
    (root / "pages" / "overview.md").write_text("Overview\n=======\n\n<<<<<<< is how git marks a conflict\n")
    assert [str(f) for f in validate(root) if f.code == "CB095"] == []


def test_make_bundle_refuses_strays_and_writes_nothing(bundle, tools, tmp_path, capsys):
    root = copy_bundle(bundle, tmp_path)
    (root / "scoring_program" / "figures.py.rej").write_text("@@ -1 +1 @@\n")
    (root / "starting_kit" / "my_submission.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    (root / "starting_kit" / ".ipynb_checkpoints").mkdir(exist_ok=True)  # a cache: left out without a word
    (root / "starting_kit" / ".ipynb_checkpoints" / "starting_kit-checkpoint.ipynb").write_text("{}")
    assert tools.make_bundle.build(root, tmp_path / "dist", run=False) == 1
    out, err = capsys.readouterr()
    assert not (tmp_path / "dist").exists()
    assert "CB094" in out and "figures.py.rej" in out and "my_submission.zip" in out and "checkpoint" not in out
    assert "nothing was written" in err
    (root / "scoring_program" / "figures.py.rej").unlink()
    (root / "starting_kit" / "my_submission.zip").unlink()
    assert tools.make_bundle.build(root, tmp_path / "dist", run=False) == 0
    with zipfile.ZipFile(tmp_path / "dist" / "bundle.zip") as archive:
        assert not [n for n in archive.namelist() if "checkpoint" in n]
    assert "scoring_program/ (" in capsys.readouterr().out


def test_a_large_bundle_gets_a_warning(built_zip, tools, validate, monkeypatch):
    monkeypatch.setattr(tools.file_rules, "LARGE_BUNDLE", 1024)
    assert [f.code for f in validate(built_zip)] == ["CB093"]


def test_zip_entries_that_climb_out_are_named_and_unpacked_inside(built_zip, validate, tmp_path):
    marker = f"escaped-{os.getpid()}-{tmp_path.name}.txt"
    climbing = {f"../{marker}": b"x", f"/tmp/{marker}": b"x", "../pages/terms.md": b"# Not the terms\n", f"..\\..\\{marker}": b"x"}
    findings = validate(rezip(built_zip, tmp_path / "climbing.zip", extra=climbing))
    (finding,) = findings
    assert (finding.code, finding.severity, finding.file) == ("CB096", "error", "climbing.zip")
    assert f"'../{marker}' (lands as {marker})" in finding.message
    assert f"'/tmp/{marker}' (lands as tmp/{marker})" in finding.message
    assert "'../pages/terms.md' (lands as pages/terms.md, as does another entry: the later one wins)" in finding.message
    assert "and 1 more" in finding.message and "ZipFile.extractall" in finding.message and "make bundle" in finding.fix
    assert not (Path("/tmp") / marker).exists() and not (tmp_path.parent / marker).exists()
    assert not [p for p in Path(tempfile.gettempdir()).glob(f"*{marker}")]


def test_a_backslash_entry_is_one_file_of_that_name_on_codabench(built_zip, validate, tmp_path):
    findings = validate(rezip(built_zip, tmp_path / "windows.zip", extra={"..\\..\\notes.txt": b"x"}))
    (finding,) = findings
    assert finding.code == "CB096" and "'..\\\\..\\\\notes.txt' (lands as one file of that very name at the root)" in finding.message


@pytest.mark.parametrize("entry", ["..", "logo.png/inside.txt"], ids=["only dot-dot", "under a file"])
def test_a_zip_entry_that_cannot_be_unpacked_is_a_finding_not_a_crash(entry, built_zip, validate, tmp_path):
    findings = validate(rezip(built_zip, tmp_path / "broken.zip", extra={entry: b"x"}))
    (finding,) = findings
    assert finding.code == "CB096" and f"the entry {entry!r} cannot be unpacked" in finding.message
    assert "Unpacking the bundle failed. Here is the error log:" in finding.message


def test_a_syntax_error_in_a_zipped_program_is_found(built_zip, validate, tmp_path):
    findings = validate(rezip(built_zip, tmp_path / "syntax.zip", extra={"scoring_program/helpers.py": b"x = 1\ndef f(:\n"}))
    assert [(f.code, f.file) for f in findings] == [("CB038", "scoring_program/helpers.py")]
    assert findings[0].message.startswith("scoring_program/helpers.py line 2: SyntaxError: invalid syntax")


def test_public_test_features_missing_from_a_zipped_phase_are_found(built_zip, validate, tmp_path):
    findings = validate(rezip(built_zip, tmp_path / "no-test.zip", without=("data/dev/public_data/test.csv",)))
    assert [(f.code, f.path, f.file) for f in findings] == [("CB085", "phases[0].public_data", "data/dev/public_data")]


# -- the template's placeholder text --------------------------------------------------------
def test_a_fresh_bake_warns_about_its_placeholder_text_and_nothing_else(bundle, validate):
    findings = validate(bundle)
    assert sorted((f.code, f.severity, f.file, f.path) for f in findings) == [
        ("CB130", "warning", "competition.yaml", "description"),
        ("CB130", "warning", "pages/overview.md", "pages[0].file"),
        ("CB130", "warning", "pages/terms.md", "terms")]
    said = {f.file: f"{f.message} {f.fix}" for f in findings}
    assert "'Organizers: edit this page'" in said["pages/terms.md"] and "pages/terms.md line " in said["pages/terms.md"]
    assert "'Predict the binary label of each row of a tabular dataset.'" in said["competition.yaml"]
    assert all("edit it before you upload" in text for text in said.values())


def test_once_the_organizer_writes_their_own_texts_nothing_is_left(finished, validate):
    assert [str(f) for f in validate(finished)] == []


def test_every_generic_description_of_the_template_is_known(tools):
    from conftest import TEMPLATE

    page_rules = importlib.import_module("page_rules")  # the bake's, as the validator imports it
    spec = importlib.util.spec_from_file_location("template_local_extensions", TEMPLATE / "local_extensions.py")
    extensions = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extensions)
    assert set(page_rules.GENERIC_DESCRIPTIONS) == set(extensions.DESCRIPTIONS.values())


def test_a_description_of_another_task_type_is_a_placeholder_too(finished, validate, tmp_path):
    root = copy_bundle(finished, tmp_path)
    edit_text(root, r'(?m)^description: ".*"$', 'description: "Predict a numeric target for each row of a tabular dataset."')
    assert [(f.code, f.path) for f in validate(root)] == [("CB130", "description")]


def test_make_bundle_builds_a_fresh_bake_and_shows_its_placeholder_warnings(bundle, tools, tmp_path, capsys):
    root = copy_bundle(bundle, tmp_path)
    assert tools.make_bundle.build(root, tmp_path / "dist", run=False) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "dist" / "bundle.zip").is_file() and "WARNING CB130" in out and "edit it before you upload" in out
    assert out.count("WARNING CB130") == 3  # said once, for the folder: the zip holds the same pages


# -- running the solution (--run) ---------------------------------------------------------
def foreign_copy(root: Path, tmp_path: Path) -> tuple[Path, dict]:
    """A copy without this template's tools: validated as any other bundle would be."""
    copy = copy_bundle(root, tmp_path)
    return copy, yaml.safe_load((copy / "competition.yaml").read_text(encoding="utf-8"))


def test_a_solution_that_fails_is_reported(bundle, validate, tmp_path):
    root, competition = foreign_copy(bundle, tmp_path)
    competition["solutions"][0]["path"] = "starting_kit/failing_submission"
    write_yaml(root, competition)
    (finding,) = [f for f in validate(root, run=True) if f.code == "CB120"]
    assert finding.path == "solutions[0].path"


def test_running_the_solution_compares_scores_json_with_the_columns(bundle, validate, tmp_path):
    """One run, three mismatches: a computed key that scoring writes, a key no column shows, a column nobody writes."""
    root, competition = foreign_copy(bundle, tmp_path)
    computed, renamed, *_ = [c for c in columns(competition) if not c.get("computation")]
    computed.update(computation="max", computation_indexes=[renamed["index"]])
    written_key = renamed["key"]
    renamed["key"] = "renamed"
    write_yaml(root, competition)
    found = {(f.code, f.message.split(": ", 1)[1]) for f in validate(root, run=True)}
    assert ("CB121", "scores.json has no 'renamed': that leaderboard cell would be empty (and an empty primary score can rank first)") in found
    assert ("CB122", f"{written_key!r} matches no leaderboard column: Codabench drops it") in found
    assert ("CB124", f"{computed['key']!r} is a computed column: Codabench overwrites what scoring writes") in found


def test_without_a_solution_the_run_check_says_so(finished, validate, tmp_path):
    root, competition = foreign_copy(finished, tmp_path)
    del competition["solutions"]
    write_yaml(root, competition)
    assert [f.code for f in validate(root, run=True)] == ["CB125"]


def test_non_finite_and_huge_scores_are_named(tools):
    cols = [{"key": "auc", "index": 0}, {"key": "mae", "index": 1}]
    problems = tools.run_local.check_scores({"auc": float("nan"), "mae": 1e12}, cols)
    assert [code for code, _ in problems] == ["CB123", "CB123"]


# -- the command line ----------------------------------------------------------------------
def test_json_output_and_exit_status(finished, tools, tmp_path, capsys):
    root = copy_bundle(finished, tmp_path, with_tools=True)
    edit_text(root, r"version: 2", "version: 2.0")
    assert tools.validate_bundle.main([str(root), "--json"]) == 1
    (finding,) = json.loads(capsys.readouterr().out)
    assert finding == {**finding, "code": "CB001", "severity": "error", "file": "competition.yaml", "path": "version"}
    assert tools.validate_bundle.main([str(finished)]) == 0
    assert "No findings" in capsys.readouterr().out


# -- a wrong type anywhere never crashes the validator ---------------------------------------
WRONG_TYPES = (None, "text", 7, [], {})


def yaml_paths(value, path=()):
    yield path
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in children:
        yield from yaml_paths(child, (*path, key))


def test_a_wrong_type_anywhere_gives_findings_not_a_crash(competition, bundle, tools, rules, tmp_path):
    """Every key and list item of competition.yaml in turn gets a value of the wrong type
    (cycling through null, text, integer, list, mapping)."""
    root = copy_bundle(bundle, tmp_path)
    for number, path in enumerate(list(yaml_paths(competition))[1:]):
        broken = deepcopy(competition)
        parent = broken
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = deepcopy(WRONG_TYPES[number % len(WRONG_TYPES)])
        findings = tools.validate_bundle.Findings()
        tools.validate_bundle.check_competition(broken, root, findings)
        assert all(f.code in rules and f.message and f.fix for f in findings), path


def test_the_shipped_schema_is_a_valid_draft_2020_12_schema(bundle, tools):
    from jsonschema import Draft202012Validator

    schema = tools.schema_check.load_schema()
    Draft202012Validator.check_schema(schema)
    assert Draft202012Validator(schema).is_valid(yaml.safe_load((bundle / "competition.yaml").read_text(encoding="utf-8")))


# -- the local runner fails where Codabench's compute worker fails, with the worker's words ------
SLOW_MODEL = """
import time

class Model:
    def fit(self, X, y):
        time.sleep(30)
    def predict(self, X):
        return [0.5] * len(X)
"""


@pytest.fixture
def dev_phase(tools, bundle):
    return tools.bundle.find_phase(tools.bundle.load_competition(bundle), "Development", bundle)


def submission(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "submission"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_placeholders_are_replaced_in_the_workers_order(tools):
    substitute = tools.worker.substitute
    assert substitute("python $program/x.py $input $output $hidden", "ingestion", is_scoring=False) == [
        "python", "/app/program/x.py", "/app/input_data", "/app/output", "/app/input/ref"]
    assert substitute("python3 s.py $input $predictions", "program", is_scoring=True) == [
        "python3", "s.py", "/app/input", "/app/input/res"]
    # str.replace in this order: $input_data is not a placeholder and breaks, as on Codabench
    assert substitute("x $input_data", "ingestion", is_scoring=False) == ["x", "/app/input_data_data"]


def test_commands_run_without_a_shell(tools, tmp_path):
    executor = tools.executors.LocalExecutor(tmp_path, echo=None)
    out = tmp_path / "out"
    out.mkdir()
    container = tools.executors.Container("t", ["echo", "a", "&&", "echo", "b"], {"/app/program": out, "/app/output": out})
    completed = executor.run(container, timeout=10)
    assert completed.stdout == "a && echo b\n"


def test_a_step_over_the_time_limit_fails_with_the_workers_message(tools, tmp_path, dev_phase):
    phase = dataclasses.replace(dev_phase, execution_time_limit=2)
    slow = submission(tmp_path, {"model.py": SLOW_MODEL})
    with pytest.raises(tools.worker.StepFailed, match="Execution Time Limit exceeded. Limit was 2 seconds"):
        tools.worker.run_prediction_step(phase.tasks[0], phase, slow, tmp_path / "run",
                                         tools.executors.LocalExecutor(tmp_path / "run", echo=None))


ORDER = r"""
import json, os, pathlib, sys, time
output, name, seconds = pathlib.Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
started = time.time()
time.sleep(seconds)
seen = {k: os.environ.get(k) for k in ("PYTHONUNBUFFERED", "http_proxy", "https_proxy", "CODABENCH_TEST_MARKER")}
(output / f"{name}.json").write_text(json.dumps({"start": started, "end": time.time(), "env": seen}))
"""


def _step_with_own_program(tools, dev_phase, tmp_path, executor):
    """A prediction step whose submission has a command (2 s) and whose ingestion records when it started."""
    def program(folder: Path, command: str) -> Path:
        folder.mkdir(parents=True)
        (folder / "metadata.yaml").write_text(f"command: {command}\n")
        (folder / "order.py").write_text(ORDER)
        return folder

    task = dataclasses.replace(dev_phase.tasks[0], ingestion_program=program(tmp_path / "ingestion",
                                                                             "python3 order.py /app/output ingestion 0"))
    own = program(tmp_path / "submission", "python3 order.py /app/output submission 2")
    step = tools.worker.run_prediction_step(task, dev_phase, own, tmp_path / "run", executor)
    return step, {name: json.loads((step.output / f"{name}.json").read_text()) for name in ("submission", "ingestion")}


def test_the_submissions_own_program_runs_to_its_end_before_ingestion_starts(tools, dev_phase, tmp_path):
    """compute_worker.py:1186-1195 gathers both, but the first one's blocking log loop (:734) runs it to its end."""
    step, seen = _step_with_own_program(tools, dev_phase, tmp_path, tools.executors.LocalExecutor(tmp_path / "x", echo=None))
    assert seen["ingestion"]["start"] >= seen["submission"]["end"]
    assert {name: c.exit_code for name, c in step.containers.items()} == {"submission": 0, "ingestion": 0}


def test_each_program_gets_the_workers_environment_and_nothing_of_the_callers(tools, dev_phase, tmp_path, monkeypatch):
    """PYTHONUNBUFFERED=1 and the two proxies, empty unless the worker's admin sets them (compute_worker.py:1044-1048)."""
    monkeypatch.setenv("CODABENCH_TEST_MARKER", "from the caller")
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128")
    _, seen = _step_with_own_program(tools, dev_phase, tmp_path, tools.executors.LocalExecutor(tmp_path / "x", echo=None))
    for name in ("submission", "ingestion"):
        assert seen[name]["env"] == {"PYTHONUNBUFFERED": "1", "http_proxy": "", "https_proxy": "",
                                     "CODABENCH_TEST_MARKER": None}, name


def test_the_workers_metadata_gives_the_ingestion_time_when_the_submission_ran_nothing(tools, dev_phase, bundle, tmp_path):
    """"elapsedTime": program time or ingestion time (compute_worker.py:1350): never null after an ingestion ran."""
    code = bundle / "starting_kit" / "sample_code_submission"  # metadata.yaml without a command: not run
    step = tools.worker.run_prediction_step(dev_phase.tasks[0], dev_phase, code, tmp_path / "run",
                                            tools.executors.LocalExecutor(tmp_path / "run", echo=None))
    metadata = yaml.safe_load((step.output / "metadata").read_text())
    assert metadata["exitCode"] is None and metadata["ingestionExitCode"] == 0
    assert metadata["elapsedTime"] == metadata["ingestionElapsedTime"] > 0
    own, _ = _step_with_own_program(tools, dev_phase, tmp_path / "own", tools.executors.LocalExecutor(tmp_path / "x", echo=None))
    metadata = yaml.safe_load((own.output / "metadata").read_text())
    assert metadata["elapsedTime"] == own.containers["submission"].elapsed >= 2  # the submission's own, when it ran


@pytest.mark.parametrize("settings, says", [
    ({"network": "off"}, "NETWORK=off needs ENGINE=docker or podman"),
    ({"network": "none"}, "NETWORK='none' is not one of on, off"),
    ({"pull": "sometimes"}, "PULL='sometimes' is not one of always, never"),
    ({"pull": "never"}, "PULL=never needs ENGINE=docker or podman"),
])
def test_network_and_pull_settings_the_local_engine_cannot_honour_are_refused(tools, tmp_path, settings, says):
    with pytest.raises(tools.executors.EngineError, match=says):
        tools.executors.make_executor("local", tmp_path, "codalab/codalab-legacy:py312", **settings)


def test_a_command_the_machine_lacks_exits_127_as_in_the_container(tools, tmp_path):
    """Not an error of the runner's: the worker records the exit code and goes on (docker run exits 127)."""
    out = tmp_path / "out"
    out.mkdir()
    executor = tools.executors.LocalExecutor(tmp_path / "run", echo=None)
    completed = executor.run(tools.executors.Container("t", ["no-such-program-here", "--x"], {"/app/program": out}), 10)
    assert completed.exit_code == 127 and "could not start 'no-such-program-here'" in completed.stderr


@pytest.mark.parametrize("engine, image, pulled", [
    ("docker", "codalab/codalab-legacy:py312", "codalab/codalab-legacy:py312"),
    ("podman", "codalab/codalab-legacy:py312", "docker.io/codalab/codalab-legacy:py312"),  # as docker-py asks podman
    ("podman", "python:3.12", "docker.io/library/python:3.12"),
    ("podman", "ghcr.io/me/model:1", "ghcr.io/me/model:1"),
    ("podman", "localhost:5000/mine:1", "localhost:5000/mine:1"),
])
def test_podman_pulls_a_short_name_from_docker_hub_as_the_workers_docker_client_does(tools, engine, image, pulled):
    assert tools.executors.registry_reference(engine, image) == pulled


def test_two_runs_started_in_the_same_second_keep_their_own_folders(tools, tmp_path):
    first = tools.run_local.new_run_folder(tmp_path / "runs", "development-x")
    second = tools.run_local.new_run_folder(tmp_path / "runs", "development-x")
    assert first != second and first.is_dir() and second.is_dir()


@pytest.mark.parametrize("variable, value", [("CODABENCH_ENGINE", "bogus"), ("CODABENCH_NETWORK", "nope"),
                                             ("CODABENCH_PULL", "$(shell echo hi)")])
def test_a_bad_engine_setting_stops_validate_even_without_a_run(variable, value, bundle, tmp_path):
    done = subprocess.run([PYTHON, "tools/validate_bundle.py", "dist/nothing.zip"], cwd=bundle, capture_output=True,
                          text=True, env={**os.environ, variable: value}, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith(f"ERROR: {variable.removeprefix('CODABENCH_')}={value!r} is not one of")


def test_a_program_that_writes_metadata_fails_the_step(tools, tmp_path, dev_phase):
    task = dev_phase.tasks[0]
    ingestion = tmp_path / "ingestion"
    ingestion.mkdir()
    (ingestion / "metadata.yaml").write_text("command: python3 /app/program/write.py /app/output/metadata\n")
    (ingestion / "write.py").write_text("import sys\nopen(sys.argv[1], 'w').write('exitCode: 0')\n")
    task = dataclasses.replace(task, ingestion_program=ingestion)
    with pytest.raises(tools.worker.StepFailed) as failure:
        tools.worker.run_prediction_step(task, dev_phase, submission(tmp_path, {"predictions.csv": "id,probability\n"}),
                                         tmp_path / "run", tools.executors.LocalExecutor(tmp_path / "run", echo=None))
    assert str(failure.value) == tools.worker.METADATA_EXISTS


def test_a_result_submission_without_metadata_is_copied_to_the_output(tools, tmp_path, dev_phase):
    result = submission(tmp_path, {"predictions.csv": "id,probability\n", "notes.txt": "hello"})
    step = tools.worker.run_prediction_step(dev_phase.tasks[0], dev_phase, result, tmp_path / "run",
                                            tools.executors.LocalExecutor(tmp_path / "run", echo=None))
    assert (step.output / "notes.txt").read_text() == "hello"
    assert any("copied to the output" in note for note in step.notes)


def test_a_zip_with_a_wrapping_folder_is_explained_to_the_participant(tools, bundle, tmp_path, dev_phase):
    archive = tmp_path / "wrapped.zip"
    baseline = (bundle / "starting_kit" / "sample_code_submission" / "model.py").read_text()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("my_submission/model.py", baseline)
    step = tools.worker.run_prediction_step(dev_phase.tasks[0], dev_phase, archive, tmp_path / "run",
                                            tools.executors.LocalExecutor(tmp_path / "run", echo=None))
    stderr = step.containers["ingestion"].stderr
    assert "ERROR: your zip wraps everything in the folder 'my_submission'" in stderr
    assert step.containers["ingestion"].exit_code == 1


def test_programs_get_no_execute_bits_as_after_the_workers_unzip(tools, tmp_path, dev_phase):
    script = submission(tmp_path, {"predictions.csv": "id,probability\n"})
    (script / "run.sh").write_text("#!/bin/sh\n")
    (script / "run.sh").chmod(0o755)
    step = tools.worker.run_prediction_step(dev_phase.tasks[0], dev_phase, script, tmp_path / "run",
                                            tools.executors.LocalExecutor(tmp_path / "run", echo=None))
    assert not (step.output.parent / "program" / "run.sh").stat().st_mode & 0o111


# -- the runner's own input ------------------------------------------------------------------
def _zip_bytes(files: dict[str, bytes]) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _damaged_zip() -> bytes:
    data = bytearray(_zip_bytes({"predictions.csv": b"id,target\n" * 2000}))
    data[40:60] = b"\xff" * 20  # inside the compressed member: the central directory still reads
    return bytes(data)


def _encrypted_zip() -> bytes:
    """A zip whose member says it is encrypted (bit 0 of its flags, in both headers)."""
    data = bytearray(_zip_bytes({"predictions.csv": b"id,target\n"}))
    data[6] |= 1  # the local header's flags
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 1  # the central directory's
    return bytes(data)


RUNNER_INPUTS = {  # name: (file name, bytes, what the ERROR line says); the test lowers the limits to 1 MB and 100 files
    "text renamed .zip": ("submission.zip", b"not a zip", "is not a zip file"),
    "truncated zip": ("submission.zip", _zip_bytes({"predictions.csv": b"id,target\n" * 100})[:60], "is not a zip file"),
    "damaged member": ("submission.zip", _damaged_zip(), "'predictions.csv' is damaged inside the zip"),
    "bare predictions.csv": ("predictions.csv", b"id,target\n", "is a single file, not a folder or a zip"),
    "bare model.py": ("model.py", b"class Model: pass\n", "zip it first"),
    "empty file": ("submission.zip", b"", "is not a zip file"),
    "encrypted member": ("submission.zip", _encrypted_zip(), "is encrypted"),
    "zip bomb": ("submission.zip", _zip_bytes({"model.py": b"\n" * 5_000_000}), "unpacks to 4.8 MiB (1,0"),
    "too many files": ("submission.zip", _zip_bytes({f"f{i}.txt": b"" for i in range(101)}), "holds 101 files (limit 100)"),
}


@pytest.mark.parametrize("name", sorted(RUNNER_INPUTS))
def test_the_runner_refuses_a_submission_it_cannot_read_in_one_line(name, tools, tmp_path, capsys, monkeypatch):
    file_name, data, says = RUNNER_INPUTS[name]
    monkeypatch.setattr(tools.run_local, "MAX_UNPACKED", 1_000_000)
    monkeypatch.setattr(tools.run_local, "MAX_ENTRIES", 100)
    submission = tmp_path / file_name
    submission.write_bytes(data)
    assert tools.run_local.main(["--submission", str(submission), "--runs", str(tmp_path / "runs"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR: ") and says in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()


BAD_METADATA = {  # name: (the submission's metadata.yaml, what the step's failure says)
    "an alias bomb as the command": (BILLION_LAUGHS + "command: *i\n", "`command` is a list; write it as one line of text"),
    "a megabyte of comment": ("command: python3 model.py\n#" + "x" * 1_000_000 + "\n", "1,000,028 bytes; it holds a command"),
    "not YAML": ("command: [unclosed\n", "is not valid UTF-8 YAML (while parsing a flow sequence"),
    "nested ten thousand deep": ("command: " + "[" * 10_000 + "]" * 10_000 + "\n", "is not valid UTF-8 YAML"),
    "a number as the command": ("command: 3\n", "`command` is a int"),
}


@pytest.mark.parametrize("name", sorted(BAD_METADATA))
def test_a_submissions_metadata_the_worker_would_choke_on_fails_the_step_in_one_line(name, tools, tmp_path, dev_phase):
    text, says = BAD_METADATA[name]
    folder = submission(tmp_path, {"metadata.yaml": text, "model.py": "class Model: pass\n"})
    with pytest.raises(tools.worker.StepFailed) as failure:
        tools.worker.run_prediction_step(dev_phase.tasks[0], dev_phase, folder, tmp_path / "run",
                                         tools.executors.LocalExecutor(tmp_path / "run", echo=None))
    message = str(failure.value)
    assert message.startswith("the submission's metadata.yaml") and says in message and len(message) < 600, message


def test_zip_entries_that_climb_out_are_unpacked_inside_as_on_the_worker(tools, tmp_path, dev_phase):
    archive = tmp_path / "climb.zip"
    archive.write_bytes(_zip_bytes({"../../escaped.txt": b"x", "/tmp/absolute-escape.txt": b"x", "predictions.csv": b"id\n"}))
    run_dir = tmp_path / "deep" / "run"
    step = tools.worker.run_prediction_step(dev_phase.tasks[0], dev_phase, archive, run_dir,
                                            tools.executors.LocalExecutor(run_dir, echo=None))
    assert (step.output.parent / "program" / "escaped.txt").is_file()  # and copied to the output: a result submission
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "deep" / "escaped.txt").exists()
    assert (step.output.parent / "program" / "tmp" / "absolute-escape.txt").is_file()


def test_a_named_pipe_given_as_the_submission_is_refused_not_read(tools, tmp_path, capsys):
    os.mkfifo(tmp_path / "submission.zip")
    assert tools.run_local.main(["--submission", str(tmp_path / "submission.zip"), "--runs", str(tmp_path / "runs"), "--quiet"]) == 2
    assert "is neither a folder nor a file (a pipe or a device?)" in capsys.readouterr().err


def test_a_fifo_in_a_submission_folder_is_left_out_not_read(tools, tmp_path):
    """Reading a named pipe would wait for a writer forever; a zip cannot hold one, so it is not copied."""
    folder = submission(tmp_path, {"predictions.csv": "id\n"})
    os.mkfifo(folder / "pipe")
    tools.zips.extract(folder, tmp_path / "copy")
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == ["predictions.csv"]


# -- what a step starts, and what it reaches --------------------------------------------------
ESCAPE_NEW_SESSION = ("import subprocess, sys; child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], "
                      "start_new_session=True); print(child.pid, flush=True)")
ESCAPE_SAME_GROUP = ("import subprocess, sys; child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
                     "print(child.pid, flush=True)")


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # killed, waiting for its (new) parent to reap it


@pytest.mark.parametrize("escape", [ESCAPE_NEW_SESSION, ESCAPE_SAME_GROUP], ids=["new session", "same group"])
def test_children_a_step_leaves_behind_are_stopped_with_it(escape, tools, tmp_path):
    """A program that starts a child which outlives it (holding its output open) no longer keeps the run waiting."""
    executor = tools.executors.LocalExecutor(tmp_path, echo=None)
    out = tmp_path / "out"
    out.mkdir()
    container = tools.executors.Container("t", ["python3", "-c", escape], {"/app/program": out, "/app/output": out})
    started = time.monotonic()
    completed = executor.run(container, timeout=60)
    assert time.monotonic() - started < 15
    assert completed.exit_code == 0
    child = int(completed.stdout.split()[0])
    deadline = time.monotonic() + 5
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child)


def test_a_step_sees_a_home_and_a_temporary_folder_of_its_own(tools, tmp_path):
    executor = tools.executors.LocalExecutor(tmp_path, echo=None)
    out = tmp_path / "out"
    out.mkdir()
    script = "import os, pathlib, tempfile; print(pathlib.Path.home()); print(tempfile.gettempdir()); print(os.environ.get('USER'))"
    completed = executor.run(tools.executors.Container("t", ["python3", "-c", script], {"/app/program": out, "/app/output": out}), 30)
    home, temporary, user = completed.stdout.split("\n")[:3]
    assert Path(home).is_relative_to(tmp_path) and Path(temporary).is_relative_to(tmp_path)
    assert user == "None"


SIGTERM_PARENT = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import executors
out = Path(sys.argv[2])
out.mkdir()
script = "import os, signal, time; os.kill(os.getppid(), signal.SIGTERM); time.sleep(60)"
done = executors.LocalExecutor(out.parent, echo=None).run(
    executors.Container("t", ["python3", "-c", script], {"/app/program": out, "/app/output": out}), 60)
print(json.dumps({"exit_code": done.exit_code, "elapsed": done.elapsed, "stderr": done.stderr}))
"""


def test_a_program_that_sends_sigterm_to_the_runner_stops_its_step_not_the_runner(bundle, tmp_path):
    done = run([PYTHON, "-c", SIGTERM_PARENT, str(bundle / "tools"), str(tmp_path / "out")], cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["exit_code"] != 0 and result["elapsed"] < 15
    assert "received SIGTERM during this step" in result["stderr"]


SPY_MODEL = '''import os
from pathlib import Path

import numpy as np
import pandas as pd


class Model:
    def fit(self, X, y):
        here = Path.cwd().resolve()
        found = [str(p) for parent in here.parents for p in [parent / "data" / "dev" / "reference_data"] if p.exists()]
        print("SPY", here, Path.home(), found, flush=True)
        self.classes = sorted(pd.unique(y))

    def predict(self, X):
        return pd.DataFrame(np.full((len(X), len(self.classes)), 1 / len(self.classes)), columns=self.classes)
'''


def test_a_local_run_happens_outside_the_bundle_and_is_kept_in_runs(bundle, code_mode, tmp_path):
    if not code_mode:
        pytest.skip("result submissions only")
    spy = submission(tmp_path, {"model.py": SPY_MODEL})
    done = run([PYTHON, "tools/run_local.py", "--submission", str(spy), "--runs", str(tmp_path / "runs")], cwd=bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    here, home, found = re.search(r"SPY (\S+) (\S+) (\[.*\])", done.stdout).groups()
    assert not Path(here).is_relative_to(bundle.resolve()) and not Path(home).is_relative_to(bundle.resolve())
    assert found == "[]"
    page = re.search(r"detailed results: (\S+)", done.stdout).group(1)
    assert Path(page).is_file() and Path(page).is_relative_to(tmp_path / "runs")


def test_the_runner_refuses_a_submission_folder_with_a_link(tools, tmp_path, capsys):
    folder = submission(tmp_path, {"model.py": "class Model: pass\n"})
    (folder / "data.csv").symlink_to("/etc/passwd")
    assert tools.run_local.main(["--submission", str(folder), "--runs", str(tmp_path / "runs"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR: ") and "holds a link (data.csv -> /etc/passwd)" in err
