"""Speed of the exercise-4 API (issue 5, item 2): ratios from one run, on loopback.

Starts ec2_app with one uvicorn worker, exactly as its Dockerfile does but on a free loopback
port, and MLflow's scoring server (`mlflow models serve --env-manager local -w 1`) on the same
model; drives both with a small keep-alive HTTP/1.1 load generator (asyncio, raw sockets, so
that the client costs far less per request than the servers do) and prints:

- requests/s of POST /predict against GET /health on the same server   (target >= 0.7x)
- requests/s of POST /predict against MLflow's POST /invocations        (target >= 20x)
- p50/p99 latency of POST /predict at one connection

Both servers run side by side and the phases go round all endpoints (health, predict, MLflow,
health, ...) for a few rounds; each ratio uses the medians, so a noisy neighbour on a shared
machine skews both sides alike. Beside requests/s it prints each server's CPU time per request
(Linux /proc), the figure that load on other cores disturbs least. Every phase is bounded in
time and in requests. Exit status 1 if a target is missed.

    python bench/bench_ec2_app.py [--model build/course/model.onnx]
                                  [--mlflow-model build/course/mlflow_model.zip] [--seconds 3]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_DIR = ROOT / "ec2_app"
COURSE_DIR = Path(os.environ.get("MLOPS_LAB_COURSE_DIR", ROOT / "build" / "course"))

# LAB.md's corrected sample record; the MLflow request carries the same values.
SAMPLE = {
    "age": 39, "work_class": "Local-gov", "education": "Masters",
    "marital_status": "Married-civ-spouse", "occupation": "Prof-specialty",
    "relationship": "Wife", "race": "White", "sex": "Female", "capital_gain": 0,
    "capital_loss": 0, "hours_per_week": 28, "native_country": "United-States",
}
PREDICT_TARGET = 0.7  # /predict req/s over /health req/s
MLFLOW_TARGET = 20.0  # /predict req/s over MLflow /invocations req/s


@dataclass
class Phase:
    name: str
    requests: int
    seconds: float
    cpu_us: float | None = None  # the server's CPU time per request

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_request(method: str, path: str, port: int, body: dict | None = None) -> bytes:
    """One HTTP/1.1 keep-alive request as bytes, built once and replayed."""
    payload = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    return head.encode() + b"\r\n" + payload


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bytes:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = head[9:12]
    length = None
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    if length is None:
        raise RuntimeError(f"response without Content-Length: {head!r}")
    body = await reader.readexactly(length)
    if status != b"200":
        raise RuntimeError(f"HTTP {status.decode()}: {body[:300]!r}")
    return body


async def _load(port: int, request: bytes, connections: int, seconds: float, max_requests: int,
                latencies: list[float] | None = None) -> Phase:
    """Keep `connections` connections busy for `seconds` or `max_requests` in all."""
    done = 0
    start = time.perf_counter()
    deadline = start + seconds

    async def worker() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while done < max_requests:
                t0 = time.perf_counter()
                if t0 >= deadline:
                    break
                await _exchange(reader, writer, request)
                if latencies is not None:
                    latencies.append(time.perf_counter() - t0)
                done += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return Phase("", done, time.perf_counter() - start)


def wait_ready(port: int, path: str, proc: subprocess.Popen, timeout: float, what: str) -> None:
    """Poll `path` until it answers 200; fail early if the server process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with status {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not answer {path} within {timeout:.0f} s")


def start_app(model: Path, port: int, log) -> subprocess.Popen:
    # The Dockerfile's command, one worker, on loopback.
    cmd = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]
    env = dict(os.environ, MODEL_PATH=str(model))
    return subprocess.Popen(cmd, cwd=APP_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def start_mlflow(model_dir: Path, port: int, log) -> subprocess.Popen:
    # `mlflow models serve` execs `uvicorn ... mlflow.pyfunc.scoring_server.app:app` through the
    # shell, so the interpreter's bin directory must be on PATH.
    bin_dir = Path(sys.executable).parent
    mlflow = bin_dir / "mlflow"
    cmd = [str(mlflow) if mlflow.exists() else "mlflow", "models", "serve", "-m", str(model_dir),
           "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    # Own process group: mlflow's shell and uvicorn are stopped together.
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    """End a server this script started, with whatever it spawned (its own process group)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def unpack_mlflow(zip_path: Path, into: Path) -> Path:
    """Unzip the course's mlflow_model.zip; returns the directory holding MLmodel."""
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(into)
    found = sorted(into.rglob("MLmodel"), key=lambda p: len(p.parts))
    if not found:
        raise SystemExit(f"{zip_path} holds no MLmodel file")
    return found[0].parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def group_cpu_seconds(pgid: int) -> float | None:
    """CPU time (user + system) used so far by the live processes of group `pgid` (Linux /proc)."""
    if not os.path.isdir("/proc/self"):
        return None
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the command: state, ppid, pgrp, ..., utime, stime
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Endpoint:
    name: str
    port: int
    request: bytes
    server: subprocess.Popen
    phases: list[Phase]

    def run(self, connections: int, seconds: float, max_requests: int,
            latencies: list[float] | None = None, label: str | None = None) -> Phase:
        cpu0 = group_cpu_seconds(self.server.pid)
        phase = asyncio.run(_load(self.port, self.request, connections, seconds, max_requests, latencies))
        cpu1 = group_cpu_seconds(self.server.pid)
        phase.name = label or self.name
        phase.cpu_us = None if cpu0 is None else (cpu1 - cpu0) / max(phase.requests, 1) * 1e6
        cpu = "" if phase.cpu_us is None else f", server CPU {phase.cpu_us:5.0f} us/req"
        print(f"  {phase.name:<26} {phase.requests:>6} req in {phase.seconds:4.2f} s = "
              f"{phase.rps:6.0f} req/s{cpu}", flush=True)
        return phase

    def median(self, attr: str) -> float | None:
        values = [getattr(p, attr) for p in self.phases]
        return None if None in values else statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=COURSE_DIR / "model.onnx")
    parser.add_argument("--mlflow-model", type=Path, default=COURSE_DIR / "mlflow_model.zip",
                        help="the course's zipped MLflow model (or its unzipped directory)")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each phase")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the endpoints")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--max-requests", type=int, default=100_000, help="cap per phase")
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()

    for path in [args.model] + ([] if args.skip_mlflow else [args.mlflow_model]):
        if not path.exists():
            raise SystemExit(f"{path} not found: build the course artifacts first "
                             "(python -m backend course build) or pass --model/--mlflow-model")

    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.connections} "
          f"connections, {args.rounds} rounds of {args.seconds:g} s phases, keep-alive HTTP/1.1")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as servers:
        tmp_path = Path(tmp)
        app_port = free_port()
        app = start_app(args.model, app_port, servers.enter_context(open(tmp_path / "app.log", "wb")))
        servers.callback(stop, app)
        endpoints = [
            Endpoint("GET /health", app_port, http_request("GET", "/health", app_port), app, []),
            Endpoint("POST /predict", app_port, http_request("POST", "/predict", app_port, SAMPLE), app, []),
        ]
        if not args.skip_mlflow:
            model_dir = (args.mlflow_model if args.mlflow_model.is_dir()
                         else unpack_mlflow(args.mlflow_model, tmp_path / "mlflow"))
            ml_port = free_port()
            mlflow_log = tmp_path / "mlflow.log"
            ml = start_mlflow(model_dir, ml_port, servers.enter_context(open(mlflow_log, "wb")))
            servers.callback(stop, ml)
            body = {"dataframe_split": {"columns": list(SAMPLE), "data": [list(SAMPLE.values())]}}
            endpoints.append(Endpoint("MLflow POST /invocations", ml_port,
                                      http_request("POST", "/invocations", ml_port, body), ml, []))
        wait_ready(app_port, "/health", app, 60, "ec2_app (uvicorn app:app, 1 worker)")
        if not args.skip_mlflow:
            try:
                wait_ready(ml_port, "/ping", ml, 180, "mlflow models serve (1 worker)")
            except SystemExit:
                sys.stderr.write(mlflow_log.read_text(errors="replace")[-3000:])
                raise
        for endpoint in endpoints:
            endpoint.run(args.connections, 1.0, args.max_requests, label=f"warm-up {endpoint.name}")
        # Rounds over all endpoints: a neighbour's load on a shared machine hits every side alike.
        for _ in range(args.rounds):
            for endpoint in endpoints:
                endpoint.phases.append(endpoint.run(args.connections, args.seconds, args.max_requests))
        # One connection: no concurrency for the server to batch; latency measured per request.
        health_1 = endpoints[0].run(1, args.seconds, args.max_requests, label="GET /health, 1 conn")
        latencies: list[float] = []
        predict_1 = endpoints[1].run(1, args.seconds, args.max_requests, latencies, "POST /predict, 1 conn")

    health, predict = endpoints[0], endpoints[1]
    checks = [("/predict vs /health", predict, health, PREDICT_TARGET)]
    if not args.skip_mlflow:
        checks.append(("/predict vs MLflow", predict, endpoints[2], MLFLOW_TARGET))
    print()
    for endpoint in endpoints:
        cpu = endpoint.median("cpu_us")
        print(f"{endpoint.name:<26} {endpoint.median('rps'):8.0f} req/s"
              + ("" if cpu is None else f"   server CPU {cpu:7.0f} us/req"))
    failed = []
    for label, ours, theirs, target in checks:
        ratio = ours.median("rps") / theirs.median("rps")
        ours_cpu, theirs_cpu = ours.median("cpu_us"), theirs.median("cpu_us")
        cpu = "" if ours_cpu is None else f"   (by server CPU per request: {theirs_cpu / ours_cpu:.2f}x)"
        verdict = "ok" if ratio >= target else "MISSED"
        print(f"{label:<26} {ratio:8.2f}x  target >= {target:g}x  {verdict}{cpu}")
        if ratio < target:
            failed.append(label)
    ms = sorted(x * 1000 for x in latencies)
    print(f"/predict latency, 1 connection: p50 {percentile(ms, 50):.2f} ms, "
          f"p99 {percentile(ms, 99):.2f} ms ({len(ms)} requests); /predict vs /health at 1 "
          f"connection {predict_1.rps / health_1.rps:.2f}x (no target)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
