"""Exercise 5 against moto: image, role, model, MLflow deploy, waiting, parsing, checks and teardown.

Plain moto serves no model (its endpoints are InService at once and answer a fixed body); the
sandbox tests (tests/sandbox/test_sagemaker_compute.py, tests/integration) run the real thing.
"""
import json
import os

import boto3
import pytest

from backend import ecr, iam, s3, sagemaker
from backend.aws import Aws, Target
from backend.config import COURSE_BUCKET, COURSE_DIR
from backend.errors import LabError
from backend.exercises import ex5_sagemaker as ex5
from backend.lab import LabContext, apply, run_checks
from backend.prediction import Prediction

SVC = "anna-1a2b3c"
MODEL_ZIP = COURSE_DIR / "mlflow_model.zip"
needs_model = pytest.mark.skipif(not MODEL_ZIP.is_file(), reason="needs the built course (python -m backend course build)")


@pytest.fixture
def ctx(moto_aws):
    s3_client = moto_aws.client("s3")
    s3_client.create_bucket(Bucket=COURSE_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    if MODEL_ZIP.is_file():
        s3_client.put_object(Bucket=COURSE_BUCKET, Key="mlflow_model.zip", Body=MODEL_ZIP.read_bytes())
    return LabContext(moto_aws, SVC)


@pytest.fixture
def no_docker(monkeypatch):
    monkeypatch.setattr(ex5, "docker_available", lambda: False)


def checks(ctx):
    return {r.id: r for r in run_checks(ctx, ex5.EXERCISE)}


def push_image(ctx, tag=None):
    ecr.ensure_repository(ctx.aws, ex5.REPOSITORY)
    ecr.record_push(ctx.aws, ex5.REPOSITORY, tag or ex5.mlflow_version())


# ---- image ---------------------------------------------------------------------------------

def test_without_docker_on_aws_the_image_step_says_what_to_do(ctx, no_docker):
    with pytest.raises(LabError, match="needs Docker") as caught:
        ex5.EXERCISE.step("image").run(ctx, lambda _: None)
    assert "mlflow sagemaker build-and-push-container" in caught.value.message
    assert caught.value.code == "DockerMissing"


def test_an_image_pushed_elsewhere_is_found_and_nothing_changes(ctx, no_docker):
    push_image(ctx)
    result = ex5.EXERCISE.step("image").run(ctx, lambda _: None)
    assert not result.changed and "already in ECR" in result.summary
    assert checks(ctx)["image"].passed


def test_an_image_of_another_mlflow_version_fails_the_check_with_the_tags(ctx):
    push_image(ctx, "2.9.0")
    result = checks(ctx)["image"]
    assert not result.passed and "2.9.0" in result.observed and ex5.mlflow_version() in result.hint


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
    first = ex5.EXERCISE.step("role").run(ctx, lambda _: None)
    assert first.changed
    role = iam.get_role(ctx.aws, f"sagemaker-{SVC}-role")
    assert iam.role_trusts(role, "sagemaker.amazonaws.com")
    document = iam.get_policy_document(ctx.aws, iam.policy_arn(ctx.aws, f"sagemaker-{SVC}-policy"))
    resources = {json.dumps(st["Resource"]) for st in document["Statement"]}
    assert json.dumps(f"arn:aws:s3:::sagemaker-{SVC}/*") in resources
    assert not ex5.EXERCISE.step("role").run(ctx, lambda _: None).changed
    assert checks(ctx)["role"].passed


def test_a_role_trusted_only_by_lambda_fails_the_check_with_a_hint(moto_aws):
    ctx = LabContext(moto_aws, SVC, {"use_lab_role": True})
    iam.ensure_role(moto_aws, "LabRole", "lambda.amazonaws.com")
    result = checks(ctx)["role"]
    assert not result.passed and "sagemaker.amazonaws.com" in result.hint
    with pytest.raises(LabError, match="does not trust"):
        ex5.EXERCISE.step("role").run(ctx, lambda _: None)


def test_lab_role_missing_is_a_clear_error(moto_aws):
    with pytest.raises(LabError, match="no LabRole"):
        ex5.EXERCISE.step("role").run(LabContext(moto_aws, SVC, {"use_lab_role": True}), lambda _: None)


# ---- model and deploy ----------------------------------------------------------------------

@needs_model
def test_model_step_unpacks_the_mlflow_model_once(ctx):
    first = ex5.EXERCISE.step("model").run(ctx, lambda _: None)
    assert first.changed and (ex5.model_dir(ctx) / "MLmodel").is_file()
    assert first.details["flavors"] == ["python_function", "sklearn"]
    assert s3.get_bucket_tags(ctx.aws, f"sagemaker-{SVC}")["lab:exercise"] == "5"
    assert not ex5.EXERCISE.step("model").run(ctx, lambda _: None).changed


def test_deploy_before_the_other_steps_names_the_missing_one(ctx):
    with pytest.raises(LabError, match="run the model step first"):
        ex5.deploy(ctx)


@needs_model
def test_deploy_through_mlflow_creates_tagged_resources_and_a_second_run_changes_nothing(ctx, no_docker):
    push_image(ctx)
    apply(ctx, [ex5.EXERCISE.step(i) for i in ("role", "model")])
    progress = []
    result = ex5.deploy(ctx, progress.append, sleep=lambda _: None)
    assert result.changed and "InService" in result.summary and "bills by the hour" in result.summary
    assert any("per hour" in line for line in progress)  # the price, before MLflow is called
    endpoint = sagemaker.get_endpoint(ctx.aws, f"income-prediction-{SVC}")
    config = sagemaker.get_endpoint_config(ctx.aws, endpoint["EndpointConfigName"])
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
    assert sagemaker.get_tags(ctx.aws, config["EndpointConfigArn"])["lab:student"] == SVC
    (model,) = sagemaker.endpoint_models(ctx.aws, f"income-prediction-{SVC}")
    assert model["PrimaryContainer"]["Image"].endswith(f"/mlflow-pyfunc:{ex5.mlflow_version()}")
    bucket, key = sagemaker.split_s3_url(model["PrimaryContainer"]["ModelDataUrl"])
    assert bucket == f"sagemaker-{SVC}" and key.endswith("model.tar.gz")  # config key "bucket" was honoured
    assert sagemaker.get_tags(ctx.aws, model["ModelArn"])[ex5.MODEL_SHA_TAG]
    again = ex5.deploy(ctx, sleep=lambda _: None)
    assert not again.changed and "nothing to do" in again.summary
    assert checks(ctx)["endpoint"].passed


@needs_model
def test_teardown_removes_endpoint_config_model_artifact_bucket_role_and_policy(ctx, no_docker):
    push_image(ctx)
    apply(ctx, [ex5.EXERCISE.step(i) for i in ("role", "model")])
    ex5.deploy(ctx, sleep=lambda _: None)
    model_url = sagemaker.endpoint_models(ctx.aws, f"income-prediction-{SVC}")[0]["PrimaryContainer"]["ModelDataUrl"]
    results = ex5.teardown(ctx)
    assert all(r.changed for r in results), [r.summary for r in results]
    assert sagemaker.get_endpoint(ctx.aws, f"income-prediction-{SVC}") is None
    assert ex5._owned_configs(ctx) == [] and ex5._owned_models(ctx) == []
    assert not s3.bucket_exists(ctx.aws, model_url.split("/")[2])
    assert iam.get_role(ctx.aws, f"sagemaker-{SVC}-role") is None
    assert ecr.get_repository(ctx.aws, ex5.REPOSITORY) is not None  # shared by the account: kept
    assert not any(r.changed for r in ex5.teardown(ctx))


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


def test_a_pandas_split_model_error_fails_the_invocation_check_with_the_hint(ctx, monkeypatch):
    monkeypatch.setattr(ex5, "endpoint_status", lambda _ctx: "InService")

    def refuse(_ctx, _records):
        raise sagemaker.ModelError(sagemaker._model_error_sentence("e", 415, "Unrecognized content type parameters: "
                                                                   "format."), 415, "…")
    monkeypatch.setattr(ex5, "predict", refuse)
    result = checks(ctx)["invocation"]
    assert not result.passed and "pandas-split" in result.observed and "dataframe_split" in result.hint


def test_missing_endpoint_check_points_at_mlflows_current_api(ctx):
    result = checks(ctx)["endpoint"]
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
