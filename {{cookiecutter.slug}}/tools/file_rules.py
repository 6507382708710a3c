"""Check the files competition.yaml points at: present, non-empty, the right kind, not too big, no leak.

Codabench zips each referenced folder with its contents at the zip root and uploads a
referenced file as is (so a file must already be a zip); pages and terms are read as UTF-8
text; the logo's type is sniffed from its bytes; every approved participant can download
the starting kit, the public data and the solutions. A phase that takes result submissions
must give participants the test features to predict on, in its public data.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path, PurePosixPath

from bundle import mappings, referenced_paths
from findings import Findings
from yaml_rules import key, phases_in_order
from zips import ENTRY_ERRORS, file_size, files_under, is_junk, links_out, list_files, read_file

MB = 1024 * 1024
LARGE = {"path": 50 * MB, "starting_kit": 100 * MB}  # by yaml key (a solution's `path`): participants download these
LARGE_DATA = 500 * MB
LARGE_BUNDLE = 200 * MB  # slow to upload and unpack; counts toward the 15 GB quota
ZIPPED_KEYS = ("ingestion_program", "scoring_program", "input_data", "reference_data", "path", "starting_kit", "public_data")
DATA_KEYS = ("input_data", "reference_data")
VISIBLE_KEYS = ("input_data", "public_data", "starting_kit", "path")  # what a participant can reach
IMAGE_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpeg", b"GIF87a": "gif", b"GIF89a": "gif"}
MIN_LEAK_BYTES = 64  # tiny files (an empty __init__.py, a one-line config) may match by chance
WRITTEN_BY_MAKE_DATA = ("data/", "starting_kit/sample_result_submission")
# Files never meant to ship, though they sit in a folder that does (caches such as __pycache__ and
# .ipynb_checkpoints are left out of every zip without a word; see zips.JUNK_NAMES):
LEFTOVER = "a leftover of a template update or patch that did not apply cleanly"
BACKUP = "an editor's backup or swap file"
HIDDEN = "a hidden file"
ZIPPED = "a zip inside a program or the starting kit"
STRAY_FIXES = {
    LEFTOVER: "merge what it holds into the file it names by hand, then delete it",
    BACKUP: "delete it",
    HIDDEN: "delete it, or move it out of the bundle (participants or the worker would get it)",
    ZIPPED: "delete it or move it out of the bundle (`make bundle` writes the submission zips to dist/submissions/)",
}
ZIP_FREE_KEYS = ("ingestion_program", "scoring_program", "starting_kit", "path")  # data may ship zips on purpose
MAX_SCANNED = 2 * MB  # text files read for merge-conflict markers (programs, pages, the kit; not the data)
MAX_STRAYS_LISTED = 3
SETTINGS = "settings.json"  # this template's scoring program: submission_mode (code, result, both) and the dataset names
PUBLIC_TEST = "test.csv"  # the test features participants predict on, in each dataset's folder of the public data


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in files_under(path)) if path.is_dir() else path.stat().st_size


def sha256(path: Path) -> str:
    """The file's SHA-256, read a MiB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def human(size: int) -> str:
    if size >= 1024 * MB:
        return f"{size / 1024 / MB:,.1f} GiB"
    if size < 1024:
        return f"{size} bytes"
    return f"{size / MB:.1f} MiB" if size >= MB else f"{size / 1024:.0f} KiB"


def image_kind(head: bytes) -> str | None:
    kind = next((k for signature, k in IMAGE_SIGNATURES.items() if head.startswith(signature)), None)
    return "webp" if kind is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP" else kind


def inside_paths(c: dict, root: Path) -> dict[str, str]:
    """referenced_paths() without the absolute ones and those that lead outside the bundle (through `..` or
    a link): the checks read only files of the bundle."""
    inside = root.resolve()
    return {where: value for where, value in referenced_paths(c).items()
            if not PurePosixPath(value).is_absolute() and (root / value).resolve().is_relative_to(inside)}


def check_files(c: dict, root: Path, findings: Findings, own_bundle: bool = False) -> None:
    inside = inside_paths(c, root)  # what the checks below may read
    for where, value in referenced_paths(c).items():
        path = root / value
        if where not in inside:
            how = "an absolute path" if PurePosixPath(value).is_absolute() else "a path that leads outside the bundle"
            findings.add("CB009", where, f"{value!r} is {how}: Codabench reads only what is inside the bundle zip, and "
                         "a tool following it would read another part of this machine", "point at a file or folder of the bundle")
            continue
        zipped_to = root / (value.rstrip("/") + ".zip")
        if value.endswith("/") and path.is_dir() and zipped_to.exists():
            findings.add("CB010", where, f"{value!r} ends with '/': Codabench zips it to {zipped_to.name} next to it, "
                         f"overwriting the {zipped_to.name} shipped in the bundle", "drop the trailing slash")
        if not path.exists():
            fix = "run `make data`" if own_bundle and value.startswith(WRITTEN_BY_MAKE_DATA) else \
                "create it or fix the path (relative to competition.yaml)"
            said = f"'Unable to find page: {value}'" if where.startswith(("pages", "terms")) else \
                f"'Unable to find image: {value}'" if where == "image" else f"'Cannot find dataset: \"{value}\"'"
            findings.add("CB011", where, f"{value!r} does not exist; Codabench says {said}", fix)
        elif path.is_file() and path.stat().st_size == 0:
            findings.add("CB012", where, f"{value!r} is empty; Codabench says '{value} is empty, it must contain content.'",
                         "write its content")
        elif path.is_dir() and (out := links_out(path)):
            link, target = out[0]
            findings.add("CB009", where, f"{link.relative_to(root).as_posix()} is a link to {target!r}, outside {value!r}: "
                         "zipping the folder would read a file of this machine into the bundle", "replace the link with the file itself")
        elif path.is_dir() and not files_under(path):
            findings.add("CB012", where, f"{value!r} is an empty folder: Codabench uploads an empty zip", "put its files in it")
        elif path.is_file() and where.endswith(ZIPPED_KEYS) and not zipfile.is_zipfile(path):
            findings.add("CB015", where, f"{value!r} is a file but not a zip; the worker retries for minutes, then says "
                         "'Bad or empty zip file'", "point at the folder, or at a zip of its contents")
        elif where.startswith(("pages", "terms")) and path.is_file():
            try:
                path.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                findings.add("CB016", where, f"{value!r} is not UTF-8 text ({exc.reason} at byte {exc.start})",
                             "save it as UTF-8")
    for i, page in mappings(c.get("pages")):
        for key, said in (("file", "Unpacking the bundle failed. Here is the error log: 'file'"), ("title", "title: This field may not be null.")):
            if not page.get(key):
                findings.add("CB014", f"pages[{i}].{key}", f"the page has no {key}; Codabench says '{said}'", f"add `{key}:`")
    check_logo(c, root, inside, findings)
    check_data_layout(c, root, inside, findings)
    check_public_test_features(c, root, inside, findings)
    check_sizes(root, inside, findings)
    check_leaks(c, root, inside, findings)
    check_strays(root, inside, findings)
    check_conflict_markers(root, inside, findings)


def check_logo(c: dict, root: Path, inside: dict[str, str], findings: Findings) -> None:
    logo = root / str(c.get("image", ""))
    if "image" in inside and logo.is_file() and logo.stat().st_size and image_kind(logo.read_bytes()[:16]) is None:
        findings.add("CB013", "image", "the logo is not a PNG, JPEG, GIF or WEBP image (by its bytes, whatever its name); "
                     "Codabench says 'logo: Please upload a valid image.'", "save the logo as an RGB PNG")


def check_data_layout(c: dict, root: Path, inside: dict[str, str], findings: Findings) -> None:
    """A data zip whose files sit in one folder: the programs then see /app/input_data/<folder>/..."""
    for i, task in mappings(c.get("tasks")):
        for key in DATA_KEYS:
            path = root / str(task.get(key) or "")
            if f"tasks[{i}].{key}" in inside and path.is_file() and zipfile.is_zipfile(path):
                tops = {PurePosixPath(n).parts[0] for n in list_files(path) if "__MACOSX" not in n}
                if len(tops) == 1 and all("/" in n for n in list_files(path) if "__MACOSX" not in n):
                    findings.add("CB019", f"tasks[{i}].{key}", f"every file of {task[key]!r} is inside {tops.pop()}/: "
                                 "the programs will find them one folder deeper than the root", "zip the folder's contents, not the folder")


def check_sizes(root: Path, inside: dict[str, str], findings: Findings) -> None:
    total = 0
    for where, value in inside.items():
        path = root / value
        if not path.exists():
            continue
        size = size_of(path)
        total += size
        limit = LARGE.get(where.rsplit(".", 1)[-1], LARGE_DATA)
        if size > limit:
            who = "every approved participant downloads it" if limit < LARGE_DATA else "it is uploaded with every bundle"
            findings.add("CB017", where, f"{value!r} is {human(size)}: {who}", "shrink it, or upload it once to Codabench and reference it by key")
    if total > LARGE_BUNDLE:
        findings.add("CB093", "", f"the files competition.yaml references add up to {human(total)}: uploads and unpacking are slow "
                     "and count toward the 15 GB quota", "move large data to a dataset uploaded once and referenced by key")


def _digests(source: Path) -> dict[str, str]:
    result = {}
    for name in list_files(source):
        data = read_file(source, name)
        if len(data) >= MIN_LEAK_BYTES:
            result[hashlib.sha256(data).hexdigest()] = name
    return result


def check_leaks(c: dict, root: Path, inside: dict[str, str], findings: Findings) -> None:
    """A reference file (the answers) byte-identical to one participants can download or read.

    A warning, not an error: some competitions score against data that is not secret (a graph
    whose shortest path the scorer computes). This template's own data is checked strictly (CB082).
    """
    secret: dict[str, str] = {}
    for i, task in mappings(c.get("tasks")):
        folder = str(task.get("reference_data") or "").rstrip("/")
        path = root / folder
        if folder and f"tasks[{i}].reference_data" in inside and path.exists() and (path.is_dir() or zipfile.is_zipfile(path)):
            secret.update({digest: f"{folder}/{name}" for digest, name in _digests(path).items()})
    if not secret:
        return
    for where, value in inside.items():
        folder, path = value.rstrip("/"), root / value
        if where.endswith(VISIBLE_KEYS) and path.exists() and (path.is_dir() or zipfile.is_zipfile(path)):
            leaked = sorted((name, secret[digest]) for digest, name in _digests(path).items() if digest in secret)
            if leaked:
                name, reference = leaked[0]
                more = f" (and {len(leaked) - 1} more)" if len(leaked) > 1 else ""
                findings.add("CB018", where, f"{folder}/{name} is identical to the reference file {reference}{more}: "
                             "participants can read it", "remove it from what participants can reach, unless it is not secret")


def shipped_files(root: Path, inside: dict[str, str], skip: tuple[str, ...] = ()):
    """(yaml path, its key, the file's name as shipped, its source, its name in the source, in a folder) for every
    file the referenced paths ship, once (two tasks share one scoring program), caches left out; a source is a
    folder or a zip (a referenced plain file is its own folder's file)."""
    seen = set()
    for where, value in inside.items():
        key, shipped, path = where.rsplit(".", 1)[-1], value.rstrip("/"), root / value
        if key in skip or shipped in seen or not path.exists():
            continue
        seen.add(shipped)
        if not (path.is_dir() or zipfile.is_zipfile(path)):
            yield where, key, shipped, path.parent, path.name, False
            continue
        for name in list_files(path):
            if not is_junk(Path(name)):  # caches and __MACOSX: never unpacked from our zips, reported as CB092 in others
                yield where, key, f"{shipped}/{name}", path, name, True


def stray_reason(name: str, key: str) -> str | None:
    """Why a file of a shipped folder (its relative name) was not meant to ship, or None."""
    path = PurePosixPath(name)
    base = path.name.lower()
    if base.endswith((".rej", ".orig")):
        return LEFTOVER
    if base.endswith(("~", ".swp", ".swo", ".bak")) or base.startswith(".#") or (base.startswith("#") and base.endswith("#")):
        return BACKUP
    if any(part.startswith(".") for part in path.parts):
        return HIDDEN
    if key in ZIP_FREE_KEYS and base.endswith(".zip"):
        return ZIPPED
    return None


def check_strays(root: Path, inside: dict[str, str], findings: Findings) -> None:
    """Files that would ship without being meant to: a .rej left by a template update, a zip made inside the kit."""
    found: dict[tuple[str, str], list[str]] = {}  # (yaml path, reason): the files
    for where, key, shipped, _, name, in_folder in shipped_files(root, inside):
        reason = stray_reason(name, key) if in_folder else None
        if reason:
            found.setdefault((where, reason), []).append(shipped)
    for (where, reason), names in found.items():
        shown = ", ".join(names[:MAX_STRAYS_LISTED]) + (f" and {len(names) - MAX_STRAYS_LISTED} more" if len(names) > MAX_STRAYS_LISTED else "")
        findings.add("CB094", where, f"{shown}: {reason}, would be uploaded with the bundle", STRAY_FIXES[reason])


def conflict_line(data: bytes) -> int | None:
    """The line of the first merge-conflict block (`<<<<<<< ` ... `>>>>>>> `) in a text, or None."""
    start = data.find(b"<<<<<<< ")
    while start != -1 and start > 0 and data[start - 1:start] != b"\n":
        start = data.find(b"<<<<<<< ", start + 1)
    if start == -1 or b"\n>>>>>>> " not in data[start:]:
        return None
    return data.count(b"\n", 0, start) + 1


def check_conflict_markers(root: Path, inside: dict[str, str], findings: Findings) -> None:
    """A merge that left both sides in a file (`cruft update` or `git merge` with a conflict): the code would not
    run, a page would show the markers. The data are not read (large, and no merge writes them)."""
    for where, _, shipped, source, name, _ in shipped_files(root, inside, skip=(*DATA_KEYS, "public_data")):
        line = conflict_line(read_file(source, name)) if file_size(source, name) <= MAX_SCANNED else None
        if line:
            findings.add("CB095", where, f"{shipped} line {line} holds merge-conflict markers (<<<<<<< ... >>>>>>>), left "
                         "by a template update or a merge that did not apply cleanly",
                         "keep the lines you want between the markers, delete the markers, then run `make test`")


def scoring_settings(c: dict, root: Path, inside: dict[str, str], phase: dict) -> tuple[str, dict]:
    """(the file, what it says) of the settings.json of the scoring program of a phase's first task that has one,
    or ("", {}): a scoring program not made from this template has none."""
    tasks = {key(task.get("index")): i for i, task in mappings(c.get("tasks"))}
    listed = phase.get("tasks") if isinstance(phase.get("tasks"), list) else []
    for where in (f"tasks[{tasks[key(index)]}].scoring_program" for index in listed if key(index) in tasks):
        source = root / inside.get(where, "")
        if where not in inside or not (source.is_dir() or zipfile.is_zipfile(source)) or SETTINGS not in list_files(source):
            continue
        try:
            settings = json.loads(read_file(source, SETTINGS))
        except (ValueError, RecursionError, OSError, *ENTRY_ERRORS):
            continue  # the scoring program fails on it; not this rule's to say
        if isinstance(settings, dict):
            return f"{inside[where].rstrip('/')}/{SETTINGS}", settings
    return "", {}


def public_test_files(datasets: object) -> dict[str, str]:
    """Dataset name -> its test features in the public data (`make data`: one dataset at the top, several in sub-folders)."""
    if not (isinstance(datasets, list) and datasets and all(isinstance(d, str) and d for d in datasets)):
        return {}
    return {datasets[0]: PUBLIC_TEST} if len(datasets) == 1 else {d: f"{d}/{PUBLIC_TEST}" for d in datasets}


def check_public_test_features(c: dict, root: Path, inside: dict[str, str], findings: Findings) -> None:
    """CB085: participants predict on a phase's public test.csv. With submission_mode "result" every phase takes result
    submissions; with "both" every phase but the last (Codabench's final phase), which re-runs code only."""
    ordered = phases_in_order(c)
    for position, (i, phase) in enumerate(ordered):
        settings_file, settings = scoring_settings(c, root, inside, phase)
        mode = settings.get("submission_mode")
        wanted = public_test_files(settings.get("datasets"))
        if not wanted or not (mode == "result" or (mode == "both" and position < len(ordered) - 1)):
            continue
        name = phase.get("name") if isinstance(phase.get("name"), str) else f"phases[{i}]"
        said = f"phase {name!r} takes result submissions (submission_mode \"{mode}\" in {settings_file})"
        public = phase.get("public_data")
        if not public:
            findings.add("CB085", f"phases[{i}]", f"{said}, but has no public_data: participants have no test features to predict",
                         "point `public_data:` at the phase's public data folder (`make data` writes data/<phase>/public_data/)")
            continue
        source = root / str(public)
        if f"phases[{i}].public_data" not in inside or not (source.is_dir() or zipfile.is_zipfile(source)):
            continue  # outside the bundle, missing, or not a zip: CB009, CB011, CB015
        present = set(list_files(source))
        missing = [f"{file} (dataset {dataset!r})" for dataset, file in wanted.items() if file not in present]
        if missing:
            folder = public.rstrip("/")
            findings.add("CB085", f"phases[{i}].public_data", f"{said}, but its public data {folder} lacks {', '.join(missing)}: "
                         "participants have no test features to predict",
                         "run `make data`: it writes each dataset's test.csv into the public data of every phase that takes "
                         "result submissions", file=folder)
