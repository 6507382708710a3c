"""The detailed results page: written when scoring starts, rewritten after every stage.

Codabench uploads `detailed_results.html` each time its modification time changes (polled
every 5 s) and shows it in an iframe from a signed storage URL, so the page must be complete
after every write and self-contained: inline CSS, figures as base64 PNG, no external links.
Each write goes to a temporary file that replaces the page in one rename, so the worker never
uploads half a page. Every string that can come from a participant is HTML-escaped here.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from string import Template

PAGE_NAME = "detailed_results.html"
TEMPLATE = Path(__file__).with_name("detailed_results_template.html")


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


@dataclass
class Section:
    """What is shown for one dataset: its scores and its figures."""

    dataset: str  # "" when the phase has a single dataset
    scores: list[ScoreRow] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


@dataclass
class Report:
    """What is known so far about one scoring run; `write()` turns it into the page."""

    output_dir: Path
    title: str
    stages: list[str]
    facts: dict[str, str] = field(default_factory=dict)
    current: int = 0
    failed: bool = False
    finished: bool = False
    error: str = ""
    summary: ScoreRow | None = None  # the score that ranks the submission
    sections: list[Section] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.output_dir / PAGE_NAME

    # -- state changes; each one rewrites the page ---------------------------------------
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

    def show_summary(self, row: ScoreRow) -> None:
        self.summary = row
        self.write()

    def add_figure(self, dataset: str, figure: Figure) -> None:
        self.section(dataset).figures.append(figure)
        self.write()

    def fail(self, message: str) -> None:
        self.failed, self.error = True, message
        self.write()

    def finish(self) -> None:
        self.finished = True
        self.current = len(self.stages)
        self.write()

    # -- rendering ----------------------------------------------------------------------
    def render(self) -> str:
        if self.failed:
            status_class, status_text = "failed", "Scoring failed: this submission gets no score. See below for how to fix it."
        elif self.finished:
            status_class, status_text = "done", "Scoring finished."
        else:
            status_class = "running"
            status_text = f"Scoring in progress: {escape(self.stages[self.current])}\N{HORIZONTAL ELLIPSIS} This page updates as scoring goes."
        meta = " · ".join(f"{escape(k)}: {escape(v)}" for k, v in self.facts.items())
        sections = [
            self._error_section(),
            self._summary_section(),
            self._dataset_sections(),
            self._warnings_section(),
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
        if not self.failed:
            return ""
        return (
            '<section class="card"><h2>What went wrong</h2>'
            f'<pre class="error">{escape(self.error)}</pre></section>'
        )

    def _summary_section(self) -> str:
        if not self.summary:
            return ""
        row = self.summary
        return (
            '<section class="card"><h2>Summary</h2>'
            f"<p>{escape(row.title)} (ranks the leaderboard, {escape(row.better)} is better)</p>"
            f'<p class="headline">{row.value:.{row.precision}f}</p></section>'
        )

    def _dataset_sections(self) -> str:
        return "\n".join(self._dataset_section(s) for s in self.sections)

    def _dataset_section(self, section: Section) -> str:
        heading = f"Dataset {escape(section.dataset)}" if section.dataset else "Scores"
        rows = "".join(
            f"<tr><td>{escape(r.title)}</td><td class=\"num\">{r.value:.{r.precision}f}</td>"
            f"<td>{escape(r.better)}</td><td>{escape(r.description)}</td></tr>"
            for r in section.scores
        )
        table = (
            "<table><thead><tr><th>Metric</th><th>Score</th><th>Better</th><th>Meaning</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>" if rows else "<p>Scoring\N{HORIZONTAL ELLIPSIS}</p>"
        )
        figures = "".join(
            f'<figure><img alt="{escape(f.title)}" src="data:image/png;base64,{f.png_base64}">'
            f"<figcaption><strong>{escape(f.title)}.</strong> {escape(f.how_to_read)}</figcaption></figure>"
            for f in section.figures
        )
        figures = f'<div class="figures">{figures}</div>' if figures else ""
        return f'<section class="card"><h2>{heading}</h2>{table}{figures}</section>'

    def _warnings_section(self) -> str:
        if not self.warnings:
            return ""
        items = "".join(f"<li>{escape(w)}</li>" for w in self.warnings)
        return f'<section class="card"><h2>Warnings</h2><ul class="warnings">{items}</ul></section>'

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
            items.append(f'<li class="stage-{state}">{escape(stage)} ({state})</li>')
        return f'<section class="card"><h2>Progress</h2><ol class="stages">{"".join(items)}</ol></section>'
