"""EC2 compute for the sandbox: the lab's instance really serves the income API.

moto records instances but runs nothing. For an instance whose user data names an app bundle
(a `BUNDLE_URL='…'` line, as exercise 4's start-up script has), this compute does what the
script would do on Ubuntu, with the local interpreter in place of Docker:

- boot: download the bundle from the sandbox's own S3 (the presigned URL), unpack it, then run
  `python -m uvicorn app:app --host 127.0.0.1 --port <private port>` in it with MODEL_PATH set;
  the app's output goes to the instance's console output (ec2 get_console_output).
- address: each instance gets its own local "public" address, a small TCP proxy on 127.0.0.1
  published as `compute.ec2.instances.<id>.address` on the sandbox's health route
  (`get_sandbox_info(url).compute["ec2"]`), where clients resolve it.
- security group: on every new connection the proxy reads the instance's state and security
  groups from moto; unless the instance runs and a group allows TCP <port> (8000 as the user data
  maps it) from the client's address (127.0.0.1), the connection is reset: refused. As on AWS
  (connection tracking), a connection already open is not cut when a rule is revoked.
- stop/terminate end the process (start runs it again from the unpacked bundle, like a disk that
  survives a stop); a crashed app is restarted with Docker's backoff (`--restart unless-stopped`),
  each crash written to the console output; the sandbox itself never goes down with it.

It also makes the AMI lookup answer: Canonical's SSM public parameters for Ubuntu 24.04 (and the
end-of-life 20.04, to teach with) resolve to AMIs registered in every region's image list.

moto is patched for this in moto_hooks.py (install_ec2_instances, install_ubuntu_amis) and read
through moto_views.MotoEc2; this module imports nothing of moto.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import children, moto_hooks
from .moto_views import MotoEc2

if TYPE_CHECKING:
    from .moto_hooks import Patches
    from .plugin import SandboxView

log = logging.getLogger(__name__)

CANONICAL_OWNER = "099720109477"
PARAMETER_PREFIX = "/aws/service/canonical/ubuntu/server/"
# SSM parameter -> (AMI id, image name) the sandbox answers with, in every region.
SANDBOX_UBUNTU: dict[str, tuple[str, str]] = {
    PARAMETER_PREFIX + "24.04/stable/current/amd64/hvm/ebs-gp3/ami-id":
        ("ami-0a2404b0c0d0e0f10", "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250610"),
    PARAMETER_PREFIX + "20.04/stable/current/amd64/hvm/ebs-gp2/ami-id":
        ("ami-0a2004b0c0d0e0f10", "ubuntu/images/hvm-ssd/ubuntu-focal-20.04-amd64-server-20250508"),
}
BUNDLE_URL_RE = re.compile(r"^BUNDLE_URL=['\"]?([^'\"\s]+)['\"]?\s*$", re.MULTILINE)
PORT_MAP_RE = re.compile(r"docker run .*?-p\s+(\d+):(\d+)")
DEFAULT_PORT = 8000
CONSOLE_LINES = 2000  # AWS keeps the last 64 KB of console output; lines are close enough
FETCH_TIMEOUT_S = 30.0
STOP_GRACE_S = 5.0
# Docker's restart policy backs off 100 ms, doubling, up to a minute; the sandbox starts at one
# second (an app start costs a second of CPU on a shared laptop) with the same ceiling.
RESTART_BACKOFF_S = (1.0, 60.0)
RUNNING_FOR_RESET_S = 10.0  # Docker resets the backoff once a container ran this long


def parse_user_data(text: str) -> tuple[str, int] | None:
    """Return (bundle URL, instance port) if the user data is the lab's app script, else None."""
    match = BUNDLE_URL_RE.search(text)
    if match is None:
        return None
    port = PORT_MAP_RE.search(text)
    return match.group(1), int(port.group(1)) if port else DEFAULT_PORT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _reset(conn: socket.socket) -> None:
    """Close with a TCP reset: the client sees the connection refused/reset, as from a closed port."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    conn.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# --- one instance ------------------------------------------------------------------------------

@dataclass
class AppInstance:
    """The app an instance runs: its bundle folder, process, proxy (its address) and console."""

    instance_id: str
    account_id: str
    region: str
    bundle_url: str
    port: int  # the instance port the user data maps (8000)
    folder: Path
    ec2: MotoEc2
    allowed_hosts: tuple[str, ...]
    status: str = "booting"  # booting | running | crashed | failed | stopped | terminated
    restarts: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    private_port: int | None = None
    console: deque[str] = field(default_factory=lambda: deque(maxlen=CONSOLE_LINES), repr=False)
    _want_running: bool = True
    _booted: bool = False
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _wake: threading.Event = field(default_factory=threading.Event, repr=False)
    _listener: socket.socket | None = field(default=None, repr=False)
    _started_at: float = 0.0

    # -- console --
    def say(self, line: str) -> None:
        self.console.append(f"[{time.strftime('%H:%M:%S')}] {line}")

    def console_text(self) -> str:
        return "\n".join(self.console) + "\n"

    # -- address --
    @property
    def address(self) -> str | None:
        if self._listener is None or self.status == "terminated":
            return None
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def open_proxy(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, name=f"ec2-proxy-{self.instance_id}", daemon=True).start()

    def _accept(self) -> None:
        listener = self._listener
        while listener is not None:
            try:
                conn, (client_ip, _) = listener.accept()
            except OSError:
                return  # closed: terminated or the sandbox stops
            threading.Thread(target=self._serve, args=(conn, client_ip), daemon=True).start()

    def _serve(self, conn: socket.socket, client_ip: str) -> None:
        try:
            self._forward(conn, client_ip)
        except Exception:  # never leave a client hanging on a half-open connection
            log.exception("sandbox EC2 proxy of %s failed", self.instance_id)
            _reset(conn)

    def _forward(self, conn: socket.socket, client_ip: str) -> None:
        # Checked per connection, as AWS evaluates security groups for each new flow.
        if not self.ec2.allows(self.account_id, self.region, self.instance_id, self.port, client_ip):
            _reset(conn)
            return
        private = self.private_port
        if private is None or self.status != "running":
            _reset(conn)  # nothing listens on the port yet (booting) or any more (crashed)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", private), timeout=2)
        except OSError:
            _reset(conn)
            return
        upstream.settimeout(None)
        threading.Thread(target=_pump, args=(conn, upstream), daemon=True).start()
        _pump(upstream, conn)

    # -- lifecycle --
    def boot(self) -> None:
        """Do what the user data does (fetch, unpack, build, run), then supervise until terminated."""
        self.say(f"cloud-init: running the user data of {self.instance_id} (sandbox: no Docker, the local Python)")
        try:
            self._fetch_bundle()
        except Exception as exc:  # reported where a student looks: the console output
            self.say(f"curl: failed to fetch the bundle: {exc}")
            self.say("cloud-init: the user data script failed; the app is not started")
            with self._lock:
                self.status = "failed"
            return
        self._booted = True
        self._supervise()

    def _fetch_bundle(self) -> None:
        parsed = urllib.parse.urlsplit(self.bundle_url)
        if parsed.netloc not in self.allowed_hosts:
            raise OSError(f"could not resolve host {parsed.netloc} (the sandbox reaches only itself)")
        self.folder.mkdir(parents=True, exist_ok=True)
        archive = self.folder.parent / f"{self.instance_id}.tar.gz"
        self.say("curl -fsSL \"$BUNDLE_URL\" -o bundle.tar.gz")
        with urllib.request.urlopen(self.bundle_url, timeout=FETCH_TIMEOUT_S) as resp, open(archive, "wb") as out:
            shutil.copyfileobj(resp, out)
        self.say(f"tar -xzf bundle.tar.gz ({archive.stat().st_size:,} bytes)")
        with tarfile.open(archive) as tar:
            tar.extractall(self.folder, filter="data")  # no absolute paths, no "..", no devices
        archive.unlink()
        files = sorted(p.name for p in self.folder.iterdir())
        self.say(f"bundle: {', '.join(files)}")
        if not (self.folder / "app.py").is_file():
            raise OSError("the bundle has no app.py")
        self.say("docker build -t income-api . (sandbox: the local interpreter stands in for the image)")

    def _spawn(self) -> None:
        self.private_port = _free_port()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.folder), "LANG": "C.UTF-8",
               "PYTHONUNBUFFERED": "1", "MODEL_PATH": str(self.folder / "model.onnx"), "OMP_NUM_THREADS": "1"}
        self.say(f"docker run -d --restart unless-stopped -p {self.port}:{self.port} income-api "
                 f"(sandbox: uvicorn on 127.0.0.1:{self.private_port})")
        self.process = children.spawn(
            [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(self.private_port)],
            cwd=self.folder, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._started_at = time.monotonic()
        self.status = "running"
        threading.Thread(target=self._read_output, args=(self.process,), daemon=True).start()

    def _read_output(self, proc: subprocess.Popen[bytes]) -> None:
        for raw in iter(proc.stdout.readline, b""):  # type: ignore[union-attr]
            self.say(raw.decode("utf-8", errors="replace").rstrip())

    def _supervise(self) -> None:
        backoff = RESTART_BACKOFF_S[0]
        while True:
            with self._lock:
                if self.status == "terminated":
                    return
                if self._want_running and self.process is None:
                    self._spawn()
                proc = self.process
            if proc is None:
                self._wake.wait(1.0)
                self._wake.clear()
                self._forget_if_gone()
                continue
            try:
                code = proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                self._forget_if_gone()
                continue
            with self._lock:
                if self.process is not proc:  # stopped on purpose: stop() already cleared it
                    continue
                self.process = None
                ran = time.monotonic() - self._started_at
                if ran > RUNNING_FOR_RESET_S:
                    backoff = RESTART_BACKOFF_S[0]
                self.status = "crashed"
                self.restarts += 1
                self.say(f"[sandbox] container income-api exited with code {code}; restarting in {backoff:.0f} s "
                         "(--restart unless-stopped)")
            if self._wake.wait(backoff):
                self._wake.clear()
            backoff = min(backoff * 2, RESTART_BACKOFF_S[1])

    def _forget_if_gone(self) -> None:
        """A sandbox reset wipes the instance from moto: its app must not outlive it."""
        if self.ec2.state(self.account_id, self.region, self.instance_id) in (None, "terminated"):
            self.terminate()

    def _kill(self) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=STOP_GRACE_S)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        except PermissionError:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        with self._lock:
            self._want_running = False
            if self.status != "terminated":
                self.status = "stopped" if self._booted else self.status
            if self.process is not None:
                self.say("[sandbox] instance stopping: docker stops income-api")
            self._kill()
        self._wake.set()

    def start(self) -> None:
        with self._lock:
            if self.status == "terminated":
                return
            self._want_running = True
            if self._booted:
                self.say("[sandbox] instance started: dockerd starts income-api again (restart policy)")
                self.status = "running"
        self._wake.set()

    def terminate(self) -> None:
        with self._lock:
            if self.status == "terminated":
                return
            self._want_running = False
            self._kill()
            self.status = "terminated"
            self.say("[sandbox] instance terminated")
            listener, self._listener = self._listener, None
        if listener is not None:
            try:  # wakes the accept() blocked in the proxy thread (close alone does not, on Linux)
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        self._wake.set()
        shutil.rmtree(self.folder, ignore_errors=True)

    def info(self) -> dict[str, Any]:
        return {"address": self.address, "status": self.status, "restarts": self.restarts, "port": self.port}


# --- the plug-in -------------------------------------------------------------------------------

@dataclass
class Ec2Compute:
    """The sandbox's EC2: the lab's instance runs the app from its bundle, behind its security group."""

    name: str = "ec2"
    _apps: dict[str, AppInstance] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _work_dir: Path | None = field(default=None, init=False, repr=False)
    _allowed_hosts: tuple[str, ...] = field(default=(), init=False, repr=False)
    ec2: MotoEc2 = field(default_factory=MotoEc2, init=False, repr=False)

    def start(self, sandbox: SandboxView) -> None:
        self._work_dir = children.temp_dir("mlops-lab-ec2-")
        self._allowed_hosts = (f"{sandbox.host}:{sandbox.port}", f"localhost:{sandbox.port}")
        install_ubuntu_amis(sandbox.patches)
        moto_hooks.install_ec2_instances(sandbox.patches, self)

    def stop(self) -> None:
        with self._lock:
            apps, self._apps = list(self._apps.values()), {}
        for app in apps:
            app.terminate()
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None

    def info(self) -> dict[str, Any]:
        with self._lock:
            return {"instances": {iid: app.info() for iid, app in self._apps.items()}}

    def app(self, instance_id: str) -> AppInstance | None:
        with self._lock:
            return self._apps.get(instance_id)

    def console_text(self, instance_id: str) -> str | None:
        """The console output of an instance that runs the app; None for others (moto answers)."""
        app = self.app(instance_id)
        return None if app is None else app.console_text()

    # called by moto_hooks, inside moto's request handling: quick, the boot runs on its own thread
    def launched(self, account_id: str, region: str, instance_id: str, user_data: str) -> None:
        parsed = parse_user_data(user_data)
        if parsed is None or self._work_dir is None:
            return
        url, port = parsed
        app = AppInstance(instance_id, account_id, region, url, port, self._work_dir / instance_id, self.ec2,
                          self._allowed_hosts)
        app.open_proxy()
        with self._lock:
            self._apps[instance_id] = app
        threading.Thread(target=app.boot, name=f"ec2-boot-{instance_id}", daemon=True).start()

    def state_changed(self, instance_id: str, state: str) -> None:
        app = self.app(instance_id)
        if app is None:
            return
        if state == "running":
            app.start()
        elif state == "stopped":
            app.stop()
        elif state == "terminated":
            app.terminate()


def install_ubuntu_amis(patches: Patches) -> None:
    """Make Canonical's Ubuntu SSM parameters (SANDBOX_UBUNTU) answer, with matching images (via moto_hooks)."""
    moto_hooks.install_ubuntu_amis(patches, SANDBOX_UBUNTU, CANONICAL_OWNER, PARAMETER_PREFIX)
