"""One student's part of the class snapshot: what the bulk listings saw, for exercises to build their State.

The class overview (backend/monitor/) fills it from a fixed number of listing calls; each exercise's
`state.from_snapshot(view)` turns it into the same State its `observe(ctx)` builds live, with UNSEEN
where listings cannot see (an object inside a bucket, an HTTP answer), and the exercise's own checks
judge it. No check rule exists twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .names import LabNames
from .ownership import Seen


@dataclass(frozen=True)
class StudentView:
    names: LabNames
    region: str
    # kind -> name -> the resource as listed (kinds as in backend/deleter.KIND_ORDER)
    seen: dict[str, dict[str, Seen]] = field(default_factory=dict)
    # kind -> name -> the raw listing entry (ListFunctions configuration, IAM role with its decoded trust
    # document and AttachedManagedPolicies, policy {"Arn", "Document"}, DescribeInstances instance,
    # DescribeSecurityGroups group, ListEndpoints endpoint, DescribeLogGroups group, …)
    raw: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def get(self, kind: str, name: str) -> Seen | None:
        return self.seen.get(kind, {}).get(name)

    def raw_of(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.raw.get(kind, {}).get(name)

    def all(self, kind: str) -> dict[str, Seen]:
        return self.seen.get(kind, {})

    @property
    def has_resources(self) -> bool:
        return any(self.seen.values())
