"""A function whose output triggers itself is stopped, as AWS's recursive loop detection does."""
from __future__ import annotations

import pytest

from backend.sandbox import Sandbox, get_sandbox_info
from backend.sandbox.lambda_runtime import LambdaCompute

MAX_DEPTH = 3  # AWS stops at about 16; a short chain keeps the test fast


@pytest.fixture(scope="module")
def sandbox(course_dir):
    with Sandbox(0, course_dir=course_dir, compute=[LambdaCompute(max_chain_depth=MAX_DEPTH)]) as running:
        yield running


SELF_TRIGGER = """
import urllib.parse, boto3
s3 = boto3.client("s3")
def handler(event, context):
    record = event["Records"][0]["s3"]
    key = urllib.parse.unquote_plus(record["object"]["key"])
    s3.put_object(Bucket=record["bucket"]["name"], Key=key + ".again", Body=b"1")
"""


def test_self_triggering_function_stops_after_the_chain_limit(sandbox, sandbox_aws, make_role, make_function,
                                                             log_messages, wait_for, unique):
    s3, lam = sandbox_aws.client("s3"), sandbox_aws.client("lambda")
    bucket = unique("loop")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    role = make_role([{"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"}])
    name = make_function({"app.py": SELF_TRIGGER}, role=role)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    s3.put_object(Bucket=bucket, Key="seed", Body=b"1")

    def settled() -> bool:
        done = len([m for m in log_messages(name) if m.startswith("END RequestId")]) >= MAX_DEPTH
        return done and get_sandbox_info(sandbox.url).compute["lambda"]["pending_async"] == 0

    wait_for(settled, timeout=60)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    # seed -> 3 invocations, each writing one object; the write of the last triggers nothing.
    assert sorted(keys) == ["seed", "seed.again", "seed.again.again", "seed.again.again.again"]
    assert len([m for m in log_messages(name) if m.startswith("START RequestId")]) == MAX_DEPTH
