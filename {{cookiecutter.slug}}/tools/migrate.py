"""Bring a CodaLab (v1.5) competition into this freshly baked bundle, in this template's layout.

    make migrate SOURCE=old_bundle.zip [SAMPLES=a.zip,b] [IMAGE=current|name] [START=2027-01-15] [FORCE=1]
    python tools/migrate.py --source old_bundle.zip [--samples a.zip,b] [--image current] [--start 2027-01-15] [--force]

The v1.5 bundle (its zip or unpacked folder) becomes competition.yaml version 2 with the same title, pages,
phases, dates (times of day kept), limits and leaderboard; its own programs, data and starting kit are unpacked
as they are, into folders that `make run`, `make validate` and `make bundle` use; its sample submissions (those
of its starting kit, and SAMPLES) become the bundle's solutions. MIGRATION.md says what became of every v1.5 key:
kept, mapped, with no Codabench equivalent, or to fix. The template's own files that the migration replaces
(its programs, pages, data.yaml, tests, README) are moved to before_migration/<time>/, never deleted.

It refuses a bundle changed since it was baked (FORCE=1 goes ahead), and writes nothing when the v1.5 bundle
cannot become a working competition: the message names the key and the fix.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import stat
import sys
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import yaml
from bundle import COMPETITION_YAML, ROOT, BundleError, load_competition
from bundle_source import opened_bundle
from codalab_v15 import MigrationError, Report, file_problems, file_values, is_v15, parse_date, to_v2
from findings import Findings
from old_apis import find_uses
from validate_bundle import validate
from zips import ENTRY_ERRORS, files_under, is_junk

MARKER = "# Migrated from the CodaLab bundle"
# What the bake had that the migrated competition replaces: moved to before_migration/<time>/.
REPLACED = ("competition.yaml", "data.yaml", "README.md", "logo.png", "pages", "scoring_program", "ingestion_program",
            "starting_kit", "tests", ".gitignore", "data", "runs", "dist")
GENERATED = ("data", "runs", "dist")  # written by make from the bake's files: not the organizer's work
BAKE_SLACK = 120  # seconds: files written later than the bake's first plus this were changed by someone
MAX_UNPACKED = 10 * 1024**3
MAX_ENTRIES = 100_000
SAMPLE_NAME = re.compile(r"submission|baseline", re.IGNORECASE)
PROGRAM_NAME = re.compile(r"program", re.IGNORECASE)
METADATA = ("metadata", "metadata.yaml")


def fail(message: str) -> int:
    print(f"ERROR: {message}", file=sys.stderr)
    return 1


# -- is this bundle still as baked? ------------------------------------------------------------------------
def changes_since_bake(root: Path) -> list[str]:
    """Why migrating over this bundle could lose someone's work: an earlier migration, an upload, data written
    from a table, or a file the migration replaces written after the bake (by its time: a bake writes every file
    within seconds, a copy or a clone rewrites them all together)."""
    reasons = []
    if (root / COMPETITION_YAML).is_file() and (root / COMPETITION_YAML).read_text(errors="replace").startswith(MARKER):
        first = (root / COMPETITION_YAML).read_text(errors="replace").splitlines()[0]
        reasons.append(f"it was migrated already ({first[2:].strip()})")
    if (root / ".codabench").is_dir():
        reasons.append("it was uploaded to Codabench (.codabench/ records the competition)")
    if (root / "data" / "manifest.json").is_file():
        reasons.append("`make data` wrote data/ (from your table?)")
    files = [path for name in REPLACED if name not in GENERATED for path in
             ([root / name] if (root / name).is_file() else files_under(root / name) if (root / name).is_dir() else [])]
    if files:
        baked = min(path.stat().st_mtime for path in files)
        later = sorted((path for path in files if path.stat().st_mtime > baked + BAKE_SLACK),
                       key=lambda path: path.stat().st_mtime)
        if later:
            when = datetime.fromtimestamp(later[-1].stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            more = f" and {len(later) - 1} more" if len(later) > 1 else ""
            reasons.append(f"{later[-1].relative_to(root)}{more} changed after the bake (last on {when})")
    return reasons


# -- where each v1.5 file goes --------------------------------------------------------------------------
def _stem(value: str) -> str:
    name = PurePosixPath(value.rstrip("/")).name
    name = name[:-4] if name.lower().endswith(".zip") else name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "files"


def places(v15: dict) -> dict[str, str]:
    """Each distinct v1.5 file value -> its folder here: the role it first serves (scoring_program, reference_data,
    ...), and under it the zip's name when that role has several (reference_data/reference_data_1)."""
    first_role: dict[str, str] = {}
    for _, role, value in file_values(v15):
        first_role.setdefault(value, role)
    by_role: dict[str, list[str]] = {}
    for value, role in first_role.items():
        by_role.setdefault(role, []).append(value)
    placed = {}
    for role, values in by_role.items():
        if len(values) == 1:
            placed[values[0]] = role
            continue
        taken: set[str] = set()
        for value in values:
            stem, n = _stem(value), 2
            name = stem
            while name in taken:
                name, n = f"{stem}_{n}", n + 1
            taken.add(name)
            placed[value] = f"{role}/{name}"
    return placed


# -- unpacking ---------------------------------------------------------------------------------------------
def unpack(source: Path, target: Path, key: str, dropped: list[str], links: list[str] | None = None) -> None:
    """A v1.5 zip (or folder) into `target`, entry by entry: macOS and Python leftovers are left out (named in
    `dropped`), an entry that would land outside `target` or a zip that unpacks to more than the disk allows is
    refused, naming it."""
    target.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        for path in source.rglob("*"):
            relative = path.relative_to(source)
            if path.is_file() and is_junk(relative):
                dropped.append(relative.as_posix())
        for path in files_under(source):
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
        return
    if not zipfile.is_zipfile(source):
        raise MigrationError(f"{key}: {source.name} is not a zip file; CodaLab took programs and data as zips")
    try:
        with zipfile.ZipFile(source) as archive:
            entries = [info for info in archive.infolist() if not info.is_dir()]
            if len(entries) > MAX_ENTRIES or sum(info.file_size for info in entries) > min(
                    MAX_UNPACKED, shutil.disk_usage(target).free):
                raise MigrationError(f"{key}: {source.name} unpacks to {sum(i.file_size for i in entries):,} bytes in "
                                     f"{len(entries):,} files, more than this disk allows")
            for info in entries:
                name = info.filename
                parts = PurePosixPath(name).parts
                if "\\" in name or name.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", name):
                    raise MigrationError(f"{key}: {source.name} holds the entry {name!r}, which would land outside its "
                                         "folder: zip the files again, from inside their folder")
                if is_junk(Path(*parts)) or PurePosixPath(name).name.startswith("._"):
                    dropped.append(name)
                    continue
                if stat.S_ISLNK(info.external_attr >> 16) and links is not None:
                    links.append(f"{name} -> {archive.read(info).decode('utf-8', 'replace')}")
                destination = target.joinpath(*parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as stream, open(destination, "wb") as out:
                    shutil.copyfileobj(stream, out)
    except (zipfile.BadZipFile, OSError, *ENTRY_ERRORS) as exc:
        raise MigrationError(f"{key}: {source.name} cannot be unpacked ({exc}): zip it again") from None


def same_files(zipped: Path, folder: Path) -> bool:
    """Whether a zip holds exactly the files of a folder (its zips aside), byte for byte."""
    try:
        with zipfile.ZipFile(zipped) as archive:
            names = {info.filename: info for info in archive.infolist()
                     if not info.is_dir() and not is_junk(Path(*PurePosixPath(info.filename).parts))}
            mine = {path.relative_to(folder).as_posix(): path for path in files_under(folder) if path.suffix != ".zip"}
            return names.keys() == mine.keys() and all(archive.read(n) == mine[n].read_bytes() for n in names)
    except (zipfile.BadZipFile, OSError, *ENTRY_ERRORS):
        return False


def drop_zipped_copies(kit: Path, report: Report, key: str) -> None:
    """A starting kit's zip of a folder beside it (sample_code_submission.zip next to sample_code_submission/):
    the validator refuses zips in a kit, and `make bundle` writes each sample's zip to dist/submissions/."""
    for zipped in sorted(kit.rglob("*.zip")):
        folders = [p for p in [zipped.with_suffix(""), zipped.parent, *zipped.parent.iterdir()] if p.is_dir()]
        twin = next((folder for folder in folders if same_files(zipped, folder)), None)
        if twin is not None:
            zipped.unlink()
            report.mapped(key, f"{zipped.relative_to(kit.parent)} left out: the same files as "
                          f"{twin.relative_to(kit.parent)}/ (`make bundle` writes that zip to dist/submissions/)")


# -- sample submissions -------------------------------------------------------------------------------------
def kit_samples(kit: Path) -> list[Path]:
    """The sample submissions a v1.5 starting kit holds: the kit itself when it has a metadata command (Compute_pi's
    kit is its sample code), and its folders with metadata or a sample's name (sample_result_submission)."""
    found = [kit] if any((kit / name).is_file() for name in METADATA) else []
    for folder in sorted(p for p in kit.iterdir() if p.is_dir() and not is_junk(Path(p.name))):
        code = any((folder / name).is_file() for name in METADATA) and not PROGRAM_NAME.search(folder.name)
        if (code or SAMPLE_NAME.search(folder.name)) and files_under(folder):
            found.append(folder)
    return found


# -- writing ----------------------------------------------------------------------------------------------
ORDER = ("version", "title", "description", "image", "contact_email", "docker_image", "queue",
         "registration_auto_approve", "enable_detailed_results", "show_detailed_results_in_submission_panel",
         "show_detailed_results_in_leaderboard", "auto_run_submissions", "make_programs_available",
         "make_input_data_available", "can_participants_make_submissions_public", "forum_enabled", "reward",
         "terms", "pages", "tasks", "solutions", "phases", "leaderboards")


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:  # write shared values out, never as &id001 / *id001
        return True


_Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text.strip() else None))
_Dumper.add_representer(list, lambda dumper, items: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", items, flow_style=all(isinstance(i, (int, str)) for i in items) and len(items) < 10))


def competition_yaml(competition: dict, source: str) -> str:
    ordered = {key: competition[key] for key in ORDER if key in competition}
    ordered.update({key: value for key, value in competition.items() if key not in ordered})
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    header = (f"{MARKER} {source} on {today}: MIGRATION.md says what became of each v1.5 key.\n"
              "# yaml-language-server: $schema=tools/competition.schema.json\n"
              "# Codabench competition bundle, format version 2. Check it with `make validate`; build the zip to upload\n"
              "# with `make bundle`. Paths are relative to this file. Dates are quoted UTC times.\n")
    body = yaml.dump(ordered, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110, default_flow_style=False)
    return header + body


def report_markdown(report: Report, source: str, scored: str = "") -> str:
    titles = {"to fix": "To fix before the competition works as it did",
              "no equivalent": "No Codabench equivalent (left out; what to do instead)",
              "mapped": "Mapped (renamed, converted, or CodaLab's default written out)",
              "kept": "Kept as it was"}
    lines = [f"# Migration of {source}", "",
             "What `make migrate` did with each key of the CodaLab (v1.5) competition.yaml. The keys are the v1.5",
             "bundle's; the arrows point to this bundle's competition.yaml (version 2).", ""]
    for kind, title in titles.items():
        rows = report.of(kind)
        lines += [f"## {title}: {len(rows)}", ""]
        lines += [f"- `{key}`: {text}" for key, text in rows] or ["(none)"]
        lines.append("")
    return "\n".join(lines) + scored


def readme(competition: dict, source: str, solutions: list[dict]) -> str:
    phases = "\n".join(f"| {p['name']} | {p['start']} | {p.get('end', 'never')} | {p['max_submissions_per_day']} | "
                       f"{p['max_submissions']} |" for p in competition["phases"])
    samples = "\n".join(f"- `{s['path']}`" for s in solutions) or "- none: give one with `make run SUBMISSION=...`"
    first = competition["phases"][0]["name"]
    return f"""# {competition['title']}

This Codabench bundle was migrated from the CodaLab bundle `{source}` by `make migrate`.
[MIGRATION.md](MIGRATION.md) lists what became of each of its keys: kept, mapped, with no Codabench
equivalent, and what to fix. The competition's own ingestion and scoring programs are kept as they were.

| phase | starts (UTC) | ends (UTC) | a day | in all |
|---|---|---|---|---|
{phases}

## Where things are

- `competition.yaml`: the competition, in Codabench's format version 2.
- `pages/`: the pages, as they were (HTML stays HTML: Codabench renders pages as Markdown with raw HTML).
- The programs and data, unpacked from the v1.5 zips into the folders competition.yaml names.
- Sample submissions, wired as the bundle's `solutions` (participants can download them, as the kit):
{samples}
- `before_migration/`: what the bake had before the migration (the template's own programs, pages and tests).

## Commands

    make run                      # the first solution on the first phase ({first!r}), as Codabench's worker runs it
    make run PHASE=2 SUBMISSION=path/to/submission.zip
    make run ENGINE=docker        # in docker_image ({competition['docker_image']})
    make validate                 # Codabench's rules, and every solution run on each phase
    make test                     # the same, as tests (tests/test_competition.py)
    make bundle                   # dist/bundle.zip to upload, and the solutions' zips in dist/submissions/
    make upload                   # create the competition on Codabench (make login first)

Check the dates in competition.yaml before the upload: they are the CodaLab competition's, unless
`make migrate START=...` moved them.

## Adopting this template's own programs later

The migration keeps your programs. This template's own (the metric registry, `data.yaml` and `make data`,
the live detailed results page, the starting kit notebook and the bundle's tests) are in
`before_migration/<time>/` as the bake wrote them. To adopt them for a table-based competition, bake the
template again (as you baked this bundle), run `make data SOURCE=your_table.csv
TARGET=label_column` there, and copy over what you keep from here: the pages, the phases' dates and limits,
and the leaderboard's titles.
"""


GITIGNORE = """# Written by `make run` and `make bundle`; all reproducible.
runs/
dist/
.venv/
# what the bake had before `make migrate`: the template's own programs and pages, kept for later
before_migration/
# where make upload created the competition (tools/live_record.py); no token, never zipped
.codabench/
# your compute workers' settings (make worker): the broker URL in it is your queue's password
worker/.env
worker/.env.*
__pycache__/
.pytest_cache/
.ipynb_checkpoints/
"""


def build(source_root: Path, v15: dict, stage: Path, source_name: str, samples: list[Path], baked: dict,
          image: str | None, start: datetime | None = None) -> tuple[Report, dict]:
    """Write the migrated bundle's files into `stage`; MigrationError (nothing kept) when it cannot."""
    placed = places(v15)
    migrated = to_v2(v15, source_root, lambda role, value: placed[value], baked=baked, image=image, start=start)
    competition, report = migrated.competition, migrated.report

    for value, folder in placed.items():
        keys = [key for key, _, v in file_values(v15) if v == value]
        dropped: list[str] = []
        links: list[str] = []
        unpack(source_root / value, stage / folder, keys[0], dropped, links)
        for link in links:
            report.fix(keys[0], f"{value} holds the link {link}: Codabench's worker unpacks it as a file holding "
                       "that path (and so does the migration); put the file itself in the zip")
        if dropped:
            shown = ", ".join(dropped[:3]) + (f" and {len(dropped) - 3} more" if len(dropped) > 3 else "")
            report.mapped(keys[0], f"{value}: left out {shown} (macOS and Python leftovers)")
        if not files_under(stage / folder):
            raise MigrationError(f"{keys[0]}: {value} is empty; Codabench refuses an empty {keys[0].rsplit('.', 1)[1]}")
    image_file = competition["image"]
    if (source_root / image_file).is_file():
        (stage / image_file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source_root / image_file, stage / image_file)
    elif "image" in v15:
        raise MigrationError(f"image: {image_file!r} is not in the bundle; Codabench says 'Unable to find image: "
                             f"{image_file}'")
    else:
        shutil.copyfile(ROOT / "logo.png", stage / "logo.png")

    pages, names = [], set()
    for value, title in migrated.pages:
        name = PurePosixPath(value).name
        while name.lower() in names:
            name = f"{PurePosixPath(name).stem}_{PurePosixPath(name).suffix}"
        names.add(name.lower())
        if name != PurePosixPath(value).name:
            report.mapped("html", f"{value} saved as pages/{name}: another page has its name")
        (stage / "pages").mkdir(exist_ok=True)
        shutil.copyfile(source_root / value, stage / "pages" / name)
        if title == "Terms":
            competition["terms"] = f"pages/{name}"
        else:
            pages.append({"title": title, "file": f"pages/{name}"})
    competition["pages"] = pages

    kits = sorted({folder for value, folder in placed.items()
                   if any(role == "starting_kit" and v == value for _, role, v in file_values(v15))})
    for kit in kits:
        drop_zipped_copies(stage / kit, report, "starting_kit")
    sample_folders = [path.relative_to(stage).as_posix() for kit in kits for path in kit_samples(stage / kit)]
    for given in samples:
        folder = f"solutions/{_stem(given.name)}"
        dropped: list[str] = []
        unpack(given, stage / folder, f"SAMPLES={given}", dropped)
        twin = next((f for f in sample_folders if not filecmp.dircmp(stage / f, stage / folder).diff_files
                     and sorted(p.relative_to(stage / f) for p in files_under(stage / f))
                     == sorted(p.relative_to(stage / folder) for p in files_under(stage / folder))), None)
        if twin:
            shutil.rmtree(stage / folder)
            report.kept(f"SAMPLES={given.name}", f"the same files as {twin}/, which the kit already has")
        else:
            sample_folders.append(folder)
            report.mapped(f"SAMPLES={given.name}", f"unpacked to {folder}/")
    if (stage / "solutions").is_dir() and not any((stage / "solutions").iterdir()):
        (stage / "solutions").rmdir()
    tasks = [task["index"] for task in competition["tasks"]]
    competition["solutions"] = [{"index": i, "name": PurePosixPath(folder).name,
                                 "description": "A sample submission of the CodaLab bundle.", "tasks": tasks,
                                 "path": folder} for i, folder in enumerate(sample_folders)]
    if sample_folders:
        report.mapped("starting_kit", "sample submissions -> solutions: " + ", ".join(sample_folders) +
                      " (`make run` and `make validate` run them; participants can download them)")
    else:
        report.fix("starting_kit", "no sample submission found: `make migrate SAMPLES=sample.zip` adds one, so "
                   "`make run` and `make validate` have a submission to run")
    programs = sorted({placed[v] for _, role, v in file_values(v15) if role in ("scoring_program", "ingestion_program")})
    for use in find_uses(stage, programs + sample_folders):
        report.fix(use.file.split("/", 1)[0], use.text(competition["docker_image"]))

    past_dates(competition, report)
    (stage / COMPETITION_YAML).write_text(competition_yaml(competition, source_name), encoding="utf-8")
    for finding in validate(stage):  # what `make validate` will say of the result (Python 2 files too), said here
        said_above = ("CB057", "CB130") + (("CB006",) if "enable_detailed_results" not in v15 else ())
        if finding.code not in said_above:  # ended phases, detailed results off as on CodaLab, the bake's placeholders
            where = finding.path if finding.file == COMPETITION_YAML else finding.file
            report.fix(where, f"{finding.code} ({finding.severity}): {finding.message}; fix: {finding.fix}")
    (stage / "MIGRATION.md").write_text(report_markdown(report, source_name), encoding="utf-8")
    (stage / "README.md").write_text(readme(competition, source_name, competition["solutions"]), encoding="utf-8")
    (stage / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    (stage / "tests").mkdir()
    shutil.copyfile(ROOT / "tools" / "migrated_tests.py", stage / "tests" / "test_competition.py")
    return report, competition


def bake_image(root: Path, current: dict) -> str:
    """The docker_image the bake chose (IMAGE=current): this competition.yaml's, or, once migrated, the one the bake
    wrote, kept in before_migration/."""
    for path in [root / COMPETITION_YAML, *sorted((root / "before_migration").glob(f"*/{COMPETITION_YAML}"))]:
        try:
            if not path.read_text(encoding="utf-8", errors="replace").startswith(MARKER):
                return str((current if path == root / COMPETITION_YAML else load_competition(path.parent)).get(
                    "docker_image") or "")
        except (OSError, BundleError):
            continue
    return ""


def past_dates(competition: dict, report: Report) -> None:
    """Every date in the past (a competition run on CodaLab years ago): nobody could submit; START= moves them."""
    phases = competition["phases"]
    last = phases[-1].get("end") or phases[-1]["start"]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    if datetime.fromisoformat(last) < now:
        report.fix("phases", f"every date is in the past (the last is {last} UTC): nobody could submit. Migrate again "
                   "with new dates, the intervals kept: `make migrate FORCE=1 START=YYYY-MM-DD SOURCE=...`, or edit "
                   "the phases' start and end in competition.yaml")


def swap_in(stage: Path, root: Path) -> Path:
    """Move the bake's replaced files to before_migration/<time>/ and the staged ones in; on a failure, put
    everything back as it was."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    (root / "before_migration").mkdir(exist_ok=True)
    kept = next(folder for n in range(1, 1000) if not (folder := root / "before_migration" / (
        stamp + (f"-{n}" if n > 1 else ""))).exists())  # a second migration in the same second gets -2
    moves: list[tuple[Path, Path]] = []
    try:
        kept.mkdir()
        for name in REPLACED + ("MIGRATION.md", "solutions", *[p.name for p in stage.iterdir()]):
            if (root / name).exists() and not (kept / name).exists():
                shutil.move(root / name, kept / name)
                moves.append((kept / name, root / name))
        for path in sorted(stage.iterdir()):
            shutil.move(path, root / path.name)
            moves.append((root / path.name, None))
    except OSError:
        for moved, back in reversed(moves):
            if back is None:
                shutil.rmtree(moved, ignore_errors=True) if moved.is_dir() else moved.unlink(missing_ok=True)
            else:
                shutil.move(moved, back)
        raise
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=Path(os.environ.get("MK_SOURCE") or "") if os.environ.get(
        "MK_SOURCE") else None, help="the CodaLab bundle: its zip or its unpacked folder")
    parser.add_argument("--samples", default=os.environ.get("MK_SAMPLES") or "",
                        help="sample submissions (zips or folders), comma-separated")
    parser.add_argument("--image", default=os.environ.get("MK_IMAGE") or "",
                        help="`current`: this bundle's docker_image; or an image's name (default: the v1.5 one)")
    parser.add_argument("--start", default=os.environ.get("MK_START") or "",
                        help="move every date so that the first phase starts then (YYYY-MM-DD[ HH:MM], UTC)")
    parser.add_argument("--force", action="store_true", default=bool(os.environ.get("MK_FORCE")),
                        help="migrate over a bundle changed since the bake (what it replaces goes to before_migration/)")
    args = parser.parse_args(argv)
    if args.source is None:
        return fail("name the CodaLab bundle: make migrate SOURCE=old_bundle.zip (its zip or its unpacked folder)")
    if not args.source.exists():
        return fail(f"SOURCE={args.source} does not exist; give the CodaLab bundle's zip or its unpacked folder")
    samples = [Path(s.strip()) for s in args.samples.split(",") if s.strip()]
    for sample in samples:
        if not sample.exists():
            return fail(f"SAMPLES: {sample} does not exist; give sample submissions as zips or folders, comma-separated; "
                        "nothing was written")
        if not (sample.is_dir() or zipfile.is_zipfile(sample)):
            return fail(f"SAMPLES: {sample} is neither a folder nor a zip file; nothing was written")
    try:
        baked = load_competition(ROOT)
    except BundleError as exc:
        return fail(f"{exc}; run make migrate in a freshly baked bundle")
    if not args.force:
        reasons = changes_since_bake(ROOT)
        if reasons:
            return fail(f"{ROOT.name} is not as baked: {reasons[0]}. make migrate replaces competition.yaml, the "
                        "programs, pages and tests: run it in a fresh bake, or FORCE=1 to go ahead (what it replaces "
                        "is moved to before_migration/); nothing was written")
    image = None
    if args.image:
        image = bake_image(ROOT, baked) if args.image == "current" else args.image
        if not image or any(c.isspace() for c in image):
            return fail(f"IMAGE={args.image!r}: give `current` ({baked.get('docker_image')!r}) or an image's name")

    start = None
    if args.start:
        try:
            start = parse_date(args.start, "START")
        except MigrationError as exc:
            return fail(str(exc))
    findings = Findings()
    with opened_bundle(args.source, findings) as source_root:
        unreadable = [f for f in findings.errors if f.code != "CB091"]  # a zip of the folder is read inside it
        if source_root is None or unreadable:
            return fail(f"{args.source}: {(unreadable or findings.errors)[0].message}; nothing was written")
        try:
            v15 = load_competition(source_root)
        except BundleError as exc:
            said = str(exc).replace(str(source_root) + "/", "").replace("(version, title, phases, ...)",
                                                                          "(title, html, phases, leaderboard, ...)")
            return fail(f"{args.source.name}: {said}; nothing was written")
        if not is_v15(v15):
            return fail(f"{args.source} is not a CodaLab (v1.5) bundle (version: {v15.get('version')!r}); a version 2 "
                        "bundle needs no migration: check it with make validate BUNDLE=...; nothing was written")
        stage = Path(tempfile.mkdtemp(prefix=".migrate-", dir=ROOT))
        try:
            missing = file_problems(v15, source_root)
            if missing:
                key, _, problem = missing[0]
                raise MigrationError(f"{key}: {problem} (a CodaLab dataset key or a missing zip); put the zip in the bundle")
            report, competition = build(source_root, v15, stage, args.source.name, samples, baked, image, start)
            kept = swap_in(stage, ROOT)
        except MigrationError as exc:
            return fail(f"{args.source.name}: {exc}; nothing was written")
        except (OSError, ValueError, TypeError, KeyError) as exc:
            return fail(f"{args.source.name}: could not migrate ({type(exc).__name__}: {exc}); nothing was written")
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    counts = {kind: len(report.of(kind)) for kind in ("kept", "mapped", "no equivalent", "to fix")}
    print(f"Migrated {args.source.name} into {ROOT.name}: {len(competition['phases'])} phase(s), "
          f"{len(competition['leaderboards'][0]['columns'])} leaderboard column(s), {len(competition['pages'])} page(s) "
          f"and the terms, {len(competition['solutions'])} sample submission(s).")
    print(f"  {counts['kept']} v1.5 keys kept, {counts['mapped']} mapped, {counts['no equivalent']} with no Codabench "
          f"equivalent, {counts['to fix']} to fix: MIGRATION.md lists each.")
    for key, text in report.of("no equivalent"):
        print(f"  no equivalent  {key}: {text}")
    for key, text in report.of("to fix"):
        print(f"  TO FIX  {key}: {text}")
    print(f"  What the migration replaced is in {kept.relative_to(ROOT)}/.")
    print("Next: make validate (it runs the first sample), make test (every sample on every phase), make run, make bundle.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
