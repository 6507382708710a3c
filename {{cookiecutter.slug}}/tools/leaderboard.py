"""Print a phase's leaderboard on Codabench as a table, or write it as CSV.

    make leaderboard [PHASE=first phase] [CSV=leaderboard.csv] [CODABENCH=...] [COMPETITION=id]
    python tools/leaderboard.py [--phase first] [--csv path] [--server URL] [--competition ID]

The rows are Codabench's own (GET /api/phases/<id>/get_leaderboard/): in its order, ranked by the
primary column, with each score rounded to its column's precision and hidden columns left out, as
the site shows them. A phase of several tasks has one column per task and score.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import live_record
from bundle import first_phase_name
from codabench_client import FAILURES, Codabench, failure
from credentials import find_token


def score_text(value) -> str:
    try:
        return f"{float(value):.6g}"
    except (TypeError, ValueError):
        return str(value)


def padded(value, precision) -> str:
    """Codabench's score, already rounded to its column's precision, with that many decimals (1.0 -> 1.0000)."""
    try:
        return f"{float(value):.{int(precision)}f}"
    except (TypeError, ValueError):
        return str(value)


def leaderboard_rows(client: Codabench, phase: int) -> tuple[dict, list[dict]]:
    """(the board as Codabench answers it, rows: rank, owner, ids, created, {column label: score})."""
    board = client.get(f"/api/phases/{phase}/get_leaderboard/")
    tasks = board.get("tasks") or []
    several = len(tasks) > 1
    labels, precision = {}, {}
    for task in tasks:
        for column in task.get("columns", []):
            if not column.get("hidden"):
                title = column.get("title") or column.get("key")
                labels[(task["id"], column["index"])] = f"{task['name']}: {title}" if several else title
                precision[(task["id"], column["index"])] = column.get("precision", 2)
    board["labels"] = list(labels.values())
    rows = []
    for rank, entry in enumerate(board.get("submissions") or [], start=1):
        scores = {label: "" for label in labels.values()}
        for score in entry.get("scores", []):
            where = (score.get("task_id"), score.get("index"))
            if where in labels:
                scores[labels[where]] = padded(score.get("score"), precision[where])
        ids = [entry["id"]] + [result["id"] for result in entry.get("detailed_results") or []]
        rows.append({"rank": rank, "owner": entry.get("owner"), "ids": ids, "created": entry.get("created_when", ""),
                     "scores": scores})
    return board, rows


def table(labels: list[str], rows: list[dict]) -> str:
    lines = [["#", "participant", *labels, "submitted"]]
    for row in rows:
        lines.append([str(row["rank"]), str(row["owner"]), *(str(row["scores"][label]) for label in labels),
                      str(row["created"])[:16].replace("T", " ")])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=os.environ.get("MK_CODABENCH") or None)
    parser.add_argument("--phase", default=os.environ.get("MK_PHASE") or first_phase_name())
    parser.add_argument("--competition", default=os.environ.get("MK_COMPETITION") or None)
    parser.add_argument("--csv", type=Path, default=Path(os.environ["MK_CSV"]) if os.environ.get("MK_CSV") else None,
                        help="write the rows to this CSV file too")
    args = parser.parse_args(argv)
    try:
        server = live_record.server_for(args.server)
        client = Codabench(server, find_token(server))
        competition, phase = live_record.competition_and_phase(client, live_record.competition_id(args.competition),
                                                              args.phase)
        board, rows = leaderboard_rows(client, phase["id"])
        if args.csv:
            labels = board["labels"]
            partial = args.csv.with_name(f".{args.csv.name}.partial")
            with partial.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["rank", "participant", *labels, "submitted", "submission"])
                for row in rows:
                    writer.writerow([row["rank"], row["owner"], *(row["scores"][label] for label in labels),
                                     row["created"], row["ids"][0]])
            partial.replace(args.csv)
    except KeyboardInterrupt:
        print("\nERROR: stopped", file=sys.stderr)
        return 1
    except FAILURES as error:
        return failure(args.server or "the site", error)
    print(f"{board.get('title') or 'Leaderboard'}: {args.phase} of competition {competition} "
          f"({client.page(competition)}), {len(rows)} entr{'y' if len(rows) == 1 else 'ies'}")
    print(table(board["labels"], rows) if rows else "  (no submission on it yet)")
    if args.csv:
        print(f"Wrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
