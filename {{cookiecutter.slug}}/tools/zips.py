"""Zip and unzip exactly the way Codabench does, so local runs see what the worker sees.

Codabench zips a folder referenced by competition.yaml with its contents at the zip root,
and the compute worker extracts with `ZipFile.extractall`, which drops Unix permission bits
(so `./run.sh` is not executable there). Our zips are also reproducible: sorted entries and
a fixed timestamp, so the same files always give the same bytes.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

# Never shipped: editor, OS and Python leftovers.
JUNK_NAMES = {"__pycache__", ".DS_Store", "__MACOSX", ".ipynb_checkpoints", ".pytest_cache", "Thumbs.db"}
FIXED_TIMESTAMP = (2020, 1, 1, 0, 0, 0)
# What reading one entry of a zip can raise besides OSError: encrypted, damaged, an unknown compression method.
ENTRY_ERRORS = (RuntimeError, NotImplementedError, EOFError, zipfile.BadZipFile, zlib.error)


def is_junk(relative: Path) -> bool:
    return any(part in JUNK_NAMES or part.endswith(".pyc") for part in relative.parts)


def files_under(folder: Path) -> list[Path]:
    """Files of a folder, sorted, without junk, and without links that lead out of it (nothing outside
    is ever read or zipped; the validator reports such links, CB009, and the runner refuses them)."""
    inside = folder.resolve()
    return sorted(p for p in folder.rglob("*") if p.is_file() and not is_junk(p.relative_to(folder))
                  and p.resolve().is_relative_to(inside))


def links_out(folder: Path) -> list[tuple[Path, str]]:
    """(link, its target) for each link under `folder` that leads out of it."""
    inside = folder.resolve()
    return sorted((p, str(p.readlink())) for p in folder.rglob("*") if p.is_symlink() and not p.resolve().is_relative_to(inside))


def add_file(archive: zipfile.ZipFile, source: Path, name: str) -> None:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIMESTAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, source.read_bytes())


def zip_folder(folder: Path, target: Path, skip: tuple[str, ...] = ()) -> Path:
    """Write `folder`'s files at the root of the zip `target` (no wrapping folder)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w") as archive:
        for path in files_under(folder):
            if path.name not in skip:
                add_file(archive, path, path.relative_to(folder).as_posix())
    return target


def extract(source: Path, target: Path) -> None:
    """Put `source` (a folder or a zip) into `target` as the worker would after download."""
    target.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        for path in files_under(source):
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(path.read_bytes())  # a fresh file: no permission bits carried over
        return
    if not zipfile.is_zipfile(source):
        raise ValueError(f"{source} is neither a folder nor a zip file")
    with zipfile.ZipFile(source) as archive:
        archive.extractall(target)


def list_files(source: Path) -> list[str]:
    """Relative names of the files in a folder or a zip, as the worker would extract them."""
    if source.is_dir():
        return [p.relative_to(source).as_posix() for p in files_under(source)]
    with zipfile.ZipFile(source) as archive:
        return [name for name in archive.namelist() if not name.endswith("/")]


def file_size(source: Path, name: str) -> int:
    """Bytes of one file of a folder or a zip (unpacked), read from the directory, not the file."""
    if source.is_dir():
        return (source / name).stat().st_size
    with zipfile.ZipFile(source) as archive:
        return archive.getinfo(name).file_size


def read_file(source: Path, name: str) -> bytes:
    """One file of a folder or a zip, by its relative name."""
    if source.is_dir():
        return (source / name).read_bytes()
    with zipfile.ZipFile(source) as archive:
        return archive.read(name)
