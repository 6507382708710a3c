"""Where a score stands: the baseline's scores beside the submission's, and how much of a gap is noise.

The organizer's `make data` scores the starting kit's baseline on each phase's test set and puts
the result in the reference data (`baseline.json`). Here each metric of a submission gets a 95 %
bootstrap interval: the spread of its value over resamples of the test rows drawn with
replacement, which is how much the score owes to which rows happen to be in the test set. When
the baseline's score lies outside that interval, the gap is larger than that noise.

Nothing here changes `scores.json` or the leaderboard: it is shown on the detailed results page.
The resamples are seeded (the same predictions always get the same interval) and bounded: above
ROWS_PER_RESAMPLE rows (fewer with many probability columns) each resample draws that many rows
and the spread is scaled to the full number of rows by the square root of their ratio, as every
metric here is an average over rows, or close to one (an "m out of n" bootstrap); the page says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BASELINE_FILE = "baseline.json"  # written by tools/prepare_data.py into the reference data
RESAMPLES = 200
ROWS_PER_RESAMPLE = 20_000  # x RESAMPLES x the leaderboard's metrics: about half a second (ROC AUC, binary)
LEVEL = 0.95
SEED = 12345
MIN_VALID = 0.95  # share of resamples the metric must be defined on (a resample may miss a rare class)
MAX_BASELINE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    rows: int  # test rows scored
    drawn: int  # rows drawn per resample (rows, or fewer when the spread is scaled)
    resamples: int


@dataclass(frozen=True)
class Standing:
    """One metric of one dataset: the submission's value, the baseline's, and the submission's interval."""

    title: str
    value: float
    precision: int
    higher_is_better: bool
    baseline: float | None = None
    interval: Interval | None = None
    no_interval: str = ""  # why there is no interval, when there is none
    baseline_phase: str = ""  # the phase whose test set gave the baseline's score, when it is not these rows

    def shown(self, value: float) -> str:
        return f"{value:.{self.precision}f}"

    @property
    def gap(self) -> float | None:
        return None if self.baseline is None else self.value - self.baseline

    @property
    def ties(self) -> bool:
        """The two agree at the precision the leaderboard shows."""
        return self.baseline is not None and self.shown(self.value) == self.shown(self.baseline)

    @property
    def direction(self) -> str:
        """"better" or "worse" than the baseline; "same" with no baseline or a tie (this also colours the sentence)."""
        if self.gap is None or self.ties:
            return "same"
        return "better" if (self.gap > 0) == self.higher_is_better else "worse"

    def gap_text(self) -> str:
        """The gap with its sign, e.g. "+0.0412"; "the same" for a tie, a dash without a baseline."""
        if self.gap is None:
            return "\N{EN DASH}"
        if self.ties:
            return "the same"
        return f"{self.gap:+.{self.precision}f}".replace("-", "\N{MINUS SIGN}")

    def interval_text(self, between: str = "\N{EN DASH}") -> str:
        if self.interval is None:
            return "\N{EN DASH}"
        return f"{self.shown(self.interval.low)}{between}{self.shown(self.interval.high)}"

    def sentence(self) -> str:
        """One plain sentence: better or worse than the baseline, and whether the gap is larger than the noise."""
        if self.baseline is None:
            return ""
        ours, theirs = self.shown(self.value), self.shown(self.baseline)
        if self.ties:
            return f"Your {self.title}, {ours}, equals the baseline's to {self.precision} decimals."
        start = f"Your {self.title}, {ours}, is {abs(self.gap):.{self.precision}f} {self.direction} than the baseline's {theirs}"
        if self.baseline_phase:  # scored on other rows: no interval of these rows can say whether the gap is noise
            return f"{start} (its {self.baseline_phase} phase score, on other rows: an indication, not a test)."
        if self.interval is None:
            return f"{start}; {self.no_interval}" if self.no_interval else f"{start}."
        inside = self.interval.low <= self.baseline <= self.interval.high
        where = f"{'inside' if inside else 'outside'} your 95 % interval ({self.interval_text(' to ')})"
        if inside:
            return f"{start}, but the baseline's score lies {where}: on a test set of this size the gap may be noise."
        return f"{start}, and the baseline's score lies {where}: the gap is larger than the noise of this test set."


def read_baseline(reference_dir: Path, dataset: str) -> tuple[dict[str, float], str]:
    """The baseline's scores on one dataset, by metric key, and a problem to show when the file is unusable.

    The file is the organizer's: a missing file means no comparison, a broken one a note, never a failed
    submission.
    """
    path = reference_dir / BASELINE_FILE
    if not path.is_file() or path.is_symlink():
        return {}, ""
    try:
        if path.stat().st_size > MAX_BASELINE_BYTES:
            raise ValueError("it is over 1 MiB")
        record = json.loads(path.read_text(encoding="utf-8"))
        scores = record["datasets"][dataset]
        values = {str(key): float(value) for key, value in scores.items()}
        if not all(math.isfinite(v) for v in values.values()):
            raise ValueError("a score is not a finite number")
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError, RecursionError, OSError) as exc:
        return {}, (f"No comparison with the baseline: the reference data's {BASELINE_FILE} is unusable "
                    f"({type(exc).__name__}: {str(exc)[:200]}); please tell the organizers.")
    return values, ""


def rows_per_resample(rows: int, width: int, datasets: int) -> int:
    """Rows each resample draws: all of them up to the budget, which wide probabilities and several datasets share."""
    return max(1, min(rows, ROWS_PER_RESAMPLE // max(1, width) // max(1, datasets)))


def resampler(y_true: np.ndarray, classes: list, drawn: int, rng) -> tuple:
    """What draws one resample's rows, and how many it draws. With classes, each class's rows are drawn among
    themselves in the test set's proportions: the test set's classes are fixed by its stratified split, and a
    resample that lost a rare class would score its class-averaged metrics (macro F1, balanced accuracy) for a
    class nobody could predict, dragging even a perfect submission's interval down."""
    rows = len(y_true)
    if not classes:
        return (lambda: rng.integers(0, rows, drawn)), drawn
    codes = np.unique(y_true, return_inverse=True)[1].ravel()
    members = [np.flatnonzero(codes == code) for code in range(int(codes.max()) + 1)]
    sizes = [len(m) if drawn == rows else max(1, round(drawn * len(m) / rows)) for m in members]
    return (lambda: np.concatenate([m[rng.integers(0, len(m), k)] for m, k in zip(members, sizes)])), sum(sizes)


def bootstrap(metrics_and_views: list[tuple[object, np.ndarray]], y_true: np.ndarray, classes: list,
              values: dict[str, float], datasets: int = 1) -> dict[str, Interval | str]:
    """A 95 % interval per metric key, or the reason there is none. `metrics_and_views` pairs each metric
    (metrics.Metric) with the predictions as it reads them; `values` holds their values on every row."""
    rows = len(y_true)
    width = max((view.shape[1] if view.ndim == 2 else 1) for _, view in metrics_and_views)
    rng = np.random.default_rng(SEED)
    draw, drawn = resampler(y_true, classes, rows_per_resample(rows, width, datasets), rng)
    found: dict[str, list[float]] = {metric.key: [] for metric, _ in metrics_and_views}
    for _ in range(RESAMPLES):
        rows_drawn = draw()
        truth = y_true[rows_drawn]
        for metric, view in metrics_and_views:
            try:
                value = metric.compute(truth, view[rows_drawn], classes)
            except (ValueError, ZeroDivisionError, FloatingPointError):  # undefined on this resample (a class missing)
                continue
            if math.isfinite(value):
                found[metric.key].append(value)
    scale = math.sqrt(drawn / rows)  # 1 when every resample draws all the rows
    result: dict[str, Interval | str] = {}
    for metric, _ in metrics_and_views:
        spread = np.asarray(found[metric.key]) - values[metric.key]
        if len(spread) < MIN_VALID * RESAMPLES:
            result[metric.key] = (f"no interval: {metric.title} is undefined on {RESAMPLES - len(spread)} of "
                                  f"{RESAMPLES} resamples (too few test rows of some class).")
            continue
        low, high = np.quantile(spread, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
        result[metric.key] = Interval(low=max(metric.minimum, values[metric.key] + scale * float(low)),
                                      high=min(metric.maximum, values[metric.key] + scale * float(high)),
                                      rows=rows, drawn=drawn, resamples=RESAMPLES)
    return result


def how_computed(interval: Interval) -> str:
    """What the interval is, in words, for the page."""
    seeded = "seeded, so the same predictions always get the same interval"
    if interval.drawn == interval.rows:
        return (f"95 % interval: the middle 95 % of the scores of {interval.resamples} resamples of the "
                f"{interval.rows:,} test rows, drawn with replacement ({seeded}). It shows how much the score "
                "owes to which rows are in the test set.")
    return (f"95 % interval: from {interval.resamples} resamples of {interval.drawn:,} of the {interval.rows:,} test "
            f"rows, drawn with replacement ({seeded}); to keep scoring fast the resamples are smaller than the test "
            f"set, so their spread is narrowed by \N{SQUARE ROOT}({interval.drawn:,}/{interval.rows:,}) to the full "
            "size. It shows how much the score owes to which rows are in the test set.")


def where_it_stands(chosen: list, reference, prediction, values: dict[str, float], baseline: dict[str, float],
                    datasets: int, baseline_phase: str = "") -> tuple[list[Standing], list[str]]:
    """Each of the `chosen` metrics (metrics.Metric) on one dataset with its 95 % interval and the baseline's
    score, and the notes that say how the intervals were computed and where the baseline comes from:
    `baseline_phase` names the phase whose test set gave the baseline's scores when it is not these rows."""
    intervals = bootstrap([(m, prediction.view(m.needs)) for m in chosen], reference.target, reference.classes,
                          values, datasets)
    standings = []
    for m in chosen:
        found = intervals[m.key]
        interval, why_not = (found, "") if isinstance(found, Interval) else (None, found)
        standings.append(Standing(m.title, values[m.key], m.precision, m.higher_is_better, baseline.get(m.key),
                                  interval, why_not, baseline_phase))
    computed = next((s.interval for s in standings if s.interval), None)
    notes = [how_computed(computed)] if computed else []
    notes += [f"{s.title}: {s.no_interval}" for s in standings if s.no_interval]
    if not baseline:
        notes.append("No baseline scores came with the reference data, so there is nothing to compare with.")
    elif baseline_phase:
        notes.append("Baseline: the starting kit's sample code submission, scored by the organizers in the "
                     f"{baseline_phase} phase, on its test set rather than these rows, so the comparison is indicative.")
    else:
        notes.append("Baseline: the starting kit's sample code submission, scored by the organizers on these test rows.")
    return standings, notes


def summary(firsts: list[Standing]) -> tuple[str, str]:
    """The ranking metric against the baseline in one sentence, and its direction, from each dataset's standing of
    it. Several datasets are compared by their means; their own sections say whether each gap is noise."""
    if len(firsts) == 1:
        return firsts[0].sentence(), firsts[0].direction
    if any(s.baseline is None for s in firsts):
        return "", "same"
    first = firsts[0]
    mean = Standing(f"{first.title} (mean)", sum(s.value for s in firsts) / len(firsts), first.precision,
                    first.higher_is_better, sum(s.baseline for s in firsts) / len(firsts), baseline_phase=first.baseline_phase)
    sentence = mean.sentence()
    if not mean.ties and not first.baseline_phase:
        sentence = sentence[:-1] + "; each dataset below says whether its gap is larger than the noise."
    return sentence, mean.direction
