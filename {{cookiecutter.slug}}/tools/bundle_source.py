"""Open what the organizer points the validator at (a bundle folder or the zip to upload).

A zip is unpacked the way Codabench's `unpack_competition` does: it must be a zip, and
`competition.yaml` must sit at its root. The most common upload error is a zip of the
folder instead of its contents; it is reported with Codabench's message, and the folder
inside is then validated anyway so that one run shows every problem. Entries are unpacked
one by one as `ZipFile.extractall` does (never outside the temporary folder); an entry whose
name climbs out (`../`, an absolute path) or uses backslashes lands elsewhere on Codabench than
its name says, and one that cannot be unpacked at all stops Codabench's unpacker: both are named.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from bundle import COMPETITION_YAML
from findings import Findings
from zips import ENTRY_ERRORS

MAC_JUNK = ("__MACOSX", ".DS_Store")
WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:/")  # C:/x; with backslashes, C:\x is one odd name on Linux
MAX_ENTRIES_NAMED = 3


def _single_folder_holding_the_yaml(root: Path) -> Path | None:
    candidates = [p.parent for p in root.glob(f"*/{COMPETITION_YAML}") if p.parent.name not in MAC_JUNK]
    return candidates[0] if len(candidates) == 1 else None


def _check_zip_entries(names: list[str], label: str, findings: Findings) -> None:
    junk = sorted({n for n in names if any(part in MAC_JUNK for part in PurePosixPath(n).parts)})
    if junk:
        findings.add("CB092", "", f"{len(junk)} __MACOSX/.DS_Store entries (e.g. {junk[0]!r}); Codabench ignores them",
                     "zip with `make bundle` (or `zip -r -X bundle.zip . -x '.*' -x '__MACOSX'`)", file=label)


def unpacked_name(name: str) -> str:
    """Where Python's ZipFile.extractall, Codabench's unpacker (on Linux), writes an entry, relative to its target:
    the name without its empty, '.' and '..' parts (a backslash is part of a name there, not a separator)."""
    return "/".join(part for part in name.split("/") if part not in ("", ".", ".."))


def _landing(name: str, names: set[str]) -> str | None:
    """Where an entry lands when that is not where its name says, e.g. "'../x.txt' (lands as x.txt)"; else None."""
    if "\\" in name:
        return f"{name!r} (lands as one file of that very name at the root)"
    landed = unpacked_name(name)
    if not landed or not (name.startswith("/") or WINDOWS_DRIVE.match(name) or ".." in name.split("/")):
        return None  # a harmless name, or one that cannot be unpacked at all (reported when it fails)
    clash = ", as does another entry: the later one wins" if landed in names else ""
    return f"{name!r} (lands as {landed}{clash})"


def _named(items: list[str]) -> str:
    more = f" and {len(items) - MAX_ENTRIES_NAMED} more" if len(items) > MAX_ENTRIES_NAMED else ""
    return ", ".join(items[:MAX_ENTRIES_NAMED]) + more


def _check_misplaced_entries(names: list[str], label: str, findings: Findings) -> None:
    known = set(names)
    misplaced = [where for name in names if (where := _landing(name, known))]
    if misplaced:
        findings.add("CB096", "", f"{_named(misplaced)}: Codabench's unpacker (Python's ZipFile.extractall, on Linux) drops "
                     "'..' and a leading '/' and keeps a backslash as part of a name, so these files land elsewhere than "
                     "their names say", "rebuild the zip with `make bundle` (its entries are relative to the bundle's root)",
                     file=label)


def _unpack(archive: zipfile.ZipFile, scratch: str, label: str, findings: Findings) -> None:
    """Every entry into `scratch`, one by one as extractall does (extract() never writes outside it); the entries that
    cannot be unpacked (encrypted, damaged, a file where a folder must be) are named, the others unpacked."""
    failed: list[tuple[str, Exception]] = []
    for info in archive.infolist():
        try:
            archive.extract(info, scratch)
        except (OSError, *ENTRY_ERRORS) as exc:
            failed.append((info.filename, exc))
    if not failed:
        return
    _, exc = failed[0]
    error = f"[Errno {exc.errno}] {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else str(exc)
    damaged = isinstance(exc, zipfile.BadZipFile)  # the one error Codabench words itself
    said = "Bad zip file uploaded." if damaged else f"Unpacking the bundle failed. Here is the error log: {error}"
    findings.add("CB096", "", f"{_named([f'the entry {n!r}' for n, _ in failed])} cannot be unpacked{f' ({error})' if damaged else ''}: "
                 f"Codabench's unpacker stops at the first and says '{said}'", "rebuild the zip with `make bundle`", file=label)


@contextmanager
def opened_bundle(target: Path, findings: Findings) -> Iterator[Path | None]:
    """Yield the folder that holds competition.yaml, or None when there is nothing to validate."""
    label = target.name
    if target.is_dir():
        if (target / COMPETITION_YAML).is_file():
            yield target
            return
        inner = _single_folder_holding_the_yaml(target)
        hint = f"; {inner.name}/{COMPETITION_YAML} exists: validate that folder" if inner else ""
        findings.add("CB000", "", f"no {COMPETITION_YAML} in {target}{hint}",
                     f"point the validator at the folder that holds {COMPETITION_YAML}", file=label)
        yield None
        return
    if not target.is_file():
        findings.add("CB000", "", f"{target} does not exist", "give the path of a bundle folder or zip", file=label)
        yield None
        return
    if not zipfile.is_zipfile(target):
        findings.add("CB090", "", "not a zip file; Codabench says 'Bad zip file uploaded.'",
                     "upload a .zip of the bundle's contents (`make bundle` writes dist/bundle.zip)", file=label)
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="validate_") as scratch, zipfile.ZipFile(target) as archive:
        names = archive.namelist()
        _check_zip_entries(names, label, findings)
        _check_misplaced_entries(names, label, findings)
        _unpack(archive, scratch, label, findings)
        root = Path(scratch)
        if (root / COMPETITION_YAML).is_file():
            yield root
            return
        inner = _single_folder_holding_the_yaml(root)
        where = f" (it is in {inner.name}/: the zip wraps the bundle in a folder)" if inner else ""
        findings.add("CB091", "", "Codabench says 'competition.yaml is missing from zip, check your folder structure "
                     f"to make sure it is in the root directory.'{where}",
                     "zip the folder's contents, not the folder: `cd <bundle> && zip -r ../bundle.zip .` "
                     "(or `make bundle`)", file=label)
        yield inner  # validate what is inside, so one run shows every problem
