"""The sandbox's Lambda runtime interface: one execution environment, run as `python -I -S -u lambda_bootstrap.py`.

Stdlib only, and nothing from the project: it runs in a fresh interpreter whose sys.path holds
only the function's code, its layers and the AWS SDK. It plays the part of AWS's Python runtime
in one container: imports the handler once (the init phase), then calls it for each invocation
the sandbox sends, one at a time, for as long as the sandbox keeps the container warm. Whatever
the handler keeps at module level (the lab's model, its boto3 client) lives on between calls.

Pipes (set up by the sandbox, so no extra file descriptors need to be inherited):
- stdin: invocations, one JSON line each: {"request_id", "event"}; end of file means retire.
- stdout: reports, one JSON line each: {"kind": "init"} | {"kind": "init_error"}, then
  {"kind": "done", "request_id"} per invocation.
- stderr: the handler's output (its stdout and stderr both), which the sandbox turns into
  CloudWatch log events. START/END marks in that stream tell one invocation's output from the
  next without a race between the two pipes.
The handler itself sees /dev/null on stdin and the output pipe on stdout and stderr.
"""
import json
import os
import sys
import time

_T0 = time.perf_counter()
# Take the report and invocation pipes away from fds 1 and 0 before anything can print: the
# handler's stdout joins its stderr, and its stdin is empty. os.dup's copies are not inherited.
_RESULT = os.fdopen(os.dup(1), "w", buffering=1)
_INVOCATIONS = os.fdopen(os.dup(0), "rb")
os.dup2(2, 1)
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)
os.close(_devnull)
sys.path[:0] = json.loads(os.environ.pop("_LAB_SYS_PATH"))
_TIMEOUT_S = float(os.environ.pop("_LAB_TIMEOUT_S"))
_FUNCTION_ARN = os.environ.pop("_LAB_FUNCTION_ARN")
_BOOTSTRAP_FILE = os.path.abspath(__file__)
MARK = "\x1e[lab-sandbox]"  # START <request id> / END <request id>, in the output stream
_request_id = ""  # the invocation being handled, for the log records


def _send(kind, **fields):
    _RESULT.write(json.dumps(dict(kind=kind, **fields)) + "\n")
    _RESULT.flush()


def _mark(kind, request_id):
    sys.stdout.flush()
    sys.stderr.flush()
    sys.stdout.write(f"{MARK} {kind} {request_id}\n")
    sys.stdout.flush()


def _peak_kb():
    """The process's own peak resident memory (VmHWM), in kB: the container's, as AWS reports it."""
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
            record.aws_request_id = _request_id
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

    def __init__(self, request_id, deadline):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.invoked_function_arn = _FUNCTION_ARN
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.aws_request_id = request_id
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


def _invoke(handler, request_id, event):
    """Run one invocation and report it; the handler's exception is the invocation's error."""
    global _request_id
    _request_id = request_id
    _mark("START", request_id)
    context = LambdaContext(request_id, time.monotonic() + _TIMEOUT_S)
    t0 = time.perf_counter()
    payload = error = record = None
    try:
        result = handler(event, context)
    except Exception as exc:  # noqa: BLE001
        error, record = _error(type(exc).__name__, str(exc), exc.__traceback__, request_id)
    else:
        try:
            payload = json.dumps(result)
        except (TypeError, ValueError) as exc:
            error, record = _error("Runtime.MarshalError", f"Unable to marshal response: {exc}", None, request_id)
    duration_ms = (time.perf_counter() - t0) * 1000
    # END goes into the output stream before "done" goes out: once the sandbox has both, it has
    # all of this invocation's output. Threads the handler left running write on, into the next.
    _mark("END", request_id)
    _send("done", request_id=request_id, duration_ms=duration_ms, payload=payload, error=error, record=record,
          peak_kb=_peak_kb())


def main():
    _install_logging()
    handler, failure = _load_handler()
    init_ms = (time.perf_counter() - _T0) * 1000
    sys.stdout.flush()
    sys.stderr.flush()
    if failure is not None:
        _send("init_error", init_ms=init_ms, error=failure[0], record=failure[1], peak_kb=_peak_kb())
        return
    _send("init", init_ms=init_ms)
    for line in _INVOCATIONS:
        message = json.loads(line)
        _invoke(handler, message["request_id"], message["event"])


if __name__ == "__main__":
    main()
