"""Exercise 3 end to end in the sandbox process: the function really runs on upload."""
import json
import time

import pytest

from backend.aws import Aws, Target
from backend.exercises import get_exercise
from backend.exercises.ex3_lambda import run_batch
from backend.lab import LabContext, apply, apply_teardown, plan, run_checks, teardown_plan
from backend.names import propose_svc

BAD_CSV = b"age,work_class,education\n39,Local-gov,Masters\n"  # most columns missing


@pytest.fixture(scope="module")
def deployed(sandbox_process):
    ctx = LabContext(Aws(Target.sandbox(endpoint_url=sandbox_process)), propose_svc("lambda"))
    apply(ctx, get_exercise(3).steps[:-1])  # everything but the test upload
    yield ctx
    apply_teardown(ctx, get_exercise(3), teardown_plan(ctx, get_exercise(3)))


def test_upload_gives_predictions_logs_and_green_checks(deployed):
    [result] = apply(deployed, [get_exercise(3).step("test")])
    assert result.details["rows"] == 1000
    checks = {r.id: r for r in run_checks(deployed, get_exercise(3))}
    assert all(r.passed for r in checks.values()), [r for r in checks.values() if not r.passed]
    assert "succeeded" in checks["logs"].observed
    assert {p.action for p in plan(deployed, get_exercise(3))} == {"none"}  # a second run would change nothing


def test_a_broken_csv_gives_an_error_report_and_no_predictions(deployed):
    result = run_batch(deployed, BAD_CSV, "broken.csv")
    assert result["status"] == "error" and result["key"] == "errors/broken.csv.json"
    report = json.loads(result["body"])
    assert report["file"].endswith("broken.csv") and report.get("column")
    outputs = [o["Key"] for o in deployed.aws.client("s3").list_objects_v2(
        Bucket=deployed.names.output_bucket).get("Contents", [])]
    assert not any(k.startswith("broken_predictions_") for k in outputs)


def test_twenty_uploads_at_once_give_twenty_outputs(deployed):
    s3 = deployed.aws.client("s3")
    body = s3.get_object(Bucket="layerfiles-mlops-course", Key="input_batch.csv")["Body"].read()
    small = b"\n".join(body.splitlines()[:21]) + b"\n"
    keys = [f"burst/part-{i:02d}.csv" for i in range(20)]
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=deployed.names.input_bucket, Key=k, Body=small), keys))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        outputs = [o["Key"] for o in s3.list_objects_v2(Bucket=deployed.names.output_bucket).get("Contents", [])
                   if o["Key"].startswith("part-")]
        if len(outputs) >= 20:
            break
        time.sleep(1)
    stems = sorted(k.split("_predictions_")[0] for k in outputs)
    assert stems == [f"part-{i:02d}" for i in range(20)]  # each exactly once


def test_teardown_leaves_nothing_tagged_for_the_student(sandbox_process):
    ctx = LabContext(Aws(Target.sandbox(endpoint_url=sandbox_process)), propose_svc("gone"))
    apply(ctx, get_exercise(3).steps[:-1])
    deletions = teardown_plan(ctx, get_exercise(3))
    assert deletions and all(d.allowed for d in deletions)
    assert {r.status for r in apply_teardown(ctx, get_exercise(3), deletions)} == {"done"}
    tagging = ctx.aws.client("resourcegroupstaggingapi")
    left = tagging.get_resources(TagFilters=[{"Key": "lab:student", "Values": [ctx.svc]}])["ResourceTagMappingList"]
    assert left == []


def test_lambda_predictions_match_the_local_model_through_the_cli(deployed, cli):
    """`predict --target lambda` and `--target local` give the same answers for input_batch.csv."""
    from backend.config import COURSE_DIR

    answers = {}
    for target in ("local", "lambda"):
        done = cli("predict", "--target", target, "--svc", deployed.svc, "--csv", str(COURSE_DIR / "input_batch.csv"),
                   "--json")
        assert done.returncode == 0, done.stderr
        answers[target] = json.loads(done.stdout)["predictions"]
    assert len(answers["local"]) == 1000
    assert [p["label"] for p in answers["local"]] == [p["label"] for p in answers["lambda"]]
    assert max(abs(a["probability"] - b["probability"]) for a, b in zip(answers["local"], answers["lambda"])) < 1e-5
