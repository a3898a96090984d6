"""Lambda compute for the sandbox: a function's zip and layers really run, as on AWS.

A function runs in execution environments ("containers"), as on AWS: a Python process (the local
interpreter, `-I -S`: no site-packages) whose sys.path holds only the function's code, its layers'
`python/` folders and the AWS SDK (boto3, botocore and their dependencies, linked one by one). It
gets the function's environment, `AWS_ENDPOINT_URL` at the sandbox and temporary credentials of its
execution role, which the sandbox holds to that role's policies (moto_hooks.install_scoped_iam).

- The first invocation starts a container (a cold start: INIT_START, and Init Duration on its
  REPORT line); the handler is imported once, and the container then serves invocations one at a
  time while warm, so what the handler loads at module level (the lab's model) is loaded once per
  container. Each container logs to its own stream, START/END/REPORT per invocation.
- Up to `concurrency` containers of a function run at once (default: this machine's CPU count);
  further invocations wait for one, in the order the threads win the lock (AWS's own queue for
  asynchronous events makes no order promise either).
- A container idle for `idle_s` (default 5 minutes) is retired, and so are all of a function's
  containers when its code or configuration changes or it is deleted (`retire`); one that timed
  out, ran out of memory or exited is discarded. Timeout and memory size are enforced per
  invocation; output and START/END/REPORT lines go to CloudWatch Logs `/aws/lambda/<name>` if
  the role may write them, as on AWS.

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
from collections import Counter, deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import children
from .lambda_spec import FunctionSpec, LambdaHost

if TYPE_CHECKING:
    from .plugin import SandboxView

log = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
MARK = "\x1e[lab-sandbox]"  # the bootstrap's "START <request id>" / "END <request id>" in the output
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
# Containers of one function at once. AWS allows 1,000 per account; on a laptop each container is
# a process with its own copy of the model, so one per CPU keeps them all busy without thrashing.
DEFAULT_CONCURRENCY = os.cpu_count() or 1
# AWS retires an idle execution environment after some minutes (unspecified; 5-15 observed).
DEFAULT_IDLE_S = 300.0
# A container's role credentials are issued for 12 h; AWS recycles environments within hours anyway.
MAX_CONTAINER_AGE_S = 2 * 3600.0
# Threads that deliver asynchronous invocations (S3 notifications, InvocationType=Event). They
# only wait for a container: the per-function concurrency is what bounds the work.
DEFAULT_ASYNC_WORKERS = 64
# After a container reports an invocation done, its last output lines may still be in the pipe.
OUTPUT_GRACE_S = 2.0
LOG_TAIL_BYTES = 4096  # Invoke with LogType=Tail returns the last 4 KB of the log, as AWS does
MAX_LOG_BYTES = 8 * 1024 * 1024  # per invocation; the rest is dropped with a note
MAX_EVENT_BYTES = 256 * 1024 - 26  # CloudWatch's per-event limit (minus its 26-byte overhead)
CONCURRENCY_ENV = "MLOPS_LAB_LAMBDA_CONCURRENCY"
IDLE_ENV = "MLOPS_LAB_LAMBDA_IDLE_S"


@dataclass(frozen=True)
class InvokeResult:
    """One invocation: the payload Invoke returns (JSON), whether it failed, and what was logged."""

    request_id: str
    payload: str
    errored: bool
    status: str  # "success" | "error" | "timeout" | "out-of-memory"
    duration_ms: float
    init_ms: float | None  # set on a cold start only
    max_memory_mb: int
    log_stream: str
    logs: str
    logs_written: bool
    cold: bool = True

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


# --- one container -----------------------------------------------------------------------------

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


def _available_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def _cpu_count(memory_mb: int) -> int:
    """The function's share of CPU, rounded up to whole CPUs of this machine."""
    return max(1, min(len(_available_cpus()), math.ceil(memory_mb / MB_PER_VCPU)))


def _fingerprint(spec: FunctionSpec) -> tuple[Any, ...]:
    """What a container was started with: any change means new containers, as on AWS."""
    environment = tuple(sorted((str(k), str(v)) for k, v in spec.environment.items()))
    return (spec.version, spec.code_sha256, tuple(sha for sha, _ in spec.layers), spec.handler, spec.runtime,
            spec.role, spec.timeout_s, spec.memory_mb, environment)


def _runtime_version(declared: str) -> str:
    """INIT_START's runtime version: the interpreter that really runs the function, and the declared one if it differs."""
    ran = f"{sys.version_info.major}.{sys.version_info.minor}"
    if declared == f"python{ran}":
        return f"python:{ran} (sandbox)"
    # The sandbox runs every function with its own interpreter (its course layer is built for it).
    installed = bool(declared) and shutil.which(declared) is not None
    why = "the sandbox runs it with its own Python" if installed else "not installed here"
    return f"python:{ran} (sandbox; the function declares {declared or 'no runtime'}, {why})"


Line = tuple[int, str]  # (timestamp ms, message)


class _Output:
    """Reads a container's output pipe into timestamped lines, told apart per invocation.

    The bootstrap writes `MARK START <id>` and `MARK END <id>` into the same stream as the
    handler's output, so which line belongs to which invocation needs no timing guess. Lines
    before an invocation's START (init output, or what threads left running wrote between
    invocations) are logged before its START line. At most MAX_LOG_BYTES per invocation.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._cond = threading.Condition()
        self._lines: list[Line] = []
        self._marks: dict[tuple[str, str], tuple[int, int]] = {}  # (kind, request id) -> (line index, ms)
        self._size = 0
        self._eof = False
        self.thread = threading.Thread(target=self._read, name="lambda-output", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for raw in iter(self._stream.readline, b""):
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            at = text.find(MARK)
            with self._cond:
                if at < 0:
                    self._append(text, len(raw))
                    continue
                if at > 0:  # the handler's last line had no line break
                    self._append(text[:at], at)
                kind, _, request_id = text[at + len(MARK):].strip().partition(" ")
                self._marks[(kind, request_id)] = (len(self._lines), _now_ms())
                if kind == "END":
                    self._size = 0
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _append(self, text: str, size: int) -> None:
        if self._size >= MAX_LOG_BYTES:
            return
        self._size += size
        if self._size >= MAX_LOG_BYTES:
            text = "[sandbox] output truncated: more than 8 MB in one invocation"
        self._lines.append((_now_ms(), text[:MAX_EVENT_BYTES]))

    def take(self, request_id: str | None, wait_s: float = 0.0) -> tuple[list[Line], int | None, list[Line]]:
        """Return (lines before the invocation's START, START time ms, its lines) and drop them.

        Waits up to wait_s for the invocation's END (or the end of output). Without an END
        (killed, crashed) everything read so far is returned; request_id None: all as "before".
        """
        deadline = time.monotonic() + wait_s
        with self._cond:
            while request_id is not None and ("END", request_id) not in self._marks and not self._eof:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            start = self._marks.pop(("START", request_id), None) if request_id else None
            end = self._marks.pop(("END", request_id), None) if request_id else None
            cut = end[0] if end else len(self._lines)
            split = start[0] if start else cut
            before, during = self._lines[:split], self._lines[split:cut]
            del self._lines[:cut]
            self._marks = {k: (i - cut, ms) for k, (i, ms) in self._marks.items() if i >= cut}
            return before, (start[1] if start else None), during


def _reader(stream: IO[bytes], messages: queue.Queue[tuple[float, dict[str, Any]]]) -> None:
    with stream:
        for raw in stream:
            try:
                messages.put((time.monotonic(), json.loads(raw)))
            except ValueError:
                log.warning("unreadable message from a Lambda container: %r", raw[:200])


@dataclass(eq=False)
class _Container:
    """One execution environment: a bootstrap process serving one function version's invocations."""

    proc: subprocess.Popen[bytes]
    fingerprint: tuple[Any, ...]
    generation: int  # the pool's generation when started: a later one means it was retired
    stream: str
    access_key: str
    output: _Output
    messages: queue.Queue[tuple[float, dict[str, Any]]]
    cpus: tuple[int, ...]
    started: float  # time.monotonic()
    last_used: float
    init_start: Line | None = None  # the INIT_START line, logged with the first invocation
    init_ms: float | None = None
    invocations: int = 0
    last_log_ms: int = 0  # CloudWatch wants a stream's events in time order

    def send(self, line: bytes) -> None:
        """Hand an invocation to the container (in a thread: a stuck child must not hold the caller)."""

        def write() -> None:
            try:
                self.proc.stdin.write(line)  # type: ignore[union-attr]
                self.proc.stdin.flush()  # type: ignore[union-attr]
            except (BrokenPipeError, OSError, ValueError):
                pass  # it died: the supervisor sees the exit

        threading.Thread(target=write, name="lambda-send", daemon=True).start()


@dataclass
class _Pool:
    """A function's containers: live counts busy and idle ones (and ones starting)."""

    cond: threading.Condition
    live: int = 0
    idle: list[_Container] = field(default_factory=list)
    generation: int = 0
    fingerprints: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # version -> what runs it


class LambdaRuntime:
    """Runs invocations of Zip functions in warm containers (thread-safe; one per sandbox)."""

    def __init__(self, host: LambdaHost, endpoint_url: str, work_dir: Path, *,
                 concurrency: int = DEFAULT_CONCURRENCY, idle_s: float = DEFAULT_IDLE_S) -> None:
        self.host = host
        self.endpoint_url = endpoint_url
        self.cache = CodeCache(work_dir)
        self.concurrency = max(1, concurrency)
        self.idle_s = idle_s
        self._lock = threading.Lock()
        self._pools: dict[tuple[str, str, str], _Pool] = {}
        self._containers: set[_Container] = set()
        self._cpu_load: Counter[int] = Counter()
        self.recent: deque[dict[str, Any]] = deque(maxlen=20)
        self.invocations = 0
        self.cold_starts = 0
        self._closed = False
        self._stopping = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="lambda-reaper", daemon=True)
        self._reaper.start()

    # --- containers in and out -------------------------------------------------------------
    def _pool(self, spec: FunctionSpec) -> _Pool:
        key = (spec.account_id, spec.region, spec.name)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool(threading.Condition(self._lock))
        return pool

    def _acquire(self, spec: FunctionSpec) -> tuple[_Container | None, int, list[_Container]]:
        """Wait for a warm container of this spec or a free slot; return (container or None, generation, to discard)."""
        fingerprint = _fingerprint(spec)
        stale: list[_Container] = []
        with self._lock:
            pool = self._pool(spec)
            while True:
                if self._closed:
                    raise RuntimeError("the sandbox is stopping")
                known = pool.fingerprints.get(spec.version)
                if known is not None and known != fingerprint:
                    stale += self._retire_locked(pool)  # changed before its hook said so
                pool.fingerprints[spec.version] = fingerprint
                # The most recently used first: the others stay idle and are retired sooner.
                for i in range(len(pool.idle) - 1, -1, -1):
                    if pool.idle[i].fingerprint == fingerprint:
                        return pool.idle.pop(i), pool.generation, stale
                if pool.live < self.concurrency:
                    pool.live += 1
                    return None, pool.generation, stale
                if pool.idle:  # a warm container of another version holds the slot
                    stale.append(pool.idle.pop(0))
                    pool.live -= 1
                    continue
                pool.cond.wait()

    def _release(self, spec: FunctionSpec, container: _Container | None, reusable: bool) -> None:
        """Return a container to its pool (warm), or free its slot and discard it."""
        discard = container
        with self._lock:
            pool = self._pool(spec)
            if (container is not None and reusable and not self._closed and container.generation == pool.generation
                    and time.monotonic() - container.started < MAX_CONTAINER_AGE_S):
                container.last_used = time.monotonic()
                pool.idle.append(container)
                discard = None
            else:
                pool.live -= 1
            pool.cond.notify_all()
        if discard is not None:
            self._discard(discard)

    @staticmethod
    def _retire_locked(pool: _Pool) -> list[_Container]:
        """Retire a pool's containers (with the lock held): idle ones are returned to discard, busy ones are
        discarded when their invocation ends."""
        pool.generation += 1
        pool.fingerprints.clear()
        idle, pool.idle = pool.idle, []
        pool.live -= len(idle)
        pool.cond.notify_all()
        return idle

    def retire(self, account_id: str, region: str, name: str) -> None:
        """A function's code or configuration changed, or it was deleted: its containers are not reused."""
        with self._lock:
            pool = self._pools.get((account_id, region, name))
            idle = self._retire_locked(pool) if pool is not None else []
        for container in idle:
            self._discard(container)

    def retire_all(self) -> None:
        """Every function is gone (the sandbox was reset)."""
        with self._lock:
            idle = [c for pool in self._pools.values() for c in self._retire_locked(pool)]
        for container in idle:
            self._discard(container)

    def _reap(self) -> None:
        """Retire containers idle for idle_s (or older than MAX_CONTAINER_AGE_S)."""
        interval = max(0.05, min(self.idle_s / 4, 10.0))
        while not self._stopping.wait(interval):
            now, old = time.monotonic(), []
            with self._lock:
                for pool in self._pools.values():
                    expired = [c for c in pool.idle
                               if now - c.last_used >= self.idle_s or now - c.started >= MAX_CONTAINER_AGE_S]
                    if expired:
                        pool.idle = [c for c in pool.idle if c not in expired]
                        pool.live -= len(expired)
                        pool.cond.notify_all()
                        old += expired
            for container in old:
                self._discard(container)

    def _discard(self, container: _Container) -> None:
        """Kill a container and everything it started; free its CPUs."""
        self._kill(container.proc)
        container.output.thread.join(timeout=OUTPUT_GRACE_S)
        for pipe in (container.proc.stdin, container.proc.stdout, container.proc.stderr):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass
        with self._lock:
            if container in self._containers:
                self._containers.discard(container)
                self._cpu_load.subtract(container.cpus)

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        """Kill the child and anything it started (its own process group)."""
        try:
            if os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, 9)
            else:
                proc.kill()
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not wait
            log.error("Lambda container %s did not die", proc.pid)

    def _pick_cpus(self, memory_mb: int) -> tuple[int, ...]:
        """The least busy CPUs for a new container (called with the lock held)."""
        cpus = _available_cpus()
        chosen = tuple(sorted(cpus, key=lambda c: (self._cpu_load[c], c))[:_cpu_count(memory_mb)])
        self._cpu_load.update(chosen)
        return chosen

    # The environment AWS sets, then the function's own variables, then the reserved ones again
    # (AWS refuses to let a function override them).
    def _environment(self, spec: FunctionSpec, stream: str, task: Path, sys_path: list[str],
                     credentials: Mapping[str, str]) -> dict[str, str]:
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
            "_LAB_SYS_PATH": json.dumps(sys_path),
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

    def _start(self, spec: FunctionSpec, generation: int, chain_depth: int,
               request_id: str) -> _Container | InvokeResult:
        """Start a container and run its init phase; return it, or the failed invocation's result."""
        init_start = (_now_ms(), f"INIT_START Runtime Version: {_runtime_version(spec.runtime)}\tRuntime Version ARN: none")
        stream = f"{dt.datetime.now(dt.UTC):%Y/%m/%d}/[{spec.version}]{uuid.uuid4().hex}"
        try:
            task, sys_path = self.cache.sys_path(spec)
        except (zipfile.BadZipFile, OSError) as exc:
            return self._finish(spec, request_id, stream, 0, init_start, [], None, [], init_ms=None, status="error",
                                duration_ms=0.0, peak_mb=0, cold=True,
                                error={"errorMessage": f"Could not unpack the function's code or layers: {exc}",
                                       "errorType": "Runtime.InvalidEntrypoint"}, record=None, payload=None)[0]
        credentials = self.host.issue_credentials(spec, chain_depth)
        env = self._environment(spec, stream, task, sys_path, credentials)
        started = time.monotonic()
        with self._lock:
            if self._closed:
                raise RuntimeError("the sandbox is stopping")
        proc = children.spawn([sys.executable, "-I", "-S", "-u", str(BOOTSTRAP)], cwd=task, env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        messages: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, messages), name="lambda-result", daemon=True).start()
        with self._lock:
            cpus = self._pick_cpus(spec.memory_mb)
            container = _Container(proc, _fingerprint(spec), generation, stream, credentials["AWS_ACCESS_KEY_ID"],
                                   _Output(proc.stderr), messages, cpus, started, started)  # type: ignore[arg-type]
            self._containers.add(container)
            self.cold_starts += 1
            closed = self._closed
        if closed:  # kill_all() ran while this container started: it must not outlive the sandbox
            self._discard(container)
            raise RuntimeError("the sandbox is stopping")
        if hasattr(os, "sched_setaffinity"):
            try:
                os.sched_setaffinity(proc.pid, set(cpus))
            except OSError:  # it may already have exited
                pass
        outcome = self._supervise(container, spec, None, started + INIT_TIMEOUT_S, started)
        if outcome.get("kind") == "init":
            container.init_ms = outcome["init_ms"]
            container.init_start, container.last_log_ms = init_start, init_start[0]
            return container
        # The init phase failed: the invocation fails with it, as on AWS (and the container goes).
        self._discard(container)
        before, _, during = container.output.take(None)
        result, _ = self._finish(spec, request_id, stream, 0, init_start, before + during, None, [], cold=True,
                                 **outcome)
        return result

    # --- invocations -----------------------------------------------------------------------
    def invoke(self, spec: FunctionSpec, event: Any, chain_depth: int = 0) -> InvokeResult:
        """Run one invocation to completion (or timeout / out-of-memory) and log it; return its result."""
        request_id = str(uuid.uuid4())
        container, generation, stale = self._acquire(spec)
        for old in stale:
            self._discard(old)
        reusable = False
        try:
            with self._lock:
                self.invocations += 1
            if container is None:
                started = self._start(spec, generation, chain_depth, request_id)
                if isinstance(started, InvokeResult):
                    return started
                container = started
            else:
                self.host.set_chain_depth(container.access_key, chain_depth)
            result, reusable = self._run(container, spec, event, request_id)
            return result
        finally:
            self._release(spec, container, reusable)

    def _run(self, container: _Container, spec: FunctionSpec, event: Any, request_id: str) -> tuple[InvokeResult, bool]:
        """Run one invocation in a ready container; return its result and whether the container may be reused."""
        cold = container.invocations == 0
        container.invocations += 1
        init_start = container.init_start if cold else None
        sent = time.monotonic()
        container.send(json.dumps({"request_id": request_id, "event": event}).encode() + b"\n")
        outcome = self._supervise(container, spec, request_id, sent + spec.timeout_s, sent)
        finished = outcome.pop("kind", None) == "done"
        if not finished:
            self._kill(container.proc)
            container.output.thread.join(timeout=OUTPUT_GRACE_S)
        before, start_ms, during = container.output.take(request_id, OUTPUT_GRACE_S if finished else 0.0)
        result, last_ms = self._finish(spec, request_id, container.stream, container.last_log_ms, init_start, before,
                                       start_ms, during, init_ms=container.init_ms if cold else None, cold=cold,
                                       **outcome)
        container.last_log_ms = last_ms
        return result, finished

    def _supervise(self, container: _Container, spec: FunctionSpec, request_id: str | None, deadline: float,
                   since: float) -> dict[str, Any]:
        """Wait for the container's report (init if request_id is None, else that invocation's "done"),
        killing it on timeout or when it outgrows its memory; return the outcome."""
        proc, limit, peak = container.proc, spec.memory_mb * 1024 * 1024, 0
        while True:
            try:
                at, msg = container.messages.get(timeout=MEMORY_POLL_S)
            except queue.Empty:
                at, msg = time.monotonic(), None
            if msg is not None:
                kind = msg.get("kind")
                if request_id is None and kind == "init":
                    return {"kind": "init", "init_ms": msg["init_ms"]}
                if request_id is None and kind == "init_error":
                    return dict(init_ms=msg["init_ms"], status="error", duration_ms=(at - since) * 1000,
                                peak_mb=math.ceil(msg["peak_kb"] / 1024), error=msg["error"],
                                record=msg["record"], payload=None)
                if kind == "done" and msg.get("request_id") == request_id:
                    # Like AWS freezing the environment: threads the handler left behind do not
                    # hold the invocation.
                    return dict(kind="done", status="error" if msg["error"] else "success",
                                duration_ms=msg["duration_ms"], peak_mb=math.ceil(msg["peak_kb"] / 1024),
                                error=msg["error"], record=msg["record"], payload=msg["payload"])
                continue
            now = time.monotonic()
            code = proc.poll()
            if code is not None:
                # Exited without reporting (sys.exit, a crash): drain a report that may be in flight.
                try:
                    at, msg = container.messages.get(timeout=0.2)
                    container.messages.put((at, msg))
                    continue
                except queue.Empty:
                    pass
                reason = f"signal: {_signal_name(-code)}" if code < 0 else f"exit status {code}"
                return self._died(now - since, peak, f"Runtime exited with error: {reason}", "Runtime.ExitError",
                                  status="error")
            rss = _rss_bytes(proc.pid) or 0
            peak = max(peak, rss)
            if rss > limit:
                self._kill(proc)
                return self._died(now - since, limit, "Runtime exited with error: signal: killed",
                                  "Runtime.OutOfMemory", status="out-of-memory")
            if now > deadline:
                self._kill(proc)
                timeout = spec.timeout_s if request_id is not None else INIT_TIMEOUT_S
                return self._died(now - since, peak, f"Task timed out after {timeout:.2f} seconds",
                                  "Sandbox.Timedout", status="timeout")

    @staticmethod
    def _died(seconds: float, peak_bytes: int, message: str, error_type: str, status: str) -> dict[str, Any]:
        return dict(status=status, duration_ms=seconds * 1000, peak_mb=math.ceil(peak_bytes / 2**20),
                    error={"errorMessage": message, "errorType": error_type}, record=None, payload=None)

    def _finish(self, spec: FunctionSpec, request_id: str, stream: str, last_ms: int, init_start: Line | None,
                before: list[Line], start_ms: int | None, during: list[Line], *, init_ms: float | None = None,
                status: str, duration_ms: float, peak_mb: int, error: dict[str, Any] | None, record: str | None,
                payload: str | None, cold: bool) -> tuple[InvokeResult, int]:
        """Frame the output with the runtime's lines (START/END/REPORT, errors) and log it all.

        Returns the result and the stream's last event time (the next invocation logs after it).
        """
        now = _now_ms()
        events = [*([init_start] if init_start else []), *before,
                  (start_ms or now, f"START RequestId: {request_id} Version: {spec.version}"), *during]
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
        # CloudWatch wants a stream's events in time order: the list is in stream order, make times agree.
        ordered, last = [], last_ms
        for ts, message in events:
            last = max(last, ts)
            ordered.append((last, message))
        logs_written = self._write_logs(spec, stream, ordered)
        result_payload = payload if error is None else json.dumps(
            {k: error[k] for k in ("errorMessage", "errorType", "requestId", "stackTrace") if k in error})
        self.recent.append({"function": spec.name, "request_id": request_id, "status": status, "cold": cold,
                            "duration_ms": round(duration_ms, 2), "max_memory_mb": memory,
                            "log_stream": stream, "logs_written": logs_written})
        return InvokeResult(request_id, result_payload or "null", error is not None, status, duration_ms, init_ms,
                            memory, stream, "\n".join(m for _, m in ordered), logs_written, cold), last

    def _write_logs(self, spec: FunctionSpec, stream: str, events: list[Line]) -> bool:
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

    def containers(self) -> dict[str, int]:
        """How many containers are warm (idle) and busy, over all functions."""
        with self._lock:
            idle = sum(len(pool.idle) for pool in self._pools.values())
            return {"warm": idle, "busy": len(self._containers) - idle, "cold_starts": self.cold_starts}

    def kill_all(self) -> None:
        """Refuse new invocations and kill every container (the sandbox is stopping)."""
        self._stopping.set()
        with self._lock:
            self._closed = True
            containers = list(self._containers)
            for pool in self._pools.values():
                pool.idle = []
                pool.cond.notify_all()
        for container in containers:
            self._discard(container)
        self._reaper.join(timeout=5)


def _signal_name(signum: int) -> str:
    import signal

    names = {signal.SIGKILL: "killed", signal.SIGSEGV: "segmentation fault", signal.SIGABRT: "aborted",
             signal.SIGTERM: "terminated", signal.SIGBUS: "bus error"}
    return names.get(signum, f"signal {signum}")


# --- the plug-in -------------------------------------------------------------------------------

def _env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    try:
        return float(value) if value else default
    except ValueError:
        log.warning("%s=%r is not a number: using %s", name, value, default)
        return default


@dataclass
class LambdaCompute:
    """The sandbox's Lambda: functions run for real on Invoke and on S3 object-created events.

    `concurrency` (containers per function) and `idle_s` (how long an idle container stays warm)
    default to MLOPS_LAB_LAMBDA_CONCURRENCY / MLOPS_LAB_LAMBDA_IDLE_S, else the CPU count and 300 s.
    """

    async_workers: int = DEFAULT_ASYNC_WORKERS
    max_chain_depth: int = MAX_CHAIN_DEPTH
    concurrency: int | None = None
    idle_s: float | None = None
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
        concurrency = self.concurrency or int(_env_number(CONCURRENCY_ENV, DEFAULT_CONCURRENCY))
        idle_s = self.idle_s if self.idle_s is not None else _env_number(IDLE_ENV, DEFAULT_IDLE_S)
        self.runtime = LambdaRuntime(host, sandbox.url, self._work_dir, concurrency=concurrency, idle_s=idle_s)
        self._pool = ThreadPoolExecutor(max_workers=self.async_workers, thread_name_prefix="lambda-async")
        moto_hooks.install_lambda(sandbox.patches, host, self.runtime.invoke, self.submit, self.max_chain_depth)
        moto_hooks.install_lambda_lifecycle(sandbox.patches, self.runtime.retire, self.runtime.retire_all)
        moto_hooks.install_lambda_limits(sandbox.patches)
        # An S3 fix, installed here because it is what runs a function twice per multipart upload.
        moto_hooks.install_single_multipart_event(sandbox.patches)
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
        """Counts, containers and the latest invocations (newest last), for the health route."""
        runtime = self.runtime
        return {"invocations": runtime.invocations if runtime else 0, "pending_async": self._pending,
                "failed_async": self._failures, "recent": list(runtime.recent) if runtime else [],
                "containers": runtime.containers() if runtime else {},
                "concurrency": runtime.concurrency if runtime else None,
                "idle_s": runtime.idle_s if runtime else None}
