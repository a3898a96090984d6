"""The session and client factory: the only module that knows sandbox from real AWS.

Sandbox and real AWS differ only here: the sandbox gets an endpoint URL and fake credentials, real
AWS gets a profile from the standard credential chain and ignores any configured endpoint, so the
choice is always explicit, never a fallback.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import boto3
from botocore.config import Config

from .config import DEFAULT_REGION, DEFAULT_SANDBOX_ENDPOINT

SANDBOX_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


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
                self._session = boto3.Session(region_name=self.target.region, **SANDBOX_CREDENTIALS)
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
            env.update({"AWS_ENDPOINT_URL": self.target.endpoint_url or "",
                        "AWS_ACCESS_KEY_ID": SANDBOX_CREDENTIALS["aws_access_key_id"],
                        "AWS_SECRET_ACCESS_KEY": SANDBOX_CREDENTIALS["aws_secret_access_key"]})
        elif self.target.profile:
            env["AWS_PROFILE"] = self.target.profile
        return env


def list_profiles() -> list[str]:
    """Return the named profiles of the standard AWS config and credentials files."""
    return sorted(boto3.Session().available_profiles)
