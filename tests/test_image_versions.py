"""The programs run on the docker image's library versions, not only on the organizer's newer ones.

CI sets CODABENCH_IMAGE_PYTHON to a Python 3.12 venv pinned to codalab/codalab-legacy:py312's
versions (numpy 1.26, scikit-learn 1.5, matplotlib 3.8); see .ci/run. Without it this is skipped.
"""

from __future__ import annotations

import os

import pytest

from conftest import PYTHON, run

IMAGE_PYTHON = os.environ.get("CODABENCH_IMAGE_PYTHON")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not IMAGE_PYTHON, reason="set CODABENCH_IMAGE_PYTHON to a venv with the image's versions (see .ci/run)"),
]


def test_image_python_has_the_image_versions():
    done = run([IMAGE_PYTHON, "-c", "import sys, numpy, sklearn, matplotlib; "
                "print(sys.version_info[:2], numpy.__version__, sklearn.__version__, matplotlib.__version__)"], cwd=".")
    assert done.stdout.strip() == "(3, 12) 1.26.4 1.5.1 3.8.4", done.stdout + done.stderr


@pytest.mark.parametrize("phase", ["Development", "Final"])
def test_baseline_scores_with_the_image_versions(default_bundle, phase):
    if not (default_bundle / "data" / "manifest.json").exists():
        assert run([PYTHON, "tools/prepare_data.py"], cwd=default_bundle).returncode == 0
    done = run([PYTHON, "tools/run_local.py", "--phase", phase, "--python", IMAGE_PYTHON, "--quiet"], cwd=default_bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{phase} task: Finished" in done.stdout


def test_failing_submission_fails_with_its_message_on_the_image_versions(default_bundle):
    if not (default_bundle / "data" / "manifest.json").exists():
        assert run([PYTHON, "tools/prepare_data.py"], cwd=default_bundle).returncode == 0
    done = run([PYTHON, "tools/run_local.py", "--submission", "starting_kit/failing_submission", "--python", IMAGE_PYTHON,
                "--quiet"], cwd=default_bundle)
    assert done.returncode == 1
    expected = (default_bundle / "starting_kit" / "failing_submission" / "expected_error.txt").read_text().strip()
    # The ingestion program's line is "<problem>; <fix>"; the scoring program says them as two sentences.
    problem, fix = expected.removeprefix("ERROR: ").split("; ", 1)
    assert f"The prediction step stopped: {problem}. {fix[0].upper()}{fix[1:]}." in done.stdout, done.stdout
