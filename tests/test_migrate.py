"""`make migrate`: CodaLab (v1.5) bundles into this template's layout, and the validator on v1.5 bundles.

The four official CodaLab example bundles (../shared/vendor/codalab-v1.5-examples, codalab/competition-examples
at c3e74511) are migrated and every mapped field is compared with their competition.yaml; their sample
submissions run through the migrated bundle and are scored as the original scoring program scores them; the
result is zipped. Small v1.5 bundles written here cover each mapping rule and each refusal.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from conftest import PYTHON, TEMPLATE, run
from test_container_mode import engine  # noqa: F401 (the fixture: docker or podman, skipped when absent)

EXAMPLES = TEMPLATE.parent / "shared" / "vendor" / "codalab-v1.5-examples"
BUNDLES = {
    "Iris": ("Iris__iris_competition_bundle.zip", ["Iris__sample_code_submission.zip", "Iris__sample_result_submission.zip"]),
    "Compute_pi": ("Compute_pi__compute_pi_competition_bundle.zip", ["Compute_pi__compute_pi_sample_submission.zip"]),
    "GPU_test": ("GPU_test__bundle.zip", ["GPU_test__submission.zip"]),
    "Yellow_world": ("Yellow_world__yellow_world_competition_bundle.zip", ["Yellow_world__yellow_world_sample_submission.zip"]),
}
CODALAB_DEFAULTS = {"max_submissions": 100, "max_submissions_per_day": 999, "execution_time_limit": 300}
JUNK = re.compile(r"(^|/)(__MACOSX|\.DS_Store|\._[^/]*|__pycache__|\.ipynb_checkpoints)(/|$)|\.pyc$")


# -- helpers ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pristine(bake) -> Path:
    """A bake of this module's own: other tests run `make data` in the shared default one, and a bundle whose
    pages `make data` rewrote is no longer as baked."""
    return bake()


@pytest.fixture
def fresh(pristine, tmp_path) -> Path:
    """A fresh bake, copied with its files' times (a bake writes them all within seconds)."""
    root = tmp_path / pristine.name
    shutil.copytree(pristine, root)
    return root


def migrate(root: Path, source: Path, *options: str) -> subprocess.CompletedProcess:
    return run([PYTHON, "tools/migrate.py", "--source", str(source), *options], cwd=root, timeout=300)


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def original_yaml(zip_path: Path) -> dict:
    with zipfile.ZipFile(zip_path) as archive:
        return yaml.safe_load(archive.read("competition.yaml"))


def utc(value) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value
    else:
        value = datetime.combine(value, datetime.min.time())
    return f"{value:%Y-%m-%d %H:%M:%S}"


def zip_files(archive: zipfile.ZipFile, name: str) -> dict[str, bytes]:
    with zipfile.ZipFile(archive.open(name)) as inner:
        return {n: inner.read(n) for n in inner.namelist() if not n.endswith("/") and not JUNK.search(n)}


def folder_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def write_v15(folder: Path, competition: dict, files: dict[str, bytes] | None = None, name: str = "old.zip") -> Path:
    """A v1.5 bundle zip: competition.yaml, the pages, a logo and program/data zips, unless `files` says otherwise."""
    files = {"overview.html": b"<p>Overview</p>", "terms.html": b"<p>Terms</p>", "data.html": b"<p>Data</p>",
             "evaluation.html": b"<p>How</p>", "logo.png": (TEMPLATE / "{{cookiecutter.slug}}" / "logo.png").read_bytes(),
             "scoring_program.zip": program_zip({"metadata": b"command: python3 $program/score.py $input $output\n",
                                                 "score.py": SCORER}),
             "reference_data.zip": program_zip({"truth.txt": b"42\n"}), **(files or {})}
    target = folder / name
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("competition.yaml", yaml.safe_dump(competition, sort_keys=False))
        for file_name, data in files.items():
            if data is not None:
                archive.writestr(file_name, data)
    return target


def program_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


SCORER = b"""import os, sys
truth = open(os.path.join(sys.argv[1], 'ref', 'truth.txt')).read().strip()
answer = open(os.path.join(sys.argv[1], 'res', 'answer.txt')).read().strip()
open(os.path.join(sys.argv[2], 'scores.txt'), 'w').write('correct: %d\\n' % (truth == answer))
"""


def small(**changes) -> dict:
    """A valid v1.5 competition, with `changes` applied (None removes a key)."""
    competition = {
        "title": "Small", "description": "A small one", "image": "logo.png", "has_registration": False,
        "html": {"overview": "overview.html", "evaluation": "evaluation.html", "terms": "terms.html", "data": "data.html"},
        "phases": {1: {"phasenumber": 1, "label": "First", "start_date": datetime(2027, 1, 10, 9, 30),
                       "scoring_program": "scoring_program.zip", "reference_data": "reference_data.zip"},
                   2: {"phasenumber": 2, "label": "Second", "start_date": datetime(2027, 2, 10, 9, 30),
                       "scoring_program": "scoring_program.zip", "reference_data": "reference_data.zip"}},
        "leaderboard": {"leaderboards": {"Results": {"label": "Results", "rank": 1}},
                        "columns": {"correct": {"leaderboard": {"label": "Results", "rank": 1}, "label": "Correct",
                                                "rank": 1, "numeric_format": 1}}},
    }
    for key, value in changes.items():
        if value is None:
            competition.pop(key, None)
        else:
            competition[key] = value
    return competition


# -- the four official bundles -------------------------------------------------------------------------
@pytest.mark.parametrize("name", BUNDLES)
def test_each_official_bundle_keeps_every_field(name, fresh):
    bundle, samples = BUNDLES[name]
    source = EXAMPLES / bundle
    done = migrate(fresh, source, "--samples", ",".join(str(EXAMPLES / s) for s in samples))
    assert done.returncode == 0, done.stderr
    old, new = original_yaml(source), yaml.safe_load((fresh / "competition.yaml").read_text(encoding="utf-8"))
    assert new["version"] == 2 and new["title"] == old["title"] and new["description"] == old["description"]
    assert new["docker_image"] == old.get("competition_docker_image", "codalab/codalab-legacy:latest")
    assert new["registration_auto_approve"] is (not old.get("has_registration", False))
    assert new["enable_detailed_results"] is old["enable_detailed_results"] if "enable_detailed_results" in old else True
    assert (fresh / new["image"]).read_bytes() == zipfile.ZipFile(source).read(old["image"])

    with zipfile.ZipFile(source) as archive:
        assert (fresh / new["terms"]).read_bytes() == archive.read(old["html"]["terms"])
        titles = {"overview": "Overview", "evaluation": "Evaluation", "data": "Data"}
        assert [p["title"] for p in new["pages"]] == [titles[k] for k in ("overview", "evaluation", "data") if k in old["html"]]
        for page in new["pages"]:
            key = next(k for k, t in titles.items() if t == page["title"])
            assert (fresh / page["file"]).read_bytes() == archive.read(old["html"][key])  # HTML kept as HTML

        phases = sorted(old["phases"].values(), key=lambda p: p["phasenumber"])
        assert [p["name"] for p in new["phases"]] == [p["label"] for p in phases]
        for index, (was, now) in enumerate(zip(phases, new["phases"])):
            assert now["start"] == utc(was["start_date"])  # the time of day kept
            if index + 1 < len(phases):
                following = datetime.fromisoformat(utc(phases[index + 1]["start_date"]))
                assert now["end"] == f"{following - timedelta(minutes=1):%Y-%m-%d %H:%M:%S}"
            elif old.get("end_date"):
                assert now["end"] == utc(old["end_date"])
            else:
                assert "end" not in now
            for key, default in CODALAB_DEFAULTS.items():
                assert now[key] == was.get(key, default), key
            assert now.get("description") == was.get("description")
            assert bool(now.get("auto_migrate_to_this_phase")) == (bool(was.get("auto_migration")) and index > 0)
            task = next(t for t in new["tasks"] if t["index"] == now["tasks"][0])
            for role in ("scoring_program", "ingestion_program", "input_data", "reference_data"):
                assert (role in task) == (role in was), role
                if role in was:  # every file of the zip, unpacked as it was (macOS and Python leftovers aside)
                    assert folder_files(fresh / task[role]) == zip_files(archive, was[role]), role
            for role in ("public_data", "starting_kit"):
                assert (role in now) == (role in was), role

    board = new["leaderboards"][0]
    columns = sorted(old["leaderboard"]["columns"].items(), key=lambda item: item[1].get("rank", 0))
    assert [c["key"] for c in board["columns"]] == [key for key, _ in columns]
    assert [c["title"] for c in board["columns"]] == [c.get("label", k) for k, c in columns]
    assert [c["sorting"] for c in board["columns"]] == [c.get("sort", "desc") for _, c in columns]
    assert [c["precision"] for c in board["columns"]] == [int(c.get("numeric_format", 2)) for _, c in columns]
    assert board["submission_rule"] == ("Force_Last" if old.get("force_submission_to_leaderboard") else "Add_And_Delete")
    assert new["solutions"], "the sample submissions are the bundle's solutions"

    report = (fresh / "MIGRATION.md").read_text(encoding="utf-8")
    for key in old:  # every v1.5 key is named in the report
        assert f"`{key}" in report or key in ("html", "phases", "leaderboard"), key
    for number, phase in old["phases"].items():
        for key in phase:
            if key != "phasenumber":
                assert f"`phases.{number}.{key}`" in report, (number, key)
    assert (fresh / "before_migration").is_dir() and not (fresh / "data.yaml").exists()
    assert "Adopting this template's own programs later" in (fresh / "README.md").read_text(encoding="utf-8")


def test_the_validator_reads_the_official_bundles_with_codabench_texts(tools):
    validate = tools.validate_bundle.validate
    iris = validate(EXAMPLES / BUNDLES["Iris"][0])
    codes = {f.code for f in iris}
    assert {"CB143", "CB144", "CB146"} <= codes  # times dropped, a day's gap, the leaderboard rule ignored
    assert "CB001" not in codes and "CB003" not in codes  # read as v1.5, not as a broken version 2
    yellow = validate(EXAMPLES / BUNDLES["Yellow_world"][0])
    (python2,) = [f for f in yellow if f.code == "CB038"]
    assert "evaluate.py line 13" in python2.message and "Python 2" in python2.message and "print(...)" in python2.fix
    assert python2.path == "phases.1.scoring_program"  # named by its v1.5 key
    gpu = validate(EXAMPLES / BUNDLES["GPU_test"][0])
    assert any(f.code == "CB059" for f in gpu.errors)


# -- scores: the migrated bundle as the original program -----------------------------------------------------
# The Iris programs were written for codalab-legacy:py37 (numpy 1.17, PyYAML 5.1). The tests' Python has a numpy
# of 1.24 or later and PyYAML 6, where two of their calls are gone: this shim puts back what py37 still had, for the original
# program and for the migrated run alike, so that both are compared in the same environment.
SHIM = """import numpy, yaml
numpy.float, numpy.int = float, int
_load = yaml.load
yaml.load = lambda stream, Loader=yaml.FullLoader, **kw: _load(stream, Loader=Loader, **kw)
"""


@pytest.fixture
def py37_like(tmp_path) -> Path:
    folder = tmp_path / "shim"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(SHIM)
    python = folder / "python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH="{folder}" exec "{PYTHON}" "$@"\n')
    python.chmod(0o755)
    return python


def run_migrated(root: Path, phase: str, submission: Path, python: Path | str = PYTHON) -> tuple[dict, Path]:
    done = run([PYTHON, "tools/run_local.py", "--phase", phase, "--submission", str(submission), "--python", str(python),
                "--quiet"], cwd=root, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    folder = sorted((root / "runs").iterdir(), key=lambda p: p.stat().st_mtime)[-1]
    (task,) = folder.glob("task*")  # one task per migrated phase
    scores = yaml.safe_load((task / "scoring" / "output" / "scores.txt").read_text())
    return scores, task


def original_scores(source: Path, program_zip: str, reference_zip: str, predictions: Path, work: Path,
                    python: Path | str, fix=None) -> dict:
    """The v1.5 bundle's own scoring program, straight from its zip: `python score.py input output`; `fix(folder)`
    first, for a Python 2 program (the fixes the migration report asks for)."""
    with zipfile.ZipFile(source) as archive:
        for name, target in ((program_zip, work / "program"), (reference_zip, work / "input" / "ref")):
            target.mkdir(parents=True)
            with zipfile.ZipFile(archive.open(name)) as inner:
                inner.extractall(target)
    if fix:
        fix(work / "program")
    shutil.copytree(predictions, work / "input" / "res")
    (work / "output").mkdir()
    command = yaml.safe_load((work / "program" / "metadata").read_text())["command"].split()
    assert command[0] == "python"
    argv = [str(python), *[a.replace("$program", str(work / "program")).replace("$input", str(work / "input"))
                          .replace("$output", str(work / "output")) for a in command[1:]]]
    done = subprocess.run(argv, cwd=work / "program", capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load((work / "output" / "scores.txt").read_text())


@pytest.mark.slow
def test_iris_sample_submissions_score_as_the_original_program(fresh, py37_like, tmp_path):
    source = EXAMPLES / BUNDLES["Iris"][0]
    assert migrate(fresh, source).returncode == 0
    for phase, reference in (("Development", "reference_data_1.zip"), ("Final", "reference_data_2.zip")):
        for sample in ("starting_kit/sample_result_submission", "starting_kit/sample_code_submission"):
            scores, task = run_migrated(fresh, phase, fresh / sample, py37_like)
            # the original scoring program on what the migrated prediction step handed to scoring
            before = original_scores(source, "scoring_program.zip", reference, task / "prediction" / "output",
                                     tmp_path / f"{phase}-{Path(sample).name}", py37_like)
            assert scores["set1_score"] == before["set1_score"] and scores["set1_score"] > 0, (phase, sample, scores)
            print(phase, sample, scores)
            assert math.isfinite(scores["Duration"])


@pytest.mark.slow
def test_the_report_names_the_lines_newer_libraries_break_and_its_fix_works(fresh, tmp_path, py37_like):
    source = EXAMPLES / BUNDLES["Iris"][0]
    done = migrate(fresh, source)
    assert "scoring_program/libscores.py line 48: a numpy alias of a Python type, gone since numpy 1.24" in done.stdout
    assert "scoring_program/score.py line 120: yaml.load without a Loader" in done.stdout
    # On this machine's numpy the scoring program catches its own error and writes -1: the silent wrong score
    # the report warns of.
    silent, _ = run_migrated(fresh, "Final", fresh / "starting_kit/sample_result_submission")
    assert silent["set1_score"] < 0  # its "missing score", -0.999999
    noted = run([PYTHON, "tools/run_local.py", "--quiet"], cwd=fresh)  # and the runner says why it may be so
    assert "note: the programs run on this machine's Python with much newer libraries than codalab/codalab-legacy:py37" \
        in noted.stdout and "numpy" in noted.stdout and "make run ENGINE=docker" in noted.stdout
    apply_fixes(fresh, done.stdout)
    fixed, _ = run_migrated(fresh, "Final", fresh / "starting_kit/sample_result_submission")
    as_py37, _ = run_migrated(fresh, "Final", fresh / "starting_kit/sample_result_submission", py37_like)
    assert fixed["set1_score"] == as_py37["set1_score"] > 0


def apply_fixes(root: Path, report: str) -> None:
    """The organizer applies each fix the report names for a removed numpy alias or yaml.load without a Loader."""
    for line in report.splitlines():
        found = re.search(r"TO FIX  \w+: (\S+) line (\d+): (a numpy alias|yaml.load without)", line)
        if found:
            path, number = root / found.group(1), int(found.group(2))
            lines = path.read_text().splitlines(keepends=True)
            lines[number - 1] = (re.sub(r"\bnp\.float\b", "float", re.sub(r"\bnp\.int\b", "int", lines[number - 1]))
                                 if found.group(3).startswith("a numpy") else
                                 re.sub(r"yaml\.load\((.*)\)", r"yaml.load(\1, Loader=yaml.FullLoader)", lines[number - 1]))
            path.write_text("".join(lines))


@pytest.mark.slow
def test_iris_runs_in_the_current_image_once_fixed(engine, fresh, py37_like):
    """make migrate IMAGE=current: the programs run in codalab/codalab-legacy:py312 (its stand-in here) as the worker
    runs them, and score as the original does, once the report's fixes are in."""
    done = migrate(fresh, EXAMPLES / BUNDLES["Iris"][0], "--image", "current")
    assert done.returncode == 0 and "breaks in codalab/codalab-legacy:py312 (numpy 1.26.4)" in done.stdout, done.stdout
    as_py37, _ = run_migrated(fresh, "Final", fresh / "starting_kit/sample_code_submission", py37_like)
    apply_fixes(fresh, done.stdout)
    ran = run([PYTHON, "tools/run_local.py", "--engine", engine, "--pull", "never", "--phase", "Final", "--quiet"],
              cwd=fresh, timeout=900)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    shown = re.search(r"Prediction score\s+(-?[\d.]+)", ran.stdout)
    assert shown and shown.group(1) == f"{as_py37['set1_score']:.4f}", ran.stdout  # as the leaderboard rounds it


def python3_fixes(path: Path) -> None:
    """What the report asks of a Python 2 file, done as an organizer would: print(...), text files opened 'w'."""
    text = path.read_text()
    text = re.sub(r"^(\s*)print (.+)$", r"\1print(\2)", text, flags=re.M)
    text = text.replace("'wb'", "'w'").replace('"correct:1"', '"correct: 1"').replace('"correct:0"', '"correct: 0"')
    path.write_text(text)


@pytest.mark.slow
def test_python2_programs_are_named_with_the_line_and_run_once_fixed(fresh, tmp_path):
    source = EXAMPLES / BUNDLES["Yellow_world"][0]
    sample = EXAMPLES / BUNDLES["Yellow_world"][1][0]
    done = migrate(fresh, source, "--samples", str(sample))
    assert done.returncode == 0, done.stderr
    assert "scoring_program/evaluate.py line 13: SyntaxError: Missing parentheses in call to 'print'" in done.stdout
    assert "it is Python 2" in done.stdout and "print(...)" in done.stdout
    failed = run([PYTHON, "tools/run_local.py", "--quiet"], cwd=fresh)
    assert failed.returncode == 1
    assert "/app/program/evaluate.py, line 13: SyntaxError: Missing parentheses in call to 'print'" in failed.stdout

    program = fresh / "scoring_program" / "evaluate.py"
    text = program.read_text()
    program.write_text(re.sub(r"^(\s*)print (.+)$", r"\1print(\2)", text, flags=re.M).replace("'wb'", "'w'"))
    colon = run([PYTHON, "tools/run_local.py", "--quiet"], cwd=fresh)  # `correct:1` is one string to YAML
    assert colon.returncode == 1 and "YAML needs a space after the colon; write `correct: 1`" in colon.stdout

    python3_fixes(program)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "answer.txt").write_text("Goodbye World!")
    for submission, expected in ((fresh / "solutions" / "Yellow_world__yellow_world_sample_submission", 1), (wrong, 0)):
        scores, task = run_migrated(fresh, "0", submission)
        before = original_scores(source, "scoring_program.zip", "reference_data.zip", task / "prediction" / "output",
                                 tmp_path / f"original-{expected}", PYTHON,
                                 fix=lambda folder: python3_fixes(folder / "evaluate.py"))
        assert scores == before == {"correct": expected}
    assert migrate(fresh, source, "--force", "--start", "2030-01-10", "--samples", str(sample)).returncode == 0
    python3_fixes(program)
    built = run([PYTHON, "tools/make_bundle.py", "--dist", str(tmp_path / "dist")], cwd=fresh, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr


@pytest.mark.slow
def test_compute_pi_scores_as_its_fixed_original_on_every_phase_and_zips(fresh, tmp_path):
    source = EXAMPLES / BUNDLES["Compute_pi"][0]
    done = migrate(fresh, source, "--samples", str(EXAMPLES / BUNDLES["Compute_pi"][1][0]), "--start", "2030-01-10")
    assert "scoring_program/evaluate.py line 11" in done.stdout and "starting_kit/compute_pi.py line 63" in done.stdout
    for path in (fresh / "scoring_program" / "evaluate.py", fresh / "starting_kit" / "compute_pi.py"):
        python3_fixes(path)
    # CB034 in the report: CodaLab's worker gave a code submission its input as $input, Codabench's mounts no
    # /app/input in the prediction step; the sample only prints the folder, so it takes one that exists there
    assert "starting_kit/metadata`: CB034 (error): /app/input is not mounted" in (fresh / "MIGRATION.md").read_text()
    metadata = fresh / "starting_kit" / "metadata"
    metadata.write_text(metadata.read_text().replace("$input", "/app/program"))
    for phase in ("Development", "Feed-back", "Final test"):
        scores, task = run_migrated(fresh, phase, fresh / "starting_kit")
        before = original_scores(source, "program.zip", "reference.zip", task / "prediction" / "output",
                                 tmp_path / phase, PYTHON, fix=lambda folder: python3_fixes(folder / "evaluate.py"))
        assert scores == before and scores["Difference"] >= 0, (phase, scores, before)
    built = run([PYTHON, "tools/make_bundle.py", "--dist", str(tmp_path / "dist")], cwd=fresh, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr


@pytest.mark.slow
def test_a_gpu_competition_goes_to_its_own_queue_and_names_what_this_machine_lacks(bake, tmp_path):
    queue = "0b1d2c3a-1111-2222-3333-444455556666"
    root = bake(queue=queue)
    done = migrate(root, EXAMPLES / BUNDLES["GPU_test"][0], "--samples", str(EXAMPLES / BUNDLES["GPU_test"][1][0]))
    assert done.returncode == 0, done.stderr
    competition = yaml.safe_load((root / "competition.yaml").read_text())
    assert competition["queue"] == queue and competition["docker_image"] == "codalab/codalab-legacy:gpu"
    assert "needs a GPU" not in done.stdout  # the bake's queue is kept: the organizer's own GPU workers
    ran = run([PYTHON, "tools/run_local.py", "--quiet"], cwd=root)  # no torch, no GPU here: said, not hidden
    assert ran.returncode == 1 and "ModuleNotFoundError: No module named 'torch'" in ran.stdout, ran.stdout
    # make bundle runs the sample first (no torch here): the zip alone, as it writes it, then the validator on it
    zipped = tmp_path / "bundle.zip"
    written = run([PYTHON, "-c", "import sys; from pathlib import Path; sys.path.insert(0, 'tools'); "
                   "from make_bundle import write_bundle; write_bundle(Path('.'), Path(sys.argv[1]))", str(zipped)], cwd=root)
    assert written.returncode == 0, written.stderr
    checked = run([PYTHON, "tools/validate_bundle.py", "--json", str(zipped)], cwd=root)
    codes = {finding["code"] for finding in json.loads(checked.stdout) if finding["severity"] == "error"}
    assert codes == {"CB034"}, checked.stdout  # the sample's `$input`, not mounted on Codabench: MIGRATION.md says so
    assert "CB034" in (root / "MIGRATION.md").read_text()


def test_a_migrated_bundle_validates_zips_and_its_tests_pass(fresh, tmp_path):
    source = EXAMPLES / BUNDLES["Iris"][0]
    assert migrate(fresh, source, "--start", "2030-01-15 18:53").returncode == 0
    competition = yaml.safe_load((fresh / "competition.yaml").read_text())
    assert [p["start"] for p in competition["phases"]] == ["2030-01-15 18:53:00", "2030-02-15 18:53:00"]
    findings = run([PYTHON, "tools/validate_bundle.py"], cwd=fresh)
    assert findings.returncode == 0 and "No findings" in findings.stdout, findings.stdout
    built = run([PYTHON, "tools/make_bundle.py", "--dist", str(tmp_path / "dist")], cwd=fresh, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    with zipfile.ZipFile(tmp_path / "dist" / "bundle.zip") as archive:
        names = archive.namelist()
    assert names[0] == "competition.yaml" or "competition.yaml" in names
    assert not any(n.startswith(("before_migration", "tools/", "tests/", "MIGRATION.md")) for n in names)
    assert sorted(p.name for p in (tmp_path / "dist" / "submissions").iterdir()) == [
        "sample_code_submission.zip", "sample_result_submission.zip"]
    zipped = run([PYTHON, "tools/validate_bundle.py", str(tmp_path / "dist" / "bundle.zip")], cwd=fresh)
    assert zipped.returncode == 0 and "No findings" in zipped.stdout, zipped.stdout
    suite = run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=fresh, timeout=900)
    assert suite.returncode == 0 and " passed" in suite.stdout, suite.stdout[-3000:]


# -- refusals: nothing written ---------------------------------------------------------------------------
REFUSALS = {
    "no-html": (small(html=None), {}, "HTML pages could not be found in the yaml file"),
    "no-terms": (small(html={"overview": "overview.html"}), {}, "'A file containing the terms of the competition could not"),
    "missing-page": (small(), {"data.html": None}, "Could not find file for page: data"),
    "no-phases": (small(phases=None), {}, "phases:"),
    "no-start": (small(phases={1: {"phasenumber": 1, "label": "A", "scoring_program": "scoring_program.zip"}}), {},
                 "phases.1.start_date: missing"),
    "bad-date": (small(phases={1: {"phasenumber": 1, "label": "A", "start_date": "soon", "scoring_program": "scoring_program.zip"}}),
                 {}, "phases.1.start_date: 'soon' is not a date"),
    "no-leaderboard": (small(leaderboard=None), {}, "Could not find leaderboard in the competition yaml"),
    "missing-zip": (small(), {"reference_data.zip": None}, "phases.1.reference_data: 'reference_data.zip' is not in the bundle"),
    "codalab-key": (small(phases={1: {"phasenumber": 1, "label": "A", "start_date": datetime(2027, 1, 1),
                                      "scoring_program": "scoring_program.zip",
                                      "reference_data": "0b1d2c3a-1111-2222-3333-444455556666"}}), {},
                    "a CodaLab dataset key or a missing zip"),
    "end-before-start": (small(end_date=datetime(2027, 1, 20)), {}, "end_date: 2027-01-20 00:00:00 is not after"),
    "long-key": (small(leaderboard={"leaderboards": {"R": {"label": "R", "rank": 1}},
                                    "columns": {"k" * 40: {"leaderboard": {"label": "R"}, "label": "L"}}}), {},
                 "the key is 40 characters, Codabench takes 36"),
    "climbing-entry": (small(), {"scoring_program.zip": program_zip({"metadata": b"command: x\n", "../evil.py": b"x"})},
                       "which would land outside its folder"),
    "version-2": (small(version=2, html=None, leaderboard=None), {}, "is not a CodaLab (v1.5) bundle"),
    "page-outside": (small(html={"terms": "terms.html", "overview": "../../../../etc/hostname"}), {},
                     "html.overview: '../../../../etc/hostname' leads outside the bundle"),
    "image-outside": (small(image="/etc/hostname"), {}, "image: '/etc/hostname' leads outside the bundle"),
    "program-outside": (small(phases={1: {"phasenumber": 1, "label": "A", "start_date": datetime(2027, 1, 1),
                                          "scoring_program": "../../../../etc"}}), {}, "phases.1.scoring_program: "),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_bundle_that_cannot_work_is_refused_and_nothing_is_written(case, fresh, tmp_path):
    competition, files, says = REFUSALS[case]
    source = write_v15(tmp_path, competition, files)
    before = snapshot(fresh)
    done = migrate(fresh, source)
    assert done.returncode == 1 and says in done.stderr and "nothing was written" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert snapshot(fresh) == before


def test_a_changed_bundle_is_refused_unless_forced(fresh, tmp_path):
    source = write_v15(tmp_path, small())
    page = fresh / "pages" / "overview.md"
    page.write_text(page.read_text() + "\nMy own words.\n")
    later = page.stat().st_mtime + 3600
    os.utime(page, (later, later))
    before = snapshot(fresh)
    refused = migrate(fresh, source)
    assert refused.returncode == 1 and "pages/overview.md changed after the bake" in refused.stderr
    assert "FORCE=1" in refused.stderr and snapshot(fresh) == before
    forced = migrate(fresh, source, "--force")
    assert forced.returncode == 0, forced.stderr
    (kept,) = (fresh / "before_migration").iterdir()
    assert "My own words." in (kept / "pages" / "overview.md").read_text()  # nothing lost
    again = migrate(fresh, source)
    assert again.returncode == 1 and "it was migrated already" in again.stderr


# -- mapping rules -------------------------------------------------------------------------------------
def migrated(fresh: Path, tmp_path: Path, competition: dict, files: dict | None = None, *options: str) -> tuple[dict, str]:
    done = migrate(fresh, write_v15(tmp_path, competition, files), *options)
    assert done.returncode == 0, done.stderr
    return (yaml.safe_load((fresh / "competition.yaml").read_text()), (fresh / "MIGRATION.md").read_text())


def test_leaderboard_rules(fresh, tmp_path):
    columns = {
        "a": {"leaderboard": {"label": "Results"}, "label": "A", "rank": 2, "sort": "asc", "numeric_format": "3"},
        "b": {"leaderboard": {"label": "Results"}, "rank": 1, "selection_default": 1},
        "avg": {"leaderboard": {"label": "Results"}, "label": "Average", "rank": 3,
                "computed": {"operation": "Avg", "fields": "a, b", "weights": "0.3, 0.7"}},
        "mrr": {"leaderboard": {"label": "Other"}, "label": "MRR", "rank": 1, "computed": {"operation": "MRR", "fields": "a"},
                "column_group": {"label": "G"}},
    }
    competition, report = migrated(fresh, tmp_path, small(
        leaderboard={"leaderboards": {"Results": {"label": "Results", "rank": 1}, "Other": {"label": "Other", "rank": 2}},
                     "columns": columns}, force_submission_to_leaderboard=False))
    (board,) = competition["leaderboards"]
    assert [(c["key"], c["title"], c["sorting"], c["precision"]) for c in board["columns"]] == [
        ("b", "b", "desc", 2), ("a", "A", "asc", 3), ("avg", "Average", "desc", 2), ("mrr", "MRR", "desc", 2)]
    assert board["columns"][2]["computation"] == "avg" and board["columns"][2]["computation_indexes"] == [1, 0]
    assert "computation" not in board["columns"][3]
    assert board["primary_index"] == 0 and board["submission_rule"] == "Add_And_Delete"
    assert "`leaderboard.columns.avg.computed.weights`" in report and "CodaLab averaged the columns' ranks" in report
    assert "`leaderboard.columns.mrr.computed`" in report and "`leaderboard.columns.mrr.column_group`" in report
    assert "`leaderboard.leaderboards.Other`: its columns join leaderboards[0]" in report
    assert "`leaderboard.columns.b.label`: absent: the title is the key" in report


def test_phase_and_top_level_rules(fresh, tmp_path):
    phases = small()["phases"]
    phases[1].update(color="green", auto_migration=True, max_submissions_per_day=0, is_scoring_only=True,
                     ingestion_program="scoring_program.zip", datasets={1: {"name": "x", "url": "http://x"}},
                     leaderboard_management_mode="hide_results")
    phases[2].update(auto_migration=True, force_best_submission_to_leaderboard=True, execution_time_limit=900)
    competition, report = migrated(fresh, tmp_path, small(
        phases=phases, has_registration=None, admin_names="a,b", description="<b>bold</b> words", end_date="2027-03-01 12:00",
        enable_forum=False, something_else=1))
    first, second = competition["phases"]
    assert first["start"] == "2027-01-10 09:30:00" and first["end"] == "2027-02-10 09:29:00"
    assert second["end"] == "2027-03-01 12:00:00" and second["execution_time_limit"] == 900
    assert "auto_migrate_to_this_phase" not in first and second["auto_migrate_to_this_phase"] is True
    assert first["max_submissions"] == 100 and first["max_submissions_per_day"] == 0 and first["execution_time_limit"] == 300
    assert competition["registration_auto_approve"] is True and competition["forum_enabled"] is False
    assert competition["leaderboards"][0]["submission_rule"] == "Force_Best"
    for key in ("phases.1.color", "phases.1.datasets", "phases.1.leaderboard_management_mode", "admin_names",
                "something_else", "phases.1.auto_migration"):
        assert f"- `{key}`" in report.split("## Mapped")[0].split("## No Codabench equivalent")[1], key
    fixes = report.split("## No Codabench equivalent")[0]
    assert "`phases.1.max_submissions_per_day`" in fixes and "`phases.1.is_scoring_only`" in fixes
    assert "with HTML: Codabench renders it as Markdown with raw HTML" in report
    assert "`has_registration`: absent: on CodaLab anyone could take part" in report


def test_image_choice_and_kit_samples(fresh, tmp_path, pristine):
    kit = program_zip({"sample_result_submission/answer.txt": b"42\n", "sample_result_submission.zip":
                       program_zip({"answer.txt": b"42\n"}), "README.md": b"kit"})
    phases = small()["phases"]
    phases[1]["starting_kit"] = "starting_kit.zip"
    competition, report = migrated(fresh, tmp_path, small(phases=phases, competition_docker_image="codalab/codalab-legacy:py37"),
                                   {"starting_kit.zip": kit}, "--image", "current")
    baked = yaml.safe_load((pristine / "competition.yaml").read_text())
    assert competition["docker_image"] == baked["docker_image"]
    assert [s["path"] for s in competition["solutions"]] == ["starting_kit/sample_result_submission"]
    assert not (fresh / "starting_kit" / "sample_result_submission.zip").exists()  # a zip of the folder beside it
    assert "left out: the same files as starting_kit/sample_result_submission/" in report
    scores, _ = run_migrated(fresh, "First", fresh / "starting_kit" / "sample_result_submission")
    assert scores == {"correct": 1}


@pytest.mark.parametrize("code, competition, files", [
    ("CB140", small(), {"reference_data.zip": None}),
    ("CB141", small(html={"overview": "overview.html"}), {}),
    ("CB142", small(phases={1: {"phasenumber": 1, "label": "A", "start_date": datetime(2027, 1, 1),
                                "scoring_program": "scoring_program.zip", "reference_data": "reference_data.zip",
                                "max_submissions_per_day": 0}}), {}),
    ("CB143", small(), {}),
    ("CB144", small(), {}),
    ("CB145", small(has_registration=None), {}),
    ("CB146", small(force_submission_to_leaderboard=True), {}),
    ("CB147", small(leaderboard={"leaderboards": {"R": {"label": "R"}}, "columns": {
        "a": {"leaderboard": {"label": "R"}}, "m": {"leaderboard": {"label": "R"}, "computed": {"operation": "Avg", "fields": "a"}}}}), {}),
    ("CB148", small(leaderboard={"leaderboards": {"R": {"label": "R"}, "S": {"label": "S"}}, "columns": {
        "a": {"leaderboard": {"label": "R"}}, "b": {"leaderboard": {"label": "S"}}}}), {}),
    ("CB149", small(), {}),
    ("CB150", small(phases={1: {"phasenumber": 1, "label": "A", "start_date": datetime(2027, 1, 1),
                                "reference_data": "reference_data.zip"}}), {}),
])
def test_the_validator_names_each_v15_rule(code, competition, files, tools, tmp_path):
    findings = tools.validate_bundle.validate(write_v15(tmp_path, competition, files))
    matching = [f for f in findings if f.code == code]
    assert matching, [str(f) for f in findings]
    assert all(f.fix and f.path for f in matching)


def test_make_migrate_passes_its_variables_as_data(fresh, tmp_path):
    source = write_v15(tmp_path, small(title="It's $HOME; `x`"), name="old bundle's.zip")
    done = run(["make", "migrate", f"PYTHON={PYTHON}", f"SOURCE={source}", "START=2031-05-01"], cwd=fresh, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    competition = yaml.safe_load((fresh / "competition.yaml").read_text())
    assert competition["title"] == "It's $HOME; `x`" and competition["phases"][0]["start"] == "2031-05-01 00:00:00"
    assert run(["make", "-n", "run", f"PYTHON={PYTHON}"], cwd=fresh).returncode == 0  # no data.yaml: no make data


def test_careless_inputs_are_mapped_or_named(fresh, tmp_path):
    phases = small()["phases"]
    phases[1].update(phasenumber="1", max_submissions_per_person=3)
    phases[2].update(phasenumber="2")
    link = zipfile.ZipInfo("helper.py")
    link.external_attr = (0o120777 << 16)  # a symbolic link, as `zip -y` stores it
    scorer = program_zip({"metadata": b"command: python3 $program/score.py $input $output\n", "score.py": SCORER})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, zipfile.ZipFile(io.BytesIO(scorer)) as plain:
        for name in plain.namelist():
            archive.writestr(name, plain.read(name))
        archive.writestr(link, "/etc/passwd")
    competition, report = migrated(fresh, tmp_path, small(phases=phases), {"scoring_program.zip": buffer.getvalue()})
    assert [p["name"] for p in competition["phases"]] == ["First", "Second"] and competition["phases"][0]["max_submissions"] == 3
    assert "`phases.1.max_submissions_per_person`: 3 -> max_submissions (the key Codabench reads)" in report
    assert "`phases.1.max_submissions`" not in report  # the v1.5 bundle had no such key
    assert "holds the link helper.py -> /etc/passwd" in report
    assert (fresh / "scoring_program" / "helper.py").read_text() == "/etc/passwd"  # as Codabench's worker unpacks it


def test_a_program_with_a_metrics_module_of_its_own_is_the_organizers(fresh, tmp_path):
    """CodaLab scorers often have a metrics.py: the bundle is still a migrated one, not this template's programs."""
    scorer = program_zip({"metadata": b"command: python3 $program/score.py $input $output\n",
                          "score.py": b"import metrics\n" + SCORER, "metrics.py": b"def accuracy(a, b):\n    return a == b\n"})
    kit = program_zip({"sample_result_submission/answer.txt": b"42\n"})
    phases = small(start_date=None)["phases"]
    for phase in phases.values():
        phase["start_date"] = datetime(2030, 1, 10, 9, 30) if phase["phasenumber"] == 1 else datetime(2030, 2, 10, 9, 30)
    phases[1]["starting_kit"] = "starting_kit.zip"
    migrated(fresh, tmp_path, small(phases=phases, enable_detailed_results=True,
                                    competition_docker_image="codalab/codalab-legacy:py312"),
             {"scoring_program.zip": scorer, "starting_kit.zip": kit})
    checked = run([PYTHON, "tools/validate_bundle.py", "--run"], cwd=fresh)
    assert checked.returncode == 0 and "No findings" in checked.stdout, checked.stdout + checked.stderr
    ran = run([PYTHON, "tools/run_local.py", "--quiet"], cwd=fresh)
    assert ran.returncode == 0 and "Traceback" not in ran.stdout + ran.stderr, ran.stdout + ran.stderr
    for target in ("data", "sync", "bench"):
        done = run(["make", "-s", target, f"PYTHON={PYTHON}"], cwd=fresh)
        assert done.returncode != 0 and done.stderr.startswith(f"ERROR: make {target} works on this template's own"), done.stderr


def test_ranking_report_wording_and_the_bakes_image_after_a_second_migration(fresh, tmp_path, pristine):
    columns = {"avg": {"leaderboard": {"label": "Results"}, "label": "Average", "rank": 1,
                       "computed": {"operation": "Avg", "fields": "a, b"}},
               "a": {"leaderboard": {"label": "Results"}, "rank": 2}, "b": {"leaderboard": {"label": "Results"}, "rank": 3}}
    phases = small()["phases"]
    phases[1]["leaderboard_management_mode"] = "default"
    competition, report = migrated(fresh, tmp_path, small(
        phases=phases, competition_docker_image="codalab/codalab-legacy:py37", datasets={1: {"name": "x", "url": "http://x"}},
        leaderboard={"leaderboards": {"Results": {"label": "Results", "rank": 1}}, "columns": columns}),
        None, "--start", "2031-03-01")
    board = competition["leaderboards"][0]
    assert board["primary_index"] == 0 and board["columns"][0]["computation"] == "avg"  # CodaLab sorted by rank 1
    assert "ranked by 'avg' (the first column by rank)" in report
    assert "`phases.1.leaderboard_management_mode`: 'default': the leaderboard is shown" in report
    assert "`datasets`: " in report and "put them on a page" in report
    assert "(UTC, moved by START=)" in report and "time of day kept" not in report
    again = migrate(fresh, write_v15(tmp_path, small(competition_docker_image="codalab/codalab-legacy:py37"), name="b.zip"),
                    "--force", "--image", "current")
    assert again.returncode == 0, again.stderr
    baked = yaml.safe_load((pristine / "competition.yaml").read_text())["docker_image"]
    assert yaml.safe_load((fresh / "competition.yaml").read_text())["docker_image"] == baked != "codalab/codalab-legacy:py37"
    assert "What the migration replaced is in before_migration/" in again.stdout


def test_the_ingestion_programs_import_of_the_submission_is_not_a_missing_package(fresh):
    done = migrate(fresh, EXAMPLES / BUNDLES["Iris"][0], "--image", "current")
    assert done.returncode == 0 and "CB037" not in (fresh / "MIGRATION.md").read_text(), done.stdout


def test_dates_in_the_past_are_named_with_the_way_to_move_them(fresh, tmp_path):
    phases = small()["phases"]
    phases[1]["start_date"], phases[2]["start_date"] = datetime(2013, 6, 30), datetime(2013, 8, 30)
    competition, report = migrated(fresh, tmp_path, small(phases=phases))
    assert "every date is in the past (the last is 2013-08-30 00:00:00 UTC)" in report and "START=YYYY-MM-DD" in report


def test_an_empty_yaml_or_a_missing_sample_is_one_line(fresh, tmp_path):
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("competition.yaml", "")
    done = migrate(fresh, empty)
    assert done.returncode == 1 and done.stderr.startswith("ERROR: empty.zip: competition.yaml must hold a mapping")
    assert "/tmp" not in done.stderr.replace(str(tmp_path), "") and "(title, html, phases, leaderboard, ...)" in done.stderr
    done = migrate(fresh, write_v15(tmp_path, small()), "--samples", str(tmp_path / "nope.zip"))
    assert done.returncode == 1 and "does not exist" in done.stderr and "nothing was written" in done.stderr


def test_validating_another_bundle_writes_no_data_here(fresh):
    dry = run(["make", "-n", "validate", "BUNDLE=other.zip", f"PYTHON={PYTHON}"], cwd=fresh)
    assert dry.returncode == 0 and "prepare_data" not in dry.stdout and "validate_bundle.py" in dry.stdout


def test_the_commands_of_the_templates_own_programs_say_so_and_clean_keeps_the_organizers_files(fresh):
    assert migrate(fresh, EXAMPLES / BUNDLES["Iris"][0]).returncode == 0
    for target in ("data", "sync", "bench"):
        done = run(["make", "-s", target, f"PYTHON={PYTHON}"], cwd=fresh)
        assert done.returncode != 0 and "Traceback" not in done.stderr, (target, done.stderr)
        assert f"ERROR: make {target} works on this template's own programs" in done.stderr.splitlines()[0]
    before = snapshot(fresh)
    assert run(["make", "-s", "clean"], cwd=fresh).returncode == 0
    assert snapshot(fresh) == before and (fresh / "starting_kit" / "sample_result_submission" / "iris_test.predict").is_file()


def test_migrate_without_a_source_says_how(fresh):
    done = run([PYTHON, "tools/migrate.py"], cwd=fresh)
    assert done.returncode == 1 and "make migrate SOURCE=old_bundle.zip" in done.stderr


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
