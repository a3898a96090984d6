"""Exercise 3's steps against moto: idempotent, tagged, the trigger merged, checks catch the handout's mistakes.

(The function's code does not run in plain moto; tests/integration runs it in the sandbox.)
"""
import json

import pytest

from backend import iam, lambda_, s3
from backend.exercises import get_exercise
from backend.lab import LabContext, apply, run_checks

SVC = "anna-1a2b3c"
SETUP_STEPS = ["buckets", "policy", "role", "layer", "function", "trigger"]


@pytest.fixture
def ctx(moto_aws, course_bucket):
    return LabContext(moto_aws, SVC)


def steps(ids):
    ex = get_exercise(3)
    return [ex.step(i) for i in ids]


def checks(ctx):
    return {r.id: r for r in run_checks(ctx, get_exercise(3))}


def test_setup_steps_create_everything_and_a_second_run_changes_nothing(ctx):
    first = apply(ctx, steps(SETUP_STEPS))
    assert all(r.changed for r in first)
    second = apply(ctx, steps(SETUP_STEPS))
    assert not any(r.changed for r in second), [r.summary for r in second]
    result = checks(ctx)
    for check in ("buckets", "model", "policy", "role", "function", "trigger"):
        assert result[check].passed, result[check]
    assert not result["predictions"].passed and not result["logs"].passed


def test_resources_are_tagged_and_private(ctx):
    apply(ctx, steps(SETUP_STEPS))
    names = ctx.names
    for bucket in (names.model_bucket, names.input_bucket, names.output_bucket):
        assert s3.get_bucket_tags(ctx.aws, bucket)["lab:student"] == SVC
        assert s3.get_public_access_block(ctx.aws, bucket) == s3.ALL_PUBLIC_ACCESS_BLOCKED
    tags = ctx.aws.client("lambda").list_tags(Resource=lambda_.get_function(ctx.aws, names.lambda_function)["FunctionArn"])["Tags"]
    assert tags["lab:exercise"] == "3"


def test_policy_names_the_buckets_the_step_created(ctx):
    apply(ctx, steps(["buckets", "policy"]))
    document = iam.get_policy_document(ctx.aws, iam.policy_arn(ctx.aws, ctx.names.lambda_policy))
    resources = {r for st in document["Statement"] for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])}
    assert f"arn:aws:s3:::input-{SVC}/*" in resources and f"arn:aws:s3:::output-{SVC}/*" in resources
    assert not any("-bucket-" in r for r in resources)


def test_function_configuration_follows_the_lab(ctx):
    apply(ctx, steps(SETUP_STEPS))
    config = lambda_.get_function(ctx.aws, ctx.names.lambda_function)
    assert (config["Runtime"], config["MemorySize"], config["Timeout"]) == ("python3.12", 256, 10)
    env = config["Environment"]["Variables"]
    assert env["OUTPUT_BUCKET"] == f"output-{SVC}" and env["MODEL_BUCKET"] == f"model-{SVC}"
    assert config["Layers"][0]["Arn"].split(":")[-2] == f"batch-runtime-{SVC}"


def test_a_changed_setting_is_brought_in_line(ctx):
    apply(ctx, steps(SETUP_STEPS))
    ctx.aws.client("lambda").update_function_configuration(FunctionName=ctx.names.lambda_function, Timeout=3)
    [result] = apply(ctx, steps(["function"]))
    assert result.changed and "configuration" in result.summary
    assert lambda_.get_function(ctx.aws, ctx.names.lambda_function)["Timeout"] == 10


def test_trigger_keeps_existing_notifications(ctx):
    apply(ctx, steps(["buckets"]))
    client = ctx.aws.client("s3")
    queue = ctx.aws.client("sqs").create_queue(QueueName="audit")["QueueUrl"]
    queue_arn = ctx.aws.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client.put_bucket_notification_configuration(Bucket=ctx.names.input_bucket, NotificationConfiguration={
        "QueueConfigurations": [{"Id": "audit", "QueueArn": queue_arn, "Events": ["s3:ObjectRemoved:*"]}]})
    apply(ctx, steps(SETUP_STEPS[1:]))
    config = s3.get_notification_configuration(ctx.aws, ctx.names.input_bucket)
    assert config["QueueConfigurations"][0]["Id"] == "audit"
    assert config["LambdaFunctionConfigurations"][0]["Id"] == ctx.names.lambda_function


def test_handout_policy_is_caught_with_its_typo_named(ctx):
    apply(ctx, steps(["buckets"]))
    handout = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::input-bucket-{SVC}/*"},
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::model-{SVC}/*"},
        {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": f"arn:aws:s3:::output-bucket-{SVC}/*"}]}
    ctx.aws.client("iam").create_policy(PolicyName=ctx.names.lambda_policy, PolicyDocument=json.dumps(handout))
    result = checks(ctx)["policy"]
    assert not result.passed and "input-bucket-" in result.hint
    [fixed] = apply(ctx, steps(["policy"]))
    assert fixed.changed and checks(ctx)["policy"].passed


def test_predictions_in_the_model_bucket_are_caught(ctx):
    apply(ctx, steps(["buckets"]))
    ctx.aws.client("s3").put_object(Bucket=ctx.names.model_bucket, Key="predictions.csv", Body=b"x")
    result = checks(ctx)["predictions"]
    assert not result.passed and "model bucket" in result.hint


def test_trigger_on_the_output_bucket_is_caught(ctx):
    apply(ctx, steps(SETUP_STEPS[:5]))
    arn = lambda_.get_function(ctx.aws, ctx.names.lambda_function)["FunctionArn"]
    s3.ensure_lambda_notification(ctx.aws, ctx.names.output_bucket, arn, "wrong")
    result = checks(ctx)["trigger"]
    assert not result.passed and "forever" in result.hint


def test_old_runtime_is_caught(ctx):
    apply(ctx, steps(SETUP_STEPS))
    ctx.aws.client("lambda").update_function_configuration(FunctionName=ctx.names.lambda_function, Runtime="python3.7")
    result = checks(ctx)["function"]
    assert not result.passed and "end of life" in result.hint


def test_steps_out_of_order_say_which_step_first(ctx):
    from backend.errors import LabError

    with pytest.raises(LabError, match="run the role step first"):
        apply(ctx, steps(["function"]))


def test_lab_role_option_uses_the_learner_lab_role(moto_aws, course_bucket):
    moto_aws.client("iam").create_role(RoleName="LabRole", AssumeRolePolicyDocument=json.dumps(iam.trust_policy("lambda.amazonaws.com")))
    ctx = LabContext(moto_aws, SVC, {"use_lab_role": True})
    apply(ctx, steps(["buckets", "role", "layer", "function"]))
    assert lambda_.get_function(ctx.aws, ctx.names.lambda_function)["Role"].endswith(":role/LabRole")
    assert iam.get_role(ctx.aws, ctx.names.lambda_role) is None


def test_teardown_removes_everything_and_is_idempotent(ctx):
    apply(ctx, steps(SETUP_STEPS))
    ex = get_exercise(3)
    first = ex.teardown(ctx)
    assert all(r.changed for r in first if r.step != "logs")
    assert lambda_.get_function(ctx.aws, ctx.names.lambda_function) is None
    assert iam.get_role(ctx.aws, ctx.names.lambda_role) is None
    assert not s3.bucket_exists(ctx.aws, ctx.names.input_bucket)
    assert not any(r.changed for r in ex.teardown(ctx))


def test_role_creation_retries_while_iam_propagates(moto_aws):
    from botocore.stub import Stubber

    spec = lambda_.FunctionSpec(name="f", role_arn="arn:aws:iam::123456789012:role/r", zip_bytes=b"zip",
                                handler="h.h")
    client = moto_aws.client("lambda")
    sleeps = []
    with Stubber(client) as stub:
        stub.add_client_error("get_function_configuration", "ResourceNotFoundException", http_status_code=404)
        for _ in range(2):
            stub.add_client_error("create_function", "InvalidParameterValueException",
                                  "The role defined for the function cannot be assumed by Lambda.")
        stub.add_response("create_function", {"FunctionArn": "arn:aws:lambda:eu-central-1:123456789012:function:f"})
        stub.add_response("get_function", {"Configuration": {"State": "Active"}})
        result = lambda_.ensure_function(moto_aws, spec, sleep=sleeps.append)
        stub.assert_no_pending_responses()
    assert result.created and sleeps == [lambda_.CREATE_DELAY_S] * 2
