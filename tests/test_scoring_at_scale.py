"""The programs' fast paths give what the careful ones give.

Metrics are computed with numpy (scikit-learn's import costs seconds at every start), and a
well-formed predictions.csv is read once into typed columns; anything doubtful goes to the
careful reading, which reads every cell as text. These tests compare the two on valid and
invalid files of every prediction format, the metrics with scikit-learn (this environment's
version, and the docker image's when CODABENCH_IMAGE_PYTHON is set), and the thinned curves of
the figures with the full ones. The bundle's sources are imported from the template as they
are copied without rendering.
"""

from __future__ import annotations

import csv
import io
import os
import sys

import numpy as np
import pytest

from conftest import PYTHON, TEMPLATE, run

SCORING = TEMPLATE / "{{cookiecutter.slug}}" / "scoring_program"
sys.path.insert(0, str(SCORING))

import figures  # noqa: E402
import predictions as reading  # noqa: E402
from errors import PredictionError  # noqa: E402
from metrics import label_text, prediction_columns  # noqa: E402

IMAGE_PYTHON = os.environ.get("CODABENCH_IMAGE_PYTHON")


@pytest.mark.parametrize("python", [
    pytest.param(PYTHON, id="this-environment"),
    pytest.param(IMAGE_PYTHON, id="image-versions", marks=[
        pytest.mark.slow, pytest.mark.skipif(not IMAGE_PYTHON, reason="set CODABENCH_IMAGE_PYTHON (see .ci/run)")]),
])
def test_numpy_metrics_equal_scikit_learns_on_random_and_edge_cases(python):
    done = run([python, str(TEMPLATE / "tests" / "metric_crosscheck.py"), str(SCORING)], cwd=TEMPLATE, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    verdict, cases, worst = done.stdout.split()
    assert verdict == "agree" and int(cases) > 900 and float(worst) <= 1e-9


# -- reading predictions ---------------------------------------------------------------------------
FORMATS = {  # format -> (classes, target)
    "probability": (["no", "yes"], "survived"),
    "probabilities": ([3, 1, 2], "kind"),
    "label": (["setosa", "versicolor", "a;b &c"], "species"),
    "label-int": ([0, 1, 2], "digit"),
    "value": ([], "price"),
}


def reference_of(fmt: str, n: int, int_ids: bool, rng) -> reading.Reference:
    classes, target = FORMATS[fmt]
    ids = np.arange(100, 100 + n) if int_ids else np.array([f"ts{i:05d}" for i in range(n)], dtype=object)
    truth = rng.integers(0, len(classes), n) if classes else np.round(rng.normal(10, 3, n), 3)
    return reading.Reference(ids=ids, target=truth, classes=classes, id_name="row id" if int_ids else "id", target_name=target)


def valid_rows(fmt: str, reference: reading.Reference, rng) -> tuple[list[str], list[list[str]]]:
    classes = reference.classes
    base = fmt.split("-")[0]
    header = [reference.id_name, *prediction_columns(base, classes, reference.target_name)]
    n = len(reference.ids)
    if base == "value":
        cells = [[repr(float(v))] for v in rng.normal(10, 3, n)]
    elif base == "label":
        cells = [[label_text(classes[i])] for i in rng.integers(0, len(classes), n)]
    else:
        proba = rng.dirichlet(np.ones(len(classes)), n)
        cells = [[repr(float(p))] for p in proba[:, 1]] if base == "probability" else [[repr(float(x)) for x in row] for row in proba]
    return header, [[str(i), *c] for i, c in zip(reference.ids, cells)]


def as_csv(header: list[str], rows: list[list[str]], newline: str = "\n") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def variants(header, rows, rng):
    """(name, file text, expected valid?) for one valid table: harmless and harmful changes."""
    n = len(rows)
    order = rng.permutation(n)
    yield "as written", as_csv(header, rows), True
    yield "shuffled rows", as_csv(header, [rows[i] for i in order]), True
    yield "CRLF", as_csv(header, rows, "\r\n"), True
    yield "columns swapped", as_csv([header[0], *header[1:][::-1]], [[r[0], *r[1:][::-1]] for r in rows]), True
    yield "all quoted", "\n".join(",".join(f'"{c}"' for c in row) for row in [header, *rows]) + "\n", True
    yield "spaces around cells", as_csv(header, [[f" {c} " for c in r] for r in rows]), True
    yield "byte-order mark", reading.BOM + as_csv(header, rows), True
    yield "no final newline", as_csv(header, rows).rstrip("\n"), True
    yield "blank line", as_csv(header, rows[:1] + [[]] + rows[1:]), False
    yield "row missing", as_csv(header, rows[1:]), False
    yield "row repeated", as_csv(header, rows + rows[:1]), False
    yield "id repeated", as_csv(header, rows[:-1] + [[rows[0][0], *rows[-1][1:]]]), False
    yield "unknown id", as_csv(header, rows[:-1] + [["zz-unknown", *rows[-1][1:]]]), False
    yield "empty cell", as_csv(header, rows[:-1] + [[rows[-1][0], *([""] * (len(header) - 1))]]), False
    yield "extra cell", as_csv(header, rows[:-1] + [rows[-1] + ["0.5"]]), False
    yield "short line", as_csv(header, rows[:-1] + [rows[-1][:1]]), False
    yield "text in a value", as_csv(header, rows[:-1] + [[rows[-1][0], *(["abc"] * (len(header) - 1))]]), False
    yield "nan", as_csv(header, rows[:-1] + [[rows[-1][0], *(["nan"] * (len(header) - 1))]]), False
    yield "inf", as_csv(header, rows[:-1] + [[rows[-1][0], *(["inf"] * (len(header) - 1))]]), False
    yield "negative", as_csv(header, rows[:-1] + [[rows[-1][0], *(["-0.5"] * (len(header) - 1))]]), None
    yield "header renamed", as_csv([header[0], *[h + "x" for h in header[1:]]], rows), False
    yield "header twice", as_csv(header, [header] + rows), False
    yield "extra column", as_csv(header + ["more"], [r + ["1"] for r in rows]), False
    yield "ids as decimals", as_csv(header, [[f"{r[0]}.0", *r[1:]] for r in rows]), None
    yield "latin-1 byte", None, False


@pytest.mark.parametrize("int_ids", [False, True], ids=["text-ids", "int-ids"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_the_fast_reading_accepts_and_refuses_what_the_careful_one_does(fmt, int_ids, tmp_path):
    """For each file the result of read_predictions (fast reading, careful when in doubt) equals the
    careful reading's alone: the same values, warnings and message, or the same refusal."""
    rng = np.random.default_rng(len(fmt) + int_ids)
    reference = reference_of(fmt, 60, int_ids, rng)
    base = fmt.split("-")[0]
    header, rows = valid_rows(fmt, reference, rng)
    fast_paths = 0
    for name, text, valid in variants(header, rows, rng):
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        if text is None:
            (folder / reading.PREDICTIONS_FILE).write_bytes(as_csv(header, rows).encode() + b"\xe9\n")
        else:
            (folder / reading.PREDICTIONS_FILE).write_text(text, encoding="utf-8", newline="")
        outcomes = []
        for read in (reading.read_predictions, reading.read_predictions_carefully):
            try:
                result = read(folder, reference, base, "predictions.csv")
                outcomes.append(("scored", result.values, result.warnings))
            except PredictionError as exc:
                outcomes.append(("refused", str(exc), exc.fix))
        (kind, first, extra), (kind2, second, extra2) = outcomes
        assert kind == kind2, name
        if kind == "scored":
            assert first.dtype == second.dtype and np.array_equal(first, second), name
            assert extra == extra2, name
        else:
            assert (first, extra) == (second, extra2), name
        if valid is not None:
            assert (kind == "scored") is valid, f"{name}: {first}"
        path = folder / reading.PREDICTIONS_FILE
        fast_paths += not reading.scan(path)[0] and reading._typed_predictions(path, reference, base) is not None
    assert fast_paths >= 4  # the fast reading did take the well-formed files


def test_whole_number_ids_are_matched_by_value(tmp_path):
    reference = reading.Reference(ids=np.array([7, 8, 9]), target=np.array([1.0, 2.0, 3.0]), id_name="id", target_name="y")
    (tmp_path / "predictions.csv").write_text("id,y\n+7,1.5\n008,2.5\n9,3.5\n", encoding="utf-8")
    assert reading.read_predictions(tmp_path, reference, "value").values.tolist() == [1.5, 2.5, 3.5]


def test_the_reference_reads_the_same_fast_and_carefully(tmp_path):
    dataset = {"name": "main", "id": "id", "target": "kind", "classes": [3, 1, 2]}
    (tmp_path / "test_labels.csv").write_text("id,kind\nb,1\na,3\nc,2\n", encoding="utf-8")
    fast = reading.read_reference(tmp_path, dataset)
    assert reading._typed_reference(tmp_path / "test_labels.csv", dataset) is not None
    (tmp_path / "test_labels.csv").write_text("id,kind\n b ,1\na, 3\nc,2\n", encoding="utf-8")  # careful: spaces
    careful = reading.read_reference(tmp_path, dataset)
    assert reading._typed_reference(tmp_path / "test_labels.csv", dataset) is None
    assert fast.ids.tolist() == careful.ids.tolist() == ["b", "a", "c"]
    assert fast.target.tolist() == careful.target.tolist() == [1, 0, 2]


# -- figures -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rows", [50, 200_000])
def test_curves_are_drawn_through_at_most_a_thousand_points_that_follow_the_full_curve(rows):
    rng = np.random.default_rng(rows)
    positive = rng.random(rows) < 0.3
    score = np.where(positive, rng.beta(3, 2, rows), rng.beta(2, 3, rows))
    fpr, tpr, precision = figures.curve_points(positive, score)
    assert len(fpr) <= figures.CURVE_POINTS
    assert fpr[-1] == tpr[-1] == 1.0 and np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    # Every point of the full curve is within 2 pixels (1/200 of an axis) of a drawn one.
    order = np.argsort(-score)
    full_tpr = np.cumsum(positive[order]) / positive.sum()
    full_fpr = np.cumsum(~positive[order]) / (~positive).sum()
    if rows <= figures.CURVE_POINTS:
        assert np.array_equal(fpr, full_fpr) and np.array_equal(tpr, full_tpr)  # nothing left out
    nearest = np.clip(np.searchsorted(fpr + tpr, full_fpr + full_tpr), 1, len(fpr) - 1)
    distance = np.minimum(*(np.abs(fpr[j] - full_fpr) + np.abs(tpr[j] - full_tpr) for j in (nearest - 1, nearest)))
    assert distance.max() < 1 / 200
    assert np.all((precision >= 0) & (precision <= 1))


# -- the ingestion program's reader ----------------------------------------------------------------
def _ingestion():
    import importlib.util

    spec = importlib.util.spec_from_file_location("ingestion_at_scale", TEMPLATE / "{{cookiecutter.slug}}" / "ingestion_program" / "ingestion.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_ingestion_reader_keeps_text_as_written_and_names_a_bad_number(tmp_path):
    """Types are inferred first (half the memory); text columns holding numbers are read again as written."""
    ingestion = _ingestion()
    dataset = {"id": "id", "target": "kind", "classes": ["1", "02"],
               "features": [{"name": "zip", "kind": "categorical", "categories": ["007", "10"]},
                            {"name": "x", "kind": "numeric"}, {"name": "n", "kind": "numeric"}]}
    path = tmp_path / "train.csv"
    path.write_text("id,zip,x,n,kind\n007,007,1.5,3,02\n8,10,,4,1\n", encoding="utf-8")
    frame = ingestion.read_table(path, dataset, with_target=True)
    assert frame["id"].tolist() == ["007", "8"] and frame["kind"].tolist() == ["02", "1"]
    assert frame["zip"].astype(str).tolist() == ["007", "10"] and str(frame["zip"].dtype) == "category"
    assert frame["x"].dtype == frame["n"].dtype == np.float64 and np.isnan(frame["x"][1])
    path.write_text("id,zip,x,n,kind\na,007,1.5,3,02\nb,10,NA,4,1\n", encoding="utf-8")
    with pytest.raises(ingestion.DataError, match=r"train.csv line 3: 'NA' in column 'x' is not a number"):
        ingestion.read_table(path, dataset, with_target=True)


@pytest.mark.slow
def test_the_benchmark_prints_both_tables_with_ratios(default_bundle):
    """make bench's script runs the programs and their floors and prints one row per size (not a timing test)."""
    done = run([PYTHON, "tools/benchmark.py", "--rows", "1000,2000", "--ingestion-rows", "1000", "--repeat", "1"],
               cwd=default_bundle, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines() if line.startswith("| ") and "rows" not in line]
    assert [cells[0].strip() for cells in rows] == ["1 k", "2 k", "1 k"]
    for cells in rows:
        cpu_ratio, memory_ratio = float(cells[7]), float(cells[8])
        assert 0 < cpu_ratio < 10 and 0 < memory_ratio < 10
    assert all(0 < float(cells[9]) < 5 for cells in rows[:2])  # the first page, timed from the start


# -- hostile files, generated --------------------------------------------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NASTY_CELLS = ["", " ", "nan", "NaN", "-nan", "inf", "-Infinity", "1e308", "-1e308", "1e-400", "-0", "0x1p-1", "1_000",
               "(1+2j)", "1+2j", "True", "None", "null", "NA", "\x00", "\u0661", "\u00b3", "0,5", "\"0.5", "0.5\"", "'0.5'",
               "\ufeff0.5", "\u202e0.5", "x" * 5000, "1" * 400, "\"a\nb\"", "\r", "\t0.5", "💥", "-", "+", ".", "e5"]


def _mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    for kind, position, payload in edits:
        at = position % (len(data) + 1)
        if kind == 0:  # insert
            data = data[:at] + payload + data[at:]
        elif kind == 1:  # delete a few bytes
            data = data[:at] + data[at + len(payload):]
        else:  # overwrite
            data = data[:at] + payload + data[at + len(payload):]
    return data


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    cells=st.lists(st.tuples(st.integers(0, 59), st.integers(0, 10), st.sampled_from(NASTY_CELLS)), max_size=4),
    edits=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.binary(min_size=1, max_size=8)), max_size=3),
    shuffle=st.booleans(),
)
def test_any_mangled_file_is_scored_or_refused_in_one_capped_message(fmt, cells, edits, shuffle, tmp_path_factory):
    """Whatever happens to a valid file (nasty cells, random bytes inserted, deleted or overwritten, rows
    shuffled), reading it gives finite predictions of the right shape or a PredictionError: never another
    exception, never a message longer than the cap."""
    rng = np.random.default_rng(len(fmt))
    reference = reference_of(fmt, 60, fmt == "value", rng)
    base = fmt.split("-")[0]
    header, rows = valid_rows(fmt, reference, rng)
    if shuffle:
        rows = [rows[i] for i in np.random.default_rng(1).permutation(len(rows))]
    for row, column, cell in cells:
        rows[row][column % len(rows[row])] = cell
    folder = tmp_path_factory.mktemp("mangled")
    (folder / reading.PREDICTIONS_FILE).write_bytes(_mutate(as_csv(header, rows).encode("utf-8", "surrogatepass"), edits))
    try:
        result = reading.read_predictions(folder, reference, base, "predictions.csv")
    except PredictionError as exc:
        assert len(exc.problem) <= 2100 and len(exc.fix) <= 2100 and str(exc).strip()
        return
    values = np.asarray(result.values)
    assert len(values) == len(reference.ids)
    if base in ("probability", "probabilities", "value"):
        assert np.isfinite(values).all()
    if base == "label":
        assert ((values >= 0) & (values < len(reference.classes))).all()
