"""Errors whose message is written for the participant.

Kept apart from the scientific code so the scoring program can catch them before numpy,
scikit-learn and matplotlib are imported (those take about a second to load).
"""


class PredictionError(Exception):
    """The predictions cannot be scored; the message says what is wrong and how to fix it."""
