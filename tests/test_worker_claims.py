"""What the template's documents and tools say about Codabench's compute worker, checked against its code.

Every line of `compute_worker/compute_worker.py` they cite (at c7dbc756, the commit the facts file
describes, read from the snapshot in ../shared/vendor) must hold what CITED says it holds: a
citation that points elsewhere, or a new one not listed here, fails. And what an earlier version
said of the worker, and was wrong, must not come back.
"""

from __future__ import annotations

import os
import re
import tarfile
from pathlib import Path

import pytest

from codabench_worker import TARBALL

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "{{cookiecutter.slug}}"
# The first line of each cited line or range, and what is written there.
CITED = {
    264: "def replace_legacy_metadata_command(",
    544: "def _get_container_image(self, image_name):",
    546: "retries, max_retries = (0, 3)",
    572: 'f"Pull for {image_name} failed! Check the logs for more information"',
    576: "time.sleep(5)",
    662: 'with ZipFile(bundle_file, "r") as z:',
    697: "websocket = await asyncio.wait_for(",
    734: "for log in container_LogsDemux:",
    755: "except Exception as e:",
    765: "logs_Unified = client.attach(container, logs=True, demux=True)",
    847: 'if os.path.exists(os.path.join(program_dir, "metadata.yaml")):',
    853: 'if kind == "program":',
    963: "cap_drop_list = [",
    980: 'if os.environ.get("CONTAINER_ENGINE_EXECUTABLE", "docker").lower() == "docker":',
    981: 'security_options = ["no-new-privileges"]',
    1017: "container_network_disabled = os.environ.get(",
    1022: "competition_container_proxy_http = os.environ.get(",
    1043: 'working_dir="/app/program",',
    1044: "environment=[",
    1049: 'network_disabled=container_network_disabled.lower() == "true",',
    1129: "def prepare(self):",
    1178: "# Before the run starts we want to download images",
    1180: "self._get_container_image(self.container_image)",
    1186: 'logger.info("Running scoring program, and then ingestion program")',
    1190: "gathered_tasks = asyncio.gather(",
    1197: "signal.signal(signal.SIGALRM, alarm_handler)",
    1198: "signal.alarm(self.execution_time_limit)",
    1204: 'error_message = f"Execution Time Limit exceeded. Limit was {self.execution_time_limit} seconds"',
    1313: 'if os.path.exists(os.path.join(self.output_dir, "scores.json")):',
    1344: "def push_output(self):",
    1349: "# for v1.5 compat, send `ingestion_elapsed_time` if no `program_elapsed_time`",
    1350: '"elapsedTime": self.program_elapsed_time or self.ingestion_elapsed_time,',
}
# Where each file cites the worker's lines, and how.
CITING = {
    BUNDLE / "README.md": re.compile(r"\blines? (\d{3,4})(?:-\d+)?(?:, (\d{3,4}))?"),
    BUNDLE / "tools" / "worker.py": re.compile(r"(?<=[(\s,]):(\d{3,4})\b"),
    BUNDLE / "tools" / "executors.py": re.compile(r"(?<=[(\s,]):(\d{3,4})\b|compute_worker\.py:(\d{3,4})"),
    BUNDLE / "tools" / "run_rules.py": re.compile(r"compute_worker\.py:(\d{3,4})"),
    REPO / "docs" / "codabench-checks.md": re.compile(r"compute_worker\.py:(\d{3,4})|\(:(\d{3,4})\)"),
    REPO / "docs" / "design-decisions.md": re.compile(r"compute_worker\.py:(\d{3,4})"),
    REPO / "docs" / "troubleshooting.md": re.compile(r"compute_worker\.py:(\d{3,4})"),
}
# Said once of the worker, and wrong (issue 22): they must not come back.
WRONG = {
    "`no-new-privileges`, no network": "the worker's containers have a network unless its admin turns it off",
    "network | none": "the worker's containers have a network unless its admin turns it off",
    "start together": "the submission's own program runs to its end before ingestion",
    "at the same time as the ingestion": "the submission's own program runs to its end before ingestion",
    "pulled once": "the worker pulls before every step",
    "and nothing else from your environment": "the worker also passes empty http_proxy and https_proxy",
    "about 90 s": "the stand-in takes 1.5 to 3.5 minutes to build",
}


@pytest.fixture(scope="module")
def worker_lines() -> list[str]:
    if not TARBALL.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI must check the worker citations: no snapshot at {TARBALL}", pytrace=False)
        pytest.skip(f"no Codabench snapshot at {TARBALL}")
    with tarfile.open(TARBALL) as tar:
        text = tar.extractfile("codabench/compute_worker/compute_worker.py").read().decode("utf-8")
    return text.splitlines()


def test_each_cited_line_holds_what_the_template_says_it_does(worker_lines):
    wrong = {line: worker_lines[line - 1].strip() for line, text in CITED.items() if text not in worker_lines[line - 1]}
    assert wrong == {}


@pytest.mark.parametrize("path", sorted(CITING), ids=lambda p: str(p.relative_to(REPO)))
def test_every_citation_of_the_worker_is_one_that_is_checked(path):
    text = path.read_text(encoding="utf-8")
    cited = {int(n) for match in CITING[path].finditer(text) for n in match.groups() if n}
    assert cited, f"{path.name} cites no line of compute_worker.py any more: update CITING"
    assert cited - set(CITED) == set()


@pytest.mark.parametrize("path", [REPO / "README.md", BUNDLE / "README.md", BUNDLE / "tools" / "worker.py",
                                  BUNDLE / "tools" / "executors.py", BUNDLE / "tools" / "run_local.py",
                                  *sorted((REPO / "docs").glob("*.md"))], ids=lambda p: str(p.relative_to(REPO)))
def test_what_was_said_wrongly_of_the_worker_is_gone(path):
    text = " ".join(path.read_text(encoding="utf-8").split())
    assert [f"{said!r}: {truth}" for said, truth in WRONG.items() if said in text] == []


# -- the bundle README's "Going live": each setting it names is one Codabench's code reads --------------------------
READ_BY = {  # setting -> the file of the snapshot that reads it from the bundle
    "registration_auto_approve": "src/apps/competitions/unpackers/v2.py",
    "make_programs_available": "src/apps/competitions/unpackers/v2.py",
    "make_input_data_available": "src/apps/competitions/unpackers/v2.py",
    "max_submissions_per_day": "src/apps/competitions/unpackers/v2.py",
    "max_submissions": "src/apps/competitions/unpackers/v2.py",
    "auto_migrate_to_this_phase": "src/apps/competitions/unpackers/v2.py",
    "submission_rule": "src/apps/leaderboards/models.py",  # the leaderboard list goes to its serializer verbatim
    "queue": "src/apps/competitions/unpackers/base_unpacker.py",  # Queue.objects.get(vhost=...)
}
NOT_READ = {"published": "src/apps/competitions/unpackers/v2.py"}  # the guide says a bundle cannot set it


def _snapshot_file(path: str) -> str:
    if not TARBALL.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI must check the guide's settings: no snapshot at {TARBALL}", pytrace=False)
        pytest.skip(f"no Codabench snapshot at {TARBALL}")
    with tarfile.open(TARBALL) as tar:
        return tar.extractfile(f"codabench/{path}").read().decode("utf-8")


def _going_live() -> str:
    text = (BUNDLE / "README.md").read_text(encoding="utf-8")
    return text[text.index("## Going live"):]


def test_every_setting_the_going_live_guide_names_is_read_by_codabench():
    named = set(re.findall(r"`([a-z_]+)(?::[^`]*)?`", _going_live())) & (set(READ_BY) | set(NOT_READ) | {
        name for name in re.findall(r"`([a-z_]+):", _going_live())})
    assert named - set(READ_BY) - set(NOT_READ) == set(), "a setting the guide names is not checked here: add it"
    for name in named & set(READ_BY):
        assert re.search(rf"['\"]{name}['\"]|\b{name}\s*=", _snapshot_file(READ_BY[name])), name
    for name in named & set(NOT_READ):
        assert not re.search(rf"['\"]{name}['\"]", _snapshot_file(NOT_READ[name])), name


def test_the_guides_account_of_phase_migration_is_codabenchs():
    lines = _snapshot_file("src/apps/competitions/models.py").splitlines()
    assert "src/apps/competitions/models.py:142-149" in _going_live()
    assert "submissions = Submission.objects.filter(" in lines[142]  # line 143
    assert "leaderboard__isnull=False" in lines[146] and "status=Submission.FINISHED" in lines[147]
