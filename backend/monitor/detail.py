"""One student's drill-down: every exercise's live checks, their resources, the last Lambda errors, endpoint, instances."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .. import ec2, logs, sagemaker
from ..aws import Aws
from ..errors import LabError
from ..i18n import _
from ..lab import CheckResult, LabContext, run_checks
from ..names import TAG_STUDENT, InvalidServiceName, LabNames
from .snapshot import ClassSnapshot, Resource, collect


@dataclass(frozen=True)
class LambdaError:
    started: datetime
    request_id: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class StudentDetail:
    """One student: the exercises' real checks, their resources, the last Lambda errors, endpoint and instances."""

    student: str
    checks: dict[int, list[CheckResult]]
    resources: tuple[Resource, ...]
    lambda_errors: tuple[LambdaError, ...]
    invocations: int
    endpoint: dict[str, Any] | None
    instances: tuple[dict[str, Any], ...]


def student_detail(aws: Aws, svc: str, snapshot: ClassSnapshot | None = None, error_limit: int = 5) -> StudentDetail:
    """Return one student's detail: every exercise's checks (per-student calls), last Lambda errors, endpoint, instances."""
    from ..exercises import EXERCISES

    try:
        names = LabNames(svc)
    except InvalidServiceName:
        raise LabError(_("{svc} is not a service name: its resources are listed, but no checks can run.")
                       .format(svc=repr(svc)), "NotAStudent") from None
    ctx = LabContext(aws, svc)
    checks = {number: run_checks(ctx, exercise) for number, exercise in sorted(EXERCISES.items())}
    resources = tuple((snapshot or collect(aws)).of(svc))
    invocations = [i for i in logs.group_invocations(logs.recent_events(aws, names.lambda_log_group, limit=500))
                   if i.request_id != "-"]
    errors = tuple(LambdaError(i.started, i.request_id, tuple(e.message for e in i.events if e.is_error)[:20])
                   for i in invocations if i.failed)[:error_limit]
    endpoint = sagemaker.get_endpoint(aws, names.endpoint)
    if endpoint is not None:
        endpoint = {k: endpoint.get(k) for k in ("EndpointName", "EndpointStatus", "FailureReason", "EndpointConfigName",
                                                  "CreationTime", "LastModifiedTime", "ProductionVariants")}
    instances = tuple(
        {"InstanceId": i["InstanceId"], "State": i["State"]["Name"], "InstanceType": i.get("InstanceType"),
         "LaunchTime": i.get("LaunchTime"), "PublicIpAddress": i.get("PublicIpAddress"),
         "StateReason": (i.get("StateReason") or {}).get("Message")}
        for i in _student_instances(aws, names))
    return StudentDetail(svc, checks, resources, errors, len(invocations), endpoint, instances)


def _student_instances(aws: Aws, names: LabNames) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for filters in ([{"Name": f"tag:{TAG_STUDENT}", "Values": [names.svc]}],
                    [{"Name": "tag:Name", "Values": [names.instance_name]}],
                    [{"Name": "key-name", "Values": [names.key_pair]}]):
        for instance in ec2.find_instances(aws, filters):
            found.setdefault(instance["InstanceId"], instance)
    return list(found.values())
