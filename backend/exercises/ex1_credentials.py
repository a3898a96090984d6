"""Exercise 1: configure credentials and prove they work."""
from __future__ import annotations

from ..identity import whoami
from ..lab import Check, CheckResult, Exercise, LabContext, Progress, Step, StepResult, no_progress

INTRO = """\
Every call to AWS is signed with credentials. Configure them once with `aws configure` (access key,
secret key, region `eu-central-1`), as a named profile (`aws configure --profile NAME`), or through
the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` for learner labs).
Then prove they work by asking AWS who you are."""


def _verify(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    ident = whoami(ctx.aws)
    who = ident.user_name or ident.arn
    note = f" ({ident.get_user_error})" if ident.get_user_error else ""
    return StepResult("verify", False, f"Credentials work: account {ident.account}, {who}.{note}",
                      {"account": ident.account, "arn": ident.arn, "user_id": ident.user_id,
                       "user_name": ident.user_name, "get_user_error": ident.get_user_error})


def _verify_code(ctx: LabContext) -> str:
    return f"""\
# In a terminal:  aws sts get-caller-identity   (and: aws iam get-user)
import boto3
from botocore.exceptions import ClientError

session = boto3.session.Session(region_name={ctx.region!r})
print(session.client("sts").get_caller_identity())   # works for every kind of credentials
try:
    print(session.client("iam").get_user()["User"])  # AWS Academy learner labs deny this one
except ClientError as err:
    print("iam:GetUser refused:", err.response["Error"]["Code"])
"""


def _check_identity(ctx: LabContext) -> CheckResult:
    title = "Credentials are valid"
    ident = whoami(ctx.aws)
    return CheckResult("identity", title, True, f"Signed in as {ident.arn} (account {ident.account}).")


def _check_region(ctx: LabContext) -> CheckResult:
    title = "A region is configured"
    regions = ctx.aws.session.get_available_regions("s3")
    ok = ctx.region in regions
    return CheckResult("region", title, ok, f"Region: {ctx.region}.",
                       "" if ok else f"{ctx.region!r} is not an AWS region: the lab uses eu-central-1.")


EXERCISE = Exercise(
    number=1,
    title="Credentials",
    intro=INTRO,
    steps=(
        Step("verify", "Ask AWS who you are",
             "`sts:GetCallerIdentity` needs no permission at all, so it answers for any valid credentials. "
             "The handout's `aws iam get-user` also works for IAM users, but AWS Academy learner labs use a "
             "role and deny it: that is expected, not a failure.",
             _verify, _verify_code),
    ),
    checks=(Check("identity", "Credentials are valid", _check_identity),
            Check("region", "A region is configured", _check_region)),
)
