"""Jinja helpers for this template (loaded through `_extensions` in cookiecutter.json).

They only format answers the pre-generation hook has already validated, so they never
see a malformed date or number.
"""

from __future__ import annotations

import html
import json
import re
from datetime import date, datetime, time, timedelta

from jinja2.ext import Extension

# Markdown characters that would change how a title renders on Codabench's pages
# (which are Markdown + raw HTML + KaTeX, so `$` starts math).
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]$|#~])")


def phase_dates(start_date: str, dev_days: str, final_days: str) -> dict[str, str]:
    """Quoted-ready UTC datetimes for the two phases, strictly sequential.

    Codabench drops the time of day of an unquoted YAML datetime and rejects a phase that
    starts exactly when the previous one ends, so each phase ends one second before the
    next begins.
    """
    start = datetime.combine(date.fromisoformat(start_date), time())
    final_start = start + timedelta(days=int(dev_days))
    final_end = final_start + timedelta(days=int(final_days))
    fmt = "%Y-%m-%d %H:%M:%S"
    one_second = timedelta(seconds=1)
    return {
        "dev_start": start.strftime(fmt),
        "dev_end": (final_start - one_second).strftime(fmt),
        "final_start": final_start.strftime(fmt),
        "final_end": (final_end - one_second).strftime(fmt),
    }


def yaml_string(value: str) -> str:
    """A double-quoted YAML scalar that loads back to exactly `value` (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def markdown_text(value: str) -> str:
    """`value` as literal text in Markdown with raw HTML: HTML-escaped, Markdown specials escaped."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", html.escape(value, quote=False))


class BundleExtension(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["yaml_string"] = yaml_string
        environment.filters["markdown_text"] = markdown_text
        environment.globals["phase_dates"] = phase_dates
