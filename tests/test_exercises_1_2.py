"""Exercises 1 and 2: steps are idempotent, checks read real state, the shown code does what the button does."""
import pytest

from backend.config import COURSE_FILES
from backend.exercises import EXERCISES, get_exercise
from backend.lab import LabContext, apply, run_checks

SVC = "anna-1a2b3c"


@pytest.fixture
def ctx(moto_aws, course_bucket):
    return LabContext(moto_aws, SVC)


def passed(ctx, number):
    return {r.id: r.passed for r in run_checks(ctx, get_exercise(number))}


def test_exercise_1_verifies_credentials(ctx):
    ex = get_exercise(1)
    [result] = apply(ctx, ex.steps)
    assert result.details["account"] == "123456789012" and "arn:aws" in result.details["arn"]
    assert all(passed(ctx, 1).values())


def test_exercise_2_runs_then_checks_pass_and_a_second_run_changes_nothing(ctx):
    ex = get_exercise(2)
    assert not any(v for k, v in passed(ctx, 2).items() if k != "course")
    first = apply(ctx, ex.steps)
    assert [r.changed for r in first] == [False, True, True, True]
    assert all(passed(ctx, 2).values())
    for name in COURSE_FILES:
        assert (ctx.workdir / "course" / name).exists()
    second = apply(ctx, ex.steps)
    assert not any(r.changed for r in second)
    assert "nothing to do" in second[2].summary


def test_exercise_2_checks_pass_when_the_student_runs_the_shown_code(ctx, monkeypatch):
    # The snippets are plain boto3: run them as a student would (default session, env credentials).
    for step in get_exercise(2).steps:
        exec(compile(step.code(ctx), f"<{step.id}>", "exec"), {})
    assert all(passed(ctx, 2).values())


def test_upload_before_download_says_what_to_do_first(ctx):
    from backend.errors import LabError

    with pytest.raises(LabError, match="run the download step first"):
        get_exercise(2).step("upload").run(ctx, print)


def test_check_hints_catch_the_handout_typo(ctx):
    s3 = ctx.aws.client("s3")
    s3.create_bucket(Bucket=ctx.names.data_bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    s3.put_object(Bucket=ctx.names.data_bucket, Key="batch_input.csv", Body=b"x")
    [upload] = [r for r in run_checks(ctx, get_exercise(2)) if r.id == "upload"]
    assert not upload.passed and "misnames" in upload.hint


def test_check_hints_catch_a_bucket_in_the_wrong_region(ctx):
    ctx.aws.client("s3", region="us-east-1").create_bucket(Bucket=ctx.names.data_bucket)
    [bucket] = [r for r in run_checks(ctx, get_exercise(2)) if r.id == "bucket"]
    assert not bucket.passed and "us-east-1" in bucket.observed and "LocationConstraint" in bucket.hint


def test_a_different_file_is_not_the_course_file(ctx):
    apply(ctx, get_exercise(2).steps)
    ctx.aws.client("s3").put_object(Bucket=ctx.names.data_bucket, Key="input_batch.csv", Body=b"other")
    results = {r.id: r for r in run_checks(ctx, get_exercise(2))}
    assert results["upload"].passed and not results["same_file"].passed


def test_teardown_removes_the_bucket_and_is_idempotent(ctx):
    ex = get_exercise(2)
    apply(ctx, ex.steps)
    assert ex.teardown(ctx)[0].changed
    assert not passed(ctx, 2)["bucket"]
    assert not ex.teardown(ctx)[0].changed


@pytest.mark.parametrize("options", [{"my_cidr": "203.0.113.7/32"}, {"my_cidr": "203.0.113.7/32", "use_lab_role": True}])
def test_every_exercise_step_shows_valid_code_with_the_students_values(ctx, options):
    ctx = LabContext(ctx.aws, ctx.svc, options)  # my_cidr: no look-up of the public address in tests
    for ex in EXERCISES.values():
        for step in ex.steps:
            code = step.code(ctx)
            compile(code, step.id, "exec")
            assert "import " in code, (ex.number, step.id)  # a runnable snippet, not prose
