"""Read this bundle's competition.yaml and answer the questions every tool asks of it.

The runner, the validator, the bundle builder and the tests all go through here, so a path
or phase is resolved the same way everywhere.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPETITION_YAML = "competition.yaml"


class BundleError(Exception):
    """The bundle itself is broken; the message names the file and the fix."""


@dataclass(frozen=True)
class Task:
    index: int
    name: str
    ingestion_program: Path | None
    scoring_program: Path
    input_data: Path | None
    reference_data: Path | None


@dataclass(frozen=True)
class Phase:
    index: int
    name: str
    tasks: tuple[Task, ...]
    execution_time_limit: int
    starting_kit: Path | None
    public_data: Path | None


MAX_YAML_BYTES = 2 * 1024 * 1024  # a competition.yaml is a few kilobytes; beyond this it is not one
MAX_YAML_NODES = 200_000  # values once aliases are expanded ("billion laughs" expands to 10^9)
MAX_YAML_DEPTH = 100  # nested lists or mappings


def competition_text(path: Path) -> str:
    """competition.yaml as text, or a BundleError saying why it cannot be one (size, encoding)."""
    size = path.stat().st_size
    if size > MAX_YAML_BYTES:
        raise BundleError(f"{path} is {size / 1024 / 1024:.1f} MiB; a competition.yaml is a few KiB (limit "
                          f"{MAX_YAML_BYTES // 1024 // 1024} MiB): remove what is not the competition's description")
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BundleError(f"{path} is UTF-16 text; Codabench reads it as UTF-8: save it as UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise BundleError(f"{path} is not UTF-8 text (line {line} has the byte {data[exc.start:exc.start + 1]!r}); "
                          "Codabench reads it as UTF-8: save it as UTF-8") from None


def _expanded_size(node, depth: int = 0, seen: dict | None = None) -> int:
    """How many values a loaded document holds once its aliases are expanded (shared objects counted each time)."""
    seen = {} if seen is None else seen
    if depth > MAX_YAML_DEPTH:
        raise BundleError(f"{COMPETITION_YAML} nests lists or mappings more than {MAX_YAML_DEPTH} deep")
    if id(node) in seen:
        return seen[id(node)]
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    size = 1 + sum(_expanded_size(value, depth + 1, seen) for _, value in children)
    if isinstance(node, (dict, list)):
        seen[id(node)] = size
    return size


def load_competition(root: Path = ROOT, duplicates: list | None = None) -> dict:
    """competition.yaml, parsed once; `duplicates`, when given, receives (yaml path, key) of each key
    written twice in one mapping (YAML keeps the last one, silently)."""
    path = root / COMPETITION_YAML
    if not path.is_file():
        raise BundleError(f"{path} not found: run the tool from a bundle folder that has {COMPETITION_YAML} at its top")
    text = competition_text(path)
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # its reader refuses characters YAML does not allow (NUL, most controls) here
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise BundleError(f"{path} is not valid YAML: {exc}".replace("\n", " ")) from None
    except RecursionError:
        raise BundleError(f"{path} nests lists or mappings too deeply to read") from None
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(data, dict):
        raise BundleError(f"{path} must hold a mapping of keys (version, title, phases, ...)")
    if _expanded_size(data) > MAX_YAML_NODES:
        raise BundleError(f"{path} expands to more than {MAX_YAML_NODES:,} values through its YAML aliases "
                          "(&anchor / *alias): write the values out")
    if duplicates is not None:
        duplicates.extend(_duplicate_keys(node))
    return data


def _duplicate_keys(document: yaml.Node) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    seen: set[int] = set()  # an alias is walked once

    def walk(node, where: str) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys = [key.value for key, _ in node.value if isinstance(key, yaml.ScalarNode)]
            found.extend((where, key) for i, key in enumerate(keys) if key in keys[:i])
            for key, value in node.value:
                walk(value, f"{where}.{key.value}" if where else str(key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                walk(value, f"{where}[{i}]")

    walk(document, "")
    return found


def _path(root: Path, value: object) -> Path | None:
    return root / str(value) if value else None


def tasks_by_index(competition: dict, root: Path = ROOT) -> dict[int, Task]:
    tasks = {}
    for raw in competition.get("tasks") or []:
        tasks[raw["index"]] = Task(
            index=raw["index"],
            name=raw.get("name", f"task {raw['index']}"),
            ingestion_program=_path(root, raw.get("ingestion_program")),
            scoring_program=root / str(raw["scoring_program"]),
            input_data=_path(root, raw.get("input_data")),
            reference_data=_path(root, raw.get("reference_data")),
        )
    return tasks


def phases(competition: dict, root: Path = ROOT) -> list[Phase]:
    """Phases in Codabench's order (sorted by index), with their tasks resolved."""
    tasks = tasks_by_index(competition, root)
    result = []
    for raw in sorted(competition.get("phases") or [], key=lambda p: p.get("index", 0)):
        result.append(
            Phase(
                index=raw.get("index", 0),
                name=raw["name"],
                tasks=tuple(tasks[i] for i in raw.get("tasks") or []),
                execution_time_limit=int(raw.get("execution_time_limit") or 600),
                starting_kit=_path(root, raw.get("starting_kit")),
                public_data=_path(root, raw.get("public_data")),
            )
        )
    return result


def find_phase(competition: dict, name: str, root: Path = ROOT) -> Phase:
    """Find a phase by name (case-insensitive, prefix allowed: "dev" finds "Development") or index."""
    known = phases(competition, root)
    for phase in known:
        if name.lower() in (phase.name.lower(), str(phase.index)) or phase.name.lower().startswith(name.lower()):
            return phase
    raise BundleError(f"no phase {name!r} in {COMPETITION_YAML}; choose one of: {', '.join(p.name for p in known)}")


def template_programs(root: Path = ROOT) -> bool:
    """Whether the competition runs this template's own programs (data.yaml and scoring_program/metrics.py), which
    make data, sync and bench serve; a migrated one runs its own, whatever their files are named."""
    return (root / "data.yaml").is_file() and (root / "scoring_program" / "metrics.py").is_file()


def first_phase_name(root: Path = ROOT) -> str:
    """The default PHASE of the commands: the first phase of competition.yaml (Development in a fresh bake)."""
    try:
        return phases(load_competition(root), root)[0].name
    except (BundleError, IndexError, KeyError, TypeError, ValueError, AttributeError):
        return "Development"


def leaderboard_columns(competition: dict) -> list[dict]:
    """Columns of the first leaderboard: the only one Codabench attaches to the phases."""
    boards = competition.get("leaderboards") or [{}]
    return list(boards[0].get("columns") or [])


def load_program_module(program_dir: Path, name: str) -> ModuleType:
    """Import a module from a program folder (e.g. scoring_program/metrics.py) without installing it."""
    sys.path.insert(0, str(program_dir))
    try:
        spec = importlib.util.spec_from_file_location(f"{program_dir.name}_{name}", program_dir / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while it executes
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(program_dir))


def mappings(value: object) -> list[tuple[int, dict]]:
    """The (position, item) pairs of a yaml list that are mappings; anything else gives none."""
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)] if isinstance(value, list) else []


def referenced_paths(competition: dict) -> dict[str, str]:
    """Every file or folder the yaml points at, keyed by its yaml path (e.g. `tasks[0].input_data`).

    Only text values count: a value of another type is a structure error the validator reports.
    """
    refs: dict[str, str] = {}
    wanted = [(key, competition.get(key)) for key in ("image", "terms")]
    wanted += [(f"pages[{i}].file", page.get("file")) for i, page in mappings(competition.get("pages"))]
    for i, task in mappings(competition.get("tasks")):
        wanted += [(f"tasks[{i}].{key}", task.get(key)) for key in ("ingestion_program", "scoring_program", "input_data", "reference_data")]
    wanted += [(f"solutions[{i}].path", solution.get("path")) for i, solution in mappings(competition.get("solutions"))]
    for i, phase in mappings(competition.get("phases")):
        wanted += [(f"phases[{i}].{key}", phase.get(key)) for key in ("starting_kit", "public_data")]
    return {where: value for where, value in wanted if isinstance(value, str) and value}
