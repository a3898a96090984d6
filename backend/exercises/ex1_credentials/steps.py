"""Exercise 1's only step: ask AWS who you are (reads, never writes)."""
from __future__ import annotations

from ...identity import whoami
from ...lab import Decision, LabContext, Progress, Step, StepResult, no_progress, nothing
from . import snippets
from .state import State


def plan_verify(ctx: LabContext, state: State) -> Decision:
    return nothing("Asks AWS who the credentials are; changes nothing.")


def run_verify(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    ident = whoami(ctx.aws)
    who = ident.user_name or ident.arn
    note = f" ({ident.get_user_error})" if ident.get_user_error else ""
    return StepResult("verify", False, f"Credentials work: account {ident.account}, {who}.{note}",
                      {"account": ident.account, "arn": ident.arn, "user_id": ident.user_id,
                       "user_name": ident.user_name, "get_user_error": ident.get_user_error})


STEPS = (
    Step("verify", "Ask AWS who you are",
         "`sts:GetCallerIdentity` needs no permission at all, so it answers for any valid credentials. "
         "The handout's `aws iam get-user` also works for IAM users, but AWS Academy learner labs use a "
         "role and deny it: that is expected, not a failure.", run_verify, snippets.verify, plan_verify),
)
