"""The starting kit's notebook runs end to end, as a participant would run it."""

from __future__ import annotations

import json
import shutil
import zipfile

import nbclient
import nbformat

from conftest import ROOT
from page import Page, standing_tables


def test_notebook_executes_and_writes_the_scores_and_the_zips_next_to_the_kit(metrics, settings, task, tmp_path):
    """In the layout the notebook tells participants to make from the Files tab, it runs, prints the scores,
    and writes local_run/ and the zips to upload next to the kit, never into it; its page shows where the
    score stands against the baseline's published Development-phase scores."""
    for name in ("starting_kit", "scoring_program", "ingestion_program"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "data" / "dev" / "public_data", tmp_path / "public_data")
    kit = tmp_path / "starting_kit"
    before = sorted(p.relative_to(kit) for p in kit.rglob("*") if "__pycache__" not in p.parts)
    notebook = nbformat.read(kit / "starting_kit.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(kit)}}).execute()
    printed = "".join(
        output.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
    )
    for column in metrics.written_columns(settings):
        assert f"{column.key}: " in printed
    assert (tmp_path / "local_run" / "scores" / "scores.json").is_file()
    assert (tmp_path / "local_run" / "scores" / "detailed_results.html").is_file()
    zips = {"code_submission.zip": settings["submission_mode"] != "result", "result_submission.zip": settings["submission_mode"] != "code"}
    for name, expected in zips.items():
        assert (tmp_path / name).is_file() == expected and (name in printed) == expected, name
    if zips["code_submission.zip"]:
        with zipfile.ZipFile(tmp_path / "code_submission.zip") as archive:
            assert "model.py" in archive.namelist()  # at the root, as the ingestion program looks for it
    assert sorted(p.relative_to(kit) for p in kit.rglob("*") if "__pycache__" not in p.parts) == before

    # The page puts the baseline's published Development-phase scores beside the local ones and says so.
    html = (tmp_path / "local_run" / "scores" / "detailed_results.html").read_text(encoding="utf-8")
    published = json.loads((tmp_path / "public_data" / "baseline.json").read_text(encoding="utf-8"))["datasets"]
    chosen = metrics.leaderboard_metrics(settings)
    expected = [[(m.title, f"{published[d['name']][m.key]:.{m.precision}f}") for m in chosen] for d in task["datasets"]]
    assert [[(title, baseline) for title, _, _, baseline, _ in table] for table in standing_tables(html)] == expected
    notes = " ".join(Page(html).texts("table-note"))
    assert "scored by the organizers in the Development phase, on its test set rather than these rows" in notes
