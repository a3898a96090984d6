"""The one module that patches moto: written for, and pinned to, moto 5.2.5.

Every replacement of moto's code is made here, through a `Patches` object that the sandbox undoes
on stop; `check_moto_version()` (run before a sandbox starts) refuses a moto version these hooks
were not written for. When moto is upgraded, re-read the functions named below in moto's source
and rerun tests/sandbox. The compute modules (lambda_runtime, ec2_compute, sagemaker_compute)
import nothing of moto: they call the install_* functions here and get moto's state through
moto_views.py (read-only views, pinned to the same version), except that the SageMaker compute
reads the endpoint config and model from, and sets the status of, the moto objects handed to it.

What is patched, and why:
- `moto.moto_server.werkzeug_app` (`DomainDispatcherApplication`, `create_backend_app`,
  `MotoRequestHandler`), not patched but rebuilt: `ThreadedMotoServer` hangs forever in
  `start()` when the port is taken (its ready event is only set after a successful bind) and
  offers no way to add a route, so `MotoWsgiServer` builds the same WSGI app itself, wrapped with
  the sandbox's own routes.
- `moto.core.config.default_user_config["iam"]["load_aws_managed_policies"]`: on, so a role can
  attach AWS managed policies such as AWSLambdaBasicExecutionRole as on AWS; and
  `moto.iam.models.IAMBackend._init_aws_policies`: loads them for the "aws" partition only
  (every partition's IAM backend is built on the first request: 1.3 s instead of 0.25 s).
- Lambda (`install_lambda`, `install_scoped_iam`):
  `moto.awslambda.models.LambdaFunction._invoke_lambda(event)`: both the Invoke API and S3
  notifications reach it; it returns (payload, errored, logs) and is the only place moto uses
  Docker. Replaced so the function really runs (lambda_runtime.py).
  `LambdaFunction.invoke(body, request_headers, response_headers)`: wrapped so
  InvocationType=Event is queued and answered at once (moto runs it inline) and errors say
  X-Amz-Function-Error: Unhandled (moto says Handled).
  `moto.s3.notifications._invoke_awslambda(account_id, event_body, fn_arn, region_name)`: runs
  inside the PUT that triggered it (~430 ms added to put_object) and swallows every exception.
  Replaced to dispatch in the background and log failures.
  `moto.core.authorization.ActionAuthenticatorMixin._authenticate_and_authorize_action`: IAM
  evaluation is global in moto (`INITIAL_NO_AUTH_ACTION_COUNT`); enforcing it for everyone breaks
  moto's own calls and the students' fake credentials. Wrapped to enforce only for access keys
  the sandbox issued to a function's execution role.
- Lambda and S3 as AWS behaves (`install_lambda_limits`, `install_lambda_lifecycle`,
  `install_single_multipart_event`): `moto.awslambda.responses.LambdaResponse.invoke` /
  `create_function` wrapped (6 MB payload, function names); `LambdaBackend.update_function_code` /
  `update_function_configuration` / `delete_function` and `moto.moto_api._internal.models
  .MotoAPIBackend.reset` wrapped to retire warm containers; `moto.s3.models.S3Backend
  .complete_multipart_upload` wrapped and `moto.s3.notifications.send_event` replaced so a
  multipart upload sends one ObjectCreated event (moto sends Put, ObjectTagging:Put and
  CompleteMultipartUpload).
- EC2 (`install_ec2_instances`, `install_ubuntu_amis`): `moto.ec2.models.instances.InstanceBackend`
  run/start/stop/terminate/reboot_instances wrapped so the app follows the instance;
  `moto.ec2.responses.general.General.get_console_output` answers with the app's console;
  `moto.ssm.models.ParameterDict._check_loading_status` and `moto.ec2.models.amis.AmiBackend._load_amis`
  wrapped so Canonical's Ubuntu parameters and images exist.
- SageMaker (`install_sagemaker`): `moto.sagemaker.models.SageMakerModelBackend.create_endpoint`
  / `delete_endpoint` wrapped, `moto.sagemaker.responses.SageMakerResponse.update_endpoint` added,
  `moto.sagemakerruntime.responses.SageMakerRuntimeResponse.invoke_endpoint` replaced.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import moto

from .moto_views import LayerNotFound, MotoLambdaHost, function_spec

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


_ABSENT = object()  # what Patches.undo restores for an attribute that did not exist: removal


class Patches:
    """Attribute replacements (and additions) that can be undone, in reverse order."""

    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> Any:
        """Replace owner.name by value; return the original."""
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        self._undo.append((owner, name, original))
        setattr(owner, name, value)
        return original

    def add(self, owner: type, name: str, value: Any) -> None:
        """Add an attribute owner lacks (refused if it has one: that is a replacement, use set)."""
        if name in owner.__dict__:
            raise AttributeError(f"{owner.__name__}.{name} exists already: moto changed, re-check this hook")
        self._undo.append((owner, name, _ABSENT))
        setattr(owner, name, value)

    def set_item(self, mapping: dict[str, Any], key: str, value: Any) -> None:
        self._undo.append((mapping, key, mapping.get(key, _ABSENT)))
        mapping[key] = value

    def undo(self) -> None:
        while self._undo:
            owner, name, original = self._undo.pop()
            if isinstance(owner, dict):
                if original is _ABSENT:
                    owner.pop(name, None)
                else:
                    owner[name] = original
            elif original is _ABSENT:
                delattr(owner, name)
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


# --- Lambda and S3 as AWS behaves: lifecycle, limits, names, one event per upload -------------

# Lambda's synchronous Invoke request payload limit (AWS: 6 MB, RequestEntityTooLargeException, 413).
INVOKE_PAYLOAD_LIMIT = 6 * 1024 * 1024
# CreateFunction's FunctionName as AWS's API model states it (botocore lambda CreateFunction), and
# the service's own rule that a bare name has at most 64 characters.
FUNCTION_NAME_PATTERN = (r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
                         r"(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?")
_multipart = threading.local()  # set while moto completes a multipart upload on this thread


def _lambda_error(status: int, code: str, message: str) -> Exception:
    from moto.awslambda.exceptions import LambdaClientError

    error = LambdaClientError(code, message)
    error.code = status
    return error


def _function_name_errors(name: Any) -> list[str]:
    """AWS's validation messages for a CreateFunction FunctionName ([] if valid)."""
    import re

    if name is None:
        return ["Value null at 'functionName' failed to satisfy constraint: Member must not be null"]
    text = str(name)
    prefix = f"Value '{text}' at 'functionName' failed to satisfy constraint: Member must"
    errors = []
    if not re.fullmatch(FUNCTION_NAME_PATTERN, text):
        errors.append(f"{prefix} satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}")
    if len(text) < 1:
        errors.append(f"{prefix} have length greater than or equal to 1")
    if len(text) > 140:
        errors.append(f"{prefix} have length less than or equal to 140")
    return errors


def install_lambda_limits(patches: Patches) -> None:
    """Payload limit and name validation as on AWS (moto has neither).

    - `moto.awslambda.responses.LambdaResponse.invoke` wrapped: a RequestResponse payload over 6 MB
      is refused with RequestEntityTooLargeException (413) before the function is looked up.
    - `LambdaResponse.create_function` wrapped: an empty or malformed FunctionName is a
      ValidationException ("1 validation error detected: …", as AWS words it); a bare name over
      64 characters an InvalidParameterValueException. moto accepts both (and 500s on a missing one).
    """
    from moto.awslambda.responses import LambdaResponse

    original_invoke = LambdaResponse.__dict__["invoke"]
    original_create = LambdaResponse.__dict__["create_function"]

    def invoke(self: Any) -> Any:
        kind = _header(self.headers, "X-Amz-Invocation-Type") or "RequestResponse"
        if kind == "RequestResponse" and len(self.raw_body or b"") > INVOKE_PAYLOAD_LIMIT:
            raise _lambda_error(413, "RequestEntityTooLargeException",
                                f"Request must be smaller than {INVOKE_PAYLOAD_LIMIT} bytes for the InvokeFunction "
                                "operation")
        return original_invoke(self)

    def create_function(self: Any) -> Any:
        name = self.json_body.get("FunctionName") if isinstance(self.json_body, dict) else None
        errors = _function_name_errors(name)
        if errors:
            count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
            raise _lambda_error(400, "ValidationException", count + "; ".join(errors))
        bare = str(name).rsplit(":function:", 1)[-1].split(":")[0]
        if len(bare) > 64:
            raise _lambda_error(400, "InvalidParameterValueException",
                                f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy "
                                "constraint: Member must have length less than or equal to 64")
        return original_create(self)

    patches.set(LambdaResponse, "invoke", invoke)
    patches.set(LambdaResponse, "create_function", create_function)


def install_lambda_lifecycle(patches: Patches, retire: Callable[[str, str, str], None],
                             retire_all: Callable[[], None]) -> None:
    """Tell the runtime when a function's warm containers may no longer serve it, as AWS retires them.

    Wraps `moto.awslambda.models.LambdaBackend.update_function_code` / `update_function_configuration`
    / `delete_function` (retire(account, region, name) once moto has applied the change) and
    `moto.moto_api._internal.models.MotoAPIBackend.reset` (retire_all: every function is gone and
    every credential a container holds with it).
    """
    from moto.awslambda.models import LambdaBackend
    from moto.moto_api._internal.models import MotoAPIBackend

    def retiring(name: str) -> None:
        original = LambdaBackend.__dict__[name]

        def wrapped(self: Any, function_name: str, *args: Any, **kwargs: Any) -> Any:
            try:
                fn_name = self.get_function(function_name).function_name
            except Exception:  # noqa: BLE001 - moto's own call below raises the right error
                fn_name = None
            result = original(self, function_name, *args, **kwargs)
            if fn_name is not None:
                retire(self.account_id, self.region_name, fn_name)
            return result

        patches.set(LambdaBackend, name, wrapped)

    for method in ("update_function_code", "update_function_configuration", "delete_function"):
        retiring(method)
    original_reset = MotoAPIBackend.__dict__["reset"]

    def reset(self: Any) -> None:
        original_reset(self)
        retire_all()

    patches.set(MotoAPIBackend, "reset", reset)


def install_single_multipart_event(patches: Patches) -> None:
    """One object-created event per upload, multipart included, as on AWS.

    moto's `S3Backend.complete_multipart_upload` stores the object through `put_object`, which
    sends ObjectCreated:Put, then tags it (`put_object_tagging`: ObjectTagging:Put) and sends
    ObjectCreated:CompleteMultipartUpload: an upload over boto3's 8 MB multipart threshold ran
    the lab's function twice. Wrapped so that, while it completes an upload, moto's
    `moto.s3.notifications.send_event` (replaced) passes on only the CompleteMultipartUpload event.
    """
    from moto.s3 import notifications
    from moto.s3.models import S3Backend

    original_complete = S3Backend.__dict__["complete_multipart_upload"]
    original_send = notifications.send_event
    complete_event = notifications.S3NotificationEvent.OBJECT_CREATED_COMPLETE_MULTIPART_UPLOAD_EVENT

    def complete_multipart_upload(self: Any, *args: Any, **kwargs: Any) -> Any:
        _multipart.completing = True
        try:
            return original_complete(self, *args, **kwargs)
        finally:
            _multipart.completing = False

    def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        if getattr(_multipart, "completing", False) and event_name != complete_event:
            return None
        return original_send(account_id, event_name, bucket, key)

    patches.set(S3Backend, "complete_multipart_upload", complete_multipart_upload)
    patches.set(notifications, "send_event", send_event)


# --- EC2 ---------------------------------------------------------------------------------------

class Ec2Events(Protocol):
    """What the EC2 hooks tell the sandbox's EC2 compute (ec2_compute.Ec2Compute)."""

    def launched(self, account_id: str, region: str, instance_id: str, user_data: str) -> None: ...

    def state_changed(self, instance_id: str, state: str) -> None: ...

    def console_text(self, instance_id: str) -> str | None:
        """The instance's console output, or None to let moto answer."""


def _user_data_text(user_data: Any) -> str:
    if user_data is None:
        return ""
    try:
        return user_data.decode() if hasattr(user_data, "decode") else str(user_data)
    except (ValueError, UnicodeDecodeError):
        return ""


def install_ec2_instances(patches: Patches, events: Ec2Events) -> None:
    """Let compute follow instances (launch, start, stop, terminate, reboot) and serve their console.

    - InstanceBackend.run_instances / start_instances / stop_instances / terminate_instances /
      reboot_instances: wrapped, moto's original first, then events hears of the new state.
    - General.get_console_output (the response method): the app's console for instances events knows.
    """
    from moto.core.responses import ActionResult
    from moto.core.types import Base64EncodedString
    from moto.core.utils import utcnow
    from moto.ec2.models.instances import InstanceBackend
    from moto.ec2.responses.general import General

    original_run = InstanceBackend.__dict__["run_instances"]

    def run_instances(backend: Any, image_id: str, count: int, user_data: Any, security_group_names: list[str],
                      **kwargs: Any) -> Any:
        reservation = original_run(backend, image_id, count, user_data, security_group_names, **kwargs)
        text = _user_data_text(user_data)
        for instance in reservation.instances:
            try:
                events.launched(backend.account_id, backend.region_name, instance.id, text)
            except Exception:  # the launch itself succeeded: never fail moto's answer
                log.exception("sandbox could not start the app of %s", instance.id)
        return reservation

    patches.set(InstanceBackend, "run_instances", run_instances)

    def follow(method: str) -> None:
        original = InstanceBackend.__dict__[method]

        def wrapped(backend: Any, instance_ids: list[str], *args: Any, **kwargs: Any) -> Any:
            result = original(backend, instance_ids, *args, **kwargs)
            for item in result:
                instance = item[0] if isinstance(item, tuple) else item
                events.state_changed(instance.id, instance._state.name)
            return result

        patches.set(InstanceBackend, method, wrapped)

    for method in ("start_instances", "stop_instances", "terminate_instances", "reboot_instances"):
        follow(method)

    original_console = General.__dict__["get_console_output"]

    def get_console_output(response: Any) -> Any:
        instance_id = response._get_param("InstanceId")
        text = events.console_text(instance_id)
        if text is None:
            return original_console(response)
        instance = response.ec2_backend.get_instance(instance_id)  # unknown ids fail as moto does
        return ActionResult({"InstanceId": instance.id, "Timestamp": utcnow(),
                             "Output": Base64EncodedString.from_raw_string(text)})

    patches.set(General, "get_console_output", get_console_output)


def install_ubuntu_amis(patches: Patches, parameters: dict[str, tuple[str, str]], owner: str, prefix: str) -> None:
    """Make SSM public parameters (name -> (AMI id, image name)) answer, with those images described.

    - ssm ParameterDict._check_loading_status: on the first lookup of a name under prefix, adds
      them (moto loads AWS's public parameters lazily, per path; these join that load).
    - ec2 AmiBackend._load_amis: registers the images, owned by owner, in every region's list.
    """
    from moto.core.utils import utcnow
    from moto.ec2.models.amis import Ami, AmiBackend
    from moto.ssm.models import Parameter, ParameterDict

    original_check = ParameterDict.__dict__["_check_loading_status"]

    def check_loading_status(params: Any, key: str) -> None:
        original_check(params, key)
        if str(key or "").startswith(prefix) and not getattr(params, "_lab_ubuntu_loaded", False):
            params._lab_ubuntu_loaded = True
            for name, (ami_id, _) in parameters.items():
                # dict's own __getitem__: ParameterDict's would call this hook again
                dict.setdefault(params, name, []).append(Parameter(
                    account_id=params.account_id, name=name, value=ami_id, parameter_type="String",
                    description=None, allowed_pattern=None, keyid=None, last_modified_date=utcnow(),
                    version=1, data_type="aws:ec2:image"))

    original_load = AmiBackend.__dict__["_load_amis"]

    def load_amis(backend: Any) -> None:
        original_load(backend)
        for ami_id, image_name in parameters.values():
            backend.amis[ami_id] = Ami(
                backend, ami_id, name=image_name, description=f"Canonical, Ubuntu, {image_name.split('ubuntu-')[-1]}",
                owner_id=owner, public=True, virtualization_type="hvm", architecture="x86_64",
                root_device_type="ebs", root_device_name="/dev/sda1", platform=None, hypervisor="xen")

    patches.set(ParameterDict, "_check_loading_status", check_loading_status)
    patches.set(AmiBackend, "_load_amis", load_amis)


# --- SageMaker ---------------------------------------------------------------------------------

class EndpointEvents(Protocol):
    """What the SageMaker hooks tell the sandbox's SageMaker compute (sagemaker_compute.SageMakerCompute).

    `created` and `updated` get moto's backend and Endpoint objects: the compute reads the
    endpoint config and model from the backend and sets the endpoint's endpoint_status and
    failure_reason as its server comes up (moto makes an endpoint InService at once).
    """

    def created(self, backend: Any, endpoint: Any, config_name: str, tags: list[dict[str, str]] | None) -> None: ...

    def updated(self, backend: Any, endpoint: Any, config_name: str) -> None: ...

    def deleted(self, account_id: str, region: str, name: str) -> None: ...

    def invoke(self, account_id: str, region: str, name: str, status: str | None, body: bytes,
               content_type: str | None, accept: str | None) -> tuple[int, dict[str, Any], str | bytes]:
        """Answer InvokeEndpoint: (HTTP status, headers, body); status is the endpoint's (None if unknown)."""


def install_sagemaker(patches: Patches, events: EndpointEvents) -> None:
    """Make endpoints serve for real (sagemaker_compute.py), with UpdateEndpoint, which moto lacks.

    - SageMakerModelBackend.create_endpoint / delete_endpoint: wrapped, moto's original first.
    - SageMakerResponse.update_endpoint: added (BaseResponse.call_action dispatches to any method
      named after the action); it validates as AWS does, swaps the config and marks it Updating.
    - SageMakerRuntimeResponse.invoke_endpoint: replaced. The backend method returns a fixed body
      and cannot set a status; the request body is `self.raw_body`, the name is read from the path
      (parsing params would read the body), and moto takes the status from the `status` header.
    """
    import urllib.parse

    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends
    from moto.sagemaker.responses import SageMakerResponse
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    original_create = SageMakerModelBackend.__dict__["create_endpoint"]
    original_delete = SageMakerModelBackend.__dict__["delete_endpoint"]

    def create_endpoint(backend: Any, endpoint_name: str, endpoint_config_name: str, tags: Any) -> Any:
        endpoint = original_create(backend, endpoint_name, endpoint_config_name, tags)
        events.created(backend, endpoint, endpoint_config_name, tags)
        return endpoint

    def delete_endpoint(backend: Any, endpoint_name: str) -> None:
        original_delete(backend, endpoint_name)
        events.deleted(backend.account_id, backend.region_name, endpoint_name)

    def update_endpoint(response: Any) -> Any:
        backend = response.sagemaker_backend
        name = response._get_param("EndpointName")
        config_name = response._get_param("EndpointConfigName")
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            raise ValidationError(message=f"Could not find endpoint \"{name}\".")
        if config_name not in backend.endpoint_configs:
            raise ValidationError(message=f"Could not find endpoint configuration \"{config_name}\".")
        if endpoint.endpoint_status != "InService":
            raise ValidationError(message=f"Cannot update in-progress endpoint \"{endpoint.arn}\".")
        config = backend.endpoint_configs[config_name]
        endpoint.previous_config = (endpoint.endpoint_config_name, endpoint.production_variants)
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = endpoint._process_production_variants(config.production_variants)
        endpoint.endpoint_status = "Updating"
        endpoint.failure_reason = None
        events.updated(backend, endpoint, config_name)
        return ActionResult({"EndpointArn": endpoint.arn})

    def invoke_endpoint(response: Any) -> Any:
        name = urllib.parse.unquote(response.path.split("/")[2])  # /endpoints/<name>/invocations
        account, region = response.current_account, response.region
        endpoint = sagemaker_backends[account][region].endpoints.get(name)
        return events.invoke(account, region, name, None if endpoint is None else endpoint.endpoint_status,
                             response.raw_body or b"", response.headers.get("Content-Type"),
                             response.headers.get("Accept"))

    patches.set(SageMakerModelBackend, "create_endpoint", create_endpoint)
    patches.set(SageMakerModelBackend, "delete_endpoint", delete_endpoint)
    patches.add(SageMakerResponse, "update_endpoint", update_endpoint)
    patches.set(SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint)


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
