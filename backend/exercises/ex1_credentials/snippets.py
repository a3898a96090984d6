"""The code exercise 1's step shows."""
from __future__ import annotations

from ...i18n import _
from ...lab import LabContext


def verify(ctx: LabContext) -> str:
    # The comments follow the language (marked outside the f-string: Babel does not look inside one).
    terminal = _("In a terminal:  aws sts get-caller-identity   (and: aws iam get-user)")
    works = _("works for every kind of credentials")
    denied = _("AWS Academy learner labs deny this one")
    return f"""\
{ctx.folder_note()}
# {terminal}
import boto3
from botocore.exceptions import ClientError

session = boto3.session.Session(region_name={ctx.region!r})
print(session.client("sts").get_caller_identity())   # {works}
try:
    print(session.client("iam").get_user()["User"])  # {denied}
except ClientError as err:
    print("iam:GetUser refused:", err.response["Error"]["Code"])
"""
