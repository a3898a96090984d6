"""Benchmark the instructor overview: AWS calls and seconds for a seeded class of N students.

For each size N, a fresh child interpreter starts an in-process sandbox (plain moto, no compute:
what is measured is the monitor, not the sandbox's Lambda/EC2/SageMaker processes), seeds a
class of N students with `monitor.seed_class` (every exercise's resources, mixed stages), then
builds the overview twice:
  - cold: the first collect(), which also describes each endpoint once (instance type for cost);
  - warm: a refresh, as the page's auto-refresh does (endpoint details cached, unchanged).
Columns: resources seen, requests by the cold and warm collect, the distinct operations (the
number of listings: fixed), seconds for collect + overview (best of --reps warm runs).

Targets (issue 7): 100 students build in < 3 s, and the requests do not grow with students x
resources: the only growth is listing pages (100 resources a page) and, cold only, 2 per endpoint.

    .venv/bin/python bench/bench_monitor.py [--sizes 10,100,300] [--reps 3]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 3.0
TARGET_AT = 100


def measure(n: int, reps: int) -> dict:
    """Run in the child: sandbox, seed, collect cold and warm; return the numbers."""
    sys.path.insert(0, str(ROOT))
    from backend import monitor
    from backend.aws import Aws, Target
    from backend.sandbox import Sandbox

    with tempfile.TemporaryDirectory() as course, Sandbox(port=0, course_dir=course, compute=()) as sandbox:
        aws = Aws(Target.sandbox(endpoint_url=sandbox.url))
        aws.account_id()
        started = time.perf_counter()
        monitor.seed_class(aws, n)
        seed_s = time.perf_counter() - started

        started = time.perf_counter()
        cold = monitor.collect(aws)
        cold_view = monitor.overview(cold)
        cold_s = time.perf_counter() - started
        warm_times, warm = [], cold
        for _ in range(reps):
            started = time.perf_counter()
            warm = monitor.collect(aws)
            monitor.overview(warm)
            warm_times.append(time.perf_counter() - started)
        return {"students": n, "rows": len(cold_view.rows), "resources": len(cold.resources), "seed_s": seed_s,
                "cold_calls": cold.total_calls, "warm_calls": warm.total_calls, "operations": len(warm.calls),
                "cold_s": cold_s, "warm_s": min(warm_times), "warm_by_op": warm.calls,
                "stuck": len(cold_view.filter(stuck=True)), "hourly_usd": round(cold_view.total_hourly_usd, 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,300")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.reps)))
        return 0

    results = []
    for n in (int(float(s)) for s in args.sizes.split(",")):
        # A child per size: moto's state is process-global and each class starts from nothing.
        child = subprocess.run([sys.executable, __file__, "--one", str(n), "--reps", str(args.reps)], cwd=ROOT,
                               capture_output=True, text=True)
        if child.returncode != 0:
            print(child.stderr[-3000:], file=sys.stderr)
            return 2
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))

    print(f"{'students':>8} {'resources':>9} {'seed s':>7} {'ops':>4} {'calls cold':>10} {'calls warm':>10} "
          f"{'cold s':>7} {'warm s':>7} {'stuck':>5} {'$/h':>7}")
    for r in results:
        print(f"{r['students']:>8} {r['resources']:>9} {r['seed_s']:>7.1f} {r['operations']:>4} {r['cold_calls']:>10} "
              f"{r['warm_calls']:>10} {r['cold_s']:>7.2f} {r['warm_s']:>7.2f} {r['stuck']:>5} {r['hourly_usd']:>7.3f}")
    print("warm requests by operation at the largest size:", json.dumps(results[-1]["warm_by_op"]))
    ok = all(r["rows"] == r["students"] for r in results)
    at_target = [r for r in results if r["students"] == TARGET_AT]
    if at_target and at_target[0]["cold_s"] >= TARGET_S:
        print(f"MISSED: {TARGET_AT} students took {at_target[0]['cold_s']:.2f} s (target < {TARGET_S} s)")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
