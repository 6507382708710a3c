"""What participants read: the pages, the terms and the description, checked for the template's placeholder text.

A fresh bake says "Organizers: edit this page" in its terms and describes the competition with
a generic sentence of its task type; both are meant to be replaced before the upload, and both
would be published as they are. A warning (CB130), not an error: `make bundle` still builds.
"""

from __future__ import annotations

from pathlib import Path

from bundle import mappings
from file_rules import MAX_SCANNED, inside_paths
from findings import Findings

NOTES_TO_THE_ORGANIZER = ("Organizers: edit this page",)
# The description a bake gets without its own, per task type: the template renders it from here (local_extensions)
DESCRIPTIONS = {
    "binary_classification": "Predict the binary label of each row of a tabular dataset.",
    "multiclass_classification": "Predict the class of each row of a tabular dataset.",
    "regression": "Predict a numeric target for each row of a tabular dataset.",
}
GENERIC_DESCRIPTIONS = tuple(DESCRIPTIONS.values())
EDIT_IT = "edit it before you upload"


def page_text(path: Path) -> str | None:
    """A page as text, or None when it cannot be one (file_rules reports a missing, empty or non-UTF-8 page)."""
    if not path.is_file() or path.stat().st_size > MAX_SCANNED:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


def placeholders(text: str) -> list[tuple[int, str, str]]:
    """(line, phrase, what it is) for each placeholder the text still holds."""
    found = [(phrase, "a note to the organizer") for phrase in NOTES_TO_THE_ORGANIZER if phrase in text]
    found += [(phrase, "the template's generic description") for phrase in GENERIC_DESCRIPTIONS if phrase in text]
    return [(text.count("\n", 0, text.index(phrase)) + 1, phrase, what) for phrase, what in found]


def check_pages(c: dict, root: Path, findings: Findings) -> None:
    """CB130: the description, the pages and the terms, each file once."""
    description = c.get("description")
    if isinstance(description, str) and description.strip() in GENERIC_DESCRIPTIONS:
        findings.add("CB130", "description", f"the description is the template's generic one, {description.strip()!r}: Codabench "
                     f"shows it under the title in its public list of competitions; {EDIT_IT}", "write one line about your competition")
    pages = {"terms": c.get("terms")} | {f"pages[{i}].file": page.get("file") for i, page in mappings(c.get("pages"))}
    inside = inside_paths(c, root)
    seen = set()
    for where, value in pages.items():
        if where not in inside or value in seen:
            continue
        seen.add(value)
        for line, phrase, what in placeholders(page_text(root / value) or ""):
            findings.add("CB130", where, f"{value} line {line} still holds {what}, {phrase!r}: participants would read it; {EDIT_IT}",
                         "replace it with your own text", file=value)
