"""The baked bundle's GitHub Actions workflow (.github/workflows/codabench.yml), checked offline.

It is validated against SchemaStore's github-workflow schema as check-jsonschema vendors it (no network),
then for what it does: the make targets it runs exist, the upload runs only when it should and after the
checks, the token goes through `env` only, and the check for a missing table stops with one clear line.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest
import yaml
from conftest import TEMPLATE

WORKFLOW = ".github/workflows/codabench.yml"
TOKEN = "${{ secrets.CODABENCH_TOKEN }}"


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans, as GitHub reads a workflow: `on` is a key, not True."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


@pytest.fixture(scope="module")
def text(default_bundle) -> str:
    path = default_bundle / WORKFLOW
    assert path.is_file(), f"the bake has no {WORKFLOW} (hidden folders not copied?)"
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def workflow(text) -> dict:
    return yaml.load(text, Loader=Yaml12Loader)


def steps_running(job: dict) -> list[dict]:
    return [step for step in job["steps"] if "run" in step]


def make_calls(script: str) -> list[list[str]]:
    """The arguments of each `make` command in a shell script (targets and VAR=value)."""
    calls = []
    for line in script.splitlines():
        for command in re.split(r"&&|\|\||;|\bthen\b|\bdo\b", line):
            if re.match(r"\s*make(\s|$)", command):  # other lines may be a heredoc's Python, not shell words
                calls.append(shlex.split(command, comments=True)[1:])
    return calls


def targets(arguments: list[str]) -> list[str]:
    return [word for word in arguments if "=" not in word and not word.startswith("-")]


def makefile_targets(makefile: Path) -> set[str]:
    """The names of the Makefile's rules (`name:` or `a b: ...` at the start of a line, not `:=`)."""
    found = set()
    for match in re.finditer(r"^([A-Za-z0-9_./%-]+(?:[ \t]+[A-Za-z0-9_./%-]+)*)[ \t]*:(?!=)", makefile.read_text(encoding="utf-8"), re.MULTILINE):
        found.update(match.group(1).split())
    return found - {".PHONY", ".DEFAULT_GOAL"}


def evaluate(expression: str, event_name: str, ref: str) -> bool:
    """A GitHub `if:` expression of ==, !=, !, &&, ||, parentheses, startsWith and string literals, for one event."""
    tokens = re.findall(r"\s*('(?:[^']|'')*'|==|!=|&&|\|\||!|\(|\)|,|[A-Za-z_][A-Za-z0-9_.-]*)", expression)
    assert "".join(tokens).replace(" ", "") == expression.replace(" ", ""), f"unexpected syntax in {expression!r}"
    python = {"&&": " and ", "||": " or ", "!": " not ", "startsWith": "startswith"}
    code = "".join(python.get(token.strip(), token) for token in tokens)
    names = {"github": SimpleNamespace(event_name=event_name, ref=ref),
             "startswith": lambda text, prefix: text.lower().startswith(prefix.lower())}
    return bool(eval(code, {"__builtins__": {}}, names))  # only the tokens checked above


# -- shape ---------------------------------------------------------------------------------------------
def test_bake_copies_the_workflow_byte_for_byte(default_bundle, text):
    """Copied, not rendered by Jinja: every GitHub expression is still there."""
    assert text == (TEMPLATE / "{{cookiecutter.slug}}" / WORKFLOW).read_text(encoding="utf-8")
    assert TOKEN in text
    assert text.count("${{") == text.count("}}") >= 3


def test_workflow_is_valid_against_schemastores_schema(workflow):
    schema_file = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "github-workflows.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(workflow)]
    assert errors == []


def test_actions_are_pinned_and_python_is_the_images(workflow, default_bundle):
    spec = importlib.util.spec_from_file_location("workflow_test_images", default_bundle / "tools" / "images.py")
    images = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # its dataclass looks itself up there
    try:
        spec.loader.exec_module(images)
    finally:
        del sys.modules[spec.name]
    image = yaml.safe_load((default_bundle / "competition.yaml").read_text(encoding="utf-8"))["docker_image"]
    for name, job in workflow["jobs"].items():
        uses = [step["uses"] for step in job["steps"] if "uses" in step]
        assert uses == ["actions/checkout@v4", "actions/setup-python@v5"], name
        python = next(step["with"] for step in job["steps"] if step.get("uses", "").startswith("actions/setup-python"))
        assert python == {"python-version": images.IMAGES[image].python, "cache": "pip", "cache-dependency-path": "requirements.txt"}


# -- behaviour -----------------------------------------------------------------------------------------
def test_triggers_and_permissions(workflow):
    assert set(workflow["on"]) == {"push", "pull_request", "workflow_dispatch"}
    assert workflow["on"]["push"] == {"branches": ["**"], "tags": ["v*"]}
    assert workflow["on"]["pull_request"] is None  # every pull request
    assert workflow["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in workflow["jobs"].values())


def test_every_make_target_run_is_one_the_baked_makefile_defines(workflow, default_bundle):
    defined = makefile_targets(default_bundle / "Makefile")
    assert {"test", "validate", "help"} <= defined  # the parser reads this Makefile
    run = [target for job in workflow["jobs"].values() for step in steps_running(job)
           for call in make_calls(step["run"]) for target in targets(call)]
    assert {"test", "validate", "upload"} <= set(run)
    assert sorted(set(run) - defined) == []


def test_checks_run_on_every_event_and_stop_on_a_missing_table_before_make(workflow):
    checks = workflow["jobs"]["checks"]
    assert "if" not in checks and "needs" not in checks
    calls = [targets(call) for step in steps_running(checks) for call in make_calls(step["run"])]
    assert [target for call in calls for target in call][-2:] == ["test", "validate"]
    names = [step.get("name", "") for step in checks["steps"]]
    table_check = next(i for i, name in enumerate(names) if "tables" in name)
    assert table_check < names.index("make test")


EVENTS = {
    ("workflow_dispatch", "refs/heads/main"): True,
    ("push", "refs/tags/v1.0"): True,
    ("push", "refs/tags/v2"): True,
    ("push", "refs/heads/main"): False,
    ("push", "refs/heads/v2-branch"): False,
    ("push", "refs/tags/release-1"): False,
    ("pull_request", "refs/pull/7/merge"): False,
    ("schedule", "refs/heads/main"): False,
}


@pytest.mark.parametrize(("event", "ref"), list(EVENTS))
def test_upload_runs_only_on_a_manual_run_or_a_v_tag(workflow, event, ref):
    assert evaluate(workflow["jobs"]["upload"]["if"], event, ref) is EVENTS[(event, ref)]


def test_upload_needs_the_checks_and_never_runs_twice_at_once(workflow):
    upload = workflow["jobs"]["upload"]
    assert upload["needs"] in ("checks", ["checks"])
    assert isinstance(upload["concurrency"]["group"], str) and "${{" not in upload["concurrency"]["group"]
    assert upload["concurrency"]["cancel-in-progress"] is False  # an upload is never cut off half-way
    [step] = [step for step in steps_running(upload) if any("upload" in targets(call) for call in make_calls(step["run"]))]
    [call] = [call for call in make_calls(step["run"]) if "upload" in targets(call)]
    assert sorted(call) == sorted(["upload", "SUBMIT=baseline", "CODABENCH=$CODABENCH_URL"])
    assert step["env"]["CODABENCH_URL"] == "${{ vars.CODABENCH_URL || 'https://www.codabench.org' }}"


def test_the_token_comes_from_secrets_through_env_only(workflow, text):
    assert text.count("secrets.") == 1  # one secret, in one place
    upload = workflow["jobs"]["upload"]
    [step] = [step for step in upload["steps"] if "CODABENCH_TOKEN" in step.get("env", {})]
    assert step["env"]["CODABENCH_TOKEN"] == TOKEN
    for job in workflow["jobs"].values():
        for each in job["steps"]:
            # no expression in a script at all: values reach scripts through env, so none is pasted into a command
            assert "${{" not in each.get("run", "") and "secrets." not in json.dumps(each.get("with", {}))
            assert not re.search(r"\bset\s+-\w*x", each.get("run", ""))
    for line in step["run"].splitlines():
        words = line.split()
        if re.search(r"\$\{?CODABENCH_TOKEN\b", line):  # expanded: only to check that it is set
            assert words[:3] == ["if", "[", "-z"], f"the token is used beyond checking it is set: {line!r}"
        assert not re.match(r"\s*(printenv|env|export -p|declare -p)\b", line)
        assert not (words and words[0] == "make" and "TOKEN" in line)
    assert "env" not in workflow and "env" not in upload and "env" not in workflow["jobs"]["checks"]


# -- the missing table, run as the runner runs the step ------------------------------------------------
def table_check(workflow) -> dict:
    return next(step for step in workflow["jobs"]["checks"]["steps"] if "tables" in step.get("name", ""))


def run_table_check(workflow, folder: Path, source: str | None, public: bool = False) -> subprocess.CompletedProcess:
    """The step's script in `folder` (its .venv/bin/python: this Python), data.yaml's first source set to `source`."""
    declaration = yaml.safe_load((folder / "data.yaml").read_text(encoding="utf-8"))
    if source:
        declaration["datasets"][0]["source"] = source
        (folder / "data.yaml").write_text(yaml.safe_dump(declaration, sort_keys=False), encoding="utf-8")
    (folder / ".venv" / "bin").mkdir(parents=True, exist_ok=True)
    python = folder / ".venv" / "bin" / "python"
    if not python.exists():
        python.symlink_to(sys.executable)
    env = {**os.environ, "PUBLIC_REPOSITORY": "true" if public else "false"}
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", table_check(workflow)["run"]], check=False,
                          cwd=folder, capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def checkout(default_bundle, tmp_path) -> Path:
    (tmp_path / "data.yaml").write_text((default_bundle / "data.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def test_table_check_passes_the_default_synthetic_data_silently(workflow, checkout):
    done = run_table_check(workflow, checkout, None, public=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_table_check_fails_with_one_line_naming_a_missing_table_and_the_fix(workflow, checkout):
    done = run_table_check(workflow, checkout, "private/table.csv")
    assert done.returncode == 1 and done.stderr == ""
    [line] = done.stdout.splitlines()
    assert line.startswith("::error file=data.yaml::")
    assert "private/table.csv is not in this repository" in line
    assert "PRIVATE repository" in line and "git add -f private/table.csv" in line


def test_table_check_names_a_fix_for_a_table_outside_the_repository(workflow, checkout):
    done = run_table_check(workflow, checkout, "/home/me/tables/answers.csv")
    assert done.returncode == 1
    [line] = done.stdout.splitlines()
    assert "set data.yaml's source to private/answers.csv" in line


def test_table_check_passes_a_committed_table_and_warns_in_a_public_repository(workflow, checkout):
    (checkout / "private").mkdir()
    (checkout / "private" / "table.csv").write_text("id,target\n1,0\n", encoding="utf-8")
    done = run_table_check(workflow, checkout, "private/table.csv")
    assert (done.returncode, done.stdout) == (0, "")
    public = run_table_check(workflow, checkout, None, public=True)
    assert public.returncode == 0 and public.stdout.startswith("::warning file=data.yaml::private/table.csv is in a PUBLIC repository")
