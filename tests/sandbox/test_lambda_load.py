"""A class's burst of uploads: every one gives exactly one output, through a few warm containers.

Timing (100 uploads drain within 10x one cold upload) is a benchmark: bench/bench_uploads.py.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from backend.sandbox import Sandbox, get_sandbox_info
from backend.sandbox.lambda_runtime import LambdaCompute

pytestmark = pytest.mark.sandbox

CONCURRENCY = 2
IDLE_S = 3.0
UPLOADS = 100
REGION = "eu-central-1"


@pytest.fixture(scope="module")
def sandbox(course_dir):
    compute = LambdaCompute(concurrency=CONCURRENCY, idle_s=IDLE_S)
    with Sandbox(0, course_dir=course_dir, compute=[compute]) as running:
        yield running


# Like the lab's handler, but with a stand-in "model" loaded at module level (once per container).
SCORE = """
import os, time, urllib.parse, boto3
s3 = boto3.client("s3")
MODEL = {"loaded_at": time.time(), "pid": os.getpid()}

def handler(event, context):
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        rows = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
        out = f"{key}.{context.aws_request_id}.out"
        body = f"{MODEL['pid']},{MODEL['loaded_at']},{len(rows)}"
        s3.put_object(Bucket=os.environ["OUTPUT_BUCKET"], Key=out, Body=body.encode())
"""


def lambda_info(sandbox) -> dict:
    return get_sandbox_info(sandbox.url).compute["lambda"]


@pytest.fixture
def lab(sandbox_aws, make_role, make_function, unique):
    svc = unique("load")
    s3, lam = sandbox_aws.client("s3"), sandbox_aws.client("lambda")
    buckets = {kind: f"{kind}-{svc}" for kind in ("input", "output")}
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    role = make_role([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{buckets['input']}/*"},
                      {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{buckets['output']}/*"}])
    name = make_function({"app.py": SCORE}, role=role, env={"OUTPUT_BUCKET": buckets["output"]})
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn=f"arn:aws:s3:::{buckets['input']}")
    s3.put_bucket_notification_configuration(Bucket=buckets["input"], NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    return {"function": name, **buckets}


def all_keys(sandbox_aws, bucket: str) -> list[str]:
    pages = sandbox_aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


@pytest.mark.reliability("load")
def test_a_hundred_concurrent_uploads_give_exactly_a_hundred_outputs(sandbox, sandbox_aws, lab, log_messages,
                                                                    wait_for):
    s3 = sandbox_aws.client("s3")
    keys = [f"batch/part {i:03d}.csv" for i in range(UPLOADS)]
    body = b"age,work_class\n" + b"39,Local-gov\n" * 20
    with ThreadPoolExecutor(max_workers=25) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=lab["input"], Key=key, Body=body), keys))
    wait_for(lambda: len(all_keys(sandbox_aws, lab["output"])) >= UPLOADS, timeout=300, interval=0.5)
    wait_for(lambda: lambda_info(sandbox)["pending_async"] == 0, timeout=60)

    outputs = all_keys(sandbox_aws, lab["output"])
    inputs = sorted(key.split(".csv.")[0] + ".csv" for key in outputs)
    assert inputs == keys  # each upload exactly once: none lost, none twice
    assert lambda_info(sandbox)["failed_async"] == 0
    containers = {s3.get_object(Bucket=lab["output"], Key=key)["Body"].read().decode().rsplit(",", 1)[0]
                  for key in outputs}
    # At most CONCURRENCY containers ran them, each loading its "model" once.
    assert 1 <= len(containers) <= CONCURRENCY
    messages = log_messages(lab["function"])
    assert len([m for m in messages if m.startswith("START RequestId: ")]) == UPLOADS
    assert len([m for m in messages if m.startswith("REPORT RequestId: ")]) == UPLOADS
    assert len([m for m in messages if m.startswith("INIT_START")]) == len(containers)


def test_synchronous_invocations_beyond_the_limit_wait_for_a_container(sandbox, sandbox_aws, make_function):
    source = "import os, time\ndef handler(event, context):\n    time.sleep(0.5)\n    return os.getpid()\n"
    name = make_function({"app.py": source})
    lam = sandbox_aws.client("lambda")

    def call(_: int) -> int:
        resp = lam.invoke(FunctionName=name, Payload=b"{}")
        assert "FunctionError" not in resp
        return json.loads(resp["Payload"].read())

    with ThreadPoolExecutor(max_workers=6) as pool:
        pids = list(pool.map(call, range(6)))
    assert len(pids) == 6 and len(set(pids)) <= CONCURRENCY


def test_idle_containers_are_retired(sandbox, sandbox_aws, make_function, wait_for):
    name = make_function({"app.py": "import os\ndef handler(event, context):\n    return os.getpid()\n"})
    lam = sandbox_aws.client("lambda")
    first = json.loads(lam.invoke(FunctionName=name)["Payload"].read())
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == first  # warm
    wait_for(lambda: lambda_info(sandbox)["containers"]["warm"] == 0 and
             lambda_info(sandbox)["containers"]["busy"] == 0, timeout=IDLE_S * 5)
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) != first  # cold again


def test_deleting_a_function_retires_its_containers(sandbox_aws, make_function):
    name = make_function({"app.py": "import os\ndef handler(event, context):\n    return os.getpid()\n"})
    lam = sandbox_aws.client("lambda")
    pid = json.loads(lam.invoke(FunctionName=name)["Payload"].read())
    os.kill(pid, 0)  # warm: its container is still there
    lam.delete_function(FunctionName=name)
    with pytest.raises(ProcessLookupError):  # gone with the function, not after the idle time
        os.kill(pid, 0)


def test_resetting_the_sandbox_retires_every_container(sandbox, sandbox_aws, make_function):
    name = make_function({"app.py": "import os\ndef handler(event, context):\n    return os.getpid()\n"})
    pid = json.loads(sandbox_aws.client("lambda").invoke(FunctionName=name)["Payload"].read())
    sandbox.reset()  # every function and every credential a container holds are gone
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
