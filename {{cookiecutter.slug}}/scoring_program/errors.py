"""Errors whose message is written for the participant.

Kept apart from the scientific code so the scoring program can catch them before numpy,
pandas and matplotlib are imported (those take about a second to load).
"""

from __future__ import annotations

MAX_MESSAGE = 2000  # characters of a message shown at most: a 10,000-column header stays readable


def capped(text: str, limit: int = MAX_MESSAGE) -> str:
    """The text on one line (a message's line breaks could forge an ERROR line), cut to `limit`
    characters with a word on what was cut."""
    text = " ".join(str(text).splitlines())
    return text if len(text) <= limit else f"{text[:limit]}\N{HORIZONTAL ELLIPSIS} ({len(text) - limit} more characters cut)"


class PredictionError(Exception):
    """The predictions cannot be scored: what is wrong, in which file, and how to fix it.

    `str(error)` is the one line printed on stderr; the detailed results page shows the
    problem, the file and the fix apart, so a participant finds the fix at a glance.
    """

    def __init__(self, problem: str, *, file: str = "", fix: str = ""):
        problem, file, fix = capped(problem), capped(file, 200), capped(fix)
        super().__init__(" ".join(part for part in (problem, fix) if part))
        self.problem, self.file, self.fix = problem, file, fix
