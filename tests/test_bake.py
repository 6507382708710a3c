"""The default bake: exactly the expected files, no template leftovers, the configured values."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from conftest import DEFAULTS, TEMPLATE, expected_files


JINJA_MARKERS = re.compile(r"\{\{|\{%|%\}|\{#|#\}")
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".json", ".txt", ".html", ".ipynb", ".ini", ""}


def files_of(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_default_bake_has_exactly_the_expected_files(default_bundle):
    assert files_of(default_bundle) == expected_files("both")


def test_default_bake_is_named_after_the_derived_slug(default_bundle):
    assert default_bundle.name == "my_competition"


def test_no_template_syntax_is_left_in_any_generated_file(default_bundle):
    leftovers = []
    for name in sorted(files_of(default_bundle)):
        path = default_bundle / name
        if path.suffix not in TEXT_SUFFIXES:
            continue
        text = path.read_text(encoding="utf-8")
        if "cookiecutter" in text or JINJA_MARKERS.search(text):
            leftovers.append(name)
    assert leftovers == []


def test_every_template_file_is_rendered_or_deliberately_copied_verbatim():
    """A file with Jinja syntax must not be in _copy_without_render, or its markers would ship."""
    verbatim = DEFAULTS["_copy_without_render"]
    from fnmatch import fnmatch

    project = TEMPLATE / "{{cookiecutter.slug}}"
    for path in project.rglob("*"):
        relative = path.relative_to(project).as_posix()
        if path.is_file() and any(fnmatch(relative, pattern) for pattern in verbatim) and path.suffix != ".png":
            assert "{{ cookiecutter" not in path.read_text(encoding="utf-8"), relative


def test_competition_yaml_has_the_configured_values(default_bundle):
    competition = yaml.safe_load((default_bundle / "competition.yaml").read_text(encoding="utf-8"))
    assert competition["version"] == 2
    assert competition["title"] == DEFAULTS["title"]
    assert competition["description"] == "Predict the binary label of each row of a tabular dataset."
    assert competition["contact_email"] == DEFAULTS["contact_email"]
    assert competition["docker_image"] == "codalab/codalab-legacy:py312"
    assert competition["enable_detailed_results"] is True
    assert competition["image"] == "logo.png"
    assert [p["title"] for p in competition["pages"]] == ["Overview", "Data", "Evaluation"]
    assert "leaderboard" not in competition and len(competition["leaderboards"]) == 1


def test_phases_are_quoted_utc_datetimes_that_follow_each_other(bake):
    default = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))["start_date"]
    assert default == "2027-01-04"
    text = (bake(start_date=default) / "competition.yaml").read_text(encoding="utf-8")
    phases = yaml.safe_load(text)["phases"]
    assert [(p["name"], p["start"], p["end"]) for p in phases] == [
        ("Development", "2027-01-04 00:00:00", "2027-03-04 23:59:59"),
        ("Final", "2027-03-05 00:00:00", "2027-03-18 23:59:59"),
    ]
    assert "start: '2027-01-04 00:00:00'" in text  # quoted in the file, not only loaded as a string
    final = phases[1]
    assert final["auto_migrate_to_this_phase"] is True and final["max_submissions"] <= 5
    assert "auto_migrate_to_this_phase" not in phases[0]


def test_phase_lengths_and_start_date_answers_move_the_dates(bake):
    bundle = bake(start_date="2030-02-27", _dev_phase_days="3", _final_phase_days="1")
    phases = yaml.safe_load((bundle / "competition.yaml").read_text(encoding="utf-8"))["phases"]
    assert [(p["start"], p["end"]) for p in phases] == [
        ("2030-02-27 00:00:00", "2030-03-01 23:59:59"),
        ("2030-03-02 00:00:00", "2030-03-02 23:59:59"),
    ]
    overview = (bundle / "pages" / "overview.md").read_text(encoding="utf-8")
    assert "2030-03-02 00:00:00" in overview


def test_each_phase_has_one_task_with_programs_and_data(default_bundle):
    competition = yaml.safe_load((default_bundle / "competition.yaml").read_text(encoding="utf-8"))
    tasks = {t["index"]: t for t in competition["tasks"]}
    for phase in competition["phases"]:
        (task_index,) = phase["tasks"]
        task = tasks[task_index]
        assert {"ingestion_program", "scoring_program", "input_data", "reference_data"} <= set(task)
        assert phase["starting_kit"] == "starting_kit" and phase["public_data"].startswith("data/")
        assert "docker_image" not in task
    assert competition["solutions"][0]["path"] == "starting_kit/sample_code_submission"


def test_leaderboard_columns_carry_sorting_and_precision(default_bundle):
    competition = yaml.safe_load((default_bundle / "competition.yaml").read_text(encoding="utf-8"))
    board = competition["leaderboards"][0]
    columns = {c["key"]: c for c in board["columns"]}
    assert columns["roc_auc"]["sorting"] == "desc" and columns["roc_auc"]["index"] == board["primary_index"]
    assert columns["log_loss"]["sorting"] == "asc"
    assert columns["duration"]["sorting"] == "asc"
    assert all(isinstance(c["precision"], int) for c in board["columns"])


def test_program_commands_use_python3_and_worker_paths_without_a_shell(default_bundle):
    for program in ("ingestion_program", "scoring_program"):
        command = yaml.safe_load((default_bundle / program / "metadata.yaml").read_text())["command"]
        words = command.split()
        assert words[0] == "python3" and words[1].startswith("/app/program/")
        assert not set("&|;<>`$") & set(command)


def test_logo_is_an_rgb_png(default_bundle):
    data = (default_bundle / "logo.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR" and data[25] == 2  # colour type 2: RGB, no alpha


def test_notebook_is_valid_json_with_a_python3_kernel(default_bundle):
    notebook = json.loads((default_bundle / "starting_kit" / "starting_kit.ipynb").read_text(encoding="utf-8"))
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    assert any(cell["cell_type"] == "code" for cell in notebook["cells"])


def test_every_validator_code_is_documented_in_codabench_checks(default_bundle):
    text = (default_bundle / "tools" / "findings.py").read_text(encoding="utf-8")
    codes = set(re.findall(r'^\s+"(CB\d{3})": \((?:ERROR|WARNING),', text, re.M))
    documented = set(re.findall(r"CB\d{3}", (TEMPLATE / "docs" / "codabench-checks.md").read_text(encoding="utf-8")))
    ranges = re.findall(r"CB(\d{3})–CB(\d{3})", (TEMPLATE / "docs" / "codabench-checks.md").read_text(encoding="utf-8"))
    documented |= {f"CB{n:03d}" for low, high in ranges for n in range(int(low), int(high) + 1)}
    assert len(codes) > 80 and codes - documented == set()


def test_competition_yaml_points_editors_at_the_shipped_json_schema(default_bundle):
    first_line = (default_bundle / "competition.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=tools/competition.schema.json"
    schema = json.loads((default_bundle / "tools" / "competition.schema.json").read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
