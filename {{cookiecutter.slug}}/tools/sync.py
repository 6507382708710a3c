"""Rewrite the text that follows from the bundle's declarations, between BEGIN/END marker lines.

    python tools/sync.py           # rewrite every generated block (what `make sync` does)
    python tools/sync.py --check   # exit 1 if a block differs from what it follows

| block | follows |
|---|---|
| competition.yaml leaderboard columns, pages/evaluation.md metric table | scoring_program/metrics.py (+ settings.json) |
| pages/data.md data tables (files, columns, classes, what to predict) | data.yaml and what `make data` wrote |
| pages/overview.md phase table (dates, limits) | competition.yaml's phases |

Everything outside the markers is yours to edit. `make data` rewrites the data block itself;
`make validate` reports any block that is out of date.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from pathlib import Path
from types import ModuleType

from bundle import ROOT, load_competition, load_program_module

SETTINGS_FILE = "scoring_program/settings.json"
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]$|#~<>&])")


def markdown_text(value: object) -> str:
    """`value` as literal text in Markdown with HTML and LaTeX (Codabench's pages): specials escaped."""
    return _MARKDOWN_SPECIALS.sub(lambda m: html.escape(m.group(1)) if m.group(1) in "<>&" else "\\" + m.group(1), str(value))


def code(value: object) -> str:
    """A column name or label shown as code, whatever characters it has."""
    return f"<code>{html.escape(str(value)).replace('|', '&#124;').replace('$', '&#36;').replace('`', '&#96;')}</code>"


def load_metrics(root: Path = ROOT) -> ModuleType:
    return load_program_module(root / "scoring_program", "metrics")


def load_settings(root: Path = ROOT) -> dict:
    return json.loads((root / SETTINGS_FILE).read_text(encoding="utf-8"))


# -- the leaderboard, from metrics.py -------------------------------------------------------------
def yaml_columns(metrics: ModuleType, settings: dict, indent: str) -> list[str]:
    columns = metrics.leaderboard(settings)
    index_of = {column.key: index for index, column in enumerate(columns)}
    lines = []
    for index, column in enumerate(columns):
        fields = (f"title: {json.dumps(column.title, ensure_ascii=False)}, key: {column.key}, index: {index}, "
                  f"sorting: {column.sorting}, precision: {column.precision}")
        if column.computation:
            indexes = ", ".join(str(index_of[key]) for key in column.computation_keys)
            fields += f", computation: {column.computation}, computation_indexes: [{indexes}]"
        lines.append(indent + "- {" + fields + "}")
    return lines


def page_table(metrics: ModuleType, settings: dict, indent: str = "") -> list[str]:
    lines = ["| Column | Better | Meaning |", "|---|---|---|"]
    for position, column in enumerate(metrics.leaderboard(settings)):
        primary = " (primary: ranks the leaderboard)" if position == 0 else ""
        better = "higher" if column.higher_is_better else "lower"
        lines.append(f"| {column.title}{primary} | {better} | {column.description} |")
    return lines


# -- the phases, from competition.yaml ------------------------------------------------------------
def phase_table(phases: list[dict]) -> list[str]:
    """The overview page's phase table: dates and limits as competition.yaml sets them."""
    lines = ["| Phase | Starts | Ends | Submissions |", "|---|---|---|---|"]
    for phase in sorted(phases, key=lambda p: p.get("index", 0)):
        per_day, total = phase.get("max_submissions_per_day", 5), phase.get("max_submissions", 100)
        limits = f"up to {per_day} a day, {total} in all" if per_day else f"up to {total} in all"
        lines.append(f"| {markdown_text(phase.get('name', ''))} | {phase.get('start', '')} | {phase.get('end') or 'never'} | {limits} |")
    return lines


# -- the data page, from data.yaml and data/ ------------------------------------------------------------
def percent(share: float) -> str:
    return "0%" if share == 0 else "<0.1%" if share < 0.001 else f"{100 * share:.1f}%"


def what_to_predict(entry: dict, fmt: str, metrics: ModuleType) -> list[str]:
    classes, target = entry["classes"], entry["target"]
    labels = [metrics.label_text(c) for c in classes]
    shown = ", ".join(code(label) for label in labels[:12]) + (f" and {len(labels) - 12} more" if len(labels) > 12 else "")
    columns = metrics.prediction_columns(fmt, classes, target)
    if fmt == "probability":
        what = (f"the probability that the row's {code(target)} is {code(labels[1])} (the positive class; the other is "
                f"{code(labels[0])}), a number from 0 to 1")
    elif fmt == "probabilities":
        what = f"the probability of each class ({shown}), numbers from 0 to 1 that sum to 1 on each row"
    elif fmt == "label":
        what = f"the row's {code(target)}: one of {shown}"
    else:
        what = f"the row's {code(target)}, a number"
    header = ",".join([entry["id"], *columns])
    return [f"Predict {what}. A predictions file has the header {code(header)} and one line per row of `test.csv`, "
            f"its id first ({code(entry['id'])})."]


def dataset_tables(entry: dict, stats: dict, mode: str) -> list[str]:
    rows = stats["rows"]
    final_where = "public data of the Final phase, without the target" if mode == "result" else \
        "hidden: only your code sees it, during the Final phase"
    lines = ["| File | Rows | Where |", "|---|---|---|",
             f"| `train.csv` | {rows['train']:,} | public data of both phases" + ("; given to your model's `fit`" if mode != "result" else "") + " |",
             f"| `test.csv` (Development) | {rows['dev_test']:,} | public data of the Development phase, without the target |",
             f"| `test.csv` (Final) | {rows['final_test']:,} | {final_where} |", ""]
    described = stats.get("descriptions", {})
    columns, classes = described.get("columns", {}), described.get("classes", {})
    meaning = (lambda name: f" {markdown_text(columns.get(name, ''))} |") if columns else (lambda name: "")
    lines += ["| Column | Role | Kind | Missing |" + (" Meaning |" if columns else ""), "|---|---|---|---|" + ("---|" if columns else ""),
              f"| {code(stats['id'])} | id{' (made up: row numbers in shuffled order)' if stats['id_generated'] else ''} | text | 0% |"
              + meaning(stats["id"])]
    for feature in stats["features"]:
        kind = f"categorical ({feature['categories']} values)" if feature["kind"] == "categorical" else "numeric"
        lines.append(f"| {code(feature['name'])} | feature | {kind} | {percent(feature['missing'])} |" + meaning(feature["name"]))
    target_kind = f"{len(stats['classes'])} classes" if stats["classes"] else "numeric"
    lines.append(f"| {code(stats['target'])} | target (in `train.csv` only) | {target_kind} | 0% |" + meaning(stats["target"]))
    if stats["classes"]:
        parts = [("train", "train"), ("dev_test", "Development test"), ("final_test", "Final test")]
        lines += ["", "| Class | " + " | ".join(name for _, name in parts) + " |" + (" Meaning |" if classes else ""),
                  "|---" * (len(parts) + 1 + bool(classes)) + "|"]
        for index, label in enumerate(stats["classes"]):
            cells = []
            for part, _ in parts:
                count, total = stats["balance"][part][index], max(rows[part], 1)
                cells.append(f"{count:,} ({percent(count / total)})")
            said = f" {markdown_text(classes.get(str(label), ''))} |" if classes else ""
            lines.append(f"| {code(label)} | " + " | ".join(cells) + " |" + said)
    return lines


DATA_PENDING = ("_Run `make data`: it writes this section from data.yaml and the data._",)  # before any data


def data_block(root: Path = ROOT) -> list[str]:
    summary_path = root / "data" / "summary.json"
    task_path = root / "data" / "dev" / "public_data" / "task.json"
    if not (summary_path.is_file() and task_path.is_file()):
        return list(DATA_PENDING)
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    task = json.loads(task_path.read_text(encoding="utf-8"))
    metrics = load_metrics(root)
    several = len(task["datasets"]) > 1
    lines: list[str] = []
    for entry, stats in zip(task["datasets"], summary["datasets"]):
        if several:
            lines += [f"### Dataset {markdown_text(entry['name'])} (folder `{entry['folder']}/`)", ""]
        lines += dataset_tables(entry, stats, task["submission_mode"]) + [""]
        lines += what_to_predict(entry, task["prediction_format"], metrics) + [""]
    return lines[:-1]


# -- putting blocks in place ---------------------------------------------------------------------
BLOCKS = [  # file, BEGIN marker, END marker, what writes the lines
    ("competition.yaml", "# BEGIN columns generated from scoring_program/metrics.py",
     "# END columns generated from scoring_program/metrics.py",
     lambda root, indent: yaml_columns(load_metrics(root), load_settings(root), indent)),
    ("pages/evaluation.md", "<!-- BEGIN metric table generated from scoring_program/metrics.py",
     "<!-- END metric table generated from scoring_program/metrics.py -->",
     lambda root, indent: page_table(load_metrics(root), load_settings(root))),
    ("pages/data.md", "<!-- BEGIN data tables generated from data.yaml",
     "<!-- END data tables generated from data.yaml -->",
     lambda root, indent: data_block(root)),
    ("pages/overview.md", "<!-- BEGIN phase table generated from competition.yaml",
     "<!-- END phase table generated from competition.yaml -->",
     lambda root, indent: phase_table(load_competition(root).get("phases") or [])),
]


def replace_block(text: str, begin: str, end: str, make_lines, where: str) -> str:
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.strip().startswith(begin)]
    ends = [i for i, line in enumerate(lines) if line.strip().startswith(end)]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(f"{where}: expected one '{begin}' line followed by one '{end}' line")
    indent = lines[starts[0]][: len(lines[starts[0]]) - len(lines[starts[0]].lstrip())]
    return "\n".join(lines[: starts[0] + 1] + make_lines(indent) + lines[ends[0] :])


def synced_texts(root: Path = ROOT, only: tuple[str, ...] | None = None) -> dict[Path, str]:
    """What each file with a generated block should contain."""
    texts: dict[Path, str] = {}
    for name, begin, end, make in BLOCKS:
        if only and name not in only:
            continue
        path = root / name
        current = texts.get(path, path.read_text(encoding="utf-8"))
        texts[path] = replace_block(current, begin, end, lambda indent: make(root, indent), name)
    return texts


def out_of_sync(root: Path = ROOT) -> list[str]:
    return [path.relative_to(root).as_posix() for path, text in synced_texts(root).items()
            if path.read_text(encoding="utf-8") != text]


def sync_data_page(root: Path = ROOT) -> None:
    for path, text in synced_texts(root, only=("pages/data.md",)).items():
        path.write_text(text, encoding="utf-8")


def check_data_page(root: Path = ROOT) -> None:
    """Raise ValueError (naming the markers) when pages/data.md cannot take its generated block: `make data` asks
    before it writes anything, so that it never stops half-way."""
    name, begin, end, _ = next(block for block in BLOCKS if block[0] == "pages/data.md")
    try:
        text = (root / name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{name} cannot be read ({type(exc).__name__}); restore it from the template") from None
    replace_block(text, begin, end, lambda indent: [], name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="report drift, write nothing")
    args = parser.parse_args(argv)
    try:
        stale = out_of_sync()
        if args.check:
            for name in stale:
                print(f"ERROR: {name} is out of date with what it is generated from; run `make sync`", file=sys.stderr)
            return 1 if stale else 0
        for path, text in synced_texts().items():
            path.write_text(text, encoding="utf-8")
    except (ValueError, OSError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    print(f"Updated {', '.join(stale)}" if stale else "Every generated block is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
