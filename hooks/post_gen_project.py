"""Final sanity check of the generated bundle: its competition.yaml must load.

Offline and deterministic (cruft runs it again on every update); it writes nothing.
Data are not generated here: that needs numpy and scikit-learn, which cookiecutter's own
environment may lack, so `make data` (or any make target) writes them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml  # cookiecutter depends on PyYAML


def main() -> int:
    path = Path("competition.yaml")
    try:
        competition = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        print(f"ERROR: the generated {path} does not parse ({exc}); please report this as a template bug.", file=sys.stderr)
        return 1
    if str(competition.get("version")) != "2":
        print(f"ERROR: the generated {path} has no `version: 2`; please report this as a template bug.", file=sys.stderr)
        return 1
    print(f"Created {Path.cwd().name}/. Next: cd {Path.cwd().name} && make test   (see README.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
