"""Exercise 2 through the CLI against the sandbox process; any boto3 client with AWS_ENDPOINT_URL sees it."""
import json

import boto3

from backend.aws import Aws, Target
from backend.config import COURSE_BUCKET, COURSE_FILES
from backend.names import propose_svc


def test_course_files_are_listed_through_aws_endpoint_url(sandbox_process, monkeypatch):
    # As a student's shell after the `export …` line `make run` prints (the sandbox's own keys).
    for name, value in Aws(Target.sandbox(endpoint_url=sandbox_process)).client_env().items():
        monkeypatch.setenv(name, value)
    keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=COURSE_BUCKET)["Contents"]}
    assert set(COURSE_FILES) <= keys


def test_exercise_2_through_the_cli_then_checks_pass(cli):
    svc = propose_svc("cli")
    failing = cli("lab", "check", "2", "--svc", svc, "--json")
    assert failing.returncode == 1 and "checks failed" in failing.stderr
    run = cli("lab", "run", "2", "--svc", svc, "--json")
    assert run.returncode == 0, run.stderr
    steps = json.loads(run.stdout)["steps"]
    assert [s["step"] for s in steps] == ["region", "download", "bucket", "upload"]
    check = cli("lab", "check", "2", "--svc", svc, "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads(check.stdout)
    assert report["failed"] == 0 and report["passed"] == 4
    again = json.loads(cli("lab", "run", "2", "--svc", svc, "--json").stdout)
    assert not any(s["changed"] for s in again["steps"])
    teardown = cli("lab", "teardown", "2", "--svc", svc, "--json")
    assert teardown.returncode == 0 and json.loads(teardown.stdout)["steps"][0]["changed"]


def test_cli_explains_a_stopped_sandbox_in_one_line(cli, monkeypatch):
    result = cli("lab", "check", "2", "--svc", "anna-123", "--endpoint-url", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: The sandbox at http://127.0.0.1:9 is not running: start it with `make run` or `python -m backend sandbox`."]


def test_cli_rejects_an_invalid_service_name(cli):
    result = cli("lab", "run", "2", "--svc", "Bad_Name")
    assert result.returncode == 2 and "lowercase letters" in result.stderr and "Traceback" not in result.stderr
