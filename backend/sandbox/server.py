"""The sandbox's lifecycle: moto's server on 127.0.0.1, the course bucket seeded, compute plugged in.

One Sandbox runs per process: moto's backends and the hooks that add compute are process-global.
Clients reach it like AWS, through `AWS_ENDPOINT_URL` (see backend/aws.py); `get_sandbox_info()`
tells a running sandbox of this project from any other server on the port.
"""
from __future__ import annotations

import json
import logging
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import moto

from ..aws import sandbox_credentials
from ..config import COURSE_BUCKET, COURSE_DIR, COURSE_FILES, DEFAULT_REGION, DEFAULT_SANDBOX_PORT
from ..errors import LabError
from . import children, moto_hooks
from .guard import Guard
from .plugin import Compute

log = logging.getLogger(__name__)

SANDBOX_HOST = "127.0.0.1"  # never 0.0.0.0: loopback only, even though every request must be signed
SANDBOX_ID = "mlops-lab-sandbox"
HEALTH_PATH = "/_lab/health"
COURSE_TAGS = {"lab:course": "mlops-aws"}
# The sandbox runs Lambda with the local interpreter, so its course layer is the local build;
# layer_file.zip beside it targets python3.12 manylinux for real AWS.
LOCAL_LAYER_FILE = "layer_file.local.zip"


@dataclass(frozen=True)
class SeedResult:
    """What seeding the course bucket did: the keys uploaded and the course files not found."""

    bucket: str
    seeded: tuple[str, ...]
    missing: tuple[str, ...]


@dataclass(frozen=True)
class SandboxInfo:
    """What a running sandbox says about itself on its health route."""

    url: str
    moto_version: str
    course_bucket: str
    missing_course_files: tuple[str, ...]
    compute: dict[str, Any] = field(default_factory=dict)


class SandboxError(LabError):
    """The sandbox cannot start (port taken, another sandbox in this process, moto mismatch)."""


def course_sources(course_dir: Path) -> dict[str, Path]:
    """Return course bucket key -> local file for the course files that exist in course_dir."""
    sources: dict[str, Path] = {}
    for key in COURSE_FILES:
        path = course_dir / key
        if key == "layer_file.zip" and (course_dir / LOCAL_LAYER_FILE).is_file():
            path = course_dir / LOCAL_LAYER_FILE
        if path.is_file():
            sources[key] = path
    return sources


_running_lock = threading.Lock()
_running: Sandbox | None = None


class Sandbox:
    """moto's server on 127.0.0.1 with the course bucket seeded and compute plugged in.

    `Sandbox(port=0)` picks a free port. `compute=None` plugs in the default compute
    (`default_compute()`); pass `()` for plain moto.
    """

    def __init__(self, port: int = DEFAULT_SANDBOX_PORT, *, course_dir: Path | str | None = None,
                 compute: Sequence[Compute] | None = None, region: str = DEFAULT_REGION,
                 log_requests: bool = False) -> None:
        self.requested_port = port
        self.course_dir = Path(course_dir) if course_dir is not None else COURSE_DIR
        self.region = region
        self.log_requests = log_requests
        self._compute: list[Compute] = list(default_compute() if compute is None else compute)
        self._server: moto_hooks.MotoWsgiServer | None = None
        # moto hooks applied by start() and by compute; all undone by stop().
        self.patches = moto_hooks.Patches()
        self._started: list[Compute] = []
        self._host_port: tuple[str, int] | None = None
        self.seed: SeedResult | None = None
        self.startup_seconds: float | None = None
        self.startup_phases: dict[str, float] = {}
        self._ready = False
        self._credentials: dict[str, str] | None = None  # the sandbox's own keys, read at start
        self._known_keys: dict[str, str] = {}  # every own key read from the key file since start

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Start the server, plug in compute, seed the course bucket; return once S3 answers."""
        global _running
        moto_hooks.check_moto_version()
        children.clean_leftovers()  # what a sandbox killed before this one left: processes, temp folders
        t0 = time.perf_counter()
        with _running_lock:
            if _running is not None:
                raise SandboxError(f"A sandbox already runs in this process at {_running.url}.",
                                   "SandboxAlreadyRunning")
            _running = self
        try:
            if not self.log_requests:
                logging.getLogger("werkzeug").setLevel(logging.WARNING)
            moto_hooks.enable_aws_managed_policies(self.patches)
            self._credentials = sandbox_credentials()
            self._known_keys = {self._credentials["aws_access_key_id"]: self._credentials["aws_secret_access_key"]}
            # Only signed requests from this machine's own names get through (guard.py); the
            # health route needs no signature.
            guard = Guard.wrapping(own_key=self._own_key, issued_key=moto_hooks.issued_key,
                                   open_paths={HEALTH_PATH})
            server = moto_hooks.MotoWsgiServer(SANDBOX_HOST, self.requested_port, {HEALTH_PATH: self._health},
                                               wrap=guard)
            try:
                self._host_port = server.start()
            except OSError as exc:
                raise SandboxError(
                    f"Cannot start the sandbox on {SANDBOX_HOST}:{self.requested_port} ({exc.strerror or exc}): "
                    f"is another sandbox running? Stop it or choose another port with --port.",
                    "SandboxPortInUse") from exc
            self._server = server
            # moto's state is process-global: a sandbox starts empty even after another one
            # (or a mock_aws test) ran in this process.
            self._post("/moto-api/reset")
            t1 = time.perf_counter()
            for compute in self._compute:
                compute.start(self)
                self._started.append(compute)
            t2 = time.perf_counter()
            self.seed = self.seed_course()
        except BaseException:
            self.stop()
            raise
        t3 = time.perf_counter()
        self.startup_phases = {"server": t1 - t0, "compute": t2 - t1, "seed": t3 - t2}
        self.startup_seconds = t3 - t0
        self._ready = True  # from here on the health route says ready
        log.info("sandbox ready at %s in %.2f s", self.url, self.startup_seconds)
        return self

    def stop(self) -> None:
        """Stop compute (reverse order), then the server; undo every moto hook. Safe to repeat."""
        global _running
        self._ready = False
        while self._started:
            compute = self._started.pop()
            try:
                compute.stop()
            except Exception:
                log.exception("stopping sandbox compute %s failed", compute.name)
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.patches.undo()
        with _running_lock:
            if _running is self:
                _running = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- where it is -------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return SANDBOX_HOST

    @property
    def port(self) -> int:
        """The bound port (the free one picked when constructed with port=0)."""
        if self._host_port is None:
            raise SandboxError("The sandbox is not started.", "SandboxNotStarted")
        return self._host_port[1]

    @property
    def url(self) -> str:
        """The endpoint URL clients use, e.g. http://127.0.0.1:4566."""
        return f"http://{SANDBOX_HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def compute(self, name: str) -> Compute | None:
        """Return the plugged-in compute of that name, or None."""
        return next((c for c in self._compute if c.name == name), None)

    def client(self, service: str, region: str | None = None) -> Any:
        """Return a boto3 client for this sandbox with the sandbox's own keys."""
        import boto3

        return boto3.client(service, region_name=region or self.region, endpoint_url=self.url,
                            **(self._credentials or sandbox_credentials()))

    def _own_key(self, key_id: str) -> str | None:
        """The secret of key_id if it is the sandbox's own: read at start, or from the key file since.

        An unknown key id makes the guard re-read the file (cached by its identity), so clients and
        sandbox agree even when it is made again while the sandbox runs, or in tests that give each
        test its own data folder; a key read once stays valid until the sandbox stops.
        """
        secret = self._known_keys.get(key_id)
        if secret is None:
            try:
                current = sandbox_credentials(create=False)
            except LabError:  # damaged since start: the keys read before still hold
                return None
            if current is None or current["aws_access_key_id"] != key_id:
                return None
            secret = self._known_keys[key_id] = current["aws_secret_access_key"]
        return secret

    # --- state -------------------------------------------------------------------------------
    def seed_course(self) -> SeedResult:
        """Create and tag the course bucket and upload the course files that exist; log the missing."""
        s3 = self.client("s3")
        try:
            s3.create_bucket(Bucket=COURSE_BUCKET,
                             CreateBucketConfiguration={"LocationConstraint": self.region})
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        s3.put_bucket_tagging(Bucket=COURSE_BUCKET, Tagging={
            "TagSet": [{"Key": k, "Value": v} for k, v in COURSE_TAGS.items()]})
        sources = course_sources(self.course_dir)
        for key, path in sources.items():
            # put_object, not upload_file: one request, no multipart, is fastest against moto.
            s3.put_object(Bucket=COURSE_BUCKET, Key=key, Body=path.read_bytes())
        missing = tuple(k for k in COURSE_FILES if k not in sources)
        if missing:
            log.warning("course files missing from %s (build them with `python -m backend course build`): %s",
                        self.course_dir, ", ".join(missing))
        return SeedResult(COURSE_BUCKET, tuple(sources), missing)

    def reset(self) -> SeedResult:
        """Wipe all sandbox state (moto's /moto-api/reset) and seed the course bucket again."""
        self._post("/moto-api/reset")
        self.seed = self.seed_course()
        return self.seed

    def _post(self, path: str) -> None:
        # Signed like any client's request: the guard lets nothing unsigned reach /moto-api/.
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        creds = self._credentials or sandbox_credentials()
        signed = AWSRequest("POST", f"{self.url}{path}", data=b"")
        SigV4Auth(Credentials(creds["aws_access_key_id"], creds["aws_secret_access_key"]), "moto",
                  self.region).add_auth(signed)
        req = urllib.request.Request(f"{self.url}{path}", method="POST", data=b"", headers=dict(signed.headers))
        with urllib.request.urlopen(req, timeout=10):
            pass

    def _health(self, environ: dict[str, Any]) -> tuple[int, Any]:
        if not self._ready:  # the server answers before compute and the course bucket are ready
            return 503, {"sandbox": SANDBOX_ID, "ready": False}
        compute = {}
        for c in self._started:
            try:
                compute[c.name] = c.info()
            except Exception as exc:  # noqa: BLE001 - the health route reports, never fails
                compute[c.name] = {"error": str(exc)}
        return 200, {
            "sandbox": SANDBOX_ID,
            "ready": True,
            "moto_version": moto.__version__,
            "course_bucket": COURSE_BUCKET,
            "missing_course_files": list(self.seed.missing) if self.seed else [],
            "compute": compute,
        }


def default_compute() -> list[Compute]:
    """Return the compute a sandbox runs by default (Lambda; EC2 and SageMaker plug in here too)."""
    from .ec2_compute import Ec2Compute
    from .lambda_runtime import LambdaCompute
    from .sagemaker_compute import SageMakerCompute

    return [LambdaCompute(), SageMakerCompute(), Ec2Compute()]


def get_sandbox_info(url: str, timeout: float = 2.0) -> SandboxInfo | None:
    """Return what the sandbox at url says about itself; None if nothing answers, or not ours, or not ready."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + HEALTH_PATH, timeout=timeout) as resp:
            body = json.loads(resp.read())
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("sandbox") != SANDBOX_ID:
        return None
    return SandboxInfo(url.rstrip("/"), body.get("moto_version", ""), body.get("course_bucket", ""),
                       tuple(body.get("missing_course_files", ())), body.get("compute", {}))


def sandbox_is_running(url: str, timeout: float = 2.0) -> bool:
    """Return True if this project's sandbox answers at url and is ready (course bucket seeded)."""
    return get_sandbox_info(url, timeout) is not None


def serve_forever(port: int = DEFAULT_SANDBOX_PORT, course_dir: Path | str | None = None,
                  on_ready: Callable[[str], None] = lambda _url: None, *,
                  compute: Sequence[Compute] | None = None, log_requests: bool = False) -> None:
    """Run the sandbox until SIGINT, SIGTERM or SIGHUP, then stop it cleanly; on_ready(url) once it answers.

    Raises SandboxError if it cannot start (e.g. the port is taken).
    """
    stop = threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: its terminal closed
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        with Sandbox(port, course_dir=course_dir, compute=compute, log_requests=log_requests) as sandbox:
            on_ready(sandbox.url)
            while not stop.wait(0.5):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
