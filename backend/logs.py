"""CloudWatch Logs: a function's recent log lines, grouped into invocations (newest first)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from .aws import Aws
from .errors import is_not_found
from .i18n import _

# What the Lambda service itself writes around a function's output (AWS and the sandbox alike).
_START = re.compile(r"^START RequestId: (\S+)")
_END = re.compile(r"^END RequestId: (\S+)")
_REPORT = re.compile(r"^REPORT RequestId: (\S+)")
_INIT_START = re.compile(r"^INIT_START Runtime Version: ([^\t]+)")
_INIT_REPORT = re.compile(r"^INIT_REPORT\b")
_DURATION = re.compile(r"(?<!Billed )(?<!Init )Duration: ([\d.]+) ms")
_INIT_DURATION = re.compile(r"Init Duration: ([\d.]+) ms")
_MAX_MEMORY = re.compile(r"Max Memory Used: (\d+) MB")
_MEMORY_SIZE = re.compile(r"Memory Size: (\d+) MB")
_STATUS = re.compile(r"Status: ([\w.-]+)")
_ERROR_TYPE = re.compile(r"Error Type: ([\w.-]+)")
# A line that reports a failure: the Python runtime's error record and logging at ERROR and above,
# the service's own timeout / crash lines, and the error shape some runtimes print as JSON.
_ERROR_LINE = re.compile(r"^\[(ERROR|CRITICAL|FATAL)\]|Task timed out after|Runtime exited with error|"
                         r"^RequestId: \S+ Error: |^Runtime\.\w+$|^\{\s*\"errorMessage\"|^INIT_REPORT .*Status: (?!success)")
_TRACEBACK = "Traceback (most recent call last):"
_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")
# The last line of a Python traceback: the exception's name, then its message.
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Timeout|Failure|Warning)\b")
# The Python runtime's logging format: [LEVEL]\t<time>Z\t<request id>\t<message>.
_LOG_RECORD = re.compile(r"^\[[A-Z]+\]\t\S+\t\S+\t")
FAILED = ("error", "timeout", "out-of-memory")


def _lines(message: str) -> list[str]:
    # AWS's Python runtime joins a traceback with \r so that it stays one event; splitlines cuts at both.
    return message.splitlines() or [""]


@dataclass(frozen=True)
class LogEvent:
    timestamp: datetime
    message: str
    stream: str = ""

    @property
    def is_error(self) -> bool:
        """True if the event reports a failure (an error line or a traceback)."""
        return any(_ERROR_LINE.search(line) or line.startswith(_TRACEBACK) for line in _lines(self.message))

    @property
    def is_platform(self) -> bool:
        """True for the lines the Lambda service writes (INIT_START, START, END, REPORT, INIT_REPORT)."""
        return bool(_START.match(self.message) or _END.match(self.message) or _REPORT.match(self.message)
                    or _INIT_START.match(self.message) or _INIT_REPORT.match(self.message))


@dataclass
class Invocation:
    """One run of a function as its log shows it: its cold start (if any), START, its output, END, REPORT.

    `events` holds every line in log order, the cold start's (INIT_START, the handler's import-time
    output) first. `complete` is False while no REPORT is seen (still running, or cut off); `partial`
    is True when its START is older than the lines read.
    """

    request_id: str
    started: datetime
    stream: str = ""
    events: list[LogEvent] = field(default_factory=list)
    duration_ms: float | None = None
    max_memory_mb: int | None = None
    memory_size_mb: int | None = None
    init_ms: float | None = None
    runtime_version: str | None = None  # from INIT_START: the interpreter that ran a cold start
    report_status: str | None = None  # REPORT's "Status:" (timeout, error), None when it has none
    error_type: str | None = None  # REPORT's "Error Type:" (Runtime.OutOfMemory, Runtime.ExitError, …)
    complete: bool = False
    partial: bool = False

    def _add(self, event: LogEvent) -> None:
        self.events.append(event)
        init = _INIT_START.match(event.message)
        if init:
            self.runtime_version = init.group(1).strip()
        if _REPORT.match(event.message):
            self._read_report(event.message)

    def _read_report(self, text: str) -> None:
        def number(pattern: re.Pattern[str], kind: type) -> Any:
            found = pattern.search(text)
            return kind(found.group(1)) if found else None

        self.duration_ms = number(_DURATION, float)
        self.max_memory_mb = number(_MAX_MEMORY, int)
        self.memory_size_mb = number(_MEMORY_SIZE, int)
        self.init_ms = number(_INIT_DURATION, float)
        self.report_status = number(_STATUS, str)
        self.error_type = number(_ERROR_TYPE, str)
        self.complete = True

    @property
    def cold(self) -> bool:
        """True if this invocation started a new execution environment (a cold start)."""
        return self.init_ms is not None or self.runtime_version is not None

    @property
    def output(self) -> list[str]:
        """The function's own lines (its import-time output included), one per line of text."""
        return [line for e in self.events if not e.is_platform for line in _lines(e.message)]

    def _split(self) -> tuple[list[str], list[str]]:
        """(error report lines, traceback lines) of the function's output and the service's lines."""
        report: list[str] = []
        traceback: list[str] = []
        in_traceback = False
        for event in self.events:
            if _START.match(event.message) or _END.match(event.message) or _REPORT.match(event.message):
                in_traceback = False
                continue
            for line in _lines(event.message):
                if line.startswith(_TRACEBACK) or (traceback and line.startswith(_CHAINED)):
                    in_traceback = True
                    traceback.append(line)
                    continue
                if in_traceback:
                    if line.startswith((" ", "\t")) or not line.strip():
                        traceback.append(line)
                        continue
                    in_traceback = False
                    if _EXCEPTION_LINE.match(line):
                        traceback.append(line)
                        continue
                if _ERROR_LINE.search(line):
                    report.append(line)
        while traceback and not traceback[-1].strip():
            traceback.pop()
        return report, traceback

    @property
    def error_report(self) -> list[str]:
        """The lines that say what went wrong (error records, timeout and crash lines), in order."""
        return self._split()[0]

    @property
    def traceback(self) -> list[str]:
        """The Python traceback(s) of the failure, line by line ([] if none was logged)."""
        return self._split()[1]

    @property
    def status(self) -> str:
        """success, error, timeout, out-of-memory, or running (no REPORT yet and nothing failed)."""
        report = self.error_report
        if self.report_status == "timeout" or any("Task timed out after" in line for line in report):
            return "timeout"
        if self.error_type == "Runtime.OutOfMemory" or (
                any("signal: killed" in line for line in report)
                and None not in (self.max_memory_mb, self.memory_size_mb)
                and self.max_memory_mb >= self.memory_size_mb):  # type: ignore[operator]
            return "out-of-memory"
        if self.report_status == "error" or report or self.traceback:
            return "error"
        return "success" if self.complete else "running"

    @property
    def failed(self) -> bool:
        return self.status in FAILED

    @property
    def error_summary(self) -> str:
        """One sentence for the failure ('' if it did not fail): the exception, the timeout or out-of-memory."""
        status = self.status
        if status not in FAILED:
            return ""
        report = self.error_report
        if status == "timeout":
            line = next((x for x in report if "Task timed out after" in x), "")
            # The runtime's own line stays as Lambda wrote it (students search for it).
            return line[line.index("Task timed out"):] if line else _("Task timed out.")
        if status == "out-of-memory":
            if self.memory_size_mb:
                return _("Out of memory ({used} of {size} MB): the runtime was killed (Runtime.OutOfMemory).").format(
                    used=self.max_memory_mb, size=self.memory_size_mb)
            return _("Out of memory: the runtime was killed (Runtime.OutOfMemory).")
        # The unhandled exception's record ("[ERROR] Type: message", no tabs) says it best; else the first error line.
        record = next((x for x in reversed(report) if x.startswith("[ERROR] ") and not _LOG_RECORD.match(x)), None)
        line = record or (report[0] if report else "")
        if _LOG_RECORD.match(line):
            line = line.split("\t", 3)[3]
        line = re.sub(r"^\[[A-Z]+\]\s*", "", line)
        return line or (_("Failed ({error}).").format(error=self.error_type) if self.error_type else _("Failed."))


def recent_events(aws: Aws, group: str, since: datetime | None = None, limit: int = 1000) -> list[LogEvent]:
    """Return up to `limit` newest events of a log group, oldest first ([] if the group does not exist)."""
    kwargs = {"logGroupName": group}
    if since is not None:
        kwargs["startTime"] = int(since.timestamp() * 1000)
    events: list[LogEvent] = []
    try:
        for page in aws.client("logs").get_paginator("filter_log_events").paginate(**kwargs):
            for e in page.get("events", []):
                events.append(LogEvent(datetime.fromtimestamp(e["timestamp"] / 1000, timezone.utc),
                                       e["message"].rstrip("\n"), e.get("logStreamName", "")))
    except ClientError as err:
        if is_not_found(err):
            return []
        raise
    events.sort(key=lambda e: e.timestamp)  # stable: a stream's lines keep their order within a millisecond
    return events[-limit:]


def group_invocations(events: list[LogEvent]) -> list[Invocation]:
    """Group a function's log events into its invocations by request id, newest first.

    Each execution environment logs to its own stream, one invocation at a time, so a stream's lines
    between START and REPORT are that invocation's. Lines before a START (INIT_START, the handler's
    import-time output) are the next invocation's cold start, never an invocation of their own; lines
    left with no START after them (a container still starting) are not shown. An END or REPORT whose
    START is older than the events read still makes a (partial) invocation: it really ran.
    """
    waiting: dict[str, list[LogEvent]] = {}  # per stream: lines not yet followed by a START
    running: dict[str, Invocation] = {}  # per stream: the invocation between its START and REPORT
    by_id: dict[str, Invocation] = {}
    for event in events:
        started = _START.match(event.message)
        if started:
            inv = Invocation(started.group(1), event.timestamp, event.stream)
            for line in waiting.pop(event.stream, []):
                inv._add(line)
            inv._add(event)
            running[event.stream] = by_id[inv.request_id] = inv
            continue
        closing = _END.match(event.message) or _REPORT.match(event.message)
        inv = by_id.get(closing.group(1)) if closing else None
        if inv is None:
            inv = running.get(event.stream)
        if inv is None and closing:  # its START is before the first event read
            early = waiting.pop(event.stream, [])
            inv = Invocation(closing.group(1), early[0].timestamp if early else event.timestamp, event.stream,
                             partial=True)
            for line in early:
                inv._add(line)
            running[event.stream] = by_id[inv.request_id] = inv
        if inv is None:
            waiting.setdefault(event.stream, []).append(event)
            continue
        inv._add(event)
        if _REPORT.match(event.message) and running.get(event.stream) is inv:
            running.pop(event.stream)
    return sorted(by_id.values(), key=lambda i: i.started, reverse=True)


def ensure_log_group(aws: Aws, group: str, tags: dict[str, str]) -> bool:
    """Create a tagged log group unless it exists; return True if it created it."""
    try:
        aws.client("logs").create_log_group(logGroupName=group, tags=tags)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ResourceAlreadyExistsException":
            return False
        raise
    return True


def delete_log_group(aws: Aws, group: str) -> bool:
    """Delete a log group; False if there was none."""
    try:
        aws.client("logs").delete_log_group(logGroupName=group)
    except ClientError as err:
        if is_not_found(err):
            return False
        raise
    return True


def get_log_group(aws: Aws, group: str) -> dict[str, Any] | None:
    """Return a log group as DescribeLogGroups lists it (with `logGroupArn`), or None if there is none."""
    found = aws.client("logs").describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
    match = next((g for g in found if g["logGroupName"] == group), None)
    if match is not None and "logGroupArn" not in match:  # older APIs give only `arn`, ending in :*
        match = {**match, "logGroupArn": match.get("arn", "").removesuffix(":*")}
    return match


def log_group_tags(aws: Aws, arn: str) -> dict[str, str]:
    """Return a log group's tags (by its ARN without the trailing :*)."""
    return aws.client("logs").list_tags_for_resource(resourceArn=arn).get("tags", {})


def tag_log_group(aws: Aws, arn: str, tags: dict[str, str]) -> None:
    """Add tags to a log group, keeping the ones it has (adopting the group Lambda made untagged)."""
    aws.client("logs").tag_resource(resourceArn=arn, tags=tags)
