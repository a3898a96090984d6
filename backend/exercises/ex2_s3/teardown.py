"""Exercise 2's teardown plan: the student's bucket, through the tag-guarded deleter."""
from __future__ import annotations

from ...deleter import Deletion, deletion
from ...lab import LabContext
from .state import State


def plan(ctx: LabContext, state: State) -> list[Deletion]:
    return [deletion(state.bucket, ctx.svc)] if state.bucket is not None else []
