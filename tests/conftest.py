"""Bake helpers shared by the template tests.

Bakes go through cookiecutter's own API with a throw-away user config, so no test reads or
writes ~/.cookiecutter_replay. Each configuration is baked once per session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parent.parent
DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def user_config(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(f"cookiecutters_dir: {home / 'cookiecutters'}\nreplay_dir: {home / 'replay'}\n")
    return config


@pytest.fixture(scope="session")
def bake(tmp_path_factory, user_config):
    """bake(**answers) -> path of the generated bundle (answers go in as with --no-input key=value)."""

    def _bake(**answers: str) -> Path:
        out = tmp_path_factory.mktemp("bake")
        project = cookiecutter(
            str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(out), config_file=str(user_config)
        )
        return Path(project)

    return _bake


@pytest.fixture(scope="session")
def default_bundle(bake) -> Path:
    return bake()


def run(command: list[str], cwd: Path, timeout: int = 900, **kwargs) -> subprocess.CompletedProcess:
    """Run a command in a baked bundle; on failure the assertion shows its output."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kwargs)


PYTHON = sys.executable
