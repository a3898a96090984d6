"""Start the sandbox as a background process for the dashboard (when `make run` did not)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from .config import COURSE_BUCKET, PROJECT_ROOT
from .errors import LabError
from .i18n import _
from .lab import Progress, no_progress
from .logconfig import SANDBOX_LOG
from .sandbox import sandbox_is_running

LOG_FILE = SANDBOX_LOG  # the same file scripts/run.sh writes: the sandbox's stdout and stderr, with -v


def start_sandbox_process(url: str, on_progress: Progress = no_progress, timeout: float = 600.0,
                          sleep: Callable[[float], None] = time.sleep) -> bool:
    """Start `python -m backend sandbox` for url unless it already answers; return True if it started one.

    The first start may build the course artifacts (a minute or two), so the budget is generous.
    """
    if sandbox_is_running(url):
        return False
    parsed = urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost"):
        raise LabError(_("Only a local sandbox can be started from here, not {url}.").format(url=url), "NotLocal")
    LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(LOG_FILE, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "backend", "sandbox", "-v", "--port", str(parsed.port or 4566)],
                                cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    on_progress(_("Starting the sandbox (log: {log})…").format(log=LOG_FILE))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(_("The sandbox stopped at start (exit {code}); see {log}.")
                           .format(code=proc.returncode, log=LOG_FILE), "SandboxFailed")
        if sandbox_is_running(url):
            on_progress(_("Sandbox ready at {url}.").format(url=url))
            return True
        sleep(0.5)
    raise LabError(_("The sandbox did not answer within {seconds} s; see {log}.")
                   .format(seconds=round(timeout), log=LOG_FILE), "SandboxTimeout")


def read_log_tail(lines: int = 20) -> str:
    """Return the last lines of the sandbox log (for showing why a start failed)."""
    path = Path(LOG_FILE)
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def reset_sandbox(target, course_dir: Path, on_progress: Progress = no_progress) -> dict:
    """Forget everything in the running sandbox (moto's reset, signed like any request) and seed the course bucket again."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    import urllib.request

    from .aws import Aws
    from .course import publish_course

    if not target.is_sandbox:
        raise LabError(_("sandbox-reset wipes the sandbox; it never runs against a real account."), "NotSandbox")
    url = f"{target.endpoint_url}/moto-api/reset"
    request = AWSRequest("POST", url, data=b"")
    SigV4Auth(Aws(target).session.get_credentials(), "moto", target.region).add_auth(request)
    on_progress(_("Wiping the sandbox's state…"))
    with urllib.request.urlopen(urllib.request.Request(url, method="POST", data=b"", headers=dict(request.headers)),
                                timeout=30):
        pass
    on_progress(_("Seeding the course bucket again…"))
    return publish_course(target, COURSE_BUCKET, course_dir, on_progress)
