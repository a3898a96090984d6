"""The code exercise 1's step shows."""
from __future__ import annotations

from ...i18n import _
from ...lab import LabContext


def verify(ctx: LabContext) -> str:
    return f"""\
{ctx.folder_note()}
# {_("In a terminal:  aws sts get-caller-identity   (and: aws iam get-user)")}
import boto3
from botocore.exceptions import ClientError

session = boto3.session.Session(region_name={ctx.region!r})
print(session.client("sts").get_caller_identity())   # {_("works for every kind of credentials")}
try:
    print(session.client("iam").get_user()["User"])  # {_("AWS Academy learner labs deny this one")}
except ClientError as err:
    print("iam:GetUser refused:", err.response["Error"]["Code"])
"""
