"""The local runner fails where Codabench's compute worker fails, with the worker's words."""

from __future__ import annotations

import dataclasses
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from bundle import find_phase, load_competition  # noqa: E402
from executors import LocalExecutor  # noqa: E402
from worker import METADATA_EXISTS, StepFailed, run_prediction_step, substitute  # noqa: E402

SLOW_MODEL = """
import time

class Model:
    def fit(self, X, y):
        time.sleep(30)
    def predict(self, X):
        return [0.5] * len(X)
"""


pytestmark = pytest.mark.skipif(not (ROOT / "ingestion_program").exists(), reason="no ingestion program (results only)")


@pytest.fixture
def dev_phase():
    if not (ROOT / "data" / "manifest.json").exists():
        pytest.fail("data/ is missing: run `make data` (python tools/prepare_data.py) first")
    return find_phase(load_competition(), "Development")


def submission(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "submission"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_placeholders_are_replaced_in_the_workers_order():
    assert substitute("python $program/x.py $input $output $hidden", "ingestion", is_scoring=False) == [
        "python", "/app/program/x.py", "/app/input_data", "/app/output", "/app/input/ref"]
    assert substitute("python3 s.py $input $predictions", "program", is_scoring=True) == [
        "python3", "s.py", "/app/input", "/app/input/res"]
    # str.replace in this order: $input_data is not a placeholder and breaks, as on Codabench
    assert substitute("x $input_data", "ingestion", is_scoring=False) == ["x", "/app/input_data_data"]


def test_commands_run_without_a_shell(tmp_path):
    executor = LocalExecutor(tmp_path, echo=None)
    from executors import Container

    out = tmp_path / "out"
    out.mkdir()
    completed = executor.run(Container("t", ["echo", "a", "&&", "echo", "b"], {"/app/program": out, "/app/output": out}), timeout=10)
    assert completed.stdout == "a && echo b\n"


def test_a_step_over_the_time_limit_fails_with_the_workers_message(tmp_path, dev_phase):
    phase = dataclasses.replace(dev_phase, execution_time_limit=2)
    slow = submission(tmp_path, {"model.py": SLOW_MODEL})
    with pytest.raises(StepFailed, match="Execution Time Limit exceeded. Limit was 2 seconds"):
        run_prediction_step(phase.tasks[0], phase, slow, tmp_path / "run", LocalExecutor(tmp_path / "run", echo=None))


def test_a_program_that_writes_metadata_fails_the_step(tmp_path, dev_phase):
    task = dev_phase.tasks[0]
    ingestion = tmp_path / "ingestion"
    ingestion.mkdir()
    (ingestion / "metadata.yaml").write_text("command: python3 /app/program/write.py /app/output/metadata\n")
    (ingestion / "write.py").write_text("import sys\nopen(sys.argv[1], 'w').write('exitCode: 0')\n")
    task = dataclasses.replace(task, ingestion_program=ingestion)
    with pytest.raises(StepFailed) as failure:
        run_prediction_step(task, dev_phase, submission(tmp_path, {"predictions.csv": "id,probability\n"}),
                            tmp_path / "run", LocalExecutor(tmp_path / "run", echo=None))
    assert str(failure.value) == METADATA_EXISTS


def test_a_result_submission_without_metadata_is_copied_to_the_output(tmp_path, dev_phase):
    result = submission(tmp_path, {"predictions.csv": "id,probability\n", "notes.txt": "hello"})
    step = run_prediction_step(dev_phase.tasks[0], dev_phase, result, tmp_path / "run", LocalExecutor(tmp_path / "run", echo=None))
    assert (step.output / "notes.txt").read_text() == "hello"
    assert any("copied to the output" in note for note in step.notes)


def test_a_zip_with_a_wrapping_folder_is_explained_to_the_participant(tmp_path, dev_phase):
    archive = tmp_path / "wrapped.zip"
    baseline = (ROOT / "starting_kit" / "sample_code_submission" / "model.py").read_text()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("my_submission/model.py", baseline)
    step = run_prediction_step(dev_phase.tasks[0], dev_phase, archive, tmp_path / "run", LocalExecutor(tmp_path / "run", echo=None))
    stderr = step.containers["ingestion"].stderr
    assert "ERROR: your zip wraps everything in the folder 'my_submission'" in stderr
    assert step.containers["ingestion"].exit_code == 1


def test_programs_get_no_execute_bits_as_after_the_workers_unzip(tmp_path, dev_phase):
    script = submission(tmp_path, {"predictions.csv": "id,probability\n"})
    (script / "run.sh").write_text("#!/bin/sh\n")
    (script / "run.sh").chmod(0o755)
    step = run_prediction_step(dev_phase.tasks[0], dev_phase, script, tmp_path / "run", LocalExecutor(tmp_path / "run", echo=None))
    assert not (step.output.parent / "program" / "run.sh").stat().st_mode & 0o111
