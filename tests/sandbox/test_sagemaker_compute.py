"""The sandbox's SageMaker: endpoints serve the uploaded MLflow model for real, as on AWS.

Deploys go through MLflow's deployment client (backend.sagemaker.mlflow_deploy), like the lab's.
"""
from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from backend import ecr, iam, s3, sagemaker
from backend.artifacts import FEATURES, SAMPLE_RECORD
from backend.aws import Aws, Target
from backend.config import COURSE_DIR
from backend.errors import LabError
from backend.local_model import LocalModel, records_from_csv
from backend.sandbox import Sandbox
from backend.sandbox.sagemaker_compute import SageMakerCompute, parse_image

MODEL_ZIP = COURSE_DIR / "mlflow_model.zip"
pytestmark = pytest.mark.skipif(not MODEL_ZIP.is_file(), reason="needs the built course (python -m backend course build)")

BUCKET = "sagemaker-compute-tests"
ROLE = "sagemaker-compute-tests-role"


@pytest.fixture(scope="module")
def compute() -> SageMakerCompute:
    return SageMakerCompute(load_budget=120)


@pytest.fixture(scope="module")
def sandbox(compute) -> Sandbox:
    """A sandbox with only the SageMaker compute (module scope: moto's state is process-global)."""
    with Sandbox(0, course_dir=COURSE_DIR, compute=[compute]) as running:
        yield running


@pytest.fixture(scope="module")
def aws(sandbox) -> Aws:
    return Aws(Target.sandbox(endpoint_url=sandbox.url))


@pytest.fixture(scope="module")
def prerequisites(aws) -> dict[str, str]:
    repo = ecr.ensure_repository(aws, "mlflow-pyfunc")
    ecr.record_push(aws, "mlflow-pyfunc", "3.17.2")
    role = iam.ensure_role(aws, ROLE, "sagemaker.amazonaws.com")
    s3.ensure_bucket(aws, BUCKET)
    return {"image": f"{repo.uri}:3.17.2", "role": role.arn}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mlflow_model")
    zipfile.ZipFile(MODEL_ZIP).extractall(path)
    return path


def spec(name: str, model: Path, prerequisites: dict[str, str], **changes) -> sagemaker.DeploySpec:
    values = dict(name=name, model_uri=str(model), execution_role_arn=prerequisites["role"], bucket=BUCKET,
                  image_url=prerequisites["image"], instance_type="ml.m5.large", instance_count=1,
                  tags={"lab:student": "tests"})
    values.update(changes)
    return sagemaker.DeploySpec(**values)


def deploy(aws, name, model, prerequisites, **changes) -> dict:
    sagemaker.mlflow_deploy(aws, spec(name, model, prerequisites, **changes))
    return sagemaker.wait_for_endpoint(aws, name, poll=0.25, timeout=120)


@pytest.fixture(scope="module")
def served(aws, model_dir, prerequisites) -> str:
    """One endpoint serving the course model, shared by the read-only tests."""
    deploy(aws, "served-endpoint", model_dir, prerequisites)
    return "served-endpoint"


def course_records(n: int) -> list[dict]:
    return records_from_csv((COURSE_DIR / "adult_batch.csv").read_bytes())[:n]


def test_parse_image_reads_repository_and_tag():
    assert parse_image("123.dkr.ecr.eu-central-1.amazonaws.com/mlflow-pyfunc:3.17.2") == ("mlflow-pyfunc", "3.17.2")
    assert parse_image("123.dkr.ecr.eu-central-1.amazonaws.com/a/b@sha256:ab") == ("a/b", "sha256:ab")


def test_endpoint_is_creating_until_the_server_answers_then_in_service(aws, model_dir, prerequisites):
    sagemaker.mlflow_deploy(aws, spec("creating-endpoint", model_dir, prerequisites))
    assert sagemaker.get_endpoint(aws, "creating-endpoint")["EndpointStatus"] == "Creating"
    seen = []
    description = sagemaker.wait_for_endpoint(aws, "creating-endpoint", seen.append, poll=0.25, timeout=120)
    assert description["EndpointStatus"] == "InService"
    assert seen[0].startswith("Endpoint creating-endpoint: Creating") and "InService" in seen[-1]
    sagemaker.delete_endpoint(aws, "creating-endpoint")


def test_invoke_returns_the_models_predictions_same_as_local(aws, served, compute):
    records = course_records(20)
    remote = sagemaker.invoke(aws, served, records, FEATURES)
    local = LocalModel(COURSE_DIR / "model.onnx").predict(records)
    assert [p.label for p in remote] == [p.label for p in local]
    assert max(abs(a.probability - b.probability) for a, b in zip(remote, local)) < 1e-4
    assert compute.info()["endpoints"][served]["url"].startswith("http://127.0.0.1:")


def test_invoke_answers_with_the_production_variant(aws, served):
    body = json.dumps(sagemaker.dataframe_split([SAMPLE_RECORD], FEATURES))
    response = aws.client("sagemaker-runtime").invoke_endpoint(EndpointName=served, Body=body,
                                                               ContentType="application/json")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["InvokedProductionVariant"].startswith(f"{served}-model-")
    assert len(json.loads(response["Body"].read())["predictions"][0]) == 2


@pytest.mark.parametrize(("body", "content_type", "original", "says"), [
    (b"not json", "application/json", 400, "Invalid input"),
    (json.dumps({"dataframe_split": {"columns": ["age"], "data": [[39]]}}).encode(), "application/json", 400,
     "Model is missing inputs"),
    (b"{}", "application/json; format=pandas-split", 415, "Unrecognized content type parameters: format"),
])
def test_a_bad_payload_is_a_model_error_424_with_the_original_status(aws, served, body, content_type, original, says):
    with pytest.raises(ClientError) as caught:
        aws.client("sagemaker-runtime").invoke_endpoint(EndpointName=served, Body=body, ContentType=content_type)
    err = caught.value.response
    assert err["Error"]["Code"] == "ModelError"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert err["OriginalStatusCode"] == original
    assert says in err["OriginalMessage"] and f"({original}) from primary" in err["Error"]["Message"]


def test_the_backend_turns_the_model_error_into_a_sentence(aws, served):
    with pytest.raises(sagemaker.ModelError) as caught:
        sagemaker.invoke_endpoint(aws, served, b"{}", "application/json; format=pandas-split")
    assert caught.value.status == 415 and "pandas-split" in caught.value.message


def test_invoking_a_missing_endpoint_is_a_validation_error(aws):
    with pytest.raises(LabError, match="does not exist"):
        sagemaker.invoke(aws, "no-such-endpoint", [SAMPLE_RECORD], FEATURES)


def test_update_serves_the_new_model_and_stops_the_old_server(aws, model_dir, prerequisites, compute):
    deploy(aws, "updated-endpoint", model_dir, prerequisites)
    old_server = compute.server_for("updated-endpoint")
    old_config = sagemaker.get_endpoint(aws, "updated-endpoint")["EndpointConfigName"]
    sagemaker.mlflow_deploy(aws, spec("updated-endpoint", model_dir, prerequisites), update=True)
    assert sagemaker.get_endpoint(aws, "updated-endpoint")["EndpointStatus"] == "Updating"
    # the old model keeps answering during the update, as on AWS
    assert sagemaker.invoke(aws, "updated-endpoint", [SAMPLE_RECORD], FEATURES)
    description = sagemaker.wait_for_endpoint(aws, "updated-endpoint", poll=0.25, timeout=120,
                                              previous_config=old_config)
    assert description["EndpointConfigName"] != old_config
    assert compute.server_for("updated-endpoint") is not old_server
    assert old_server.process.poll() is not None
    assert sagemaker.invoke(aws, "updated-endpoint", [SAMPLE_RECORD], FEATURES)
    sagemaker.delete_endpoint(aws, "updated-endpoint")


def broken_model(tmp_path: Path, model_dir: Path) -> Path:
    """The course model with its pickled pipeline replaced by garbage: MLflow cannot load it."""
    broken = tmp_path / "broken"
    zipfile.ZipFile(MODEL_ZIP).extractall(broken)
    (broken / "model.skops").write_bytes(b"not a model")
    return broken


@pytest.mark.reliability("faults")
def test_a_model_that_fails_to_load_fails_the_endpoint_with_the_reason(aws, tmp_path, model_dir, prerequisites,
                                                                      compute):
    sagemaker.mlflow_deploy(aws, spec("broken-endpoint", broken_model(tmp_path, model_dir), prerequisites))
    with pytest.raises(LabError, match="failed: The model container exited") as caught:
        sagemaker.wait_for_endpoint(aws, "broken-endpoint", poll=0.25, timeout=120)
    assert sagemaker.get_endpoint(aws, "broken-endpoint")["EndpointStatus"] == "Failed"
    assert compute.server_for("broken-endpoint") is None
    assert "BadZipFile" in caught.value.message  # the loader's own exception, as in the container log
    sagemaker.delete_endpoint(aws, "broken-endpoint")


def test_a_failed_update_rolls_back_to_the_previous_model(aws, tmp_path, model_dir, prerequisites):
    deploy(aws, "rollback-endpoint", model_dir, prerequisites)
    previous = sagemaker.get_endpoint(aws, "rollback-endpoint")["EndpointConfigName"]
    sagemaker.mlflow_deploy(aws, spec("rollback-endpoint", broken_model(tmp_path, model_dir), prerequisites),
                            update=True)
    with pytest.raises(LabError, match="rolled back"):
        sagemaker.wait_for_endpoint(aws, "rollback-endpoint", poll=0.25, timeout=120, previous_config=previous)
    description = sagemaker.get_endpoint(aws, "rollback-endpoint")
    assert description["EndpointStatus"] == "InService" and description["EndpointConfigName"] == previous
    assert sagemaker.invoke(aws, "rollback-endpoint", [SAMPLE_RECORD], FEATURES)
    sagemaker.delete_endpoint(aws, "rollback-endpoint")


@pytest.mark.parametrize(("changes", "reason"), [
    ({"image_url": "123456789012.dkr.ecr.eu-central-1.amazonaws.com/mlflow-pyfunc:0.0.1"}, "does not exist in ECR"),
    ({"execution_role_arn": "arn:aws:iam::123456789012:role/no-such-role"}, "Could not assume"),
])
def test_a_missing_image_or_role_fails_the_endpoint(aws, model_dir, prerequisites, changes, reason):
    name = f"failing-{len(reason)}"
    sagemaker.mlflow_deploy(aws, spec(name, model_dir, prerequisites, **changes))
    with pytest.raises(LabError, match=reason):
        sagemaker.wait_for_endpoint(aws, name, poll=0.25, timeout=60)
    sagemaker.delete_endpoint(aws, name)


def test_a_role_sagemaker_may_not_assume_fails_the_endpoint(aws, model_dir, prerequisites):
    lambda_role = iam.ensure_role(aws, "lambda-only-role", "lambda.amazonaws.com")
    sagemaker.mlflow_deploy(aws, spec("untrusted-endpoint", model_dir, prerequisites, execution_role_arn=lambda_role.arn))
    with pytest.raises(LabError, match="does not allow sagemaker.amazonaws.com"):
        sagemaker.wait_for_endpoint(aws, "untrusted-endpoint", poll=0.25, timeout=60)
    sagemaker.delete_endpoint(aws, "untrusted-endpoint")


def test_an_artifact_that_is_no_mlflow_model_fails_the_endpoint(aws, prerequisites, tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    aws.client("s3").put_object(Bucket=BUCKET, Key="plain/model.tar.gz", Body=buffer.getvalue())
    client = aws.client("sagemaker")
    client.create_model(ModelName="plain-model", ExecutionRoleArn=prerequisites["role"],
                        PrimaryContainer={"Image": prerequisites["image"],
                                          "ModelDataUrl": f"s3://{BUCKET}/plain/model.tar.gz"})
    client.create_endpoint_config(EndpointConfigName="plain-config", ProductionVariants=[
        {"VariantName": "v", "ModelName": "plain-model", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    client.create_endpoint(EndpointName="plain-endpoint", EndpointConfigName="plain-config")
    with pytest.raises(LabError, match="no MLmodel file"):
        sagemaker.wait_for_endpoint(aws, "plain-endpoint", poll=0.25, timeout=60)


def test_update_endpoint_refuses_an_endpoint_that_is_not_in_service(aws):
    client = aws.client("sagemaker")
    with pytest.raises(ClientError, match="Could not find endpoint"):
        client.update_endpoint(EndpointName="nowhere", EndpointConfigName="plain-config")


def test_delete_stops_the_server(aws, model_dir, prerequisites, compute):
    deploy(aws, "deleted-endpoint", model_dir, prerequisites)
    server = compute.server_for("deleted-endpoint")
    assert server.process.poll() is None
    assert sagemaker.delete_endpoint(aws, "deleted-endpoint")
    assert server.process.poll() is not None
    assert compute.server_for("deleted-endpoint") is None
    assert not sagemaker.delete_endpoint(aws, "deleted-endpoint")


def test_stop_ends_every_server_and_removes_update_endpoint(model_dir, prerequisites, aws, sandbox, compute):
    servers = [s for s in (compute.server_for(n) for n in ("served-endpoint",)) if s is not None]
    deploy(aws, "last-endpoint", model_dir, prerequisites)
    servers.append(compute.server_for("last-endpoint"))
    compute.stop()
    assert all(s.process.poll() is not None for s in servers)
    # the sandbox's own stop() finds nothing left to stop, and undoes the moto hooks (moto_hooks.Patches)
    compute.stop()
    sandbox.stop()
    from moto.sagemaker.responses import SageMakerResponse
    assert "update_endpoint" not in SageMakerResponse.__dict__
    assert os.path.isdir(str(model_dir))
