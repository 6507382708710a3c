"""Every make variable of every target reaches the tools as data, exactly as typed.

Most tests run make with PYTHON= set to a fake interpreter (in a folder named after the hostile
value itself) that logs its argv and CODABENCH_ENGINE and exits 0: every target, every variable,
without running the real tools. Two run the real tools: a table and a column with an apostrophe
in their names, and `make bench` with quoted ARGS. The last ones check what `make -n test` plans,
after a real `make data`, when nothing changed and after an edit of what the baseline's scores are
computed from.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from conftest import PYTHON, run

HOSTILE = ["t';touch pwned;'.csv", 'a"b', "$HOME", "`id`", "x y (z)", "a$$b", "ä é", "$(shell touch pwned)", "${HOME}",
           "; touch pwned #", "a\ntouch pwned", "*", "back\\slash\\"]
DATA = {"SOURCE": "source", "TARGET": "target", "ID": "id", "GROUP": "group", "DROP": "drop", "DATASET": "dataset",
        "NA_VALUES": "na-values", "MISSING_TARGET": "missing-target"}
OTHERS = ("PHASE", "SUBMISSION", "BUNDLE", "ARGS")  # besides PYTHON and ENGINE
SCRIPTS = {"data": "tools/prepare_data.py", "run": "tools/run_local.py", "test": "-m", "test-all": "-m",
           "validate": "tools/validate_bundle.py", "sync": "tools/sync.py", "bundle": "tools/make_bundle.py",
           "bench": "tools/benchmark.py"}
FIXED = {"test": ["-m", "pytest"], "test-all": ["-m", "pytest", "-m", "slow or not slow"], "sync": ["tools/sync.py"],
         "bundle": ["tools/make_bundle.py"]}  # targets whose command takes no variable (besides PYTHON and ENGINE)
FAKE = f"""#!{sys.executable}
import json, os, sys
from pathlib import Path
with open(Path(__file__).parent.parent / "calls.jsonl", "a", encoding="utf-8") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "engine": os.environ.get("CODABENCH_ENGINE")}}) + "\\n")
"""


@pytest.fixture(scope="module")
def baked(bake) -> Path:
    return bake()


@pytest.fixture(scope="module")
def fakes(tmp_path_factory) -> Path:
    """fakes/<value>/python for every hostile value (and fakes/plain/python); they log to fakes/calls.jsonl."""
    root = tmp_path_factory.mktemp("fakes")
    for name in [*HOSTILE, "plain"]:
        (root / name).mkdir()
        (root / name / "python").write_text(FAKE, encoding="utf-8")
        (root / name / "python").chmod(0o755)
    return root


def make(bundle: Path, fakes: Path, *arguments: str, python: str = "plain") -> list[dict]:
    """Run make with the fake interpreter fakes/<python>/python; the calls it logged."""
    log = fakes / "calls.jsonl"
    log.unlink(missing_ok=True)
    done = run(["make", *arguments, f"PYTHON={fakes / python / 'python'}"], cwd=bundle, timeout=120)
    assert done.returncode == 0, (arguments, done.stdout + done.stderr)
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []


def the_call(calls: list[dict], target: str) -> list[str]:
    """The argv (after the interpreter) of the target's own command."""
    found = [call["argv"] for call in calls if call["argv"][:1] == [SCRIPTS[target]]]
    assert len(found) == 1, (target, calls)
    return found[0]


def options(argv: list[str]) -> tuple[dict, list]:
    """--name=value, --name value and --flag options, and positionals (all after `--` too)."""
    found, positional, i = {}, [], 0
    while i < len(argv):
        item = argv[i]
        if item == "--":
            positional += argv[i + 1:]
            break
        if item.startswith("--"):
            name, equals, value = item[2:].partition("=")
            if not equals:
                value = True
                if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                    value, i = argv[i + 1], i + 1
            found[name] = value
        else:
            positional.append(item)
        i += 1
    return found, positional


def pwned(*folders: Path) -> list[Path]:
    return [path for folder in folders for path in folder.rglob("pwned")] + list(Path.cwd().glob("pwned"))


def every_variable(value: str) -> list[str]:
    return [f"{name}={value}" for name in (*DATA, *OTHERS, "ENGINE")]


# -- every variable of every target, with a fake interpreter ------------------------------------
@pytest.mark.parametrize("value", HOSTILE, ids=[repr(value) for value in HOSTILE])
def test_every_variable_of_every_target_reaches_the_tool_as_given(baked, fakes, value):
    """PYTHON (the fake's folder is named after the value), ENGINE and all the others hold the value."""
    for target in SCRIPTS:
        calls = make(baked, fakes, target, *every_variable(value), python=value)
        assert calls and all(call["engine"] == value for call in calls), (target, calls)  # ENGINE -> CODABENCH_ENGINE
        argv = the_call(calls, target)
        if target in FIXED:
            assert argv == FIXED[target]
            continue
        found, positional = options(argv[1:])
        if target == "data":
            assert (found, positional) == ({option: value for option in DATA.values()}, [])
        elif target == "run":
            assert (found, positional) == ({"phase": value, "submission": value}, [])
        elif target == "validate":
            assert (found, positional) == ({}, [value])  # BUNDLE, not --run
        elif target == "bench":
            assert (found, positional) == ({"args": value}, [])  # benchmark.py splits it (shlex)
    assert not pwned(baked, fakes)


def test_make_alone_lists_the_commands_whatever_the_variables_hold(baked, fakes):
    for value in HOSTILE:
        done = run(["make", *every_variable(value), f"PYTHON={fakes / value / 'python'}"], cwd=baked, timeout=60)
        assert done.returncode == 0, (value, done.stderr)
        assert all(f"make {target}" in done.stdout for target in SCRIPTS), (value, done.stdout)
    assert not pwned(baked, fakes)


def test_an_empty_variable_is_not_given(baked, fakes):
    empty = [f"{name}=" for name in (*DATA, *OTHERS)]
    assert the_call(make(baked, fakes, "data", *empty), "data") == ["tools/prepare_data.py"]
    assert the_call(make(baked, fakes, "run", *empty), "run") == ["tools/run_local.py"]  # its default phase
    assert the_call(make(baked, fakes, "validate", *empty), "validate") == ["tools/validate_bundle.py", "--run"]
    assert the_call(make(baked, fakes, "bench", *empty), "bench") == ["tools/benchmark.py"]
    # Not given at all: the defaults.
    calls = make(baked, fakes, "run")
    assert options(the_call(calls, "run")[1:]) == ({}, [])  # the runner's default: the first phase
    assert {call["engine"] for call in calls} == {"local"}
    # An empty PYTHON is the bundle's .venv, created first.
    done = run(["make", "-n", "data", "PYTHON="], cwd=baked, timeout=60)
    assert done.returncode == 0 and "python3 -m venv .venv" in done.stdout, done.stdout + done.stderr


# -- the real tools ------------------------------------------------------------------------------
def test_a_table_and_a_column_named_with_apostrophes_come_in(baked, tmp_path):
    bundle = tmp_path / baked.name
    shutil.copytree(baked, bundle)
    rows = ["x,label's"] + [f"{i * 0.37 % 5 + (i % 2) * 3:.4f},{'yes' if i % 2 else 'no'}" for i in range(60)]
    (bundle / "it's a table.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    done = run(["make", "data", f"PYTHON={PYTHON}", "SOURCE=it's a table.csv", "TARGET=label's"], cwd=bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    declared = (bundle / "data.yaml").read_text(encoding="utf-8")
    assert "it's a table.csv" in declared and "label's" in declared
    assert (bundle / "data" / "manifest.json").is_file()


def load_benchmark(bundle: Path):
    saved = list(sys.path)
    try:
        spec = importlib.util.spec_from_file_location("bench_under_test", bundle / "tools" / "benchmark.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
        return module
    finally:
        sys.modules.pop("bench_under_test", None)
        sys.path[:] = saved


def test_bench_splits_args_as_a_shell_would(baked, tmp_path):
    benchmark = load_benchmark(baked)
    args = benchmark.parse_arguments(["--args=--large --rows '10,20' --keep \"t';touch pwned;'.csv\" --python 'a b/p$HOME'"])
    assert (args.large, args.rows, args.keep, args.python) == (True, "10,20", Path("t';touch pwned;'.csv"), "a b/p$HOME")
    assert benchmark.parse_arguments([]).large is False
    with pytest.raises(SystemExit):
        benchmark.parse_arguments(["--args=--keep 'unterminated"])
    # And through make, with the real tools: a quoted folder name in ARGS is one argument.
    bundle = tmp_path / baked.name
    shutil.copytree(baked, bundle)
    done = run(["make", "bench", f"PYTHON={PYTHON}", "ARGS=--rows 10 --ingestion-rows 0 --repeat 1 --keep 'kept data'"],
               cwd=bundle, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (bundle / "kept data").is_dir()
    assert not pwned(bundle)


# -- data/manifest.json follows the baseline's inputs ---------------------------------------------
@pytest.fixture(scope="module")
def stamped(baked, tmp_path_factory) -> Path:
    """A copy of the bake after a real `make data`."""
    bundle = tmp_path_factory.mktemp("stamped") / baked.name
    shutil.copytree(baked, bundle)
    done = run(["make", "data", f"PYTHON={PYTHON}"], cwd=bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    return bundle


def planned(bundle: Path) -> str:
    done = run(["make", "-n", "test", f"PYTHON={PYTHON}"], cwd=bundle, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


KIT = "starting_kit/sample_code_submission"
LATER = 2_000_000_000  # ns after the manifest: newer whatever the file system's clock resolution


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write(text)


CHANGES = {  # what the organizer does: (the file it writes, how, whether the folder's own time counts)
    "model.py edited": (f"{KIT}/model.py", lambda path: append(path, "# tuned\n"), False),
    "a helper module added": (f"{KIT}/helper.py", lambda path: path.write_text("FACTOR = 2\n", encoding="utf-8"), False),
    "metrics.py edited": ("scoring_program/metrics.py", lambda path: append(path, "# checked\n"), False),
    "predictions.py edited": ("scoring_program/predictions.py", lambda path: append(path, "# checked\n"), False),
    "settings.json saved": ("scoring_program/settings.json", lambda path: path.write_bytes(path.read_bytes()), False),
    # a name make cannot take as a prerequisite: the folder notices it came
    "a file named like make syntax added": (f"{KIT}/notes; touch pwned: a=b (1).txt",
                                            lambda path: path.write_text("x\n", encoding="utf-8"), True),
}


@pytest.mark.parametrize("change", CHANGES)
def test_an_edit_of_what_the_baseline_scores_come_from_redoes_the_data(stamped, change):
    relative, edit, by_folder = CHANGES[change]
    path = stamped / relative
    later = (stamped / "data" / "manifest.json").stat().st_mtime_ns + LATER
    existed, folder = path.exists(), path.parent.stat()
    before = path.stat() if existed else None
    assert "tools/prepare_data.py" not in planned(stamped)  # nothing changed: nothing to redo
    try:
        edit(path)
        os.utime(path.parent if by_folder else path, ns=(later, later))
        if not by_folder:  # only the file itself is newer than the manifest
            os.utime(path.parent, ns=(folder.st_atime_ns, folder.st_mtime_ns))
        assert "tools/prepare_data.py" in planned(stamped)
        assert not pwned(stamped)
    finally:  # as it was for the other tests: an edit stays, its time goes back
        if existed:
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        else:
            path.unlink()
        os.utime(path.parent, ns=(folder.st_atime_ns, folder.st_mtime_ns))
    assert "tools/prepare_data.py" not in planned(stamped)
