"""Exercise 5's plumbing around MLflow's deployment client: the image push, the model folder, the spec MLflow
gets, the lab's tags on what MLflow makes, removing a deployment through the tag-guarded deleter, the price."""
from __future__ import annotations

import hashlib
import io
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any, Callable

from ... import ecr, i18n, iam, prices, s3, sagemaker
from ...deleter import Deletion, DeletionResult, apply_deletions, deletion, ordered
from ...errors import LabError
from ...i18n import _
from ...lab import LabContext, Progress, no_progress
from ...names import TAG_STUDENT, lab_tags
from ...ownership import Seen, claim
from .state import (ETAG_MARKER, INSTANCE, INSTANCE_COUNT, LAB_ROLE, MODEL_DIR, MODEL_KEY, MODEL_SHA_TAG,
                    SHA_MARKER, USE_LAB_ROLE, Endpoint, mlflow_named, mlflow_version, model_dir,
                    read_deployment, read_local_model)

DEPLOYMENT_KINDS = ("endpoint", "endpoint-config", "model")


def role_name(ctx: LabContext) -> str:
    """Return the execution role the endpoint runs with: the student's own, or the learner lab's LabRole."""
    return LAB_ROLE if USE_LAB_ROLE.get(ctx) else ctx.names.sagemaker_role


def image_url(ctx: LabContext, repository_uri: str | None = None) -> str:
    uri = repository_uri or (f"{ctx.aws.account_id()}.dkr.ecr.{ctx.region}.amazonaws.com/"
                             f"{ctx.names.serving_repository}")
    return f"{uri}:{mlflow_version()}"


def price_sentence(ctx: LabContext) -> str:
    """Return what the endpoint costs per hour, for the page and the step summaries."""
    instance, count = INSTANCE.get(ctx), INSTANCE_COUNT
    price = prices.hourly_price(ctx.region, instance)
    if price is None:
        return _("{count} × {type} in {region}: see aws.amazon.com/sagemaker/pricing (real-time inference) for its "
                 "hourly price.").format(count=count, type=instance, region=ctx.region)
    return _("{count} × {type} in {region}: about {hourly} per hour ({daily} per day) while the endpoint exists, "
             "used or not (list price {as_of}).").format(
                 count=count, type=instance, region=ctx.region, hourly=i18n.money(price * count, "USD", 3),
                 daily=i18n.money(price * count * 24), as_of=prices.PRICES_AS_OF)


# ---- the serving image ----------------------------------------------------------------------------

def docker_available() -> bool:
    """Return True if a Docker client is on PATH (build-and-push-container needs one)."""
    return shutil.which("docker") is not None


def build_and_push(ctx: LabContext, tag: str, on_progress: Progress) -> str:
    """Run `mlflow sagemaker build-and-push-container` against the real account; return the image digest."""
    import os
    import subprocess
    import sys

    repository = ctx.names.serving_repository
    env = {**os.environ, **ctx.aws.client_env()}
    env.pop("AWS_ENDPOINT_URL", None)
    on_progress(_("Building MLflow's serving image and pushing it to ECR (several minutes)…"))
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "sagemaker", "build-and-push-container"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        tail = (tail + [line.rstrip()])[-20:]
        if line.strip():
            on_progress(line.rstrip()[:200])
    if proc.wait() != 0:
        raise LabError(_("`mlflow sagemaker build-and-push-container` failed:") + "\n" + "\n".join(tail), "PushFailed")
    found = ecr.get_image(ctx.aws, repository, tag)
    if found is None:
        raise LabError(_("The push finished but {image} is not in ECR in {region}: is the CLI's region the "
                         "same?").format(image=f"{repository}:{tag}", region=ctx.region), "PushFailed")
    return found.get("imageDigest", "")


# ---- the model folder -----------------------------------------------------------------------------

def unpack_model(ctx: LabContext, data: bytes, etag: str) -> bool:
    """Unpack mlflow_model.zip into the student's folder unless it holds this very file; return True if it did."""
    sha = hashlib.sha256(data).hexdigest()
    target = model_dir(ctx)
    local = read_local_model(ctx)
    if local is not None and local.sha256 == sha:
        if local.etag != etag:
            (target / ETAG_MARKER).write_text(etag)
        return False
    staging = target.with_name(f".{MODEL_DIR}.new")
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(staging)
    if not (staging / "MLmodel").is_file():
        shutil.rmtree(staging, ignore_errors=True)
        raise LabError(_("{model} has no MLmodel file at its root: it is not an MLflow model.").format(model=MODEL_KEY),
                       "NotMlflowModel")
    (staging / SHA_MARKER).write_text(sha)
    (staging / ETAG_MARKER).write_text(etag)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return True


def flavors(folder: Path) -> list[str]:
    """Return the flavors an MLmodel file declares (python_function, sklearn…)."""
    found, inside = [], False
    for line in (folder / "MLmodel").read_text().splitlines():
        if line.startswith("flavors:"):
            inside = True
        elif inside and line.startswith("  ") and not line.startswith("    ") and line.strip().endswith(":"):
            found.append(line.strip()[:-1])
        elif inside and line and not line.startswith(" "):
            break
    return found


# ---- deploying ------------------------------------------------------------------------------------

def deploy_spec(ctx: LabContext) -> sagemaker.DeploySpec:
    """Return what MLflow gets: the unpacked model, the role, the bucket, the image, the instance and the tags."""
    names = ctx.names
    local = read_local_model(ctx)
    if local is None:
        raise LabError(_("The MLflow model is not unpacked yet: run the model step first."), "MissingModel")
    role = iam.get_role(ctx.aws, role_name(ctx))
    if role is None:
        raise LabError(_("Role {role} does not exist yet: run the role step first.").format(role=role_name(ctx)),
                       "MissingRole")
    repository, tag = names.serving_repository, mlflow_version()
    repo = ecr.get_repository(ctx.aws, repository)
    if repo is None or ecr.get_image(ctx.aws, repository, tag) is None:
        raise LabError(_("The serving image {image} is not in ECR: run the image step first.").format(
            image=f"{repository}:{tag}"), "MissingImage")
    bucket = s3.seen_bucket(ctx.aws, names.sagemaker_bucket)
    if bucket is None:
        raise LabError(_("Bucket {bucket} does not exist yet: run the model step first.").format(
            bucket=names.sagemaker_bucket), "MissingBucket")
    claim(ctx.svc, bucket)  # MLflow uploads into it: never into another student's bucket
    return sagemaker.DeploySpec(name=names.endpoint, model_uri=str(local.folder), execution_role_arn=role["Arn"],
                                bucket=names.sagemaker_bucket, image_url=image_url(ctx, repo["repositoryUri"]),
                                instance_type=INSTANCE.get(ctx), instance_count=INSTANCE_COUNT,
                                tags={**lab_tags(ctx.svc, 5), MODEL_SHA_TAG: local.sha256})


def tag_configs(ctx: LabContext) -> list[str]:
    """Give MLflow's endpoint configs of this endpoint the lab's tags; return the ones tagged.

    MLflow tags the endpoint and its models with the deploy's tags, but endpoint configs only with
    app_name=<endpoint>: without the lab's tags teardown could list them but never delete them.
    """
    names, tagged = ctx.names, []
    for config in sagemaker.list_endpoint_configs(ctx.aws, names.endpoint_config_prefix):
        name, arn = config["EndpointConfigName"], config["EndpointConfigArn"]
        if not mlflow_named(names.endpoint_config_prefix, name):
            continue
        tags = sagemaker.get_tags(ctx.aws, arn)
        if tags.get("app_name") == names.endpoint and not tags.get(TAG_STUDENT):
            sagemaker.add_tags(ctx.aws, arn, lab_tags(ctx.svc, 5))
            tagged.append(name)
    return tagged


def adopt(ctx: LabContext, seen: Seen) -> bool:
    """Tag an untagged endpoint, config or model for the student; NotYours if it is another's. True if tagged."""
    if claim(ctx.svc, seen) == "ours":
        return False
    sagemaker.add_tags(ctx.aws, seen.id, lab_tags(ctx.svc, 5))
    return True


# ---- removing -------------------------------------------------------------------------------------

def deployment_deletions(svc: str, endpoint: Endpoint | None, configs: tuple[Seen, ...],
                         models: tuple[Seen, ...]) -> list[Deletion]:
    """Return the deleter's plan for an endpoint, its configs and models (allowed only where tagged for svc)."""
    found = ([endpoint.seen] if endpoint is not None else []) + list(configs) + list(models)
    return [deletion(seen, svc) for seen in found]


def apply_sagemaker_deletions(ctx: LabContext, plan: list[Deletion], on_progress: Progress = no_progress
                              ) -> list[DeletionResult]:
    """Carry out deletions of SageMaker resources; a deleted model's model.tar.gz goes too if it is in the
    student's artifact bucket (replaced models would otherwise pile up there until teardown)."""
    bucket = ctx.names.sagemaker_bucket
    artifacts: dict[str, str] = {}
    for item in plan:
        if item.kind == "model" and item.allowed:
            url = ((sagemaker.get_model(ctx.aws, item.name) or {}).get("PrimaryContainer") or {}).get("ModelDataUrl")
            if url and sagemaker.split_s3_url(url)[0] == bucket:
                artifacts[item.name] = sagemaker.split_s3_url(url)[1]

    def after(item: Deletion) -> None:
        if item.kind == "model" and item.name in artifacts:
            ctx.aws.client("s3").delete_object(Bucket=bucket, Key=artifacts[item.name])

    return apply_deletions(ctx.aws, ordered(plan), on_progress, after)


def delete_deployment(ctx: LabContext, on_progress: Progress = no_progress,
                      sleep: Callable[[float], None] = time.sleep) -> list[DeletionResult]:
    """Delete the endpoint (billing stops), its configs and models, through the tag-guarded deleter.

    Waits until the endpoint is gone, so a new one of the same name can be created right after.
    """
    endpoint, configs, models = read_deployment(ctx)
    results = apply_sagemaker_deletions(ctx, deployment_deletions(ctx.svc, endpoint, configs, models), on_progress)
    if any(r.kind == "endpoint" and r.status == "done" for r in results):
        sagemaker.wait_for_endpoint_deleted(ctx.aws, ctx.names.endpoint,
                                            poll=1.0 if ctx.aws.target.is_sandbox else 5.0, sleep=sleep)
    return results


def delete_replaced(ctx: LabContext, on_progress: Progress = no_progress) -> list[str]:
    """Delete this endpoint's configs and models other than the ones it now uses (MLflow kept them: archive=True)."""
    endpoint, configs, models = read_deployment(ctx)
    if endpoint is None:
        return []
    config = sagemaker.get_endpoint_config(ctx.aws, endpoint.config or "")
    keep = {endpoint.config, *sagemaker.config_models(config)}
    plan = deployment_deletions(ctx.svc, None, tuple(c for c in configs if c.name not in keep),
                                tuple(m for m in models if m.name not in keep))
    results = apply_sagemaker_deletions(ctx, [d for d in plan if d.allowed], on_progress)
    kinds = {"endpoint-config": _("config"), "model": _("model")}
    return [f"{kinds.get(r.kind, r.kind)} {r.name}" for r in results if r.status == "done"]


# ---- what the page shows --------------------------------------------------------------------------

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
    price = prices.hourly_price(ctx.region, instance)
    return {"status": endpoint["EndpointStatus"], "failure_reason": endpoint.get("FailureReason", ""),
            "config": endpoint["EndpointConfigName"], "instance_type": instance, "instance_count": count,
            "created": endpoint.get("CreationTime"), "hourly_usd": price * count if price is not None else None}
