"""The starting kit's notebook runs end to end, as a participant would run it."""

from __future__ import annotations

import shutil
import zipfile

import nbclient
import nbformat

from conftest import ROOT


def test_notebook_executes_and_writes_the_scores_and_the_zips_next_to_the_kit(metrics, settings, tmp_path):
    """In the layout the notebook tells participants to make from the Files tab, it runs, prints the scores,
    and writes local_run/ and the zips to upload next to the kit, never into it."""
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
