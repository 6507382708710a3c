"""Open what the organizer points the validator at (a bundle folder or the zip to upload).

A zip is unpacked the way Codabench's `unpack_competition` does: it must be a zip, and
`competition.yaml` must sit at its root. The most common upload error is a zip of the
folder instead of its contents; it is reported with Codabench's message, and the folder
inside is then validated anyway so that one run shows every problem.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from bundle import COMPETITION_YAML
from findings import Findings

MAC_JUNK = ("__MACOSX", ".DS_Store")


def _single_folder_holding_the_yaml(root: Path) -> Path | None:
    candidates = [p.parent for p in root.glob(f"*/{COMPETITION_YAML}") if p.parent.name not in MAC_JUNK]
    return candidates[0] if len(candidates) == 1 else None


def _check_zip_entries(names: list[str], label: str, findings: Findings) -> None:
    junk = sorted({n for n in names if any(part in MAC_JUNK for part in PurePosixPath(n).parts)})
    if junk:
        findings.add("CB092", "", f"{len(junk)} __MACOSX/.DS_Store entries (e.g. {junk[0]!r}); Codabench ignores them",
                     "zip with `make bundle` (or `zip -r -X bundle.zip . -x '.*' -x '__MACOSX'`)", file=label)


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
        archive.extractall(scratch)  # like Codabench; extractall keeps entries inside `scratch`
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
