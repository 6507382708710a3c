"""The template's own packaging agrees with what a baked bundle needs."""

from __future__ import annotations

import re

from conftest import TEMPLATE


def requirement_names(lines: list[str]) -> set[str]:
    return {re.split(r"[<>=!~ ]", line.strip(), maxsplit=1)[0].lower() for line in lines if line.strip() and not line.startswith("#")}


def test_template_test_extra_installs_every_bundle_requirement():
    pyproject = (TEMPLATE / "pyproject.toml").read_text(encoding="utf-8")
    extra = re.search(r"^test = \[(.*?)^\]", pyproject, re.S | re.M).group(1)
    template_needs = requirement_names(re.findall(r'"([^"]+)"', extra))
    bundle_needs = requirement_names((TEMPLATE / "{{cookiecutter.slug}}" / "requirements.txt").read_text().splitlines())
    assert bundle_needs <= template_needs, bundle_needs - template_needs


def test_readme_test_command_is_what_ci_runs():
    readme = (TEMPLATE / "README.md").read_text(encoding="utf-8")
    ci = (TEMPLATE / ".ci" / "run").read_text(encoding="utf-8")
    command = re.search(r"<!-- test-command -->\n```bash\n(.*?)\n```", readme, re.S).group(1)
    assert command.strip() in ci
