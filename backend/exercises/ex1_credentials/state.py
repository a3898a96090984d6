"""Exercise 1's state: who the credentials are, and the region."""
from __future__ import annotations

from dataclasses import dataclass

from ...classview import StudentView
from ...identity import Identity, whoami
from ...lab import UNSEEN, LabContext, Unseen


@dataclass(frozen=True)
class State:
    # None: not asked (the class view), but the student has created lab resources, so they worked.
    identity: Identity | None | Unseen
    region: str
    known_regions: tuple[str, ...] | Unseen


def observe(ctx: LabContext) -> State:
    """Ask AWS who the credentials are (raises if they do not work: one clear error)."""
    return State(whoami(ctx.aws), ctx.region, tuple(ctx.aws.session.get_available_regions("s3")))


def from_snapshot(view: StudentView) -> State:
    """The class view cannot ask with a student's credentials: resources they created show they worked."""
    return State(None if view.has_resources else UNSEEN, view.region, UNSEEN)
