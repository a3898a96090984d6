"""Benchmark the Lambda function's core (CSV file -> score -> CSV file) against bare onnxruntime.

For each size N it writes N rows resampled from model-compatible data, then measures in the same
run, alternating the two so load from other processes hits both alike, each in a fresh child
interpreter (as a Lambda container is; in one process the bare run's large allocations slow
whatever runs after it):
  - core: ``batch_reader.score_csv`` (what the handler calls for each upload) reading the file
    and writing predictions to a file, timed around that call; the same child reports its peak
    memory (VmHWM: that child only, with the handler imported, boto3 included, and the model
    loaded);
  - bare: ``InferenceSession.run`` once on the same rows already in numpy arrays, with the
    handler's session options (``batch_reader.load_session``); also run per block of rows the
    size of the handler's read block, for reference.
Both warm the session up with one row first. Times are the best of the repetitions.

Targets (issue 4): core <= 2.0 x bare and peak < 200 MB at 1,000,000 rows.

    .venv/bin/python bench/bench_handler.py [--sizes 1e3,1e4,1e5,1e6] [--model M] [--data CSV]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_DIR = ROOT / "lambda_code"
DEFAULT_MODEL = ROOT / "build" / "course" / "model.onnx"
DEFAULT_DATA = ROOT / "build" / "course" / "input_batch.csv"
ADULT_DATA = ROOT / "data" / "adult" / "adult.data.gz"
# adult.data column positions of the model's features (it has no header).
ADULT_COLUMNS = {"age": 0, "work_class": 1, "education": 3, "marital_status": 5,
                 "occupation": 6, "relationship": 7, "race": 8, "sex": 9, "capital_gain": 10,
                 "capital_loss": 11, "hours_per_week": 12, "native_country": 13}
RATIO_TARGET = 2.0
PEAK_TARGET_MB = 200.0


def import_reader(with_handler: bool = False):
    """Import the function's reader as Lambda does (its folder on sys.path, top-level module
    ``batch_reader``), and the handler too if asked (its imports count in the peak)."""
    if str(LAMBDA_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDA_DIR))
    if with_handler:
        import handler  # noqa: F401, PLC0415
    import batch_reader  # noqa: PLC0415
    return batch_reader


def source_rows(data: Path | None, features: list[str]) -> list[list[str]]:
    """Return the rows to resample, as lists of strings in ``features`` order."""
    if data is not None and data.exists():
        with data.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader)]
            idx = [header.index(f) for f in features]
            return [[r[i] for i in idx] for r in reader if r]
    with gzip.open(ADULT_DATA, "rt", encoding="utf-8") as fh:
        rows = []
        for rec in csv.reader(fh, skipinitialspace=True):
            if len(rec) < 15:
                continue
            rows.append(["" if rec[ADULT_COLUMNS[f]] == "?" else rec[ADULT_COLUMNS[f]]
                         for f in features])
        return rows


def write_input(path: Path, rows: list[list[str]], features: list[str], n: int,
                seed: int) -> None:
    """Write n rows drawn with replacement from ``rows`` to ``path``."""
    pick = np.random.default_rng(seed).integers(0, len(rows), n)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(features)
        writer.writerows(rows[i] for i in pick.tolist())


def bare_feed(path: Path, session, fill: dict[str, int],
              limit: int | None = None) -> dict[str, np.ndarray]:
    """Return the file's rows (the first ``limit``) as the session's input arrays."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = reader if limit is None else itertools.islice(reader, limit)
        columns = dict(zip(header, zip(*rows)))
    feed = {}
    for inp in session.get_inputs():
        values = columns[inp.name]
        if inp.name in fill:
            arr = np.array([int(v) if v.strip() else fill[inp.name] for v in values], np.int64)
        else:
            arr = np.array(values, dtype=object)
        feed[inp.name] = arr.reshape(-1, 1)
    return feed


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource  # noqa: PLC0415 (not Linux: ru_maxrss, KB on Linux)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _warm_up(session, feed: dict[str, np.ndarray]) -> None:
    session.run(None, {k: v[:1] for k, v in feed.items()})


def _child_core(model: str, src: str, out: str, threads: int, include_input: bool) -> dict:
    """Score src into out with the handler core; return its time and this process's peak."""
    reader = import_reader(with_handler=True)
    session = reader.load_session(model, threads)
    schema = reader._Schema.of(session)
    _warm_up(session, bare_feed(Path(src), session, schema.numeric_fill, limit=1))
    loaded = _vm_hwm_mb()
    start, cpu = time.perf_counter(), time.process_time()
    with open(src, "rb") as fin, open(out, "w", newline="", encoding="utf-8") as fout:
        rows = reader.score_csv(fin, fout, session, include_input=include_input)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"rows": rows, "seconds": seconds, "cpu": cpu, "loaded_mb": loaded,
            "peak_mb": _vm_hwm_mb()}


def _child_bare(model: str, src: str, threads: int, block_rows: int) -> dict:
    """Time session.run on src's rows already in arrays: once on all rows, then per block."""
    reader = import_reader()
    session = reader.load_session(model, threads)
    feed = bare_feed(Path(src), session, reader._Schema.of(session).numeric_fill)
    _warm_up(session, feed)
    n = len(next(iter(feed.values())))
    start, cpu = time.perf_counter(), time.process_time()
    for lo in range(0, n, block_rows):
        session.run(None, {k: v[lo:lo + block_rows] for k, v in feed.items()})
    blocks, blocks_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    session.run(None, feed)
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
            "blocks_seconds": blocks, "blocks_cpu": blocks_cpu}


def run_child(*args: object) -> dict:
    """Run one measurement in a fresh interpreter (as a Lambda container is) and return it."""
    cmd = [sys.executable, __file__, "--child", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e3,1e4,1e5,1e6")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="CSV to resample (default: the course's input_batch.csv, "
                             "else data/adult)")
    parser.add_argument("--reps", type=int, default=0,
                        help="timed repetitions per size (default: 5 below 1e5, else 2)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--include-input", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    if not args.model.exists():
        print(f"no model at {args.model}: run `python -m backend course build` or pass --model",
              file=sys.stderr)
        return 2
    reader = import_reader()
    session = reader.load_session(args.model, args.threads)
    features = list(reader._Schema.of(session).names)
    del session
    rows = source_rows(args.data, features)
    data_name = args.data if args.data.exists() else ADULT_DATA
    print(f"model {args.model}  data {data_name} ({len(rows)} rows)  threads {args.threads}  "
          f"include_input {args.include_input}  python {sys.version.split()[0]}")
    block_rows = None
    header = (f"{'rows':>9} {'core s':>8} {'bare s':>8} {'ratio':>6} {'bare/blk s':>10} "
              f"{'ratio/blk':>9} {'core cpu':>8} {'bare cpu':>8} {'ratio':>6} {'blk cpu':>8} "
              f"{'ratio':>6} {'peak MB':>8} {'loaded MB':>9}")
    print(header)
    print("-" * len(header))
    verdict = []
    with tempfile.TemporaryDirectory(prefix="bench-handler-", dir=args.workdir) as tmp:
        for n in (int(float(s)) for s in args.sizes.split(",")):
            src, out = Path(tmp) / f"in_{n}.csv", Path(tmp) / f"out_{n}.csv"
            write_input(src, rows, features, n, seed=n)
            if block_rows is None:  # rows in one of the handler's blocks, for bare/blk
                block_rows = max(1, reader.BLOCK_BYTES * n // max(1, src.stat().st_size))
            reps = args.reps or (5 if n < 100_000 else 2)
            core, bare = [], []
            for _ in range(reps):  # alternate, so load from other processes hits both alike
                bare.append(run_child("bare", args.model, src, args.threads, block_rows))
                core.append(run_child("core", args.model, src, out, args.threads,
                                      int(args.include_input)))
            t_core = min(c["seconds"] for c in core)
            t_bare = min(b["seconds"] for b in bare)
            t_blk = min(b["blocks_seconds"] for b in bare)
            peak = max(c["peak_mb"] for c in core)
            loaded = max(c["loaded_mb"] for c in core)
            c_core = min(c["cpu"] for c in core)
            c_bare = min(b["cpu"] for b in bare)
            c_blk = min(b["blocks_cpu"] for b in bare)
            ratio, ratio_blk = t_core / t_bare, t_core / t_blk
            print(f"{n:>9} {t_core:>8.3f} {t_bare:>8.3f} {ratio:>6.2f} {t_blk:>10.3f} "
                  f"{ratio_blk:>9.2f} {c_core:>8.3f} {c_bare:>8.3f} {c_core / c_bare:>6.2f} "
                  f"{c_blk:>8.3f} {c_core / c_blk:>6.2f} {peak:>8.1f} {loaded:>9.1f}",
                  flush=True)
            if n >= 1_000_000:
                verdict.append(ratio <= RATIO_TARGET and peak < PEAK_TARGET_MB)
            src.unlink()
            out.unlink(missing_ok=True)
    print(f"times: best of the repetitions; bare = one run() on all rows, bare/blk = run() per "
          f"{block_rows} rows (the handler's block); cpu = process CPU seconds; peak = the "
          f"core child's VmHWM; loaded = after imports and model load. Targets at 1e6: "
          f"ratio <= {RATIO_TARGET}, peak < {PEAK_TARGET_MB:.0f} MB"
          + ("" if not verdict else f": {'met' if all(verdict) else 'NOT met'}"))
    return 0 if all(verdict) else 1


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == "core":
            result = _child_core(rest[0], rest[1], rest[2], int(rest[3]), rest[4] == "1")
        else:
            result = _child_bare(rest[0], rest[1], int(rest[2]), int(rest[3]))
        print(json.dumps(result))
        sys.exit(0)
    sys.exit(main())
