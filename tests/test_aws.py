"""Expired credentials: the Aws facade re-reads them once and retries, else the error says what to do.

A fake AWS in front of moto (a `before-send` hook, as botocore sends) refuses requests signed with
keys it considers expired, the way AWS answers a learner lab's session keys after a few hours.
"""
from __future__ import annotations

import re
import threading

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from moto.core.botocore_stubber import MockRawResponse

from backend.aws import Aws, Target, sandbox_credentials
from backend.config import sandbox_credentials_path
from backend.errors import explain

REGION = "eu-central-1"
OLD = ("ASIAOLDOLDOLDOLDOLD1", "old-secret", "old-token")
NEW = ("ASIANEWNEWNEWNEWNEW2", "new-secret", "new-token")

# How each protocol words a refusal (codes as AWS sends them).
ERROR_BODIES = {
    "query": '<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>'
             '<RequestId>r</RequestId></ErrorResponse>',
    "ec2": '<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>'
           '<RequestID>r</RequestID></Response>',
    "rest-xml": '<Error><Code>{code}</Code><Message>{message}</Message><RequestId>r</RequestId></Error>',
    "rest-json": '{{"message": "{message}"}}',
    "json": '{{"__type": "{code}", "message": "{message}"}}',
}


class FakeAws:
    """Refuses requests signed with an expired access key (with `code`), lets the others through to moto."""

    def __init__(self, code: str = "ExpiredToken", expired: set[str] | None = None) -> None:
        self.code = code
        self.expired = set(expired or {OLD[0]})
        self.seen: list[str] = []  # the access key of every attempt, in order
        self._lock = threading.Lock()

    def attach(self, client) -> None:
        self.protocol = client.meta.service_model.protocol
        client.meta.events.register_first("before-send", self.before_send)

    def before_send(self, request, **_):
        authorization = request.headers.get("Authorization", b"")
        if isinstance(authorization, bytes):
            authorization = authorization.decode()
        match = re.search(r"Credential=([A-Z0-9]+)/", authorization)
        key = match.group(1) if match else ""
        with self._lock:
            self.seen.append(key)
        if key not in self.expired:
            return None  # moto answers
        if request.method == "HEAD":  # S3 answers HEAD without a body
            return AWSResponse(request.url, 400, {}, MockRawResponse(b""))
        protocol = self.protocol
        body = ERROR_BODIES[protocol].format(code=self.code, message="The security token included in the "
                                                                      "request is expired")
        headers = {"x-amzn-ErrorType": self.code} if protocol == "rest-json" else {}
        return AWSResponse(request.url, 400 if "Expired" in self.code else 403, headers,
                           MockRawResponse(body.encode()))


def write_credentials(path, keys) -> None:
    path.write_text("[default]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n"
                    .format(*keys))


@pytest.fixture
def learner_lab(tmp_path, monkeypatch):
    """Session keys in a credentials file (as the learner lab's "AWS Details" gives them), none in the env."""
    from moto import mock_aws

    credentials = tmp_path / "credentials"
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    write_credentials(credentials, OLD)
    with mock_aws():
        # mock_aws puts its own fake keys in the environment, which would win over the file.
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(var, raising=False)
        yield credentials


@pytest.mark.reliability("faults")
def test_expired_token_rereads_the_credentials_file_and_retries_once(learner_lab):
    aws = Aws(Target.aws(region=REGION))
    sts = aws.client("sts")
    fake = FakeAws()
    fake.attach(sts)
    write_credentials(learner_lab, NEW)  # the student pastes fresh keys while the dashboard runs

    assert sts.get_caller_identity()["Account"]
    assert fake.seen == [OLD[0], NEW[0]]  # one refused attempt, one retry with the re-read keys
    frozen = aws.session.get_credentials().get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == NEW
    # Later calls and clients made afterwards use the fresh keys at once.
    sts.get_caller_identity()
    assert fake.seen[-1] == NEW[0] and len(fake.seen) == 3


@pytest.mark.reliability("faults")
def test_a_second_expiry_gives_the_sentence_that_says_what_to_do(learner_lab):
    aws = Aws(Target.aws(region=REGION))
    sts = aws.client("sts")
    fake = FakeAws(expired={OLD[0], NEW[0]})  # the fresh keys are expired too
    fake.attach(sts)
    write_credentials(learner_lab, NEW)

    with pytest.raises(ClientError) as info:
        sts.get_caller_identity()
    assert fake.seen == [OLD[0], NEW[0]]  # retried once, not more
    message = explain(info.value).message
    assert "AWS Details" in message and "~/.aws/credentials" in message and "aws configure" in message

    # Nothing new in the file: no futile retry, the sentence at once.
    with pytest.raises(ClientError):
        sts.get_caller_identity()
    assert fake.seen == [OLD[0], NEW[0], NEW[0]]


def test_unchanged_credentials_are_not_retried(learner_lab):
    aws = Aws(Target.aws(region=REGION))
    sts = aws.client("sts")
    fake = FakeAws()
    fake.attach(sts)
    with pytest.raises(ClientError) as info:
        sts.get_caller_identity()
    assert fake.seen == [OLD[0]]
    assert "AWS Details" in explain(info.value).message


@pytest.mark.parametrize("service, code, call", [
    ("s3", "ExpiredToken", lambda c: c.list_buckets()),
    ("s3", "ExpiredToken", lambda c: c.head_bucket(Bucket="lab-bucket")),  # a bare 400, no code
    ("s3", "ExpiredToken", lambda c: list(c.get_paginator("list_objects_v2").paginate(Bucket="lab-bucket"))),
    ("iam", "InvalidClientTokenId", lambda c: c.list_roles()),
    ("ec2", "RequestExpired", lambda c: c.describe_instances()),
    ("lambda", "UnrecognizedClientException", lambda c: c.list_functions()),
    ("sagemaker", "ExpiredTokenException", lambda c: c.list_endpoints()),
])
def test_every_service_and_code_recovers(learner_lab, service, code, call):
    aws = Aws(Target.aws(region=REGION))
    aws.client("s3").create_bucket(Bucket="lab-bucket",
                                   CreateBucketConfiguration={"LocationConstraint": REGION})
    client = aws.client(service)
    fake = FakeAws(code)
    fake.attach(client)
    write_credentials(learner_lab, NEW)
    call(client)
    assert fake.seen[:2] == [OLD[0], NEW[0]]


def test_other_errors_are_not_retried(learner_lab):
    aws = Aws(Target.aws(region=REGION))
    s3 = aws.client("s3")
    fake = FakeAws("AccessDenied")
    fake.attach(s3)
    write_credentials(learner_lab, NEW)
    with pytest.raises(ClientError) as info:
        s3.list_buckets()
    assert info.value.response["Error"]["Code"] == "AccessDenied" and fake.seen == [OLD[0]]


def test_environment_keys_are_reread_too(learner_lab, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", OLD[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", OLD[1])
    monkeypatch.setenv("AWS_SESSION_TOKEN", OLD[2])
    aws = Aws(Target.aws(region=REGION))
    sts = aws.client("sts")
    fake = FakeAws()
    fake.attach(sts)
    for var, value in zip(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"), NEW):
        monkeypatch.setenv(var, value)
    sts.get_caller_identity()
    assert fake.seen == [OLD[0], NEW[0]]


def test_concurrent_calls_share_one_refresh(learner_lab):
    """A class overview runs calls in threads: all of them recover, the keys are re-read as few times as needed."""
    aws = Aws(Target.aws(region=REGION))
    sts = aws.client("sts")
    fake = FakeAws()
    fake.attach(sts)
    write_credentials(learner_lab, NEW)
    errors: list[BaseException] = []

    barrier = threading.Barrier(8)

    def call():
        try:
            barrier.wait()
            sts.get_caller_identity()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert aws._generation == 1  # one refresh brought the new keys; the others just retried
    refused = fake.seen.count(OLD[0])  # the calls signed before the refresh (the others went out with NEW)
    assert refused >= 1 and len(fake.seen) == len(threads) + refused  # each refused call retried once


def test_sandbox_rereads_its_key_file(monkeypatch):
    """A sandbox restarted with new keys (key file deleted): the dashboard's clients pick them up."""
    aws = Aws(Target.sandbox(endpoint_url="http://127.0.0.1:9"))
    sts = aws.client("sts")
    old_key = sandbox_credentials()["aws_access_key_id"]
    sandbox_credentials_path().unlink()
    new_key = sandbox_credentials()["aws_access_key_id"]
    assert new_key != old_key
    fake = FakeAws("InvalidClientTokenId", expired={old_key})
    fake.attach(sts)
    answered: list[str] = []

    def answer(request, **_):  # the sandbox itself, answering the current key
        answered.append("yes")
        body = (b'<GetCallerIdentityResponse><GetCallerIdentityResult><Account>123456789012</Account>'
                b'<Arn>arn:aws:iam::123456789012:user/x</Arn><UserId>x</UserId></GetCallerIdentityResult>'
                b'</GetCallerIdentityResponse>')
        return AWSResponse(request.url, 200, {}, MockRawResponse(body))

    sts.meta.events.register("before-send", answer)
    assert sts.get_caller_identity()["Account"] == "123456789012"
    assert fake.seen == [old_key, new_key]


def test_sandbox_key_refusal_names_the_sandbox_not_the_learner_lab():
    err = ClientError({"Error": {"Code": "InvalidClientTokenId", "Message": "no"}}, "GetCallerIdentity")
    message = explain(err, "http://127.0.0.1:4566").message
    assert "sandbox" in message and "export line" in message and "AWS Details" not in message
