"""Exercise 1's only step: ask AWS who you are (reads, never writes)."""
from __future__ import annotations

from ...i18n import N_, _
from ...identity import whoami
from ...lab import Decision, LabContext, Progress, Step, StepResult, no_progress, nothing
from . import snippets
from .state import State


def plan_verify(ctx: LabContext, state: State) -> Decision:
    return nothing(_("Asks AWS who the credentials are; changes nothing."))


def run_verify(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    ident = whoami(ctx.aws)
    who = ident.user_name or ident.arn
    summary = _("Credentials work: account {account}, {who}.").format(account=ident.account, who=who)
    if ident.get_user_error:
        summary = f"{summary} ({ident.get_user_error})"
    return StepResult("verify", False, summary,
                      {"account": ident.account, "arn": ident.arn, "user_id": ident.user_id,
                       "user_name": ident.user_name, "get_user_error": ident.get_user_error})


STEPS = (
    Step("verify", N_("Ask AWS who you are"),
         N_("`sts:GetCallerIdentity` needs no permission at all, so it answers for any valid credentials. "
            "The handout's `aws iam get-user` also works for IAM users, but AWS Academy learner labs use a "
            "role and deny it: that is expected, not a failure."), run_verify, snippets.verify, plan_verify),
)
