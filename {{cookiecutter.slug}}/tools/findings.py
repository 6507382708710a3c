"""What the validator reports: one stable code per rule, its severity, where, and the fix.

RULES is the list of every check the validator makes. A code's severity is fixed here, so
scripts that read `--json` can rely on it: "error" means Codabench refuses the bundle or a
submission breaks; "warning" means it works, but probably not as the organizer meant.
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR, WARNING = "error", "warning"

RULES: dict[str, tuple[str, str]] = {
    # the bundle as a whole (a folder or the zip to upload)
    "CB000": (ERROR, "competition.yaml is missing, not valid YAML or not a mapping"),
    "CB090": (ERROR, "the upload is not a zip file"),
    "CB091": (ERROR, "competition.yaml is not at the zip root"),
    "CB092": (WARNING, "the zip holds __MACOSX or .DS_Store entries (harmless, but noise)"),
    "CB093": (WARNING, "the bundle is large"),
    "CB094": (ERROR, "a file not meant to ship: a .rej or .orig, an editor's backup, a hidden file, a zip in a program or the kit"),
    "CB095": (ERROR, "a shipped text file holds merge-conflict markers"),
    "CB096": (ERROR, "a zip entry does not unpack where its name says ('../', an absolute or a backslash path), or not at all"),
    # top-level keys
    "CB001": (ERROR, "version is not exactly 2"),
    "CB002": (ERROR, "a required top-level key is missing"),
    "CB003": (ERROR, "`leaderboard:` (singular) is a v1.5 key: leaderboards are missing"),
    "CB004": (WARNING, "no docker_image: Codabench runs codalab/codalab-legacy:py37"),
    "CB005": (WARNING, "docker_image is not pinned to a tag"),
    "CB006": (WARNING, "detailed results are off"),
    "CB007": (WARNING, "a v1.5 key that version 2 ignores"),
    "CB008": (ERROR, "queue is not a queue's vhost UUID"),
    # files referenced by competition.yaml
    "CB010": (ERROR, "a folder path ends with '/' and its zip would overwrite a shipped file"),
    "CB011": (ERROR, "a referenced file or folder does not exist"),
    "CB009": (ERROR, "a path is absolute or leads outside the bundle"),
    "CB012": (ERROR, "a referenced file or folder is empty"),
    "CB013": (ERROR, "the logo is not a PNG, JPEG, GIF or WEBP image"),
    "CB014": (ERROR, "a page has no file or no title"),
    "CB015": (ERROR, "a program or data entry is a file but not a zip"),
    "CB016": (ERROR, "a page or the terms are not UTF-8 text"),
    "CB017": (WARNING, "a large solution, starting kit or data entry"),
    "CB018": (WARNING, "a reference file is also in files participants can reach"),
    "CB019": (WARNING, "a data zip wraps its files in one folder"),
    # tasks and solutions
    "CB020": (ERROR, "a task has no index"),
    "CB021": (ERROR, "two tasks share an index"),
    "CB022": (WARNING, "docker_image on a task is ignored"),
    "CB023": (ERROR, "a task has no scoring program"),
    "CB024": (ERROR, "docker_image is in a registry on this machine (localhost, 127.0.0.1): no worker reaches it"),
    "CB025": (WARNING, "docker_image is close to a codalab image's name, but not one"),
    "CB026": (ERROR, "a solution has no index"),
    "CB027": (ERROR, "a solution lists no tasks"),
    "CB028": (ERROR, "a solution has no path"),
    "CB029": (ERROR, "a solution lists a task that does not exist"),
    # programs: metadata.yaml and the command
    "CB030": (ERROR, "a program has no metadata.yaml (or metadata) at its root"),
    "CB031": (ERROR, "a program's metadata is not a YAML mapping"),
    "CB032": (ERROR, "a command uses shell syntax"),
    "CB033": (WARNING, "a command calls `python` instead of `python3`"),
    "CB034": (ERROR, "a command uses a path that is not mounted in its step"),
    "CB035": (ERROR, "a program's metadata has no command"),
    "CB036": (ERROR, "a command runs a script that is not in the program"),
    "CB037": (WARNING, "a program imports a package that the declared docker_image does not have"),
    "CB038": (ERROR, "a program's, a solution's or the sample code submission's .py file does not compile"),
    # phases and dates
    "CB040": (ERROR, "an unquoted date/time loses its time of day"),
    "CB041": (ERROR, "a date in an ambiguous (day and month both 12 or less) or unreadable form"),
    "CB042": (ERROR, "a phase has no name"),
    "CB043": (ERROR, "a phase lists no tasks"),
    "CB044": (ERROR, "a phase lists a task that does not exist"),
    "CB045": (WARNING, "max_submissions_per_person is ignored (the key is max_submissions)"),
    "CB046": (ERROR, "auto_migrate_to_this_phase on the first phase"),
    "CB047": (ERROR, "a phase has no start"),
    "CB048": (ERROR, "a phase followed by another has no end"),
    "CB049": (ERROR, "a phase ends before it starts"),
    "CB050": (ERROR, "a phase starts exactly when the previous one ends"),
    "CB051": (ERROR, "a phase starts before the previous one ends"),
    "CB052": (WARNING, "a date's UTC offset is dropped, not converted"),
    "CB053": (WARNING, "two phases share an index"),
    "CB054": (WARNING, "execution_time_limit above the default queue's 600 s cap"),
    "CB058": (WARNING, "execution_time_limit, on your own queue, above the broker's consumer_timeout"),
    "CB059": (ERROR, "a GPU docker_image without a queue: the public queue has no GPU"),
    "CB055": (WARNING, "a phase key that Codabench ignores"),
    "CB056": (WARNING, "a date not written as 'YYYY-MM-DD HH:MM:SS'"),
    "CB057": (WARNING, "a phase has already ended"),
    # the leaderboard
    "CB060": (ERROR, "leaderboards is not a non-empty list"),
    "CB061": (WARNING, "more than one leaderboard: only the first is used"),
    "CB062": (ERROR, "the leaderboard has no title or key"),
    "CB063": (ERROR, "unknown submission_rule"),
    "CB064": (ERROR, "the leaderboard has no columns"),
    "CB065": (ERROR, "a column has no key or title"),
    "CB066": (ERROR, "a column key or title is over 36 characters"),
    "CB067": (ERROR, "two columns share a key"),
    "CB068": (ERROR, "two columns share an index"),
    "CB069": (ERROR, "a column's sorting is not asc or desc"),
    "CB070": (ERROR, "primary_index is not a column's index"),
    "CB071": (ERROR, "computation_indexes without computation"),
    "CB072": (ERROR, "unknown computation"),
    "CB073": (ERROR, "computation without computation_indexes"),
    "CB074": (ERROR, "a computation index is not an integer"),
    "CB075": (ERROR, "a computation index is not another column's index"),
    "CB076": (WARNING, "submission_rule Add: participants must post each result by hand"),
    # a CodaLab (v1.5) bundle, as Codabench's v1.5 unpacker would take it (tools/codalab_v15.py)
    "CB140": (ERROR, "a v1.5 program, data or kit entry is not in the bundle"),
    "CB141": (ERROR, "a v1.5 key that Codabench's v1.5 unpacker refuses or cannot read"),
    "CB142": (WARNING, "a v1.5 phase setting that works differently on Codabench"),
    "CB143": (WARNING, "Codabench's v1.5 unpacker drops a phase start's time of day"),
    "CB144": (WARNING, "Codabench's v1.5 unpacker ends each phase a day before the next starts"),
    "CB145": (WARNING, "no has_registration: Codabench's v1.5 unpacker makes participants wait for approval"),
    "CB146": (WARNING, "Codabench's v1.5 unpacker ignores force_submission_to_leaderboard"),
    "CB147": (WARNING, "Codabench's v1.5 unpacker ignores computed columns"),
    "CB148": (WARNING, "Codabench's v1.5 unpacker shows only the first leaderboard"),
    "CB149": (WARNING, "no competition_docker_image: Codabench runs another image than CodaLab did"),
    "CB150": (ERROR, "a v1.5 phase has no scoring program"),
    # this bundle's own contracts: CB080-CB084 need its tools/ (so only on its folder); CB085 reads the
    # scoring program's settings.json (so on the zip too)
    "CB080": (ERROR, "scoring_program/metrics.py cannot be read"),
    "CB081": (ERROR, "a generated file is out of sync with scoring_program/metrics.py"),
    "CB082": (ERROR, "the data differ from data/manifest.json or data.yaml, or leak reference data"),
    "CB083": (ERROR, "pages/data.md's tables disagree with data.yaml and the data"),
    "CB084": (ERROR, "pages/overview.md's phase table disagrees with competition.yaml's phases"),
    "CB085": (ERROR, "a phase takes result submissions, but its public data lacks the test features (test.csv)"),
    # structure checked by the JSON Schema (tools/competition.schema.json)
    "CB100": (ERROR, "a value has the wrong type"),
    "CB101": (ERROR, "a value is not one Codabench allows"),
    "CB102": (ERROR, "a required key is missing"),
    "CB103": (WARNING, "a key Codabench does not know (ignored)"),
    "CB104": (ERROR, "a value breaks a size or format limit"),
    "CB105": (WARNING, "a key is written twice in one mapping: YAML keeps the last"),
    # fact_sheet
    "CB110": (ERROR, "fact_sheet is not a mapping of questions"),
    "CB111": (ERROR, "a fact sheet question does not have exactly the six keys"),
    "CB112": (ERROR, "a fact sheet question's key differs from its name"),
    "CB113": (ERROR, "a fact sheet question's type is not checkbox, text or select"),
    "CB114": (ERROR, "is_required / is_on_leaderboard is a YAML boolean, not the string \"true\"/\"false\""),
    # what participants read: the pages, the terms, the description
    "CB130": (WARNING, "a page or the description still holds the template's placeholder text"),
    # running the solution (--run)
    "CB120": (ERROR, "the solution does not run through the pipeline"),
    "CB121": (ERROR, "scores.json lacks a leaderboard column"),
    "CB122": (WARNING, "scores.json has a key that matches no column"),
    "CB123": (ERROR, "a score is not a finite number below 1e10"),
    "CB124": (WARNING, "scores.json writes a computed column"),
    "CB125": (WARNING, "no solution to run: scores.json keys not checked"),
    "CB126": (ERROR, "docker_image is not given out by its registry: the worker pulls it before every step"),
    "CB127": (WARNING, "docker_image could not be checked: its registry is out of reach from here"),
}


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    file: str
    path: str  # where in the file, e.g. phases[1].start
    message: str  # what is wrong, with Codabench's own words where it has some
    fix: str

    def __str__(self) -> str:
        where = f"{self.file} {self.path}".strip()
        return f"{self.severity.upper():7} {self.code} {where}: {self.message}\n        fix: {self.fix}"


class Findings(list):
    """The findings of one validation, in the order they were found."""

    def add(self, code: str, path: str, message: str, fix: str, file: str = "competition.yaml") -> None:
        severity, _ = RULES[code]  # an unknown code is a bug in the validator, not in the bundle
        self.append(Finding(code, severity, file, path, message, fix))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self if f.severity == ERROR]

    def summary(self) -> str:
        if not self:
            return "No findings: the bundle looks ready for Codabench."
        return f"{len(self.errors)} error(s), {len(self) - len(self.errors)} warning(s)"
