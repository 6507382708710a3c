"""Prediction files as careless and hostile participants write them, for this competition's format.

Each case changes the first dataset's valid file and says what must happen: scored (the file means
what it says, written another way: CRLF, quotes, spaces, a byte-order mark, another spelling of a
number) or refused with one ERROR line that names the file and the line, no scores.json and a
detailed results page that explains it. A value the scoring program would accept in one reading
and not the other, or one it would read as something else ("0<NUL>5" as 0), is a defect here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import pytest

from conftest import ROOT, SETTINGS
from metrics import label_text, prediction_format

MAX_LINE = 4300  # a capped problem and a capped fix


@dataclass
class Valid:
    """The first dataset's valid file, as lines without their line breaks, and its classes."""
    header: str
    rows: list[str]
    classes: list

    @property
    def columns(self) -> int:  # value columns after the id
        return len(self.header.split(",")) - 1

    def text(self, rows: list[str] | None = None, header: str | None = None, end: str = "\n") -> bytes:
        return (end.join([self.header if header is None else header, *(self.rows if rows is None else rows)]) + end).encode()

    def first_values(self, *cells: str) -> bytes:
        """The file with line 2's values replaced: one cell for every column, or one per column."""
        values = list(cells) * self.columns if len(cells) == 1 else list(cells)
        first_id = self.rows[0].split(",")[0]
        return self.text([",".join([first_id, *values]), *self.rows[1:]])


# The file, and the words of its refusal (None: it is scored), or a function of the valid file that says which.
Case = tuple[Callable[[Valid], bytes], "str | None | Callable[[Valid], str | None]"]
SCORED = None


def any_format() -> dict[str, Case]:
    return {
        "CRLF line ends": (lambda v: v.text(end="\r\n"), SCORED),
        "no line break at the end": (lambda v: v.text()[:-1], SCORED),
        "rows in reverse order": (lambda v: v.text(v.rows[::-1]), SCORED),
        "a byte-order mark": (lambda v: b"\xef\xbb\xbf" + v.text(), SCORED),
        "every cell in double quotes": (lambda v: v.text([",".join(f'"{c}"' for c in r.split(",")) for r in v.rows]), SCORED),
        "spaces around every cell": (lambda v: v.text([", ".join(f" {c}" for c in r.split(",")) for r in v.rows]), SCORED),
        "a blank line at the end": (lambda v: v.text() + b"\n", "the line is empty"),
        "a blank line between rows": (lambda v: v.text([v.rows[0], "", *v.rows[1:]]), "line 3: the line is empty"),
        "the header in capitals": (lambda v: v.text(header=v.header.upper() + "X"), "line 1: header is"),
        "tabs between the columns": (lambda v: v.text().replace(b",", b"\t"), "line 1: header is"),
        "semicolons between the columns": (lambda v: v.text().replace(b",", b";"), "line 1: header is"),
        "the header twice": (lambda v: v.text([v.header, *v.rows]), "prediction rows, expected"),
        "the header only": (lambda v: v.text([]), "has 0 prediction rows, expected"),
        "no header": (lambda v: v.text(v.rows[1:], header=v.rows[0]), "line 1: header is"),
        "a column twice in the header": (lambda v: v.text(header=v.header + "," + v.header.split(",")[-1]), "a column appears twice"),
        "an extra column": (lambda v: v.text([r + ",0" for r in v.rows], header=v.header + ",extra"), "line 1: header is"),
        "the id column last (columns are found by name)": (
            lambda v: v.text([",".join(r.split(",")[1:] + r.split(",")[:1]) for r in v.rows],
                             header=",".join(v.header.split(",")[1:] + v.header.split(",")[:1])), SCORED),
        "a quote never closed": (lambda v: v.text(['"' + v.rows[0], *v.rows[1:]]), "is not a valid CSV file"),
        "a line break inside a quoted id": (lambda v: v.text(['"' + v.rows[0].replace(",", '\nx",', 1), *v.rows[1:]]),
                                            "not in test.csv"),
        "a NUL byte in a value": (lambda v: v.first_values("0\x005"), "line 2 holds a NUL byte"),
        "a NUL byte in an id": (lambda v: v.text(["\x00" + v.rows[0], *v.rows[1:]]), "line 2 holds a NUL byte"),
        "a Latin-1 byte in an id": (lambda v: v.text().replace(b"\n", b"\ncaf\xe9", 1)[:-1] + b"\n", "is not UTF-8 text (line 2"),
        "an id twice": (lambda v: v.text([v.rows[1], *v.rows[1:]]), "appears twice"),
        "one row more, an id twice": (lambda v: v.text([*v.rows, v.rows[0]]), "prediction rows, expected"),
        "the last row missing": (lambda v: v.text(v.rows[:-1]), "prediction rows, expected"),
        "the last row cut after the id": (lambda v: v.text([*v.rows[:-1], v.rows[-1].split(",")[0]]), "an empty cell or a short line"),
        "a value too many on a row": (lambda v: v.text([v.rows[0] + ",0", *v.rows[1:]]), "line 2"),
        "a comma at the end of every row": (lambda v: v.text([r + "," for r in v.rows]), "line 2: expected"),
        "a comma at the end of the last row only": (lambda v: v.text()[:-1] + b",", "expected"),
        "an empty quoted cell at the end of every row": (lambda v: v.text([r + ',""' for r in v.rows]), "line 2: expected"),
        "an empty quoted cell at the end of the first row": (lambda v: v.text([v.rows[0] + ',""', *v.rows[1:]]), "line 2: expected"),
        "ten thousand values on a row": (lambda v: v.text([v.rows[0] + ",0" * 10_000, *v.rows[1:]]), "line 2"),
        "an unknown id": (lambda v: v.text(["zz-not-an-id" + v.rows[0][v.rows[0].index(","):], *v.rows[1:]]),
                          "ids are not in test.csv (e.g. 'zz-not-an-id')"),
        "an id holding a quoted comma": (lambda v: v.text(['"' + v.rows[0].split(",")[0] + ',x"' + v.rows[0][v.rows[0].index(","):],
                                                           *v.rows[1:]]), "not in test.csv"),
        "an id of 100,000 characters": (lambda v: v.text(["y" * 100_000 + v.rows[0][v.rows[0].index(","):], *v.rows[1:]]),
                                        "not in test.csv"),
        "every id empty": (lambda v: v.text(["," + r.split(",", 1)[1] for r in v.rows]), "test.csv"),
        "a spreadsheet formula as a value": (lambda v: v.first_values("=1+1"), "line 2"),
    }


NOT_NUMBERS = ["nan", "NaN", "-nan", "NA", "N/A", "null", "None", "", "inf", "-inf", "Infinity", "1e400", "-1e400", "0_5",
               "\u0660.\u0665", "\uff10.\uff15", "0x1p-1", "0b1", "1/2", "50%", "true", "0.5+0j", "(0.5)", "0.5.5", "5e", "--0.5"]


def numbers() -> dict[str, Case]:
    """Cells that are not finite numbers, in every format that takes numbers."""
    return {f"the value {text!r}": (lambda v, text=text: v.first_values(text), "line 2") for text in NOT_NUMBERS}


def probability() -> dict[str, Case]:
    written = {"+0.5": SCORED, ".5": SCORED, "5e-1": SCORED, "0.50000000000000000001": SCORED, "-0": SCORED, "1e-400": SCORED,
               "5e-324": SCORED, "1": SCORED, "1.0": SCORED, "0": SCORED,
               "1.0000001": "probability 1.0000001 is outside [0, 1]", "-1e-12": "probability -1e-12 is outside [0, 1]",
               "2": "probability 2 is outside [0, 1]", "-0.5": "probability -0.5 is outside [0, 1]",
               "1e308": "probability 1e308 is outside [0, 1]"}
    return {f"the probability {text!r}": (lambda v, text=text: v.first_values(text), says) for text, says in written.items()}


def probabilities() -> dict[str, Case]:
    def row(*cells) -> Callable[[Valid], bytes]:
        """Line 2's cells: text, or f(number of classes) -> list of texts."""
        return lambda v: v.first_values(*[c for cell in cells for c in (cell(v.columns) if callable(cell) else [cell])])

    def rest(n: int) -> list[str]:  # zeros for the classes after the first two
        return ["0"] * (n - 2)

    return {
        "all of it on the first class": (row("1", lambda n: ["0"] * (n - 1)), SCORED),
        "all of it on the last class": (row(lambda n: ["0"] * (n - 1), "1"), SCORED),
        "equal shares written with 17 digits": (row(lambda n: [repr(1 / n)] * n), SCORED),
        "a sum off by 1e-9": (row("0.500000001", "0.5", rest), SCORED),
        "a sum off by 0.01": (row("0.51", "0.5", rest), "probabilities sum to 1.01, not 1"),
        "each 0.9": (row("0.9"), lambda v: f"probabilities sum to {0.9 * v.columns:.10g}, not 1"),
        "every probability 0": (row("0"), "probabilities sum to 0, not 1"),
        "a negative one made up by another": (row("-0.5", "1.5", rest), "is outside [0, 1]"),
        "percentages": (row("100", lambda n: ["0"] * (n - 1)), "probability 100 is outside [0, 1]"),
        "one probability missing": (row(lambda n: ["0.5"] * (n - 1)), "an empty cell or a short line"),
        "scores that are not probabilities": (row(lambda n: [str(i) for i in range(n)]), "is outside [0, 1]"),
    }


def label() -> dict[str, Case]:
    def first(v: Valid) -> str:
        return label_text(v.classes[0])

    def whole_numbers(v: Valid) -> bool:
        return all(isinstance(c, int) and not isinstance(c, bool) for c in v.classes)

    return {
        "a label with spaces around it": (lambda v: v.first_values(f"  {first(v)} "), SCORED),
        "a label in double quotes": (lambda v: v.first_values(f'"{first(v)}"'), SCORED),
        "a label that is not a class": (lambda v: v.first_values("no-such-class"), "label 'no-such-class' is not one of the classes"),
        "an empty label": (lambda v: v.first_values(""), "no label in column"),
        "a label followed by junk": (lambda v: v.first_values(f"{first(v)}x"), "is not one of the classes"),
        "a probability instead of a label": (lambda v: v.first_values("0.73"), "label '0.73' is not one of the classes"),
        "the label 'True'": (lambda v: v.first_values("True"), "is not one of the classes"),
        # Whole-number classes are matched by value (1, 1.0, +1); text classes exactly, spaces around them aside.
        "a label written another way": (lambda v: v.first_values(f"{first(v)}.0" if whole_numbers(v) else first(v).swapcase() + "_"),
                                        lambda v: SCORED if whole_numbers(v) else "is not one of the classes"),
        "a whole-number label with a fraction": (lambda v: v.first_values(f"{first(v)}.5"), "is not one of the classes"),
    }


def value() -> dict[str, Case]:
    written = {"+1": SCORED, ".5": SCORED, "-0": SCORED, "1e-400": SCORED, "5e-324": SCORED, "1E2": SCORED, "-3.25": SCORED,
               "12345678901234567890": "which Codabench cannot store", "1e200": "which Codabench cannot store",
               "-1e308": "which Codabench cannot store"}
    return {f"the value {text!r}": (lambda v, text=text: v.first_values(text), says) for text, says in written.items()}


def cases_for(fmt: str) -> dict[str, Case]:
    extra = {"probability": lambda: {**numbers(), **probability()},
             "probabilities": lambda: {**numbers(), **probabilities()},
             "label": label,
             "value": lambda: {**numbers(), **value()}}[fmt]()
    return {**any_format(), **extra}


CASES = cases_for(prediction_format(SETTINGS))


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_prediction_file_is_scored_or_refused_in_one_line(name, scoring, task, constant_predictions, tmp_path, capfd,
                                                           no_figures):
    make, says = CASES[name]
    constant_predictions(tmp_path / "res")
    path = tmp_path / "res" / task["datasets"][0]["folder"] / "predictions.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    valid = Valid(lines[0], lines[1:], task["datasets"][0]["classes"])
    path.write_bytes(make(valid))
    says = says(valid) if callable(says) else says
    code = scoring.main(["--reference", str(ROOT / "data" / "dev" / "reference_data"), "--predictions", str(tmp_path / "res"),
                         "--output", str(tmp_path / "out")])
    err = capfd.readouterr().err
    page = (tmp_path / "out" / "detailed_results.html").read_text(encoding="utf-8")
    assert "Traceback" not in err and "scoring program failed" not in err, err
    if says is SCORED:
        assert code == 0, err
        scores = json.loads((tmp_path / "out" / "scores.json").read_text(encoding="utf-8"))
        assert scores and all(isinstance(v, (int, float)) and abs(v) < 1e10 for v in scores.values())
        return
    (line,) = [line for line in err.splitlines() if line.startswith("ERROR: ")]
    shown_as = "/".join(filter(None, [task["datasets"][0]["folder"], "predictions.csv"]))
    assert code == 1 and line.startswith(f"ERROR: {shown_as}") and says in line and len(line) < MAX_LINE, line
    assert not (tmp_path / "out" / "scores.json").exists()
    assert 'class="card status failed"' in page and f"<code>{shown_as}</code>" in page
