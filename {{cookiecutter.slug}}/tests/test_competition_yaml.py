"""competition.yaml follows the rules Codabench's unpacker really applies."""

from __future__ import annotations

import re
from datetime import datetime

from bundle import referenced_paths
from conftest import ROOT

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def test_version_2_with_detailed_results_enabled(competition):
    assert competition["version"] == 2
    assert competition["enable_detailed_results"] is True


def test_leaderboards_key_is_plural_and_has_one_board(competition):
    assert "leaderboard" not in competition
    assert len(competition["leaderboards"]) == 1


def test_docker_image_is_pinned_at_the_top_level_only(competition):
    image = competition["docker_image"]
    assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")
    assert all("docker_image" not in task for task in competition["tasks"])


def test_phase_datetimes_are_quoted_utc_strings():
    text = (ROOT / "competition.yaml").read_text(encoding="utf-8")
    for key, value in re.findall(r"^\s+(start|end): (.+)$", text, re.M):
        assert value.startswith("'") and value.endswith("'"), f"{key}: {value} is not quoted"
        assert DATETIME.match(value.strip("'")), value


def test_phases_are_strictly_sequential(competition):
    phases = sorted(competition["phases"], key=lambda p: p["index"])
    spans = [(datetime.fromisoformat(p["start"]), datetime.fromisoformat(p["end"])) for p in phases]
    for start, end in spans:
        assert start < end
    for (_, previous_end), (next_start, _) in zip(spans, spans[1:]):
        assert next_start > previous_end


def test_final_phase_auto_migrates_with_a_small_cap(competition):
    first, *rest = sorted(competition["phases"], key=lambda p: p["index"])
    assert not first.get("auto_migrate_to_this_phase")
    final = rest[-1]
    assert final["auto_migrate_to_this_phase"] is True
    assert 1 <= final["max_submissions"] <= 5


def test_every_phase_has_limits_starting_kit_and_public_data(competition):
    for phase in competition["phases"]:
        assert isinstance(phase["execution_time_limit"], int) and phase["execution_time_limit"] <= 600
        assert phase["starting_kit"] and phase["public_data"]


def test_column_keys_and_titles_fit_codabench_and_are_unique(columns):
    keys = [c["key"] for c in columns]
    assert len(set(keys)) == len(keys)
    assert len({c["index"] for c in columns}) == len(columns)
    for column in columns:
        assert 0 < len(column["key"]) <= 36 and 0 < len(column["title"]) <= 36
        assert column["sorting"] in ("asc", "desc")


def test_primary_index_points_at_a_column(competition, columns):
    assert competition["leaderboards"][0]["primary_index"] in {c["index"] for c in columns}


def test_every_referenced_path_exists_and_is_not_empty(competition):
    for where, value in referenced_paths(competition).items():
        path = ROOT / value
        assert path.exists(), f"{where}: {value}"
        assert (path.stat().st_size > 0) if path.is_file() else any(p.is_file() for p in path.rglob("*")), where


def test_logo_is_an_rgb_png(competition):
    data = (ROOT / competition["image"]).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert data[25] == 2  # colour type 2: RGB


def test_program_commands_are_shell_free_python3_on_worker_paths():
    import yaml

    for program in ("ingestion_program", "scoring_program"):
        if not (ROOT / program).exists():
            continue  # result-only competitions have no ingestion program
        command = yaml.safe_load((ROOT / program / "metadata.yaml").read_text())["command"]
        assert command.split()[0] == "python3"
        assert all(word.startswith("/app/") for word in command.split()[1:] if word.startswith("/"))
        assert not re.search(r"&&|\||[<>;`]|\$", command)
