"""Exercise 3's teardown plan, through the tag-guarded deleter.

The function, its layer, the student's own role (never LabRole) and policy, the three buckets (and
the handout-named ones if the student made them) and the log group. The trigger needs no deletion
of its own: S3's permission goes with the function, the notification with the input bucket.
"""
from __future__ import annotations

from ...deleter import Deletion, deletion
from ...lab import LabContext
from .state import State


def plan(ctx: LabContext, state: State) -> list[Deletion]:
    found = [state.function, state.layer, state.role, state.policy, state.log_group,
             *(bucket for _, bucket in state.buckets)]
    seen = [item.seen for item in found if item is not None] + list(state.handout_buckets)
    return [deletion(s, ctx.svc) for s in seen]
