"""Exercise 4's teardown plan: instance, security group, key pair and bundle bucket, through the tag-guarded deleter.

The local private key goes only once its key pair was deleted (on_deleted): a key pair left alone
(not tagged for the student) keeps its key file.
"""
from __future__ import annotations

import stat

from ...deleter import Deletion, deletion
from ...lab import LabContext
from .state import State, key_file


def plan(ctx: LabContext, state: State) -> list[Deletion]:
    seen = [i.seen for i in state.instances]
    seen += [r for r in (state.group.seen if state.group else None, state.key_pair, state.bundle_bucket) if r is not None]
    return [deletion(s, ctx.svc) for s in seen]


def on_deleted(ctx: LabContext, item: Deletion) -> None:
    """After the deleter removed the key pair: remove its private key file (made read-only, so chmod first)."""
    if item.kind != "key-pair" or item.name != ctx.names.key_pair:
        return
    path = key_file(ctx)
    if path.exists():
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
        path.unlink()
