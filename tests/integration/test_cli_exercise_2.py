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
    assert failing.returncode == 1 and json.loads(failing.stdout)["failed"] == 3
    dry = cli("lab", "run", "2", "--svc", svc, "--plan", "--json")
    assert dry.returncode == 0, dry.stderr
    assert {p["step"]: p["action"] for p in json.loads(dry.stdout)["plan"]} == {
        "region": "none", "download": "create", "bucket": "create", "upload": "create"}
    assert json.loads(cli("lab", "check", "2", "--svc", svc, "--json").stdout)["failed"] == 3  # it changed nothing
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
    assert {p["action"] for p in json.loads(cli("lab", "run", "2", "--svc", svc, "--plan", "--json").stdout)["plan"]} \
        == {"none"}
    dry_teardown = cli("lab", "teardown", "2", "--svc", svc, "--json")
    assert dry_teardown.returncode == 0 and json.loads(dry_teardown.stdout)["dry_run"]
    assert json.loads(cli("lab", "check", "2", "--svc", svc, "--json").stdout)["failed"] == 0  # nothing deleted
    teardown = cli("lab", "teardown", "2", "--svc", svc, "--yes", "--json")
    assert teardown.returncode == 0, teardown.stderr
    assert [(r["name"], r["status"]) for r in json.loads(teardown.stdout)["results"]] == [(f"data-{svc}", "done")]


def test_teardown_and_run_leave_another_students_bucket_alone(cli, sandbox_process):
    svc = propose_svc("cli")
    s3 = Aws(Target.sandbox(endpoint_url=sandbox_process)).client("s3")
    s3.create_bucket(Bucket=f"data-{svc}", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    tags = [{"Key": "lab:course", "Value": "mlops-aws"}, {"Key": "lab:student", "Value": "someone-else"}]
    s3.put_bucket_tagging(Bucket=f"data-{svc}", Tagging={"TagSet": tags})
    s3.put_object(Bucket=f"data-{svc}", Key="theirs.csv", Body=b"a,b\n")
    run = cli("lab", "run", "2", "--svc", svc, "--step", "bucket")
    assert run.returncode == 3 and f"data-{svc} is tagged lab:student=someone-else" in run.stderr
    teardown = cli("lab", "teardown", "2", "--svc", svc, "--yes", "--json")
    assert teardown.returncode == 0 and json.loads(teardown.stdout)["results"][0]["status"] == "skipped"
    assert s3.get_bucket_tagging(Bucket=f"data-{svc}")["TagSet"] == tags
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=f"data-{svc}")["Contents"]] == ["theirs.csv"]


def test_cli_explains_a_stopped_sandbox_in_one_line(cli, monkeypatch):
    result = cli("lab", "check", "2", "--svc", "anna-123", "--endpoint-url", "http://127.0.0.1:9")
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        "error: The sandbox at http://127.0.0.1:9 is not running: start it with `make run` or `python -m backend sandbox`."]


def test_cli_rejects_an_invalid_service_name(cli):
    result = cli("lab", "run", "2", "--svc", "Bad_Name")
    assert result.returncode == 2 and "lowercase letters" in result.stderr and "Traceback" not in result.stderr
