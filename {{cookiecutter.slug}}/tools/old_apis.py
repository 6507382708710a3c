"""Uses of library and Python features that later versions removed: old programs (CodaLab's, written for
codalab-legacy:py37 and its numpy 1.17, PyYAML 5.1) that run in a newer image, or on this machine's Python, stop
or, worse, catch the error and write a wrong score. Read from the source, never run.

    python tools/old_apis.py scoring_program ingestion_program
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from images import IMAGES
from zips import files_under


@dataclass(frozen=True)
class OldApi:
    pattern: re.Pattern
    what: str
    library: str  # the requirement's name in images.py, or "python"
    removed_in: tuple[int, ...]
    fix: str


OLD_APIS = (
    OldApi(re.compile(r"\bnp\.(float|int|bool|object|complex|long|unicode|str)\b(?![\w.(])|\bnumpy\.(float|int|bool|object)\b(?![\w.(])"),
           "a numpy alias of a Python type", "numpy", (1, 24), "use the Python type (float, int, bool, object) or np.float64"),
    OldApi(re.compile(r"\bnp\.asscalar\("), "np.asscalar", "numpy", (1, 23), "use value.item()"),
    OldApi(re.compile(r"\byaml\.load\((?![^)\n]*Loader)"), "yaml.load without a Loader", "pyyaml", (6, 0),
           "use yaml.safe_load(...), or yaml.load(..., Loader=yaml.FullLoader)"),
    OldApi(re.compile(r"\btime\.clock\("), "time.clock()", "python", (3, 8), "use time.perf_counter()"),
    OldApi(re.compile(r"\bsklearn\.externals\b"), "sklearn.externals", "scikit-learn", (0, 23), "import joblib (or six) directly"),
    OldApi(re.compile(r"\bcollections\.(Mapping|MutableMapping|Sequence|Iterable|Callable|Set)\b"),
           "an abstract class imported from collections", "python", (3, 10), "import it from collections.abc"),
    OldApi(re.compile(r"\binspect\.getargspec\("), "inspect.getargspec()", "python", (3, 11), "use inspect.getfullargspec()"),
)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def image_version(image: str | None, library: str) -> tuple[int, ...] | None:
    """The version of `library` (or of Python) an image described in images.py has, or None when unknown."""
    known = IMAGES.get(image or "")
    version = known.version(library) if known else None
    return _version(version) if version else None


@dataclass(frozen=True)
class Use:
    file: str
    line: int
    api: OldApi

    def text(self, image: str | None) -> str:
        removed = ".".join(map(str, self.api.removed_in))
        library = "Python" if self.api.library == "python" else self.api.library
        have = image_version(image, self.api.library)
        where = (f"breaks in {image} ({library} {'.'.join(map(str, have))})" if have and have >= self.api.removed_in
                 else f"works in {image}, " if have else "") + (
            "" if have and have >= self.api.removed_in else f"breaks with {library} {removed} or later (a newer image, "
            "or `make run` on this machine's Python)")
        return f"{self.file} line {self.line}: {self.api.what}, gone since {library} {removed}: {where}; {self.api.fix}"


def find_uses(root: Path, folders: list[str]) -> list[Use]:
    """Every line of the folders' .py files that uses an API a later version removed; comments are skipped."""
    uses = []
    for folder in folders:
        for path in files_under(root / folder):
            if path.suffix != ".py" or path.stat().st_size > 2_000_000:
                continue
            text = path.read_bytes().decode("utf-8", errors="replace")
            for number, line in enumerate(text.splitlines(), 1):
                code = line.split("#", 1)[0]
                for api in OLD_APIS:
                    if api.pattern.search(code):
                        uses.append(Use(path.relative_to(root).as_posix(), number, api))
    return uses


if __name__ == "__main__":
    for use in find_uses(Path.cwd(), sys.argv[1:] or ["scoring_program", "ingestion_program"]):
        print(use.text(None))
