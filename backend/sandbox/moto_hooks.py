"""The one place moto's internals are touched: written for, and pinned to, moto 5.2.5.

Everything else in the sandbox talks to moto over HTTP or through the objects these hooks hand
over. When moto is upgraded, re-read the functions named below in moto's source and rerun
tests/sandbox; `check_moto_version()` refuses a version these hooks were not written for.

What is touched, and why:
- `moto.moto_server.werkzeug_app` (`DomainDispatcherApplication`, `create_backend_app`,
  `MotoRequestHandler`): `ThreadedMotoServer` hangs forever in `start()` when the port is taken
  (its ready event is only set after a successful bind) and offers no way to add a route, so
  `MotoWsgiServer` builds the same WSGI app itself, wrapped with the sandbox's own routes.
- `moto.awslambda.models.LambdaFunction._invoke_lambda(event)`: both the Invoke API and S3
  notifications reach it; it returns (payload, errored, logs) and is the only place moto uses
  Docker. Replaced so the function really runs (lambda_runtime.py).
- `moto.awslambda.models.LambdaFunction.invoke(body, request_headers, response_headers)`:
  wrapped so InvocationType=Event is queued and answered at once (moto runs it inline) and
  errors say X-Amz-Function-Error: Unhandled (moto says Handled).
- `moto.s3.notifications._invoke_awslambda(account_id, event_body, fn_arn, region_name)`: runs
  inside the PUT that triggered it (~430 ms added to put_object) and swallows every exception.
  Replaced to dispatch in the background and log failures.
- `moto.core.authorization.ActionAuthenticatorMixin._authenticate_and_authorize_action`: IAM
  evaluation is global in moto (`INITIAL_NO_AUTH_ACTION_COUNT`); enforcing it for everyone breaks
  moto's own calls and the students' fake credentials. Wrapped to enforce only for access keys
  the sandbox issued to a function's execution role.
- `moto.core.config.default_user_config["iam"]["load_aws_managed_policies"]`: on, so a role can
  attach AWS managed policies such as AWSLambdaBasicExecutionRole as on AWS; and
  `moto.iam.models.IAMBackend._init_aws_policies`: loads them for the "aws" partition only
  (every partition's IAM backend is built on the first request: 1.3 s instead of 0.25 s).

Read or called, not replaced: `moto.awslambda.utils.get_backend(...).layers_versions_by_arn`
and the LambdaFunction attributes in `function_spec()`; `moto.sts.models.sts_backends[...]
.assume_role` (the function's credentials); `moto.iam.models.iam_backends` role policies and
`moto.iam.access_control.IAMPolicy` (may the role write logs?); `moto.logs.models.logs_backends`
(`ensure_log_group`, `ensure_log_stream`, `put_log_events`).
"""
from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

import moto

log = logging.getLogger(__name__)

MOTO_VERSION = "5.2.5"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# A sandbox route: environ -> (status, JSON-able body).
Route = Callable[[dict[str, Any]], tuple[int, Any]]


class MotoVersionError(RuntimeError):
    """The installed moto is not the version these hooks were written for."""


def check_moto_version() -> None:
    """Raise MotoVersionError unless the installed moto is the pinned MOTO_VERSION."""
    if moto.__version__ != MOTO_VERSION:
        raise MotoVersionError(
            f"backend/sandbox/moto_hooks.py is written for moto {MOTO_VERSION}, found {moto.__version__}: "
            f"install requirements.txt, or re-check the patched functions and update MOTO_VERSION.")


class Patches:
    """Attribute replacements that can be undone, in reverse order."""

    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> Any:
        """Replace owner.name by value; return the original."""
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        self._undo.append((owner, name, original))
        setattr(owner, name, value)
        return original

    def set_item(self, mapping: dict[str, Any], key: str, value: Any) -> None:
        self._undo.append((mapping, key, mapping.get(key)))
        mapping[key] = value

    def undo(self) -> None:
        while self._undo:
            owner, name, original = self._undo.pop()
            if isinstance(owner, dict):
                owner[name] = original
            else:
                setattr(owner, name, original)


# --- the server --------------------------------------------------------------------------------

def _routes_middleware(app: WsgiApp, routes: dict[str, Route]) -> WsgiApp:
    """Answer the sandbox's own GET routes as JSON; pass everything else to moto."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        route = routes.get(environ.get("PATH_INFO", ""))
        if route is None or environ.get("REQUEST_METHOD") != "GET":
            return app(environ, start_response)
        try:
            status, body = route(environ)
        except Exception as exc:  # a broken route must not take the server down
            log.exception("sandbox route %s failed", environ.get("PATH_INFO"))
            status, body = 500, {"error": f"{type(exc).__name__}: {exc}"}
        data = json.dumps(body).encode()
        start_response(f"{status} {'OK' if status == 200 else 'Error'}",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    return middleware


class MotoWsgiServer:
    """moto's server app (as ThreadedMotoServer builds it) on a thread, plus the sandbox's routes."""

    def __init__(self, host: str, port: int, routes: dict[str, Route],
                 wrap: Callable[[WsgiApp], WsgiApp] = lambda app: app) -> None:
        self._host, self._port, self._routes, self._wrap = host, port, routes, wrap
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> tuple[str, int]:
        """Bind (raising OSError if the port is taken) and serve on a daemon thread; return (host, port)."""
        from werkzeug.serving import make_server

        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        # wrap: the sandbox's guard (guard.py), in front of everything, routes included.
        app = self._wrap(_routes_middleware(DomainDispatcherApplication(create_backend_app), self._routes))
        # Bind here, not in the thread (ThreadedMotoServer hangs on a taken port) and not in
        # werkzeug (which prints and calls sys.exit): a taken port is an OSError for the caller.
        # The backlog is sized for bursts of uploads (socketserver's default is 5).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
            sock.listen(128)
            self._server = make_server(self._host, self._port, app, threaded=True,
                                       request_handler=MotoRequestHandler, fd=sock.fileno())
        finally:
            sock.close()  # werkzeug holds its own duplicate of the descriptor
        # A short poll interval makes stop() take ~0.1 s instead of werkzeug's default 0.5 s.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="sandbox-moto", daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None


def enable_aws_managed_policies(patches: Patches) -> None:
    """Let roles attach AWS managed policies (AWSLambdaBasicExecutionRole, …) as on AWS.

    moto builds the IAM backend of every partition (aws, aws-cn, aws-us-gov, …) on the first
    request of any service (core/responses.py get_current_account -> iam get_account_id_from),
    and each would parse all ~1,600 managed policies: 1.3 s before the first answer. Only the
    "aws" partition gets them (IAMBackend._init_aws_policies), which costs ~0.25 s.
    """
    from moto.core.config import default_user_config
    from moto.iam.models import IAMBackend

    iam_config = dict(default_user_config.get("iam", {}))
    iam_config["load_aws_managed_policies"] = True
    patches.set_item(default_user_config, "iam", iam_config)  # type: ignore[arg-type]
    original = IAMBackend.__dict__["_init_aws_policies"]

    def _init_aws_policies(self: Any) -> list[Any]:
        return original(self) if self.region_name == "aws" else []

    patches.set(IAMBackend, "_init_aws_policies", _init_aws_policies)


# --- Lambda ------------------------------------------------------------------------------------

# Per server/worker thread: the function access key that signed the request being handled (set by
# the scoped IAM check, which moto runs first for S3 writes) and the chain depth of the invocation
# a worker is running. werkzeug's threaded server handles each request on a fresh thread.
_context = threading.local()


def _header(headers: Any, name: str) -> str | None:
    """Case-insensitive header lookup on werkzeug headers or a plain dict (moto passes both)."""
    value = headers.get(name) if hasattr(headers, "get") else None
    if value is None and isinstance(headers, dict):
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value


def _access_key_of(headers: Any) -> str | None:
    """The access key id in a SigV4 Authorization header, if any."""
    auth = _header(headers, "Authorization") or ""
    if "Credential=" not in auth:
        return None
    return auth.partition("Credential=")[2].partition("/")[0] or None


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


def function_spec(fn: Any) -> Any:
    """Return the lambda_runtime.FunctionSpec of a moto LambdaFunction (code and layer bytes included)."""
    from moto.awslambda.utils import get_backend

    from .lambda_runtime import FunctionSpec

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

    def issue_credentials(self, spec: Any, chain_depth: int) -> dict[str, str]:
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

    def is_function_key(self, access_key: str | None) -> bool:
        with self._lock:
            return access_key is not None and access_key in self._keys

    def chain_depth(self, access_key: str | None) -> int | None:
        """The depth of the invocation that holds access_key, or None if it is no function's."""
        with self._lock:
            return self._keys.get(access_key) if access_key else None

    @staticmethod
    def _role_policies(spec: Any) -> list[Any] | None:
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

    def role_permits(self, spec: Any, action: str, resources: Any) -> bool:
        from moto.iam.access_control import IAMPolicy, PermissionResult

        policies = self._role_policies(spec)
        if not policies:
            return False
        for resource in resources:
            results = [IAMPolicy(p).is_action_permitted(action, resource) for p in policies]
            if PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results:
                return True
        return False

    def log_group_exists(self, spec: Any) -> bool:
        from moto.logs.models import logs_backends

        return spec.log_group in logs_backends[spec.account_id][spec.region].groups

    def write_logs(self, spec: Any, stream: str, events: Any) -> None:
        from moto.logs.models import logs_backends

        logs = logs_backends[spec.account_id][spec.region]
        with self._logs_lock:
            logs.ensure_log_group(spec.log_group)
            logs.ensure_log_stream(spec.log_group, stream)
            logs.put_log_events(spec.log_group, stream,
                                [{"timestamp": ts, "message": message} for ts, message in events])


def install_lambda(patches: Patches, host: MotoLambdaHost, run: Callable[[Any, Any, int], Any],
                   submit: Callable[[str, Callable[[], Any]], None], max_chain_depth: int) -> None:
    """Make functions run for real: Invoke and S3 notifications reach run(spec, event, chain_depth).

    - LambdaFunction._invoke_lambda(event) -> (payload, errored, logs): calls run() instead of
      Docker. (moto's invoke passes the string "{}" for an empty body, read here as {}.)
    - LambdaFunction.invoke(body, request_headers, response_headers): InvocationType=Event is
      queued and answered 202 at once (moto runs it inline); errors are reported as
      X-Amz-Function-Error: Unhandled, as AWS's Python runtime does (moto says "Handled").
    - moto.s3.notifications._invoke_awslambda(account_id, event_body, fn_arn, region_name): queued
      instead of run inside the PUT; failures are logged, not swallowed; a chain of functions
      triggering each other stops after max_chain_depth, like AWS's recursive loop detection.
    """
    from moto.awslambda.models import LambdaFunction
    from moto.awslambda.utils import get_backend
    from moto.s3 import notifications as s3_notifications

    original_invoke = LambdaFunction.invoke

    def next_depth() -> int:
        """The chain depth of an invocation triggered by the request this thread is handling."""
        depth = host.chain_depth(getattr(_context, "caller_key", None))
        return 0 if depth is None else depth + 1

    def in_chain(depth: int, call: Callable[[], Any]) -> Callable[[], Any]:
        def run_at_depth() -> Any:
            _context.chain_depth = depth
            try:
                return call()
            finally:
                _context.chain_depth = 0
        return run_at_depth

    def _invoke_lambda(fn: Any, event: Any = None) -> tuple[str, bool, str]:
        if fn.package_type != "Zip":
            return json.dumps({"errorType": "Sandbox.Unsupported",
                               "errorMessage": "The sandbox runs Zip functions only."}), True, ""
        if event is None or event == "{}":
            event = {}
        try:
            spec = function_spec(fn)
        except LayerNotFound as exc:
            return json.dumps({"errorType": "Sandbox.LayerNotFound",
                               "errorMessage": f"Layer version {exc} does not exist."}), True, ""
        result = run(spec, event, getattr(_context, "chain_depth", 0))
        return result.payload, result.errored, result.log_tail

    def invoke(fn: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        if (_header(request_headers, "X-Amz-Invocation-Type") or "") == "Event":
            depth = next_depth()
            if depth >= max_chain_depth:
                log.warning("stopped a recursive invocation loop of %s at depth %s", fn.function_name, depth)
            else:
                submit(f"{fn.function_name} (InvocationType=Event)",
                       in_chain(depth, lambda: original_invoke(fn, body, {}, {})))
            return b""
        payload = original_invoke(fn, body, request_headers, response_headers)
        if "x-amz-function-error" in response_headers:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    def _invoke_awslambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        depth = next_depth()
        if depth >= max_chain_depth:
            log.warning("stopped a recursive invocation loop: %s triggered at depth %s by S3", fn_arn, depth)
            return

        def deliver() -> None:
            fn = get_backend(account_id, region_name).get_function(fn_arn)
            fn.invoke(json.dumps(event_body), {}, {})

        submit(f"S3 notification to {fn_arn}", in_chain(depth, deliver))

    patches.set(LambdaFunction, "_invoke_lambda", _invoke_lambda)
    patches.set(LambdaFunction, "invoke", invoke)
    patches.set(s3_notifications, "_invoke_awslambda", _invoke_awslambda)


def install_scoped_iam(patches: Patches, host: MotoLambdaHost) -> None:
    """Enforce IAM for requests signed with a function's role credentials, and only for those.

    Wraps ActionAuthenticatorMixin._authenticate_and_authorize_action(iam_request_cls, resource):
    for a function's access key it runs the enforcing branch of moto's own implementation
    (signature, then the role's inline and attached policies); every other caller goes through
    moto's original, which with INITIAL_NO_AUTH_ACTION_COUNT at its default enforces nothing.
    """
    from urllib.parse import urlparse

    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.exceptions import NotFoundException

    original = ActionAuthenticatorMixin.__dict__["_authenticate_and_authorize_action"]

    def authenticate(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        key = _access_key_of(self.headers)
        _context.caller_key = key if host.is_function_key(key) else None
        if _context.caller_key is None:
            return original(self, iam_request_cls, resource)
        parsed_url = urlparse(self.uri)
        path = self.raw_path + ("?" + parsed_url.query if parsed_url.query else "")
        iam_request = iam_request_cls(account_id=self.current_account, method=self.method, path=path,
                                      data=self.data, body=self.raw_body, headers=self.headers,
                                      action=self._get_action())
        iam_request.check_signature()
        try:
            iam_request.check_action_permitted(resource)
        except NotFoundException:  # the role was deleted: it grants nothing
            iam_request._raise_access_denied()
        return None

    patches.set(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", authenticate)


# --- keys moto issued (read by the guard) -------------------------------------------------------

def issued_key(access_key_id: str) -> Any:
    """Return the guard.Key of an active access key moto issued, or None.

    Read, never patched: `moto.iam.models.iam_backends[account][partition].access_keys` (IAM users'
    keys and the temporary keys behind STS credentials, `AccessKey.secret_access_key`, `.status`),
    and for temporary keys `moto.sts.models.sts_backends[account][partition].assumed_roles`
    (`session_token`, naive-UTC `expiration`). Plain dict access: BackendDict's [] would create
    backends for accounts nobody used.
    """
    import calendar

    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    from .guard import Key

    for account_id, account in list(dict.items(iam_backends)):
        for partition, backend in list(dict.items(account)):
            key = backend.access_keys.get(access_key_id)
            if key is None:
                continue
            if key.status != "Active":
                return None
            if key.role_arn is None and not access_key_id.startswith("ASIA"):
                return Key(key.secret_access_key)  # an IAM user's long-term key
            sts_account = dict.get(sts_backends, account_id) or {}
            sts = dict.get(sts_account, partition)
            for role in list(sts.assumed_roles if sts is not None else ()):
                if role.access_key_id == access_key_id:
                    return Key(key.secret_access_key, role.session_token,
                               float(calendar.timegm(role.expiration.timetuple())))
            return None
    return None
