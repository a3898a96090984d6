"""The sandbox's read-only views of moto's models: what compute needs to know, never a patch.

Written for, and pinned to, the same moto version as moto_hooks.py (`check_moto_version()`, run
before any sandbox starts); re-read the attributes named here when moto is upgraded:
- Lambda: `moto.awslambda.utils.get_backend(...).layers_versions_by_arn` and the LambdaFunction
  attributes read by `function_spec()`; `moto.sts.models.sts_backends[...].assume_role` (a
  function's credentials); `moto.iam.models.iam_backends` role policies and
  `moto.iam.access_control.IAMPolicy` (may the role write logs?); `moto.logs.models.logs_backends`
  (`ensure_log_group`, `ensure_log_stream`, `put_log_events`).
- EC2: `moto.ec2.models.ec2_backends[...].get_instance` (its `_state.name`, its security groups'
  `ingress_rules`), read by the instance proxy on every new connection.
"""
from __future__ import annotations

import ipaddress
import threading
from typing import Any

from .lambda_spec import FunctionSpec


# --- Lambda ------------------------------------------------------------------------------------

def _sha_hex(code_sha_256: str | None, data: bytes) -> str:
    """moto stores base64(sha256); return it as hex (a safe folder name), hashing only if absent."""
    import base64
    import binascii
    import hashlib

    try:
        digest = base64.b64decode(code_sha_256 or "", validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    return digest.hex() if len(digest) == 32 else hashlib.sha256(data).hexdigest()


class LayerNotFound(LookupError):
    """A layer version attached to the function no longer exists."""


def function_spec(fn: Any) -> FunctionSpec:
    """Return the FunctionSpec of a moto LambdaFunction (code and layer bytes included)."""
    from moto.awslambda.utils import get_backend

    backend = get_backend(fn.account_id, fn.region)
    layers = []
    for layer in fn.layers:
        version = backend.layers_versions_by_arn(layer["Arn"])
        if version is None:
            raise LayerNotFound(layer["Arn"])
        layers.append((_sha_hex(version.code_sha_256, version.code_bytes), version.code_bytes))
    return FunctionSpec(
        name=fn.function_name, arn=fn.function_arn, version=str(fn.version), account_id=fn.account_id,
        region=fn.region, handler=fn.handler or "", runtime=fn.run_time or "", role=fn.role,
        code=fn.code_bytes, code_sha256=_sha_hex(fn.code_sha_256, fn.code_bytes), layers=tuple(layers),
        environment=dict(fn.environment_vars or {}), timeout_s=float(fn.timeout), memory_mb=int(fn.memory_size))


class MotoLambdaHost:
    """The runtime's view of moto: role credentials, role policy checks and CloudWatch Logs."""

    _logs_lock = threading.Lock()  # moto's log streams are not thread-safe (logs/models.py)

    def __init__(self) -> None:
        self._keys: dict[str, int] = {}  # access key issued to an invocation -> its chain depth
        self._lock = threading.Lock()

    def issue_credentials(self, spec: FunctionSpec, chain_depth: int) -> dict[str, str]:
        """Assume the function's role (in-process sts) and remember the key as a function's."""
        from moto.sts.models import sts_backends
        from moto.utilities.utils import get_partition

        role = sts_backends[spec.account_id][get_partition(spec.region)].assume_role(
            region_name=spec.region, role_session_name=spec.name[:64], role_arn=spec.role, policy="",
            duration=43200, external_id="")
        with self._lock:
            self._keys[role.access_key_id] = chain_depth
        return {"AWS_ACCESS_KEY_ID": role.access_key_id, "AWS_SECRET_ACCESS_KEY": role.secret_access_key,
                "AWS_SESSION_TOKEN": role.session_token}

    def set_chain_depth(self, access_key: str, chain_depth: int) -> None:
        """A warm container keeps its credentials across invocations: its key takes each one's depth."""
        with self._lock:
            if access_key in self._keys:
                self._keys[access_key] = chain_depth

    def is_function_key(self, access_key: str | None) -> bool:
        with self._lock:
            return access_key is not None and access_key in self._keys

    def chain_depth(self, access_key: str | None) -> int | None:
        """The depth of the invocation that holds access_key, or None if it is no function's."""
        with self._lock:
            return self._keys.get(access_key) if access_key else None

    @staticmethod
    def _role_policies(spec: FunctionSpec) -> list[Any] | None:
        """The role's inline and attached policies (as moto's AssumedRoleAccessKey collects them)."""
        from moto.iam.exceptions import NotFoundException
        from moto.iam.models import iam_backends
        from moto.utilities.utils import get_partition

        iam = iam_backends[spec.account_id][get_partition(spec.region)]
        name = spec.role.rsplit("/", 1)[-1]
        try:
            policies: list[Any] = [iam.get_role_policy(name, p)[1] for p in iam.list_role_policies(name)]
            attached, _ = iam.list_attached_role_policies(name)
        except NotFoundException:
            return None
        return policies + list(attached)

    def role_permits(self, spec: FunctionSpec, action: str, resources: Any) -> bool:
        from moto.iam.access_control import IAMPolicy, PermissionResult

        policies = self._role_policies(spec)
        if not policies:
            return False
        for resource in resources:
            results = [IAMPolicy(p).is_action_permitted(action, resource) for p in policies]
            if PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results:
                return True
        return False

    def log_group_exists(self, spec: FunctionSpec) -> bool:
        from moto.logs.models import logs_backends

        return spec.log_group in logs_backends[spec.account_id][spec.region].groups

    def write_logs(self, spec: FunctionSpec, stream: str, events: Any) -> None:
        from moto.logs.models import logs_backends

        logs = logs_backends[spec.account_id][spec.region]
        with self._logs_lock:
            logs.ensure_log_group(spec.log_group)
            logs.ensure_log_stream(spec.log_group, stream)
            logs.put_log_events(spec.log_group, stream,
                                [{"timestamp": ts, "message": message} for ts, message in events])


# --- EC2 ---------------------------------------------------------------------------------------

class MotoEc2:
    """Reads an instance's state and security groups from moto's in-process backend."""

    @staticmethod
    def _instance(account_id: str, region: str, instance_id: str) -> Any | None:
        from moto.ec2.models import ec2_backends

        try:
            return ec2_backends[account_id][region].get_instance(instance_id)
        except Exception:  # InvalidInstanceIdError, or a reset wiped the account
            return None

    def state(self, account_id: str, region: str, instance_id: str) -> str | None:
        instance = self._instance(account_id, region, instance_id)
        return None if instance is None else instance._state.name

    def allows(self, account_id: str, region: str, instance_id: str, port: int, client_ip: str) -> bool:
        """True if the instance runs and one of its groups allows TCP port from client_ip."""
        instance = self._instance(account_id, region, instance_id)
        if instance is None or instance._state.name != "running":
            return False
        address = ipaddress.ip_address(client_ip)
        for group in instance.security_groups:
            for rule in group.ingress_rules:
                if rule.ip_protocol not in ("tcp", "6", "-1"):
                    continue
                if rule.ip_protocol != "-1" and not (int(rule.from_port) <= port <= int(rule.to_port)):
                    continue
                try:
                    if address in ipaddress.ip_network(rule.ip_range.get("CidrIp", ""), strict=False):
                        return True
                except ValueError:
                    continue
        return False
