"""Errors whose message is written for the participant.

Kept apart from the scientific code so the scoring program can catch them before numpy,
pandas and matplotlib are imported (those take about a second to load).
"""

from __future__ import annotations


class PredictionError(Exception):
    """The predictions cannot be scored: what is wrong, in which file, and how to fix it.

    `str(error)` is the one line printed on stderr; the detailed results page shows the
    problem, the file and the fix apart, so a participant finds the fix at a glance.
    """

    def __init__(self, problem: str, *, file: str = "", fix: str = ""):
        super().__init__(" ".join(part for part in (problem, fix) if part))
        self.problem, self.file, self.fix = problem, file, fix
