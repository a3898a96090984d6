"""What the Lambda runtime and moto_hooks hand each other: a function version, and the host protocol.

A module of its own so that neither imports the other: moto_hooks builds FunctionSpecs from moto's
model and implements LambdaHost (moto_views.MotoLambdaHost); lambda_runtime runs them.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class FunctionSpec:
    """One function version as the runtime needs it (built by moto_views.function_spec from moto's model)."""

    name: str
    arn: str
    version: str
    account_id: str
    region: str
    handler: str
    runtime: str
    role: str
    code: bytes
    code_sha256: str
    layers: tuple[tuple[str, bytes], ...]  # (sha256 hex, zip bytes) per layer, in attach order
    environment: Mapping[str, str]
    timeout_s: float
    memory_mb: int

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"


class LambdaHost(Protocol):
    """What the runtime needs from the sandbox's AWS (implemented by moto_views.MotoLambdaHost)."""

    def issue_credentials(self, spec: FunctionSpec, chain_depth: int) -> dict[str, str]:
        """Return AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN for the function's role."""

    def set_chain_depth(self, access_key: str, chain_depth: int) -> None:
        """A warm container holding access_key now runs an invocation at this chain depth."""

    def role_permits(self, spec: FunctionSpec, action: str, resources: Sequence[str]) -> bool:
        """Return True if the function's role may do action on one of the resources."""

    def log_group_exists(self, spec: FunctionSpec) -> bool: ...

    def write_logs(self, spec: FunctionSpec, stream: str, events: Sequence[tuple[int, str]]) -> None:
        """Create the log group (if missing) and stream, and put the (timestamp ms, message) events."""
