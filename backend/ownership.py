"""Whose is a resource: the lab's tags decide, the same way for steps, teardown and the class overview.

- tagged `lab:student=<svc>`: the student's own;
- tagged for another student: never adopted, re-tagged or deleted (NotYours names the owner);
- untagged with the student's exact name (made by hand from the handout): adopted and tagged by
  the step that finds it, and the step says so; teardown lists it but leaves it alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .errors import LabError
from .i18n import N_, _
from .names import TAG_COURSE, TAG_STUDENT

Claim = Literal["ours", "adopt"]

# A resource kind in words, for sentences and tables (the kind itself is a code: it picks the deleter).
KIND_LABELS = {
    "bucket": N_("bucket"), "function": N_("function"), "layer": N_("layer"), "role": N_("role"),
    "policy": N_("policy"), "log-group": N_("log group"), "instance": N_("instance"),
    "security-group": N_("security group"), "key-pair": N_("key pair"), "endpoint": N_("endpoint"),
    "endpoint-config": N_("endpoint configuration"), "model": N_("model"),
}


def kind_label(kind: str) -> str:
    """Return a resource kind in the current language ("log-group" -> "log group" / "gruppo di log")."""
    return _(KIND_LABELS[kind]) if kind in KIND_LABELS else kind


@dataclass(frozen=True)
class Seen:
    """A named resource as the account shows it: kind, name, what deleting it takes, its tags."""

    kind: str  # bucket, function, layer, role, policy, log-group, instance, security-group, key-pair, endpoint…
    name: str
    id: str  # ARN, instance id, group id, key name: what a deletion call takes
    tags: dict[str, str] = field(default_factory=dict, compare=False)
    # IAM lists policies without their tags: then the deleter reads them right before deleting.
    tags_known: bool = True

    @property
    def owner(self) -> str | None:
        """Return the lab:student tag, or None when the resource carries none."""
        return self.tags.get(TAG_STUDENT) or None

    @property
    def course_tagged(self) -> bool:
        return self.tags.get(TAG_COURSE[0]) == TAG_COURSE[1]


class NotYours(LabError):
    """A resource with the student's name is tagged for another student."""

    def __init__(self, seen: Seen, svc: str) -> None:
        super().__init__(
            _("The {kind} {name} is tagged {tag}={owner}: it belongs to another student, so the lab will not "
              "adopt, change or delete it for {svc}. Choose another service name in Setup, or ask its owner to "
              "remove it.").format(kind=kind_label(seen.kind), name=seen.name, tag=TAG_STUDENT, owner=seen.owner,
                                   svc=svc),
            "NotYours")
        self.seen = seen


def claim(svc: str, seen: Seen) -> Claim:
    """Return "ours" (tagged for svc) or "adopt" (untagged, made by hand); raise NotYours if another's."""
    owner = seen.owner
    if owner is None:
        return "adopt"
    if owner != svc:
        raise NotYours(seen, svc)
    return "ours"


def adopted_note(seen: Seen) -> str:
    """The sentence a step adds when it adopts an untagged resource."""
    return _("{kind} {name} existed without the lab's tags (made by hand?): adopted and tagged.").format(
        kind=kind_label(seen.kind), name=seen.name)
