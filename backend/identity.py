"""Who the current credentials are: STS caller identity and, where allowed, the IAM user."""
from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from .aws import Aws
from .errors import error_code
from .i18n import _


@dataclass(frozen=True)
class Identity:
    account: str
    arn: str
    user_id: str
    user_name: str | None  # from iam:GetUser; None for roles or where it is denied
    get_user_error: str | None  # why iam:GetUser gave nothing (learner labs deny it)

    @property
    def principal(self) -> str:
        """Return the principal's short name: the user, or the assumed role/session."""
        if self.user_name:
            return self.user_name
        return self.arn.split("/", 1)[-1] if "/" in self.arn else self.arn


def whoami(aws: Aws) -> Identity:
    """Return the caller identity; iam:GetUser is tried too and its denial is reported, not raised."""
    caller = aws.client("sts").get_caller_identity()
    user_name, get_user_error = None, None
    if ":assumed-role/" in caller["Arn"]:
        get_user_error = _("These are role credentials (e.g. an AWS Academy learner lab): iam:GetUser applies to "
                           "users only.")
    else:
        try:
            user_name = aws.client("iam").get_user()["User"]["UserName"]
        except ClientError as err:
            if error_code(err) not in ("AccessDenied", "AccessDeniedException", "NoSuchEntity", "ValidationError"):
                raise
            get_user_error = _("iam:GetUser was refused ({code}); sts:GetCallerIdentity is enough to prove the "
                               "credentials work.").format(code=error_code(err))
    return Identity(caller["Account"], caller["Arn"], caller["UserId"], user_name, get_user_error)
