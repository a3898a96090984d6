"""Exercise 5's state: the serving image, the execution role and its policy, the model (course, local folder,
artifact bucket), the endpoint with the configs and models MLflow made for it, and one invocation."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ... import ecr, iam, prices, s3, sagemaker
from ...artifacts import FEATURES, SAMPLE_RECORD
from ...classview import StudentView
from ...config import COURSE_BUCKET
from ...errors import LabError
from ...i18n import N_, _
from ...lab import UNSEEN, LabContext, Option, Unseen
from ...names import MLFLOW_ID_LENGTH, LabNames
from ...ownership import Seen
from ...prediction import Prediction

MODEL_KEY = "mlflow_model.zip"
ROWS_KEY = "adult_batch.csv"
MODEL_DIR = "mlflow_model"  # the local folder the model is unpacked to: the model_uri MLflow deploys
LAB_ROLE = iam.LAB_ROLE
SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"
INSTANCE_TYPE = "ml.m5.large"  # MLflow's default, ml.m4.xlarge, costs twice as much and is a previous generation
INSTANCE_COUNT = 1
MODEL_SHA_TAG = "lab:model-sha256"  # which mlflow_model.zip a SageMaker model was deployed from
SHA_MARKER, ETAG_MARKER = ".source-sha256", ".source-etag"  # what the local folder was unpacked from
TOLERANCE = 1e-4  # endpoint and local model run the same pipeline: only float noise may differ

# The instance types offered: those the project's price table knows.
INSTANCE_TYPES = tuple(sorted({t for table in prices.SAGEMAKER_USD_PER_HOUR.values() for t in table}))

USE_LAB_ROLE = Option("use_lab_role", N_("Use LabRole (AWS Academy learner labs cannot create roles)"), False,
                      N_("Deploy with the learner lab's existing LabRole instead of creating sagemaker-<name>-role."))
INSTANCE = Option("instance_type", N_("Instance type"), INSTANCE_TYPE,
                  N_("The endpoint's instance: it bills by the hour while the endpoint exists."), INSTANCE_TYPES)
OPTIONS = (USE_LAB_ROLE, INSTANCE)


@dataclass(frozen=True)
class Image:
    """MLflow's serving image in ECR (one per account and region, shared by the class)."""

    tag: str  # the installed MLflow's version: the tag its deployment client deploys
    repository_uri: str | None  # None: no repository
    digest: str | None  # of `tag`; None: not pushed
    tags: tuple[str, ...]  # every tag the repository holds
    sandbox: bool  # pushed by recording it (no Docker), not by mlflow build-and-push-container


@dataclass(frozen=True)
class Role:
    seen: Seen
    trusted: bool  # its trust policy lets sagemaker.amazonaws.com assume it
    attached: tuple[str, ...]  # names of the managed policies attached

    @property
    def arn(self) -> str:
        return self.seen.id


@dataclass(frozen=True)
class Policy:
    seen: Seen
    current: bool  # its default version is the lab's document


@dataclass(frozen=True)
class LocalModel:
    """The MLflow model unpacked in the student's folder, and which course file it came from."""

    folder: Path
    sha256: str
    etag: str | None


@dataclass(frozen=True)
class Endpoint:
    seen: Seen
    status: str
    failure_reason: str
    config: str | None  # None: not in the class listing
    model_sha: str | None | Unseen  # MODEL_SHA_TAG of the model it serves (None: untagged)
    instance_type: str | None | Unseen


@dataclass(frozen=True)
class Invocation:
    """The sample record sent to the endpoint, and what the local model says about it."""

    prediction: Prediction | None  # None: no usable answer (see error)
    local: Prediction | None  # None: the local model is not available here
    error: str = ""
    model_error: bool = False  # the model container refused the request (SageMaker's ModelError)

    @property
    def agrees(self) -> bool | None:
        if self.prediction is None or self.local is None:
            return None
        return self.prediction.label == self.local.label and \
            abs(self.prediction.probability - self.local.probability) <= TOLERANCE


@dataclass(frozen=True)
class State:
    names: LabNames
    region: str
    uses_lab_role: bool | Unseen  # UNSEEN: the listings cannot see the student's choice
    image: Image | Unseen
    role: Role | None  # the student's own sagemaker-<svc>-role
    lab_role: Role | None  # LabRole, when the student deploys with it
    policy: Policy | None
    course_model_etag: str | None | Unseen  # None: mlflow_model.zip is not in the course bucket
    local_model: LocalModel | None | Unseen
    bucket: Seen | None  # MLflow's artifact bucket
    endpoint: Endpoint | None
    configs: tuple[Seen, ...]  # the endpoint's configs (MLflow's names, and the one the endpoint uses)
    models: tuple[Seen, ...]  # the models behind them
    invocation: Invocation | None | Unseen  # None: the endpoint is not InService, nothing was asked

    @property
    def execution_role(self) -> Role | None:
        return self.lab_role if self.uses_lab_role is True else self.role

    @property
    def execution_role_name(self) -> str:
        return LAB_ROLE if self.uses_lab_role is True else self.names.sagemaker_role


def mlflow_version() -> str:
    """Return the installed MLflow's version: the serving image's tag MLflow looks for."""
    for dist in ("mlflow", "mlflow-skinny"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    raise LabError(_("MLflow is not installed: `pip install -r requirements.txt`."), "NoMlflow")


def model_dir(ctx: LabContext) -> Path:
    """Return the local folder the MLflow model is unpacked to (the model_uri MLflow deploys)."""
    return ctx.workdir / MODEL_DIR


def policy_document(names: LabNames) -> dict[str, Any]:
    """Return the execution role's policy: read the model artifact, pull the image, write logs and metrics."""
    bucket = names.sagemaker_bucket
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadModelArtifact", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Sid": "ListModelBucket", "Effect": "Allow", "Action": ["s3:ListBucket"],
         "Resource": f"arn:aws:s3:::{bucket}"},
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
        {"Sid": "PullServingImage", "Effect": "Allow",
         "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
         "Resource": f"arn:aws:ecr:*:*:repository/{names.serving_repository}"},
        {"Sid": "Logs", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
         "Resource": "arn:aws:logs:*:*:log-group:/aws/sagemaker/*"},
        {"Sid": "Metrics", "Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*"},
    ]}


def mlflow_named(prefix: str, name: str) -> bool:
    """Return True if `name` is one MLflow gives: the prefix (LabNames.endpoint_*_prefix) + 20 hex characters."""
    return re.fullmatch(re.escape(prefix) + f"[0-9a-f]{{{MLFLOW_ID_LENGTH}}}", name) is not None


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


# ---- live reads (steps re-read with these right before writing) ---------------------------------

def read_image(ctx: LabContext) -> Image:
    repository, tag, sandbox = ctx.names.serving_repository, mlflow_version(), ctx.aws.target.is_sandbox
    repo = ecr.get_repository(ctx.aws, repository)
    if repo is None:
        return Image(tag, None, None, (), sandbox)
    image = ecr.get_image(ctx.aws, repository, tag)
    if image is not None:
        return Image(tag, repo["repositoryUri"], image.get("imageDigest", ""), (tag,), sandbox)
    return Image(tag, repo["repositoryUri"], None, tuple(ecr.list_image_tags(ctx.aws, repository)), sandbox)


def _role(role: dict[str, Any], attached: list[str]) -> Role:
    seen = Seen("role", role["RoleName"], role["Arn"], _tags(role.get("Tags")))
    return Role(seen, iam.role_trusts(role, SAGEMAKER_PRINCIPAL), tuple(a.rsplit("/", 1)[-1] for a in attached))


def read_role(ctx: LabContext, name: str) -> Role | None:
    role = iam.get_role(ctx.aws, name)
    return None if role is None else _role(role, iam.attached_policy_arns(ctx.aws, name))


def read_policy(ctx: LabContext) -> Policy | None:
    arn = iam.policy_arn(ctx.aws, ctx.names.sagemaker_policy)
    policy = iam.get_policy(ctx.aws, arn)
    if policy is None:
        return None
    document = iam.get_policy_document(ctx.aws, arn)
    seen = Seen("policy", ctx.names.sagemaker_policy, arn, _tags(policy.get("Tags")))
    return Policy(seen, _same(document, policy_document(ctx.names)))


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def read_local_model(ctx: LabContext) -> LocalModel | None:
    folder = model_dir(ctx)
    sha, etag = folder / SHA_MARKER, folder / ETAG_MARKER
    if not (folder / "MLmodel").is_file() or not sha.is_file():
        return None
    return LocalModel(folder, sha.read_text().strip(), etag.read_text().strip() if etag.is_file() else None)


def course_model_etag(ctx: LabContext) -> str | None:
    head = s3.head_object(ctx.aws, COURSE_BUCKET, MODEL_KEY)
    return None if head is None else head["ETag"].strip('"')


def _seen_sagemaker(ctx: LabContext, kind: str, name: str, arn: str) -> Seen:
    return Seen(kind, name, arn, sagemaker.get_tags(ctx.aws, arn))


def read_deployment(ctx: LabContext) -> tuple[Endpoint | None, tuple[Seen, ...], tuple[Seen, ...]]:
    """Return the endpoint and every config and model of it: MLflow's names, and the ones the endpoint uses."""
    names = ctx.names
    configs = {c["EndpointConfigName"]: _seen_sagemaker(ctx, "endpoint-config", c["EndpointConfigName"],
                                                       c["EndpointConfigArn"])
               for c in sagemaker.list_endpoint_configs(ctx.aws, names.endpoint_config_prefix)
               if mlflow_named(names.endpoint_config_prefix, c["EndpointConfigName"])}
    models = {m["ModelName"]: _seen_sagemaker(ctx, "model", m["ModelName"], m["ModelArn"])
              for m in sagemaker.list_models(ctx.aws, names.endpoint_model_prefix)
              if mlflow_named(names.endpoint_model_prefix, m["ModelName"])}
    description = sagemaker.get_endpoint(ctx.aws, names.endpoint)
    if description is None:
        return None, tuple(configs.values()), tuple(models.values())
    config_name = description["EndpointConfigName"]
    config = sagemaker.get_endpoint_config(ctx.aws, config_name)
    if config is not None and config_name not in configs:  # deployed by hand under other names
        configs[config_name] = _seen_sagemaker(ctx, "endpoint-config", config_name, config["EndpointConfigArn"])
    served = sagemaker.config_models(config)
    for name in served:
        if name not in models and (model := sagemaker.get_model(ctx.aws, name)) is not None:
            models[name] = _seen_sagemaker(ctx, "model", name, model["ModelArn"])
    variants = (config or {}).get("ProductionVariants", [])
    endpoint = Endpoint(
        seen=_seen_sagemaker(ctx, "endpoint", names.endpoint, description["EndpointArn"]),
        status=description["EndpointStatus"], failure_reason=description.get("FailureReason", ""),
        config=config_name,
        model_sha=next((models[n].tags[MODEL_SHA_TAG] for n in served if n in models
                        and models[n].tags.get(MODEL_SHA_TAG)), None),
        instance_type=variants[0].get("InstanceType") if variants else None)
    return endpoint, tuple(configs.values()), tuple(models.values())


def read_invocation(ctx: LabContext) -> Invocation:
    """Send the sample record to the endpoint and score it locally too."""
    from ...local_model import local_model, validate_records

    try:
        local: Prediction | None = local_model().predict(validate_records([SAMPLE_RECORD]))[0]
    except (LabError, OSError):  # no built course here: the answer is still judged on its own
        local = None
    try:
        [answer] = sagemaker.invoke(ctx.aws, ctx.names.endpoint, [SAMPLE_RECORD], FEATURES)
    except sagemaker.ModelError as exc:
        return Invocation(None, local, exc.message, model_error=True)
    except LabError as exc:
        return Invocation(None, local, exc.message)
    return Invocation(answer, local)


def observe(ctx: LabContext) -> State:
    """Read exercise 5's state from the account and the local folder (the endpoint is asked once if InService)."""
    names = ctx.names
    uses_lab_role = bool(USE_LAB_ROLE.get(ctx))
    endpoint, configs, models = read_deployment(ctx)
    return State(
        names=names, region=ctx.region, uses_lab_role=uses_lab_role,
        image=read_image(ctx),
        role=read_role(ctx, names.sagemaker_role),
        lab_role=read_role(ctx, LAB_ROLE) if uses_lab_role else None,
        policy=read_policy(ctx),
        course_model_etag=course_model_etag(ctx),
        local_model=read_local_model(ctx),
        bucket=s3.seen_bucket(ctx.aws, names.sagemaker_bucket),
        endpoint=endpoint, configs=configs, models=models,
        invocation=read_invocation(ctx) if endpoint is not None and endpoint.status == "InService" else None,
    )


# ---- the class overview's listings ------------------------------------------------------------

def _snapshot_role(view: StudentView, name: str) -> Role | None:
    raw = view.raw_of("role", name)
    if raw is None:
        return None
    seen = view.get("role", name) or Seen("role", name, raw.get("Arn", ""), _tags(raw.get("Tags")))
    return Role(seen, iam.role_trusts(raw, SAGEMAKER_PRINCIPAL),
                tuple(p["PolicyName"] for p in raw.get("AttachedManagedPolicies", [])))


def from_snapshot(view: StudentView) -> State:
    """Build the State from the class listings: ECR, the local folder, model tags and answers are not seen."""
    names = view.names
    role = _snapshot_role(view, names.sagemaker_role)
    # Without a role of their own, a learner lab's student deploys with LabRole, if they ticked the option:
    # the listings show LabRole, never the option.
    lab_role = _snapshot_role(view, LAB_ROLE) if role is None else None
    seen_policy, raw_policy = view.get("policy", names.sagemaker_policy), view.raw_of("policy", names.sagemaker_policy)
    policy = None if seen_policy is None else Policy(
        seen_policy, raw_policy is not None and _same(raw_policy.get("Document"), policy_document(names)))
    endpoint = None
    if (seen := view.get("endpoint", names.endpoint)) is not None:
        raw = view.raw_of("endpoint", names.endpoint) or {}
        endpoint = Endpoint(seen, raw.get("EndpointStatus", "?"), raw.get("FailureReason", ""),
                            raw.get("EndpointConfigName"), UNSEEN, UNSEEN)
    return State(
        names=names, region=view.region, uses_lab_role=UNSEEN if lab_role is not None else False,
        image=UNSEEN, role=role, lab_role=lab_role, policy=policy,
        course_model_etag=UNSEEN, local_model=UNSEEN,
        bucket=view.get("bucket", names.sagemaker_bucket),
        endpoint=endpoint,
        configs=tuple(s for n, s in view.all("endpoint-config").items() if mlflow_named(names.endpoint_config_prefix, n)),
        models=tuple(s for n, s in view.all("model").items() if mlflow_named(names.endpoint_model_prefix, n)),
        invocation=UNSEEN if endpoint is not None and endpoint.status == "InService" else None,
    )
