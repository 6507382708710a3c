"""Check competition.yaml's structure against tools/competition.schema.json (JSON Schema 2020-12).

The same schema gives editors completion and inline errors (see the `yaml-language-server`
comment at the top of competition.yaml). Structure only: keys, types, allowed values and
lengths. Rules that span several fields (dates, indexes, files) are hand-written in
yaml_rules.py and program_rules.py, and win when both report the same place.
"""

from __future__ import annotations

import difflib
import functools
import json
from datetime import date, datetime
from pathlib import Path

from findings import Findings

SCHEMA_PATH = Path(__file__).with_name("competition.schema.json")


def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.cache
def schema_validator():
    from jsonschema import Draft202012Validator  # organizer side only; listed in requirements.txt

    return Draft202012Validator(load_schema())


def yaml_path(parts) -> str:
    """['phases', 1, 'start'] -> 'phases[1].start' (the form every finding uses)."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def describe(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, date):
        return f"the unquoted date {value}"
    names = {dict: "a mapping", list: "a list", str: "text", int: "an integer", float: "a number", type(None): "empty"}
    return next((name for kind, name in names.items() if isinstance(value, kind)), type(value).__name__)


def _finding_for(error, findings: Findings) -> None:
    where = list(error.absolute_path)
    keyword, expected = error.validator, error.validator_value
    if keyword == "required":
        missing = [key for key in expected if key not in error.instance]
        for key in missing:
            findings.add("CB102", yaml_path(where + [key]), f"required key {key!r} is missing", f"add `{key}:`")
    elif keyword == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        for key in sorted(set(error.instance) - set(known)) if known else []:
            close = difflib.get_close_matches(str(key), known, n=1)
            fix = f"did you mean `{close[0]}`?" if close else "remove it (see tools/competition.schema.json for the keys)"
            findings.add("CB103", yaml_path(where + [key]), f"{key!r} is not a key Codabench reads here: it is ignored", fix)
        if not known:  # a fact sheet question that is not a mapping: reported below by yaml_rules
            findings.add("CB100", yaml_path(where), error.message, "see tools/competition.schema.json")
    elif keyword == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        findings.add("CB100", yaml_path(where), f"{describe(error.instance)} where Codabench expects {wanted}",
                     f"write {wanted} here")
    elif keyword in ("enum", "const"):
        allowed = ", ".join(repr(v) for v in (expected if keyword == "enum" else [expected]))
        findings.add("CB101", yaml_path(where), f"{error.instance!r} is not allowed", f"use one of {allowed}")
    elif keyword == "anyOf" and "tasks" in where and len(where) == 2:
        findings.add("CB102", yaml_path(where), "a task needs `name` and `scoring_program` (or the `key` of an existing task)",
                     "add `name:` and `scoring_program:`")
    else:  # minLength, maxLength, minItems, minimum, pattern, anyOf
        findings.add("CB104", yaml_path(where), error.message, "see the description of this key in tools/competition.schema.json")


def as_json(value: object) -> object:
    """The yaml as an editor's YAML 1.2 server sees it: an unquoted date is text, not a date object.
    (Whether Codabench keeps its time of day is yaml_rules' business: CB040.)"""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value.isoformat() if isinstance(value, date) else value


def check_schema(competition: dict, findings: Findings) -> None:
    for error in sorted(schema_validator().iter_errors(as_json(competition)), key=lambda e: [str(p) for p in e.absolute_path]):
        _finding_for(error, findings)


def drop_repeats(schema_findings: Findings, precise: Findings) -> list:
    """Keep a schema finding only where no hand-written rule already explains the same place."""
    places = {f.path for f in precise if f.file == "competition.yaml" and f.path}

    def related(a: str, b: str) -> bool:
        return a == b or a.startswith((b + ".", b + "[")) or b.startswith((a + ".", a + "["))

    return [f for f in schema_findings if not any(related(f.path, place) for place in places)]
