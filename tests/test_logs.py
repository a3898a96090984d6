"""The log viewer: CloudWatch events of a Lambda function grouped into its real invocations."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from backend.logs import LogEvent, group_invocations, recent_events

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
RUNTIME = "INIT_START Runtime Version: python:3.12.v38\tRuntime Version ARN: arn:aws:lambda:eu-central-1::runtime:abc"


def events(*messages: str, stream: str = "2025/03/01/[$LATEST]aaa", start: int = 0) -> list[LogEvent]:
    return [LogEvent(T0 + timedelta(milliseconds=start + 10 * i), m, stream) for i, m in enumerate(messages)]


def report(rid: str, ms: float = 812.4, used: int = 143, size: int = 1024, init: float | None = None,
           extra: str = "") -> str:
    line = (f"REPORT RequestId: {rid}\tDuration: {ms:.2f} ms\tBilled Duration: {int(ms) + 1} ms\t"
            f"Memory Size: {size} MB\tMax Memory Used: {used} MB\t")
    if init is not None:
        line += f"Init Duration: {init:.2f} ms\t"
    return line + extra


def cold_start(rid: str = "r-cold", start: int = 0) -> list[LogEvent]:
    return events(RUNTIME, "[INFO]\t2025-03-01T12:00:00.010Z\t\tloaded model s3://model-x/model.onnx",
                  f"START RequestId: {rid} Version: $LATEST",
                  f"[INFO]\t2025-03-01T12:00:00.500Z\t{rid}\ts3://input-x/a.csv: 1000 rows scored",
                  f"END RequestId: {rid}", report(rid, init=1532.1), start=start)


def warm_call(rid: str = "r-warm", start: int = 1000) -> list[LogEvent]:
    return events(f"START RequestId: {rid} Version: $LATEST", f"[INFO]\tt\t{rid}\tscored",
                  f"END RequestId: {rid}", report(rid, ms=95.2, used=151), start=start)


def test_a_cold_start_is_one_invocation_with_its_init_lines():
    (inv,) = group_invocations(cold_start())
    assert inv.request_id == "r-cold"
    assert inv.cold and inv.init_ms == pytest.approx(1532.1)
    assert inv.runtime_version == "python:3.12.v38"
    assert (inv.duration_ms, inv.max_memory_mb, inv.memory_size_mb) == (pytest.approx(812.4), 143, 1024)
    assert inv.status == "success" and not inv.failed and inv.complete
    assert inv.events[0].message.startswith("INIT_START")  # the cold start's lines come with it
    assert any("loaded model" in line for line in inv.output)
    assert not any(line.startswith(("START", "END", "REPORT", "INIT_START")) for line in inv.output)


def test_a_warm_call_is_not_cold_and_newest_comes_first():
    found = group_invocations(cold_start() + warm_call())
    assert [i.request_id for i in found] == ["r-warm", "r-cold"]
    warm = found[0]
    assert not warm.cold and warm.init_ms is None and warm.runtime_version is None
    assert (warm.duration_ms, warm.max_memory_mb) == (pytest.approx(95.2), 151)


def test_an_error_keeps_its_report_and_traceback_as_lines():
    rid = "r-err"
    record = ("[ERROR] BadInputError: bad.csv: row 3, column age: not a number\r"
              "Traceback (most recent call last):\r"
              '  File "/var/task/handler.py", line 109, in lambda_handler\r'
              "    raise failures[0]\r"
              '  File "/var/task/batch_reader.py", line 250, in parse\r'
              "    raise self.error(\"not a number\")")
    found = group_invocations(events(
        f"START RequestId: {rid} Version: $LATEST",
        f"[ERROR]\t2025-03-01T12:00:00.100Z\t{rid}\tbad input bad.csv; no predictions written; report errors/bad.csv.json",
        record, f"END RequestId: {rid}", report(rid)))
    (inv,) = found
    assert inv.failed and inv.status == "error"
    assert inv.error_summary == "BadInputError: bad.csv: row 3, column age: not a number"
    assert inv.traceback[0] == "Traceback (most recent call last):"
    assert inv.traceback[1].startswith('  File "/var/task/handler.py", line 109')
    assert inv.traceback[-1] == '    raise self.error("not a number")'
    assert len(inv.traceback) == 5  # one line each, not one squashed paragraph
    assert any("no predictions written" in line for line in inv.error_report)
    assert not any(line.startswith("  File") for line in inv.error_report)


def test_a_traceback_printed_line_by_line_ends_with_its_exception():
    rid = "r-print"
    (inv,) = group_invocations(events(
        f"START RequestId: {rid}", "Traceback (most recent call last):", '  File "/var/task/h.py", line 3, in f',
        "    1 / 0", "ZeroDivisionError: division by zero", "after the traceback", f"END RequestId: {rid}",
        report(rid)))
    assert inv.failed
    assert inv.traceback[-1] == "ZeroDivisionError: division by zero"
    assert "after the traceback" not in inv.traceback


def test_a_timeout_fails_with_the_timeout_sentence():
    rid = "r-slow"
    (inv,) = group_invocations(events(
        f"START RequestId: {rid} Version: $LATEST",
        f"2025-03-01T12:00:03.000Z {rid} Task timed out after 3.00 seconds",
        f"END RequestId: {rid}", report(rid, ms=3000.0, extra="Status: timeout")))
    assert inv.status == "timeout" and inv.failed
    assert inv.error_summary == "Task timed out after 3.00 seconds"
    assert inv.traceback == []


def test_out_of_memory_is_named_as_such():
    rid = "r-oom"
    (inv,) = group_invocations(events(
        f"START RequestId: {rid}",
        f"RequestId: {rid} Error: Runtime exited with error: signal: killed\nRuntime.OutOfMemory",
        f"END RequestId: {rid}",
        report(rid, used=128, size=128, extra="Status: error\tError Type: Runtime.OutOfMemory")))
    assert inv.status == "out-of-memory" and inv.failed
    assert "Out of memory (128 of 128 MB)" in inv.error_summary


def test_a_lone_init_start_is_no_invocation():
    assert group_invocations(events(RUNTIME)) == []
    # ... and lines before a START belong to that invocation's cold start, not to one of their own.
    found = group_invocations(warm_call("r-1", start=0) + events(RUNTIME, "loading", start=500))
    assert [i.request_id for i in found] == ["r-1"]
    assert not any("loading" in line for line in found[0].output)


def test_streams_are_grouped_apart():
    a = cold_start("r-a", start=0)
    b = [LogEvent(e.timestamp + timedelta(milliseconds=5), e.message.replace("r-cold", "r-b"), "other-stream")
         for e in cold_start("r-cold", start=0)]
    found = group_invocations(sorted(a + b, key=lambda e: e.timestamp))
    assert sorted(i.request_id for i in found) == ["r-a", "r-b"]
    assert all(i.cold and len(i.events) == 6 for i in found)


def test_an_invocation_whose_start_was_cut_off_is_still_real():
    rid = "r-cut"
    found = group_invocations(events(f"[INFO]\tt\t{rid}\ttail of the output", f"END RequestId: {rid}", report(rid))
                              + cold_start("r-next", start=100))
    assert [i.request_id for i in found] == ["r-next", rid]
    assert found[1].partial and found[1].output == [f"[INFO]\tt\t{rid}\ttail of the output"]
    assert found[0].runtime_version == "python:3.12.v38"  # the INIT_START went to the next one


def test_a_running_invocation_is_not_finished_yet():
    (inv,) = group_invocations(events("START RequestId: r-run", "[INFO]\tt\tr-run\tworking"))
    assert inv.status == "running" and not inv.failed and not inv.complete


def test_a_handled_warning_is_not_a_failure():
    (inv,) = group_invocations(warm_call("r-ok") + events("[WARNING]\tt\tr-ok\tno ERRORS here", start=2000))
    assert inv.status == "success"


def test_sandbox_init_line_names_the_interpreter_that_ran():
    line = "INIT_START Runtime Version: python:3.11 (sandbox; the function declares python3.12, not installed here)"
    found = group_invocations(events(line + "\tRuntime Version ARN: none", "START RequestId: r", "END RequestId: r",
                                     report("r", init=10.0)))
    assert found[0].runtime_version.startswith("python:3.11 (sandbox; the function declares python3.12")


def test_recent_events_reads_the_group_oldest_first(moto_aws):
    client = moto_aws.client("logs")
    client.create_log_group(logGroupName="/aws/lambda/f")
    client.create_log_stream(logGroupName="/aws/lambda/f", logStreamName="s")
    now = int(datetime.now(timezone.utc).timestamp() * 1000)
    messages = [e.message for e in cold_start()]
    client.put_log_events(logGroupName="/aws/lambda/f", logStreamName="s",
                          logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(messages)])
    read = recent_events(moto_aws, "/aws/lambda/f")
    assert [e.message for e in read] == messages
    assert [i.request_id for i in group_invocations(read)] == ["r-cold"]
    assert recent_events(moto_aws, "/aws/lambda/missing") == []


def test_the_sandbox_says_which_interpreter_ran_the_function(monkeypatch):
    import sys

    from backend.sandbox import lambda_runtime

    ran = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert lambda_runtime._runtime_version(f"python{ran}") == f"python:{ran} (sandbox)"
    monkeypatch.setattr(lambda_runtime.shutil, "which", lambda name: None)
    assert lambda_runtime._runtime_version("python3.99") == (
        f"python:{ran} (sandbox; the function declares python3.99, not installed here)")
    monkeypatch.setattr(lambda_runtime.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert lambda_runtime._runtime_version("python3.99").startswith(f"python:{ran} (sandbox; the function declares "
                                                                    "python3.99, the sandbox runs it with its own")
