"""The tag-guarded deleter: student teardown and instructor cleanup both go through it.

A plan is a list of Deletion (dry run: nothing touched). `apply_deletions()` re-reads each
resource's tags right before touching it and deletes only what is still tagged
`lab:course=mlops-aws` and `lab:student=<the planned student>`; anything else is left alone.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

from botocore.exceptions import ClientError

from . import ec2, iam, lambda_, logs, s3, sagemaker
from .aws import Aws
from .errors import LabError, explain, is_not_found
from .i18n import N_, _
from .names import TAG_COURSE, TAG_EXERCISE, TAG_STUDENT, tags_from_text
from .ownership import Seen, kind_label

Progress = Callable[[str], None]

# Dependents before what they depend on: endpoints before their configs and models, instances
# before their security group and key pair, the function before its role and buckets.
KIND_ORDER = ["endpoint", "endpoint-config", "model", "instance", "security-group", "key-pair", "function", "layer",
              "log-group", "role", "policy", "bucket"]
ACTIONS = {"bucket": "empty and delete", "role": "detach policies and delete", "policy": "detach and delete",
           "instance": "terminate", "layer": "delete every version"}
NO_STUDENT = "(no student tag)"
# An action in words, for plans shown to users (the action itself is a code: "stop" stops, anything else deletes).
ACTION_LABELS = {"empty and delete": N_("empty and delete"),
                 "detach policies and delete": N_("detach policies and delete"),
                 "detach and delete": N_("detach and delete"), "terminate": N_("terminate"),
                 "delete every version": N_("delete every version"), "delete": N_("delete"), "stop": N_("stop")}


def action_label(action: str) -> str:
    """Return a deletion's action in the current language."""
    return _(ACTION_LABELS[action]) if action in ACTION_LABELS else action


@dataclass(frozen=True)
class Deletion:
    """One step of a cleanup: what, whose, what will be done and why (allowed False: listed, never touched)."""

    kind: str
    name: str
    id: str
    student: str
    action: str
    why: str
    allowed: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DeletionResult:
    kind: str
    name: str
    student: str
    status: str  # done | gone | skipped | failed
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def deletion(seen: Seen, student: str, action: str | None = None) -> Deletion:
    """Return the planned deletion of a resource seen for `student`: allowed only if tagged for them."""
    action = action or ACTIONS.get(seen.kind, "delete")
    if not seen.tags_known:
        return Deletion(seen.kind, seen.name, seen.id, student, action,
                        _("Named for {student}; IAM lists policies without tags, so its tags are checked "
                          "right before deleting: deleted only if tagged for this student.").format(student=student))
    owner = seen.tags.get(TAG_STUDENT)
    if not seen.course_tagged and owner is None:
        why = (_("Not tagged for the lab (its description carries no lab tags; made by hand?): listed, never deleted.")
               if seen.kind == "layer" else
               _("Not tagged for the lab (no lab:course tag; made by hand?): listed, never deleted."))
        return Deletion(seen.kind, seen.name, seen.id, student, action, why, False)
    if owner is None:
        return Deletion(seen.kind, seen.name, seen.id, student, action,
                        _("Tagged for the course but no lab:student tag: never deleted."), False)
    if owner != student:
        return Deletion(seen.kind, seen.name, seen.id, student, action,
                        _("Tagged {tag}={owner}, not {student}: never deleted.").format(
                            tag=TAG_STUDENT, owner=owner, student=student), False)
    exercise = seen.tags.get(TAG_EXERCISE)
    tags = f"{TAG_COURSE[0]}={TAG_COURSE[1]}, {TAG_STUDENT}={student}"
    why = (_("Tagged {tags}, exercise {exercise}.").format(tags=tags, exercise=exercise) if exercise
           else _("Tagged {tags}.").format(tags=tags))
    return Deletion(seen.kind, seen.name, seen.id, student, action, why)


def ordered(plan: list[Deletion]) -> list[Deletion]:
    """Return a plan in safe deletion order (dependents first)."""
    return sorted(plan, key=lambda d: (KIND_ORDER.index(d.kind), d.student, d.name))


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def _or_none(call: Callable[[], dict[str, str]]) -> dict[str, str] | None:
    try:
        return call()
    except ClientError as err:
        if is_not_found(err):
            return None
        raise


def current_tags(aws: Aws, item: Deletion) -> dict[str, str] | None:
    """Return a resource's tags as AWS has them now, or None if it is gone."""
    kind = item.kind
    if kind == "bucket":
        return s3.get_bucket_tags(aws, item.name) if s3.get_bucket_region(aws, item.name) else None
    if kind == "function":
        return _or_none(lambda: aws.client("lambda").get_function(FunctionName=item.name).get("Tags") or {})
    if kind == "layer":  # layers cannot carry tags: the lab writes them into the description
        latest = lambda_.latest_layer_version(aws, item.name)
        return None if latest is None else tags_from_text(latest.get("Description"))
    if kind == "role":
        if iam.get_role(aws, item.name) is None:
            return None
        return _tags(aws.client("iam").list_role_tags(RoleName=item.name).get("Tags"))
    if kind == "policy":
        return _or_none(lambda: _tags(aws.client("iam").list_policy_tags(PolicyArn=item.id).get("Tags")))
    if kind == "instance":
        instance = ec2.get_instance(aws, item.id)
        if instance is None or instance["State"]["Name"] in ("shutting-down", "terminated"):
            return None
        return ec2.instance_tags(instance)
    if kind == "security-group":
        groups = ec2.describe_security_groups(aws, [item.id])
        return _tags(groups[0].get("Tags")) if groups else None
    if kind == "key-pair":
        key = ec2.get_key_pair(aws, item.name)
        return None if key is None else _tags(key.get("Tags"))
    if kind in ("endpoint", "endpoint-config", "model"):
        getter = {"endpoint": sagemaker.get_endpoint, "endpoint-config": sagemaker.get_endpoint_config,
                  "model": sagemaker.get_model}[kind]
        return None if getter(aws, item.name) is None else sagemaker.get_tags(aws, item.id)
    if kind == "log-group":
        return _or_none(lambda: aws.client("logs").list_tags_for_resource(resourceArn=item.id).get("tags", {}))
    raise LabError(_("The deleter does not know this kind of resource: {kind}.").format(kind=kind), "NotDeletable")


def _delete(aws: Aws, item: Deletion) -> bool:
    kind = item.kind
    if item.action == "stop":
        ec2.stop_instance(aws, item.id)
        return True
    deleters: dict[str, Callable[[], bool]] = {
        "bucket": lambda: s3.delete_bucket(aws, item.name),
        "function": lambda: lambda_.delete_function(aws, item.name),
        "layer": lambda: lambda_.delete_layer(aws, item.name) > 0,
        "role": lambda: iam.delete_role(aws, item.name),
        "policy": lambda: iam.delete_policy(aws, item.id),
        "instance": lambda: ec2.terminate_instance(aws, item.id),
        "security-group": lambda: ec2.delete_security_group(aws, item.id),
        "key-pair": lambda: ec2.delete_key_pair(aws, item.name),
        "endpoint": lambda: sagemaker.delete_endpoint(aws, item.name),
        "endpoint-config": lambda: sagemaker.delete_endpoint_config(aws, item.name),
        # The artifact lives in a student bucket: that bucket's own (tag-checked) deletion takes it.
        "model": lambda: sagemaker.delete_model(aws, item.name, delete_artifact=False),
        "log-group": lambda: logs.delete_log_group(aws, item.name),
    }
    if kind not in deleters:
        raise LabError(_("The deleter does not delete this kind of resource: {kind}.").format(kind=kind),
                       "NotDeletable")
    return deleters[kind]()


def apply_deletions(aws: Aws, plan: list[Deletion], on_progress: Progress = lambda _: None,
                    after_delete: Callable[[Deletion], None] | None = None) -> list[DeletionResult]:
    """Carry out a plan in order, re-reading each resource's tags just before touching it; return what happened.

    A resource whose tags no longer say lab:course=mlops-aws and the planned lab:student is skipped;
    one error does not stop the rest (it is reported as failed). `after_delete` runs after each
    deletion (e.g. removing a key pair's local private key file).
    """
    results: list[DeletionResult] = []
    terminated: list[str] = []
    for i, item in enumerate(plan, 1):
        prefix = f"[{i}/{len(plan)}] {kind_label(item.kind)} {item.name}"

        def record(status: str, message: str) -> None:
            on_progress(f"{prefix}: {message}")
            results.append(DeletionResult(item.kind, item.name, item.student, status, message))

        if not item.allowed:
            record("skipped", item.why)
            continue
        try:
            tags = current_tags(aws, item)
            if tags is None:
                record("gone", _("already gone"))
                continue
            if tags.get(TAG_COURSE[0]) != TAG_COURSE[1] or tags.get(TAG_STUDENT) != item.student:
                record("skipped", _("its tags no longer say {tags}: left alone").format(
                    tags=f"{TAG_COURSE[0]}={TAG_COURSE[1]}, {TAG_STUDENT}={item.student}"))
                continue
            if item.kind in ("security-group", "key-pair") and terminated:
                # A group stays in use until its instances are gone (on AWS, a minute or two).
                for instance_id in terminated:
                    ec2.wait_for_instance_terminated(aws, instance_id, on_progress)
                terminated.clear()
            done = _delete(aws, item)
            if item.kind == "instance" and item.action != "stop" and done:
                terminated.append(item.id)
            if done and after_delete is not None:
                after_delete(item)
            verb = {"stop": _("stopped"), "terminate": _("terminated")}.get(item.action) or _("deleted")
            record("done" if done else "gone", verb if done else _("already gone"))
        except Exception as exc:  # one failure must not leave the rest running
            record("failed", explain(exc, aws.target.endpoint_url).message)
    return results
