"""The session and client factory: the only module that knows sandbox from real AWS.

Sandbox and real AWS differ only here: the sandbox gets an endpoint URL and the sandbox's own keys,
real AWS gets a profile from the standard credential chain and ignores any configured endpoint, so
the choice is always explicit, never a fallback.

The sandbox's keys are a per-install secret, not moto's public "testing" keys: the sandbox runs code
as the student, so it answers only requests signed with them (backend/sandbox/guard.py). They are
made on first use in `sandbox_credentials_path()` (mode 0600) and read from there by every client
and by the sandbox itself.

Credentials that expire (AWS Academy learner labs hand out session keys that last a few hours; the
student pastes fresh ones into ~/.aws/credentials or the environment) are re-read, not cached for
good: when a call is refused with one of `CREDENTIAL_ERROR_CODES`, the session is rebuilt once from
the profile or environment (the key file, for the sandbox) and, if that gave other keys, the call is
retried once. It is a botocore `needs-retry` hook on every client this module makes, so paginators,
waiters and S3 transfers recover too; clients already handed out sign with the fresh keys.
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
from .i18n import _

log = logging.getLogger(__name__)

# AWS access key ids are 20 characters of base32 ("AKIA" for long-term keys).
_KEY_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_credentials_lock = threading.Lock()
_credentials_cache: dict[Path, tuple[tuple[int, int], dict[str, str]]] = {}

# Codes with which AWS refuses keys that expired or were replaced (S3, STS/IAM, EC2, JSON services).
CREDENTIAL_ERROR_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId",
                                    "RequestExpired", "UnrecognizedClientException"})
# Request context keys of the refresh hook: the key generation a request was signed with, and "done once".
_SIGNED_WITH = "mlops_lab_credentials_generation"
_REFRESHED = "mlops_lab_credentials_refreshed"


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
        raise LabError(_("The sandbox's key file {path} is damaged ({error}): delete it and restart the sandbox; "
                         "new keys are made on the next start.").format(path=path, error=exc),
                       "SandboxKeysDamaged") from exc
    if not all(keys.values()):
        raise LabError(_("The sandbox's key file {path} is damaged: delete it and restart the sandbox.")
                       .format(path=path), "SandboxKeysDamaged")
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
        """Return a one-line description for headers, in the current language (never credentials)."""
        if self.is_sandbox:
            return _("sandbox at {url} ({region})").format(url=self.endpoint_url, region=self.region)
        return _("AWS profile {profile} ({region})").format(profile=self.profile or "default", region=self.region)

    def identity(self) -> str:
        """Return the same in any language: for keys and comparisons (a plan made here), and logs."""
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
    _refresh_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _generation: int = field(default=0, repr=False)  # +1 each time a refresh brought other keys
    _scope: str | None = field(default=None, repr=False)

    @property
    def session(self) -> boto3.Session:
        if self._session is None:
            self._session = self._new_session()
        return self._session

    def _new_session(self) -> boto3.Session:
        """A session built now: the sandbox's key file, or the profile / environment as they are now."""
        if self.target.is_sandbox:
            return boto3.Session(region_name=self.target.region, **sandbox_credentials())
        return boto3.Session(profile_name=self.target.profile, region_name=self.target.region)

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
                    client = self.session.client(
                        service, region_name=region or self.region, endpoint_url=self.target.endpoint_url,
                        config=config)
                else:
                    config = Config(retries={"max_attempts": 5, "mode": "standard"},
                                    ignore_configured_endpoint_urls=True)
                    client = self.session.client(service, region_name=region or self.region, config=config)
                service_id = client.meta.service_model.service_id.hyphenize()
                # First, before the client's own signer: stamp which keys the request is signed with.
                client.meta.events.register_first(f"request-created.{service_id}", self._stamp_generation)
                client.meta.events.register(f"needs-retry.{service_id}", self._retry_with_fresh_credentials)
                self._clients[key] = client
            return self._clients[key]

    def refresh_credentials(self) -> bool:
        """Rebuild the session from the profile or environment now; return True if it gave other keys.

        The new keys go into the credentials object every client of this facade signs with, so
        clients already made (and a request being retried) use them at once.
        """
        with self._refresh_lock:
            return self._refresh_locked()

    def _refresh_locked(self) -> bool:
        current = self.session.get_credentials()
        try:
            fresh = self._new_session().get_credentials()
        except Exception as exc:  # a damaged credentials file, a profile that vanished: keep the old error
            log.warning("could not re-read the credentials for %s: %s", self.target.identity(), exc)
            return False
        if fresh is None or current is None:
            return False
        keys = fresh.get_frozen_credentials()
        if keys == current.get_frozen_credentials():
            log.info("re-read the credentials for %s: unchanged", self.target.identity())
            return False
        # Credentials' fields are public and read at each signature (get_frozen_credentials).
        current.access_key, current.secret_key, current.token = keys.access_key, keys.secret_key, keys.token
        self._generation += 1
        log.info("re-read the credentials for %s (%s): new keys in use", self.target.identity(),
                 getattr(fresh, "method", "?"))
        return True

    def _stamp_generation(self, request: Any, **_: Any) -> None:
        request.context.setdefault(_SIGNED_WITH, self._generation)

    def _retry_with_fresh_credentials(self, response: Any = None, request_dict: Any = None,
                                      operation: Any = None, **_: Any) -> int | None:
        """botocore needs-retry hook: on refused keys, re-read them once; 0 = retry now, None = not ours."""
        if response is None or request_dict is None:
            return None
        http, parsed = response
        code = str(parsed.get("Error", {}).get("Code", ""))
        # S3 answers HEAD without a body, so an expired token there is a bare 400.
        head_400 = code == "400" and getattr(http, "status_code", None) == 400 and \
            getattr(operation, "http", {}).get("method") == "HEAD"
        if code not in CREDENTIAL_ERROR_CODES and not head_400:
            return None
        context = request_dict.setdefault("context", {})
        if context.get(_REFRESHED):
            return None  # refreshed once already: the error goes up (errors.MESSAGES says what to do)
        context[_REFRESHED] = True
        with self._refresh_lock:
            # Another thread may have brought new keys since this request was signed: just retry.
            if context.get(_SIGNED_WITH, self._generation) < self._generation or self._refresh_locked():
                log.info("%s refused the keys (%s): retrying once with the re-read ones",
                         getattr(operation, "name", "a call"), code)
                return 0
        return None

    def account_id(self) -> str:
        """Return the account id of the current credentials (sts:GetCallerIdentity)."""
        return self.client("sts").get_caller_identity()["Account"]

    def scope(self) -> str:
        """Return "sandbox-<region>" or "<account>-<region>": what local files of one account are kept under.

        A private key made in the sandbox must never overwrite (or be deleted as) the real account's.
        The account is asked once per facade.
        """
        if self._scope is None:
            who = "sandbox" if self.target.is_sandbox else self.account_id()
            self._scope = f"{who}-{self.region}"
        return self._scope

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
