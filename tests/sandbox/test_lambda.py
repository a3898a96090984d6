"""Lambda in the sandbox runs for real: code, layers, environment, limits, logs, S3 triggers, IAM."""
from __future__ import annotations

import base64
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from backend.sandbox import get_sandbox_info

REGION = "eu-central-1"

ECHO = """
import os, sys
print("loaded at init")

def handler(event, context):
    print("handling", event)
    return {
        "event": event,
        "foo": os.environ.get("FOO"),
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "function": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "log_group": os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME"),
        "log_stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        "key_prefix": os.environ["AWS_ACCESS_KEY_ID"][:4],
        "has_token": bool(os.environ.get("AWS_SESSION_TOKEN")),
        "omp_threads": os.environ.get("OMP_NUM_THREADS"),
        "cpus": len(os.sched_getaffinity(0)),
        "leaked": os.environ.get("LAB_PARENT_ONLY"),
        "path": sys.path,
    }
"""

REPORT_RE = re.compile(r"^REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: (?P<duration>\d+\.\d{2}) ms\t"
                       r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<size>\d+) MB\t"
                       r"Max Memory Used: (?P<used>\d+) MB")


def invoke(sandbox_aws, name: str, event=None, **kwargs) -> tuple[dict, str | None, str]:
    """Invoke synchronously; return (payload, FunctionError, the log tail)."""
    resp = sandbox_aws.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event or {}),
                                               LogType="Tail", **kwargs)
    return (json.loads(resp["Payload"].read()), resp.get("FunctionError"),
            base64.b64decode(resp.get("LogResult", "")).decode())


def make_bucket(sandbox_aws, name: str) -> str:
    sandbox_aws.client("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


def test_invoke_returns_the_handlers_payload_with_its_environment(sandbox, sandbox_aws, make_function, monkeypatch):
    monkeypatch.setenv("LAB_PARENT_ONLY", "must not reach the function")
    name = make_function({"app.py": ECHO}, env={"FOO": "bar"}, memory=256)
    payload, error, tail = invoke(sandbox_aws, name, {"a": 1})
    assert error is None
    assert payload["event"] == {"a": 1}
    assert payload["foo"] == "bar"
    assert payload["endpoint"] == sandbox.url
    assert payload["function"] == name
    assert payload["memory"] == "256"
    assert 0 < payload["remaining_ms"] <= 10_000
    assert payload["log_group"] == f"/aws/lambda/{name}"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", payload["log_stream"])
    assert payload["key_prefix"] == "ASIA" and payload["has_token"]  # the role's temporary credentials
    assert payload["omp_threads"] == "1" and payload["cpus"] == 1  # 256 MB is a fraction of a vCPU
    assert payload["leaked"] is None
    assert "handling {'a': 1}" in tail


def test_only_code_layers_and_the_sdk_are_importable(sandbox_aws, make_function):
    source = """
def handler(event, context):
    import boto3, botocore
    missing = []
    for name in ("pandas", "numpy", "moto", "backend", "streamlit", "pytest"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    return missing
"""
    name = make_function({"app.py": source})
    payload, error, _ = invoke(sandbox_aws, name)
    assert error is None
    assert payload == ["pandas", "numpy", "moto", "backend", "streamlit", "pytest"]


def test_layer_python_folder_is_importable(sandbox_aws, make_function, zip_bytes, unique):
    lam = sandbox_aws.client("lambda")
    layer = lam.publish_layer_version(
        LayerName=unique("layer"), CompatibleRuntimes=["python3.12"],
        Content={"ZipFile": zip_bytes({"python/labhelper/__init__.py": "ANSWER = 42\n"})})["LayerVersionArn"]
    source = "import labhelper\ndef handler(event, context):\n    return labhelper.ANSWER\n"
    name = make_function({"app.py": source}, layers=[layer])
    payload, error, _ = invoke(sandbox_aws, name)
    assert (payload, error) == (42, None)


def test_report_line_has_duration_and_max_memory(sandbox_aws, make_function, log_messages, wait_for):
    name = make_function({"app.py": ECHO}, memory=256)
    invoke(sandbox_aws, name)
    messages = wait_for(lambda: log_messages(name))
    assert messages[0].startswith("INIT_START ")
    assert "loaded at init" in messages
    starts = [i for i, m in enumerate(messages) if m.startswith("START RequestId: ")]
    assert len(starts) == 1 and messages.index("loaded at init") < starts[0]
    assert any(m.startswith("END RequestId: ") for m in messages)
    report = REPORT_RE.match(messages[-1])
    assert report, messages[-1]
    assert report["size"] == "256"
    assert 10 < int(report["used"]) < 256  # an interpreter with boto3 loaded
    assert int(report["billed"]) >= float(report["duration"])
    streams = sandbox_aws.client("logs").describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
    assert len(streams) == 1 and "[$LATEST]" in streams[0]["logStreamName"]


def test_handler_exception_is_an_unhandled_function_error(sandbox_aws, make_function, log_messages):
    source = "def handler(event, context):\n    raise ValueError('bad row 3')\n"
    name = make_function({"app.py": source})
    payload, error, tail = invoke(sandbox_aws, name)
    assert error == "Unhandled"
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "bad row 3"
    assert any("app.py" in frame for frame in payload["stackTrace"])
    assert "[ERROR] ValueError: bad row 3\nTraceback (most recent call last):" in tail
    assert any(m.startswith("[ERROR] ValueError: bad row 3") for m in log_messages(name))


def test_missing_module_is_an_import_module_error(sandbox_aws, make_function):
    name = make_function({"app.py": "import pandas\ndef handler(event, context):\n    return 1\n"})
    payload, error, tail = invoke(sandbox_aws, name)
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert payload["errorMessage"] == "Unable to import module 'app': No module named 'pandas'"


def test_exit_without_returning_is_a_runtime_exit_error(sandbox_aws, make_function):
    name = make_function({"app.py": "import sys\ndef handler(event, context):\n    sys.exit(3)\n"})
    payload, error, tail = invoke(sandbox_aws, name)
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert payload["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")


def test_threads_left_running_do_not_hold_the_invocation(sandbox_aws, make_function):
    source = """
import threading, time
def handler(event, context):
    threading.Thread(target=time.sleep, args=(60,)).start()
    return "returned"
"""
    name = make_function({"app.py": source}, timeout=30)
    started = time.monotonic()
    payload, error, _ = invoke(sandbox_aws, name)
    assert (payload, error) == ("returned", None)
    assert time.monotonic() - started < 10


@pytest.mark.reliability("faults")
def test_timeout_kills_the_function_and_says_so(sandbox_aws, make_function, log_messages):
    source = "import time\ndef handler(event, context):\n    print('working')\n    time.sleep(30)\n"
    name = make_function({"app.py": source}, timeout=1)
    payload, error, _ = invoke(sandbox_aws, name)
    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].endswith("Task timed out after 1.00 seconds")
    messages = log_messages(name)
    assert "working" in messages
    assert any(m.endswith("Task timed out after 1.00 seconds") for m in messages)
    report = REPORT_RE.match(messages[-1])
    assert report and 1000 <= float(report["duration"]) < 3000
    assert "Status: timeout" in messages[-1]


@pytest.mark.reliability("faults")
def test_out_of_memory_kills_the_function_and_says_so(sandbox_aws, make_function, log_messages):
    source = """
def handler(event, context):
    print('allocating')
    hog = []
    while True:
        hog.append(b'x' * (8 * 1024 * 1024))
"""
    name = make_function({"app.py": source}, memory=128)
    payload, error, _ = invoke(sandbox_aws, name)
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.OutOfMemory"
    assert payload["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    messages = log_messages(name)
    assert "allocating" in messages
    assert any("Error: Runtime exited with error: signal: killed" in m for m in messages)
    report = REPORT_RE.match(messages[-1])
    assert report and report["used"] == "128" and report["size"] == "128"
    assert "Error Type: Runtime.OutOfMemory" in messages[-1]


def test_event_invocation_is_accepted_at_once_and_runs(sandbox_aws, make_function, log_messages, wait_for):
    source = "import time\ndef handler(event, context):\n    time.sleep(1)\n    print('async done')\n"
    name = make_function({"app.py": source})
    resp = sandbox_aws.client("lambda").invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    assert resp["StatusCode"] == 202
    assert "async done" not in log_messages(name)  # accepted before the handler finished
    wait_for(lambda: "async done" in log_messages(name), timeout=30)


# --- S3-triggered, with the lab's role and policy ----------------------------------------------

COPY_TO_OUTPUT = """
import os, urllib.parse, boto3
s3 = boto3.client("s3")

def handler(event, context):
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        out = f"{key}.{context.aws_request_id}.out"
        s3.put_object(Bucket=os.environ["OUTPUT_BUCKET"], Key=out, Body=body.upper())
        print("wrote", out)
"""


def lab_policy(input_bucket: str, output_bucket: str) -> list[dict]:
    return [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{input_bucket}/*"},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{output_bucket}/*"}]


def wire_trigger(sandbox_aws, function: str, bucket: str) -> None:
    """The lab's step: let S3 invoke the function, then notify it of object-created events."""
    lam, s3 = sandbox_aws.client("lambda"), sandbox_aws.client("s3")
    arn = lam.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    lam.add_permission(FunctionName=function, StatementId="s3-invoke", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn=f"arn:aws:s3:::{bucket}")
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]})


@pytest.fixture
def lab(sandbox_aws, make_role, make_function, unique):
    """Input and output buckets, the role with the lab's policy, the function and its trigger."""
    svc = unique("svc")
    input_bucket, output_bucket = make_bucket(sandbox_aws, f"input-{svc}"), make_bucket(sandbox_aws, f"output-{svc}")
    role = make_role(lab_policy(input_bucket, output_bucket))
    name = make_function({"app.py": COPY_TO_OUTPUT}, role=role, env={"OUTPUT_BUCKET": output_bucket})
    wire_trigger(sandbox_aws, name, input_bucket)
    return {"svc": svc, "input": input_bucket, "output": output_bucket, "function": name}


def output_keys(sandbox_aws, bucket: str) -> list[str]:
    resp = sandbox_aws.client("s3").list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in resp.get("Contents", [])]


def test_object_created_event_runs_the_function(sandbox_aws, lab, log_messages, wait_for):
    s3 = sandbox_aws.client("s3")
    s3.put_object(Bucket=lab["input"], Key="data/input batch.csv", Body=b"a,b\n1,2\n")
    keys = wait_for(lambda: output_keys(sandbox_aws, lab["output"]), timeout=30)
    assert len(keys) == 1 and keys[0].startswith("data/input batch.csv.")
    assert s3.get_object(Bucket=lab["output"], Key=keys[0])["Body"].read() == b"A,B\n1,2\n"
    # The output lands before the invocation ends and its log is written.
    wait_for(lambda: any(m.startswith("wrote data/input batch.csv.") for m in log_messages(lab["function"])))


def test_twenty_concurrent_uploads_give_twenty_outputs_each_once(sandbox, sandbox_aws, lab, log_messages, wait_for):
    s3 = sandbox_aws.client("s3")
    keys = [f"batch-{i:02d}.csv" for i in range(20)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=lab["input"], Key=key, Body=key.encode()), keys))
    wait_for(lambda: len(output_keys(sandbox_aws, lab["output"])) >= 20, timeout=120, interval=0.25)
    wait_for(lambda: get_sandbox_info(sandbox.url).compute["lambda"]["pending_async"] == 0, timeout=60)
    outputs = output_keys(sandbox_aws, lab["output"])
    assert sorted(key.split(".csv.")[0] + ".csv" for key in outputs) == keys  # each input exactly once
    starts = [m for m in log_messages(lab["function"]) if m.startswith("START RequestId: ")]
    assert len(starts) == 20


def test_role_policy_is_enforced_for_the_function(sandbox_aws, make_role, make_function, log_messages, wait_for,
                                                  unique):
    # The handout's defect: the policy names input-bucket-<svc> while the bucket is input-<svc>.
    svc = unique("svc")
    input_bucket, output_bucket = make_bucket(sandbox_aws, f"input-{svc}"), make_bucket(sandbox_aws, f"output-{svc}")
    role = make_role(lab_policy(f"input-bucket-{svc}", f"output-bucket-{svc}"))
    name = make_function({"app.py": COPY_TO_OUTPUT}, role=role, env={"OUTPUT_BUCKET": output_bucket})
    wire_trigger(sandbox_aws, name, input_bucket)
    sandbox_aws.client("s3").put_object(Bucket=input_bucket, Key="input_batch.csv", Body=b"a\n1\n")
    messages = wait_for(lambda: [m for m in log_messages(name) if m.startswith("[ERROR]")], timeout=30)
    assert "AccessDenied" in messages[0] and "GetObject" in messages[0]
    assert output_keys(sandbox_aws, output_bucket) == []


def test_allowed_bucket_works_and_others_are_denied(sandbox_aws, make_role, make_function, unique):
    svc = unique("svc")
    allowed, other = make_bucket(sandbox_aws, f"output-{svc}"), make_bucket(sandbox_aws, f"model-{svc}")
    role = make_role([{"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{allowed}/*"}])
    source = """
import boto3
from botocore.exceptions import ClientError
def handler(event, context):
    s3, result = boto3.client("s3"), {}
    for bucket in event["buckets"]:
        try:
            s3.put_object(Bucket=bucket, Key="k", Body=b"1")
            result[bucket] = "ok"
        except ClientError as err:
            result[bucket] = err.response["Error"]["Code"]
    return result
"""
    name = make_function({"app.py": source}, role=role)
    payload, error, _ = invoke(sandbox_aws, name, {"buckets": [allowed, other]})
    assert error is None
    assert payload == {allowed: "ok", other: "AccessDenied"}
    # The students' own (fake) credentials are not held to any policy.
    sandbox_aws.client("s3").put_object(Bucket=other, Key="k", Body=b"1")


def test_aws_managed_basic_execution_role_grants_logs(sandbox_aws, make_role, make_function, log_messages, unique):
    iam = sandbox_aws.client("iam")
    role_name = unique("basic")
    role = make_role([], logs=False, name=role_name)
    iam.attach_role_policy(RoleName=role_name,
                           PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
    name = make_function({"app.py": "def handler(event, context):\n    print('logged')\n"}, role=role)
    invoke(sandbox_aws, name)
    assert "logged" in log_messages(name)


def test_role_without_logs_permission_leaves_no_logs(sandbox_aws, make_role, make_function, log_messages):
    role = make_role([], logs=False)
    name = make_function({"app.py": "def handler(event, context):\n    print('unseen')\n    return 1\n"},
                         role=role)
    payload, error, _ = invoke(sandbox_aws, name)
    assert (payload, error) == (1, None)
    assert log_messages(name) == []  # as on AWS: the function runs, CloudWatch gets nothing


# --- warm containers, as on AWS -----------------------------------------------------------------

WARM = """
import os, time
LOADED_AT = time.time()  # module level: once per container, like the lab's model
calls = 0

def handler(event, context):
    global calls
    calls += 1
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"pid": os.getpid(), "calls": calls, "loaded_at": LOADED_AT, "foo": os.environ.get("FOO"),
            "stream": context.log_stream_name}
"""


def test_a_warm_container_serves_later_invocations_with_init_once(sandbox_aws, make_function, log_messages,
                                                                  wait_for):
    name = make_function({"app.py": WARM})
    results = [invoke(sandbox_aws, name)[0] for _ in range(3)]
    assert len({r["pid"] for r in results}) == 1
    assert [r["calls"] for r in results] == [1, 2, 3]  # module state lives on: loaded once
    assert len({r["loaded_at"] for r in results}) == 1
    messages = wait_for(lambda: [m for m in log_messages(name) if m.startswith("REPORT")] and log_messages(name))
    assert len([m for m in messages if m.startswith("INIT_START")]) == 1
    reports = [m for m in messages if m.startswith("REPORT")]
    assert len(reports) == 3 and "Init Duration" in reports[0]
    assert not any("Init Duration" in r for r in reports[1:])  # reported on the cold start only
    streams = sandbox_aws.client("logs").describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
    assert [s["logStreamName"] for s in streams] == [results[0]["stream"]]  # one stream per container


@pytest.mark.parametrize("change", ["configuration", "code"])
def test_a_code_or_configuration_change_retires_warm_containers(sandbox_aws, make_function, zip_bytes, change):
    lam = sandbox_aws.client("lambda")
    name = make_function({"app.py": WARM}, env={"FOO": "before"})
    first, _, _ = invoke(sandbox_aws, name)
    if change == "configuration":
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"FOO": "after"}})
    else:
        lam.update_function_code(FunctionName=name, ZipFile=zip_bytes({"app.py": WARM + "\n# v2\n"}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    second, error, tail = invoke(sandbox_aws, name)
    assert error is None
    assert second["pid"] != first["pid"] and second["calls"] == 1
    assert "Init Duration" in tail
    if change == "configuration":
        assert second["foo"] == "after"


def test_a_timed_out_container_is_discarded(sandbox_aws, make_function):
    name = make_function({"app.py": WARM}, timeout=1)
    first, _, _ = invoke(sandbox_aws, name)
    payload, error, _ = invoke(sandbox_aws, name, {"sleep": 5})
    assert error == "Unhandled" and payload["errorType"] == "Sandbox.Timedout"
    after, error, tail = invoke(sandbox_aws, name)
    assert error is None
    assert after["pid"] != first["pid"] and after["calls"] == 1  # a fresh container, cold
    assert "Init Duration" in tail


def test_output_of_each_invocation_goes_with_its_request(sandbox_aws, make_function, log_messages):
    source = "def handler(event, context):\n    print('request', context.aws_request_id, end='')\n"
    name = make_function({"app.py": source})
    ids = [sandbox_aws.client("lambda").invoke(FunctionName=name)["ResponseMetadata"] for _ in range(2)]
    assert len(ids) == 2
    messages = log_messages(name)
    starts = [i for i, m in enumerate(messages) if m.startswith("START RequestId: ")]
    assert len(starts) == 2
    for start in starts:
        request_id = messages[start].split()[2]
        # The line without a line break is still its own event, right after its START.
        assert messages[start + 1] == f"request {request_id}"
        assert messages[start + 2] == f"END RequestId: {request_id}"


# --- limits and names as on AWS -----------------------------------------------------------------

def test_invoke_payload_over_6_mb_is_refused_with_413(sandbox_aws, make_function):
    source = "def handler(event, context):\n    return len(event['data'])\n"
    name = make_function({"app.py": source})
    lam = sandbox_aws.client("lambda")
    near = json.dumps({"data": "x" * (6 * 1024 * 1024 - 100)})
    resp = lam.invoke(FunctionName=name, Payload=near)
    assert json.loads(resp["Payload"].read()) == 6 * 1024 * 1024 - 100  # just under the limit: delivered
    with pytest.raises(ClientError) as raised:
        lam.invoke(FunctionName=name, Payload=json.dumps({"data": "x" * (6 * 1024 * 1024)}))
    error = raised.value.response
    assert error["Error"]["Code"] == "RequestEntityTooLargeException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error["Error"]["Message"] == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"


@pytest.mark.parametrize("name, code, says", [
    ("", "ValidationException", "Member must have length greater than or equal to 1"),
    ("my function", "ValidationException", "Member must satisfy regular expression pattern"),
    ("fn.v1", "ValidationException", "Member must satisfy regular expression pattern"),
    ("f" * 65, "InvalidParameterValueException", "Member must have length less than or equal to 64"),
    ("f" * 141, "ValidationException", "Member must have length less than or equal to 140"),
])
def test_create_function_refuses_names_aws_refuses(sandbox_aws, make_role, zip_bytes, name, code, says):
    from botocore.config import Config

    # Without botocore's own checks, as a raw request (or another SDK) would arrive.
    lam = sandbox_aws.session.client("lambda", region_name=sandbox_aws.region,
                                     endpoint_url=sandbox_aws.target.endpoint_url,
                                     config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as raised:
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=make_role([]), Handler="app.handler",
                            Code={"ZipFile": zip_bytes({"app.py": "def handler(e, c):\n    return 1\n"})})
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert f"at 'functionName' failed to satisfy constraint: {says}" in raised.value.response["Error"]["Message"]


def test_create_function_accepts_a_64_character_name(sandbox_aws, make_role, zip_bytes):
    lam, name = sandbox_aws.client("lambda"), "f" * 64
    created = lam.create_function(FunctionName=name, Runtime="python3.12", Role=make_role([]),
                                  Handler="app.handler", Code={"ZipFile": zip_bytes({"app.py": "x = 1\n"})})
    assert created["FunctionName"] == name
    lam.delete_function(FunctionName=name)


def test_invoke_endpoint_body_over_6_mb_is_a_validation_error(sandbox_aws):
    runtime = sandbox_aws.client("sagemaker-runtime")
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(EndpointName="no-such-endpoint", Body=b"1" * (6 * 1024 * 1024 + 1),
                                ContentType="text/csv")
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert raised.value.response["Error"]["Message"].endswith("has oversize body.")
    with pytest.raises(ClientError) as raised:  # under the limit, the request reaches the endpoint check
        runtime.invoke_endpoint(EndpointName="no-such-endpoint", Body=b"1", ContentType="text/csv")
    assert "not found" in raised.value.response["Error"]["Message"]


# --- S3: one event per upload -------------------------------------------------------------------

RECORD_EVENT = """
import os, boto3
s3 = boto3.client("s3")

def handler(event, context):
    for record in event["Records"]:
        key = record["s3"]["object"]["key"]
        s3.put_object(Bucket=os.environ["OUTPUT_BUCKET"], Key=f"{key}.{record['eventName']}.{context.aws_request_id}",
                      Body=b"")
"""


def test_a_multipart_upload_triggers_the_function_once(sandbox, sandbox_aws, make_role, make_function, unique,
                                                        wait_for, tmp_path):
    svc = unique("svc")
    input_bucket, output_bucket = make_bucket(sandbox_aws, f"input-{svc}"), make_bucket(sandbox_aws, f"output-{svc}")
    name = make_function({"app.py": RECORD_EVENT}, role=make_role(lab_policy(input_bucket, output_bucket)),
                         env={"OUTPUT_BUCKET": output_bucket})
    wire_trigger(sandbox_aws, name, input_bucket)
    big = tmp_path / "big.csv"
    big.write_bytes(b"a,b\n" + b"1,2\n" * (10 * 1024 * 1024 // 4))  # 10 MB: over boto3's 8 MB multipart threshold
    s3 = sandbox_aws.client("s3")
    s3.upload_file(str(big), input_bucket, "big.csv")  # the handout's snippet
    s3.put_object(Bucket=input_bucket, Key="small.csv", Body=b"a\n1\n")
    wait_for(lambda: len(output_keys(sandbox_aws, output_bucket)) >= 2, timeout=60)
    wait_for(lambda: get_sandbox_info(sandbox.url).compute["lambda"]["pending_async"] == 0, timeout=60)
    outputs = sorted(k.rsplit(".", 1)[0] for k in output_keys(sandbox_aws, output_bucket))
    assert outputs == ["big.csv.ObjectCreated:CompleteMultipartUpload", "small.csv.ObjectCreated:Put"]
