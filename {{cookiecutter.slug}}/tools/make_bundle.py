"""Validate the bundle, then write the zip to upload and the sample submission zips.

    python tools/make_bundle.py     # -> dist/bundle.zip, dist/submissions/*.zip

The folder is validated first, with the solution run through the pipeline (`--run`), and the
written zip is validated again as Codabench will unpack it. The bundle zip holds
competition.yaml at its root plus exactly the files competition.yaml refers to (so tools/,
tests/, runs/ and caches never ship); a file in those folders that was never meant to ship (a
.rej left by a template update, a participant's zip made inside the kit, an editor's backup, a
hidden file) stops the build (CB094), naming it. Every submission zip has its files at the
root, as the compute worker expects.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

from bundle import COMPETITION_YAML, ROOT, load_competition, referenced_paths, template_programs
from executors import ENGINES, NETWORKS, PULLS, EngineError, default_engine, default_network, default_pull
from file_rules import human
from validate_bundle import validate
from zips import add_file, files_under, zip_folder

SUBMISSIONS = {  # by submission mode
    "code": ("sample_code_submission", "failing_submission"),
    "result": ("sample_result_submission", "failing_submission"),
    "both": ("sample_code_submission", "sample_result_submission", "failing_submission"),
}


def bundle_files(root: Path) -> list[Path]:
    """competition.yaml and every file under the paths it references, without duplicates."""
    files = {root / COMPETITION_YAML}
    for value in referenced_paths(load_competition(root)).values():
        path = root / value
        files.update(files_under(path) if path.is_dir() else [path])
    return sorted(files)


def write_bundle(root: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w") as archive:
        for path in bundle_files(root):
            add_file(archive, path, path.relative_to(root).as_posix())
    return target


def submission_folders(root: Path) -> list[Path]:
    """The sample submissions to zip: this template's by submission mode; a migrated competition's solutions."""
    settings = root / "scoring_program" / "settings.json"
    if template_programs(root):
        mode = json.loads(settings.read_text(encoding="utf-8"))["submission_mode"]
        return [root / "starting_kit" / name for name in SUBMISSIONS[mode]]
    paths = [root / s["path"] for s in load_competition(root).get("solutions") or [] if isinstance(s, dict) and s.get("path")]
    return [path for path in paths if path.is_dir()]


def write_submissions(root: Path, folder: Path) -> list[Path]:
    return [zip_folder(path, folder / f"{path.name}.zip", skip=("expected_error.txt",)) for path in submission_folders(root)]


def shipped_by_folder(names: list[str]) -> str:
    """What the zip holds, by top folder: "competition.yaml, logo.png, pages/ (4 files), ..."."""
    counts: dict[str, int] = {}
    for name in names:
        top = name.split("/", 1)[0] + ("/" if "/" in name else "")
        counts[top] = counts.get(top, 0) + 1
    return ", ".join(top if not top.endswith("/") else f"{top} ({count} file{'s' * (count > 1)})" for top, count in counts.items())


def build(root: Path, dist: Path, run: bool = True, engine: str | None = None, network: str | None = None,
          pull: str | None = None) -> int:
    """Validate the folder (running its solution with `engine`), write the zips, validate the bundle zip; 0 when all
    went well."""
    try:
        findings = validate(root, run=run, engine=engine, network=network, pull=pull)
    except EngineError as exc:
        print(f"ERROR: {exc}; nothing was written", file=sys.stderr)
        return 2
    for finding in findings:
        print(finding)
    if findings.errors:
        print(f"ERROR: {len(findings.errors)} validation error(s): fix them, then run `make bundle` again; nothing was written",
              file=sys.stderr)
        return 1

    bundle = write_bundle(root, dist / "bundle.zip")
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
    print(f"Wrote {bundle} ({human(bundle.stat().st_size)}, {len(names)} files, {COMPETITION_YAML} at the root): "
          f"{shipped_by_folder(names)}")
    as_uploaded = validate(bundle)
    said = {str(finding) for finding in findings}
    for finding in as_uploaded:
        if str(finding) not in said:  # the folder's warnings, said above, hold for the zip too
            print(finding)
    if as_uploaded.errors:
        print(f"ERROR: {bundle} itself fails validation (see above); this is a bug in tools/make_bundle.py", file=sys.stderr)
        return 1
    for path in write_submissions(root, dist / "submissions"):
        print(f"Wrote {path} ({human(path.stat().st_size)})")
    print("Upload it with `make upload` (README: Going live), or at Codabench: Benchmarks > Management > Upload.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    parser.add_argument("--engine", choices=ENGINES, default=default_engine(),
                        help="run the solution on this machine's Python (local) or in docker_image (docker, podman)")
    parser.add_argument("--network", choices=NETWORKS, default=default_network(),
                        help="with docker or podman: on (the worker's default) or off")
    parser.add_argument("--pull", choices=PULLS, default=default_pull(),
                        help="with docker or podman: pull the image first, as the worker does, or never")
    args = parser.parse_args(argv)
    return build(ROOT, args.dist, engine=args.engine, network=args.network, pull=args.pull)


if __name__ == "__main__":
    sys.exit(main())
