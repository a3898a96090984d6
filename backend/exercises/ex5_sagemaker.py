"""Exercise 5: the MLflow model on a SageMaker endpoint, deployed with MLflow's deployment client."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from botocore.exceptions import ClientError

from .. import ecr, iam, prices, s3, sagemaker
from ..artifacts import FEATURES, NUMERIC_FEATURES, SAMPLE_RECORD
from ..config import COURSE_BUCKET
from ..errors import LabError, error_code
from ..lab import Check, CheckResult, Exercise, LabContext, Progress, Step, StepResult, no_progress
from ..names import LabNames, lab_tags
from ..prediction import Prediction

REPOSITORY = "mlflow-pyfunc"  # mlflow.sagemaker.DEFAULT_IMAGE_NAME: what build-and-push-container pushes
MODEL_KEY = "mlflow_model.zip"
ROWS_KEY = "adult_batch.csv"
LAB_ROLE = iam.LAB_ROLE
SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"
INSTANCE_TYPE = "ml.m5.large"  # MLflow's default, ml.m4.xlarge, costs twice as much and is a previous generation
INSTANCE_COUNT = 1
MODEL_SHA_TAG = "lab:model-sha256"  # which mlflow_model.zip a SageMaker model was deployed from
MODEL_DIR = "mlflow_model"

# The instance types the page offers: those the project's price table knows.
INSTANCE_TYPES = tuple(sorted({t for table in prices.SAGEMAKER_USD_PER_HOUR.values() for t in table}))

INTRO = """\
MLflow packages a model together with the server that scores it. Here you push MLflow's serving
image to ECR (once per account), give SageMaker a role to run it with, and deploy `mlflow_model`
as the endpoint `income-prediction-<name>` with MLflow's deployment client. Then you query the
endpoint and compare its answers with the local model's — and delete it: an endpoint bills by the
hour until you do."""


def artifact_bucket(names: LabNames) -> str:
    """Return the bucket MLflow uploads the model artifact to ("sagemaker" in the name: learner labs' LabRole may read it)."""
    return f"sagemaker-{names.svc}"


def policy_name(names: LabNames) -> str:
    return f"sagemaker-{names.svc}-policy"


def mlflow_version() -> str:
    """Return the installed MLflow's version: the serving image's tag MLflow looks for."""
    for dist in ("mlflow", "mlflow-skinny"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    raise LabError("MLflow is not installed: `pip install -r requirements.txt`.", "NoMlflow")


def instance_type(ctx: LabContext) -> str:
    return ctx.option("instance_type") or INSTANCE_TYPE


def hourly_price(instance: str, region: str) -> float | None:
    """Return the listed USD per hour of one instance in a region (backend/prices.py), or None if unpriced."""
    return prices.hourly_price(region, instance)


def price_sentence(ctx: LabContext) -> str:
    """Return what the endpoint costs per hour, for the page and the step summaries."""
    instance, count = instance_type(ctx), INSTANCE_COUNT
    price = hourly_price(instance, ctx.region)
    if price is None:
        return (f"{count} × {instance} in {ctx.region}: see aws.amazon.com/sagemaker/pricing "
                "(real-time inference) for its hourly price.")
    return (f"{count} × {instance} in {ctx.region}: about ${price * count:.3f} per hour "
            f"(${price * count * 24:.2f} per day) while the endpoint exists, used or not "
            f"(list price {prices.PRICES_AS_OF}).")


def policy_document(ctx: LabContext) -> dict[str, Any]:
    """Return the execution role's policy: read the model artifact, pull the image, write logs and metrics."""
    bucket = artifact_bucket(ctx.names)
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadModelArtifact", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Sid": "ListModelBucket", "Effect": "Allow", "Action": ["s3:ListBucket"],
         "Resource": f"arn:aws:s3:::{bucket}"},
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
        {"Sid": "PullServingImage", "Effect": "Allow",
         "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
         "Resource": f"arn:aws:ecr:*:*:repository/{REPOSITORY}"},
        {"Sid": "Logs", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
         "Resource": "arn:aws:logs:*:*:log-group:/aws/sagemaker/*"},
        {"Sid": "Metrics", "Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*"},
    ]}


def _role_name(ctx: LabContext) -> str:
    return LAB_ROLE if ctx.option("use_lab_role") else ctx.names.sagemaker_role


def _image_url(ctx: LabContext, repository_uri: str | None = None) -> str:
    uri = repository_uri or f"{ctx.aws.account_id()}.dkr.ecr.{ctx.region}.amazonaws.com/{REPOSITORY}"
    return f"{uri}:{mlflow_version()}"


# ---- step 1: the serving image --------------------------------------------------------------

def docker_available() -> bool:
    """Return True if a Docker client is on PATH (build-and-push-container needs one)."""
    return shutil.which("docker") is not None


def _image(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    tag = mlflow_version()
    found = ecr.get_image(ctx.aws, REPOSITORY, tag)
    if found is not None:
        repo = ecr.get_repository(ctx.aws, REPOSITORY)
        return StepResult("image", False, f"{REPOSITORY}:{tag} is already in ECR: nothing to do (it is pushed once "
                          "per account and region).", {"image": _image_url(ctx, repo["repositoryUri"]),
                                                       "digest": found.get("imageDigest")})
    if ctx.aws.target.is_sandbox:
        repo = ecr.ensure_repository(ctx.aws, REPOSITORY, lab_tags(ctx.svc, 5))
        digest = ecr.record_push(ctx.aws, REPOSITORY, tag)
        return StepResult("image", True, f"Recorded the push of {REPOSITORY}:{tag} to ECR: the sandbox needs no Docker, "
                          "and its endpoints run MLflow's scoring server directly.",
                          {"image": f"{repo.uri}:{tag}", "digest": digest, "repository_created": repo.created})
    if not docker_available():
        raise LabError(
            f"{REPOSITORY}:{tag} is not in ECR yet, and pushing it needs Docker, which this machine does not have. "
            f"On a machine with Docker and these credentials run `pip install mlflow=={tag}` then "
            "`mlflow sagemaker build-and-push-container` (once per account and region; about 10 minutes), "
            "or ask your instructor to push it. Then run this step again to check.", "DockerMissing")
    return _build_and_push(ctx, tag, on_progress)


def _build_and_push(ctx: LabContext, tag: str, on_progress: Progress) -> StepResult:
    import os
    import subprocess
    import sys

    env = {**os.environ, **ctx.aws.client_env()}
    env.pop("AWS_ENDPOINT_URL", None)
    on_progress("Building MLflow's serving image and pushing it to ECR (several minutes)…")
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "sagemaker", "build-and-push-container"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        tail = (tail + [line.rstrip()])[-20:]
        if line.strip():
            on_progress(line.rstrip()[:200])
    if proc.wait() != 0:
        raise LabError("`mlflow sagemaker build-and-push-container` failed:\n" + "\n".join(tail), "PushFailed")
    found = ecr.get_image(ctx.aws, REPOSITORY, tag)
    if found is None:
        raise LabError(f"The push finished but {REPOSITORY}:{tag} is not in ECR in {ctx.region}: is the CLI's "
                       "region the same?", "PushFailed")
    return StepResult("image", True, f"Built and pushed {REPOSITORY}:{tag}.", {"digest": found.get("imageDigest")})


def _image_code(ctx: LabContext) -> str:
    tag = mlflow_version()
    common = f"""\
# Once per account and region, on a machine with Docker (it builds MLflow's serving image):
#   pip install mlflow=={tag}
#   mlflow sagemaker build-and-push-container
import boto3

ecr = boto3.client("ecr", region_name={ctx.region!r})
image = ecr.describe_images(repositoryName={REPOSITORY!r}, imageIds=[{{"imageTag": {tag!r}}}])["imageDetails"][0]
print(image["imageDigest"], image["imagePushedAt"])
"""
    if not ctx.aws.target.is_sandbox:
        return common
    return common + f"""
# The sandbox has no Docker: the button records the push instead (the last call of `docker push`).
ecr.create_repository(repositoryName={REPOSITORY!r})
manifest = json.dumps({{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {{…}}, "layers": []}})
ecr.put_image(repositoryName={REPOSITORY!r}, imageTag={tag!r}, imageManifest=manifest,
              imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json")
"""


# ---- step 2: the execution role -------------------------------------------------------------

def _role(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    if ctx.option("use_lab_role"):
        role = iam.learner_lab_role(ctx.aws, SAGEMAKER_PRINCIPAL)
        return StepResult("role", False, f"Using the learner lab's {LAB_ROLE} (SageMaker may assume it).",
                          {"arn": role["Arn"]})
    try:
        policy = iam.ensure_policy(ctx.aws, policy_name(names), policy_document(ctx), lab_tags(ctx.svc, 5),
                                   description=f"SageMaker endpoint of {ctx.svc}: model artifact, image, logs")
        role = iam.ensure_role(ctx.aws, names.sagemaker_role, SAGEMAKER_PRINCIPAL, lab_tags(ctx.svc, 5),
                               description=f"Execution role of {names.endpoint}")
    except ClientError as err:
        if error_code(err) in ("AccessDenied", "AccessDeniedException"):
            raise LabError("This account may not create roles or policies (an AWS Academy learner lab?): tick "
                           "'Use LabRole' and run the step again.", "CannotCreateRole") from err
        raise
    attached = iam.ensure_policy_attached(ctx.aws, names.sagemaker_role, policy.arn)
    changed = role.created or policy.created or policy.updated or attached
    if role.created:
        summary = f"Created role {names.sagemaker_role}, trusted by SageMaker, with {policy_name(names)} attached."
    elif changed:
        summary = f"Brought role {names.sagemaker_role} and its policy in line."
    else:
        summary = f"Role {names.sagemaker_role} exists, trusted by SageMaker, with its policy: nothing to do."
    return StepResult("role", changed, summary, {"arn": role.arn, "policy": policy.arn})


def _role_code(ctx: LabContext) -> str:
    names = ctx.names
    document = json.dumps(policy_document(ctx), indent=4)
    return f"""\
import json
import boto3

iam = boto3.client("iam")
trust = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
          "Principal": {{"Service": "sagemaker.amazonaws.com"}}, "Action": "sts:AssumeRole"}}]}}
role = iam.create_role(RoleName={names.sagemaker_role!r}, AssumeRolePolicyDocument=json.dumps(trust))
policy = {document}
arn = iam.create_policy(PolicyName={policy_name(names)!r}, PolicyDocument=json.dumps(policy))["Policy"]["Arn"]
iam.attach_role_policy(RoleName={names.sagemaker_role!r}, PolicyArn=arn)
# AWS Academy learner labs cannot create roles: use the existing role "LabRole" instead.
"""


# ---- step 3: the model ----------------------------------------------------------------------

def model_dir(ctx: LabContext) -> Path:
    """Return the local folder the MLflow model is unpacked to (the model_uri MLflow deploys)."""
    return ctx.workdir / MODEL_DIR


def _local_model_sha(ctx: LabContext) -> str | None:
    marker = model_dir(ctx) / ".source-sha256"
    return marker.read_text().strip() if marker.is_file() else None


def _model(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names, tags = ctx.names, lab_tags(ctx.svc, 5)
    bucket = s3.ensure_bucket(ctx.aws, artifact_bucket(names), tags=tags, block_public_access=True)
    if s3.head_object(ctx.aws, COURSE_BUCKET, MODEL_KEY) is None:
        raise LabError(f"{MODEL_KEY} is missing from {COURSE_BUCKET}: ask your instructor to publish the course files.",
                       "MissingCourseFile")
    data = s3.read_object(ctx.aws, COURSE_BUCKET, MODEL_KEY)
    sha = hashlib.sha256(data).hexdigest()
    target = model_dir(ctx)
    unpacked = False
    if _local_model_sha(ctx) != sha or not (target / "MLmodel").is_file():
        staging = target.with_name(f".{MODEL_DIR}.new")
        shutil.rmtree(staging, ignore_errors=True)
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            zf.extractall(staging)
        if not (staging / "MLmodel").is_file():
            shutil.rmtree(staging, ignore_errors=True)
            raise LabError(f"{MODEL_KEY} has no MLmodel file at its root: it is not an MLflow model.", "NotMlflowModel")
        (staging / ".source-sha256").write_text(sha)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        unpacked = True
    flavors = _flavors(target)
    parts = []
    if unpacked:
        parts.append(f"Unpacked {MODEL_KEY} to {target} (flavors: {', '.join(flavors)})")
    if bucket.created:
        parts.append(f"created bucket {bucket.name} for the artifact MLflow uploads")
    summary = ("; ".join(parts) + ".") if parts else \
        f"The model is unpacked in {target} and bucket {bucket.name} exists: nothing to do."
    return StepResult("model", unpacked or bucket.changed, summary[0].upper() + summary[1:],
                      {"model_uri": str(target), "sha256": sha, "bucket": bucket.name, "flavors": flavors})


def _flavors(folder: Path) -> list[str]:
    flavors, inside = [], False
    for line in (folder / "MLmodel").read_text().splitlines():
        if line.startswith("flavors:"):
            inside = True
        elif inside and line.startswith("  ") and not line.startswith("    ") and line.strip().endswith(":"):
            flavors.append(line.strip()[:-1])
        elif inside and line and not line.startswith(" "):
            break
    return flavors


def _model_code(ctx: LabContext) -> str:
    return f"""\
import zipfile
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
s3.create_bucket(Bucket={artifact_bucket(ctx.names)!r}{_location(ctx)})  # MLflow uploads model.tar.gz here
s3.download_file({COURSE_BUCKET!r}, {MODEL_KEY!r}, {MODEL_KEY!r})
zipfile.ZipFile({MODEL_KEY!r}).extractall({MODEL_DIR!r})   # an MLflow model directory: MLmodel, model.skops, …
"""


def _location(ctx: LabContext) -> str:
    create = s3.create_bucket_kwargs("B", ctx.region)
    if "CreateBucketConfiguration" in create:
        return f",\n                 CreateBucketConfiguration={create['CreateBucketConfiguration']!r}"
    return ""


# ---- step 4: deploy -------------------------------------------------------------------------

@dataclass(frozen=True)
class DeployPlan:
    """What the deploy step will do: create, update (replace the model), wait, recreate (after Failed) or nothing."""

    action: str
    reason: str
    status: str | None = None


def deployed_model_sha(ctx: LabContext) -> str | None:
    """Return the MODEL_SHA_TAG of the model the endpoint serves now (None if none or untagged)."""
    for model in sagemaker.endpoint_models(ctx.aws, ctx.names.endpoint):
        sha = sagemaker.get_tags(ctx.aws, model["ModelArn"]).get(MODEL_SHA_TAG)
        if sha:
            return sha
    return None


def plan_deploy(ctx: LabContext) -> DeployPlan:
    """Read the endpoint's state and return what deploying now would do."""
    endpoint = sagemaker.get_endpoint(ctx.aws, ctx.names.endpoint)
    if endpoint is None:
        return DeployPlan("create", "no endpoint yet")
    status = endpoint["EndpointStatus"]
    if status == "Failed":
        return DeployPlan("recreate", f"the endpoint failed: {endpoint.get('FailureReason', '')}", status)
    if status in sagemaker.TRANSITIONAL:
        return DeployPlan("wait", f"the endpoint is {status}", status)
    local = _local_model_sha(ctx)
    if local is not None and deployed_model_sha(ctx) != local:
        return DeployPlan("update", "the course model changed since it was deployed", status)
    return DeployPlan("none", "the endpoint serves this model", status)


def deploy_spec(ctx: LabContext) -> sagemaker.DeploySpec:
    """Return what MLflow gets: the unpacked model, the role, the bucket, the image, the instance and the tags."""
    names = ctx.names
    target = model_dir(ctx)
    if not (target / "MLmodel").is_file():
        raise LabError("The MLflow model is not unpacked yet: run the model step first.", "MissingModel")
    role = iam.get_role(ctx.aws, _role_name(ctx))
    if role is None:
        raise LabError(f"Role {_role_name(ctx)} does not exist yet: run the role step first.", "MissingRole")
    repo = ecr.get_repository(ctx.aws, REPOSITORY)
    if repo is None or ecr.get_image(ctx.aws, REPOSITORY, mlflow_version()) is None:
        raise LabError(f"The serving image {REPOSITORY}:{mlflow_version()} is not in ECR: run the image step first.",
                       "MissingImage")
    if not s3.bucket_exists(ctx.aws, artifact_bucket(names)):
        raise LabError(f"Bucket {artifact_bucket(names)} does not exist yet: run the model step first.", "MissingBucket")
    tags = {**lab_tags(ctx.svc, 5), MODEL_SHA_TAG: _local_model_sha(ctx) or ""}
    return sagemaker.DeploySpec(name=names.endpoint, model_uri=str(target), execution_role_arn=role["Arn"],
                                bucket=artifact_bucket(names), image_url=_image_url(ctx, repo["repositoryUri"]),
                                instance_type=instance_type(ctx), instance_count=INSTANCE_COUNT, tags=tags)


def deploy(ctx: LabContext, on_progress: Progress = no_progress, sleep: Callable[[float], None] = time.sleep,
           timeout: float = sagemaker.DEFAULT_WAIT_S, poll: float | None = None) -> StepResult:
    """Create or update the endpoint through MLflow and wait until it is InService; return what changed."""
    names = ctx.names
    plan = plan_deploy(ctx)
    poll = poll if poll is not None else (1.0 if ctx.aws.target.is_sandbox else sagemaker.POLL_S)
    wait = dict(on_progress=on_progress, timeout=timeout, poll=poll, sleep=sleep)
    if plan.action == "none":
        return StepResult("deploy", False, f"Endpoint {names.endpoint} is InService with this model: nothing to do.",
                          {"endpoint": names.endpoint, "status": plan.status})
    if plan.action == "wait":
        on_progress(f"Endpoint {names.endpoint} is {plan.status}: waiting for it…")
        description = sagemaker.wait_for_endpoint(ctx.aws, names.endpoint, **wait)
        return StepResult("deploy", False, f"Endpoint {names.endpoint} is InService.", _deploy_details(ctx, description))
    spec = deploy_spec(ctx)
    on_progress(price_sentence(ctx))
    if plan.action == "recreate":
        on_progress(f"Deleting the failed endpoint first ({plan.reason}).")
        delete_deployment(ctx, on_progress, sleep=sleep)
        plan = DeployPlan("create", plan.reason)
    previous = None
    if plan.action == "update":
        previous = sagemaker.get_endpoint(ctx.aws, names.endpoint)["EndpointConfigName"]
        on_progress(f"Replacing the model of {names.endpoint} ({plan.reason}) with MLflow's update_deployment…")
    else:
        on_progress(f"Deploying {names.endpoint} with MLflow's create_deployment (uploading the model to "
                    f"s3://{spec.bucket}/)…")
    sagemaker.mlflow_deploy(ctx.aws, spec, update=plan.action == "update")
    try:
        description = sagemaker.wait_for_endpoint(ctx.aws, names.endpoint, previous_config=previous, **wait)
    finally:
        _tag_configs(ctx)
    removed = _delete_replaced(ctx, description["EndpointConfigName"]) if previous else []
    verb = "Updated" if previous else "Created"
    summary = f"{verb} endpoint {names.endpoint}: InService on {spec.instance_count} × {spec.instance_type}."
    if removed:
        summary += f" Deleted the replaced {', '.join(removed)}."
    if not ctx.aws.target.is_sandbox:
        summary += " It bills by the hour until you delete it."
    return StepResult("deploy", True, summary, _deploy_details(ctx, description))


def _deploy_details(ctx: LabContext, description: dict[str, Any]) -> dict[str, Any]:
    return {"endpoint": ctx.names.endpoint, "status": description["EndpointStatus"],
            "config": description["EndpointConfigName"], "arn": description["EndpointArn"],
            "price": price_sentence(ctx)}


def _owned_configs(ctx: LabContext) -> list[str]:
    """Return the endpoint configs MLflow made for this endpoint (its `app_name` tag names it)."""
    endpoint = ctx.names.endpoint
    # MLflow names them <endpoint>-config-<20 hex>, middle-truncating long endpoint names to 63
    # characters; the first 16 characters always survive.
    found = []
    for config in sagemaker.list_endpoint_configs(ctx.aws, endpoint[:16]):
        if sagemaker.get_tags(ctx.aws, config["EndpointConfigArn"]).get("app_name") == endpoint:
            found.append(config["EndpointConfigName"])
    return found


def _owned_models(ctx: LabContext) -> list[str]:
    """Return the SageMaker models deployed by this student's exercise 5 (by their lab tags)."""
    found = []
    for model in sagemaker.list_models(ctx.aws, ctx.names.endpoint[:16]):
        tags = sagemaker.get_tags(ctx.aws, model["ModelArn"])
        if tags.get("lab:student") == ctx.svc and tags.get("lab:exercise") == "5":
            found.append(model["ModelName"])
    return found


def _tag_configs(ctx: LabContext) -> None:
    # MLflow tags endpoint configs with app_name only; the lab's tags make them findable by teardown.
    client = ctx.aws.client("sagemaker")
    for name in _owned_configs(ctx):
        config = sagemaker.get_endpoint_config(ctx.aws, name)
        if config is not None:
            client.add_tags(ResourceArn=config["EndpointConfigArn"],
                            Tags=[{"Key": k, "Value": v} for k, v in lab_tags(ctx.svc, 5).items()])


def _delete_replaced(ctx: LabContext, current_config: str) -> list[str]:
    """Delete this endpoint's configs and models other than the current ones (MLflow kept them: archive=True)."""
    keep = set(sagemaker.config_models(sagemaker.get_endpoint_config(ctx.aws, current_config)))
    removed = []
    for name in _owned_configs(ctx):
        if name != current_config and sagemaker.delete_endpoint_config(ctx.aws, name):
            removed.append(f"config {name}")
    for name in _owned_models(ctx):
        if name not in keep and sagemaker.delete_model(ctx.aws, name):
            removed.append(f"model {name}")
    return removed


def _deploy_code(ctx: LabContext) -> str:
    names = ctx.names
    return f"""\
import time
import boto3
from mlflow.deployments import get_deploy_client   # mlflow.sagemaker.deploy(...) was removed in MLflow 2

account = boto3.client("sts").get_caller_identity()["Account"]
client = get_deploy_client("sagemaker:/{ctx.region}")
client.create_deployment(            # update_deployment(..., config={{…, "mode": "replace"}}) swaps the model
    name={names.endpoint!r},
    model_uri={MODEL_DIR!r},           # the unpacked MLflow model directory
    flavor="python_function",
    config={{
        "execution_role_arn": f"arn:aws:iam::{{account}}:role/{_role_name(ctx)}",
        "bucket": {artifact_bucket(names)!r},     # not "bucket_name": MLflow ignores unknown keys
        "image_url": f"{{account}}.dkr.ecr.{ctx.region}.amazonaws.com/{REPOSITORY}:{mlflow_version()}",
        "region_name": {ctx.region!r},
        "instance_type": {instance_type(ctx)!r},
        "instance_count": {INSTANCE_COUNT},
        "synchronous": False, "archive": True,    # return at once; we poll below
        "tags": {lab_tags(ctx.svc, 5)!r},
    }},
)
sm = boto3.client("sagemaker", region_name={ctx.region!r})
while (status := sm.describe_endpoint(EndpointName={names.endpoint!r})["EndpointStatus"]) in ("Creating", "Updating"):
    print(status)
    time.sleep(10)
print(status, sm.describe_endpoint(EndpointName={names.endpoint!r}).get("FailureReason", ""))
"""


# ---- step 5: query --------------------------------------------------------------------------

@dataclass(frozen=True)
class QueryResult:
    """The endpoint's and the local model's predictions for the same records."""

    records: list[dict[str, Any]]
    endpoint: list[Prediction]
    local: list[Prediction]
    seconds: float
    mismatches: list[int] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """Return one flat row per record: features, both predictions and whether they agree."""
        out = []
        for i, (record, remote, local) in enumerate(zip(self.records, self.endpoint, self.local)):
            out.append({**record, "endpoint_label": remote.label, "endpoint_p_gt_50k": round(remote.probability, 6),
                        "local_label": local.label, "local_p_gt_50k": round(local.probability, 6),
                        "match": i not in self.mismatches})
        return out


def course_rows(ctx: LabContext, limit: int | None = None) -> list[dict[str, Any]]:
    """Return rows of the course's adult_batch.csv (the 12 features, typed, plus `income`)."""
    text = s3.read_object(ctx.aws, COURSE_BUCKET, ROWS_KEY).decode("utf-8-sig")
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        record: dict[str, Any] = {f: row.get(f, "") for f in FEATURES}
        for f in NUMERIC_FEATURES:
            record[f] = int(float(record[f])) if str(record[f]).strip() else None
        record["income"] = row.get("income", "")
        rows.append(record)
        if limit is not None and len(rows) >= limit:
            break
    return rows


def _features(record: dict[str, Any]) -> dict[str, Any]:
    return {f: record[f] for f in FEATURES}


def predict(ctx: LabContext, records: list[dict[str, Any]]) -> list[Prediction]:
    """Return the endpoint's Prediction for each record (the 12 features)."""
    return sagemaker.invoke(ctx.aws, ctx.names.endpoint, [_features(r) for r in records], FEATURES)


def query(ctx: LabContext, records: list[dict[str, Any]], tolerance: float = 1e-4) -> QueryResult:
    """Score records on the endpoint and with the local model; return both and where they disagree."""
    from ..local_model import local_model, validate_records

    records = [_features(r) for r in records]
    start = time.perf_counter()
    remote = predict(ctx, records)
    seconds = time.perf_counter() - start
    local = local_model().predict(validate_records(records))
    mismatches = [i for i, (a, b) in enumerate(zip(remote, local))
                  if a.label != b.label or abs(a.probability - b.probability) > tolerance]
    return QueryResult(records, remote, local, seconds, mismatches)


def _query(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    if sagemaker.get_endpoint(ctx.aws, names.endpoint) is None:
        raise LabError(f"Endpoint {names.endpoint} does not exist: deploy it first (step 4).", "EndpointNotFound")
    rows = course_rows(ctx, limit=5)
    result = query(ctx, rows)
    agree = ("all agree with the local model" if not result.mismatches
             else f"{len(result.mismatches)} differ from the local model")
    summary = (f"The endpoint answered {len(result.endpoint)} predictions in {result.seconds * 1000:.0f} ms; {agree}.")
    return StepResult("query", False, summary, {"rows": result.rows()})


def _query_code(ctx: LabContext) -> str:
    record = json.dumps(SAMPLE_RECORD)
    return f"""\
import json
import boto3

record = {record}
body = {{"dataframe_split": {{"columns": list(record), "data": [list(record.values())]}}}}
runtime = boto3.client("sagemaker-runtime", region_name={ctx.region!r})
response = runtime.invoke_endpoint(
    EndpointName={ctx.names.endpoint!r}, Body=json.dumps(body),
    ContentType="application/json",    # not "application/json; format=pandas-split": MLflow 2+ rejects it (415)
)
predictions = json.loads(response["Body"].read())["predictions"]   # [[p(<=50K), p(>50K)], …]
print(predictions)
"""


# ---- deleting -------------------------------------------------------------------------------

def delete_deployment(ctx: LabContext, on_progress: Progress = no_progress,
                      sleep: Callable[[float], None] = time.sleep) -> list[StepResult]:
    """Delete the endpoint (billing stops), its configs, models and uploaded artifacts; return what went."""
    names, out = ctx.names, []

    def done(step: str, changed: bool, what: str) -> None:
        summary = f"Deleted {what}." if changed else f"{what} was already gone."
        on_progress(summary)
        out.append(StepResult(step, changed, summary, {}))

    endpoint = sagemaker.get_endpoint(ctx.aws, names.endpoint)
    configs = set(_owned_configs(ctx))
    models = set(_owned_models(ctx))
    if endpoint is not None:
        configs.add(endpoint["EndpointConfigName"])
        models.update(sagemaker.config_models(sagemaker.get_endpoint_config(ctx.aws, endpoint["EndpointConfigName"])))
    done("endpoint", sagemaker.delete_endpoint(ctx.aws, names.endpoint), f"endpoint {names.endpoint}")
    if endpoint is not None:
        sagemaker.wait_for_endpoint_deleted(ctx.aws, names.endpoint, poll=1.0 if ctx.aws.target.is_sandbox else 5.0,
                                            sleep=sleep)
    for config in sorted(configs):
        done(f"config:{config}", sagemaker.delete_endpoint_config(ctx.aws, config), f"endpoint config {config}")
    for model in sorted(models):
        done(f"model:{model}", sagemaker.delete_model(ctx.aws, model), f"model {model} and its model.tar.gz")
    return out


def teardown(ctx: LabContext, on_progress: Progress = no_progress) -> list[StepResult]:
    """Remove the endpoint, its configs, models and artifacts, the artifact bucket, the role and its policy.

    The serving image stays: it is pushed once per account and shared by everyone in it.
    """
    names = ctx.names
    out = delete_deployment(ctx, on_progress)

    def done(step: str, changed: bool, what: str) -> None:
        summary = f"Deleted {what}." if changed else f"{what} was already gone."
        on_progress(summary)
        out.append(StepResult(step, changed, summary, {}))

    done("bucket", s3.delete_bucket(ctx.aws, artifact_bucket(names)), f"bucket {artifact_bucket(names)}")
    done("role", iam.delete_role(ctx.aws, names.sagemaker_role), f"role {names.sagemaker_role}")
    done("policy", iam.delete_policy(ctx.aws, iam.policy_arn(ctx.aws, policy_name(names))), f"policy {policy_name(names)}")
    shutil.rmtree(model_dir(ctx), ignore_errors=True)
    return out


def endpoint_status(ctx: LabContext) -> str | None:
    """Return the endpoint's status (InService, Creating, Failed, …), or None if there is none."""
    endpoint = sagemaker.get_endpoint(ctx.aws, ctx.names.endpoint)
    return endpoint["EndpointStatus"] if endpoint else None


def endpoint_summary(ctx: LabContext) -> dict[str, Any] | None:
    """Return what the page shows about the endpoint (status, reason, instance, created, price), or None."""
    endpoint = sagemaker.get_endpoint(ctx.aws, ctx.names.endpoint)
    if endpoint is None:
        return None
    config = sagemaker.get_endpoint_config(ctx.aws, endpoint["EndpointConfigName"]) or {}
    variants = config.get("ProductionVariants", [])
    instance = variants[0].get("InstanceType", "") if variants else ""
    count = variants[0].get("InitialInstanceCount", 1) if variants else 0
    price = hourly_price(instance, ctx.region)
    return {"status": endpoint["EndpointStatus"], "failure_reason": endpoint.get("FailureReason", ""),
            "config": endpoint["EndpointConfigName"], "instance_type": instance, "instance_count": count,
            "created": endpoint.get("CreationTime"), "hourly_usd": price * count if price is not None else None}


# ---- checks ---------------------------------------------------------------------------------

def _check_image(ctx: LabContext) -> CheckResult:
    tag = mlflow_version()
    title = f"MLflow's serving image {REPOSITORY}:{tag} is in ECR"
    if ecr.get_repository(ctx.aws, REPOSITORY) is None:
        hint = ("Run step 1 (the sandbox records the push)." if ctx.aws.target.is_sandbox else
                "Push it once per account with `mlflow sagemaker build-and-push-container` (needs Docker).")
        return CheckResult("image", title, False, f"No ECR repository {REPOSITORY}.", hint)
    image = ecr.get_image(ctx.aws, REPOSITORY, tag)
    if image is None:
        tags = ecr.list_image_tags(ctx.aws, REPOSITORY)
        return CheckResult("image", title, False, f"{REPOSITORY} holds {', '.join(tags) or 'no images'}, not {tag}.",
                           f"MLflow {tag} deploys into the image tagged {tag}: push it with the same MLflow version "
                           "(`mlflow sagemaker build-and-push-container`).")
    return CheckResult("image", title, True, f"{REPOSITORY}:{tag} ({image.get('imageDigest', '')[:19]}…).")


def _check_role(ctx: LabContext) -> CheckResult:
    title = "SageMaker may assume the execution role"
    role = iam.get_role(ctx.aws, _role_name(ctx))
    if role is None:
        return CheckResult("role", title, False, f"No role {_role_name(ctx)}.", "Create it (step 2).")
    if not iam.role_trusts(role, SAGEMAKER_PRINCIPAL):
        return CheckResult("role", title, False, f"{role['RoleName']} does not trust {SAGEMAKER_PRINCIPAL}.",
                           "Its trust policy must name sagemaker.amazonaws.com (exercise 3's role trusts only Lambda): "
                           "step 2 creates the right one.")
    if not ctx.option("use_lab_role"):
        arn = iam.policy_arn(ctx.aws, policy_name(ctx.names))
        if arn not in iam.attached_policy_arns(ctx.aws, role["RoleName"]):
            return CheckResult("role", title, False, f"{policy_name(ctx.names)} is not attached.",
                               "Without it SageMaker cannot read the model artifact or pull the image (step 2).")
    return CheckResult("role", title, True, f"{role['RoleName']} trusts {SAGEMAKER_PRINCIPAL}.")


def _check_endpoint(ctx: LabContext) -> CheckResult:
    name = ctx.names.endpoint
    title = f"Endpoint {name} is InService"
    endpoint = sagemaker.get_endpoint(ctx.aws, name)
    if endpoint is None:
        return CheckResult("endpoint", title, False, "No such endpoint.",
                           "Deploy it (step 4). The handout's `mlflow.sagemaker.deploy(...)` no longer exists: MLflow 2+ "
                           "deploys with `mlflow.deployments.get_deploy_client(\"sagemaker:/<region>\")"
                           ".create_deployment(...)`.")
    status = endpoint["EndpointStatus"]
    if status == "Failed":
        return CheckResult("endpoint", title, False, f"Failed: {endpoint.get('FailureReason', 'no reason given')}",
                           "Fix the cause, then deploy again (step 4 deletes the failed endpoint first).")
    if status != "InService":
        return CheckResult("endpoint", title, False, f"{status}.", "Wait a few minutes and check again.")
    return CheckResult("endpoint", title, True, f"InService on config {endpoint['EndpointConfigName']}.")


def _check_invocation(ctx: LabContext) -> CheckResult:
    title = "The endpoint answers a dataframe_split request"
    if endpoint_status(ctx) != "InService":
        return CheckResult("invocation", title, False, "The endpoint is not InService.", "Deploy it first (step 4).")
    try:
        prediction = predict(ctx, [SAMPLE_RECORD])[0]
    except sagemaker.ModelError as exc:
        hint = "Send ContentType application/json with {\"dataframe_split\": {\"columns\": […], \"data\": [[…]]}}."
        return CheckResult("invocation", title, False, exc.message, hint)
    return CheckResult("invocation", title, True,
                       f"The sample record: {prediction.label} (p(>50K) = {prediction.probability:.3f}).")


EXERCISE = Exercise(
    number=5,
    title="MLflow model on SageMaker",
    intro=INTRO,
    steps=(
        Step("image", "Push the serving image",
             f"SageMaker runs a model inside a container image from ECR. MLflow's image (`{REPOSITORY}`) is built "
             "and pushed once per account and region with `mlflow sagemaker build-and-push-container`, which needs "
             "Docker. Without Docker, push it from a machine that has it (or ask your instructor); the sandbox "
             "records the push for you.", _image, _image_code),
        Step("role", "Create the execution role",
             "SageMaker assumes this role to pull the image and read the model artifact: trust policy for "
             "`sagemaker.amazonaws.com`, and a policy for exactly that (plus its logs). AWS Academy learner labs "
             "use `LabRole`.", _role, _role_code),
        Step("model", "Get the MLflow model",
             f"`{MODEL_KEY}` from the course bucket, unpacked: an MLflow model directory (`MLmodel`, the scikit-learn "
             f"pipeline, its requirements). MLflow uploads it as `model.tar.gz` to `sagemaker-<name>` when it "
             "deploys.", _model, _model_code),
        Step("deploy", "Deploy the endpoint",
             "MLflow's deployment client creates the SageMaker model, the endpoint config and the endpoint, then "
             "SageMaker starts an instance: Creating → InService (5–10 minutes on AWS). A changed model replaces "
             "the deployed one (`update_deployment`). The handout's `mlflow.sagemaker.deploy` was removed in MLflow 2.",
             deploy, _deploy_code),
        Step("query", "Query the endpoint",
             "`sagemaker-runtime.invoke_endpoint` with `ContentType: application/json` and a "
             "`{\"dataframe_split\": …}` body (the handout's `format=pandas-split` is refused by MLflow 2+ servers). "
             "The answer is `{\"predictions\": [[p(<=50K), p(>50K)], …]}`.", _query, _query_code),
    ),
    checks=(Check("image", "Image", _check_image), Check("role", "Role", _check_role),
            Check("endpoint", "Endpoint", _check_endpoint), Check("invocation", "Invocation", _check_invocation)),
    teardown=teardown,
)
