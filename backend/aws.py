"""The session and client factory: the only module that knows sandbox from real AWS.

Sandbox and real AWS differ only here: the sandbox gets an endpoint URL and the sandbox's own keys,
real AWS gets a profile from the standard credential chain and ignores any configured endpoint, so
the choice is always explicit, never a fallback.

The sandbox's keys are a per-install secret, not moto's public "testing" keys: the sandbox runs code
as the student, so it answers only requests signed with them (backend/sandbox/guard.py). They are
made on first use in `sandbox_credentials_path()` (mode 0600) and read from there by every client
and by the sandbox itself.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import shlex
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3
from botocore.config import Config

from .config import DEFAULT_REGION, DEFAULT_SANDBOX_ENDPOINT, sandbox_credentials_path
from .errors import LabError

log = logging.getLogger(__name__)

# AWS access key ids are 20 characters of base32 ("AKIA" for long-term keys).
_KEY_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_credentials_lock = threading.Lock()
_credentials_cache: dict[Path, tuple[tuple[int, int], dict[str, str]]] = {}


def sandbox_credentials(create: bool = True) -> dict[str, str] | None:
    """Return the sandbox's keys {"aws_access_key_id", "aws_secret_access_key"}, made on first use.

    With create=False, None if they were never made. Cached while the file is unchanged.
    """
    path = sandbox_credentials_path()
    with _credentials_lock:
        try:
            stat = path.stat()
        except FileNotFoundError:
            if not create:
                return None
            _create_credentials(path)
            stat = path.stat()
        cached = _credentials_cache.get(path)
        if cached is not None and cached[0] == (stat.st_ino, stat.st_mtime_ns):
            return dict(cached[1])
        keys = _read_credentials(path, stat.st_mode)
        _credentials_cache[path] = ((stat.st_ino, stat.st_mtime_ns), keys)
        return dict(keys)


def _create_credentials(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = {"aws_access_key_id": "AKIA" + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16)),
            "aws_secret_access_key": secrets.token_urlsafe(30)}
    # mkstemp makes the file 0600; it is complete (fsync) before it gets its name.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(keys, out)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)  # create-if-absent: when two processes start at once, one key wins
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            if not path.exists():
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log.info("created the sandbox's keys in %s", path)


def _read_credentials(path: Path, mode: int) -> dict[str, str]:
    if mode & 0o077:
        os.chmod(path, 0o600)  # a copy made with default permissions: the keys are the student's secret
        log.warning("%s was readable by others; made it private (0600)", path)
    try:
        data = json.loads(path.read_text())
        keys = {k: str(data[k]) for k in ("aws_access_key_id", "aws_secret_access_key")}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LabError(f"The sandbox's key file {path} is damaged ({exc}): delete it and restart the sandbox; "
                       "new keys are made on the next start.", "SandboxKeysDamaged") from exc
    if not all(keys.values()):
        raise LabError(f"The sandbox's key file {path} is damaged: delete it and restart the sandbox.",
                       "SandboxKeysDamaged")
    return keys


@dataclass(frozen=True)
class Target:
    """Where the lab runs: the embedded sandbox or a real AWS account (profile + region)."""

    kind: Literal["sandbox", "aws"] = "sandbox"
    region: str = DEFAULT_REGION
    profile: str | None = None
    endpoint_url: str | None = None

    @classmethod
    def sandbox(cls, region: str = DEFAULT_REGION, endpoint_url: str | None = None) -> "Target":
        """Return the sandbox target at endpoint_url, else $AWS_ENDPOINT_URL, else 127.0.0.1:4566."""
        url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_SANDBOX_ENDPOINT
        return cls("sandbox", region, None, url.rstrip("/"))

    @classmethod
    def aws(cls, profile: str | None = None, region: str | None = None) -> "Target":
        """Return a real-account target; region from the argument, the profile, or the default."""
        if region is None:
            region = boto3.Session(profile_name=profile).region_name or DEFAULT_REGION
        return cls("aws", region, profile or None, None)

    @property
    def is_sandbox(self) -> bool:
        return self.kind == "sandbox"

    def describe(self) -> str:
        """Return a one-line description for headers and logs (never credentials)."""
        if self.is_sandbox:
            return f"sandbox at {self.endpoint_url} ({self.region})"
        return f"AWS profile {self.profile or 'default'} ({self.region})"


@dataclass
class Aws:
    """boto3 facade for one target: lazily created, cached clients (thread-safe)."""

    target: Target
    _session: boto3.Session | None = field(default=None, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def session(self) -> boto3.Session:
        if self._session is None:
            if self.target.is_sandbox:
                self._session = boto3.Session(region_name=self.target.region, **sandbox_credentials())
            else:
                self._session = boto3.Session(profile_name=self.target.profile, region_name=self.target.region)
        return self._session

    @property
    def region(self) -> str:
        return self.target.region

    def client(self, service: str, region: str | None = None) -> Any:
        """Return the cached boto3 client for a service (optionally in another region)."""
        key = f"{service}@{region or self.region}"
        with self._lock:
            if key not in self._clients:
                if self.target.is_sandbox:
                    config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=3)
                    self._clients[key] = self.session.client(
                        service, region_name=region or self.region, endpoint_url=self.target.endpoint_url,
                        config=config)
                else:
                    config = Config(retries={"max_attempts": 5, "mode": "standard"},
                                    ignore_configured_endpoint_urls=True)
                    self._clients[key] = self.session.client(service, region_name=region or self.region,
                                                             config=config)
            return self._clients[key]

    def account_id(self) -> str:
        """Return the account id of the current credentials (sts:GetCallerIdentity)."""
        return self.client("sts").get_caller_identity()["Account"]

    def client_env(self) -> dict[str, str]:
        """Return environment variables that point a child process (aws CLI, a script) at this target."""
        env = {"AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region}
        if self.target.is_sandbox:
            keys = sandbox_credentials()
            env.update({"AWS_ENDPOINT_URL": self.target.endpoint_url or "",
                        "AWS_ACCESS_KEY_ID": keys["aws_access_key_id"],
                        "AWS_SECRET_ACCESS_KEY": keys["aws_secret_access_key"]})
        elif self.target.profile:
            env["AWS_PROFILE"] = self.target.profile
        return env

    def shell_exports(self) -> str:
        """Return the `export …` line that points a shell (AWS CLI, scripts) at this target.

        For the sandbox it holds the sandbox's own local key; it never holds real AWS credentials.
        """
        env = self.client_env()
        order = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_DEFAULT_REGION")
        return "export " + " ".join(f"{name}={shlex.quote(env[name])}" for name in order if name in env)


def list_profiles() -> list[str]:
    """Return the named profiles of the standard AWS config and credentials files."""
    return sorted(boto3.Session().available_profiles)
