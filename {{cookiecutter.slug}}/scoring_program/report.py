"""The detailed results page: written when scoring starts, rewritten after every stage.

Codabench uploads `detailed_results.html` each time its modification time changes (polled
every 5 s) and shows it in an iframe from a signed storage URL, so the page must be complete
after every write and self-contained: inline CSS, figures as base64 PNG, no external links.
Each write goes to a temporary file that replaces the page in one rename, so the worker never
uploads half a page. Every string that can come from a participant is HTML-escaped here.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from string import Template

from standing import Standing

PAGE_NAME = "detailed_results.html"
PREDICTION_STEP = "Prediction step (the ingestion program: fit and predict)"  # a stage; the banner names it when it failed
TEMPLATE = Path(__file__).with_name("detailed_results_template.html")


def text_with_code(text: str) -> str:
    """Escape a message, then show its `backquoted` parts (file contents to type exactly) as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


@dataclass
class Figure:
    title: str
    how_to_read: str
    png_base64: str


@dataclass
class ScoreRow:
    title: str
    value: float
    precision: int
    better: str  # "higher" or "lower"
    description: str

    @property
    def shown(self) -> str:
        """The value with the leaderboard's precision, so the page and Codabench agree digit for digit."""
        return f"{self.value:.{self.precision}f}"


@dataclass
class Summary:
    """What the leaderboard shows for this submission, and what it took to get there."""

    columns: list[ScoreRow]  # the leaderboard row in display order; the first one ranks
    ranking: str  # one sentence: which column ranks and how it is computed
    details: dict[str, str] = field(default_factory=dict)  # predictions scored, ingestion and scoring time
    standing: str = ""  # one sentence: the ranking column against the baseline's
    standing_direction: str = "same"  # "better", "worse" or "same": how the sentence is coloured


@dataclass
class Failure:
    """Why a submission got no score, split so the participant finds the fix at a glance."""

    problem: str
    file: str = ""  # the participant's file at fault, when known
    fix: str = ""
    next_step: str = ""


@dataclass
class ClassRow:
    """One class of a classification dataset: how often it is true, predicted, and right."""

    label: str  # the class label as written in the files
    support: int  # true rows of this class
    predicted: int  # rows predicted as this class
    precision: float | None  # None when no row is predicted as this class
    recall: float | None  # None when no row is of this class

    @staticmethod
    def share(value: float | None) -> str:
        return "\N{EN DASH}" if value is None else f"{value:.3f}"


@dataclass
class Section:
    """What is shown for one dataset: its scores, its figures, and notes on figures not drawn."""

    dataset: str  # "" when the phase has a single dataset
    scores: list[ScoreRow] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    insights: list[str] = field(default_factory=list)  # where points are lost, in words
    classes: list[ClassRow] = field(default_factory=list)  # classification: one row per class
    classes_rule: str = ""  # how a predicted label was obtained ("as submitted", ...)
    standings: list[Standing] = field(default_factory=list)  # per score row: its interval and the baseline's score
    standing_notes: list[str] = field(default_factory=list)  # how the intervals were computed; why there is no baseline


@dataclass
class Report:
    """What is known so far about one scoring run; `write()` turns it into the page."""

    output_dir: Path
    title: str
    stages: list[str]
    facts: dict[str, str] = field(default_factory=dict)
    current: int = 0
    finished: bool = False
    failure: Failure | None = None
    summary: Summary | None = None
    sections: list[Section] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.output_dir / PAGE_NAME

    @property
    def failed(self) -> bool:
        return self.failure is not None

    # -- state changes; each one that shows something new rewrites the page ---------------
    def start(self) -> None:
        self.write()

    def advance(self, stage: str) -> None:
        self.current = self.stages.index(stage)
        self.write()

    def add_fact(self, name: str, value: object) -> None:
        self.facts[name] = str(value)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def section(self, dataset: str) -> Section:
        for section in self.sections:
            if section.dataset == dataset:
                return section
        self.sections.append(Section(dataset))
        return self.sections[-1]

    def show_scores(self, dataset: str, rows: list[ScoreRow]) -> None:
        self.section(dataset).scores = rows
        self.write()

    def show_summary(self, summary: Summary) -> None:
        self.summary = summary
        self.write()

    def show_standing(self, dataset: str, standings: list[Standing], notes: list[str]) -> None:
        section = self.section(dataset)
        section.standings, section.standing_notes = standings, notes
        self.write()

    def add_figure(self, dataset: str, figure: Figure) -> None:
        self.section(dataset).figures.append(figure)
        self.write()

    def add_insights(self, dataset: str, insights: list[str]) -> None:
        self.section(dataset).insights = insights

    def add_class_table(self, dataset: str, rows: list[ClassRow], rule: str = "") -> None:
        section = self.section(dataset)
        section.classes, section.classes_rule = rows, rule

    def add_note(self, dataset: str, note: str) -> None:
        self.section(dataset).notes.append(note)

    def fail(self, problem: str, *, file: str = "", fix: str = "", next_step: str = "") -> None:
        self.failure = Failure(problem, file, fix, next_step)
        self.write()

    def finish(self) -> None:
        self.finished = True
        self.current = len(self.stages)
        self.write()

    # -- rendering ----------------------------------------------------------------------
    def render(self) -> str:
        if self.failed:
            step = "The prediction step" if self.stages[self.current] == PREDICTION_STEP else "Scoring"
            status_class, status_text = "failed", f"{step} failed: this submission gets no score. See below for how to fix it."
        elif self.finished:
            status_class, status_text = "done", "Scoring finished."
        else:
            status_class = "running"
            status_text = f"Scoring in progress: {escape(self.stages[self.current])}\N{HORIZONTAL ELLIPSIS} This page updates as scoring goes."
        meta = " · ".join(f"{escape(k)}: {escape(v)}" for k, v in self.facts.items())
        sections = [
            self._error_section(),
            self._summary_section(),
            self._warnings_section(),
            self._dataset_sections(),
            self._stages_section(),
        ]
        return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
            page_title=escape(self.title),
            meta=meta,
            status_class=status_class,
            status_text=status_text,
            body="\n".join(s for s in sections if s),
            written_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        )

    def write(self) -> None:
        """Replace the page atomically: the worker must never upload a half-written file."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.output_dir, prefix=".detailed_results.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.render())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _error_section(self) -> str:
        if not self.failure:
            return ""
        failure = self.failure
        details = []
        if failure.file:
            details.append(f"<dt>File</dt><dd><code>{escape(failure.file)}</code></dd>")
        if failure.fix:
            details.append(f"<dt>How to fix it</dt><dd>{text_with_code(failure.fix)}</dd>")
        details_html = f'<dl class="details">{"".join(details)}</dl>' if details else ""
        next_step = f"<p>{escape(failure.next_step)}</p>" if failure.next_step else ""
        return (
            '<section class="card problem"><h2>What went wrong</h2>'
            f'<p class="error">{text_with_code(failure.problem)}</p>{details_html}{next_step}</section>'
        )

    def _summary_section(self) -> str:
        if not self.summary:
            return ""
        tiles = "".join(
            f'<div class="tile{" rank" if i == 0 else ""}"><div class="tile-title">{escape(c.title)}</div>'
            f'<div class="tile-value">{c.shown}</div>'
            f'<div class="tile-note">{"ranks · " if i == 0 else ""}{escape(c.better)} is better</div></div>'
            for i, c in enumerate(self.summary.columns)
        )
        details = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in self.summary.details.items())
        return (
            '<section class="card"><h2>Summary</h2>'
            f"<p>Your leaderboard row. {escape(self.summary.ranking)}</p>"
            + (f'<p class="standing {self.summary.standing_direction}">{escape(self.summary.standing)}</p>' if self.summary.standing else "")
            + f'<div class="tiles">{tiles}</div>'
            f'<dl class="details">{details}</dl></section>'
        )

    def _dataset_sections(self) -> str:
        return "\n".join(self._dataset_section(s) for s in self.sections)

    def _dataset_section(self, section: Section) -> str:
        heading = f"Dataset {escape(section.dataset)}" if section.dataset else "Scores"
        table = self._scores_table(section) if section.scores else "<p>Scoring\N{HORIZONTAL ELLIPSIS}</p>"
        figures = "".join(
            f'<figure><img alt="{escape(f.title)}" src="data:image/png;base64,{f.png_base64}">'
            f'<figcaption class="how-to-read"><strong>{escape(f.title)}.</strong> {escape(f.how_to_read)}</figcaption></figure>'
            for f in section.figures
        )
        figures = f'<div class="figures">{figures}</div>' if figures else ""
        insights = "".join(f"<li>{escape(i)}</li>" for i in section.insights)
        insights = f'<div class="insights"><h3>Where points are lost</h3><ul>{insights}</ul></div>' if insights else ""
        notes = "".join(f'<p class="note">{escape(n)}</p>' for n in section.notes)
        return f'<section class="card"><h2>{heading}</h2>{table}{insights}{self._class_table(section)}{figures}{notes}</section>'

    @staticmethod
    def _below(text: str) -> str:
        """A small second line in a cell ("higher is better", a difference's direction): columns stay narrow at 600 px."""
        return f'<div class="better">{escape(text)}</div>' if text else ""

    @staticmethod
    def _scores_table(section: Section) -> str:
        """The dataset's scores; once known, each with its 95 % interval and the baseline's score beside it."""
        if not section.standings:
            rows = "".join(
                f'<tr><td>{escape(r.title)}</td><td class="num">{r.shown}</td>'
                f"<td>{escape(r.better)}</td><td>{escape(r.description)}</td></tr>"
                for r in section.scores
            )
            return ('<div class="scroll"><table><thead><tr><th>Metric</th><th class="num">Score</th><th>Better</th><th>Meaning</th>'
                    f"</tr></thead><tbody>{rows}</tbody></table></div>")
        rows = "".join(
            f'<tr><td>{escape(r.title)}{Report._below(f"{r.better} is better")}</td><td class="num">{r.shown}</td>'
            f'<td class="num">{escape(s.interval_text())}</td>'
            f'<td class="num">{escape(s.shown(s.baseline)) if s.baseline is not None else "&ndash;"}</td>'
            f'<td class="num">{escape(s.gap_text())}{Report._below(s.direction if s.direction != "same" else "")}</td></tr>'
            for r, s in zip(section.scores, section.standings)
        )
        sentence = section.standings[0].sentence() if section.dataset else ""  # one dataset: the summary says it
        sentence = f'<p class="standing {section.standings[0].direction}">{escape(sentence)}</p>' if sentence else ""
        meanings = "".join(f"<dt>{escape(r.title)}</dt><dd>{escape(r.description)}</dd>" for r in section.scores)
        notes = "".join(f'<p class="table-note">{escape(n)}</p>' for n in section.standing_notes)
        return (f"{sentence}"
                '<div class="scroll"><table class="standings"><thead><tr><th>Metric</th><th class="num">Score</th>'
                '<th class="num">95 % interval</th><th class="num">Baseline</th><th class="num">Difference</th></tr></thead>'
                f'<tbody>{rows}</tbody></table></div>{notes}'
                f'<dl class="details meanings">{meanings}</dl>')

    @staticmethod
    def _class_table(section: Section) -> str:
        if not section.classes:
            return ""
        # Up to 50 classes per dataset and 5 datasets: the cells carry no attributes (the CSS aligns them).
        rows = "".join(
            f"<tr><td>{escape(c.label)}</td><td>{c.support}</td><td>{c.predicted}</td>"
            f"<td>{ClassRow.share(c.precision)}</td><td>{ClassRow.share(c.recall)}</td></tr>"
            for c in section.classes
        )
        rule = f" ({escape(section.classes_rule)})" if section.classes_rule else ""
        return (
            f'<div class="class-table"><h3>Per class</h3><p class="table-note">True rows: rows of the class in the test data; '
            f"predicted rows: rows predicted as the class{rule}; precision: the share of predicted rows that are right; "
            "recall: the share of true rows found.</p>"
            '<div class="scroll"><table><thead><tr><th>Class</th><th class="num">True rows</th><th class="num">Predicted rows</th>'
            f'<th class="num">Precision</th><th class="num">Recall</th></tr></thead><tbody>{rows}</tbody></table></div></div>'
        )

    def _warnings_section(self) -> str:
        if not self.warnings:
            return ""
        items = "".join(f"<li>{escape(w)}</li>" for w in self.warnings)
        return (
            '<section class="card caution"><h2>Warnings</h2>'
            "<p>Scored anyway, but worth a look before your next submission:</p>"
            f'<ul class="warnings">{items}</ul></section>'
        )

    def _stages_section(self) -> str:
        items = []
        for i, stage in enumerate(self.stages):
            if i < self.current:
                state = "done"
            elif i == self.current and self.failed:
                state = "failed"
            elif i == self.current and not self.finished:
                state = "running"
            else:
                state = "pending"
            shown = "not run" if state == "pending" and self.failed else state
            items.append(f'<li class="stage-{state}">{escape(stage)} ({shown})</li>')
        return f'<section class="card"><h2>Progress</h2><ol class="stages">{"".join(items)}</ol></section>'
