"""Exercise 3: the shown snippets, pasted in order from the lab folder, pass all eight checks (with the lab's tags).

They use exercise 2's download (course/input_batch.csv), so exercise 2's snippets run first. The function
really runs in the sandbox: the test snippet uploads, waits for the predictions and prints the log.
"""
import dataclasses
import json

import pytest

from backend import iam
from backend.aws import Target
from backend.exercises import get_exercise
from backend.exercises.ex3_lambda import EXERCISE, HANDLER_FILES, deploy
from backend.lab import LabContext, apply_teardown, plan, run_checks, teardown_plan
from backend.names import propose_svc

from .snippets import run_snippets

BROKEN_CSV = "age,work_class,education\n39,Local-gov,Masters\n"  # most columns missing


def lab(sandbox_process, **options):
    return LabContext.create(Target.sandbox(endpoint_url=sandbox_process), propose_svc("snip3"), **options)


def clean_up(ctx):
    for number in (3, 2):
        apply_teardown(ctx, get_exercise(number), teardown_plan(ctx, get_exercise(number)))


@pytest.fixture
def ctx(sandbox_process):
    ctx = lab(sandbox_process)
    yield ctx
    clean_up(ctx)  # whatever a failed run left


def only(step_id):
    return dataclasses.replace(EXERCISE, steps=(EXERCISE.step(step_id),))


def test_the_shown_code_of_exercise_3_rebuilds_it(ctx):
    run_snippets(ctx, get_exercise(2))
    outputs = dict(zip([s.id for s in EXERCISE.steps], run_snippets(ctx, EXERCISE)))
    # The test snippet shows where the predictions are, their first rows, and the run's log.
    shown = outputs["test"]
    assert f"s3://{ctx.names.output_bucket}/input_batch_predictions_" in shown
    assert "probability" in shown and "START RequestId" in shown and "REPORT RequestId" in shown
    for name in HANDLER_FILES:  # the deployed code is in the lab folder, where the student reads it
        assert (ctx.workdir / "lambda_code" / name).read_bytes() == (deploy.HANDLER_DIR / name).read_bytes()

    failed = [r for r in run_checks(ctx, EXERCISE) if not r.passed]
    assert not failed, failed
    # The snippets did what the buttons do, byte for byte: no button has anything left to do.
    assert {p.step: p.action for p in plan(ctx, EXERCISE)} == {s.id: "none" for s in EXERCISE.steps}

    # A file the function cannot score fails the snippet, with the function's report.
    (ctx.workdir / "course" / "input_batch.csv").write_text(BROKEN_CSV)
    with pytest.raises(AssertionError, match="could not score input_batch.csv") as failure:
        run_snippets(ctx, only("test"))
    assert '"column"' in str(failure.value)

    # Everything the snippets made carries the lab's tags: clean-up finds it all as the student's own.
    deletions = teardown_plan(ctx, EXERCISE)
    assert sorted(d.kind for d in deletions) == sorted(
        ["bucket"] * 3 + ["function", "layer", "log-group", "policy", "role"]), deletions
    assert all(d.allowed for d in deletions), [d for d in deletions if not d.allowed]
    done = apply_teardown(ctx, EXERCISE, deletions)
    assert all(r.status == "done" for r in done), done
    assert teardown_plan(ctx, EXERCISE) == []


@pytest.fixture
def lab_role(sandbox_process):
    """The learner lab's LabRole (an AWS Academy account has it; the sandbox does not): trusted by Lambda, and
    allowed what the lab's own policy allows on any bucket (the sandbox holds a function to its role's policies)."""
    ctx = lab(sandbox_process)
    client = ctx.aws.client("iam")
    made = iam.get_role(ctx.aws, deploy.LAB_ROLE) is None
    if made:
        client.create_role(RoleName=deploy.LAB_ROLE,
                           AssumeRolePolicyDocument=json.dumps(iam.trust_policy(deploy.LAMBDA_SERVICE)))
        broad = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "logs:*"], "Resource": "*"}]}
        client.put_role_policy(RoleName=deploy.LAB_ROLE, PolicyName="learner-lab", PolicyDocument=json.dumps(broad))
    yield
    if made:
        client.delete_role_policy(RoleName=deploy.LAB_ROLE, PolicyName="learner-lab")
        client.delete_role(RoleName=deploy.LAB_ROLE)


def test_with_the_lab_role_option_the_shown_code_runs_with_lab_role(sandbox_process, lab_role):
    ctx = lab(sandbox_process, use_lab_role=True)
    try:
        run_snippets(ctx, dataclasses.replace(get_exercise(2), steps=(get_exercise(2).step("download"),)))
        run_snippets(ctx, EXERCISE)
        failed = [r for r in run_checks(ctx, EXERCISE) if not r.passed]
        assert not failed, failed
        assert iam.get_role(ctx.aws, ctx.names.lambda_role) is None  # no role or policy of the student's own
        deletions = teardown_plan(ctx, EXERCISE)
        assert "role" not in {d.kind for d in deletions} and "policy" not in {d.kind for d in deletions}
        assert all(d.allowed for d in deletions), [d for d in deletions if not d.allowed]
    finally:
        clean_up(ctx)
    assert iam.get_role(ctx.aws, deploy.LAB_ROLE) is not None  # clean-up never touches LabRole
