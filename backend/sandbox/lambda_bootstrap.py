"""The sandbox's Lambda runtime interface, run as `python -I -S -u lambda_bootstrap.py` per invocation.

Stdlib only, and nothing from the project: it runs in a fresh interpreter whose sys.path holds
only the function's code, its layers and the AWS SDK. It plays the part of AWS's Python runtime:
imports the handler (the init phase), calls it once with the event from stdin and a context
object, and reports to the sandbox over the pipe named by _LAB_RESULT_FD, one JSON line per
phase: {"kind": "init"} | {"kind": "init_error"} then {"kind": "done"}. The handler's own output
goes to stdout/stderr, which the sandbox turns into CloudWatch log events.
"""
import json
import os
import sys
import time

_T0 = time.perf_counter()
_RESULT = os.fdopen(int(os.environ.pop("_LAB_RESULT_FD")), "w", buffering=1)
sys.path[:0] = json.loads(os.environ.pop("_LAB_SYS_PATH"))
_REQUEST_ID = os.environ.pop("_LAB_REQUEST_ID")
_TIMEOUT_S = float(os.environ.pop("_LAB_TIMEOUT_S"))
_FUNCTION_ARN = os.environ.pop("_LAB_FUNCTION_ARN")
_BOOTSTRAP_FILE = os.path.abspath(__file__)
START_MARK = "\x1e[lab-sandbox] START"


def _send(kind, **fields):
    _RESULT.write(json.dumps(dict(kind=kind, **fields)) + "\n")
    _RESULT.flush()


def _peak_kb():
    """The process's own peak resident memory (VmHWM), in kB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def _user_frames(tb):
    import traceback

    frames = [f for f in traceback.extract_tb(tb)
              if f.filename != _BOOTSTRAP_FILE and not f.filename.startswith("<frozen")]
    return traceback.format_list(frames)


def _error(error_type, message, tb=None, request_id=""):
    stack = _user_frames(tb) if tb is not None else []
    record = f"[ERROR] {error_type}: {message}\nTraceback (most recent call last):\n" + "".join(stack)
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id,
            "stackTrace": stack}, record.rstrip("\n")


def _install_logging():
    """The root handler AWS's Python runtime installs: `[LEVEL]\\t<time>Z\\t<request id>\\t<message>`."""
    import logging

    class _RequestId(logging.Filter):
        def filter(self, record):
            record.aws_request_id = _REQUEST_ID
            return True

    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
                                  "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestId())
    logging.getLogger().addHandler(handler)


class LambdaContext:
    """The context object AWS passes to a Python handler."""

    def __init__(self, deadline):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.invoked_function_arn = _FUNCTION_ARN
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.aws_request_id = _REQUEST_ID
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _load_handler():
    """Import the handler (the init phase); return it, or (error, log record)."""
    import importlib

    spec = os.environ["_HANDLER"]
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as exc:
        return None, _error("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {exc}")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return None, _error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}")
    except SyntaxError as exc:
        return None, _error("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}")
    except Exception as exc:  # noqa: BLE001 - any init failure is reported like AWS does
        return None, _error(type(exc).__name__, str(exc), exc.__traceback__)
    handler = getattr(module, function_name, None)
    if handler is None:
        return None, _error("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return handler, None


def main():
    event = json.loads(sys.stdin.buffer.read() or b"null")
    sys.stdin = open(os.devnull)
    _install_logging()
    handler, failure = _load_handler()
    init_ms = (time.perf_counter() - _T0) * 1000
    if failure is not None:
        sys.stdout.flush()
        _send("init_error", init_ms=init_ms, error=failure[0], record=failure[1], peak_kb=_peak_kb())
        return
    _send("init", init_ms=init_ms)
    # Marks, in the output stream itself, where the init phase's output ends and START goes.
    sys.stdout.write(START_MARK + "\n")
    sys.stdout.flush()
    context = LambdaContext(time.monotonic() + _TIMEOUT_S)
    t0 = time.perf_counter()
    payload = error = record = None
    try:
        result = handler(event, context)
    except Exception as exc:  # noqa: BLE001 - the handler's exception is the invocation's error
        error, record = _error(type(exc).__name__, str(exc), exc.__traceback__, _REQUEST_ID)
    else:
        try:
            payload = json.dumps(result)
        except (TypeError, ValueError) as exc:
            error, record = _error("Runtime.MarshalError", f"Unable to marshal response: {exc}", None, _REQUEST_ID)
    duration_ms = (time.perf_counter() - t0) * 1000
    sys.stdout.flush()
    sys.stderr.flush()
    _send("done", duration_ms=duration_ms, payload=payload, error=error, record=record, peak_kb=_peak_kb())


if __name__ == "__main__":
    main()
