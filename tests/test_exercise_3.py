"""Exercise 3's steps against moto: idempotent, tagged, planned, guarded, the trigger merged, checks catch the
handout's mistakes, the class view judges with the same checks.

(The function's code does not run in plain moto; tests/integration runs it in the sandbox.)
"""
import io
import json
import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from backend import iam, lambda_, s3
from backend.classview import StudentView
from backend.config import COURSE_BUCKET
from backend.deleter import apply_deletions
from backend.exercises import FROM_SNAPSHOT, get_exercise
from backend.exercises.ex3_lambda import deploy as ex3_deploy
from backend.lab import LabContext, apply, apply_teardown, plan, run_checks, teardown_plan
from backend.names import lab_tags, tag_list, tags_from_text, tags_text
from backend.ownership import NotYours, Seen

SVC = "anna-1a2b3c"
OTHER = "someone-else"
SETUP_STEPS = ["buckets", "policy", "role", "layer", "function", "trigger"]
WRITING_STEPS = SETUP_STEPS + ["test"]


@pytest.fixture
def ctx(moto_aws, course_bucket):
    return LabContext(moto_aws, SVC)


def steps(ids):
    ex = get_exercise(3)
    return [ex.step(i) for i in ids]


def checks(ctx):
    return {r.id: r for r in run_checks(ctx, get_exercise(3))}


def planned(ctx):
    return {p.step: p for p in plan(ctx, get_exercise(3))}


def fake_test_run(ctx, failed=False):
    """What the function writes after input_batch.csv is uploaded (plain moto runs no function code)."""
    client = ctx.aws.client("s3")
    client.put_object(Bucket=ctx.names.input_bucket, Key="input_batch.csv",
                      Body=client.get_object(Bucket=COURSE_BUCKET, Key="input_batch.csv")["Body"].read())
    key = "errors/input_batch.csv.json" if failed else "input_batch_predictions_20240101T000000Z.csv"
    client.put_object(Bucket=ctx.names.output_bucket, Key=key, Body=b"prediction,probability\n<=50K,0.1\n")


def listing(aws):
    """Everything the exercise could touch, as the account lists it (to prove a plan writes nothing)."""
    s3c, iamc, lam, logs = (aws.client(s) for s in ("s3", "iam", "lambda", "logs"))
    buckets = {}
    for b in s3c.list_buckets()["Buckets"]:
        name = b["Name"]
        objects = sorted((o["Key"], o["ETag"]) for o in s3c.list_objects_v2(Bucket=name).get("Contents", []))
        buckets[name] = (objects, s3.get_bucket_tags(aws, name),
                         s3.get_notification_configuration(aws, name), s3.get_public_access_block(aws, name))
    functions = {f["FunctionName"]: (f["CodeSha256"], f["MemorySize"], f["Timeout"], f.get("Environment"),
                                     lam.list_tags(Resource=f["FunctionArn"])["Tags"])
                 for f in lam.list_functions()["Functions"]}
    layers = {layer["LayerName"]: [v["Version"] for v in lam.list_layer_versions(LayerName=layer["LayerName"])
                                   ["LayerVersions"]] for layer in lam.list_layers()["Layers"]}
    roles = {r["RoleName"]: (r.get("Tags"), [p["PolicyArn"] for p in iamc.list_attached_role_policies(
        RoleName=r["RoleName"])["AttachedPolicies"]]) for r in iamc.list_roles()["Roles"]}
    policies = {p["PolicyName"]: (p["DefaultVersionId"], iamc.list_policy_tags(PolicyArn=p["Arn"])["Tags"])
                for p in iamc.list_policies(Scope="Local")["Policies"]}
    groups = {g["logGroupName"]: logs.list_tags_for_resource(resourceArn=g["logGroupArn"])["tags"]
              for g in logs.describe_log_groups()["logGroups"]}
    return buckets, functions, layers, roles, policies, groups


# ---- steps ----------------------------------------------------------------------------------

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
    layer = lambda_.latest_layer_version(ctx.aws, names.lambda_layer)
    assert layer["Description"].endswith(tags_text(lab_tags(SVC, 3))) and not layer["Description"].startswith("[")
    group = ctx.aws.client("logs").describe_log_groups(logGroupNamePrefix=names.lambda_log_group)["logGroups"][0]
    assert ctx.aws.client("logs").list_tags_for_resource(resourceArn=group["logGroupArn"])["tags"] == lab_tags(SVC, 3)


def test_the_deployment_zip_holds_the_handler_and_its_reader(ctx):
    apply(ctx, steps(SETUP_STEPS))
    names = zipfile.ZipFile(io.BytesIO(ex3_deploy.handler_zip())).namelist()
    present = [n for n in ("handler.py", "batch_reader.py") if (ex3_deploy.HANDLER_DIR / n).is_file()]
    assert sorted(names) == sorted(present) and "handler.py" in names
    config = lambda_.get_function(ctx.aws, ctx.names.lambda_function)
    assert config["CodeSha256"] == ex3_deploy.handler_sha256()


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
    assert (env["INCLUDE_INPUT"], env["TIMESTAMP"]) == ("1", "1")
    assert config["Layers"][0]["Arn"].split(":")[-2] == f"batch-runtime-{SVC}"


def test_options_reach_the_function_and_the_plan_names_the_change(ctx):
    apply(ctx, steps(SETUP_STEPS))
    changed = LabContext(ctx.aws, SVC, {"include_input": False, "timestamp": False})
    decision = planned(changed)["function"]
    assert decision.action == "update" and "INCLUDE_INPUT=0" in decision.reason and "TIMESTAMP=0" in decision.reason
    apply(changed, steps(["function"]))
    env = lambda_.get_function(ctx.aws, ctx.names.lambda_function)["Environment"]["Variables"]
    assert (env["INCLUDE_INPUT"], env["TIMESTAMP"]) == ("0", "0")
    assert planned(changed)["function"].action == "none"


def test_a_changed_setting_is_brought_in_line(ctx):
    apply(ctx, steps(SETUP_STEPS))
    ctx.aws.client("lambda").update_function_configuration(FunctionName=ctx.names.lambda_function, Timeout=3,
                                                           MemorySize=128)
    decision = planned(ctx)["function"]
    assert decision.action == "update"
    assert "timeout 3 → 10 s" in decision.reason and "memory 128 → 256 MB" in decision.reason
    assert "runtime" not in decision.reason and "code" not in decision.reason
    [result] = apply(ctx, steps(["function"]))
    assert result.changed and "configuration" in result.summary
    assert lambda_.get_function(ctx.aws, ctx.names.lambda_function)["Timeout"] == 10
    assert planned(ctx)["function"].action == "none"


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


def test_steps_out_of_order_say_which_step_first(ctx):
    from backend.errors import LabError

    with pytest.raises(LabError, match="run the role step first"):
        apply(ctx, steps(["function"]))


def test_lab_role_option_uses_the_learner_lab_role(moto_aws, course_bucket):
    moto_aws.client("iam").create_role(RoleName="LabRole", AssumeRolePolicyDocument=json.dumps(iam.trust_policy("lambda.amazonaws.com")))
    ctx = LabContext(moto_aws, SVC, {"use_lab_role": True})
    apply(ctx, steps(SETUP_STEPS))
    assert lambda_.get_function(ctx.aws, ctx.names.lambda_function)["Role"].endswith(":role/LabRole")
    assert iam.get_role(ctx.aws, ctx.names.lambda_role) is None
    assert iam.get_policy(ctx.aws, iam.policy_arn(ctx.aws, ctx.names.lambda_policy)) is None  # no policy either
    result = checks(ctx)
    assert result["policy"].passed and result["role"].passed and result["function"].passed
    assert {p.action for s, p in planned(ctx).items() if s != "test"} == {"none"}
    assert agree(ctx)["role"] is True  # the class view judges LabRole from the shared listing
    kinds = {d.kind for d in teardown_plan(ctx, get_exercise(3))}
    assert "role" not in kinds and "function" in kinds  # never LabRole


def test_lab_role_option_without_a_lab_role_says_so(ctx):
    ctx = LabContext(ctx.aws, SVC, {"use_lab_role": True})
    assert "no LabRole" in planned(ctx)["role"].reason
    from backend.errors import LabError
    with pytest.raises(LabError, match="no LabRole"):
        apply(ctx, steps(["role"]))


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


# ---- plans ----------------------------------------------------------------------------------

def test_plan_on_a_fresh_account_says_create_and_changes_nothing_then_none_after_a_run(ctx):
    before = listing(ctx.aws)
    first = planned(ctx)
    assert {k: p.action for k, p in first.items()} == {k: "create" for k in WRITING_STEPS}
    assert listing(ctx.aws) == before
    assert all(p.code == get_exercise(3).step(p.step).code(ctx) for p in first.values())
    apply(ctx, steps(SETUP_STEPS))
    fake_test_run(ctx)
    after = planned(ctx)
    assert {k: p.action for k, p in after.items()} == {k: "none" for k in WRITING_STEPS}, after
    [test] = apply(ctx, steps(["test"]))  # the run agrees with its plan: nothing to do
    assert not test.changed and "input_batch_predictions_" in test.summary


def test_the_test_step_plans_again_after_a_failure_or_a_change_to_the_function(ctx):
    apply(ctx, steps(SETUP_STEPS))
    assert "no result yet" not in planned(ctx)["test"].reason and planned(ctx)["test"].action == "create"
    fake_test_run(ctx, failed=True)
    decision = planned(ctx)["test"]
    assert decision.action == "update" and "errors/input_batch.csv.json" in decision.reason
    fake_test_run(ctx)
    assert planned(ctx)["test"].action == "none"
    # a later change to the function makes the last result stale
    later = (datetime.now(timezone.utc) + timedelta(seconds=5))
    state = get_exercise(3).observe(ctx)
    from dataclasses import replace
    stale = replace(state, function=replace(state.function, last_modified=later))
    decision = get_exercise(3).step("test").plan(ctx, stale)
    assert decision.action == "update" and "function changed" in decision.reason


def test_the_layer_plan_compares_the_course_zip(ctx):
    apply(ctx, steps(["buckets", "layer"]))
    assert planned(ctx)["layer"].action == "none"
    ctx.aws.client("s3").put_object(Bucket=COURSE_BUCKET, Key="layer_file.zip", Body=b"a newer layer")
    decision = planned(ctx)["layer"]
    assert decision.action == "update" and "differs from the course's layer_file.zip" in decision.reason
    [result] = apply(ctx, steps(["layer"]))
    assert result.changed and "version 2" in result.summary
    assert planned(ctx)["layer"].action == "none"


def test_a_layer_published_without_the_lab_tags_is_republished_with_them(ctx):
    apply(ctx, steps(["buckets"]))
    data = ctx.aws.client("s3").get_object(Bucket=COURSE_BUCKET, Key="layer_file.zip")["Body"].read()
    ctx.aws.client("lambda").publish_layer_version(LayerName=ctx.names.lambda_layer, Content={"ZipFile": data},
                                                   Description="onnxruntime", CompatibleRuntimes=["python3.12"])
    decision = planned(ctx)["layer"]
    assert decision.action == "update" and "no lab tags" in decision.reason
    [result] = apply(ctx, steps(["layer"]))
    assert result.changed and "adopted and tagged" in result.summary
    [deletion] = [d for d in teardown_plan(ctx, get_exercise(3)) if d.kind == "layer"]
    assert deletion.allowed


# ---- ownership ------------------------------------------------------------------------------

def _foreign(ctx, kind):
    """Make the student's `kind` tagged for another student (after the steps it depends on); return its step."""
    names, tags = ctx.names, lab_tags(OTHER, 3)
    aws = ctx.aws
    if kind == "bucket":
        aws.client("s3").create_bucket(Bucket=names.model_bucket,
                                       CreateBucketConfiguration={"LocationConstraint": ctx.region})
        aws.client("s3").put_bucket_tagging(Bucket=names.model_bucket, Tagging={"TagSet": tag_list(tags)})
        return "buckets"
    if kind == "policy":
        aws.client("iam").create_policy(PolicyName=names.lambda_policy, Tags=tag_list(tags),
                                        PolicyDocument=json.dumps(ex3_deploy.policy_document(names)))
        return "policy"
    if kind == "role":
        apply(ctx, steps(["policy"]))
        aws.client("iam").create_role(RoleName=names.lambda_role, Tags=tag_list(tags),
                                      AssumeRolePolicyDocument=json.dumps(iam.trust_policy("lambda.amazonaws.com")))
        return "role"
    apply(ctx, steps(["buckets", "policy", "role"]))
    if kind == "layer":
        aws.client("lambda").publish_layer_version(LayerName=names.lambda_layer, Content={"ZipFile": b"other"},
                                                   Description="theirs " + tags_text(tags))
        return "layer"
    apply(ctx, steps(["layer"]))
    if kind == "log-group":
        aws.client("logs").create_log_group(logGroupName=names.lambda_log_group, tags=tags)
        return "function"
    role = iam.get_role(aws, names.lambda_role)["Arn"]
    aws.client("lambda").create_function(FunctionName=names.lambda_function, Runtime="python3.12", Role=role,
                                         Handler="h.h", Code={"ZipFile": b"theirs"}, Tags=tags, Timeout=3)
    return "function"


@pytest.mark.parametrize("kind", ["bucket", "policy", "role", "layer", "function", "log-group"])
def test_a_resource_tagged_for_another_student_is_refused_and_left_as_it_was(ctx, kind):
    step = _foreign(ctx, kind)
    before = listing(ctx.aws)
    decision = planned(ctx)[step]
    assert decision.action == "refuse" and f"lab:student={OTHER}" in decision.reason
    with pytest.raises(NotYours, match=f"lab:student={OTHER}"):
        apply(ctx, steps([step]))
    assert listing(ctx.aws) == before  # nothing created, changed or re-tagged
    foreign = [d for d in teardown_plan(ctx, get_exercise(3)) if d.kind == kind]
    assert foreign and not any(d.allowed for d in foreign)


def _untagged(ctx, kind):
    names, aws = ctx.names, ctx.aws
    if kind == "bucket":
        for bucket in (names.model_bucket, names.input_bucket, names.output_bucket):
            aws.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": ctx.region})
        return "buckets"
    if kind == "policy":
        aws.client("iam").create_policy(PolicyName=names.lambda_policy,
                                        PolicyDocument=json.dumps(ex3_deploy.policy_document(names)))
        return "policy"
    apply(ctx, steps(["buckets", "policy"]))
    if kind == "role":
        aws.client("iam").create_role(RoleName=names.lambda_role,
                                      AssumeRolePolicyDocument=json.dumps(iam.trust_policy("lambda.amazonaws.com")))
        return "role"
    apply(ctx, steps(["role", "layer"]))
    if kind == "log-group":  # as Lambda leaves it when a function logs before the step made the group
        aws.client("logs").create_log_group(logGroupName=names.lambda_log_group)
        return "function"
    role = iam.get_role(aws, names.lambda_role)["Arn"]
    aws.client("lambda").create_function(FunctionName=names.lambda_function, Runtime="python3.7", Role=role,
                                         Handler="lambda_function.lambda_handler", Code={"ZipFile": b"by hand"})
    return "function"


@pytest.mark.parametrize("kind", ["bucket", "policy", "role", "function", "log-group"])
def test_an_untagged_resource_with_the_exact_name_is_adopted_and_tagged(ctx, kind):
    step = _untagged(ctx, kind)
    decision = planned(ctx)[step]
    assert decision.action == ("create" if kind == "log-group" else "update")  # log group: its function is new
    assert "without the lab's tags" in decision.reason
    [result] = apply(ctx, steps([step]))
    assert result.changed and "adopted and tagged" in result.summary
    deletions = [d for d in teardown_plan(ctx, get_exercise(3)) if d.kind == kind]
    assert deletions and all(d.allowed for d in deletions)
    assert planned(ctx)[step].action == "none"


# ---- teardown -------------------------------------------------------------------------------

def test_teardown_plans_every_resource_and_removes_them(ctx):
    ex = get_exercise(3)
    apply(ctx, steps(SETUP_STEPS))
    deletions = teardown_plan(ctx, ex)
    names = ctx.names
    assert sorted((d.kind, d.name) for d in deletions) == sorted([
        ("function", names.lambda_function), ("layer", names.lambda_layer), ("role", names.lambda_role),
        ("policy", names.lambda_policy), ("log-group", names.lambda_log_group),
        ("bucket", names.model_bucket), ("bucket", names.input_bucket), ("bucket", names.output_bucket)])
    assert all(d.allowed for d in deletions)
    results = apply_teardown(ctx, ex, deletions)
    assert {r.status for r in results} == {"done"}, results
    assert lambda_.get_function(ctx.aws, names.lambda_function) is None
    assert iam.get_role(ctx.aws, names.lambda_role) is None
    assert not s3.bucket_exists(ctx.aws, names.input_bucket)
    assert teardown_plan(ctx, ex) == []
    assert {r.status for r in apply_teardown(ctx, ex, deletions)} == {"gone"}


def test_teardown_leaves_a_bucket_tagged_for_another_student_exactly_as_it_was(ctx):
    ex = get_exercise(3)
    apply(ctx, steps(SETUP_STEPS))
    client = ctx.aws.client("s3")
    client.put_bucket_tagging(Bucket=ctx.names.output_bucket, Tagging={"TagSet": tag_list(lab_tags(OTHER, 3))})
    client.put_object(Bucket=ctx.names.output_bucket, Key="theirs.csv", Body=b"x")
    tags = client.get_bucket_tagging(Bucket=ctx.names.output_bucket)["TagSet"]
    deletions = teardown_plan(ctx, ex)
    [output] = [d for d in deletions if d.name == ctx.names.output_bucket]
    assert not output.allowed
    forced = [type(d)(**{**d.to_dict(), "allowed": True}) for d in deletions]  # re-checked right before deleting
    results = {r.name: r.status for r in apply_deletions(ctx.aws, forced)}
    assert results[ctx.names.output_bucket] == "skipped" and results[ctx.names.input_bucket] == "done"
    assert client.get_bucket_tagging(Bucket=ctx.names.output_bucket)["TagSet"] == tags
    assert [o["Key"] for o in client.list_objects_v2(Bucket=ctx.names.output_bucket)["Contents"]] == ["theirs.csv"]


# ---- checks ---------------------------------------------------------------------------------

def test_handout_policy_is_caught_with_its_typo_named(ctx):
    apply(ctx, steps(["buckets"]))
    handout = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::input-bucket-{SVC}/*"},
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::model-{SVC}/*"},
        {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": f"arn:aws:s3:::output-bucket-{SVC}/*"}]}
    ctx.aws.client("iam").create_policy(PolicyName=ctx.names.lambda_policy, PolicyDocument=json.dumps(handout))
    result = checks(ctx)["policy"]
    assert not result.passed and "input-bucket-" in result.hint and result.broken
    assert planned(ctx)["policy"].action == "update"
    [fixed] = apply(ctx, steps(["policy"]))
    assert fixed.changed and checks(ctx)["policy"].passed


def test_handout_bucket_names_are_caught(ctx):
    for name in (f"input-bucket-{SVC}", f"output-bucket-{SVC}"):
        ctx.aws.client("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": ctx.region})
    result = checks(ctx)["buckets"]
    assert not result.passed and result.broken and f"input-{SVC}" in result.hint
    handout = [d for d in teardown_plan(ctx, get_exercise(3)) if d.name.startswith(("input-bucket-", "output-bucket-"))]
    assert len(handout) == 2 and not any(d.allowed for d in handout)  # made by hand: listed, never deleted


def test_predictions_in_the_model_bucket_are_caught(ctx):
    apply(ctx, steps(["buckets"]))
    ctx.aws.client("s3").put_object(Bucket=ctx.names.model_bucket, Key="predictions.csv", Body=b"x")
    result = checks(ctx)["predictions"]
    assert not result.passed and "model bucket" in result.hint and result.broken


def test_trigger_on_the_output_bucket_is_caught_and_the_trigger_step_removes_it(ctx):
    apply(ctx, steps(SETUP_STEPS[:5]))
    arn = lambda_.get_function(ctx.aws, ctx.names.lambda_function)["FunctionArn"]
    s3.ensure_lambda_notification(ctx.aws, ctx.names.output_bucket, arn, "wrong")
    result = checks(ctx)["trigger"]
    assert not result.passed and "forever" in result.hint and result.broken
    assert "remove its trigger on " + ctx.names.output_bucket in planned(ctx)["trigger"].reason
    apply(ctx, steps(["trigger"]))
    assert checks(ctx)["trigger"].passed
    assert "LambdaFunctionConfigurations" not in s3.get_notification_configuration(ctx.aws, ctx.names.output_bucket)


def test_old_runtime_is_caught(ctx):
    apply(ctx, steps(SETUP_STEPS))
    ctx.aws.client("lambda").update_function_configuration(FunctionName=ctx.names.lambda_function, Runtime="python3.7")
    result = checks(ctx)["function"]
    assert not result.passed and "end of life" in result.hint and result.broken
    assert "runtime python3.7 → python3.12" in planned(ctx)["function"].reason


def test_output_to_the_model_bucket_is_broken(ctx):
    apply(ctx, steps(SETUP_STEPS))
    env = {**ex3_deploy.function_environment(ctx), "OUTPUT_BUCKET": ctx.names.model_bucket}
    ctx.aws.client("lambda").update_function_configuration(FunctionName=ctx.names.lambda_function,
                                                           Environment={"Variables": env})
    result = checks(ctx)["function"]
    assert not result.passed and result.broken and "not the model bucket" in result.hint


# ---- the class view -------------------------------------------------------------------------

def class_view(ctx):
    """A StudentView built from list calls only, as the class overview builds it."""
    aws, names = ctx.aws, ctx.names
    s3c, iamc, lam, logs = (aws.client(s) for s in ("s3", "iam", "lambda", "logs"))
    seen, raw = {}, {}

    def add(kind, name, rid, tags, entry=None):
        seen.setdefault(kind, {})[name] = Seen(kind, name, rid, tags)
        if entry is not None:
            raw.setdefault(kind, {})[name] = entry

    for b in s3c.list_buckets()["Buckets"]:
        if b["Name"] != COURSE_BUCKET:
            add("bucket", b["Name"], b["Name"], s3.get_bucket_tags(aws, b["Name"]))
    for f in lam.list_functions()["Functions"]:
        add("function", f["FunctionName"], f["FunctionArn"], lam.list_tags(Resource=f["FunctionArn"])["Tags"], f)
    for layer in lam.list_layers()["Layers"]:
        add("layer", layer["LayerName"], layer["LayerArn"],
            tags_from_text(layer["LatestMatchingVersion"].get("Description")), layer)
    for role in iamc.list_roles()["Roles"]:
        full = iam.get_role(aws, role["RoleName"])
        full["AttachedManagedPolicies"] = iamc.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
        add("role", role["RoleName"], role["Arn"], {t["Key"]: t["Value"] for t in full.get("Tags", [])}, full)
    for policy in iamc.list_policies(Scope="Local")["Policies"]:
        tags = {t["Key"]: t["Value"] for t in iamc.list_policy_tags(PolicyArn=policy["Arn"])["Tags"]}
        add("policy", policy["PolicyName"], policy["Arn"], tags,
            {"Arn": policy["Arn"], "Document": iam.get_policy_document(aws, policy["Arn"])})
    for group in logs.describe_log_groups()["logGroups"]:
        add("log-group", group["logGroupName"], group["logGroupArn"],
            logs.list_tags_for_resource(resourceArn=group["logGroupArn"])["tags"], group)
    return StudentView(names, ctx.region, seen, raw)


def agree(ctx):
    """Judge the live State and the class view's State; return the snapshot's results (None where unseen)."""
    ex = get_exercise(3)
    live = {r.id: r for r in run_checks(ctx, ex)}
    judged = {r.id: r for r in ex.judge(FROM_SNAPSHOT[3](class_view(ctx)))}
    assert judged.keys() == live.keys()
    for check_id, result in judged.items():
        if result.passed is not None:
            assert (result.passed, result.broken) == (live[check_id].passed, live[check_id].broken), \
                (check_id, result, live[check_id])
    return {k: r.passed for k, r in judged.items()}


def test_the_class_view_judges_with_the_same_checks_at_every_stage(ctx):
    fresh = agree(ctx)
    assert fresh["buckets"] is False and fresh["function"] is False and fresh["logs"] is False
    apply(ctx, steps(["buckets"]))
    agree(ctx)
    apply(ctx, steps(SETUP_STEPS[1:]))
    done = agree(ctx)
    assert done["policy"] and done["role"] and done["function"]
    assert done["trigger"] is None and done["model"] is None  # notifications and objects are not listed
    lam = ctx.aws.client("lambda")
    lam.update_function_configuration(FunctionName=ctx.names.lambda_function, Runtime="python3.7")
    assert agree(ctx)["function"] is False
    ctx.aws.client("iam").detach_role_policy(RoleName=ctx.names.lambda_role,
                                             PolicyArn=iam.policy_arn(ctx.aws, ctx.names.lambda_policy))
    assert agree(ctx)["role"] is False


def test_the_class_view_sees_the_handout_mistakes_as_broken(ctx):
    for name in (f"input-bucket-{SVC}", f"output-bucket-{SVC}"):
        ctx.aws.client("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": ctx.region})
    handout = json.loads(json.dumps(ex3_deploy.policy_document(ctx.names)).replace(
        f":::input-{SVC}/", f":::input-bucket-{SVC}/"))
    ctx.aws.client("iam").create_policy(PolicyName=ctx.names.lambda_policy, PolicyDocument=json.dumps(handout))
    agree(ctx)
    judged = {r.id: r for r in get_exercise(3).judge(FROM_SNAPSHOT[3](class_view(ctx)))}
    assert judged["buckets"].broken and judged["policy"].broken


def test_a_failed_function_is_broken(ctx):
    apply(ctx, steps(SETUP_STEPS))
    view = class_view(ctx)
    config = view.raw["function"][ctx.names.lambda_function]
    view.raw["function"][ctx.names.lambda_function] = {**config, "State": "Failed",
                                                        "StateReason": "The role cannot be assumed"}
    [function] = [r for r in get_exercise(3).judge(FROM_SNAPSHOT[3](view)) if r.id == "function"]
    assert function.passed is False and function.broken and "role cannot be assumed" in function.observed


# ---- the code the steps show ----------------------------------------------------------------

def unbound_names(code):
    """Names a snippet reads but never imports or assigns (e.g. `json` used without `import json`)."""
    import ast
    import builtins

    tree = ast.parse(code)
    bound = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - bound


def placeholders(code):
    """What a student would have to fill in: `...` in code, `…` or `<…>` in a string."""
    import ast
    import re

    return [node.value for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Constant) and (
        node.value is Ellipsis or isinstance(node.value, str) and re.search(r"…|<[a-z-]+>", node.value))]


SNIPPET_OPTIONS = {"own role": {}, "learner lab": {"use_lab_role": True},
                   "plain output": {"timestamp": False, "include_input": False}}


@pytest.mark.parametrize("options", SNIPPET_OPTIONS.values(), ids=SNIPPET_OPTIONS)
def test_every_snippet_is_complete_code_run_from_the_lab_folder(moto_aws, options):
    ctx = LabContext(moto_aws, SVC, options)
    for step in get_exercise(3).steps:
        code = step.code(ctx)
        compile(code, step.id, "exec")
        assert code.startswith(ctx.folder_note() + "\n"), step.id
        assert not unbound_names(code), (step.id, unbound_names(code))
        assert not placeholders(code), (step.id, placeholders(code))
        # Paths are relative to the lab folder, named only on the first line.
        assert str(ctx.workdir) not in code.split("\n", 1)[1], step.id


def test_every_writing_snippet_tags_what_it_creates_as_the_buttons_do(moto_aws):
    ctx = LabContext(moto_aws, SVC)
    code = {step.id: step.code(ctx) for step in get_exercise(3).steps}
    for step in ("buckets", "policy", "role"):
        assert repr(tag_list(lab_tags(SVC, 3))) in code[step], step
    assert code["function"].count(repr(lab_tags(SVC, 3))) == 2  # the function and its log group
    assert repr(ctx.names.lambda_layer_description) in code["layer"]  # the layer's tags ride in its description
    assert "'course/input_batch.csv'" in code["test"]  # exercise 2's download, not a second copy


def run_setup_snippets(ctx, monkeypatch):
    """Paste the setup snippets in order from the lab folder (plain moto runs no function: no test upload)."""
    monkeypatch.chdir(ctx.workdir)
    for step in steps(SETUP_STEPS):
        exec(compile(step.code(ctx), step.id, "exec"), {})


def test_the_setup_snippets_pasted_in_order_leave_the_buttons_nothing_to_do(ctx, monkeypatch):
    """In-process against moto (tests/integration/test_snippets_ex3.py runs them all in the sandbox)."""
    run_setup_snippets(ctx, monkeypatch)
    result = checks(ctx)
    assert all(result[c].passed for c in SETUP_STEPS[:1] + ["model", "policy", "role", "function", "trigger"]), result
    # The same values, tags and zip (byte for byte) as the steps: every setup step plans "none".
    assert {s: p.action for s, p in planned(ctx).items() if s != "test"} == {s: "none" for s in SETUP_STEPS}
    for name in ex3_deploy.HANDLER_FILES:  # the deployed code is in the lab folder, for the student to read
        assert (ctx.workdir / "lambda_code" / name).read_bytes() == (ex3_deploy.HANDLER_DIR / name).read_bytes()
    deletions = teardown_plan(ctx, get_exercise(3))
    assert sorted(d.kind for d in deletions) == sorted(
        ["bucket"] * 3 + ["function", "layer", "log-group", "policy", "role"]), deletions
    assert all(d.allowed for d in deletions), [d for d in deletions if not d.allowed]


def test_with_the_lab_role_option_the_snippets_create_no_role_or_policy(moto_aws, course_bucket, monkeypatch):
    moto_aws.client("iam").create_role(RoleName="LabRole",
                                       AssumeRolePolicyDocument=json.dumps(iam.trust_policy("lambda.amazonaws.com")))
    ctx = LabContext(moto_aws, SVC, {"use_lab_role": True})
    run_setup_snippets(ctx, monkeypatch)
    assert lambda_.get_function(ctx.aws, ctx.names.lambda_function)["Role"].endswith(":role/LabRole")
    assert iam.get_role(ctx.aws, ctx.names.lambda_role) is None
    assert iam.get_policy(ctx.aws, iam.policy_arn(ctx.aws, ctx.names.lambda_policy)) is None
    result = checks(ctx)
    assert result["policy"].passed and result["role"].passed and result["function"].passed
    assert {s: p.action for s, p in planned(ctx).items() if s != "test"} == {s: "none" for s in SETUP_STEPS}
