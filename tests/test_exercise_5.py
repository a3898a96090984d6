"""Exercise 5 against moto: image, role, model, MLflow deploy, waiting, parsing, checks and teardown.

Plain moto serves no model (its endpoints are InService at once and answer a fixed body); the
sandbox tests (tests/sandbox/test_sagemaker_compute.py, tests/integration) run the real thing.
"""
import ast
import dataclasses
import json
import os

import boto3
import pytest

from backend import ecr, iam, s3, sagemaker
from backend.aws import Aws, Target
from backend.config import COURSE_BUCKET, COURSE_DIR
from backend.errors import LabError
from backend.exercises import ex5_sagemaker as ex5
from backend.exercises.ex5_sagemaker import checks, deployment, state, steps
from backend.lab import LabContext, apply, apply_teardown, plan, run_checks, teardown_plan
from backend.classview import StudentView
from backend.deleter import apply_deletions
from backend.names import LabNames
from backend.ownership import NotYours, Seen
from backend.prediction import Prediction

SVC = "anna-1a2b3c"
OTHER = "someone-else"
MODEL_ZIP = COURSE_DIR / "mlflow_model.zip"
needs_model = pytest.mark.skipif(not MODEL_ZIP.is_file(), reason="needs the built course (python -m backend course build)")
TAGS = {"lab:course": "mlops-aws", "lab:student": SVC, "lab:exercise": "5"}
FOREIGN = {"lab:course": "mlops-aws", "lab:student": OTHER, "lab:exercise": "5"}


@pytest.fixture
def ctx(moto_aws):
    s3_client = moto_aws.client("s3")
    s3_client.create_bucket(Bucket=COURSE_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    if MODEL_ZIP.is_file():
        s3_client.put_object(Bucket=COURSE_BUCKET, Key="mlflow_model.zip", Body=MODEL_ZIP.read_bytes())
    return LabContext(moto_aws, SVC)


@pytest.fixture
def no_docker(monkeypatch):
    monkeypatch.setattr(deployment, "docker_available", lambda: False)


def results(ctx):
    return {r.id: r for r in run_checks(ctx, ex5.EXERCISE)}


def actions(ctx):
    return {p.step: p for p in plan(ctx, ex5.EXERCISE)}


def push_image(ctx, tag=None):
    ecr.ensure_repository(ctx.aws, ctx.names.serving_repository)
    ecr.record_push(ctx.aws, ctx.names.serving_repository, tag or state.mlflow_version())


def deploy_all(ctx):
    push_image(ctx)
    apply(ctx, [ex5.EXERCISE.step(i) for i in ("role", "model")])
    return steps.run_deploy(ctx, sleep=lambda _: None)


def tags_of(ctx, arn):
    return sagemaker.get_tags(ctx.aws, arn)


# ---- names ---------------------------------------------------------------------------------

@pytest.mark.parametrize("svc", [SVC, "a" * 40, "b" * 17, "c" * 18])
def test_labnames_spell_the_names_mlflow_gives_the_endpoints_configs_and_models(svc):
    from mlflow.sagemaker import _get_sagemaker_config_name, _get_sagemaker_model_name

    names = LabNames(svc)
    assert state.mlflow_named(names.endpoint_config_prefix, _get_sagemaker_config_name(names.endpoint))
    assert state.mlflow_named(names.endpoint_model_prefix, _get_sagemaker_model_name(names.endpoint))
    assert not state.mlflow_named(names.endpoint_model_prefix, names.endpoint_model_prefix + "x" * 20)
    assert (names.sagemaker_bucket, names.sagemaker_policy) == (f"sagemaker-{svc}", f"sagemaker-{svc}-policy")


def test_the_monitor_keeps_finding_its_public_names():
    assert ex5.SAGEMAKER_PRINCIPAL == "sagemaker.amazonaws.com"
    assert ex5.policy_name(LabNames(SVC)) == f"sagemaker-{SVC}-policy"


# ---- image ---------------------------------------------------------------------------------

def test_without_docker_on_aws_the_image_step_says_what_to_do(ctx, no_docker):
    assert "needs Docker" in actions(ctx)["image"].reason
    with pytest.raises(LabError, match="needs Docker") as caught:
        ex5.EXERCISE.step("image").run(ctx, lambda _: None)
    assert "mlflow sagemaker build-and-push-container" in caught.value.message
    assert caught.value.code == "DockerMissing"


def test_an_image_pushed_elsewhere_is_found_and_nothing_changes(ctx, no_docker):
    push_image(ctx)
    assert actions(ctx)["image"].action == "none"
    result = ex5.EXERCISE.step("image").run(ctx, lambda _: None)
    assert not result.changed and "already in ECR" in result.summary
    assert results(ctx)["image"].passed


def test_an_image_of_another_mlflow_version_fails_the_check_with_the_tags(ctx):
    push_image(ctx, "2.9.0")
    result = results(ctx)["image"]
    assert not result.passed and "2.9.0" in result.observed and state.mlflow_version() in result.hint


def test_record_push_makes_describe_images_show_the_image(moto_aws):
    ecr.ensure_repository(moto_aws, "mlflow-pyfunc", {"lab:course": "mlops-aws"})
    digest = ecr.record_push(moto_aws, "mlflow-pyfunc", "3.17.2")
    assert ecr.get_image(moto_aws, "mlflow-pyfunc", "3.17.2")["imageDigest"] == digest
    assert ecr.list_image_tags(moto_aws, "mlflow-pyfunc") == ["3.17.2"]
    assert ecr.get_image(moto_aws, "mlflow-pyfunc", "0.1") is None
    assert ecr.get_image(moto_aws, "missing-repo", "0.1") is None
    assert not ecr.ensure_repository(moto_aws, "mlflow-pyfunc").created


# ---- role ----------------------------------------------------------------------------------

def test_role_is_trusted_by_sagemaker_reads_the_artifact_bucket_and_is_idempotent(ctx):
    assert actions(ctx)["role"].action == "create"
    first = ex5.EXERCISE.step("role").run(ctx, lambda _: None)
    assert first.changed
    role = iam.get_role(ctx.aws, f"sagemaker-{SVC}-role")
    assert iam.role_trusts(role, "sagemaker.amazonaws.com")
    document = iam.get_policy_document(ctx.aws, iam.policy_arn(ctx.aws, f"sagemaker-{SVC}-policy"))
    resources = {json.dumps(st["Resource"]) for st in document["Statement"]}
    assert json.dumps(f"arn:aws:s3:::sagemaker-{SVC}/*") in resources
    assert actions(ctx)["role"].action == "none"
    assert not ex5.EXERCISE.step("role").run(ctx, lambda _: None).changed
    assert results(ctx)["role"].passed


def test_a_changed_policy_or_a_detached_one_plans_an_update_that_fixes_it(ctx):
    ex5.EXERCISE.step("role").run(ctx, lambda _: None)
    arn = iam.policy_arn(ctx.aws, f"sagemaker-{SVC}-policy")
    ctx.aws.client("iam").detach_role_policy(RoleName=f"sagemaker-{SVC}-role", PolicyArn=arn)
    assert not results(ctx)["role"].passed and "not attached" in results(ctx)["role"].observed
    decision = actions(ctx)["role"]
    assert decision.action == "update" and "attach" in decision.reason.lower()
    assert ex5.EXERCISE.step("role").run(ctx, lambda _: None).changed
    assert results(ctx)["role"].passed


def test_a_role_trusted_only_by_lambda_is_broken_with_a_hint(moto_aws):
    ctx = LabContext(moto_aws, SVC, {"use_lab_role": True})
    iam.ensure_role(moto_aws, "LabRole", "lambda.amazonaws.com")
    result = results(ctx)["role"]
    assert not result.passed and result.broken and "sagemaker.amazonaws.com" in result.hint
    with pytest.raises(LabError, match="does not trust"):
        ex5.EXERCISE.step("role").run(ctx, lambda _: None)


def test_exercise_3s_role_in_place_of_the_sagemaker_role_is_broken(ctx):
    iam.ensure_role(ctx.aws, f"sagemaker-{SVC}-role", "lambda.amazonaws.com", TAGS)
    result = results(ctx)["role"]
    assert not result.passed and result.broken and "does not trust" in result.observed
    assert "Let sagemaker.amazonaws.com assume" in actions(ctx)["role"].reason


def test_lab_role_missing_is_a_clear_error(moto_aws):
    ctx = LabContext(moto_aws, SVC, {"use_lab_role": True})
    assert "has none" in actions(ctx)["role"].reason
    with pytest.raises(LabError, match="no LabRole"):
        ex5.EXERCISE.step("role").run(ctx, lambda _: None)


def test_options_are_declared_once_with_their_choices():
    assert [o.name for o in ex5.EXERCISE.options] == ["use_lab_role", "instance_type"]
    assert ex5.EXERCISE.parse_options(["use_lab_role=yes", "instance_type=ml.c5.large"]) == \
        {"use_lab_role": True, "instance_type": "ml.c5.large"}
    with pytest.raises(ValueError, match="not one of"):
        ex5.EXERCISE.parse_options(["instance_type=ml.p4d.24xlarge"])
    assert ex5.INSTANCE_TYPE in ex5.INSTANCE_TYPES


# ---- model and deploy ----------------------------------------------------------------------

@needs_model
def test_model_step_unpacks_the_mlflow_model_once(ctx):
    assert actions(ctx)["model"].action == "create"
    first = ex5.EXERCISE.step("model").run(ctx, lambda _: None)
    assert first.changed and (ex5.model_dir(ctx) / "MLmodel").is_file()
    assert first.details["flavors"] == ["python_function", "sklearn"]
    assert s3.get_bucket_tags(ctx.aws, f"sagemaker-{SVC}")["lab:exercise"] == "5"
    assert actions(ctx)["model"].action == "none"
    assert not ex5.EXERCISE.step("model").run(ctx, lambda _: None).changed


@needs_model
def test_a_changed_course_model_plans_unpacking_and_redeploying(ctx, no_docker):
    deploy_all(ctx)
    ctx.aws.client("s3").put_object(Bucket=COURSE_BUCKET, Key="mlflow_model.zip", Body=MODEL_ZIP.read_bytes() + b"\0")
    planned = actions(ctx)
    assert planned["model"].action == "update" and "changed" in planned["model"].reason
    assert planned["deploy"].action == "update" and "changed" in planned["deploy"].reason


def test_deploy_before_the_other_steps_names_the_missing_one(ctx):
    with pytest.raises(LabError, match="run the model step first"):
        steps.run_deploy(ctx)


@needs_model
def test_deploy_through_mlflow_creates_tagged_resources_and_a_second_run_changes_nothing(ctx, no_docker):
    push_image(ctx)
    apply(ctx, [ex5.EXERCISE.step(i) for i in ("role", "model")])
    assert actions(ctx)["deploy"].action == "create"
    progress = []
    result = steps.run_deploy(ctx, progress.append, sleep=lambda _: None)
    assert result.changed and "InService" in result.summary and "bills by the hour" in result.summary
    assert any("per hour" in line for line in progress)  # the price, before MLflow is called
    endpoint = sagemaker.get_endpoint(ctx.aws, f"income-prediction-{SVC}")
    config = sagemaker.get_endpoint_config(ctx.aws, endpoint["EndpointConfigName"])
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
    for arn in (endpoint["EndpointArn"], config["EndpointConfigArn"]):
        assert tags_of(ctx, arn)["lab:student"] == SVC  # the deploy tags all three with the lab's tags
    (model,) = sagemaker.endpoint_models(ctx.aws, f"income-prediction-{SVC}")
    assert tags_of(ctx, model["ModelArn"])["lab:student"] == SVC
    assert model["PrimaryContainer"]["Image"].endswith(f"/mlflow-pyfunc:{state.mlflow_version()}")
    bucket, key = sagemaker.split_s3_url(model["PrimaryContainer"]["ModelDataUrl"])
    assert bucket == f"sagemaker-{SVC}" and key.endswith("model.tar.gz")  # config key "bucket" was honoured
    assert tags_of(ctx, model["ModelArn"])[state.MODEL_SHA_TAG]
    assert actions(ctx)["deploy"].action == "none"
    again = steps.run_deploy(ctx, sleep=lambda _: None)
    assert not again.changed and "nothing to do" in again.summary
    assert results(ctx)["endpoint"].passed


@needs_model
def test_the_chosen_instance_type_is_deployed_and_priced(ctx, no_docker):
    ctx = LabContext(ctx.aws, SVC, {"instance_type": "ml.c5.large"})
    deploy_all(ctx)
    endpoint = sagemaker.get_endpoint(ctx.aws, ctx.names.endpoint)
    config = sagemaker.get_endpoint_config(ctx.aws, endpoint["EndpointConfigName"])
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.c5.large"
    assert "ml.c5.large" in ex5.price_sentence(ctx) and "ml.c5.large" in ex5.EXERCISE.step("deploy").code(ctx)


@needs_model
def test_a_model_other_than_the_unpacked_one_plans_an_update(ctx, no_docker):
    deploy_all(ctx)
    (ex5.model_dir(ctx) / state.SHA_MARKER).write_text("0" * 64)
    decision = actions(ctx)["deploy"]
    assert decision.action == "update" and "serves another model" in decision.reason


def endpoint_state(status, reason="", adopt=False):
    seen_tags = {} if adopt else TAGS
    seen = Seen("endpoint", f"income-prediction-{SVC}", "arn:endpoint", seen_tags)
    return state.Endpoint(seen, status, reason, "cfg", "sha", "ml.m5.large")


@pytest.mark.parametrize(("status", "action", "says"), [
    ("Creating", "none", "being created"), ("Updating", "none", "being updated"),
    ("Failed", "update", "delete it and deploy again"), ("Deleting", "create", "being deleted"),
])
def test_deploy_plans_from_the_endpoints_status(moto_aws, status, action, says):
    ctx = LabContext(moto_aws, SVC)
    decision = steps.deploy_decision(ctx, endpoint_state(status, "image not found"), None)
    assert decision.action == action and says in decision.reason


def snapshot_state(**changes):
    return dataclasses.replace(state.from_snapshot(StudentView(LabNames(SVC), "eu-central-1")), **changes)


def test_a_failed_endpoint_is_broken_with_its_reason():
    result = checks.endpoint(snapshot_state(endpoint=endpoint_state("Failed", "image not found")))
    assert not result.passed and result.broken and "image not found" in result.observed


def test_a_creating_endpoint_fails_without_being_broken():
    result = checks.endpoint(snapshot_state(endpoint=endpoint_state("Creating")))
    assert not result.passed and not result.broken and "Wait" in result.hint


@needs_model
def test_teardown_removes_endpoint_config_model_artifact_bucket_role_and_policy(ctx, no_docker):
    deploy_all(ctx)
    model_url = sagemaker.endpoint_models(ctx.aws, f"income-prediction-{SVC}")[0]["PrimaryContainer"]["ModelDataUrl"]
    planned = teardown_plan(ctx, ex5.EXERCISE)
    assert {d.kind for d in planned} == {"endpoint", "endpoint-config", "model", "bucket", "role", "policy"}
    assert all(d.allowed for d in planned), [d.why for d in planned]
    done = apply_teardown(ctx, ex5.EXERCISE, planned)
    assert all(r.status == "done" for r in done), [(r.name, r.message) for r in done]
    assert sagemaker.get_endpoint(ctx.aws, f"income-prediction-{SVC}") is None
    assert state.read_deployment(ctx) == (None, (), ())
    assert not s3.bucket_exists(ctx.aws, model_url.split("/")[2])
    assert iam.get_role(ctx.aws, f"sagemaker-{SVC}-role") is None
    assert not ex5.model_dir(ctx).exists()  # the unpacked model went with its bucket
    assert ecr.get_repository(ctx.aws, ctx.names.serving_repository) is not None  # shared by the account: kept
    assert teardown_plan(ctx, ex5.EXERCISE) == []


@needs_model
def test_delete_deployment_stops_billing_and_keeps_role_and_bucket(ctx, no_docker):
    deploy_all(ctx)
    done = ex5.delete_deployment(ctx, sleep=lambda _: None)
    assert {r.kind for r in done if r.status == "done"} == {"endpoint", "endpoint-config", "model"}
    assert ex5.endpoint_status(ctx) is None and state.read_deployment(ctx) == (None, (), ())
    assert s3.list_objects(ctx.aws, f"sagemaker-{SVC}") == []  # the model's model.tar.gz went with it
    assert iam.get_role(ctx.aws, f"sagemaker-{SVC}-role") is not None
    assert actions(ctx)["deploy"].action == "create"


def test_deploy_spec_uses_the_config_keys_mlflow_reads():
    spec = sagemaker.DeploySpec("e", "/m", "arn:role", "bucket-x", "img:1", "ml.m5.large", 1, {"a": "b"})
    config = spec.config("eu-central-1")
    assert config["bucket"] == "bucket-x" and "bucket_name" not in config
    assert config["synchronous"] is False and config["archive"] is True
    from mlflow.sagemaker import SageMakerDeploymentClient
    known = SageMakerDeploymentClient("sagemaker:/eu-central-1")._default_deployment_config()
    assert set(config) <= set(known)  # MLflow silently drops unknown keys


# ---- waiting -------------------------------------------------------------------------------

def describe_sequence(monkeypatch, statuses, config="new", reason=None):
    answers = iter([{"EndpointStatus": s, "EndpointConfigName": config, "EndpointArn": "arn",
                     **({"FailureReason": reason} if reason else {})} for s in statuses])
    monkeypatch.setattr(sagemaker, "get_endpoint", lambda aws, name: next(answers))


def test_wait_reports_each_status_change_once(monkeypatch):
    describe_sequence(monkeypatch, ["Creating", "Creating", "Creating", "InService"])
    sleeps, progress = [], []
    result = sagemaker.wait_for_endpoint(None, "e", progress.append, poll=10, sleep=sleeps.append)
    assert result["EndpointStatus"] == "InService"
    assert progress == ["Endpoint e: Creating (0 s)", "Endpoint e: InService (30 s)"]
    assert sleeps == [10, 10, 10]


@pytest.mark.parametrize(("statuses", "config", "match"), [
    (["Creating", "Failed"], "new", "failed: image not found"),
    (["Updating", "InService"], "old", "rolled back"),
    (["OutOfService"], "new", "is OutOfService"),
])
def test_wait_raises_with_the_failure_reason(monkeypatch, statuses, config, match):
    describe_sequence(monkeypatch, statuses, config, reason="image not found")
    with pytest.raises(LabError, match=match):
        sagemaker.wait_for_endpoint(None, "e", previous_config="old", sleep=lambda _: None)


def test_wait_gives_up_after_the_budget(monkeypatch):
    describe_sequence(monkeypatch, ["Creating"] * 100)
    sleeps = []
    with pytest.raises(LabError, match="still Creating after 30 s"):
        sagemaker.wait_for_endpoint(None, "e", timeout=30, poll=10, sleep=sleeps.append)
    assert len(sleeps) == 3


# ---- invoking ------------------------------------------------------------------------------

def test_dataframe_split_keeps_the_column_order():
    body = sagemaker.dataframe_split([{"b": 2, "a": 1}], ["a", "b"])
    assert body == {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"predictions": [[0.9, 0.1], [0.2, 0.8]]}', [Prediction("<=50K", 0.1), Prediction(">50K", 0.8)]),
    (b'[[0.3, 0.7]]', [Prediction(">50K", 0.7)]),
])
def test_parse_predictions_reads_mlflows_answer(body, expected):
    assert sagemaker.parse_predictions(body) == expected


@pytest.mark.parametrize("body", [b"body", b'{"predictions": "x"}', b'{"other": 1}', b'{"predictions": [[0.1]]}'])
def test_parse_predictions_rejects_other_answers(body):
    with pytest.raises(LabError, match="not MLflow's"):
        sagemaker.parse_predictions(body)


def test_parse_predictions_checks_the_count():
    with pytest.raises(LabError, match="2 predictions for 3 records"):
        sagemaker.parse_predictions(b'[[0.1, 0.9], [0.1, 0.9]]', expected=3)


def in_service(ctx):
    """An InService endpoint as plain moto makes one (it serves nothing)."""
    client = ctx.aws.client("sagemaker")
    client.create_model(ModelName="m", ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                        PrimaryContainer={"Image": "i"})
    client.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[
        {"VariantName": "v", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    client.create_endpoint(EndpointName=ctx.names.endpoint, EndpointConfigName="c", Tags=[
        {"Key": k, "Value": v} for k, v in TAGS.items()])


def test_a_pandas_split_model_error_fails_the_invocation_check_with_the_hint(ctx, monkeypatch):
    in_service(ctx)

    def refuse(*_args, **_kwargs):
        raise sagemaker.ModelError(sagemaker._model_error_sentence("e", 415, "Unrecognized content type parameters: "
                                                                   "format."), 415, "…")
    monkeypatch.setattr(sagemaker, "invoke", refuse)
    result = results(ctx)["invocation"]
    assert not result.passed and "pandas-split" in result.observed and "dataframe_split" in result.hint


@pytest.mark.parametrize(("remote", "passed"), [(0.25, True), (0.25 + 1e-6, True), (0.75, False), (0.26, False)])
def test_the_invocation_must_answer_like_the_local_model(ctx, monkeypatch, remote, passed):
    in_service(ctx)
    monkeypatch.setattr(sagemaker, "invoke", lambda *a, **k: [Prediction.from_probability(remote)])
    monkeypatch.setattr("backend.local_model.local_model", lambda: type("M", (), {
        "predict": staticmethod(lambda records: [Prediction.from_probability(0.25)])})())
    result = results(ctx)["invocation"]
    assert result.passed is passed
    if not passed:
        assert "local model says" in result.observed


def test_an_answer_that_is_not_mlflows_fails_the_invocation_check(ctx):
    in_service(ctx)  # plain moto answers a fixed body
    result = results(ctx)["invocation"]
    assert result.passed is False and result.observed


def test_missing_endpoint_check_points_at_mlflows_current_api(ctx):
    result = results(ctx)["endpoint"]
    assert not result.passed and "mlflow.sagemaker.deploy" in result.hint and "create_deployment" in result.hint


# ---- MLflow's environment and the price -----------------------------------------------------

def test_mlflow_environment_points_boto3_at_the_sandbox_then_restores(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://elsewhere:1")
    monkeypatch.setenv("AWS_PROFILE", "someone")
    aws = Aws(Target.sandbox(endpoint_url="http://127.0.0.1:4999"))
    before = dict(os.environ)
    with sagemaker.mlflow_environment(aws):
        client = boto3.client("s3")
        assert client.meta.endpoint_url == "http://127.0.0.1:4999"
        assert client._request_signer._credentials.access_key == aws.client_env()["AWS_ACCESS_KEY_ID"]
        assert "AWS_PROFILE" not in os.environ and "AWS_ENDPOINT_URL_S3" not in os.environ
    assert dict(os.environ) == before


def test_mlflow_environment_never_sends_a_real_deployment_to_a_configured_endpoint(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")  # a shell left pointing at the sandbox
    aws = Aws(Target.aws(region="eu-central-1"))
    with sagemaker.mlflow_environment(aws):
        assert boto3.client("sagemaker").meta.endpoint_url == "https://api.sagemaker.eu-central-1.amazonaws.com"
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"


@pytest.mark.parametrize(("region", "says"), [("eu-central-1", "$0.138 per hour"), ("us-east-1", "$0.115 per hour"),
                                              ("ap-south-1", "see aws.amazon.com/sagemaker/pricing")])
def test_price_sentence_per_region(region, says):
    ctx = LabContext(Aws(Target.aws(region=region)), SVC)
    assert says in ex5.price_sentence(ctx)


# ---- plan, ownership, teardown guard, class snapshot ----------------------------------------

def listing(ctx):
    """Everything exercise 5 could touch, with tags: compared before and after to prove nothing changed."""
    aws, names = ctx.aws, ctx.names
    sm, iam_client = aws.client("sagemaker"), aws.client("iam")
    buckets = {b["Name"]: (s3.get_bucket_tags(aws, b["Name"]), [o.key for o in s3.list_objects(aws, b["Name"])])
               for b in aws.client("s3").list_buckets()["Buckets"]}
    roles = {r["RoleName"]: (iam_client.list_role_tags(RoleName=r["RoleName"])["Tags"],
                             iam.attached_policy_arns(aws, r["RoleName"]),
                             r["AssumeRolePolicyDocument"]) for r in iam_client.list_roles()["Roles"]}
    policies = {p["PolicyName"]: (p["DefaultVersionId"], iam_client.list_policy_tags(PolicyArn=p["Arn"])["Tags"])
                for p in iam_client.list_policies(Scope="Local")["Policies"]}
    repos = {r["repositoryName"]: ecr.list_image_tags(aws, r["repositoryName"])
             for r in aws.client("ecr").describe_repositories()["repositories"]}
    sagemaker_things = {
        "endpoints": {e["EndpointName"]: (e["EndpointStatus"], tags_of(ctx, e["EndpointArn"]))
                      for e in sm.list_endpoints()["Endpoints"]},
        "configs": {c["EndpointConfigName"]: tags_of(ctx, c["EndpointConfigArn"])
                    for c in sm.list_endpoint_configs()["EndpointConfigs"]},
        "models": {m["ModelName"]: tags_of(ctx, m["ModelArn"]) for m in sm.list_models()["Models"]},
    }
    local = sorted(str(p.relative_to(ctx.workdir)) for p in ctx.workdir.rglob("*"))
    return buckets, roles, policies, repos, sagemaker_things, local


def test_a_plan_on_a_fresh_account_says_create_for_every_writing_step_and_changes_nothing(ctx, no_docker):
    before = listing(ctx)
    planned = actions(ctx)
    assert {s: p.action for s, p in planned.items()} == \
        {"image": "create", "role": "create", "model": "create", "deploy": "create", "query": "none"}
    assert all(p.reason and p.code for p in planned.values())
    assert "per hour" in planned["deploy"].reason  # the price is said before anything bills
    assert listing(ctx) == before


@needs_model
def test_after_a_run_every_step_plans_none_and_every_check_but_the_answer_passes(ctx, no_docker):
    deploy_all(ctx)
    planned = actions(ctx)
    assert {s: p.action for s, p in planned.items()} == dict.fromkeys(planned, "none"), \
        {s: p.reason for s, p in planned.items()}
    judged = results(ctx)
    assert all(judged[i].passed for i in ("image", "role", "endpoint"))
    assert judged["invocation"].passed is False  # plain moto serves no model: the sandbox test covers it


def foreign_role(ctx):
    iam.ensure_role(ctx.aws, ctx.names.sagemaker_role, "sagemaker.amazonaws.com", FOREIGN)
    return ("role", ctx.names.sagemaker_role)


def foreign_policy(ctx):
    iam.ensure_policy(ctx.aws, ctx.names.sagemaker_policy, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}, FOREIGN)
    return ("role", ctx.names.sagemaker_policy)


def foreign_bucket(ctx):
    s3.ensure_bucket(ctx.aws, ctx.names.sagemaker_bucket, FOREIGN)
    return ("model", ctx.names.sagemaker_bucket)


def foreign_endpoint(ctx):
    client = ctx.aws.client("sagemaker")
    client.create_model(ModelName="other-model", ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                        PrimaryContainer={"Image": "i"}, Tags=[{"Key": k, "Value": v} for k, v in FOREIGN.items()])
    client.create_endpoint_config(EndpointConfigName="other-config", ProductionVariants=[
        {"VariantName": "v", "ModelName": "other-model", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    client.create_endpoint(EndpointName=ctx.names.endpoint, EndpointConfigName="other-config",
                           Tags=[{"Key": k, "Value": v} for k, v in FOREIGN.items()])
    return ("deploy", ctx.names.endpoint)


@pytest.mark.parametrize("make", [foreign_role, foreign_policy, foreign_bucket, foreign_endpoint])
def test_another_students_resource_is_refused_by_name_and_left_as_it_was(ctx, no_docker, make):
    step, name = make(ctx)
    push_image(ctx)
    before = listing(ctx)
    decision = actions(ctx)[step]
    assert decision.action == "refuse" and name in decision.reason and OTHER in decision.reason
    with pytest.raises(NotYours) as caught:
        ex5.EXERCISE.step(step).run(ctx, lambda _: None)
    assert name in caught.value.message and OTHER in caught.value.message
    assert listing(ctx) == before


def test_an_untagged_role_and_policy_made_by_hand_are_adopted_and_tagged(ctx):
    client = ctx.aws.client("iam")
    client.create_role(RoleName=ctx.names.sagemaker_role,
                       AssumeRolePolicyDocument=json.dumps(iam.trust_policy("sagemaker.amazonaws.com")))
    client.create_policy(PolicyName=ctx.names.sagemaker_policy,
                         PolicyDocument=json.dumps(state.policy_document(ctx.names)))
    decision = actions(ctx)["role"]
    assert decision.action == "update" and "adopt" in decision.reason
    result = ex5.EXERCISE.step("role").run(ctx, lambda _: None)
    assert result.changed and "adopted and tagged" in result.summary
    assert {t["Key"]: t["Value"] for t in client.list_role_tags(RoleName=ctx.names.sagemaker_role)["Tags"]} == TAGS
    arn = iam.policy_arn(ctx.aws, ctx.names.sagemaker_policy)
    assert {t["Key"]: t["Value"] for t in client.list_policy_tags(PolicyArn=arn)["Tags"]} == TAGS
    assert actions(ctx)["role"].action == "none"


@needs_model
def test_an_untagged_artifact_bucket_is_adopted_by_the_model_step(ctx):
    ctx.aws.client("s3").create_bucket(Bucket=ctx.names.sagemaker_bucket,
                                       CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    assert "adopt" in actions(ctx)["model"].reason.lower()
    result = ex5.EXERCISE.step("model").run(ctx, lambda _: None)
    assert "adopted and tagged" in result.summary
    assert s3.get_bucket_tags(ctx.aws, ctx.names.sagemaker_bucket) == TAGS


def test_an_untagged_endpoint_is_adopted_with_its_config_and_model(ctx):
    client = ctx.aws.client("sagemaker")
    model = client.create_model(ModelName=f"{ctx.names.endpoint_model_prefix}{'a' * 20}", PrimaryContainer={"Image": "i"},
                                ExecutionRoleArn="arn:aws:iam::123456789012:role/r")
    client.create_endpoint_config(EndpointConfigName="by-hand-config", ProductionVariants=[
        {"VariantName": "v", "ModelName": f"{ctx.names.endpoint_model_prefix}{'a' * 20}", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 1}])
    endpoint = client.create_endpoint(EndpointName=ctx.names.endpoint, EndpointConfigName="by-hand-config")
    decision = actions(ctx)["deploy"]
    assert decision.action == "update" and "adopt" in decision.reason
    result = ex5.EXERCISE.step("deploy").run(ctx, lambda _: None)
    assert result.changed and "adopted and tagged" in result.summary
    config_arn = sagemaker.get_endpoint_config(ctx.aws, "by-hand-config")["EndpointConfigArn"]
    for arn in (endpoint["EndpointArn"], config_arn, model["ModelArn"]):
        assert {k: v for k, v in tags_of(ctx, arn).items() if k.startswith("lab:")} == TAGS
    assert {d.name: d.allowed for d in teardown_plan(ctx, ex5.EXERCISE)} == {
        ctx.names.endpoint: True, "by-hand-config": True, f"{ctx.names.endpoint_model_prefix}{'a' * 20}": True}


@needs_model
def test_teardown_leaves_resources_retagged_for_another_student_exactly_as_they_were(ctx, no_docker):
    deploy_all(ctx)
    names, client = ctx.names, ctx.aws.client("iam")
    policy_arn = iam.policy_arn(ctx.aws, names.sagemaker_policy)
    iam.tag_role(ctx.aws, names.sagemaker_role, {"lab:student": OTHER})
    iam.tag_policy(ctx.aws, policy_arn, {"lab:student": OTHER})
    s3.put_tags(ctx.aws, names.sagemaker_bucket, {"lab:student": OTHER})

    def theirs():
        return (client.list_role_tags(RoleName=names.sagemaker_role)["Tags"],
                iam.attached_policy_arns(ctx.aws, names.sagemaker_role),
                client.list_policy_tags(PolicyArn=policy_arn)["Tags"], iam.get_policy_document(ctx.aws, policy_arn),
                s3.get_bucket_tags(ctx.aws, names.sagemaker_bucket),
                [o.key for o in s3.list_objects(ctx.aws, names.sagemaker_bucket)])

    before = theirs()
    planned = {d.name: d for d in teardown_plan(ctx, ex5.EXERCISE)}
    assert not planned[names.sagemaker_role].allowed and not planned[names.sagemaker_bucket].allowed
    # Tags are re-read right before deleting: even a plan made while it was ours leaves it alone.
    [skipped] = apply_deletions(ctx.aws, [dataclasses.replace(planned[names.sagemaker_bucket], allowed=True)])
    assert skipped.status == "skipped"
    done = apply_teardown(ctx, ex5.EXERCISE, list(planned.values()))
    assert theirs() == before
    assert ex5.endpoint_status(ctx) is None  # what was still ours went
    assert {r.kind for r in done if r.status == "done"} == {"endpoint", "endpoint-config", "model"}


def view_of(ctx):
    """A StudentView as the class overview builds it, from listing calls only (no per-resource Describe)."""
    aws, names = ctx.aws, ctx.names
    tagging = {m["ResourceARN"]: {t["Key"]: t["Value"] for t in m.get("Tags", [])}
               for m in aws.client("resourcegroupstaggingapi").get_resources()["ResourceTagMappingList"]}
    seen, raw = {}, {}

    def add(kind, name, rid, tags, entry=None):
        seen.setdefault(kind, {})[name] = Seen(kind, name, rid, tags)
        if entry is not None:
            raw.setdefault(kind, {})[name] = entry

    for bucket in aws.client("s3").list_buckets()["Buckets"]:
        if bucket["Name"] == names.sagemaker_bucket:
            add("bucket", bucket["Name"], bucket["Name"], s3.get_bucket_tags(aws, bucket["Name"]))
    details = aws.client("iam").get_account_authorization_details(Filter=["Role", "LocalManagedPolicy"])
    for role in details["RoleDetailList"]:
        if role["RoleName"] in (names.sagemaker_role, "LabRole"):
            add("role", role["RoleName"], role["Arn"], {t["Key"]: t["Value"] for t in role.get("Tags", [])}, role)
    for policy in details["Policies"]:
        if policy["Arn"].rsplit("/", 1)[-1] == names.sagemaker_policy:
            default = next(v for v in policy["PolicyVersionList"] if v["IsDefaultVersion"])
            document = default["Document"]
            add("policy", names.sagemaker_policy, policy["Arn"], {}, {"Arn": policy["Arn"], "Document": (
                json.loads(document) if isinstance(document, str) else document)})
    sm = aws.client("sagemaker")
    for endpoint in sm.list_endpoints()["Endpoints"]:
        if endpoint["EndpointName"] == names.endpoint:
            add("endpoint", endpoint["EndpointName"], endpoint["EndpointArn"],
                tagging.get(endpoint["EndpointArn"], {}), endpoint)
    for config in sm.list_endpoint_configs()["EndpointConfigs"]:
        add("endpoint-config", config["EndpointConfigName"], config["EndpointConfigArn"], {})
    for model in sm.list_models()["Models"]:
        add("model", model["ModelName"], model["ModelArn"], {})
    return StudentView(names, aws.region, seen, raw)


def assert_snapshot_agrees(ctx):
    live = {r.id: r for r in run_checks(ctx, ex5.EXERCISE)}
    snapshot = ex5.EXERCISE.judge(ex5.state.from_snapshot(view_of(ctx)))
    judged = 0
    for result in snapshot:
        if result.passed is not None:
            judged += 1
            assert (result.passed, result.broken) == (live[result.id].passed, live[result.id].broken), \
                (result, live[result.id])
    assert judged >= 1  # the endpoint is always judged from the listings
    return {r.id: r for r in snapshot}


def test_the_class_snapshot_agrees_with_the_live_checks_on_a_fresh_account(ctx):
    snapshot = assert_snapshot_agrees(ctx)
    assert snapshot["image"].passed is None and snapshot["invocation"].passed is False


def test_the_class_snapshot_agrees_on_a_role_that_trusts_only_lambda(ctx):
    iam.ensure_role(ctx.aws, ctx.names.sagemaker_role, "lambda.amazonaws.com", TAGS)
    assert assert_snapshot_agrees(ctx)["role"].broken


def test_the_class_snapshot_agrees_after_the_role_step(ctx):
    ex5.EXERCISE.step("role").run(ctx, lambda _: None)
    assert assert_snapshot_agrees(ctx)["role"].passed


@pytest.mark.parametrize("use_lab_role", [True, False])
def test_the_class_snapshot_cannot_tell_whether_a_learner_lab_student_deploys_with_labrole(moto_aws, use_lab_role):
    ctx = LabContext(moto_aws, SVC, {"use_lab_role": use_lab_role})
    iam.ensure_role(moto_aws, "LabRole", "sagemaker.amazonaws.com")
    assert results(ctx)["role"].passed is use_lab_role
    assert assert_snapshot_agrees(ctx)["role"].passed is None  # the option is the student's, not in any listing


@needs_model
def test_the_class_snapshot_agrees_after_a_deploy_and_cannot_see_the_answer(ctx, no_docker):
    deploy_all(ctx)
    snapshot = assert_snapshot_agrees(ctx)
    assert snapshot["endpoint"].passed and snapshot["invocation"].passed is None
    from_snapshot = ex5.state.from_snapshot(view_of(ctx))
    live = ex5.EXERCISE.observe(ctx)
    assert {s.name for s in from_snapshot.configs} == {s.name for s in live.configs}
    assert {s.name for s in from_snapshot.models} == {s.name for s in live.models}


# ---- the code the steps show -----------------------------------------------------------------------

def unbound_names(code):
    """Names a snippet reads but never imports or assigns (e.g. `json` used without `import json`)."""
    import builtins

    tree = ast.parse(code)
    bound = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - bound


def placeholders(code):
    """What a student would have to fill in: `...` in code, `…` in a string (`…` in code does not compile)."""
    return [node.value for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Constant)
            and (node.value is Ellipsis or isinstance(node.value, str) and "…" in node.value)]


SNIPPET_CONTEXTS = {
    "sandbox": lambda: LabContext(Aws(Target.sandbox(endpoint_url="http://127.0.0.1:4566")), SVC),
    "aws": lambda: LabContext(Aws(Target.aws(region="us-east-1")), SVC),
    "learner lab": lambda: LabContext(Aws(Target.aws(region="us-east-1")), SVC,
                                      {"use_lab_role": True, "instance_type": "ml.c5.large"}),
}


@pytest.mark.parametrize("where", SNIPPET_CONTEXTS)
def test_every_snippet_is_complete_code_run_from_the_lab_folder(where):
    ctx = SNIPPET_CONTEXTS[where]()
    for step in ex5.EXERCISE.steps:
        code = step.code(ctx)
        compile(code, step.id, "exec")
        assert code.startswith(ctx.folder_note() + "\n"), step.id
        assert not unbound_names(code), (step.id, unbound_names(code))
        assert not placeholders(code), (step.id, placeholders(code))
        # Paths are relative to the lab folder, named only on the first line.
        assert str(ctx.workdir) not in code.split("\n", 1)[1], step.id


def test_snippets_use_the_steps_values_and_the_labs_tags():
    ctx = SNIPPET_CONTEXTS["learner lab"]()
    code = {step.id: step.code(ctx) for step in ex5.EXERCISE.steps}
    assert "mlflow sagemaker build-and-push-container" in code["image"]  # what to run on AWS
    assert "'LabRole'" in code["role"] and "create_role" not in code["role"]
    assert "'LabRole'" in code["deploy"] and "'ml.c5.large'" in code["deploy"]
    assert "'course/mlflow_model.zip'" in code["model"]  # exercise 2's download, not a second copy
    tags = repr(TAGS)
    assert tags in code["deploy"]
    sandbox = SNIPPET_CONTEXTS["sandbox"]()
    image = ex5.EXERCISE.step("image").code(sandbox)
    assert "put_image" in image and "mlflow sagemaker build-and-push-container" in image  # records, says what on AWS
    for step in ("image", "role", "model", "deploy"):  # every writing snippet tags what it creates
        assert "'lab:student', 'Value': 'anna-1a2b3c'" in ex5.EXERCISE.step(step).code(sandbox), step


@needs_model
def test_the_snippets_pasted_in_order_deploy_tagged_resources(ctx, monkeypatch):
    """In-process against moto (the sandbox test, tests/integration/test_snippets_ex5.py, runs them for real).

    On an AWS target the image snippet only checks the image: it was pushed with Docker elsewhere.
    """
    push_image(ctx)
    (ctx.workdir / "course").mkdir()
    (ctx.workdir / "course" / "mlflow_model.zip").write_bytes(MODEL_ZIP.read_bytes())
    monkeypatch.chdir(ctx.workdir)
    for step in ex5.EXERCISE.steps[:4]:  # plain moto serves no model: the query is the sandbox test's
        exec(compile(step.code(ctx), step.id, "exec"), {})
    judged = results(ctx)
    assert all(judged[i].passed for i in ("image", "role", "endpoint")), judged
    planned = teardown_plan(ctx, ex5.EXERCISE)
    assert {d.kind for d in planned} == {"endpoint", "endpoint-config", "model", "bucket", "role", "policy"}
    assert all(d.allowed for d in planned), planned
