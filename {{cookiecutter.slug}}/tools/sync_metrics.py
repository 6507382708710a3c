"""Write the leaderboard columns and the evaluation page's metric table from metrics.py.

    python tools/sync_metrics.py           # rewrite the generated blocks
    python tools/sync_metrics.py --check   # exit 1 if a block differs from metrics.py

scoring_program/metrics.py (with scoring_program/settings.json) is the single source of truth
for the leaderboard. The blocks it drives sit between BEGIN/END marker lines in
competition.yaml and pages/evaluation.md; everything outside the markers is yours to edit.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import ModuleType

from bundle import ROOT, load_program_module

YAML_FILE = "competition.yaml"
PAGE_FILE = "pages/evaluation.md"
SETTINGS_FILE = "scoring_program/settings.json"
YAML_BEGIN = "# BEGIN columns generated from scoring_program/metrics.py"
YAML_END = "# END columns generated from scoring_program/metrics.py"
PAGE_BEGIN = "<!-- BEGIN metric table generated from scoring_program/metrics.py"
PAGE_END = "<!-- END metric table generated from scoring_program/metrics.py -->"


def load_metrics(root: Path = ROOT) -> ModuleType:
    return load_program_module(root / "scoring_program", "metrics")


def load_settings(root: Path = ROOT) -> dict:
    return json.loads((root / SETTINGS_FILE).read_text(encoding="utf-8"))


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


def replace_block(text: str, begin: str, end: str, make_lines, where: str) -> str:
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.strip().startswith(begin)]
    ends = [i for i, line in enumerate(lines) if line.strip().startswith(end)]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(f"{where}: expected one '{begin}' line followed by one '{end}' line")
    indent = lines[starts[0]][: len(lines[starts[0]]) - len(lines[starts[0]].lstrip())]
    return "\n".join(lines[: starts[0] + 1] + make_lines(indent) + lines[ends[0] :])


def synced_texts(root: Path = ROOT) -> dict[Path, str]:
    """What competition.yaml and the evaluation page should contain."""
    metrics, settings = load_metrics(root), load_settings(root)
    yaml_path, page_path = root / YAML_FILE, root / PAGE_FILE
    return {
        yaml_path: replace_block(yaml_path.read_text(encoding="utf-8"), YAML_BEGIN, YAML_END,
                                 lambda indent: yaml_columns(metrics, settings, indent), YAML_FILE),
        page_path: replace_block(page_path.read_text(encoding="utf-8"), PAGE_BEGIN, PAGE_END,
                                 lambda indent: page_table(metrics, settings), PAGE_FILE),
    }


def out_of_sync(root: Path = ROOT) -> list[str]:
    return [path.relative_to(root).as_posix() for path, text in synced_texts(root).items()
            if path.read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="report drift, write nothing")
    args = parser.parse_args(argv)
    try:
        stale = out_of_sync()
        if args.check:
            for name in stale:
                print(f"ERROR: {name} does not match scoring_program/metrics.py; run `make sync`", file=sys.stderr)
            return 1 if stale else 0
        for path, text in synced_texts().items():
            path.write_text(text, encoding="utf-8")
    except ValueError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    print(f"Updated {', '.join(stale)}" if stale else "Already in sync with scoring_program/metrics.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
