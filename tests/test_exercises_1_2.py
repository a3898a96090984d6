"""Exercises 1 and 2: steps are idempotent, checks read real state, the shown code does what the button does."""
import pytest

from backend.config import COURSE_FILES
from backend.exercises import EXERCISES, get_exercise
from backend.classview import StudentView
from backend.deleter import apply_deletions
from backend.exercises import FROM_SNAPSHOT
from backend.lab import LabContext, apply, apply_teardown, plan, run_checks, teardown_plan
from backend.names import lab_tags, tag_list
from backend.ownership import NotYours

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
    # The snippets are plain boto3: run them as a student would (default session, env credentials),
    # from the lab folder.
    monkeypatch.chdir(ctx.workdir)
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
    [deletion] = teardown_plan(ctx, ex)
    assert deletion.allowed and deletion.name == ctx.names.data_bucket
    [result] = apply_teardown(ctx, ex, [deletion])
    assert result.status == "done"
    assert not passed(ctx, 2)["bucket"]
    assert teardown_plan(ctx, ex) == []
    assert apply_teardown(ctx, ex, [deletion])[0].status == "gone"


def _everything(aws):
    s3 = aws.client("s3")
    return {b["Name"]: ([o["Key"] for o in s3.list_objects_v2(Bucket=b["Name"]).get("Contents", [])],
                        s3.get_bucket_tagging(Bucket=b["Name"])["TagSet"] if b["Name"] != "layerfiles-mlops-course"
                        else None)
            for b in s3.list_buckets()["Buckets"]}


def test_plan_on_a_fresh_account_says_create_and_changes_nothing_then_none_after_a_run(ctx):
    ex = get_exercise(2)
    before = _everything(ctx.aws)
    first = {p.step: p for p in plan(ctx, ex)}
    assert {k: p.action for k, p in first.items()} == {"region": "none", "download": "create", "bucket": "create",
                                                        "upload": "create"}
    assert _everything(ctx.aws) == before and not (ctx.workdir / "course").exists()
    assert all(p.code == ex.step(p.step).code(ctx) for p in first.values())  # the plan shows the code it runs
    apply(ctx, ex.steps)
    assert {p.action for p in plan(ctx, ex)} == {"none"}


def _foreign_bucket(ctx, owner="someone-else"):
    s3 = ctx.aws.client("s3")
    s3.create_bucket(Bucket=ctx.names.data_bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    s3.put_bucket_tagging(Bucket=ctx.names.data_bucket, Tagging={"TagSet": tag_list(lab_tags(owner, 2))})
    return s3.get_bucket_tagging(Bucket=ctx.names.data_bucket)["TagSet"]


def test_a_bucket_tagged_for_another_student_is_refused_never_retagged_nor_deleted(ctx):
    ex = get_exercise(2)
    tags = _foreign_bucket(ctx)
    planned = {p.step: p for p in plan(ctx, ex)}
    assert planned["bucket"].action == "refuse" and "lab:student=someone-else" in planned["bucket"].reason
    with pytest.raises(NotYours, match=f"bucket {ctx.names.data_bucket} is tagged lab:student=someone-else"):
        ex.step("bucket").run(ctx, print)
    [deletion] = teardown_plan(ctx, ex)
    assert not deletion.allowed
    # even a plan that says "delete" is re-checked against the tags right before deleting
    forced = [type(deletion)(**{**deletion.to_dict(), "allowed": True})]
    assert apply_deletions(ctx.aws, forced)[0].status == "skipped"
    assert ctx.aws.client("s3").get_bucket_tagging(Bucket=ctx.names.data_bucket)["TagSet"] == tags


def test_an_untagged_bucket_with_the_exact_name_is_adopted_and_tagged(ctx):
    s3 = ctx.aws.client("s3")
    s3.create_bucket(Bucket=ctx.names.data_bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    assert {p.step: p.action for p in plan(ctx, get_exercise(2))}["bucket"] == "update"
    result = get_exercise(2).step("bucket").run(ctx, print)
    assert result.changed and "adopted and tagged" in result.summary
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=ctx.names.data_bucket)["TagSet"]}
    assert tags["lab:student"] == SVC and tags["lab:course"] == "mlops-aws"


def test_the_class_view_judges_with_the_same_checks(ctx):
    ex = get_exercise(2)
    apply(ctx, ex.steps)
    live = {r.id: r for r in run_checks(ctx, ex)}
    seen = get_exercise(2).observe(ctx).bucket
    view = StudentView(ctx.names, ctx.region, seen={"bucket": {seen.name: seen}})
    judged = ex.judge(FROM_SNAPSHOT[2](view))
    assert {r.id: r.passed for r in judged} == {"course": None, "bucket": True, "upload": None, "same_file": None}
    for r in judged:
        if r.passed is not None:
            assert r.passed == live[r.id].passed
    empty = ex.judge(FROM_SNAPSHOT[2](StudentView(ctx.names, ctx.region)))
    assert {r.id: r.passed for r in empty}["bucket"] is False


@pytest.mark.parametrize("options", [{"ssh_cidr": "203.0.113.7/32"}, {"ssh_cidr": "203.0.113.7/32", "use_lab_role": True}])
def test_every_exercise_step_shows_valid_code_with_the_students_values(ctx, options):
    ctx = LabContext(ctx.aws, ctx.svc, options)  # ssh_cidr: no look-up of the public address in tests
    for ex in EXERCISES.values():
        for step in ex.steps:
            code = step.code(ctx)
            compile(code, step.id, "exec")
            assert "import " in code, (ex.number, step.id)  # a runnable snippet, not prose


def test_one_run_per_student_and_exercise_at_a_time(ctx):
    from backend.lab import AlreadyRunning, exclusive

    with exclusive(ctx, 2):
        with pytest.raises(AlreadyRunning, match="already running for anna-1a2b3c"):
            with exclusive(ctx, 2):
                pass
        with exclusive(ctx, 3):  # another exercise may run meanwhile
            pass
    with exclusive(ctx, 2):  # released
        pass
