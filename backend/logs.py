"""CloudWatch Logs: a function's recent log lines, grouped into invocations (newest first)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from .aws import Aws
from .errors import is_not_found

_START = re.compile(r"^START RequestId: (\S+)")
_REPORT = re.compile(r"^REPORT RequestId: (\S+).*?Duration: ([\d.]+) ms.*?Max Memory Used: (\d+) MB")
_ERROR_WORDS = ("Traceback", "[ERROR]", "ERROR", "Task timed out", "Runtime exited", "AccessDenied", "errorMessage")


@dataclass(frozen=True)
class LogEvent:
    timestamp: datetime
    message: str
    stream: str

    @property
    def is_error(self) -> bool:
        return any(word in self.message for word in _ERROR_WORDS)


@dataclass
class Invocation:
    """One run of a function as its log shows it: START … REPORT."""

    request_id: str
    started: datetime
    events: list[LogEvent] = field(default_factory=list)
    duration_ms: float | None = None
    max_memory_mb: int | None = None

    @property
    def failed(self) -> bool:
        return any(e.is_error for e in self.events)


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
    events.sort(key=lambda e: e.timestamp)
    return events[-limit:]


def group_invocations(events: list[LogEvent]) -> list[Invocation]:
    """Group events into invocations by RequestId (per stream), newest first; lines outside any go alone."""
    open_by_stream: dict[str, Invocation] = {}
    invocations: list[Invocation] = []
    for event in events:
        started = _START.match(event.message)
        if started:
            inv = Invocation(started.group(1), event.timestamp, [event])
            open_by_stream[event.stream] = inv
            invocations.append(inv)
            continue
        inv = open_by_stream.get(event.stream)
        if inv is None:  # e.g. INIT lines before the first START
            inv = Invocation("-", event.timestamp, [])
            open_by_stream[event.stream] = inv
            invocations.append(inv)
        inv.events.append(event)
        report = _REPORT.match(event.message)
        if report:
            inv.duration_ms, inv.max_memory_mb = float(report.group(2)), int(report.group(3))
            open_by_stream.pop(event.stream, None)
    return sorted(invocations, key=lambda i: i.started, reverse=True)


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
