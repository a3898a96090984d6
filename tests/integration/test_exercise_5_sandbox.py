"""Exercise 5 end to end against the sandbox process: deploy, InService, real predictions, ModelError, update,
delete."""
from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from backend.artifacts import SAMPLE_RECORD
from backend.aws import Target
from backend.config import COURSE_DIR
from backend.exercises import ex5_sagemaker as ex5
from backend.exercises.ex5_sagemaker import state
from backend.lab import LabContext, apply, apply_teardown, plan, run_checks, teardown_plan
from backend.local_model import LocalModel, records_from_csv
from backend.names import propose_svc
from backend.sandbox import get_sandbox_info


@pytest.fixture
def ctx(sandbox_process):
    # The run's data folder (it holds the sandbox's keys); the fresh service name keeps this test's files apart.
    if "sagemaker" not in get_sandbox_info(sandbox_process).compute:
        pytest.skip("the sandbox runs no SageMaker compute (register SageMakerCompute in default_compute())")
    return LabContext.create(Target.sandbox(endpoint_url=sandbox_process), propose_svc("int5"))


def test_exercise_5_from_nothing_to_matching_predictions_and_back(ctx, cli):
    assert {p.step: p.action for p in plan(ctx, ex5.EXERCISE)} == {
        "image": "none" if state.read_image(ctx).digest else "create",  # one image per account: maybe pushed
        "role": "create", "model": "create", "deploy": "create", "query": "none"}
    results = apply(ctx, ex5.EXERCISE.steps)
    assert "InService" in results[3].summary and "all agree with the local model" in results[4].summary
    checks = run_checks(ctx, ex5.EXERCISE)
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    assert "as the local model" in checks[3].observed
    assert all(p.action == "none" for p in plan(ctx, ex5.EXERCISE)), plan(ctx, ex5.EXERCISE)

    records = records_from_csv((COURSE_DIR / "adult_batch.csv").read_bytes())[:50]
    remote = ex5.predict(ctx, records)
    local = LocalModel(COURSE_DIR / "model.onnx").predict(records)
    assert [p.label for p in remote] == [p.label for p in local]
    assert max(abs(a.probability - b.probability) for a, b in zip(remote, local)) < 1e-4

    with pytest.raises(ClientError) as caught:
        ctx.aws.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=ctx.names.endpoint, ContentType="application/json",
            Body=json.dumps({"dataframe_split": {"columns": ["age"], "data": [[39]]}}))
    assert caught.value.response["Error"]["Code"] == "ModelError"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert caught.value.response["OriginalStatusCode"] == 400

    answer = cli("predict", "--target", "sagemaker", "--svc", ctx.svc, "--record", json.dumps(SAMPLE_RECORD), "--json")
    assert answer.returncode == 0, answer.stderr

    # Another model than the unpacked one: the plan says update, the run replaces it and removes the old one.
    before = ex5.EXERCISE.observe(ctx)
    (ex5.model_dir(ctx) / state.SHA_MARKER).write_text("0" * 64)
    assert [p.action for p in plan(ctx, ex5.EXERCISE) if p.step == "deploy"] == ["update"]
    updated = ex5.EXERCISE.step("deploy").run(ctx, lambda _: None)
    assert updated.summary.startswith("Updated endpoint") and "Deleted the replaced" in updated.summary
    after = ex5.EXERCISE.observe(ctx)
    assert after.endpoint.config != before.endpoint.config and after.endpoint.model_sha == "0" * 64
    assert len(after.configs) == len(after.models) == 1 and after.invocation.agrees

    done = apply_teardown(ctx, ex5.EXERCISE, teardown_plan(ctx, ex5.EXERCISE))
    assert all(r.status == "done" for r in done), done
    assert ex5.endpoint_status(ctx) is None
    assert not run_checks(ctx, ex5.EXERCISE)[2].passed
    assert teardown_plan(ctx, ex5.EXERCISE) == []
