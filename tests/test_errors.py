import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ProfileNotFound

from backend.errors import AwsError, SandboxNotRunning, explain, is_not_found


def client_error(code, op="CreateBucket"):
    return ClientError({"Error": {"Code": code, "Message": "aws says no"}}, op)


@pytest.mark.parametrize("code, words", [
    ("AccessDenied", "Access denied"),
    ("InvalidClientTokenId", "access key is not valid"),
    ("ExpiredToken", "expired"),
    ("BucketAlreadyExists", "taken by another AWS account"),
])
def test_mapped_codes_become_sentences(code, words):
    err = explain(client_error(code))
    assert isinstance(err, AwsError) and err.code == code and words in err.message


def test_unknown_codes_keep_aws_message():
    err = explain(client_error("WeirdError"))
    assert "WeirdError" in err.message and "aws says no" in err.message


@pytest.mark.parametrize("code, missing", [("NoSuchBucket", True), ("NoSuchEntity", True), ("AccessDenied", False)])
def test_not_found_codes(code, missing):
    assert is_not_found(client_error(code)) is missing


def test_unreachable_sandbox_says_how_to_start_it():
    err = explain(EndpointConnectionError(endpoint_url="http://127.0.0.1:4566"), "http://127.0.0.1:4566")
    assert isinstance(err, SandboxNotRunning) and "make run" in err.message


def test_missing_credentials_and_profile():
    assert "aws configure" in explain(NoCredentialsError()).message
    assert "list-profiles" in explain(ProfileNotFound(profile="nope")).message
