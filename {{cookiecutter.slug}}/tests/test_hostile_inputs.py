"""Hostile and careless submissions: each gets one clear line and a non-zero exit, never a traceback
of ours, a silent score, or a read outside the submission.

Models that raise what Python does not expect (KeyboardInterrupt, an exception whose message
cannot be printed, megabytes of message), return what cannot be read as numbers, or close the
program's output; prediction files with values no leaderboard can store, links to other files,
headers of ten thousand columns. The programs run in this process where that is enough, and as a
process of their own where the model attacks the process itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CODE, ROOT, needs_code

MAX_SHOWN = 2100  # a capped message: 2,000 characters and the note on what was cut


def prediction(task: dict) -> str:
    """Python source of a valid prediction for X, whatever this competition's format."""
    dataset = task["datasets"][0]
    fmt, classes = task["prediction_format"], dataset["classes"]
    if fmt == "value":
        return "np.zeros(len(X))"
    if fmt == "label":
        return f"np.full(len(X), {classes[0]!r}, dtype=object)"
    return f"pd.DataFrame(np.full((len(X), {len(classes)}), 1 / {len(classes)}), columns={list(classes)!r})"


def model(task: dict, fit: str = "pass", predict: str = "VALID", top: str = "") -> str:
    """model.py; VALID in `predict` stands for a valid prediction of this competition's format."""
    return (f"import sys\nimport numpy as np\nimport pandas as pd\n{top}\n\n"
            f"class Model:\n    def fit(self, X, y):\n        {fit}\n\n"
            f"    def predict(self, X):\n        return {predict.replace('VALID', prediction(task))}\n")


BAD_MODELS = {  # name: (model.py's parts, what the error must say)
    "fit raises KeyboardInterrupt": ({"fit": "raise KeyboardInterrupt"}, "Model.fit raised KeyboardInterrupt"),
    "fit calls sys.exit(3)": ({"fit": "sys.exit(3)"}, "Model.fit raised SystemExit: 3"),
    "fit raises GeneratorExit": ({"fit": "raise GeneratorExit('bye')"}, "Model.fit raised GeneratorExit: bye"),
    "an exception whose message raises": (
        {"top": "class Odd(Exception):\n    def __str__(self):\n        raise RuntimeError('no')",
         "fit": "raise Odd()"}, "Model.fit raised Odd: (its message could not be read"),
    "a megabyte of message": ({"fit": "raise ValueError('x' * 1_000_000)"}, "more characters cut"),
    "predict returns objects whose float() raises": (
        {"top": "class Bad:\n    def __float__(self):\n        raise RuntimeError('no float')\n"
                "    def __str__(self):\n        raise RuntimeError('no str')",
         "predict": "[Bad() for _ in range(len(X))]"}, "Model.predict"),
    "predict returns complex numbers": ({"predict": "np.zeros(len(X)) + 1j"}, "Model.predict"),
    "predict returns a generator": ({"predict": "(0 for _ in range(len(X)))"}, "Model.predict"),
    "predict returns a string": ({"predict": "'all of them'"}, "Model.predict"),
    "predict returns too few rows": ({"predict": "np.zeros(3)"}, "Model.predict"),
    "predict raises MemoryError": ({"predict": "(_ for _ in ()).throw(MemoryError('boom'))"}, "Model.predict raised MemoryError: boom"),
    "import calls sys.exit": ({"top": "sys.exit('not today')"}, "model.py could not be imported: SystemExit: not today"),
    "import raises KeyboardInterrupt": ({"top": "raise KeyboardInterrupt"}, "model.py could not be imported: KeyboardInterrupt"),
    "predict returns a scipy sparse matrix": ({"top": "import scipy.sparse",
                                                "predict": "scipy.sparse.csr_matrix(np.ones((len(X), 2)))"}, "Model.predict"),
    "predict returns an object whose __array__ raises": (
        {"top": "class Arr:\n    def __len__(self):\n        return 10**9\n    def __array__(self, *a, **k):\n        raise RuntimeError('no')",
         "predict": "Arr()"}, "Model.predict"),
    "predict returns an object whose __len__ raises": (
        {"top": "class Odd(list):\n    def __len__(self):\n        raise RuntimeError('no len')", "predict": "Odd()"}, "Model.predict"),
    "predict returns a dict": ({"predict": "{'a': 1}"}, "Model.predict"),
    "predict returns ten times the rows": ({"predict": "np.resize(np.asarray(VALID), (10 * len(X),) + np.shape(VALID)[1:])"},
                                           "Model.predict"),
    "predict returns a 3-D array": ({"predict": "np.zeros((len(X), 2, 2))"}, "Model.predict"),
    "predict returns nested lists of uneven length": ({"predict": "[[0.5] * (i % 3) for i in range(len(X))]"}, "Model.predict"),
    "predict returns X itself": ({"predict": "X"}, "Model.predict"),
    "predict returns None for every row": ({"predict": "[None] * len(X)"}, "Model.predict"),
    "predict raises RecursionError": ({"predict": "(lambda f: f(f))(lambda f: f(f))"}, "Model.predict raised RecursionError"),
    "fit never returns from a generator close": ({"fit": "raise StopIteration('done')"}, "Model.fit raised StopIteration: done"),
    "an exception with a 100,000-line message": ({"fit": "raise ValueError('line\\n' * 100_000)"}, "more characters cut"),
    "a message that forges an ERROR line": ({"fit": "raise ValueError('first\\nERROR: forged\\nthird')"},
                                            "Model.fit raised ValueError: first ERROR: forged third"),
    "an exception class named with a line break": ({"fit": "raise type('E\\nERROR: fake', (Exception,), {})('x')"},
                                                    "Model.fit raised E ERROR: fake: x"),
    "predict returns a Series in another order": ({"predict": "pd.Series(np.zeros(len(X)), index=X.index[::-1])"},
                                                  "whose index is not X's"),
    "predict returns a masked array": ({"predict": "np.ma.masked_array(np.zeros(len(X)), mask=np.arange(len(X)) == 0)"},
                                       "masked array"),
}


@needs_code
@pytest.mark.parametrize("name", sorted(BAD_MODELS))
def test_a_hostile_model_fails_with_what_it_did(name, ingestion, task, tmp_path, capfd):
    parts, says = BAD_MODELS[name]
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "model.py").write_text(model(task, **parts), encoding="utf-8")
    code = ingestion.main(["--input-data", str(ROOT / "data" / "dev" / "input_data"), "--submission",
                           str(tmp_path / "submission"), "--output", str(tmp_path / "out")])
    result = json.loads((tmp_path / "out" / "ingestion_result.json").read_text(encoding="utf-8"))
    error, fix = result["error"], result["fix"]
    err = capfd.readouterr().err
    assert code == 1, err
    assert says in f"{error}; {fix}" and len(error) <= MAX_SHOWN and "\n" not in error + fix and fix
    assert err.splitlines()[-1] == f"ERROR: {error}; {fix}"  # the last line: one line, whatever the model printed above it
    assert len(err) < 25_000  # the model's traceback is cut in the middle past 20,000 characters
    assert not (tmp_path / "out" / "predictions.csv").exists()


@pytest.mark.slow  # a process of its own: about 0.4 s
@needs_code
@pytest.mark.parametrize("attack", ["close stdout", "replace stderr", "close both", "close descriptors 1 and 2",
                                    "send descriptor 2 to /dev/null", "close every descriptor above 2"])
def test_a_model_that_takes_the_programs_output_away_still_gets_its_error_line(attack, task, tmp_path):
    """The ERROR line reaches the log even when the model closed or replaced the streams (a process of its own)."""
    fit = {"close stdout": "sys.stdout.close(); raise ValueError('after closing stdout')",
           "replace stderr": "import io; sys.stderr = io.StringIO(); raise ValueError('after replacing stderr')",
           "close both": "sys.stdout.close(); sys.stderr.close(); raise ValueError('after closing both')",
           "close descriptors 1 and 2": "import os; os.close(1); os.close(2); raise ValueError('after closing 1 and 2')",
           "send descriptor 2 to /dev/null": "import os; os.dup2(os.open(os.devnull, os.O_WRONLY), 2); "
                                             "raise ValueError('after sending 2 to /dev/null')",
           "close every descriptor above 2": "import os; os.closerange(3, 256); raise ValueError('after closing the copies')"}[attack]
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "model.py").write_text(model(task, fit=fit), encoding="utf-8")
    done = subprocess.run([sys.executable, str(ROOT / "ingestion_program" / "ingestion.py"), "--input-data",
                           str(ROOT / "data" / "dev" / "input_data"), "--submission", str(tmp_path / "submission"),
                           "--output", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "ERROR: Model.fit raised ValueError: after " in done.stderr


@pytest.mark.slow  # a process of its own: about 0.4 s
@needs_code
def test_a_model_that_closes_stdout_and_succeeds_is_scored(task, tmp_path):
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "model.py").write_text(model(task, fit="sys.stdout.close()"), encoding="utf-8")
    done = subprocess.run([sys.executable, str(ROOT / "ingestion_program" / "ingestion.py"), "--input-data",
                           str(ROOT / "data" / "dev" / "input_data"), "--submission", str(tmp_path / "submission"),
                           "--output", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("predict") == len(task["datasets"])  # its own lines went on after the model's close
    assert all((tmp_path / "out" / d["folder"] / "predictions.csv").is_file() for d in task["datasets"])


# -- prediction files ----------------------------------------------------------------------------
def score(scoring, res: Path, out: Path) -> int:
    return scoring.main(["--reference", str(ROOT / "data" / "dev" / "reference_data"), "--predictions", str(res),
                         "--output", str(out)])


def refused(scoring, res: Path, out: Path, capfd) -> str:
    """Score res; assert it is refused as the participant's fault, with a complete page and no scores."""
    assert score(scoring, res, out) == 1
    err = capfd.readouterr().err
    assert err.startswith("ERROR: ") and "scoring program failed" not in err and "Traceback" not in err, err
    assert not (out / "scores.json").exists()
    page = (out / "detailed_results.html").read_text(encoding="utf-8")
    assert 'class="card status failed"' in page
    return err


@pytest.mark.parametrize("value", ["1e308", "-1e308", "1e200", "1e12", "-3e11", "1.7976931348623157e308"])
def test_finite_but_huge_values_are_the_participants_error_with_the_row(value, scoring, task, constant_predictions,
                                                                      tmp_path, capfd):
    if task["prediction_format"] != "value":
        pytest.skip("probabilities and labels are bounded: only regression values can be huge")
    constant_predictions(tmp_path / "res")
    dataset = task["datasets"][0]
    path = tmp_path / "res" / dataset["folder"] / "predictions.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    first_id = lines[1].split(",")[0]
    lines[1] = f"{first_id},{value}"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    err = refused(scoring, tmp_path / "res", tmp_path / "out", capfd)
    assert "which Codabench cannot store" in err and f"id {first_id!r}" in err and "on the scale of the target" in err


def test_a_link_to_another_file_is_refused_without_reading_it(scoring, task, tmp_path, capfd):
    secret = tmp_path / "secret.csv"
    secret.write_text("top secret first line\n", encoding="utf-8")
    dataset = task["datasets"][0]
    (tmp_path / "res" / dataset["folder"]).mkdir(parents=True)
    (tmp_path / "res" / dataset["folder"] / "predictions.csv").symlink_to(secret)
    err = refused(scoring, tmp_path / "res", tmp_path / "out", capfd)
    assert "is a symbolic link" in err
    assert "top secret" not in err and "top secret" not in (tmp_path / "out" / "detailed_results.html").read_text()


@needs_code
def test_a_result_submission_with_a_link_is_refused_by_ingestion(ingestion, task, tmp_path, capfd):
    if task["submission_mode"] == "code":
        pytest.skip("result submissions are refused here anyway")
    folder = tmp_path / "submission" / task["datasets"][0]["folder"]
    folder.mkdir(parents=True)
    (folder / "predictions.csv").symlink_to("/etc/passwd")
    code = ingestion.main(["--input-data", str(ROOT / "data" / "dev" / "input_data"), "--submission",
                           str(tmp_path / "submission"), "--output", str(tmp_path / "out")])
    assert code == 1 and "is a symbolic link" in capfd.readouterr().err
    assert not list((tmp_path / "out").rglob("predictions.csv"))


HUGE_FILES = {  # name: (file bytes from the header, what the error must say)
    "a header of ten thousand columns": (lambda header: (",".join(f"c{i}" for i in range(10_000)) + "\n").encode(), "line 1: header"),
    "a megabyte of blank lines": (lambda header: header + b"\n" * 1_000_000, "lines, expected"),
    "a cell of a megabyte": (lambda header: header + b"x" * 1_000_000 + b"\n", "predictions.csv"),
    "NUL bytes": (lambda header: header + b"\x00" * 1000 + b"\n", "predictions.csv"),
    "UTF-16": (lambda header: header.decode().encode("utf-16"), "UTF-8"),
    "random bytes": (lambda header: bytes(range(256)) * 100, "predictions.csv"),
}


@pytest.mark.parametrize("name", sorted(HUGE_FILES))
def test_large_or_binary_garbage_gets_a_short_message(name, scoring, task, constant_predictions, tmp_path, capfd):
    constant_predictions(tmp_path / "valid")
    dataset = task["datasets"][0]
    header = (tmp_path / "valid" / dataset["folder"] / "predictions.csv").read_bytes().split(b"\n")[0] + b"\n"
    make, says = HUGE_FILES[name]
    (tmp_path / "res" / dataset["folder"]).mkdir(parents=True)
    (tmp_path / "res" / dataset["folder"] / "predictions.csv").write_bytes(make(header))
    err = refused(scoring, tmp_path / "res", tmp_path / "out", capfd)
    assert says in err and len(err) <= 2 * MAX_SHOWN + 100  # the problem and the fix, each capped


def test_a_folder_named_predictions_csv_is_refused(scoring, task, tmp_path, capfd):
    dataset = task["datasets"][0]
    (tmp_path / "res" / dataset["folder"] / "predictions.csv").mkdir(parents=True)
    assert "not found" in refused(scoring, tmp_path / "res", tmp_path / "out", capfd)


def test_swapped_dataset_files_are_refused(scoring, task, constant_predictions, tmp_path, capfd):
    """Each dataset has its own ids (made-up ones are prefixed with the dataset's name), so a submission
    that puts one dataset's predictions in another's folder is refused, not scored."""
    if len(task["datasets"]) < 2:
        pytest.skip("one dataset: nothing to swap")
    constant_predictions(tmp_path / "res")
    first, second = (tmp_path / "res" / d["folder"] / "predictions.csv" for d in task["datasets"][:2])
    first_text, second_text = first.read_bytes(), second.read_bytes()
    first.write_bytes(second_text)
    second.write_bytes(first_text)
    err = refused(scoring, tmp_path / "res", tmp_path / "out", capfd)
    assert f"{task['datasets'][0]['folder']}/predictions.csv" in err and "not in test.csv" in err


@pytest.mark.parametrize("name", ["thirty million blank lines", "a line per byte"])
def test_a_file_far_longer_than_the_test_set_is_refused_before_it_is_parsed(name, scoring, task, constant_predictions,
                                                                            tmp_path, capfd):
    constant_predictions(tmp_path / "res")
    dataset = task["datasets"][0]
    path = tmp_path / "res" / dataset["folder"] / "predictions.csv"
    padding = b"\n" * 30_000_000 if name.startswith("thirty") else b"\n".join([b"x"] * 3_000_000)
    path.write_bytes(path.read_bytes() + padding)
    started = time.monotonic()
    err = refused(scoring, tmp_path / "res", tmp_path / "out", capfd)
    assert time.monotonic() - started < 20  # it was a two-minute read
    assert "lines, expected" in err and "one row per test id" in err


@needs_code
def test_both_programs_cap_messages_alike(ingestion):
    """ingestion.py ships alone and keeps its own copy of errors.capped."""
    from errors import capped

    for text in ("", "short", "x" * 2000, "y" * 2001, "z" * 1_000_000):
        assert ingestion.capped(text) == capped(text)


# -- what the prediction step leaves for scoring ---------------------------------------------------
HOSTILE_INGESTION_RESULTS = {  # name: bytes of ingestion_result.json in the prediction output
    "not JSON": b"{",
    "a JSON list": b"[1, 2]",
    "a duration that is text": b'{"status": "ok", "submission_type": "code", "duration": "soon"}',
    "two megabytes": b'{"status": "ok", "pad": "' + b"x" * 2_000_000 + b'"}',
    "nested ten thousand deep": b"[" * 10_000 + b"]" * 10_000,
    "not UTF-8": b'{"status": "\xff"}',
    "a negative duration": b'{"status": "ok", "submission_type": "code", "duration": -5000000000}',
    "a duration that is not a number": b'{"status": "ok", "submission_type": "code", "duration": NaN}',
    "a duration of 1e300 seconds": b'{"status": "ok", "submission_type": "code", "duration": 1e300}',
}


# In a results-only competition no ingestion program runs: such a file is the participant's, and ignored (one case
# shows it); where code runs, every one of them is refused.
INGESTION_RESULT_CASES = sorted(HOSTILE_INGESTION_RESULTS) if CODE else ["not JSON"]


@pytest.mark.parametrize("name", INGESTION_RESULT_CASES)
def test_an_ingestion_result_that_is_not_the_ingestion_programs_is_not_trusted(name, scoring, settings, constant_predictions,
                                                                              tmp_path, capfd, no_figures):
    """In a result submission the participant's zip lands in the prediction output, ingestion_result.json included."""
    constant_predictions(tmp_path / "res")
    (tmp_path / "res" / "ingestion_result.json").write_bytes(HOSTILE_INGESTION_RESULTS[name])
    code = score(scoring, tmp_path / "res", tmp_path / "out")
    err = capfd.readouterr().err
    if not CODE:
        assert code == 0, err
        return
    assert code == 1 and "ERROR: The prediction step stopped: ingestion_result.json in the prediction output is not the " \
        "ingestion program's" in err and "Traceback" not in err, err
    assert len(err) < 2 * MAX_SHOWN and not (tmp_path / "out" / "scores.json").exists()


@needs_code
@pytest.mark.parametrize("exit_code, says", [(0, "it exited with code 0"), (-9, "it was killed (signal 9"),
                                             (137, "it was killed (signal 9"),  # as docker reports it on the worker
                                             (1, "it exited with code 1"), (-15, "it was stopped by signal 15")])
def test_a_prediction_step_that_ended_without_its_result_is_refused_with_how_it_ended(exit_code, says, scoring, constant_predictions,
                                                                                     tmp_path, capfd):
    """The model ended the process (os._exit, a signal) or it ran out of memory: the worker recorded the exit code in
    the prediction output's metadata, and ingestion_result.json is missing. Not "predictions.csv not found"."""
    constant_predictions(tmp_path / "res")
    (tmp_path / "res" / "metadata").write_text(f"exitCode: null\nelapsedTime: null\ningestionExitCode: {exit_code}\n"
                                               "ingestionElapsedTime: 1.5\n", encoding="utf-8")
    err = refused(scoring, tmp_path / "res", tmp_path / "out", capfd)
    assert "before the ingestion program wrote ingestion_result.json" in err and says in err


@needs_code
def test_an_ingestion_result_with_a_failed_exit_code_is_not_trusted(scoring, constant_predictions, tmp_path, capfd):
    """A submission's own ingestion_result.json, copied into the output by the worker, saying all went well."""
    constant_predictions(tmp_path / "res")
    (tmp_path / "res" / "ingestion_result.json").write_text('{"status": "ok", "submission_type": "code", "duration": 0.01}')
    (tmp_path / "res" / "metadata").write_text("ingestionExitCode: 1\n", encoding="utf-8")
    assert "the ingestion program exited with code 1 after writing ingestion_result.json" in refused(
        scoring, tmp_path / "res", tmp_path / "out", capfd)


@needs_code
def test_a_submission_holding_an_ingestion_result_is_refused(ingestion, task, tmp_path, capfd):
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "model.py").write_text(model(task), encoding="utf-8")
    (tmp_path / "submission" / "ingestion_result.json").write_text('{"status": "ok", "duration": -1}', encoding="utf-8")
    code = ingestion.main(["--input-data", str(ROOT / "data" / "dev" / "input_data"), "--submission",
                           str(tmp_path / "submission"), "--output", str(tmp_path / "out")])
    assert code == 1 and "the submission holds ingestion_result.json" in capfd.readouterr().err
    assert json.loads((tmp_path / "out" / "ingestion_result.json").read_text())["status"] == "failed"


OUTPUT = "Path(sys.argv[sys.argv.index('--output') + 1])"
TAMPERING = {  # what fit does, the exit code, what the last line says (None: the predictions are written)
    "makes a folder where predictions.csv goes": (
        f"[({OUTPUT} / d / 'predictions.csv').mkdir(parents=True) for d in ('', 'ds1', 'ds2', 'ds3', 'ds4', 'ds5')]",
        1, "could not write its output"),
    "replaces the output folder with a file": (f"import shutil; shutil.rmtree({OUTPUT}); {OUTPUT}.write_text('x')", 1,
                                               "could not write its output"),
    "makes a folder where ingestion_result.json goes": (f"({OUTPUT} / 'ingestion_result.json').mkdir(); raise ValueError('and fails')",
                                                        1, "ingestion_result.json could not be written"),
    "replaces print": ("import builtins; builtins.print = None", 1, "failed after running model.py (TypeError"),
    "replaces json.dumps": ("import json; json.dumps = lambda *a, **k: 1 / 0", 1, "failed after running model.py (ZeroDivisionError"),
    "replaces the clock with NaN": ("import time; time.perf_counter = lambda: float('nan')", 0, None),
    "changes the working folder (relative paths given)": ("import os; os.chdir('/')", 0, None),
}


@pytest.mark.slow  # a process of its own: about 0.4 s
@needs_code
@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_a_model_that_tampers_with_python_or_the_output_gets_one_line(name, task, tmp_path):
    """As a process of its own, with relative paths, as the model would find them on the worker."""
    fit, expected_code, says = TAMPERING[name]
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "model.py").write_text(model(task, fit=fit, top="from pathlib import Path"), encoding="utf-8")
    (tmp_path / "input_data").symlink_to(ROOT / "data" / "dev" / "input_data")
    done = subprocess.run([sys.executable, str(ROOT / "ingestion_program" / "ingestion.py"), "--input-data", "input_data",
                           "--submission", "submission", "--output", "out"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == expected_code, done.stderr
    if says:
        assert done.stderr.splitlines()[-1].startswith("ERROR: ") and says in done.stderr.splitlines()[-1], done.stderr
    else:
        result = json.loads((tmp_path / "out" / "ingestion_result.json").read_text(encoding="utf-8"))
        assert result["status"] == "ok" and result["duration"] >= 0


ENDINGS = {  # what fit does: (the run's status, what the scoring step's ERROR line says)
    "os._exit(0)": ("Failed", "it exited with code 0"),
    "os.kill(os.getpid(), signal.SIGKILL)": ("Failed", "it was killed (signal 9"),
    "threading.Thread(target=time.sleep, args=(600,)).start()": ("Finished", None),  # ingestion ends without waiting for it
    "atexit.register(lambda: 1 / 0)": ("Finished", None),
    "os.chdir('/')": ("Finished", None),
    "sys.setrecursionlimit(60)": ("Finished", None),
}


@pytest.mark.slow
@needs_code
@pytest.mark.parametrize("fit", sorted(ENDINGS))
def test_a_model_that_ends_or_holds_the_process_gets_a_true_account(fit, task, competition, columns, tmp_path, executor_for):
    """Through the worker-like runner: the exit code reaches scoring as on Codabench; nothing waits for a thread."""
    from bundle import find_phase
    from run_local import last_error_line, run_phase

    status, says = ENDINGS[fit]
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "model.py").write_text(
        model(task, fit=f"{fit}; self.n = 1", top="import atexit, os, signal, threading, time"), encoding="utf-8")
    phase = find_phase(competition, "Development", ROOT)
    started = time.monotonic()
    (run,) = run_phase(phase, tmp_path / "submission", tmp_path / "run", executor_for(tmp_path / "run"), columns)
    assert time.monotonic() - started < 60
    assert run.status == status, run.message + run.scoring_stderr
    if says:
        assert says in last_error_line(run.scoring_stderr)


MISPLACED = {  # name: (what the dataset's folder holds instead of predictions.csv, what the error lists as found)
    "the name in capitals": ({"PREDICTIONS.CSV": b"id\n"}, "PREDICTIONS.CSV"),
    "compressed": ({"predictions.csv.gz": b"\x1f\x8b"}, "predictions.csv.gz"),
    "still zipped": ({"submission.zip": b"PK\x05\x06" + b"\x00" * 18}, "submission.zip"),
    "named .txt": ({"predictions.txt": b"id\n"}, "predictions.txt"),
    "a hidden file": ({".predictions.csv": b"id\n"}, ".predictions.csv"),
}


@pytest.mark.parametrize("name", sorted(MISPLACED))
def test_a_prediction_file_under_another_name_is_named_in_the_refusal(name, scoring, task, tmp_path, capfd):
    files, found = MISPLACED[name]
    folder = tmp_path / "res" / task["datasets"][0]["folder"]
    folder.mkdir(parents=True)
    for file_name, data in files.items():
        (folder / file_name).write_bytes(data)
    err = refused(scoring, tmp_path / "res", tmp_path / "out", capfd)
    assert "predictions.csv not found" in err and found in err


@needs_code
def test_a_model_that_rewrites_an_earlier_datasets_predictions_is_refused(task, tmp_path):
    if len(task["datasets"]) < 2:
        pytest.skip("one dataset: its predictions are written after its model code ran")
    fit = f"[p.write_text('id\\n') for p in {OUTPUT}.rglob('predictions.csv')]"
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "model.py").write_text(model(task, fit=fit, top="from pathlib import Path"), encoding="utf-8")
    done = subprocess.run([sys.executable, str(ROOT / "ingestion_program" / "ingestion.py"), "--input-data",
                           str(ROOT / "data" / "dev" / "input_data"), "--submission", str(tmp_path / "submission"),
                           "--output", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (f"ERROR: {task['datasets'][0]['folder']}/predictions.csv was removed or changed after "
                                            "the ingestion program wrote it; leave the output folder alone in model.py")
