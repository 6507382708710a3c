"""How fast the programs are at scale: each one beside a floor, at growing numbers of rows.

    make bench                                           # scoring at 10k, 100k, 1M rows; ingestion at 100k, 1M
    make bench ARGS="--large"                            # and 10M rows (about 10 minutes, 8 GB of RAM)
    python tools/benchmark.py --rows 10000,1000000 --classes 10 --repeat 3 --python /path/to/python3

Scoring: for each size the script writes a reference (`test_labels.csv`, `dataset.json`) and a
valid result submission for this competition's task, then runs, as whole processes as the
compute worker does, the scoring program (every check and the full detailed results page) and a
floor: pandas' default reader, rows aligned by id, the same metrics and the same figures, no
checks and no page. Ingestion: the ingestion program with a model that costs nothing (it
predicts the training mean), beside a floor that reads the same files with pandas, calls the
same model and writes predictions.csv with pandas.

For each it prints wall time, CPU time (user + system) and peak resident memory of the process,
medians of --repeat runs, and the program's ratio to the floor. The ratios are the figures to
read: the floor runs on the same machine in the same minute. The scoring program's first page
(the "scoring in progress" one) is timed from the process start. Nothing here is a test: it
prints figures and exits 0, or exits 1 when a program fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCORING = ROOT / "scoring_program"
INGESTION = ROOT / "ingestion_program"
sys.path.insert(0, str(SCORING))  # its metrics, figures and readers: the floors use the same ones
SIZES = (10_000, 100_000, 1_000_000)
LARGE = 10_000_000
INGESTION_SIZES = (100_000, 1_000_000)
FEATURES = 20  # numeric feature columns of the ingestion benchmark's tables
PAGE = "detailed_results.html"
FREE_MODEL = '''import numpy as np
import pandas as pd


class Model:
    """Costs nothing: predicts what the training target suggests, for every row."""

    def fit(self, X, y):
        self.classes = list(pd.unique(y))
        self.mean = float(np.mean(y)) if y.dtype.kind == "f" else None

    def predict(self, X):
        if self.mean is not None:
            return np.full(len(X), self.mean)
        return np.full(len(X), self.classes[0], dtype=object)
'''
FREE_MODEL_PROBA = '''import numpy as np
import pandas as pd


class Model:
    """Costs nothing: predicts the same probabilities for every row."""

    def fit(self, X, y):
        self.classes = sorted(pd.unique(y))

    def predict(self, X):
        return pd.DataFrame(np.full((len(X), len(self.classes)), 1 / len(self.classes)), columns=self.classes)
'''


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    first_page: float | None = None


# -- what to generate ------------------------------------------------------------------------------
def competition(classes: int | None) -> tuple[dict, dict]:
    """This competition's settings and the dataset entry the generated data follows."""
    import metrics

    settings = json.loads((SCORING / "settings.json").read_text(encoding="utf-8"))
    declared = []
    data_yaml = ROOT / "data.yaml"
    if data_yaml.is_file():
        import yaml

        entries = (yaml.safe_load(data_yaml.read_text(encoding="utf-8")) or {}).get("datasets") or []
        declared = list(entries[0].get("classes") or []) if entries else []
    if settings["task_type"] == "regression":
        labels = []
    elif classes:
        labels = list(range(classes))
    else:
        labels = declared or [0, 1]
    fmt = metrics.prediction_format(settings)
    entry = {"id": "id", "target": "target", "classes": labels, "features": [], "rows": {}}
    return {**settings, "prediction_format": fmt}, entry


def write_scoring_data(folder: Path, settings: dict, entry: dict, rows: int, seed: int = 0) -> tuple[Path, Path]:
    """A reference folder and a valid result submission of `rows` rows for every dataset."""
    import numpy as np
    import pandas as pd

    from metrics import label_text, prediction_columns

    rng = np.random.default_rng(seed)
    reference, predictions = folder / "ref", folder / "res"
    names = settings["datasets"]
    datasets = [{**entry, "name": name, "folder": "" if len(names) == 1 else name,
                 "rows": {"train": 0, "test": rows}} for name in names]
    info = {"phase": "Benchmark", "task_type": settings["task_type"], "prediction_format": settings["prediction_format"],
            "submission_mode": settings["submission_mode"], "datasets": datasets}
    ids = pd.Series(np.char.mod("ts%08d", np.arange(rows)))
    classes, fmt = entry["classes"], settings["prediction_format"]
    k = len(classes)
    if k:
        truth = rng.integers(0, k, rows)
        target = pd.Series(np.array([label_text(c) for c in classes], dtype=object)[truth])
    else:
        truth = rng.normal(50.0, 10.0, rows)
        target = pd.Series(np.round(truth, 4))
    if fmt == "value":
        values = np.round(truth + rng.normal(0, 3.0, rows), 4)[:, None]
    elif fmt == "label":
        guess = np.where(rng.random(rows) < 0.7, truth, rng.integers(0, k, rows))
        values = np.array([label_text(c) for c in classes], dtype=object)[guess][:, None]
    else:
        scores = rng.random((rows, k))
        scores[np.arange(rows), truth] += 0.7
        proba = np.round(scores / scores.sum(axis=1, keepdims=True), 6)
        proba[:, -1] = np.clip(np.round(1 - proba[:, :-1].sum(axis=1), 6), 0, 1)  # rows sum to 1 within 1e-5
        values = proba[:, 1:2] if fmt == "probability" else proba
    columns = prediction_columns(fmt, classes, entry["target"])
    for dataset in datasets:
        (reference / dataset["folder"]).mkdir(parents=True, exist_ok=True)
        (predictions / dataset["folder"]).mkdir(parents=True, exist_ok=True)
        pd.DataFrame({entry["id"]: ids, entry["target"]: target}).to_csv(
            reference / dataset["folder"] / "test_labels.csv", index=False)
        frame = pd.DataFrame(values, columns=columns)
        frame.insert(0, entry["id"], ids)
        frame.to_csv(predictions / dataset["folder"] / "predictions.csv", index=False)
    (reference / "dataset.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    (predictions / "ingestion_result.json").write_text(
        json.dumps({"status": "ok", "submission_type": "result", "duration": 0.0}), encoding="utf-8")
    return reference, predictions


def write_ingestion_data(folder: Path, settings: dict, entry: dict, rows: int, seed: int = 0) -> tuple[Path, Path]:
    """Phase input data (train.csv and test.csv of `rows` rows each, task.json) and a code submission."""
    import numpy as np
    import pandas as pd

    from metrics import label_text

    rng = np.random.default_rng(seed)
    data, submission = folder / "input_data", folder / "submission"
    submission.mkdir(parents=True)
    features = [f"f{i:02d}" for i in range(FEATURES)]
    names = settings["datasets"]
    datasets = [{**entry, "name": name, "folder": "" if len(names) == 1 else name,
                 "features": [{"name": f, "kind": "numeric"} for f in features],
                 "rows": {"train": rows, "test": rows}} for name in names]
    task = {"task_type": settings["task_type"], "prediction_format": settings["prediction_format"],
            "submission_mode": settings["submission_mode"], "datasets": datasets}
    for dataset in datasets:
        (data / dataset["folder"]).mkdir(parents=True, exist_ok=True)
        for split, prefix in (("train", "tr"), ("test", "ts")):
            frame = pd.DataFrame(np.round(rng.normal(size=(rows, FEATURES)), 6), columns=features)
            frame.insert(0, entry["id"], np.char.mod(prefix + "%08d", np.arange(rows)))
            if split == "train":
                k = len(entry["classes"])
                frame[entry["target"]] = (np.array([label_text(c) for c in entry["classes"]], dtype=object)[rng.integers(0, k, rows)]
                                          if k else np.round(rng.normal(50, 10, rows), 4))
            frame.to_csv(data / dataset["folder"] / f"{split}.csv", index=False)
    (data / "task.json").write_text(json.dumps(task, indent=2), encoding="utf-8")
    proba = settings["prediction_format"] in ("probability", "probabilities")
    (submission / "model.py").write_text(FREE_MODEL_PROBA if proba else FREE_MODEL, encoding="utf-8")
    return data, submission


# -- the floors: the least work that gives the same scores and figures -----------------------------
def scoring_floor(reference: Path, predictions: Path, output: Path, intervals_only: bool = False) -> None:
    """pandas' default reader, rows aligned by id, the scoring program's metrics and figures; no checks.
    With `intervals_only`, no figures: the CPU seconds of the page's 95 % intervals alone (standing.bootstrap),
    printed, as the scoring program computes them for every dataset."""
    import pandas as pd

    import figures
    import metrics
    from predictions import Predictions, Reference

    settings = json.loads((SCORING / "settings.json").read_text(encoding="utf-8"))
    info = json.loads((reference / "dataset.json").read_text(encoding="utf-8"))
    fmt, scores = info["prediction_format"], {}
    for d in info["datasets"]:
        truth = pd.read_csv(reference / d["folder"] / "test_labels.csv")
        submitted = pd.read_csv(predictions / d["folder"] / "predictions.csv")
        rows = pd.Index(submitted[d["id"]]).get_indexer(truth[d["id"]])
        columns = metrics.prediction_columns(fmt, d["classes"], d["target"])
        if d["classes"]:
            target = pd.Index(d["classes"]).get_indexer(truth[d["target"]])
            values = (pd.Index(d["classes"]).get_indexer(submitted[columns[0]])[rows] if fmt == "label"
                      else submitted[columns].to_numpy(dtype=float)[rows])
            values = values[:, 0] if fmt == "probability" else values
        else:
            target = truth[d["target"]].to_numpy(dtype=float)
            values = submitted[columns[0]].to_numpy(dtype=float)[rows]
        reference_data = Reference(ids=truth[d["id"]].to_numpy(), target=target, classes=d["classes"],
                                   id_name=d["id"], target_name=d["target"])
        prediction = Predictions(fmt=fmt, values=values)
        chosen = metrics.leaderboard_metrics(settings)
        for m in chosen:
            scores[f"{m.key}_{d['name']}"] = m.compute(target, prediction.view(m.needs), d["classes"])
        if intervals_only:
            import standing

            started = time.process_time()
            standing.bootstrap([(m, prediction.view(m.needs)) for m in chosen], target, d["classes"],
                               {m.key: scores[f"{m.key}_{d['name']}"] for m in chosen}, len(info["datasets"]))
            print(f"{time.process_time() - started:.3f}")
            continue
        drawings, _ = figures.figures_for(info["task_type"], reference_data, prediction)
        for draw in drawings:
            draw()
    output.mkdir(parents=True, exist_ok=True)
    (output / "scores.json").write_text(json.dumps(scores), encoding="utf-8")


def ingestion_floor(data: Path, submission: Path, output: Path) -> None:
    """pandas reads train and test, the same model fits and predicts, pandas writes predictions.csv."""
    sys.path.insert(0, str(submission))
    import numpy as np
    import pandas as pd
    from model import Model

    from metrics import prediction_columns

    task = json.loads((data / "task.json").read_text(encoding="utf-8"))
    for d in task["datasets"]:
        features = [f["name"] for f in d["features"]]
        train = pd.read_csv(data / d["folder"] / "train.csv")
        test = pd.read_csv(data / d["folder"] / "test.csv")
        model = Model()
        model.fit(train[features], train[d["target"]])
        predicted = model.predict(test[features])
        columns = prediction_columns(task["prediction_format"], d["classes"], d["target"])
        values = np.asarray(predicted)
        if task["prediction_format"] == "probability":
            values = values[:, 1]
        frame = pd.DataFrame(values.reshape(len(test), -1), columns=columns)
        frame.insert(0, d["id"], test[d["id"]])
        (output / d["folder"]).mkdir(parents=True, exist_ok=True)
        frame.to_csv(output / d["folder"] / "predictions.csv", index=False)


# -- running and reporting ---------------------------------------------------------------------
def measure(command: list[str], page: Path | None = None) -> Run:
    """Run a command as a whole process: wall, CPU (user + system) and peak RSS of that process alone."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first_page = None
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG if page else 0)
        if pid:
            break
        if first_page is None and page.exists():
            first_page = time.monotonic() - started
        time.sleep(0.002)
    wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if process.returncode != 0:
        sys.exit(f"ERROR: {' '.join(command)} failed (exit {process.returncode}): {errors.strip()[-2000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, first_page)


def median(runs: list[Run]) -> Run:
    pages = [r.first_page for r in runs if r.first_page is not None]
    return Run(statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs),
               statistics.median(r.rss_mb for r in runs), statistics.median(pages) if pages else None)


def side_by_side(program, floor, repeat: int, fresh: Path) -> tuple[Run, Run]:
    """Run program and floor alternately `repeat` times each (so both see the same machine load)."""
    runs: dict[str, list[Run]] = {"program": [], "floor": []}
    for i in range(repeat):
        for name, command in (("program", program), ("floor", floor)):
            output = fresh / f"{name}{i}"
            output.mkdir(parents=True)
            runs[name].append(measure(command(output), output / PAGE if name == "program" else None))
            shutil.rmtree(output)
    return median(runs["program"]), median(runs["floor"])


def progress(text: str) -> None:
    """What is being done, on stderr (the tables go to stdout)."""
    print(f"  {text}...", file=sys.stderr, flush=True)


def rows_text(rows: int) -> str:
    return f"{rows // 1_000_000} M" if rows >= 1_000_000 else f"{rows // 1000} k"


def table_row(rows: int, program: Run, floor: Run, page: bool) -> str:
    cells = [rows_text(rows), f"{program.wall:.2f}", f"{program.cpu:.2f}", f"{program.rss_mb:.0f}",
             f"{floor.wall:.2f}", f"{floor.cpu:.2f}", f"{floor.rss_mb:.0f}",
             f"{program.cpu / floor.cpu:.2f}", f"{program.rss_mb / floor.rss_mb:.2f}"]
    if page:
        cells.append(f"{program.first_page:.3f}" if program.first_page is not None else "-")
    return "| " + " | ".join(cells) + " |"


HEADER = "| rows | wall s | CPU s | peak MB | floor wall s | floor CPU s | floor peak MB | CPU ratio | memory ratio |"
INTERVALS = " intervals CPU s |"  # scoring: the share of the program's CPU its page's 95 % intervals take
PROGRAMS = {  # kind: (title, program, its two input options and folders, data writer, timed first page)
    "scoring": ("Scoring (the program: every check, the detailed results page; floor: read, align, metrics, figures)",
                SCORING / "scoring.py", (("--reference", "ref"), ("--predictions", "res")), write_scoring_data, True),
    "ingestion": ("Ingestion, a model that costs nothing (the program: typed reading, checks, predictions.csv; "
                  "floor: pandas read, the same model, pandas write)",
                  INGESTION / "ingestion.py", (("--input-data", "input_data"), ("--submission", "submission")),
                  write_ingestion_data, False),
}


def table(kind: str, sizes: list[int], args: argparse.Namespace, settings: dict, entry: dict, work: Path) -> None:
    """One table: the program and its floor side by side at each size."""
    title, program_file, ((first_option, first_folder), (second_option, second_folder)), _, page = PROGRAMS[kind]
    print(f"\n{title}\n")
    print(HEADER + (" first page s |" + INTERVALS if page else ""))
    print("|---" * (11 if page else 9) + "|")
    for rows in sizes:
        folder = work / f"{kind}-{rows}"
        progress(f"writing {rows:,} rows of {kind} data")
        # In a process of its own: this one stays small, so the programs it starts report their own
        # peak memory (a forked child starts with its parent's resident pages, and its peak keeps them).
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "write", kind, str(folder), str(rows),
                        json.dumps({"settings": settings, "entry": entry})], check=True)
        first, second = folder / first_folder, folder / second_folder
        program, floor = side_by_side(
            lambda out: [args.python, str(program_file), first_option, str(first), second_option, str(second), "--output", str(out)],
            lambda out: [args.python, str(Path(__file__).resolve()), "floor", kind, str(first), str(second), str(out)],
            args.repeat, folder)
        line = table_row(rows, program, floor, page)
        if page:  # the intervals alone, in the program's interpreter, median of --repeat runs
            seconds = [float(subprocess.run([args.python, str(Path(__file__).resolve()), "intervals", kind, str(first),
                                             str(second), str(folder / "intervals")], check=True, capture_output=True,
                                            text=True).stdout.split()[-1]) for _ in range(args.repeat)]
            line += f" {statistics.median(seconds):.2f} |"
        print(line, flush=True)
        if not args.keep:
            shutil.rmtree(folder)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """The options; --args=STRING (how `make bench ARGS=...` passes its value) holds more of them, split
    like a shell would (shlex): the only place they are split, so quotes in ARGS work as in a shell."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=",".join(map(str, SIZES)), help="scoring sizes, comma-separated")
    parser.add_argument("--large", action="store_true", help=f"add {LARGE:,} rows to the scoring sizes")
    parser.add_argument("--ingestion-rows", default=",".join(map(str, INGESTION_SIZES)),
                        help="ingestion sizes (train and test rows each), comma-separated; 0 to skip")
    parser.add_argument("--classes", type=int, help="number of classes (default: data.yaml's)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, the median is shown")
    parser.add_argument("--python", default=sys.executable, help="interpreter the programs run with")
    parser.add_argument("--keep", type=Path, help="write the generated data here and keep it")
    parser.add_argument("--args", metavar="STRING", help="more options in one string, split as a shell would "
                        "(make bench ARGS=\"--large --python '/opt/my python/bin/python3'\")")
    args = parser.parse_args(argv)
    if args.args:
        try:
            more = shlex.split(args.args)
        except ValueError as exc:
            parser.error(f"ARGS={args.args!r}: {exc}")
        if any(item == "--args" or item.startswith("--args=") for item in more):
            parser.error(f"ARGS={args.args!r}: --args inside ARGS")
        args = parser.parse_args(more, namespace=args)
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["floor"]:  # how the script runs a floor: floor scoring|ingestion IN1 IN2 OUT
        _, kind, first, second, output = argv
        (scoring_floor if kind == "scoring" else ingestion_floor)(Path(first), Path(second), Path(output))
        return 0
    if argv[:1] == ["intervals"]:  # and times the intervals alone: intervals scoring REF RES OUT
        _, _, first, second, output = argv
        scoring_floor(Path(first), Path(second), Path(output), intervals_only=True)
        return 0
    if argv[:1] == ["write"]:  # and writes the data: write scoring|ingestion FOLDER ROWS {"settings":, "entry":}
        _, kind, folder, rows, described = argv
        PROGRAMS[kind][3](Path(folder), **json.loads(described), rows=int(rows))
        return 0
    args = parse_arguments(argv)
    settings, entry = competition(args.classes)
    sizes = [int(n) for n in args.rows.split(",") if n.strip()] + ([LARGE] if args.large else [])
    ingestion_sizes = [int(n) for n in args.ingestion_rows.split(",") if n.strip() and int(n)]
    version = subprocess.run([args.python, "-c", "import sys, numpy, pandas; print(sys.version.split()[0], "
                              "numpy.__version__, pandas.__version__)"], capture_output=True, text=True).stdout.split()
    task = settings["task_type"] + (f", {len(entry['classes'])} classes" if entry["classes"] else "")
    print(f"# {task}; predictions: {settings['prediction_format']}; {len(settings['datasets'])} dataset(s)")
    print(f"# {platform.node()}: {os.cpu_count()} CPUs, {platform.machine()}, Python {' '.join(version[:1])}, "
          f"numpy {' '.join(version[1:2])}, pandas {' '.join(version[2:3])}; medians of {args.repeat}")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        table("scoring", sizes, args, settings, entry, work)
        if ingestion_sizes:
            table("ingestion", ingestion_sizes, args, settings, entry, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
