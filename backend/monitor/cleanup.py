"""Instructor cleanup plans over the class snapshot, carried out by the tag-guarded deleter.

A plan is a list of backend.deleter.Deletion (a dry run: nothing touched). Only what is tagged
lab:course=mlops-aws and lab:student=<the student> is allowed; the deleter reads the tags again
right before each deletion. Untagged, hand-made resources are listed and left alone.
"""
from __future__ import annotations

from datetime import datetime

from ..aws import Aws
from ..deleter import Deletion, DeletionResult, Progress, apply_deletions, current_tags, deletion, ordered
from ..i18n import _, number
from .snapshot import ClassSnapshot, Resource, collect

# The names callers used before the deleter existed.
PlannedDeletion = Deletion
CleanupResult = DeletionResult

__all__ = ["PlannedDeletion", "CleanupResult", "cleanup_plan", "stop_idle_instances_plan", "delete_endpoints_plan",
           "apply_cleanup", "current_tags"]


def _snapshot(source: ClassSnapshot | Aws) -> ClassSnapshot:
    return source if isinstance(source, ClassSnapshot) else collect(source)


def _plan(resources: list[Resource]) -> list[Deletion]:
    return ordered([deletion(r.seen, r.student) for r in resources])


def cleanup_plan(source: ClassSnapshot | Aws, student: str | None = None) -> list[Deletion]:
    """Return the dry-run list for one student (or the class): tagged resources to delete, untagged ones listed only."""
    snap = _snapshot(source)
    return _plan([r for r in snap.resources if student is None or r.student == student])


def stop_idle_instances_plan(source: ClassSnapshot | Aws, idle_minutes: float = 60.0,
                             now: datetime | None = None) -> list[Deletion]:
    """Return the running tagged instances whose student has changed nothing for idle_minutes (action: stop)."""
    snap = _snapshot(source)
    now = now or snap.taken_at
    last: dict[str, datetime] = {}
    for r in snap.resources:
        if r.created and (r.student not in last or r.created > last[r.student]):
            last[r.student] = r.created
    plan = []
    for r in snap.resources:
        if r.kind == "instance" and r.state in ("running", "pending"):
            idle = (now - last[r.student]).total_seconds() / 60 if r.student in last else float("inf")
            if idle >= idle_minutes:
                item = deletion(r.seen, r.student, "stop")
                plan.append(Deletion(item.kind, item.name, item.id, item.student, "stop",
                                     _("{why} Idle for {minutes} min.").format(why=item.why, minutes=number(round(idle)))
                                     if item.allowed else item.why,
                                     item.allowed))
    return plan


def delete_endpoints_plan(source: ClassSnapshot | Aws) -> list[Deletion]:
    """Return every lab endpoint with its configs and models (they bill by the hour while InService)."""
    snap = _snapshot(source)
    return _plan([r for r in snap.resources if r.kind in ("endpoint", "endpoint-config", "model")])


def apply_cleanup(aws: Aws, plan: list[Deletion], on_progress: Progress = lambda _: None) -> list[DeletionResult]:
    """Carry out a plan in order through the tag-guarded deleter; return what happened to each resource."""
    return apply_deletions(aws, plan, on_progress)
