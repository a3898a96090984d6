"""Exercise 5's teardown plan: endpoint, its configs and models, the artifact bucket, the role and its policy,
through the tag-guarded deleter. The serving image stays: it is pushed once per account and shared by the class;
LabRole is the learner lab's, never the student's."""
from __future__ import annotations

import shutil

from ...deleter import Deletion, deletion
from ...lab import LabContext
from .deployment import deployment_deletions
from .state import State, model_dir


def plan(ctx: LabContext, state: State) -> list[Deletion]:
    out = deployment_deletions(ctx.svc, state.endpoint, state.configs, state.models)
    for seen in (state.bucket, state.role.seen if state.role else None, state.policy.seen if state.policy else None):
        if seen is not None:
            out.append(deletion(seen, ctx.svc))
    return out


def on_deleted(ctx: LabContext, item: Deletion) -> None:
    """The artifact bucket gone, the unpacked model goes too (the model step unpacks it again)."""
    if item.kind == "bucket" and item.name == ctx.names.sagemaker_bucket:
        shutil.rmtree(model_dir(ctx), ignore_errors=True)
