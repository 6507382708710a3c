"""The starting kit's notebook runs end to end, as a participant would run it."""

from __future__ import annotations

import nbclient
import nbformat

from conftest import KIT


def test_notebook_executes_and_reports_the_scores(metrics, settings, tmp_path, monkeypatch):
    # The notebook keeps its run folder for the participant to open; under test it goes to tmp_path.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    notebook = nbformat.read(KIT / "starting_kit.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(KIT)}}).execute()
    printed = "".join(
        output.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
    )
    for column in metrics.written_columns(settings):
        assert f"{column.key}: " in printed
    assert ("result_submission.zip" in printed) == (settings["submission_mode"] != "code")
    assert not list(KIT.glob("local_run*"))  # the notebook writes its runs outside the kit
    assert list(tmp_path.glob("local_run_*/scores/scores.json"))
