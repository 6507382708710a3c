"""Check a Codabench bundle against what Codabench's unpacker and compute worker really require.

    python tools/validate_bundle.py                   # this bundle's folder
    python tools/validate_bundle.py dist/bundle.zip   # the zip you are about to upload
    python tools/validate_bundle.py ../other_bundle   # any bundle folder or zip
    python tools/validate_bundle.py --run             # also run the solution and compare scores.json keys
    python tools/validate_bundle.py --run --engine docker   # ... in the competition's docker_image
    python tools/validate_bundle.py --json            # findings for machines

Every finding has a stable code (tools/findings.py lists them all), a severity, the file and
yaml path, the message Codabench itself would give where it gives one, and the fix. Exit
status 1 when there is an error. Run by `make validate` and `make bundle`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, replace
from pathlib import Path

from bundle import ROOT, BundleError, load_competition, template_programs
from bundle_source import opened_bundle
from codalab_v15 import check as check_v15
from codalab_v15 import is_v15, phases_in_order
from executors import ENGINES, NETWORKS, PULLS, EngineError, check_settings, default_engine, default_network, default_pull
from file_rules import check_files
from findings import Findings
from page_rules import check_pages
from program_rules import check_programs
from schema_check import check_schema, drop_repeats
from yaml_rules import (check_fact_sheet, check_leaderboards, check_phases, check_solutions, check_tasks,
                        check_top_level)


STALE_BLOCKS = {  # generated file -> (code, what it disagrees with)
    "competition.yaml": ("CB081", "out of sync with scoring_program/metrics.py: the scores written and the leaderboard would differ"),
    "pages/evaluation.md": ("CB081", "out of sync with scoring_program/metrics.py: the page explains other columns than the leaderboard's"),
    "pages/data.md": ("CB083", "its data tables disagree with data.yaml and the data `make data` wrote"),
    "pages/overview.md": ("CB084", "its phase table disagrees with the phases' dates and limits in competition.yaml"),
}


def check_own_contracts(root: Path, findings: Findings) -> None:
    """This bundle's promises beyond Codabench's rules: generated text matches what it follows, data match the manifest."""
    try:
        from sync import out_of_sync
        stale = out_of_sync(root)
    except Exception as exc:  # a broken metrics.py or missing BEGIN/END markers: report, don't crash
        findings.add("CB080", "", f"could not compare the generated blocks with what they follow: {type(exc).__name__}: {exc}",
                     "fix metrics.py, or restore the BEGIN/END marker lines", file="scoring_program/metrics.py")
        stale = []
    for name in stale:
        code, message = STALE_BLOCKS[name]
        findings.add(code, "", message, "run `make sync`", file=name)
    if (root / "data").is_dir():
        from prepare_data import check
        for problem in check(root):
            findings.add("CB082", "", problem, "run `make data` again (it is deterministic)", file="data/manifest.json")


def is_own_bundle(root: Path) -> bool:
    """A bundle made from this template, with its tools: its own contracts are checked too."""
    return (root / "tools" / "sync.py").is_file() and template_programs(root)


def check_competition(competition: dict, root: Path, findings: Findings, run: bool = False, engine: str | None = None,
                      network: str | None = None, pull: str | None = None) -> None:
    """Every rule, on a loaded competition.yaml whose paths are relative to `root`."""
    own_bundle = is_own_bundle(root)
    precise = Findings()
    for check in (check_top_level, check_tasks, check_solutions, check_phases, check_leaderboards, check_fact_sheet):
        check(competition, precise)
    check_files(competition, root, precise, own_bundle=own_bundle)
    check_programs(competition, root, precise)
    check_pages(competition, root, precise)
    structure = Findings()
    check_schema(competition, structure)
    findings.extend(precise + drop_repeats(structure, precise))
    if own_bundle:
        check_own_contracts(root, findings)
    if run and not findings.errors:
        from run_rules import check_scores_by_running
        check_scores_by_running(competition, root, findings, engine=engine, network=network, pull=pull)


def validate(target: Path = ROOT, run: bool = False, engine: str | None = None, network: str | None = None,
             pull: str | None = None) -> Findings:
    """All findings for a bundle folder or zip. `run` also runs the solution (a few seconds), with `engine`
    (local, docker or podman; default $CODABENCH_ENGINE, else local), `network` (on, off) and `pull` (always,
    never); EngineError when that engine cannot run."""
    findings = Findings()
    with opened_bundle(target, findings) as root:
        if root is None:
            return findings
        try:
            duplicates: list[tuple[str, str]] = []
            competition = load_competition(root, duplicates)
        except BundleError as exc:
            findings.add("CB000", "", str(exc).replace(str(root) + "/", ""), "fix the file so it parses as a YAML mapping")
            return findings
        for where, key in duplicates:
            findings.add("CB105", where, f"the key {key!r} is written twice here; YAML keeps the last one, silently",
                         "keep one of them")
        if is_v15(competition):
            check_codalab_bundle(competition, root, findings)
        else:
            check_competition(competition, root, findings, run, engine, network, pull)
    once = {}  # a program that several tasks share: its findings once, where first found
    for finding in findings:
        once.setdefault((finding.code, finding.file, finding.message), finding)
    findings[:] = once.values()
    return findings


def check_codalab_bundle(v15: dict, root: Path, findings: Findings) -> None:
    """A CodaLab (v1.5) bundle: what Codabench's v1.5 unpacker refuses or changes, then the program and file rules on
    the version 2 competition it means, each finding named by its v1.5 key (tasks[1] and phases[1] are `phases.2`)."""
    mapped = check_v15(v15, root, findings)
    if mapped is None:
        return
    precise = Findings()
    check_files(mapped, root, precise)
    check_programs(mapped, root, precise)
    keys = [key for key, _ in phases_in_order(v15)]
    for finding in precise:
        path = re.sub(r"^(tasks|phases)\[(\d+)\]", lambda m: keys[int(m.group(2))] if int(m.group(2)) < len(keys)
                      else m.group(0), finding.path)
        findings.append(replace(finding, path=path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", nargs="?", type=Path, default=ROOT, help="bundle folder or zip (default: this bundle)")
    parser.add_argument("--run", action="store_true", help="run the solution and compare its scores.json with the leaderboard")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument("--network", choices=NETWORKS, default=default_network(),
                        help="with --run and docker or podman: on (the worker's default) or off")
    parser.add_argument("--pull", choices=PULLS, default=default_pull(),
                        help="with --run and docker or podman: pull the image first, as the worker does, or never")
    parser.add_argument("--engine", choices=ENGINES, default=default_engine(),
                        help="with --run: run on this machine's Python (local) or in docker_image with docker or podman")
    args = parser.parse_args(argv)
    try:
        check_settings(args.engine, args.network, args.pull)
        if not args.run and (args.engine, args.network, args.pull) != ("local", "on", "always"):
            print(f"note: {args.target}'s solution is not run without --run (ENGINE, NETWORK and PULL apply to a run; "
                  "`make validate` runs this bundle's own)", file=sys.stderr)
        findings = validate(args.target, run=args.run, engine=args.engine, network=args.network, pull=args.pull)
    except EngineError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([asdict(f) for f in findings], indent=2))
    else:
        for finding in findings:
            print(finding)
        print(f"{args.target}: {findings.summary()}")
    return 1 if findings.errors else 0


if __name__ == "__main__":
    sys.exit(main())
