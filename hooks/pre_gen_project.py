"""Validate the free-text answers before anything is written.

Each bad answer prints one line, `ERROR: <question> <value>: <rule>. <fix>`, and the hook
exits 1, so cookiecutter stops and removes the half-made folder. Choices are validated by
cookiecutter itself; what it cannot see is a choice that contradicts another (a regression
metric on a classification task), checked here. Settings starting with `_` are not asked but
can be given on the command line (`_dev_phase_days=30`) and are checked the same way.
No network, no subprocess, no randomness: cruft runs this again on every update.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from datetime import date

# tojson escapes ' as \u0027, so no answer can close the r'''...''' literal early.
ANSWERS = {
    "title": json.loads(r'''{{ cookiecutter.title | tojson }}'''),
    "slug": json.loads(r'''{{ cookiecutter.slug | tojson }}'''),
    "contact_email": json.loads(r'''{{ cookiecutter.contact_email | tojson }}'''),
    "task_type": json.loads(r'''{{ cookiecutter.task_type | tojson }}'''),
    "metric": json.loads(r'''{{ cookiecutter.metric | tojson }}'''),
    "datasets_per_phase": json.loads(r'''{{ cookiecutter.datasets_per_phase | tojson }}'''),
    "start_date": json.loads(r'''{{ cookiecutter.start_date | tojson }}'''),
    "queue": json.loads(r'''{{ cookiecutter.queue | tojson }}'''),
    "_description": json.loads(r'''{{ cookiecutter._description | tojson }}'''),
    "_dev_phase_days": json.loads(r'''{{ cookiecutter._dev_phase_days | tojson }}'''),
    "_final_phase_days": json.loads(r'''{{ cookiecutter._final_phase_days | tojson }}'''),
    "_docker_image": json.loads(r'''{{ cookiecutter._docker_image | tojson }}'''),
    "_dataset": json.loads(r'''{{ cookiecutter._dataset | tojson }}'''),
}
# Which metrics each task type accepts, read from the bundle's scoring_program/metrics.py.
METRIC_RULES = json.loads(r'''{{ metric_rules() | tojson }}''')
# The task type of each dataset scikit-learn ships that `_dataset` may name (tools/declaration.py).
DATASET_RULES = json.loads(r'''{{ dataset_rules() | tojson }}''')

RERUN = "Run cookiecutter again with a corrected answer (or --replay-file ~/.cookiecutter_replay/<template>.json after editing it)."
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# registry/user/name:tag, lowercase repository path, explicit tag (Codabench stores at most 128 characters).
DOCKER_IMAGE = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
MAX_DAYS = 3650
LAST_START = date(9000, 12, 31)  # phases of up to MAX_DAYS each still end before year 10000
WHOLE_NUMBER = re.compile(r"[0-9]{1,6}")  # ASCII digits: str.isdigit() also takes "³", which int() refuses
MAX_DATASETS = 5
# Jinja markup: cookiecutter renders answers given again (cruft update, --no-input with a config or
# replay file), so "7*7" in double braces typed at the prompt would become "49", or run code, later.
# Written with \x7b and \x7d for the braces: this file is itself rendered by Jinja.
JINJA_MARKUP = re.compile(r"\x7b[\x7b%#]|[\x7d%#]\x7d")
# A queue's vhost as Codabench's Queue Management shows it (competition.yaml's `queue:`; any case).
VHOST = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
# An image that brings CUDA (codalab/codalab-legacy:gpu310, nvidia/cuda:..., pytorch/pytorch:...-cuda12...).
GPU_IMAGE = re.compile(r"gpu|cuda", re.IGNORECASE)
HIDDEN_CATEGORIES = {"Cc": "a control character", "Zl": "a line separator", "Zp": "a paragraph separator"}


def shown(value: object, limit: int = 60) -> str:
    """An answer quoted in a message, shortened: a 5,000-character answer does not fill the terminal."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


def validate_jinja(name: str, value: object) -> str | None:
    found = JINJA_MARKUP.search(str(value))
    if found is None:
        return None
    return (f"{name} {shown(value)} holds the template markup {found.group()!r}, which cookiecutter evaluates when "
            "the answers are given again (cruft update, a replay or config file): it would change, or run code. "
            "Write it without a brace next to another brace, a % or a #.")


def validate_visible(name: str, value: str) -> str | None:
    """Control characters (terminal escapes, NUL, bell) and line separators: invisible, or breaking lines, on every page."""
    for position, character in enumerate(value, start=1):
        kind = HIDDEN_CATEGORIES.get(unicodedata.category(character))
        if kind and character not in "\n\r":  # line breaks get their own message
            return (f"{name}: character {position} is {kind} (U+{ord(character):04X}), which pages and logs "
                    "cannot show. Remove it.")
    return None


def validate_title(value: str) -> str | None:
    if not value.strip():
        return "title: the title is empty. Give the competition a name."
    if len(value) > 256:
        return f"title: {len(value)} characters is over Codabench's limit of 256. Shorten it."
    if "\n" in value or "\r" in value:
        return "title: the title spans several lines. Write it on one line."
    return validate_visible("title", value)


def validate_slug(value: str) -> str | None:
    if SLUG.match(value):
        return None
    suggestion = re.sub(r"[^a-z0-9_-]+", "_", value.lower()).strip("_-")[:64] or "my_competition"
    return (f"slug {shown(value)} is not a valid folder name: use 1 to 64 lowercase letters, digits, _ or -, "
            f"starting with a letter or digit. Try slug={suggestion!r}.")


def validate_email(value: str) -> str | None:
    if EMAIL.match(value) and len(value) <= 256:
        return None
    return f"contact_email {shown(value)} is not an email address. Give one like organizer@example.org."


def validate_description(value: str) -> str | None:
    if "\n" in value or "\r" in value:
        return "_description: the description spans several lines. Write one line; the pages hold the details."
    return validate_visible("_description", value)


def validate_metric(task_type: str, metric: str) -> str | None:
    valid = ["auto", *METRIC_RULES[task_type]]
    if metric in valid:
        return None
    return f"metric {metric!r} does not apply to {task_type}. Choose one of: {', '.join(valid)}."


def validate_datasets(value: str) -> str | None:
    text = str(value).strip()
    if not WHOLE_NUMBER.fullmatch(text) or not 1 <= int(text) <= MAX_DATASETS:
        return f"datasets_per_phase {shown(value)} is not a whole number from 1 to {MAX_DATASETS}. Write it like 3."
    return None


def validate_start_date(value: str) -> str | None:
    problem = f"start_date {shown(value)} is not a date in the form YYYY-MM-DD (UTC). Write it like 2027-01-04."
    if not ISO_DATE.match(value):
        return problem
    try:
        start = date.fromisoformat(value)
    except ValueError:
        return problem
    if start > LAST_START:
        return f"start_date {shown(value)} is too late: the phases would end after year 9999. Write a date up to {LAST_START}."
    return None


def validate_days(name: str, value: str) -> str | None:
    text = str(value).strip()
    if not WHOLE_NUMBER.fullmatch(text) or not 1 <= int(text) <= MAX_DAYS:
        return f"{name} {shown(value)} is not a whole number of days from 1 to {MAX_DAYS}. Write it like 30."
    return None


def validate_docker_image(value: str) -> str | None:
    if len(value) > 128 or not DOCKER_IMAGE.match(value):
        return (f"_docker_image {shown(value)} is not a pinned image name: write user/image:tag in lowercase, "
                "128 characters at most, e.g. codalab/codalab-legacy:py312.")
    if value.endswith(":latest"):
        return f"_docker_image {shown(value)} uses the moving tag 'latest'. Pin a fixed tag such as codalab/codalab-legacy:py312."
    return None


def validate_queue(value: str) -> str | None:
    """Empty (the public queue) or a vhost; a pasted broker URL is named without being echoed (it holds a password)."""
    text = value.strip()
    if not text or VHOST.match(text):
        return None
    if "://" in text or "@" in text:
        vhost = text.rstrip("/").rsplit("/", 1)[-1]
        found = f" (here {vhost})" if VHOST.match(vhost) else ""
        return ("queue holds a broker URL, which carries the queue's password and must not be in the bundle. "
                f"Give only the vhost, the UUID after its last '/'{found}.")
    return (f"queue {shown(value)} is not a vhost: competition.yaml names a queue by its vhost, a UUID such as "
            "0b6a9f3e-5c1d-4e2f-9a7b-3c8d1e2f4a5b, not by its name (Codabench says 'is not a valid UUID'). "
            "Copy it from Queue Management (the eye icon), or leave queue empty for the public queue.")


def validate_gpu_image(image: str, queue: str) -> str | None:
    if GPU_IMAGE.search(image) and not queue.strip():
        return (f"_docker_image {shown(image)} is a GPU image, and the public queue has no GPU. Give queue, the vhost "
                "of a queue with your own GPU workers (docs: Compute workers), or use a CPU image.")
    return None


def validate_dataset(task_type: str, dataset: str) -> str | None:
    if dataset == "synthetic" or DATASET_RULES.get(dataset) == task_type:
        return None
    fitting = [name for name, task in DATASET_RULES.items() if task == task_type]
    return (f"_dataset {dataset!r} is not a {task_type} dataset. Choose synthetic"
            + (f" or {', '.join(fitting)}." if fitting else "."))


def find_problems(answers: dict[str, str]) -> list[str]:
    """One problem per bad answer, template markup first (the answer's other rules judge text it does not mean)."""
    checks = {
        "title": validate_title(answers["title"]),
        "slug": validate_slug(answers["slug"]),
        "contact_email": validate_email(answers["contact_email"]),
        "task_type": None,  # a choice: cookiecutter offers only valid ones
        "metric": validate_metric(answers["task_type"], answers["metric"]),
        "datasets_per_phase": validate_datasets(answers["datasets_per_phase"]),
        "start_date": validate_start_date(answers["start_date"]),
        "queue": validate_queue(answers["queue"]),
        "_description": validate_description(answers["_description"]),
        "_dev_phase_days": validate_days("_dev_phase_days", answers["_dev_phase_days"]),
        "_final_phase_days": validate_days("_final_phase_days", answers["_final_phase_days"]),
        "_docker_image": validate_docker_image(answers["_docker_image"]) or validate_gpu_image(answers["_docker_image"],
                                                                                                answers["queue"]),
        "_dataset": validate_dataset(answers["task_type"], answers["_dataset"]),
    }
    return [problem for name, check in checks.items() if (problem := validate_jinja(name, answers[name]) or check)]


def main() -> int:
    problems = find_problems(ANSWERS)
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    if problems:
        print(RERUN, file=sys.stderr)
        return 1
    if ANSWERS["_docker_image"] != "codalab/codalab-legacy:py312":
        print(f"WARNING: the programs are tested on codalab/codalab-legacy:py312; check that "
              f"{ANSWERS['_docker_image']} has Python 3.9+, numpy, scikit-learn, matplotlib and pyyaml.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
