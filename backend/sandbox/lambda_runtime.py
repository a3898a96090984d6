"""Lambda compute for the sandbox: a function's zip and layers really run, as on AWS.

Each invocation runs in a fresh Python process (the local interpreter, `-I -S`: no site-packages)
whose sys.path holds only the function's code, its layers' `python/` folders and the AWS SDK
(boto3, botocore and their dependencies, linked one by one). It gets the function's environment,
`AWS_ENDPOINT_URL` at the sandbox and temporary credentials of its execution role, which the
sandbox holds to that role's policies (moto_hooks.install_scoped_iam). Its timeout and memory
size are enforced; its output and START/END/REPORT lines go to CloudWatch Logs
`/aws/lambda/<name>` if the role may write them, as on AWS.

This module knows nothing of moto: moto_hooks hands it a FunctionSpec and a LambdaHost (lambda_spec.py).
"""
from __future__ import annotations

import datetime as dt
import io
import json
import logging
import math
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import children
from .lambda_spec import FunctionSpec, LambdaHost

if TYPE_CHECKING:
    from .plugin import SandboxView

log = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
START_MARK = "\x1e[lab-sandbox] START"  # written by the bootstrap between init and invoke
# What AWS's Python runtime provides besides the standard library: the SDK and its dependencies.
SDK_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
# AWS gives a function one vCPU's worth of CPU at 1769 MB, proportionally less below.
MB_PER_VCPU = 1769
# AWS limits the init phase (importing the handler) to 10 s, separately from the function timeout.
INIT_TIMEOUT_S = 10.0
# Memory is enforced by polling the child's resident size: RLIMIT_AS would kill `import numpy`
# (virtual reservations) and hang onnxruntime's thread pool. 20 ms catches a runaway allocation
# before it grows far past the limit without costing measurable CPU.
MEMORY_POLL_S = 0.02
# AWS stops a recursive loop (a function whose output triggers itself) after about 16 calls.
MAX_CHAIN_DEPTH = 16
# Background (S3-notification and InvocationType=Event) invocations at once: the sandbox shares a
# laptop's cores with the dashboard, so each function process gets a core to itself.
DEFAULT_ASYNC_WORKERS = 2
LOG_TAIL_BYTES = 4096  # Invoke with LogType=Tail returns the last 4 KB of the log, as AWS does
MAX_LOG_BYTES = 8 * 1024 * 1024  # per invocation; the rest is dropped with a note
MAX_EVENT_BYTES = 256 * 1024 - 26  # CloudWatch's per-event limit (minus its 26-byte overhead)


@dataclass(frozen=True)
class InvokeResult:
    """One invocation: the payload Invoke returns (JSON), whether it failed, and what was logged."""

    request_id: str
    payload: str
    errored: bool
    status: str  # "success" | "error" | "timeout" | "out-of-memory"
    duration_ms: float
    init_ms: float | None
    max_memory_mb: int
    log_stream: str
    logs: str
    logs_written: bool

    @property
    def log_tail(self) -> str:
        return self.logs.encode()[-LOG_TAIL_BYTES:].decode(errors="ignore")


# --- code and layers ---------------------------------------------------------------------------

class CodeCache:
    """Function zips and layers unpacked once per content hash under root (thread-safe)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._sdk: Path | None = None

    def unpack(self, kind: str, key: str, data: bytes) -> Path:
        """Return the folder holding the zip's content (extracted on first use)."""
        target = self.root / kind / key
        with self._guard:
            lock = self._locks.setdefault(f"{kind}/{key}", threading.Lock())
        with lock:
            if not target.is_dir():
                staging = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{kind}-"))
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    archive.extractall(staging)  # extractall drops absolute and ".." parts
                target.parent.mkdir(parents=True, exist_ok=True)
                staging.rename(target)
        return target

    def sdk_dir(self) -> Path:
        """Return a folder with links to the SDK packages only (not the whole site-packages)."""
        import importlib.util

        with self._guard:
            if self._sdk is None:
                sdk = self.root / "sdk"
                sdk.mkdir(parents=True, exist_ok=True)
                for name in SDK_MODULES:
                    spec = importlib.util.find_spec(name)
                    if spec is None or spec.origin is None:
                        continue
                    origin = Path(spec.origin)
                    source = origin.parent if spec.submodule_search_locations else origin
                    link = sdk / source.name
                    if not link.exists():
                        link.symlink_to(source, target_is_directory=source.is_dir())
                self._sdk = sdk
            return self._sdk

    def sys_path(self, spec: FunctionSpec) -> tuple[Path, list[str]]:
        """Return (task folder, the child's sys.path entries) as AWS orders them."""
        import hashlib

        task = self.unpack("code", spec.code_sha256 or hashlib.sha256(spec.code).hexdigest(), spec.code)
        paths = [str(task)]
        py = f"python{sys.version_info.major}.{sys.version_info.minor}"
        # AWS unpacks layers into /opt in order, later ones overwriting: search the last first.
        for sha, data in reversed(spec.layers):
            layer = self.unpack("layers", sha, data)
            paths += [str(layer / "python" / "lib" / py / "site-packages"), str(layer / "python")]
        paths.append(str(self.sdk_dir()))
        return task, paths


# --- one invocation ----------------------------------------------------------------------------

def _iso_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _cpu_count(memory_mb: int) -> int:
    """The function's share of CPU, rounded up to whole CPUs of this machine."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(available, math.ceil(memory_mb / MB_PER_VCPU)))


class _Output:
    """Reads a child's merged stdout/stderr into timestamped lines, up to MAX_LOG_BYTES.

    `start` is the index of the first line of the invoke phase: the bootstrap writes START_MARK
    into the same stream, so init output and handler output are told apart without a race.
    """

    def __init__(self, stream: io.BufferedReader) -> None:
        self.lines: list[tuple[int, str]] = []
        self.start: int | None = None
        self.start_ms: int | None = None
        self._stream = stream
        self._size = 0
        self.thread = threading.Thread(target=self._read, name="lambda-output", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for raw in iter(self._stream.readline, b""):
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if text == START_MARK and self.start is None:
                self.start, self.start_ms = len(self.lines), _now_ms()
                continue
            if self._size >= MAX_LOG_BYTES:
                continue
            self._size += len(raw)
            if self._size >= MAX_LOG_BYTES:
                text = "[sandbox] output truncated: more than 8 MB in one invocation"
            self.lines.append((_now_ms(), text[:MAX_EVENT_BYTES]))


def _reader(fd: int, messages: queue.Queue[tuple[float, dict[str, Any]]]) -> None:
    with os.fdopen(fd, "rb") as pipe:
        for raw in pipe:
            try:
                messages.put((time.monotonic(), json.loads(raw)))
            except ValueError:
                log.warning("unreadable message from a Lambda child: %r", raw[:200])


class LambdaRuntime:
    """Runs invocations of Zip functions in fresh processes (thread-safe; one per sandbox)."""

    def __init__(self, host: LambdaHost, endpoint_url: str, work_dir: Path) -> None:
        self.host = host
        self.endpoint_url = endpoint_url
        self.cache = CodeCache(work_dir)
        self._children: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._next_cpu = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=20)
        self.invocations = 0
        self._closed = False

    # The environment AWS sets, then the function's own variables, then the reserved ones again
    # (AWS refuses to let a function override them).
    def _environment(self, spec: FunctionSpec, request_id: str, stream: str, task: Path,
                     sys_path: list[str], result_fd: int, credentials: Mapping[str, str]) -> dict[str, str]:
        threads = str(_cpu_count(spec.memory_mb))
        reserved = {
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "LAMBDA_TASK_ROOT": str(task),
            "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
            "AWS_ENDPOINT_URL": self.endpoint_url,
            **credentials,
            # No config or credentials file: the function sees only its role's credentials.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "TZ": ":UTC",
            "_LAB_RESULT_FD": str(result_fd),
            "_LAB_SYS_PATH": json.dumps(sys_path),
            "_LAB_REQUEST_ID": request_id,
            "_LAB_TIMEOUT_S": str(spec.timeout_s),
            "_LAB_FUNCTION_ARN": spec.arn,
        }
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "en_US.UTF-8", "HOME": tempfile.gettempdir(),
               # Native thread pools (OpenMP/BLAS, and the lab handler's onnxruntime knob) sized to
               # the function's share of CPU; the function's own variables may override them.
               "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
               "ORT_THREADS": threads}
        env.update({str(k): str(v) for k, v in spec.environment.items()})
        env.update(reserved)
        return env

    def _pin_cpus(self, pid: int, memory_mb: int) -> None:
        """Confine the child to its share of CPUs (onnxruntime sizes its pool from what it may use)."""
        if not hasattr(os, "sched_setaffinity"):
            return
        cpus = sorted(os.sched_getaffinity(0))
        count = _cpu_count(memory_mb)
        with self._lock:
            start, self._next_cpu = self._next_cpu, self._next_cpu + count
        try:
            os.sched_setaffinity(pid, {cpus[(start + i) % len(cpus)] for i in range(count)})
        except OSError:  # the child may already have exited
            pass

    def invoke(self, spec: FunctionSpec, event: Any, chain_depth: int = 0) -> InvokeResult:
        """Run one invocation to completion (or timeout / out-of-memory) and log it; return its result."""
        request_id = str(uuid.uuid4())
        today = dt.datetime.now(dt.UTC)
        stream = f"{today:%Y/%m/%d}/[{spec.version}]{uuid.uuid4().hex}"
        init_start = (_now_ms(), f"INIT_START Runtime Version: python:{sys.version_info.major}."
                                 f"{sys.version_info.minor}.sandbox\tRuntime Version ARN: none")
        try:
            task, sys_path = self.cache.sys_path(spec)
        except (zipfile.BadZipFile, OSError) as exc:
            return self._finish(spec, request_id, stream, init_start, None, init_ms=None, status="error",
                                duration_ms=0.0, peak_mb=0,
                                error={"errorMessage": f"Could not unpack the function's code or layers: {exc}",
                                       "errorType": "Runtime.InvalidEntrypoint"}, record=None, payload=None)
        credentials = self.host.issue_credentials(spec, chain_depth)
        read_fd, write_fd = os.pipe()
        with self._lock:
            if self._closed:
                os.close(read_fd)
                os.close(write_fd)
                raise RuntimeError("the sandbox is stopping")
        env = self._environment(spec, request_id, stream, task, sys_path, write_fd, credentials)
        started = time.monotonic()
        proc = children.spawn([sys.executable, "-I", "-S", "-u", str(BOOTSTRAP)], cwd=task, env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              pass_fds=(write_fd,))
        os.close(write_fd)
        with self._lock:
            self._children.add(proc)
            self.invocations += 1
            closed = self._closed
        if closed:  # stop() ran while this child started: it must not outlive the sandbox
            self._kill(proc)
        self._pin_cpus(proc.pid, spec.memory_mb)
        messages: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        threading.Thread(target=_reader, args=(read_fd, messages), name="lambda-result", daemon=True).start()
        output = _Output(proc.stdout)  # type: ignore[arg-type]
        try:
            try:
                proc.stdin.write(json.dumps(event).encode())  # type: ignore[union-attr]
                proc.stdin.close()  # type: ignore[union-attr]
            except BrokenPipeError:
                pass
            outcome = self._supervise(proc, spec, messages, started)
        finally:
            self._kill(proc)
            output.thread.join(timeout=2)
            with self._lock:
                self._children.discard(proc)
        return self._finish(spec, request_id, stream, init_start, output, **outcome)

    def _supervise(self, proc: subprocess.Popen[bytes], spec: FunctionSpec,
                   messages: queue.Queue[tuple[float, dict[str, Any]]], started: float) -> dict[str, Any]:
        """Wait for the child's report, killing it on timeout or when it outgrows its memory."""
        limit = spec.memory_mb * 1024 * 1024
        deadline, invoke_start, init_ms = started + INIT_TIMEOUT_S, None, None
        peak = 0
        while True:
            try:
                at, msg = messages.get(timeout=MEMORY_POLL_S)
            except queue.Empty:
                at, msg = time.monotonic(), None
            if msg is not None:
                if msg["kind"] == "init":
                    invoke_start, init_ms = at, msg["init_ms"]
                    deadline = at + spec.timeout_s
                    continue
                if msg["kind"] == "init_error":
                    return dict(init_ms=msg["init_ms"], status="error", duration_ms=(at - started) * 1000,
                                peak_mb=math.ceil(msg["peak_kb"] / 1024), error=msg["error"],
                                record=msg["record"], payload=None)
                if msg["kind"] == "done":
                    # Like AWS freezing the environment: threads the handler left behind do not
                    # hold the invocation; the caller kills the process.
                    return dict(init_ms=init_ms, status="error" if msg["error"] else "success",
                                duration_ms=msg["duration_ms"], peak_mb=math.ceil(msg["peak_kb"] / 1024),
                                error=msg["error"], record=msg["record"], payload=msg["payload"])
            now = time.monotonic()
            code = proc.poll()
            if code is not None:
                # Exited without reporting (sys.exit, a crash): drain a report that may be in flight.
                try:
                    at, msg = messages.get(timeout=0.2)
                    messages.put((at, msg))
                    continue
                except queue.Empty:
                    pass
                reason = f"signal: {_signal_name(-code)}" if code < 0 else f"exit status {code}"
                return self._died(init_ms, invoke_start or started, now, peak, f"Runtime exited with error: {reason}",
                                  "Runtime.ExitError", status="error")
            rss = _rss_bytes(proc.pid) or 0
            peak = max(peak, rss)
            if rss > limit:
                self._kill(proc)
                return self._died(init_ms, invoke_start or started, now, spec.memory_mb * 1024 * 1024,
                                  "Runtime exited with error: signal: killed", "Runtime.OutOfMemory",
                                  status="out-of-memory")
            if now > deadline:
                self._kill(proc)
                timeout = spec.timeout_s if invoke_start is not None else INIT_TIMEOUT_S
                return self._died(init_ms, invoke_start or started, now, peak,
                                  f"Task timed out after {timeout:.2f} seconds", "Sandbox.Timedout",
                                  status="timeout")

    @staticmethod
    def _died(init_ms: float | None, since: float, now: float, peak_bytes: int, message: str,
              error_type: str, status: str) -> dict[str, Any]:
        return dict(init_ms=init_ms, status=status, duration_ms=(now - since) * 1000,
                    peak_mb=math.ceil(peak_bytes / (1024 * 1024)),
                    error={"errorMessage": message, "errorType": error_type}, record=None, payload=None)

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        """Kill the child and anything it started (its own session)."""
        try:
            os.killpg(proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not wait
            log.error("Lambda child %s did not die", proc.pid)

    def _finish(self, spec: FunctionSpec, request_id: str, stream: str, init_start: tuple[int, str],
                output: _Output | None, *, init_ms: float | None, status: str, duration_ms: float,
                peak_mb: int, error: dict[str, Any] | None, record: str | None,
                payload: str | None) -> InvokeResult:
        """Frame the output with the runtime's lines (START/END/REPORT, errors) and log it all."""
        now = _now_ms()
        lines = output.lines if output is not None else []
        split = output.start if output is not None and output.start is not None else len(lines)
        start_ms = output.start_ms if output is not None and output.start_ms is not None else now
        events = [init_start, *lines[:split], (start_ms, f"START RequestId: {request_id} Version: {spec.version}"),
                  *lines[split:]]
        if error is not None:
            if status == "timeout":
                events.append((now, f"{_iso_now()} {request_id} {error['errorMessage']}"))
            elif record is not None:
                events.append((now, record))
            else:
                events.append((now, f"RequestId: {request_id} Error: {error['errorMessage']}\n{error['errorType']}"))
            if record is None:
                error["errorMessage"] = f"RequestId: {request_id} Error: {error['errorMessage']}"
        memory = min(max(peak_mb, 1), spec.memory_mb)
        report = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
                  f"Billed Duration: {max(1, math.ceil(duration_ms))} ms\tMemory Size: {spec.memory_mb} MB\t"
                  f"Max Memory Used: {memory} MB")
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        if status == "timeout":
            report += "\tStatus: timeout"
        elif error is not None and record is None:
            report += f"\tStatus: error\tError Type: {error['errorType']}"
        events += [(now, f"END RequestId: {request_id}"), (now, report)]
        # CloudWatch wants events in time order: the list is in stream order, make times agree.
        ordered, last = [], 0
        for ts, message in events:
            last = max(last, ts)
            ordered.append((last, message))
        logs_written = self._write_logs(spec, stream, ordered)
        result_payload = payload if error is None else json.dumps(
            {k: error[k] for k in ("errorMessage", "errorType", "requestId", "stackTrace") if k in error})
        self.recent.append({"function": spec.name, "request_id": request_id, "status": status,
                            "duration_ms": round(duration_ms, 2), "max_memory_mb": memory,
                            "log_stream": stream, "logs_written": logs_written})
        return InvokeResult(request_id, result_payload or "null", error is not None, status, duration_ms, init_ms,
                            memory, stream, "\n".join(m for _, m in ordered), logs_written)

    def _write_logs(self, spec: FunctionSpec, stream: str, events: list[tuple[int, str]]) -> bool:
        """Log as AWS does: only if the role may create the stream and put events (and the group)."""
        prefix = f"arn:aws:logs:{spec.region}:{spec.account_id}:log-group:{spec.log_group}"
        stream_arn = f"{prefix}:log-stream:{stream}"
        allowed = (self.host.role_permits(spec, "logs:CreateLogStream", [stream_arn, prefix + ":*"])
                   and self.host.role_permits(spec, "logs:PutLogEvents", [stream_arn, prefix + ":*"])
                   and (self.host.log_group_exists(spec)
                        or self.host.role_permits(spec, "logs:CreateLogGroup", [prefix, prefix + ":*"])))
        if not allowed:
            log.warning("function %s: its role %s may not write CloudWatch Logs, so the run is not logged "
                        "(as on AWS)", spec.name, spec.role)
            return False
        self.host.write_logs(spec, stream, [(ts, msg[:MAX_EVENT_BYTES]) for ts, msg in events])
        return True

    def kill_all(self) -> None:
        """Refuse new invocations and kill every running child (the sandbox is stopping)."""
        with self._lock:
            self._closed = True
            children = list(self._children)
        for proc in children:
            self._kill(proc)


def _signal_name(signum: int) -> str:
    import signal

    names = {signal.SIGKILL: "killed", signal.SIGSEGV: "segmentation fault", signal.SIGABRT: "aborted",
             signal.SIGTERM: "terminated", signal.SIGBUS: "bus error"}
    return names.get(signum, f"signal {signum}")


# --- the plug-in -------------------------------------------------------------------------------

@dataclass
class LambdaCompute:
    """The sandbox's Lambda: functions run for real on Invoke and on S3 object-created events."""

    async_workers: int = DEFAULT_ASYNC_WORKERS
    max_chain_depth: int = MAX_CHAIN_DEPTH
    name: str = "lambda"
    runtime: LambdaRuntime | None = field(default=None, init=False)
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _work_dir: Path | None = field(default=None, init=False, repr=False)
    _pending: int = field(default=0, init=False)
    _failures: int = field(default=0, init=False)
    _count_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def start(self, sandbox: SandboxView) -> None:
        from . import moto_hooks

        self._work_dir = children.temp_dir("mlops-lab-lambda-")
        host = moto_hooks.MotoLambdaHost()
        self.runtime = LambdaRuntime(host, sandbox.url, self._work_dir)
        self._pool = ThreadPoolExecutor(max_workers=self.async_workers, thread_name_prefix="lambda-async")
        moto_hooks.install_lambda(sandbox.patches, host, self.runtime.invoke, self.submit, self.max_chain_depth)
        moto_hooks.install_scoped_iam(sandbox.patches, host)

    def submit(self, label: str, call: Callable[[], Any]) -> None:
        """Run an asynchronous invocation in the background pool; log (never raise) its failure."""
        if self._pool is None:
            raise RuntimeError("Lambda compute is not started")

        def run() -> None:
            try:
                call()
            except Exception:
                with self._count_lock:
                    self._failures += 1
                log.exception("asynchronous invocation %s failed", label)
            finally:
                with self._count_lock:
                    self._pending -= 1

        with self._count_lock:
            self._pending += 1
        self._pool.submit(run)

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self.runtime is not None:
            self.runtime.kill_all()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None

    def info(self) -> dict[str, Any]:
        """Counts and the latest invocations (newest last), for the health route."""
        runtime = self.runtime
        return {"invocations": runtime.invocations if runtime else 0, "pending_async": self._pending,
                "failed_async": self._failures, "recent": list(runtime.recent) if runtime else []}
