"""One table from AWS error codes to sentences a student can act on, and the boundary translator.

Backend functions catch ClientError only to turn "not found" into None/False or a known code into
AwsError; everything else goes up. The CLI and the pages call `explain()` once, at the boundary.
"""
from __future__ import annotations

import logging

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    TokenRetrievalError,
)

from .i18n import N_, _

log = logging.getLogger(__name__)

# Codes that mean "it is not there": callers turn them into None/False.
NOT_FOUND_CODES = frozenset({
    "404", "NoSuchBucket", "NoSuchKey", "NotFound", "NoSuchEntity", "ResourceNotFoundException",
    "NoSuchTagSet", "NoSuchPublicAccessBlockConfiguration", "InvalidKeyPair.NotFound",
    "InvalidGroup.NotFound", "InvalidInstanceID.NotFound", "ValidationException.NotFound",
    "RepositoryNotFoundException", "ImageNotFoundException", "ParameterNotFound",
})

# What to do when the keys expired: the dashboard and the CLI already re-read them once (backend/aws.py).
# The sentences below name it as {fresh_keys}; aws_error() fills it in, in the same language.
_FRESH_KEYS = N_("copy fresh credentials from the learner lab's \"AWS Details\" into ~/.aws/credentials "
                 "(or your own keys with `aws configure`), then try again.")

# Codes with which the sandbox's guard refuses keys that are not its own (backend/sandbox/guard.py).
SANDBOX_KEY_CODES = frozenset({"InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId",
                               "InvalidToken", "AuthFailure"})

# Error code -> what it means for the student and what to do (marked here, translated by aws_error()).
MESSAGES: dict[str, str] = {
    "AccessDenied": N_("Access denied: these credentials may not do this. In an AWS Academy learner lab some "
                       "actions are not allowed; otherwise ask your instructor for the permission."),
    "AccessDeniedException": N_("Access denied: these credentials may not do this."),
    "UnauthorizedOperation": N_("Access denied: these credentials may not do this on EC2."),
    "InvalidClientTokenId": N_("The access key is not valid (or its lab session has ended): {fresh_keys}"),
    "SignatureDoesNotMatch": N_("The secret access key does not match the access key: run `aws configure` again."),
    "ExpiredToken": N_("The session token has expired (learner lab sessions last a few hours): {fresh_keys}"),
    "ExpiredTokenException": N_("The session token has expired (learner lab sessions last a few hours): "
                                "{fresh_keys}"),
    "RequestExpired": N_("The request or its session token has expired (or this computer's clock is wrong): "
                         "{fresh_keys}"),
    "UnrecognizedClientException": N_("The access key or its session token is not valid (or has expired): "
                                      "{fresh_keys}"),
    "InvalidAccessKeyId": N_("The access key is not valid: run `aws configure` again with a current key."),
    "BucketAlreadyExists": N_("That bucket name is taken by another AWS account (bucket names are global): "
                              "choose another service name."),
    "InvalidBucketName": N_("That is not a valid bucket name: lowercase letters, digits and hyphens, "
                            "3–63 characters."),
    "IllegalLocationConstraintException": N_("The bucket exists in another region than the one you are using."),
    "TooManyBuckets": N_("The account has reached its bucket limit: delete buckets you no longer need."),
    "Throttling": N_("AWS is throttling requests: wait a few seconds and try again."),
    "ThrottlingException": N_("AWS is throttling requests: wait a few seconds and try again."),
}


class LabError(Exception):
    """An error the user can act on: `message` is the sentence to show, `code` its short name."""

    def __init__(self, message: str, code: str = "LabError") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class AwsError(LabError):
    """An AWS error translated through MESSAGES."""


class SandboxNotRunning(LabError):
    """The sandbox endpoint does not answer."""


def error_code(err: ClientError) -> str:
    """Return the AWS error code of a ClientError ('' if absent)."""
    return str(err.response.get("Error", {}).get("Code", ""))


def is_not_found(err: ClientError) -> bool:
    """Return True if the error only says the resource does not exist."""
    return error_code(err) in NOT_FOUND_CODES


def aws_error(err: ClientError) -> AwsError:
    """Return the AwsError for a ClientError, with the table's sentence or AWS's own message."""
    code = error_code(err)
    aws_message = err.response.get("Error", {}).get("Message") or str(err)
    op = getattr(err, "operation_name", "") or ""
    sentence = MESSAGES.get(code)
    if sentence:
        text = "{sentence} ({op}: {code})".format(
            sentence=_(sentence).format(fresh_keys=_(_FRESH_KEYS)), op=op, code=code)
    else:
        text = _("{operation} failed: {code}: {message}").format(operation=op, code=code, message=aws_message)
    return AwsError(text, code)


def explain(exc: BaseException, endpoint_url: str | None = None) -> LabError:
    """Return a LabError for anything boto3 or the backend raised, for the CLI or a page to show."""
    if isinstance(exc, LabError):
        return exc
    if isinstance(exc, ClientError):
        if endpoint_url and error_code(exc) in SANDBOX_KEY_CODES:
            # Learner-lab advice would mislead here: the sandbox answers only its own per-install key.
            return AwsError(_("The sandbox at {endpoint} refused these keys: it answers only its own key. "
                              "Run the export line that `make run` and the Setup page show, then try again "
                              "({operation}: {code}).").format(
                                  endpoint=endpoint_url, operation=getattr(exc, "operation_name", ""),
                                  code=error_code(exc)), error_code(exc))
        return aws_error(exc)
    if isinstance(exc, EndpointConnectionError):
        if endpoint_url:
            return SandboxNotRunning(
                _("The sandbox at {endpoint} is not running: start it with `make run` "
                  "or `python -m backend sandbox`.").format(endpoint=endpoint_url), "SandboxNotRunning")
        return LabError(_("Cannot reach AWS ({error}): check your network connection.").format(error=exc),
                        "EndpointConnectionError")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return LabError(_("No AWS credentials found: run `aws configure`, choose a profile that has them, "
                          "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."), "NoCredentials")
    if isinstance(exc, ProfileNotFound):
        return LabError(_("{error}: list your profiles with `aws configure list-profiles`.").format(error=exc),
                        "ProfileNotFound")
    if isinstance(exc, TokenRetrievalError):
        return LabError(_("Your SSO session has expired: run `aws sso login` ({error}).").format(error=exc),
                        "TokenRetrievalError")
    if isinstance(exc, NoRegionError):
        return LabError(_("No region set: choose one on the Setup page or with --region."), "NoRegion")
    if isinstance(exc, BotoCoreError):
        return LabError(str(exc), type(exc).__name__)
    log.exception("unexpected error")
    return LabError(_("Unexpected error: {kind}: {error}").format(kind=type(exc).__name__, error=exc),
                    type(exc).__name__)
