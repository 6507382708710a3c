"""Imports that the competition's docker_image does not provide (CB037).

Every program runs in the declared image, with only its Python packages (tools/images.py lists
them): an import that works on your machine fails on Codabench with ModuleNotFoundError. Read
from each .py file's syntax tree, so nothing is run: the modules it imports at top level, minus
the standard library, the program's own files, and imports guarded by `except ImportError`.
"""

from __future__ import annotations

import ast
import sys
import zipfile
from pathlib import Path, PurePosixPath

from findings import Findings
from images import Image
from zips import list_files, read_file

GUARDS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


def _guarded(handler: ast.ExceptHandler) -> bool:
    """An `except` that catches a failed import (bare, ImportError, or a tuple holding one)."""
    caught = handler.type
    names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
    return caught is None or any(isinstance(n, ast.Name) and n.id in GUARDS for n in names)


def imported_modules(source: str) -> dict[str, int]:
    """Top-level module name -> first line importing it, outside `try: ... except ImportError`."""
    found: dict[str, int] = {}

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.Try):
            protected = guarded or any(_guarded(h) for h in node.handlers)
            for child in node.body:
                visit(child, protected)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, guarded)
            return
        if not guarded and isinstance(node, ast.Import):
            for alias in node.names:
                found.setdefault(alias.name.split(".")[0], node.lineno)
        elif not guarded and isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.setdefault(node.module.split(".")[0], node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(ast.parse(source), False)
    return found


def check_imports(source: Path, label: str, where: str, image_name: str, image: Image, findings: Findings,
                  submitted: frozenset[str] = frozenset()) -> None:
    """Warn about each module a program imports that `image` does not provide (only for a complete list); `submitted`:
    the modules a submission brings (an ingestion program imports the participant's `model` from its folder)."""
    if not image.complete or not source.exists() or (source.is_file() and not zipfile.is_zipfile(source)):
        return  # file_rules reports missing files and non-zips
    try:
        names = list_files(source)
    except (OSError, ValueError, zipfile.BadZipFile):
        return
    own = {PurePosixPath(n).parts[0].removesuffix(".py") for n in names} | {PurePosixPath(n).stem for n in names}
    for name in sorted(n for n in names if n.endswith(".py")):
        try:
            modules = imported_modules(read_file(source, name).decode("utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError, RecursionError, MemoryError):
            continue  # the program fails on its own (CB038); not this rule's to say
        for module, line in modules.items():
            if (module in sys.stdlib_module_names or module in own or module in image.modules or module == "__future__"
                    or module in submitted):
                continue
            findings.add("CB037", where, f"{label}/{name}:{line} imports {module!r}, which {image_name} does not have "
                         f"(tools/images.py lists what it has): on Codabench it stops with "
                         f"\"ModuleNotFoundError: No module named '{module}'\"",
                         "use what the image has, put the module's code in the program's folder, or declare an image "
                         "that has it (docker_image)", file=f"{label}/{name}")
